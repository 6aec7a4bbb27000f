using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Actors.Xmpp;

/// <summary>
/// PRECIS string preparation (RFC 8264) with the profiles of RFC 8265 (UsernameCaseMapped, OpaqueString),
/// as far as is practical with the BCL. The projects run with InvariantGlobalization, in which
/// <see cref="string.Normalize(NormalizationForm)"/> is a no-op for non-ASCII text, so Unicode normalization
/// is delegated to the system ICU (libicuuc) through P/Invoke; without it a non-ASCII string that would need
/// normalizing is refused (never passed through unnormalized) and the server refuses to start
/// (<see cref="IcuRequirement"/>). Code point classes come from <see cref="CharUnicodeInfo"/>.
/// Deviations: case mapping is <see cref="string.ToLowerInvariant"/>; the Bidi rule and the CONTEXTJ rules
/// are not implemented (join controls are rejected in identifiers); HasCompat is detected with NFKC when ICU
/// is available and with the built-in width table otherwise.
/// </summary>
public static class Precis
{
    /// <summary>RFC 8265 §3.3 UsernameCaseMapped. Returns null if the string is not valid.</summary>
    public static string? UsernameCaseMapped(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Length == 0) return null;
        if (IsSimpleAscii(input, allowUpper: false, allowSpace: false)) return input;
        return Stable(input, UsernameCaseMappedOnce);
    }

    /// <summary>RFC 8264 §7: the rules of a profile applied once need not give a string that the same rules leave as
    /// it is (case mapping before normalization: U+0130 followed by U+0330 lowercases to itself, and NFC then makes it
    /// U+1E2C and U+0307, whose lowercase differs). They are applied again until the output is stable; a string still
    /// changing after three more applications is refused.</summary>
    private static string? Stable(string input, Func<string, string?> once)
    {
        var s = once(input);
        for (var i = 0; i < 3 && s is not null; i++)
        {
            var again = once(s);
            if (again == s) return s;
            s = again;
        }
        return null;
    }

    private static string? UsernameCaseMappedOnce(string input)
    {
        if (IsSimpleAscii(input, allowUpper: false, allowSpace: false)) return input;
        // 1. width mapping
        var s = WidthMap(input);
        // 3. case mapping
        s = s.ToLowerInvariant();
        // 4. normalization
        s = Nfc(s);
        if (s is null || s.Length == 0) return null;
        return CheckIdentifier(s) ? s : null;
    }

    /// <summary>RFC 8265 §4.2 OpaqueString (also used as SASLprep replacement for passwords). Null if invalid.</summary>
    public static string? OpaqueString(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Length == 0) return null;
        if (IsSimpleAscii(input, allowUpper: true, allowSpace: true)) return input;
        return Stable(input, OpaqueStringOnce);
    }

    private static string? OpaqueStringOnce(string input)
    {
        if (IsSimpleAscii(input, allowUpper: true, allowSpace: true)) return input;
        // 2. additional mapping: non-ASCII spaces to U+0020
        StringBuilder? sb = null;
        for (int i = 0; i < input.Length; i++)
        {
            char c = input[i];
            if (c != ' ' && CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.SpaceSeparator)
            {
                sb ??= new StringBuilder(input, 0, i, input.Length);
                sb.Append(' ');
            }
            else sb?.Append(c);
        }
        var s = sb?.ToString() ?? input;
        s = Nfc(s);
        if (s is null || s.Length == 0) return null;
        return CheckFreeform(s) ? s : null;
    }

    /// <summary>
    /// RFC 8266 Nickname profile: non-ASCII spaces mapped to U+0020, leading/trailing spaces removed and inner
    /// runs collapsed, NFKC (ICU when available, else width mapping only), FreeformClass. With
    /// <paramref name="forComparison"/> the result is also lowercased (the comparison form). Null if invalid.
    /// </summary>
    public static string? Nickname(string input, bool forComparison = false)
    {
        ArgumentNullException.ThrowIfNull(input);
        return Stable(input, s => NicknameOnce(s, forComparison));
    }

    private static string? NicknameOnce(string input, bool forComparison)
    {
        var sb = new StringBuilder(input.Length);
        bool pendingSpace = false;
        foreach (char c in input)
        {
            bool space = c == ' ' || CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.SpaceSeparator;
            if (space) { pendingSpace = sb.Length > 0; continue; }
            if (pendingSpace) { sb.Append(' '); pendingSpace = false; }
            sb.Append(c);
        }
        if (sb.Length == 0) return null;
        var s = sb.ToString();
        if (forComparison) s = s.ToLowerInvariant();
        if (!IsSimpleAscii(s, allowUpper: true, allowSpace: true))
        {
            if (Nfc(s) is null) return null; // lone surrogates
            s = Icu.Available ? Icu.Normalize(s, compat: true) : WidthMap(s);
            if (s is null || s.Length == 0) return null;
            if (forComparison) s = s.ToLowerInvariant();
        }
        return CheckFreeform(s) ? s : null;
    }

    internal static bool IsSimpleAscii(string s, bool allowUpper, bool allowSpace)
    {
        foreach (char c in s)
        {
            if (c > 0x7E) return false;
            if (c < 0x21 && !(allowSpace && c == ' ')) return false;
            if (!allowUpper && c is >= 'A' and <= 'Z') return false;
        }
        return true;
    }

    // ---- code point classes (RFC 8264 §9) ----

    private static bool CheckIdentifier(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (!Rune.TryGetRuneAt(s, i, out var r)) return false;
            int cp = r.Value;
            if (r.Utf16SequenceLength == 2) i++;
            if (cp is >= 0x21 and <= 0x7E) continue; // ASCII7
            if (IsCommonlyDisallowed(cp)) return false;
            if (HasCompat(r)) return false;
            var cat = Rune.GetUnicodeCategory(r);
            switch (cat)
            {
                // LetterDigits
                case UnicodeCategory.LowercaseLetter:
                case UnicodeCategory.UppercaseLetter:
                case UnicodeCategory.OtherLetter:
                case UnicodeCategory.DecimalDigitNumber:
                case UnicodeCategory.ModifierLetter:
                case UnicodeCategory.NonSpacingMark:
                case UnicodeCategory.SpacingCombiningMark:
                    break;
                default:
                    // CONTEXTO exceptions (RFC 5892 Appendix A) handled loosely
                    if (cp == 0x00B7) // MIDDLE DOT: only between two 'l'
                    {
                        if (i == 0 || i + 1 >= s.Length || s[i - 1] != 'l' || s[i + 1] != 'l') return false;
                        break;
                    }
                    if (cp is 0x0375 or 0x05F3 or 0x05F4 or 0x30FB) break;
                    return false;
            }
        }
        return true;
    }

    private static bool CheckFreeform(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (!Rune.TryGetRuneAt(s, i, out var r)) return false;
            int cp = r.Value;
            if (r.Utf16SequenceLength == 2) i++;
            if (cp is >= 0x20 and <= 0x7E) continue;
            if (IsCommonlyDisallowed(cp)) return false;
            switch (Rune.GetUnicodeCategory(r))
            {
                case UnicodeCategory.Control:
                case UnicodeCategory.Format:
                case UnicodeCategory.Surrogate:
                case UnicodeCategory.PrivateUse:
                case UnicodeCategory.LineSeparator:
                case UnicodeCategory.ParagraphSeparator:
                case UnicodeCategory.OtherNotAssigned:
                    return false;
            }
        }
        return true;
    }

    /// <summary>Controls, unassigned, default ignorables, noncharacters, old Hangul jamo.</summary>
    private static bool IsCommonlyDisallowed(int cp)
    {
        if (cp < 0x20 || cp is >= 0x7F and <= 0x9F) return true; // Controls
        if ((cp & 0xFFFE) == 0xFFFE || cp is >= 0xFDD0 and <= 0xFDEF) return true; // Noncharacter
        if (cp is 0x00AD or 0x034F or 0x061C or 0x115F or 0x1160 or 0x17B4 or 0x17B5 or 0x3164 or 0xFEFF or 0xFFA0
            || cp is >= 0x180B and <= 0x180F || cp is >= 0x200B and <= 0x200F || cp is >= 0x202A and <= 0x202E
            || cp is >= 0x2060 and <= 0x206F || cp is >= 0xFE00 and <= 0xFE0F || cp is >= 0xFFF0 and <= 0xFFF8
            || cp is >= 0x1BCA0 and <= 0x1BCA3 || cp is >= 0x1D173 and <= 0x1D17A || cp is >= 0xE0000 and <= 0xE0FFF)
            return true; // Default_Ignorable_Code_Point
        if (cp is >= 0x1100 and <= 0x11FF || cp is >= 0xA960 and <= 0xA97F || cp is >= 0xD7B0 and <= 0xD7FF)
        {
            // OldHangulJamo (conjoining jamo, RFC 5892 §2.9); modern jamo in the same block are rare in identifiers
            return true;
        }
        return CharUnicodeInfo.GetUnicodeCategory(cp) == UnicodeCategory.OtherNotAssigned;
    }

    private static bool HasCompat(Rune r)
    {
        int cp = r.Value;
        if (MapWidth(cp) != null) return true;
        if (cp < 0xA0) return false;
        if (Icu.Available)
        {
            Span<char> buf = stackalloc char[2];
            int n = r.EncodeToUtf16(buf);
            var one = new string(buf[..n]);
            var k = Icu.Normalize(one, compat: true);
            return k != null && k != one;
        }
        // Without ICU: a few well known compatibility ranges.
        return cp is 0x00A0 or 0x00A8 or 0x00AA or 0x00AF or 0x00B2 or 0x00B3 or 0x00B4 or 0x00B5 or 0x00B8 or 0x00B9
                   or 0x00BA or 0x00BC or 0x00BD or 0x00BE or 0x0132 or 0x0133 or 0x013F or 0x0140 or 0x0149 or 0x017F
            || cp is >= 0x2150 and <= 0x218B // number forms (roman numerals, fractions)
            || cp is >= 0x2460 and <= 0x24FF // enclosed alphanumerics
            || cp is >= 0x3200 and <= 0x33FF // enclosed CJK / compatibility
            || cp is >= 0xFB00 and <= 0xFB4F // ligatures
            || cp is >= 0x1D400 and <= 0x1D7FF; // mathematical alphanumerics
    }

    // ---- width mapping (fullwidth / halfwidth decomposition mappings) ----

    internal static string WidthMap(string s)
    {
        StringBuilder? sb = null;
        for (int i = 0; i < s.Length; i++)
        {
            var m = MapWidth(s[i]);
            if (m is null) { sb?.Append(s[i]); continue; }
            sb ??= new StringBuilder(s, 0, i, s.Length);
            sb.Append(m);
        }
        return sb?.ToString() ?? s;
    }

    private const string HalfwidthKatakana = // U+FF61..U+FF9F
        "\u3002\u300C\u300D\u3001\u30FB\u30F2\u30A1\u30A3\u30A5\u30A7\u30A9\u30E3\u30E5\u30E7\u30C3\u30FC" +
        "\u30A2\u30A4\u30A6\u30A8\u30AA\u30AB\u30AD\u30AF\u30B1\u30B3\u30B5\u30B7\u30B9\u30BB\u30BD\u30BF" +
        "\u30C1\u30C4\u30C6\u30C8\u30CA\u30CB\u30CC\u30CD\u30CE\u30CF\u30D2\u30D5\u30D8\u30DB\u30DE\u30DF" +
        "\u30E0\u30E1\u30E2\u30E4\u30E6\u30E8\u30E9\u30EA\u30EB\u30EC\u30ED\u30EF\u30F3\u3099\u309A";

    private static string? MapWidth(int cp)
    {
        if (cp < 0x3000) return null;
        if (cp == 0x3000) return " ";
        if (cp is >= 0xFF01 and <= 0xFF5E) return ((char)(cp - 0xFF01 + 0x21)).ToString();
        if (cp == 0xFF5F) return "\u2985";
        if (cp == 0xFF60) return "\u2986";
        if (cp is >= 0xFF61 and <= 0xFF9F) return HalfwidthKatakana[cp - 0xFF61].ToString();
        if (cp is >= 0xFFA0 and <= 0xFFDC)
        {
            // Halfwidth Hangul: map to compatibility jamo U+3164.. (U+FFA0 -> U+3164, U+FFA1.. -> U+3131..)
            if (cp == 0xFFA0) return "\u3164";
            if (cp <= 0xFFBE) return ((char)(cp - 0xFFA1 + 0x3131)).ToString();
            int[] vowels = [0x314F, 0x3150, 0x3151, 0x3152, 0x3153, 0x3154, -1, -1, 0x3155, 0x3156, 0x3157, 0x3158, 0x3159, 0x315A,
                -1, -1, 0x315B, 0x315C, 0x315D, 0x315E, 0x315F, 0x3160, -1, -1, 0x3161, 0x3162, 0x3163];
            int idx = cp - 0xFFC2;
            if (idx >= 0 && idx < vowels.Length && vowels[idx] > 0) return ((char)vowels[idx]).ToString();
            return null;
        }
        return cp switch
        {
            0xFFE0 => "\u00A2", 0xFFE1 => "\u00A3", 0xFFE2 => "\u00AC", 0xFFE3 => "\u00AF", 0xFFE4 => "\u00A6",
            0xFFE5 => "\u00A5", 0xFFE6 => "\u20A9", 0xFFE8 => "\u2502", 0xFFE9 => "\u2190", 0xFFEA => "\u2191",
            0xFFEB => "\u2192", 0xFFEC => "\u2193", 0xFFED => "\u25A0", 0xFFEE => "\u25CB",
            _ => null,
        };
    }

    // ---- normalization ----

    /// <summary>NFC via ICU when available; identity otherwise (and for ASCII).</summary>
    internal static string? Nfc(string s)
    {
        bool ascii = true;
        foreach (char c in s) if (c > 0x7F) { ascii = false; break; }
        if (ascii) return s;
        // lone surrogates are never valid
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { i++; continue; }
            if (char.IsSurrogate(s[i])) return null;
        }
        // without ICU a non-ASCII identifier cannot be normalized: it is refused, never passed through unnormalized
        // (two spellings of one name would be two accounts); the server refuses to start without ICU (IcuRequirement)
        if (!Icu.Available) return null;
        return Icu.Normalize(s, compat: false);
    }

    /// <summary>True when Unicode normalization is backed by ICU in this process.</summary>
    public static bool NormalizationAvailable => Icu.Available;

    /// <summary>Why the server cannot run here, or null: PRECIS (RFC 8264 §7) needs Unicode normalization, which the
    /// projects (InvariantGlobalization) take from the system's ICU (libicuuc).</summary>
    public static string? IcuRequirement => Icu.Available ? null
        : "libicuuc (ICU) could not be loaded: JIDs and passwords cannot be PRECIS-normalized (RFC 8264). Install the system's ICU "
          + "(Debian: apt-get install libicu72, or the libicuNN of your release)";

    private static class Icu
    {
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        private delegate IntPtr GetInstanceFn(ref int errorCode);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl, CharSet = CharSet.Unicode)]
        private delegate int NormalizeFn(IntPtr norm, string src, int length, [Out] char[] dest, int capacity, ref int errorCode);

        private static readonly IntPtr NfcInstance, NfkcInstance;
        private static readonly NormalizeFn? s_normalize;
        public static readonly bool Available;

        static Icu()
        {
            try
            {
                if (!OperatingSystem.IsLinux() && !OperatingSystem.IsFreeBSD()) return;
                IntPtr lib = IntPtr.Zero;
                if (!NativeLibrary.TryLoad("libicuuc.so", out lib))
                    for (int v = 90; v >= 50 && lib == IntPtr.Zero; v--)
                        NativeLibrary.TryLoad($"libicuuc.so.{v}", out lib);
                if (lib == IntPtr.Zero) return;
                string suffix = "";
                if (!NativeLibrary.TryGetExport(lib, "unorm2_getNFCInstance", out var getNfc))
                {
                    for (int v = 90; v >= 50; v--)
                        if (NativeLibrary.TryGetExport(lib, "unorm2_getNFCInstance_" + v, out getNfc)) { suffix = "_" + v; break; }
                }
                if (getNfc == IntPtr.Zero) return;
                if (!NativeLibrary.TryGetExport(lib, "unorm2_getNFKCInstance" + suffix, out var getNfkc)) return;
                if (!NativeLibrary.TryGetExport(lib, "unorm2_normalize" + suffix, out var normalize)) return;
                s_normalize = Marshal.GetDelegateForFunctionPointer<NormalizeFn>(normalize);
                int err = 0;
                NfcInstance = Marshal.GetDelegateForFunctionPointer<GetInstanceFn>(getNfc)(ref err);
                if (err > 0 || NfcInstance == IntPtr.Zero) return;
                err = 0;
                NfkcInstance = Marshal.GetDelegateForFunctionPointer<GetInstanceFn>(getNfkc)(ref err);
                if (err > 0 || NfkcInstance == IntPtr.Zero) return;
                Available = true;
            }
            catch
            {
                Available = false;
            }
        }

        public static string? Normalize(string s, bool compat)
        {
            var inst = compat ? NfkcInstance : NfcInstance;
            const int BufferOverflowError = 15; // U_BUFFER_OVERFLOW_ERROR
            int cap = s.Length * 3 + 16;
            for (int attempt = 0; attempt < 2; attempt++)
            {
                var buf = new char[cap];
                int err = 0;
                int n = s_normalize!(inst, s, s.Length, buf, cap, ref err);
                if (err == BufferOverflowError && n > cap) { cap = n; continue; }
                if (err > 0 || n > cap) return null;
                return new string(buf, 0, n);
            }
            return null;
        }
    }
}

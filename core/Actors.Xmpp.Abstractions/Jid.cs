using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Actors.Xmpp;

/// <summary>Thrown by <see cref="Jid.Parse"/>, <see cref="Jid.Create"/> and <see cref="Jid.WithResource"/> for invalid input.</summary>
public sealed class JidFormatException : FormatException
{
    public JidFormatException(string message) : base(message) { }
}

/// <summary>
/// An XMPP address (RFC 7622): [localpart@]domainpart[/resourcepart], immutable, always stored in normalized form.
/// Localpart: PRECIS UsernameCaseMapped plus the extra prohibited characters of RFC 7622 §3.3.1; resourcepart:
/// PRECIS OpaqueString; domainpart: lowercased, trailing dot stripped, A-labels converted to U-labels, IP literals
/// accepted. Every part is 1..1023 UTF-8 bytes. Equality is ordinal on the normalized string.
/// </summary>
public sealed class Jid : IEquatable<Jid>
{
    public const int MaxPartBytes = 1023;

    private readonly string _full;
    private Jid? _bare;

    private Jid(string? local, string domain, string? resource, string? full = null)
    {
        Local = local;
        Domain = domain;
        Resource = resource;
        _full = full ?? Build(local, domain, resource);
    }

    public string? Local { get; }
    public string Domain { get; }
    public string? Resource { get; }

    public bool IsBare => Resource is null;
    public bool IsDomain => Local is null && Resource is null;
    public Jid Bare => IsBare ? this : _bare ??= new Jid(Local, Domain, null);

    public Jid WithResource(string resource)
    {
        ArgumentNullException.ThrowIfNull(resource);
        var r = NormalizeResource(resource) ?? throw new JidFormatException("Invalid resourcepart.");
        return new Jid(Local, Domain, r);
    }

    public static Jid Parse(string text)
    {
        if (TryParse(text, out var jid, out var error)) return jid!;
        throw new JidFormatException(error!);
    }

    public static bool TryParse(string? text, out Jid? jid) => TryParse(text, out jid, out _);

    private static bool TryParse(string? text, out Jid? jid, out string? error)
    {
        jid = null;
        if (string.IsNullOrEmpty(text)) { error = "Empty JID."; return false; }
        // cheap DoS guard: three parts of at most 1023 bytes each plus two separators
        if (text.Length > 3 * MaxPartBytes + 2) { error = "JID too long."; return false; }

        int slash = text.IndexOf('/');
        int preEnd = slash < 0 ? text.Length : slash;
        int at = text.IndexOf('@', 0, preEnd);

        string? local = null, resource = null;
        string domain;
        bool unchanged = true;

        if (at >= 0)
        {
            if (at == 0) { error = "Empty localpart."; return false; }
            var rawLocal = text.Substring(0, at);
            local = NormalizeLocal(rawLocal);
            if (local is null) { error = "Invalid localpart."; return false; }
            unchanged &= ReferenceEquals(local, rawLocal) || local == rawLocal;
        }

        int domStart = at + 1;
        if (preEnd - domStart <= 0) { error = "Empty domainpart."; return false; }
        var rawDomain = text.Substring(domStart, preEnd - domStart);
        var dom = NormalizeDomain(rawDomain);
        if (dom is null) { error = "Invalid domainpart."; return false; }
        domain = dom;
        unchanged &= domain == rawDomain;

        if (slash >= 0)
        {
            if (slash == text.Length - 1) { error = "Empty resourcepart."; return false; }
            var rawRes = text.Substring(slash + 1);
            resource = NormalizeResource(rawRes);
            if (resource is null) { error = "Invalid resourcepart."; return false; }
            unchanged &= resource == rawRes;
        }

        jid = new Jid(local, domain, resource, unchanged ? text : null);
        error = null;
        return true;
    }

    public static Jid Create(string? local, string domain, string? resource = null)
    {
        ArgumentNullException.ThrowIfNull(domain);
        string? l = null, r = null;
        if (local is not null) l = NormalizeLocal(local) ?? throw new JidFormatException("Invalid localpart.");
        var d = NormalizeDomain(domain) ?? throw new JidFormatException("Invalid domainpart.");
        if (resource is not null) r = NormalizeResource(resource) ?? throw new JidFormatException("Invalid resourcepart.");
        return new Jid(l, d, r);
    }

    // ---------------- part normalization ----------------

    /// <summary>RFC 7622 §3.3: UsernameCaseMapped, minus " &amp; ' / : &lt; &gt; @; 1..1023 bytes. Null if invalid.</summary>
    public static string? NormalizeLocal(string local)
    {
        ArgumentNullException.ThrowIfNull(local);
        if (local.Length == 0 || local.Length > MaxPartBytes * 2) return null;
        var s = Precis.UsernameCaseMapped(local);
        if (s is null) return null;
        foreach (char c in s)
            if (c is '"' or '&' or '\'' or '/' or ':' or '<' or '>' or '@') return null;
        return FitsPart(s) ? s : null;
    }

    /// <summary>RFC 7622 §3.4: OpaqueString; 1..1023 bytes. Null if invalid.</summary>
    public static string? NormalizeResource(string resource)
    {
        ArgumentNullException.ThrowIfNull(resource);
        if (resource.Length == 0 || resource.Length > MaxPartBytes * 2) return null;
        var s = Precis.OpaqueString(resource);
        return s is not null && FitsPart(s) ? s : null;
    }

    /// <summary>
    /// RFC 7622 §3.2: strips one trailing dot, lowercases, converts A-labels to U-labels, maps full-width
    /// characters and ideographic full stops, NFC (when ICU is available); accepts IPv4 and [IPv6] literals.
    /// Null if invalid.
    /// </summary>
    public static string? NormalizeDomain(string domain)
    {
        ArgumentNullException.ThrowIfNull(domain);
        if (domain.Length == 0 || domain.Length > MaxPartBytes * 2) return null;
        if (domain[^1] == '.') domain = domain[..^1];
        if (domain.Length == 0) return null;

        if (domain[0] == '[')
        {
            if (domain[^1] != ']') return null;
            var inner = domain[1..^1];
            if (!IPAddress.TryParse(inner, out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6) return null;
            var norm = "[" + v6.ToString() + "]";
            return norm == domain ? domain : norm;
        }

        if (IsIPv4(domain)) return domain;

        // fast path: ASCII without uppercase and without xn-- labels
        bool simple = true;
        foreach (char c in domain)
        {
            if (!(c is >= 'a' and <= 'z' || c is >= '0' and <= '9' || c is '-' or '.' or '_')) { simple = false; break; }
        }
        if (simple && !domain.Contains("xn--", StringComparison.Ordinal))
            return CheckAsciiLabels(domain) && FitsPart(domain) ? domain : null;

        // slow path
        var sb = new StringBuilder(domain.Length);
        foreach (char c in domain)
            sb.Append(c is '\u3002' or '\uFF0E' or '\uFF61' ? '.' : c);
        var s = Precis.WidthMap(sb.ToString()).ToLowerInvariant();
        s = Precis.Nfc(s);
        if (s is null || s.Length == 0) return null;

        var labels = s.Split('.');
        var idn = new IdnMapping { UseStd3AsciiRules = false, AllowUnassigned = false };
        for (int i = 0; i < labels.Length; i++)
        {
            var label = labels[i];
            if (label.Length == 0) return null;
            if (label.StartsWith("xn--", StringComparison.Ordinal))
            {
                string u;
                try { u = idn.GetUnicode(label); }
                catch (ArgumentException) { return null; }
                u = Precis.Nfc(u.ToLowerInvariant()) ?? "";
                if (u.Length == 0 || !CheckULabel(u)) return null;
                // RFC 5891 §5.4: an A-label is valid only if it is the A-label of its U-label (a decoding that changes
                // under case folding or NFC names another domain, and would not parse back to itself)
                try
                {
                    if (!string.Equals(idn.GetAscii(u), label, StringComparison.Ordinal)) return null;
                }
                catch (ArgumentException) { return null; }
                labels[i] = u;
                continue;
            }
            bool ascii = true;
            foreach (char c in label) if (c > 0x7F) { ascii = false; break; }
            if (ascii)
            {
                if (!CheckAsciiLabels(label)) return null;
            }
            else
            {
                if (!CheckULabel(label)) return null;
                try
                {
                    var a = idn.GetAscii(label);
                    if (a.Length > 63) return null;
                }
                catch (ArgumentException) { return null; }
            }
        }
        var result = string.Join('.', labels);
        return FitsPart(result) ? result : null;
    }

    private static bool CheckAsciiLabels(string domain)
    {
        int start = 0;
        while (true)
        {
            int dot = domain.IndexOf('.', start);
            int end = dot < 0 ? domain.Length : dot;
            int len = end - start;
            if (len == 0 || len > 63) return false;
            if (domain[start] == '-' || domain[end - 1] == '-') return false;
            for (int i = start; i < end; i++)
            {
                char c = domain[i];
                if (!(c is >= 'a' and <= 'z' || c is >= '0' and <= '9' || c is '-' or '_')) return false;
            }
            if (dot < 0) return true;
            start = dot + 1;
        }
    }

    private static bool CheckULabel(string label)
    {
        if (label[0] == '-' || label[^1] == '-') return false;
        if (label.Length >= 4 && label[2] == '-' && label[3] == '-' && !label.StartsWith("xn", StringComparison.Ordinal))
            return false; // RFC 5891 §4.2.3.1: no "--" in positions 3 and 4
        for (int i = 0; i < label.Length; i++)
        {
            if (!Rune.TryGetRuneAt(label, i, out var r)) return false;
            if (r.Utf16SequenceLength == 2) i++;
            int cp = r.Value;
            if (cp < 0x80)
            {
                if (!(cp is >= 'a' and <= 'z' || cp is >= '0' and <= '9' || cp is '-' or '_')) return false;
                continue;
            }
            switch (Rune.GetUnicodeCategory(r))
            {
                case UnicodeCategory.LowercaseLetter:
                case UnicodeCategory.OtherLetter:
                case UnicodeCategory.ModifierLetter:
                case UnicodeCategory.DecimalDigitNumber:
                case UnicodeCategory.NonSpacingMark:
                case UnicodeCategory.SpacingCombiningMark:
                    break;
                default:
                    if (cp is 0x00B7 or 0x0375 or 0x05F3 or 0x05F4 or 0x30FB) break; // CONTEXTO, loosely
                    return false;
            }
        }
        return true;
    }

    private static bool IsIPv4(string s)
    {
        int parts = 0, digits = 0, value = 0;
        foreach (char c in s)
        {
            if (c == '.')
            {
                if (digits == 0) return false;
                parts++; digits = 0; value = 0;
                continue;
            }
            if (c is < '0' or > '9') return false;
            value = value * 10 + (c - '0');
            if (++digits > 3 || value > 255) return false;
        }
        return digits > 0 && parts == 3;
    }

    private static bool FitsPart(string s)
    {
        if (s.Length == 0) return false;
        if (s.Length <= MaxPartBytes / 3) return true;
        return Encoding.UTF8.GetByteCount(s) <= MaxPartBytes;
    }

    private static string Build(string? local, string domain, string? resource)
    {
        int len = domain.Length + (local is null ? 0 : local.Length + 1) + (resource is null ? 0 : resource.Length + 1);
        return string.Create(len, (local, domain, resource), static (span, st) =>
        {
            int p = 0;
            if (st.local is not null) { st.local.AsSpan().CopyTo(span); p = st.local.Length; span[p++] = '@'; }
            st.domain.AsSpan().CopyTo(span[p..]); p += st.domain.Length;
            if (st.resource is not null) { span[p++] = '/'; st.resource.AsSpan().CopyTo(span[p..]); }
        });
    }

    // ---------------- equality ----------------

    public override string ToString() => _full;
    public bool Equals(Jid? other) => other is not null && string.Equals(_full, other._full, StringComparison.Ordinal);
    public override bool Equals(object? obj) => obj is Jid j && Equals(j);
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(_full);
    public static bool operator ==(Jid? a, Jid? b) => a is null ? b is null : a.Equals(b);
    public static bool operator !=(Jid? a, Jid? b) => !(a == b);
}

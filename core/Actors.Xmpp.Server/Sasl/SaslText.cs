using System.Text;

namespace Actors.Xmpp.Server.Sasl;

internal static class SaslText
{
    internal static readonly UTF8Encoding StrictUtf8 = new(false, true);

    public static bool TryDecode(byte[] data, out string text)
    {
        try { text = StrictUtf8.GetString(data); return true; }
        catch (DecoderFallbackException) { text = ""; return false; }
    }

    /// <summary>RFC 5802 saslname: "=2C" -> ",", "=3D" -> "="; any other "=" or a raw "," is an error.</summary>
    public static string? UnescapeSaslName(string s)
    {
        if (s.IndexOf('=') < 0) return s.IndexOf(',') < 0 ? s : null;
        var sb = new StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c == ',') return null;
            if (c != '=') { sb.Append(c); continue; }
            if (i + 2 >= s.Length) return null;
            if (s[i + 1] == '2' && s[i + 2] == 'C') sb.Append(',');
            else if (s[i + 1] == '3' && s[i + 2] == 'D') sb.Append('=');
            else return null;
            i += 2;
        }
        return sb.ToString();
    }

    /// <summary>
    /// Checks an authzid against the authenticated user: it must be the bare JID user@domain.
    /// Returns the normalized authzid (or null when absent), or sets <paramref name="ok"/> false.
    /// </summary>
    public static string? CheckAuthzid(string? authzid, string username, string domain, out bool ok)
    {
        ok = true;
        if (string.IsNullOrEmpty(authzid)) return null;
        if (!Jid.TryParse(authzid, out var requested) || !requested!.IsBare || requested.Local is null) { ok = false; return null; }
        Jid self;
        try { self = Jid.Create(username, domain); }
        catch (FormatException) { ok = false; return null; }
        if (requested != self) { ok = false; return null; }
        return self.ToString();
    }
}

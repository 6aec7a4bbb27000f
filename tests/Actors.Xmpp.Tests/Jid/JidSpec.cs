using XJid = Actors.Xmpp.Jid;

namespace Actors.Xmpp.Tests.JidTests;

public class JidSpec
{
    // RFC 7622 §3.5.1
    [Theory]
    [InlineData("juliet@example.com", "juliet", "example.com", null)]
    [InlineData("juliet@example.com/foo", "juliet", "example.com", "foo")]
    [InlineData("juliet@example.com/foo bar", "juliet", "example.com", "foo bar")]
    [InlineData("juliet@example.com/foo@bar", "juliet", "example.com", "foo@bar")]
    [InlineData("foo\\20bar@example.com", "foo\\20bar", "example.com", null)]
    [InlineData("fussball@example.com", "fussball", "example.com", null)]
    [InlineData("fußball@example.com", "fußball", "example.com", null)]
    [InlineData("π@example.com", "π", "example.com", null)]
    [InlineData("Σ@example.com/foo", "σ", "example.com", "foo")]
    [InlineData("σ@example.com/foo", "σ", "example.com", "foo")]
    [InlineData("ς@example.com/foo", "ς", "example.com", "foo")]
    [InlineData("king@example.com/♚", "king", "example.com", "♚")]
    [InlineData("example.com", null, "example.com", null)]
    [InlineData("example.com/foobar", null, "example.com", "foobar")]
    [InlineData("a.example.com/b@example.net", null, "a.example.com", "b@example.net")]
    public void Rfc7622_valid_examples(string text, string? local, string domain, string? resource)
    {
        Assert.True(XJid.TryParse(text, out var jid), text);
        Assert.Equal(local, jid!.Local);
        Assert.Equal(domain, jid.Domain);
        Assert.Equal(resource, jid.Resource);
    }

    // RFC 7622 §3.5.2
    [Theory]
    [InlineData("\"juliet\"@example.com")]
    [InlineData("foo bar@example.com")]
    [InlineData("@example.com/")]
    [InlineData("henry\u2163@example.com")]
    [InlineData("♚@example.com")]
    [InlineData("juliet@")]
    [InlineData("/foobar")]
    public void Rfc7622_invalid_examples(string text)
    {
        Assert.False(XJid.TryParse(text, out var jid), text);
        Assert.Null(jid);
        Assert.Throws<JidFormatException>(() => XJid.Parse(text));
    }

    [Theory]
    [InlineData("")]
    [InlineData("@example.com")]
    [InlineData("user@")]
    [InlineData("example.com/")]
    [InlineData("user@example.com/")]
    [InlineData("us/er@example.com")] // domain "us" then resource "er@example.com" is valid, see below
    [InlineData("a@b@example.com")]
    [InlineData("user@exa mple.com")]
    [InlineData("user@-example.com")]
    [InlineData("user@example..com")]
    [InlineData(".")]
    [InlineData("user@[::1")]
    [InlineData("us\u0007er@example.com")]
    [InlineData("user@example.com/re\u0000s")]
    [InlineData("us:er@example.com")]
    [InlineData("us<er@example.com")]
    [InlineData("us&er@example.com")]
    [InlineData("us'er@example.com")]
    [InlineData("user@example.com/\uFDD0")]
    public void Invalid_jids(string text)
    {
        if (text == "us/er@example.com")
        {
            var j = XJid.Parse(text);
            Assert.Null(j.Local);
            Assert.Equal("us", j.Domain);
            Assert.Equal("er@example.com", j.Resource);
            return;
        }
        Assert.False(XJid.TryParse(text, out _), text);
    }

    [Fact]
    public void Null_is_invalid() => Assert.False(XJid.TryParse(null, out _));

    [Fact]
    public void A_3000_byte_jid_is_rejected()
    {
        Assert.False(XJid.TryParse(new string('a', 3000) + "@example.com", out _));
        Assert.False(XJid.TryParse("user@example.com/" + new string('r', 3000), out _));
        Assert.False(XJid.TryParse("user@" + new string('d', 3000), out _));
        // 1023 bytes per part is fine, 1024 is not (multi-byte characters count as bytes)
        Assert.True(XJid.TryParse("user@example.com/" + new string('r', 1023), out _));
        Assert.False(XJid.TryParse("user@example.com/" + new string('r', 1024), out _));
        Assert.False(XJid.TryParse("user@example.com/" + new string('é', 512), out _));
        Assert.True(XJid.TryParse("user@example.com/" + new string('é', 511), out _));
    }

    [Fact]
    public void Local_and_domain_are_case_folded_resource_keeps_case()
    {
        var j = XJid.Parse("JuLiEt@ExAmPlE.CoM/BalCony");
        Assert.Equal("juliet", j.Local);
        Assert.Equal("example.com", j.Domain);
        Assert.Equal("BalCony", j.Resource);
        Assert.Equal("juliet@example.com/BalCony", j.ToString());
        Assert.Equal(XJid.Parse("juliet@example.com/BalCony"), j);
        Assert.NotEqual(XJid.Parse("juliet@example.com/balcony"), j);
        Assert.True(XJid.Parse("juliet@example.com/BalCony") == j);
        Assert.Equal(XJid.Parse("juliet@example.com/BalCony").GetHashCode(), j.GetHashCode());
    }

    [Fact]
    public void Domain_trailing_dot_is_stripped_and_ip_literals_accepted()
    {
        Assert.Equal("example.com", XJid.Parse("user@example.com.").Domain);
        Assert.Equal("192.168.0.1", XJid.Parse("user@192.168.0.1").Domain);
        Assert.Equal("[::1]", XJid.Parse("user@[::1]/r").Domain);
        Assert.Equal("[2001:db8::1]", XJid.Parse("[2001:DB8:0::1]").Domain);
        Assert.Null(XJid.NormalizeDomain("[1.2.3.4]"));
    }

    [Fact]
    public void Idn_domains_are_kept_as_u_labels()
    {
        Assert.Equal("bücher.example", XJid.NormalizeDomain("xn--bcher-kva.example"));
        Assert.Equal("bücher.example", XJid.NormalizeDomain("BÜCHER.example"));
        Assert.Equal("bücher.example", XJid.NormalizeDomain("bücher\u3002example"));
        Assert.Null(XJid.NormalizeDomain("xn--zz-!.example"));
    }

    [Fact]
    public void Fullwidth_local_is_width_mapped()
    {
        Assert.Equal("juliet", XJid.NormalizeLocal("ｊｕｌｉｅｔ"));
        Assert.Equal("juliet", XJid.NormalizeLocal("ＪＵＬＩＥＴ"));
    }

    [Fact]
    public void Resource_opaque_string_maps_non_ascii_spaces()
    {
        Assert.Equal("foo bar", XJid.NormalizeResource("foo\u00A0bar"));
        Assert.Null(XJid.NormalizeResource("foo\u200Bbar"));
    }

    [Fact]
    public void Nfc_is_applied_when_icu_is_available()
    {
        if (!Precis.NormalizationAvailable) return;
        Assert.Equal("\u00E9", XJid.NormalizeResource("e\u0301"));
        Assert.Equal("\u00E9", XJid.NormalizeLocal("E\u0301"));
    }

    [Fact]
    public void Rfc8264_7_the_rules_are_applied_until_the_output_is_stable_so_a_parsed_jid_parses_as_itself()
    {
        if (!Precis.NormalizationAvailable) return;
        // found by fuzzing (tests/fuzz/corpus/jid): U+0130 is its own lowercase here, then NFC turns U+0130 U+0330
        // into U+1E2C U+0307, whose lowercase is U+1E2D: applied once, the localpart was not in its final form
        var jid = XJid.Parse("\u0130\u0330j\u00E9c@ho");
        Assert.Equal("\u1E2D\u0307j\u00E9c@ho", jid.ToString());
        Assert.Equal(jid.ToString(), XJid.Parse(jid.ToString()).ToString());
        // the same in a domain label (lowercase, then NFC)
        if (XJid.TryParse("a@\u0130\u0330x", out var inDomain))
            Assert.Equal(inDomain!.ToString(), XJid.Parse(inDomain.ToString()).ToString());
    }

    [Fact]
    public void Bare_create_with_resource()
    {
        var full = XJid.Create("Romeo", "Example.NET", "orchard");
        Assert.Equal("romeo@example.net/orchard", full.ToString());
        Assert.False(full.IsBare);
        Assert.Equal("romeo@example.net", full.Bare.ToString());
        Assert.True(full.Bare.IsBare);
        Assert.Same(full.Bare, full.Bare);
        Assert.False(full.IsDomain);
        Assert.True(XJid.Parse("example.net").IsDomain);
        Assert.False(XJid.Parse("example.net/r").IsDomain);
        Assert.Equal(full, full.Bare.WithResource("orchard"));
        Assert.Throws<JidFormatException>(() => full.WithResource(""));
        Assert.Throws<JidFormatException>(() => XJid.Create("", "example.net"));
        Assert.Throws<JidFormatException>(() => XJid.Create("a b", "example.net"));
        Assert.Throws<JidFormatException>(() => XJid.Create("a", ""));
    }

    [Fact]
    public void Already_normalized_input_reuses_the_string()
    {
        const string text = "user@example.com/res";
        var j = XJid.Parse(text);
        Assert.Same(text, j.ToString());
    }
}

public class PrecisSpec
{
    [Fact]
    public void Icu_normalization_is_used_when_libicu_is_installed()
    {
        if (OperatingSystem.IsLinux() && System.Runtime.InteropServices.NativeLibrary.TryLoad("libicuuc.so", out _))
            Assert.True(Precis.NormalizationAvailable);
    }

    [Fact]
    public void Nickname_profile()
    {
        Assert.Equal("Foo Bar", Precis.Nickname("  Foo \u00A0  Bar "));
        Assert.Equal("foo bar", Precis.Nickname("Foo Bar", forComparison: true));
        Assert.Equal("Juliet", Precis.Nickname("Ｊｕｌｉｅｔ"));
        Assert.Equal("♚", Precis.Nickname("♚"));
        Assert.Null(Precis.Nickname("   "));
        Assert.Null(Precis.Nickname("a\u0007b"));
        if (Precis.NormalizationAvailable)
        {
            Assert.Equal("IV", Precis.Nickname("\u2163")); // NFKC
            Assert.Equal("\u00E9", Precis.Nickname("e\u0301"));
        }
    }

    [Fact]
    public void UsernameCaseMapped_and_OpaqueString()
    {
        Assert.Equal("juliet", Precis.UsernameCaseMapped("JULIET"));
        Assert.Null(Precis.UsernameCaseMapped("a b"));
        Assert.Null(Precis.UsernameCaseMapped(""));
        Assert.Equal("Correct Horse", Precis.OpaqueString("Correct\u2003Horse"));
        Assert.Null(Precis.OpaqueString(""));
        Assert.Null(Precis.OpaqueString("a\u0000"));
        Assert.Null(Precis.OpaqueString("\uD800x")); // lone surrogate
        Assert.Null(Precis.OpaqueString("\u0378")); // unassigned
    }

    [Fact]
    public void Ascii_fast_path_allocates_only_the_result()
    {
        const string text = "user@example.com/res";
        Assert.True(Actors.Xmpp.Jid.TryParse(text, out _)); // warm up
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.True(Actors.Xmpp.Jid.TryParse(text, out var jid));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Same(text, jid!.ToString());
        // the Jid object plus its three part strings
        Assert.True(allocated <= 256, $"allocated {allocated} bytes");
    }
}

public class PrecisExpansionSpec
{
    [Fact]
    public void Nfkc_expansion_beyond_the_initial_buffer_is_handled()
    {
        if (!Precis.NormalizationAvailable) return;
        // U+FDFA expands to 18 code points under NFKC
        var s = Precis.Nickname(new string('\uFDFA', 10));
        Assert.Equal(180, s!.Length);
    }
}

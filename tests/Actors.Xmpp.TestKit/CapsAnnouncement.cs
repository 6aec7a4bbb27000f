using Actors.Xmpp.Xml;
using Xunit;

namespace Actors.Xmpp.Testing;

/// <summary>A test client's XEP-0115 entity capabilities, for the XEP-0163 +notify filtering of PEP notifications.</summary>
public static class CapsAnnouncement
{
    public const string ClientNode = "https://example.org/client";
    private const string Caps = "http://jabber.org/protocol/caps";

    /// <summary>The disco#info a client with these +notify nodes answers, and its XEP-0115 §5.1 ver.</summary>
    public static (string Query, string Ver) ClientInfo(string node, params string[] notify)
    {
        var query = $"<query xmlns='{Ns.DiscoInfo}' node='{node}'><identity category='client' type='pc' name='Test'/><feature var='{Ns.DiscoInfo}'/>" +
            string.Join("", notify.Select(n => $"<feature var='{n}+notify'/>")) + "</query>";
        return (query, Plugins.EntityCapabilities.Ver(Element.Parse(query))!);
    }

    /// <summary>Sends available presence with XEP-0115 caps (the ver of <paramref name="notify"/>, or
    /// <paramref name="claimedVer"/>) and answers the server's disco#info for them if <paramref name="expectQuery"/>
    /// (the server asks once per ver it does not know yet).</summary>
    public static async Task ComeOnlineWithCaps(XmppTestClient c, bool expectQuery, string[] notify, string? claimedVer = null)
    {
        var (_, realVer) = ClientInfo(ClientNode, notify);
        var ver = claimedVer ?? realVer;
        await c.Sends($"<presence><c xmlns='{Caps}' hash='sha-1' node='{ClientNode}' ver='{ver}'/></presence>");
        if (!expectQuery) return;
        var query = await c.Receives(e => e.Name == "iq" && e.Type == "get" && e.Child("query", Ns.DiscoInfo) is not null, "the server's disco#info for the caps");
        Assert.Equal($"{ClientNode}#{ver}", query.Child("query", Ns.DiscoInfo)!.Attr("node")); // XEP-0115 §6.2
        var (answer, _) = ClientInfo($"{ClientNode}#{ver}", notify);
        await c.Sends($"<iq type='result' id='{query.Id}' to='{query.From}'>{answer}</iq>");
    }
}

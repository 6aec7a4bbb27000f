using Actors.Xmpp.Plugins;

namespace Actors.Plugins.Carbons;

/// <summary>
/// XEP-0280 message carbons (Prosody's mod_carbons): a resource that enabled carbons gets a copy of the messages its
/// account's other resources send (&lt;sent/&gt;) and of those they receive that it did not get itself
/// (&lt;received/&gt;), each wrapped in XEP-0297 &lt;forwarded/&gt;. Which messages: <see cref="Eligibility"/>.
/// </summary>
[Xep(280, "1.0.1")]
public sealed class CarbonsPlugin : IXmppPlugin
{
    /// <summary>After every hook that may stop a stanza (the blocking plugin's run at 1000), before the offline
    /// plugin's Undeliverable hook (-100).</summary>
    public const int HookPriority = -50;

    public PluginDescriptor Descriptor { get; } = new("carbons", "1.0.0");

    public void Configure(IPluginContext ctx)
    {
        var carbons = new Carbons(ctx.Require<ISessions>(), ctx.Require<IRouter>());
        ctx.AddFeature(CarbonsNs.Carbons, IqScope.Server); // §3: the server's disco#info
        ctx.HandleIq("set", IqScope.Both, CarbonsNs.Carbons, "enable", r => carbons.Set(r, enabled: true));
        ctx.HandleIq("set", IqScope.Both, CarbonsNs.Carbons, "disable", r => carbons.Set(r, enabled: false));
        ctx.Hook(HookPoint.FromClient, HookPriority, carbons.Sent);
        ctx.Hook(HookPoint.InboundBare, HookPriority, carbons.Received);
        ctx.Hook(HookPoint.InboundFull, HookPriority, carbons.Received);
        ctx.Hook(HookPoint.Deliver, HookPriority, carbons.Deliver);
        ctx.Hook(HookPoint.Undeliverable, HookPriority, carbons.Undeliverable);
    }
}

/// <summary>The namespaces this plugin reads and writes.</summary>
public static class CarbonsNs
{
    public const string Carbons = "urn:xmpp:carbons:2";
    public const string Forward = "urn:xmpp:forward:0";
    /// <summary>XEP-0334 message processing hints (&lt;no-copy/&gt;).</summary>
    public const string Hints = "urn:xmpp:hints";
    /// <summary>XEP-0353 Jingle message initiation.</summary>
    public const string JingleMessage = "urn:xmpp:jingle-message:0";
    /// <summary>XEP-0085 chat states, XEP-0184 receipts, XEP-0333 chat markers: the IM payloads of XEP-0280 §6.</summary>
    public const string ChatStates = "http://jabber.org/protocol/chatstates";
    public const string Receipts = "urn:xmpp:receipts";
    public const string ChatMarkers = "urn:xmpp:chat-markers:0";
    public const string MucUser = "http://jabber.org/protocol/muc#user";
    public const string Client = "jabber:client";
    public const string Body = "body";
}

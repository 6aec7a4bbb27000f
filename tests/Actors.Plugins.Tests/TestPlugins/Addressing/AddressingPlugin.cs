using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Tests.Addressing;

/// <summary>
/// echo.&lt;domain&gt;: echoes every stanza sent to it or under it (a child &lt;fail xmlns='urn:test:addressing'/&gt;
/// makes the handler throw). urn:test:account on accounts' bare JIDs: IQs answered with the account's JID, messages
/// acknowledged. Hooks: at every point, a stanza carrying &lt;stop xmlns='urn:test:hooks' at='Point'/&gt; is taken by a
/// priority-10 hook, which tells the sender with &lt;hooked point='Point'/&gt;; a priority-5 hook at the same point
/// would say late='true' (it must never run for that stanza: stop-the-chain).
/// </summary>
public sealed class AddressingPlugin : IXmppPlugin
{
    public const string Ns = "urn:test:addressing";
    public const string AccountNs = "urn:test:account";
    public const string HooksNs = "urn:test:hooks";

    public PluginDescriptor Descriptor { get; } = new("addressing", "1.0.0");

    public void Configure(IPluginContext ctx)
    {
        ctx.OwnService("echo", new DiscoInfo([new DiscoIdentity("component", "generic", "Echo")], [Ns], []), s =>
        {
            if (s.Stanza.Child("fail", Ns) is not null) throw new InvalidOperationException("asked to fail");
            if (s.Stanza.Type is "error" or "result") return ValueTask.CompletedTask;
            var echo = s.Stanza.Name == "iq" ? s.Result(s.Payload?.Clone()) : s.Stanza.Clone();
            echo.From = s.To.ToString();
            echo.To = s.From.ToString();
            ctx.SendStanza(echo);
            return ValueTask.CompletedTask;
        });
        ctx.OwnAccountNamespace(AccountNs, s =>
        {
            ctx.SendStanza(s.Stanza.Name == "iq"
                ? s.Result(new Element("account", AccountNs).SetAttr("jid", s.To.ToString()))
                : new Element(s.Stanza.Name, "jabber:client").SetAttr("from", s.To.ToString()).SetAttr("to", s.From.ToString())
                    .Add(new Element("received", AccountNs)));
            return ValueTask.CompletedTask;
        }, AccountStanzas.Iq | AccountStanzas.Message);
        foreach (var point in new[] { HookPoint.FromClient, HookPoint.InboundBare, HookPoint.InboundFull, HookPoint.Undeliverable, HookPoint.PresenceBroadcast })
        {
            ctx.Hook(point, 10, e => Stop(ctx, e, late: false));
            ctx.Hook(point, 5, e => Stop(ctx, e, late: true));
        }
    }

    private static bool Stop(IPluginContext ctx, StanzaEvent e, bool late)
    {
        var stop = e.Stanza.Child("stop", HooksNs);
        if (stop is null || stop.Attr("at") != e.Point.ToString()) return false;
        var sender = e.From?.ToString() ?? e.Stanza.From!;
        ctx.SendStanza(new Element("message", "jabber:client").SetAttr("from", ctx.Domains[0]).SetAttr("to", sender)
            .Add(new Element("hooked", HooksNs).SetAttr("point", e.Point.ToString()).SetAttr("session", e.Session.ToString())
                .SetAttr("late", late ? "true" : null)));
        return true;
    }
}

using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;
using XNs = Actors.Xmpp.Ns;

namespace Samples.IotDevice;

/// <summary>
/// A thermometer living on the server at &lt;domain&gt;/thermometer. It answers
/// &lt;iq type='get'&gt;&lt;reading xmlns='urn:example:iot:0'/&gt;&lt;/iq&gt; with its latest reading, and
/// clients that send it directed presence get its presence, updated whenever its state (normal/hot) changes.
/// Everything is a registration (a hook, a timer); its state survives a reload through SaveState/RestoreState.
/// </summary>
public sealed class ThermometerPlugin : IXmppPlugin
{
    public const string Ns = "urn:example:iot:0";

    private readonly Thermometer _device = new();

    public PluginDescriptor Descriptor { get; } = new("iot-thermometer", "1.0.0");

    public void Configure(IPluginContext ctx)
    {
        var options = ctx.Options<ThermometerOptions>();
        var jid = Jid.Create(null, ctx.Domains[0], options.Resource);
        var sessions = ctx.Require<ISessions>();
        _device.Configure(options);
        ctx.Hook(HookPoint.FromClient, 100, e => Jid.TryParse(e.Stanza.To, out var to) && jid.Equals(to) && Handle(ctx, jid, e));
        ctx.Every(TimeSpan.FromMilliseconds(options.IntervalMs), _ =>
        {
            _device.Retain(sessions.List().Select(s => s.Jid)); // watchers that went offline
            if (_device.Sample()) foreach (var w in _device.Watchers) ctx.SendStanza(Presence(jid, w));
            return Task.CompletedTask;
        });
    }

    public byte[]? SaveState() => _device.Save();

    public void RestoreState(byte[] state) => _device.Restore(state);

    /// <summary>A stanza addressed to the device: handled here, never routed further.</summary>
    private bool Handle(IPluginContext ctx, Jid jid, StanzaEvent e)
    {
        var s = e.Stanza;
        switch (s.Name)
        {
            case "iq" when s.Type == "get" && s.FirstChild() is { } q && q.Is("reading", Ns):
                ctx.SendStanza(Reply(s, new Element("reading", Ns).SetAttr("value", _device.Value.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture))
                    .SetAttr("unit", "Cel").SetAttr("state", _device.State)));
                break;
            case "iq" when s.Type == "get" && s.FirstChild() is { } q && q.Is("query", XNs.DiscoInfo):
                ctx.SendStanza(Reply(s, new Element("query", XNs.DiscoInfo,
                    new Element("identity", XNs.DiscoInfo).SetAttr("category", "client").SetAttr("type", "bot").SetAttr("name", "Thermometer"),
                    new Element("feature", XNs.DiscoInfo).SetAttr("var", Ns),
                    new Element("feature", XNs.DiscoInfo).SetAttr("var", XNs.DiscoInfo))));
                break;
            case "iq" when s.Type is "get" or "set":
                ctx.SendStanza(Actors.Xmpp.Stanzas.StanzaErrors.Reply(s, "service-unavailable")!);
                break;
            case "presence" when s.Type is null:
                _device.Watch(e.Session);
                ctx.SendStanza(Presence(jid, e.Session));
                break;
            case "presence" when s.Type == "unavailable":
                _device.Unwatch(e.Session);
                break;
        }
        return true;
    }

    private static Element Reply(Element iq, Element payload) => Actors.Xmpp.Stanzas.StanzaErrors.IqResult(iq, payload);

    private Element Presence(Jid from, Jid to)
    {
        var p = new Element("presence", XNs.Client).SetAttr("from", from.ToString()).SetAttr("to", to.ToString());
        if (_device.State == "hot") p.Add(new Element("show", XNs.Client, "dnd"));
        p.Add(new Element("status", XNs.Client, $"{_device.State} {_device.Value:0.0} °C"));
        return p;
    }
}

using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;
using XNs = Actors.Xmpp.Ns;

namespace Samples.IotDevice;

/// <summary>
/// A thermometer living on the server at its own service JID, thermometer.&lt;domain&gt; (listed in the server's
/// disco#items; its disco#info comes from the registration). It answers
/// &lt;iq type='get'&gt;&lt;reading xmlns='urn:example:iot:0'/&gt;&lt;/iq&gt; with its latest reading, and clients that send
/// it directed presence get its presence, updated whenever its state (normal/hot) changes. Only stanzas sent to its
/// address reach it. Everything is a registration (an address, a timer); its state survives a reload through
/// SaveState/RestoreState.
/// </summary>
public sealed class ThermometerPlugin : IXmppPlugin
{
    public const string Ns = "urn:example:iot:0";

    private readonly Thermometer _device = new();

    public PluginDescriptor Descriptor { get; } = new("iot-thermometer", "2.0.0");

    public void Configure(IPluginContext ctx)
    {
        var options = ctx.Options<ThermometerOptions>();
        var jid = Jid.Create(null, options.Subdomain + "." + ctx.Domains[0]);
        var sessions = ctx.Require<ISessions>();
        _device.Configure(options);
        var info = new DiscoInfo([new DiscoIdentity("client", "bot", "Thermometer")], [Ns], []);
        ctx.OwnService(options.Subdomain, info, s =>
        {
            Handle(ctx, s);
            return ValueTask.CompletedTask;
        });
        ctx.Every(TimeSpan.FromMilliseconds(options.IntervalMs), _ =>
        {
            _device.Retain(sessions.List().Select(s => s.Jid)); // watchers that went offline
            if (_device.Sample()) foreach (var w in _device.Watchers) ctx.SendStanza(Presence(jid, w));
            return Task.CompletedTask;
        });
    }

    public byte[]? SaveState() => _device.Save();

    public void RestoreState(byte[] state) => _device.Restore(state);

    /// <summary>A stanza addressed to the device (disco#info is answered by the host from the registration).</summary>
    private void Handle(IPluginContext ctx, AddressedStanza s)
    {
        var stanza = s.Stanza;
        switch (stanza.Name)
        {
            case "iq" when stanza.Type == "get" && s.Payload is { } q && q.Is("reading", Ns) && s.To.IsDomain:
                ctx.SendStanza(s.Result(new Element("reading", Ns)
                    .SetAttr("value", _device.Value.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture))
                    .SetAttr("unit", "Cel").SetAttr("state", _device.State)));
                break;
            case "iq" when stanza.Type is "get" or "set":
                ctx.SendStanza(s.Error("service-unavailable")!); // RFC 6120 §8.4
                break;
            case "presence" when stanza.Type is null:
                _device.Watch(s.From);
                ctx.SendStanza(Presence(s.To, s.From));
                break;
            case "presence" when stanza.Type == "unavailable":
                _device.Unwatch(s.From);
                break;
        }
    }

    private Element Presence(Jid from, Jid to)
    {
        var p = new Element("presence", XNs.Client).SetAttr("from", from.ToString()).SetAttr("to", to.ToString());
        if (_device.State == "hot") p.Add(new Element("show", XNs.Client, "dnd"));
        p.Add(new Element("status", XNs.Client, $"{_device.State} {_device.Value:0.0} °C"));
        return p;
    }
}

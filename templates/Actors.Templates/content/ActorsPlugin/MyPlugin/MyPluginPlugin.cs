using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace MyPlugin;

/// <summary>
/// The plugin: its id (also its folder under plugins/ and its options section Xmpp:Plugins:myplugin), a feature
/// in the server's disco#info, and an IQ handler. Configure only registers; the server undoes every registration
/// when the plugin is unloaded or reloaded (docs/plugin-authoring.md).
/// </summary>
public sealed class MyPluginPlugin : IXmppPlugin
{
    /// <summary>The plugin's namespace (a URN of your own: urn:xmpp:* names belong to the XSF).</summary>
    public const string Ns = "urn:example:myplugin:0";

    public PluginDescriptor Descriptor { get; } = new("myplugin", "1.0.0");

    public void Configure(IPluginContext ctx)
    {
        ctx.AddFeature(Ns, IqScope.Server);
        // <iq type='get' to='DOMAIN'><hello xmlns='urn:example:myplugin:0'/></iq> is answered with
        // <hello xmlns='urn:example:myplugin:0'>Hello, USER</hello>
        ctx.HandleIq("get", IqScope.Server, Ns, "hello", r =>
            r.Ok(new Element("hello", Ns).AddText("Hello, " + r.From.Local)));
    }
}

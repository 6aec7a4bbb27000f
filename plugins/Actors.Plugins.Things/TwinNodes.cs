using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Things;

/// <summary>
/// A device's twin as two PEP nodes of the device's account (XEP-0163), private to the device and its owner (access
/// model whitelist, XEP-0060 §4.5): <see cref="Desired"/>, which the owner publishes to (affiliation publisher) and the
/// device reads or is notified of (PEP's last item reaches the device when it comes online with +notify for the node,
/// so a change made while it was offline is delivered when it reconnects), and <see cref="Reported"/>, which the server
/// publishes on the device's behalf from the values the device reports (<see cref="DeviceTwin"/>) and the owner
/// (affiliation member) reads or subscribes to. The server makes both nodes and grants the affiliations when an owner
/// claims the thing (XEP-0347 §3.4), and takes them back when the owner removes or disowns it. Every request goes to
/// the PubSub plugin over XMPP, from the device's bare JID (the account's own requests), so nothing is shared but XML.
/// </summary>
internal static class TwinNodes
{
    public const string Desired = "urn:actors:iot:twin:desired";
    public const string Reported = "urn:actors:iot:twin:reported";
    /// <summary>The item id each node keeps (max_items 1): the current state.</summary>
    public const string Current = "current";
    private const string PubSub = "http://jabber.org/protocol/pubsub";
    private const string PubSubOwner = "http://jabber.org/protocol/pubsub#owner";
    private const string NodeConfig = "http://jabber.org/protocol/pubsub#node_config";
    private const string PublishOptions = "http://jabber.org/protocol/pubsub#publish-options";

    /// <summary>The configuration both nodes get (at creation, and as publish-options of the reported state, §7.1.5).</summary>
    private static Element Config(string formType)
    {
        var x = new Element("x", Ns.DataForms).SetAttr("type", "submit");
        x.Add(Field("FORM_TYPE", formType).SetAttr("type", "hidden"));
        x.Add(Field("pubsub#access_model", "whitelist"));
        x.Add(Field("pubsub#max_items", "1"));
        x.Add(Field("pubsub#persist_items", "true"));
        return x;
    }

    private static Element Field(string var, string value) =>
        new Element("field", Ns.DataForms).SetAttr("var", var).Add(new Element("value", Ns.DataForms).AddText(value));

    private static Element Iq(Jid device, Element pubsub) =>
        new Element("iq", Ns.Client).SetAttr("type", "set").SetAttr("from", device.ToString()).SetAttr("to", device.ToString()).Add(pubsub);

    /// <summary>The device's request publishing its reported state (its current values under &lt;reported/&gt;); the node is
    /// made on first use with the twin's configuration (XEP-0163 §3 auto-create with publish-options).</summary>
    public static Element PublishReported(Jid device, Element reported, string id)
    {
        var pubsub = new Element("pubsub", PubSub)
            .Add(new Element("publish", PubSub).SetAttr("node", Reported).Add(new Element("item", PubSub).SetAttr("id", Current).Add(reported)))
            .Add(new Element("publish-options", PubSub).Add(Config(PublishOptions)));
        return Iq(device, pubsub).SetAttr("id", id);
    }

    /// <summary>Makes both nodes (a conflict: they exist) and gives <paramref name="owner"/> publisher on the desired
    /// state and member on the reported state.</summary>
    public static async Task GrantAsync(IPluginContext ctx, Jid device, Jid owner, TimeSpan timeout)
    {
        foreach (var node in new[] { Desired, Reported })
        {
            var create = new Element("pubsub", PubSub).Add(new Element("create", PubSub).SetAttr("node", node))
                .Add(new Element("configure", PubSub).Add(Config(NodeConfig)));
            var created = await AskAsync(ctx, Iq(device, create), timeout);
            if (created?.Type == "error" && created.Child("error", Ns.Client)?.Child("conflict", Ns.StanzaErrors) is null)
                ctx.Logger.LogTwinNodeFailed(node, device, created.ToString());
            await AffiliateAsync(ctx, device, node, owner, node == Desired ? "publisher" : "member", timeout);
        }
    }

    /// <summary>The former owner's affiliations end (XEP-0060 §8.9.2, affiliation 'none').</summary>
    public static async Task RevokeAsync(IPluginContext ctx, Jid device, Jid owner, TimeSpan timeout)
    {
        foreach (var node in new[] { Desired, Reported }) await AffiliateAsync(ctx, device, node, owner, "none", timeout);
    }

    /// <summary>The answer, or null (logged) when none came in time: the registry's own answer does not wait on PubSub.</summary>
    private static async Task<Element?> AskAsync(IPluginContext ctx, Element iq, TimeSpan timeout)
    {
        try
        {
            return await ctx.SendIqAsync(iq, timeout);
        }
        catch (TimeoutException)
        {
            ctx.Logger.LogTwinNodeFailed(iq.FirstChild()?.FirstChild()?.Attr("node") ?? "", Jid.Parse(iq.To!), "no answer");
            return null;
        }
    }

    private static async Task AffiliateAsync(IPluginContext ctx, Jid device, string node, Jid jid, string affiliation, TimeSpan timeout)
    {
        var set = new Element("pubsub", PubSubOwner).Add(new Element("affiliations", PubSubOwner).SetAttr("node", node)
            .Add(new Element("affiliation", PubSubOwner).SetAttr("jid", jid.Bare.ToString()).SetAttr("affiliation", affiliation)));
        var answer = await AskAsync(ctx, Iq(device, set), timeout);
        if (answer?.Type == "error") ctx.Logger.LogTwinNodeFailed(node, device, answer.ToString());
    }
}

internal static partial class TwinNodesLog
{
    [Microsoft.Extensions.Logging.LoggerMessage(Level = Microsoft.Extensions.Logging.LogLevel.Warning, Message = "twin node {Node} of {Device}: {Answer}")]
    public static partial void LogTwinNodeFailed(this Microsoft.Extensions.Logging.ILogger logger, string node, Jid device, string answer);
}

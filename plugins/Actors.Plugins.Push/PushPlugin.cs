using System.ComponentModel.DataAnnotations;
using Actors.Xmpp.Plugins;

namespace Actors.Plugins.Push;

/// <summary>
/// XEP-0357 push notifications (Prosody's mod_cloud_notify, ejabberd's mod_push): a client registers an app server's
/// push service (&lt;enable jid node/&gt;, with optional publish-options), and while it cannot receive (its session waits
/// detached for a XEP-0198 resumption, or the account has no available resource and the message goes to offline
/// storage) the server publishes a summary notification to that service, which wakes the device.
/// </summary>
[Xep(357, "0.4.1")]
public sealed class PushPlugin : IXmppPlugin
{
    /// <summary>Before the offline plugin's Undeliverable hook (-100), which takes the message; after blocking (1000).</summary>
    public const int HookPriority = -70;

    public PluginDescriptor Descriptor { get; } = new("push", "1.0.0");

    public void Configure(IPluginContext ctx)
    {
        var options = ctx.Options<PushOptions>();
        var push = new PushNotifications(ctx.Storage.Map(PushNotifications.RegistrationsKind), ctx.Require<IRouter>(), options, ctx.Logger);
        ctx.AddFeature(PushNs.Push, IqScope.Account); // §5: on the account's bare JID
        ctx.HandleIq("set", IqScope.Both, PushNs.Push, "enable", push.EnableAsync);
        ctx.HandleIq("set", IqScope.Both, PushNs.Push, "disable", push.DisableAsync);
        ctx.Hook(HookPoint.Deliver, HookPriority, push.Deliver);
        ctx.Hook(HookPoint.Undeliverable, HookPriority, push.Undeliverable);
        ctx.On(ServerEventKind.SessionDetached, e => push.Detached(e.Jid));
        ctx.On(ServerEventKind.SessionResumed, e => push.Back(e.Jid));
        ctx.On(ServerEventKind.SessionClosed, e => push.Gone(e.Jid));
        ctx.On(ServerEventKind.ResourceAvailable, e => push.Back(e.Jid));
    }
}

/// <summary>Options (Xmpp:Plugins:push).</summary>
public sealed class PushOptions
{
    /// <summary>Put the sender's bare JID in the summary (last-message-sender): the app server and the push network see it.</summary>
    public bool IncludeSender { get; set; }

    /// <summary>Put the message body in the summary (last-message-body): the app server and the push network read it.</summary>
    public bool IncludeBody { get; set; }

    /// <summary>Push services one account may register (one per device, usually).</summary>
    [Range(1, 1000)]
    public int MaxRegistrations { get; set; } = 20;

    /// <summary>How long the server waits for the app server's answer (an error disables the registration).</summary>
    [Range(1, 300)]
    public int TimeoutSeconds { get; set; } = 30;
}

/// <summary>The namespaces this plugin reads and writes.</summary>
public static class PushNs
{
    public const string Push = "urn:xmpp:push:0";
    public const string Summary = "urn:xmpp:push:summary";
    public const string PubSub = "http://jabber.org/protocol/pubsub";
    public const string PublishOptions = "http://jabber.org/protocol/pubsub#publish-options";
    public const string Data = "jabber:x:data";
    public const string Client = "jabber:client";
    /// <summary>OMEMO (XEP-0384, both versions) and XEP-0353 Jingle message initiation: messages without a body that
    /// matter to a user.</summary>
    public const string OmemoLegacy = "eu.siacs.conversations.axolotl";
    public const string Omemo = "urn:xmpp:omemo:2";
    public const string JingleMessage = "urn:xmpp:jingle-message:0";
}

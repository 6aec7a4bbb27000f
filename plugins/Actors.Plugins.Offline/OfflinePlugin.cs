using System.ComponentModel.DataAnnotations;
using Actors.Xmpp.Plugins;

namespace Actors.Plugins.Offline;

/// <summary>
/// XEP-0160 best practices for handling offline messages (Prosody's mod_offline): a normal or chat message to an
/// account with no available resource (RFC 6121 §8.5.2.2.1, the Undeliverable hook) is stored in the account's archive
/// "messages" and delivered, oldest first and stamped with XEP-0203 &lt;delay/&gt;, when a resource of the account
/// becomes available with a non-negative priority. Headlines and errors are never stored (§8.5.2.2.1). A full mailbox
/// or a failed write bounces the message: nothing accepted is lost (stored, delivered or bounced).
/// </summary>
[Xep(160, "1.0.1")]
[Xep(203, "2.0", Status = "partial")] // the delay stamp on delivered offline messages
public sealed class OfflinePlugin : IXmppPlugin
{
    /// <summary>XEP-0160 §5 (via XEP-0030): the server stores messages for offline accounts.</summary>
    public const string Feature = "msgoffline";

    /// <summary>Xmpp:Offline (release 1's section, unchanged).</summary>
    public sealed class Options
    {
        /// <summary>Messages kept per account; when full, senders get &lt;service-unavailable/&gt;.</summary>
        [Range(1, 1_000_000)]
        public int MaxMessages { get; set; } = 1000;
    }

    /// <summary>Storing is the last resort: every other plugin's Undeliverable hook (one that takes the message
    /// elsewhere) runs first (Prosody's mod_offline hooks message/offline/handle at -1).</summary>
    public const int StorePriority = -100;

    /// <summary>The cluster signal of a message stored in an account's mailbox (about: the account).</summary>
    public const string StoredSignal = "stored";

    /// <summary>The options keep release 1's section, Xmpp:Offline (XEP-0160 was the user actor's then).</summary>
    public PluginDescriptor Descriptor { get; } = new("offline", "1.0.0") { OptionsSection = "Xmpp:Offline" };

    public void Configure(IPluginContext ctx)
    {
        var options = ctx.Options<Options>();
        var mailboxes = ctx.Track(new Mailboxes(ctx.Storage.Archive(Mailboxes.Kind), ctx.Require<ISessionDelivery>(),
            ctx.Require<ISessions>(), ctx.Require<IRouter>(), options.MaxMessages, ctx.Logger,
            stored: account => ctx.Signal(StoredSignal, account)));
        // a cluster: a message was stored through another node; a resource of the account on this node takes it (a
        // node that holds none does nothing)
        ctx.OnSignal(StoredSignal, account => mailboxes.Deliver(account, null));
        ctx.AddFeature(Feature);
        // XEP-0227 §4.4: <offline-messages/> (in the file's own namespace: "" here)
        ctx.AddPortableData(new PortableAccountData(Mailboxes.PortableName, "",
            (account, _) => mailboxes.ExportAsync(account),
            (account, messages, _) => mailboxes.ImportAsync(account, messages)));
        // RFC 6121 §8.5.2.2.1: no resource can take it
        ctx.Hook(HookPoint.Undeliverable, StorePriority, e => mailboxes.Store(e.Stanza, e.Session.Bare));
        // XEP-0160 §3: delivered when the account comes online with a resource that takes messages to the bare JID
        ctx.On(ServerEventKind.ResourceAvailable, e =>
        {
            mailboxes.Deliver(e.Jid.Bare, e.Jid);
            return ValueTask.CompletedTask;
        });
    }
}

using Actors.Xmpp;
using Actors.Xmpp.Plugins;

namespace Actors.Plugins.Bookmarks;

/// <summary>
/// XEP-0402 PEP Native Bookmarks with its §5.3 compatibility (Prosody's mod_bookmarks): the account's bookmarks are
/// the items of its PEP node urn:xmpp:bookmarks:1 (the pubsub plugin stores them), and XEP-0048 clients, whether
/// they keep bookmarks in XEP-0049 private storage or in the PEP node storage:bookmarks, read and write the same list
/// (<see cref="BookmarkSync"/>). Advertised on the account as urn:xmpp:bookmarks:1#compat and #compat-pep (§5.3, §6).
/// </summary>
[Xep(402, "1.2.0")]
[Xep(48, "1.2", Status = "partial")] // conferences; a <url/> is kept in private storage only (XEP-0402 §1 dropped it)
public sealed class BookmarksPlugin : IXmppPlugin
{
    public const string Compat = BookmarkCodec.Native + "#compat";
    public const string CompatPep = BookmarkCodec.Native + "#compat-pep";

    public PluginDescriptor Descriptor { get; } = new("bookmarks", "1.0.0", [PluginDependency.Hard("pubsub"), PluginDependency.Hard("private")]);

    public void Configure(IPluginContext ctx)
    {
        ctx.AddFeature(Compat, IqScope.Account);
        ctx.AddFeature(CompatPep, IqScope.Account);
        ctx.Hook(HookPoint.FromClient, 0, new BookmarkSync(ctx).OnClientStanza);
    }
}

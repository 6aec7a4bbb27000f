using System.ComponentModel.DataAnnotations;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Microsoft.Extensions.Logging;

namespace Actors.Plugins.Mam;

/// <summary>
/// XEP-0313 message archive management for accounts (Prosody's mod_mam): the server archives the chat and normal
/// messages each account sends and receives in the host's message archive table (<see cref="IMessageArchive"/>, kind
/// <see cref="MamPlugin.ArchiveKind"/>), marks each archived incoming message with an XEP-0359 &lt;stanza-id/&gt;, and
/// answers queries on the account's bare JID: data-form filters, XEP-0059 paging both ways, flipped pages, metadata,
/// XEP-0431 full-text search, and XEP-0441 preferences. Retention (Xmpp:Mam:RetentionDays) and an operator purge.
/// </summary>
[Xep(313, "1.1.3")]
[Xep(359, "0.7.0")]
[Xep(441, "0.2.0")]
[Xep(431, "0.2.0", Status = "partial")] // a substring of the body: no stemming or word boundaries
public sealed class MamPlugin : IXmppPlugin
{
    /// <summary>The archive kind of accounts' archives in the message archive table.</summary>
    public const string ArchiveKind = "mam";

    /// <summary>After the hooks that stop a stanza (blocking at 1000), before carbons (-50) copies what this one marks
    /// with its &lt;stanza-id/&gt; and before the offline plugin (-100) stores it.</summary>
    public const int HookPriority = -40;

    /// <summary>After carbons (-50) made the &lt;sent/&gt; copies of an outgoing message, which carry its
    /// &lt;stanza-id/&gt;, the message itself loses it before it is routed to the contact.</summary>
    public const int UnmarkPriority = -60;

    public PluginDescriptor Descriptor { get; } = new("mam", "1.0.0") { OptionsSection = "Xmpp:Mam" };

    /// <summary>An account's XEP-0441 preferences were set on this node: the other nodes of a cluster read them again.</summary>
    private const string PreferencesSignal = "prefs-changed";

    /// <summary>How long loading waits for the stored preferences.</summary>
    private static readonly TimeSpan PreferencesLoadWait = TimeSpan.FromSeconds(20);

    public void Configure(IPluginContext ctx)
    {
        var options = ctx.Options<MamOptions>();
        var archive = ctx.Require<IMessageArchive>();
        var accounts = ctx.Require<IAccounts>();
        var preferences = new Preferences(ctx.Storage.Map("prefs"), ctx.Require<IRosters>(), options.DefaultMode, ctx.Logger,
            account => ctx.Signal(PreferencesSignal, account));
        ctx.OnSignal(PreferencesSignal, account => _ = preferences.ReadAgainAsync(account));
        // the hooks decide from memory alone: until the stored preferences (and the rosters of the accounts archiving by
        // roster) are read, a message would follow the server's default, archived against an account's 'never'. So
        // Configure waits for them, bounded (the host calls it on its own thread, never an actor's)
        var loads = new Task[ctx.Domains.Count];
        for (var i = 0; i < loads.Length; i++) loads[i] = preferences.LoadAsync(Jid.Parse(ctx.Domains[i]));
        if (!Task.WaitAll(loads, PreferencesLoadWait))
            ctx.Logger.LogWarning("the archiving preferences were not read within {Seconds} s: until they are, accounts follow the server's default",
                PreferencesLoadWait.TotalSeconds);
        var archiving = new Archiving(archive, accounts, preferences);
        var queries = new Queries(archive, ctx.Require<ISessionDelivery>(), options);

        // §7: on the archiving JIDs, the accounts' bare JIDs; XEP-0359 §6 and XEP-0431 §2 likewise
        ctx.AddFeature(MamNs.Mam, IqScope.Account);
        ctx.AddFeature(MamNs.Extended, IqScope.Account);
        ctx.AddFeature(MamNs.StanzaIds, IqScope.Account);
        ctx.AddFeature(MamNs.FullText, IqScope.Account);

        ctx.Hook(HookPoint.FromClient, HookPriority, archiving.Sent);
        ctx.Hook(HookPoint.FromClient, UnmarkPriority, archiving.Unmark);
        ctx.Hook(HookPoint.InboundBare, HookPriority, archiving.Received);
        ctx.Hook(HookPoint.InboundFull, HookPriority, archiving.Received);

        ctx.HandleIq("get", IqScope.Account, MamNs.Mam, "query", queries.Form);
        ctx.HandleIq("set", IqScope.Account, MamNs.Mam, "query", queries.Query);
        ctx.HandleIq("get", IqScope.Account, MamNs.Mam, "metadata", queries.Metadata);
        ctx.HandleIq("get", IqScope.Account, MamNs.Mam, "prefs", preferences.Get);
        ctx.HandleIq("set", IqScope.Account, MamNs.Mam, "prefs", preferences.Set);

        ctx.On(ServerEventKind.AccountRemoved, e => new ValueTask(preferences.RemoveAsync(e.Jid)));
        ctx.On(ServerEventKind.AccountGone, e => { preferences.Forget(e.Jid); return ValueTask.CompletedTask; }); // every node
        ctx.On(ServerEventKind.RosterChanged, preferences.RosterChanged);

        if (options.RetentionDays > 0)
            ctx.Every(TimeSpan.FromMinutes(options.PurgeIntervalMinutes), async ct =>
            {
                var removed = await archive.RemoveOlderThanAsync(ArchiveKind, DateTimeOffset.UtcNow.AddDays(-options.RetentionDays), ct);
                if (removed > 0) ctx.Logger.LogInformation("retention: removed {Count} archived messages older than {Days} days", removed, options.RetentionDays);
            });

        ctx.AddCommand(new AdminCommand("purge", "Remove an account's archived messages", async (input, ct) =>
        {
            var account = input.Address("account")!.Bare;
            if (!accounts.Exists(account)) return CommandResult.Failed($"no account {account}");
            DateTimeOffset? before = input.Integer("days") is { } days ? DateTimeOffset.UtcNow.AddDays(-days) : null;
            var removed = await archive.RemoveAsync(ArchiveKind, account, before, ct);
            return CommandResult.Done($"removed {removed} archived messages of {account}");
        })
        {
            Arguments = [new("account", ArgumentKind.Jid, "Account") { Required = true },
                         new("days", ArgumentKind.Integer, "Only messages older than this many days")],
        });
    }
}

/// <summary>Xmpp:Mam.</summary>
public sealed class MamOptions
{
    /// <summary>What is archived for an account that set no preferences (XEP-0441 'default'): "always" or "never".</summary>
    [RegularExpression("^(always|never)$", ErrorMessage = "Default must be always or never")]
    public string Default { get; set; } = "always";

    /// <summary>The most results one query returns (a larger or missing XEP-0059 &lt;max/&gt; is cut to it).</summary>
    [Range(1, 1000)] public int MaxPageSize { get; set; } = 50;

    /// <summary>Archived messages older than this many days are removed (0: kept until purged).</summary>
    [Range(0, 36500)] public double RetentionDays { get; set; }

    /// <summary>How often retention runs.</summary>
    [Range(1, 10080)] public double PurgeIntervalMinutes { get; set; } = 60;

    internal ArchiveMode DefaultMode => Default == "never" ? ArchiveMode.Never : ArchiveMode.Always;
}

/// <summary>The namespaces and values this plugin reads and writes.</summary>
public static class MamNs
{
    public const string Mam = ArchiveQueries.Namespace;
    public const string Extended = "urn:xmpp:mam:2#extended";
    public const string StanzaIds = "urn:xmpp:sid:0";
    public const string FullText = "urn:xmpp:fulltext:0";
    /// <summary>XEP-0431's query field.</summary>
    public const string FullTextField = ArchiveQueries.FullTextField;
    public const string Rsm = ArchiveQueries.Rsm;
    public const string Forward = ArchiveQueries.Forward;
    public const string Hints = "urn:xmpp:hints";
    public const string Carbons = "urn:xmpp:carbons:2";
    public const string FormType = ArchiveQueries.FormType;
}

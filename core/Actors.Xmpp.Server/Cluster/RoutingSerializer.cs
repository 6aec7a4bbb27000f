using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.Serialization;
using System.Text;
using Actors.Xmpp.Persistence.Plugins;
using Actors.Xmpp.Server.C2s;
using Actors.Xmpp.Server.PluginEntities;
using Actors.Xmpp.Server.PluginStores;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Akka.Serialization;

namespace Actors.Xmpp.Server.Cluster;

/// <summary>
/// The wire format of the core records that cross nodes on the routing path (issue 10): the
/// <see cref="UsersActor.Envelope"/> a node sends to an account's entity through the "users" shard region, the
/// messages it carries (stanzas to route, the sessions' bind, presence and end, the user actor's requests) and their
/// answers. Explicit binary layouts with stable manifests, no .NET type names and nothing a plugin defines; stanzas
/// inside them are written and read back exactly as <see cref="StanzaSerializer"/> does (through the stream framer, so
/// another node is trusted no more than a client); session references travel as actor paths (remote refs).
/// A record this serializer does not know cannot be sent to another node (an error, never a silent fallback).
/// </summary>
public sealed class RoutingSerializer : SerializerWithStringManifest
{
    public const int SerializerId = 4712;

    // manifests: stable names, one per record, never reused
    private const string Envelope = "u.env.v1";
    private const string RouteStanza = "r.route.v1";
    private const string RouteStanzaTraced = "r.route-traced.v1"; // with the W3C trace context (Diagnostics/XmppTracing)
    private const string OwnPresence = "r.own-presence.v1";
    private const string DeliverPageTo = "r.page-to.v1";
    private const string ListResources = "r.list.v1";
    private const string ResourceList = "r.resources.v1";
    private const string AccountCreated = "r.account-created.v1";
    private const string SessionStarted = "u.session-started.v1";
    private const string ResourcePresence = "u.resource-presence.v1";
    private const string SessionEnded = "u.session-ended.v1";
    private const string OutboundSubscription = "u.outbound-subscription.v1";
    private const string InboundPresence = "u.inbound-presence.v1";
    private const string HandleIq = "u.iq.v1";
    private const string ReportPresence = "u.report-presence.v1";
    private const string PresenceReport = "u.presence-report.v1";
    private const string DropLegacyOffline = "u.drop-legacy-offline.v1";
    private const string GetState = "u.get-state.v1";
    private const string GetContacts = "u.get-contacts.v1";
    private const string Contacts = "u.contacts.v1";
    private const string RemoveAccount = "u.remove-account.v1";
    private const string AccountDeleted = "u.account-deleted.v1";
    private const string CloseSessions = "u.close-sessions.v1";
    private const string GetSubscription = "u.get-subscription.v1";
    private const string SubscriptionOf = "u.subscription-of.v2"; // v2: with the roster groups
    private const string ImportData = "u.import-data.v1";
    private const string DataImported = "u.data-imported.v1";
    private const string GetLastUnavailable = "u.get-last-unavailable.v1";
    private const string LastUnavailable = "u.last-unavailable.v1";
    private const string PageWritten = "s.page-written.v2"; // v2: with AwaitsAck
    private const string PageAcknowledged = "s.page-acked.v1";
    private const string Replaced = "s.replaced.v1";
    private const string EndSeen = "s.end-seen.v1";
    private const string CloseWithStreamError = "s.close-stream-error.v1";
    private const string Registered = "s.registered.v1";
    private const string NodeInfoQuery = "c.node-info-query.v1";
    private const string NodeInfo = "c.node-info.v1";
    // plugin storage (the "plugin-stores" region): host records of strings, never a plugin's type
    private const string StoreEnvelopeManifest = "ps.env.v1";
    private const string StoreGet = "ps.get.v1";
    private const string StoreGetAll = "ps.get-all.v1";
    private const string StoreSet = "ps.set.v1";
    private const string StoreClear = "ps.clear.v1";
    private const string StoreAppend = "ps.append.v1";
    private const string StoreRead = "ps.read.v1";
    private const string StoreTrim = "ps.trim.v1";
    private const string StoreCount = "ps.count.v1";
    private const string StorePurge = "ps.purge.v1";
    private const string StoreValue = "ps.value.v1";
    private const string StoreEntries = "ps.entries.v1";
    private const string StorePage = "ps.page.v1";
    private const string StoreAppended = "ps.appended.v1";
    private const string StoreCounted = "ps.counted.v1";
    private const string StoreDone = "ps.done.v1";
    private const string StoreOverQuota = "ps.over-quota.v1";
    // plugin keyed entities (a shard region per plugin and kind): the key and XML
    private const string EntityCommandManifest = "pe.command.v1";
    private const string EntityReplyManifest = "pe.reply.v1";
    private const string EntityFailedManifest = "pe.failed.v1";
    // the server's own pending IQs (an answer arrives on the node of the client that answers)
    private const string ServerIqAnswered = "c.server-iq-answered.v1";
    private const string ServerIqWhatTag = "c.server-iq-what-tag.v1";
    private const string ServerIqNodeTag = "c.server-iq-node-tag.v1";
    private const string PluginOperationRun = "c.plugin-op.v1";
    private const string PluginOperationResult = "c.plugin-op-result.v1";
    private const string PluginListLoaded = "c.plugin-list-loaded.v1";
    private const string PluginLoadedSet = "c.plugin-loaded-set.v1";
    // XEP-0198 resumption on another node: the entity finds the session, which hands itself over
    private const string ResumeSession = "r.resume-session.v1";
    private const string HandOverRefused = "r.hand-over-refused.v1";
    private const string SessionMoved = "u.session-moved.v1";
    private const string HandOver = "s.hand-over.v1";
    private const string HandedOver = "s.handed-over.v1";
    private const string MovedTo = "s.moved-to.v1";
    private const string AttachFailed = "s.attach-failed.v1";
    // a resources entity that starts learns the account's sessions on every node
    private const string FindSessions = "r.find-sessions.v1";
    private const string SessionsOnNode = "r.sessions-on-node.v1";
    // what one node tells the others so that their caches follow (ClusterSignals)
    private const string ClusterSignal = "r.cluster-signal.v1";
    // the cluster's session view (SessionView): a node's session changes, ends and snapshots
    private const string ViewChanged = "v.changed.v1";
    private const string ViewEnded = "v.ended.v1";
    private const string ViewSnapshot = "v.snapshot.v1";

    /// <summary>The records bound to this serializer (the HOCON below is built from this list).</summary>
    internal static readonly Type[] Records =
    [
        typeof(UsersActor.Envelope), typeof(AccountResourcesActor.RouteStanza), typeof(AccountResourcesActor.OwnPresence),
        typeof(AccountResourcesActor.DeliverPageTo), typeof(AccountResourcesActor.ListResources), typeof(AccountResourcesActor.ResourceList),
        typeof(AccountResourcesActor.AccountCreated), typeof(UserActor.SessionStarted), typeof(UserActor.ResourcePresence),
        typeof(UserActor.SessionEnded), typeof(UserActor.OutboundSubscription), typeof(UserActor.InboundPresence), typeof(UserActor.HandleIq),
        typeof(UserActor.ReportPresence), typeof(UserActor.PresenceReport), typeof(UserActor.DropLegacyOffline), typeof(UserActor.GetState),
        typeof(UserActor.GetContacts), typeof(UserActor.Contacts),
        typeof(UserActor.RemoveAccount), typeof(UserActor.AccountDeleted), typeof(UserActor.CloseSessions), typeof(UserActor.GetSubscription),
        typeof(UserActor.SubscriptionOf), typeof(UserActor.ImportData), typeof(UserActor.DataImported), typeof(UserActor.GetLastUnavailable), typeof(UserActor.LastUnavailable),
        typeof(SessionMessages.PageWritten), typeof(SessionMessages.PageAcknowledged), typeof(SessionMessages.Replaced), typeof(SessionMessages.EndSeen), typeof(C2sConnectionActor.CloseWithStreamError),
        typeof(Sessions.SessionsActor.Registered), typeof(NodeInfoActor.Query), typeof(NodeInfoActor.Info),
        typeof(StoreEnvelope), typeof(StoreCommands.Get), typeof(StoreCommands.GetAll), typeof(StoreCommands.Set), typeof(StoreCommands.Clear),
        typeof(StoreCommands.Append), typeof(StoreCommands.Read), typeof(StoreCommands.Trim), typeof(StoreCommands.Count), typeof(StoreCommands.Purge),
        typeof(StoreReplies.Value), typeof(StoreReplies.Entries), typeof(StoreReplies.Page), typeof(StoreReplies.Appended),
        typeof(StoreReplies.Counted), typeof(StoreReplies.Done), typeof(StoreReplies.OverQuota),
        typeof(EntityCommand), typeof(EntityReply), typeof(EntityFailed),
        typeof(PendingServerIqActor.Answered), typeof(PendingServerIqActor.WhatTag), typeof(PendingServerIqActor.NodeTag),
        typeof(PluginOperations.Run), typeof(PluginOperations.Result), typeof(PluginOperations.ListLoaded), typeof(PluginOperations.LoadedSet),
        typeof(AccountResourcesActor.ResumeSession), typeof(AccountResourcesActor.HandOverRefused), typeof(UserActor.SessionMoved),
        typeof(Sessions.SessionActor.HandOver), typeof(Sessions.SessionActor.HandedOver), typeof(Sessions.SessionActor.MovedTo),
        typeof(Sessions.SessionsActor.AttachFailed),
        typeof(AccountResourcesActor.FindSessions), typeof(AccountResourcesActor.SessionsOnNode),
        typeof(ClusterSignals.Signal),
        typeof(SessionView.Changed), typeof(SessionView.Ended), typeof(SessionView.Snapshot),
    ];

    /// <summary>The HOCON that registers and binds this serializer.</summary>
    public static readonly string Config = BuildConfig();

    [ThreadStatic] private static ArrayBufferWriter<byte>? _output;

    private readonly ExtendedActorSystem _system;

    public RoutingSerializer(ExtendedActorSystem system) : base(system) => _system = system;

    public override int Identifier => SerializerId;

    public override string Manifest(object o) => o switch
    {
        UsersActor.Envelope => Envelope,
        AccountResourcesActor.RouteStanza m => m.Trace == default ? RouteStanza : RouteStanzaTraced,
        AccountResourcesActor.OwnPresence => OwnPresence,
        AccountResourcesActor.DeliverPageTo => DeliverPageTo,
        AccountResourcesActor.ListResources => ListResources,
        AccountResourcesActor.ResourceList => ResourceList,
        AccountResourcesActor.FindSessions => FindSessions,
        AccountResourcesActor.SessionsOnNode => SessionsOnNode,
        ClusterSignals.Signal => ClusterSignal,
        SessionView.Changed => ViewChanged,
        SessionView.Ended => ViewEnded,
        SessionView.Snapshot => ViewSnapshot,
        AccountResourcesActor.AccountCreated => AccountCreated,
        UserActor.SessionStarted => SessionStarted,
        UserActor.ResourcePresence => ResourcePresence,
        UserActor.SessionEnded => SessionEnded,
        UserActor.OutboundSubscription => OutboundSubscription,
        UserActor.InboundPresence => InboundPresence,
        UserActor.HandleIq => HandleIq,
        UserActor.ReportPresence => ReportPresence,
        UserActor.PresenceReport => PresenceReport,
        UserActor.DropLegacyOffline => DropLegacyOffline,
        UserActor.GetState => GetState,
        UserActor.GetContacts => GetContacts,
        UserActor.Contacts => Contacts,
        UserActor.RemoveAccount => RemoveAccount,
        UserActor.AccountDeleted => AccountDeleted,
        UserActor.CloseSessions => CloseSessions,
        UserActor.GetSubscription => GetSubscription,
        UserActor.SubscriptionOf => SubscriptionOf,
        UserActor.ImportData => ImportData,
        UserActor.DataImported => DataImported,
        UserActor.GetLastUnavailable => GetLastUnavailable,
        UserActor.LastUnavailable => LastUnavailable,
        SessionMessages.PageWritten => PageWritten,
        SessionMessages.PageAcknowledged => PageAcknowledged,
        SessionMessages.Replaced => Replaced,
        SessionMessages.EndSeen => EndSeen,
        C2sConnectionActor.CloseWithStreamError => CloseWithStreamError,
        Sessions.SessionsActor.Registered => Registered,
        NodeInfoActor.Query => NodeInfoQuery,
        NodeInfoActor.Info => NodeInfo,
        StoreEnvelope => StoreEnvelopeManifest,
        StoreCommands.Get => StoreGet,
        StoreCommands.GetAll => StoreGetAll,
        StoreCommands.Set => StoreSet,
        StoreCommands.Clear => StoreClear,
        StoreCommands.Append => StoreAppend,
        StoreCommands.Read => StoreRead,
        StoreCommands.Trim => StoreTrim,
        StoreCommands.Count => StoreCount,
        StoreCommands.Purge => StorePurge,
        StoreReplies.Value => StoreValue,
        StoreReplies.Entries => StoreEntries,
        StoreReplies.Page => StorePage,
        StoreReplies.Appended => StoreAppended,
        StoreReplies.Counted => StoreCounted,
        StoreReplies.Done => StoreDone,
        StoreReplies.OverQuota => StoreOverQuota,
        EntityCommand => EntityCommandManifest,
        EntityReply => EntityReplyManifest,
        EntityFailed => EntityFailedManifest,
        PendingServerIqActor.Answered => ServerIqAnswered,
        PendingServerIqActor.WhatTag => ServerIqWhatTag,
        PendingServerIqActor.NodeTag => ServerIqNodeTag,
        PluginOperations.Run => PluginOperationRun,
        PluginOperations.Result => PluginOperationResult,
        PluginOperations.ListLoaded => PluginListLoaded,
        PluginOperations.LoadedSet => PluginLoadedSet,
        AccountResourcesActor.ResumeSession => ResumeSession,
        AccountResourcesActor.HandOverRefused => HandOverRefused,
        UserActor.SessionMoved => SessionMoved,
        Sessions.SessionActor.HandOver => HandOver,
        Sessions.SessionActor.HandedOver => HandedOver,
        Sessions.SessionActor.MovedTo => MovedTo,
        Sessions.SessionsActor.AttachFailed => AttachFailed,
        _ => throw new ArgumentException($"{nameof(RoutingSerializer)} cannot serialize {o.GetType()}", nameof(o)),
    };

    public override byte[] ToBinary(object obj)
    {
        var w = new Writer(_output ??= new ArrayBufferWriter<byte>(512));
        w.Output.ResetWrittenCount();
        Write(ref w, obj);
        var bytes = w.Output.WrittenSpan.ToArray();
        if (w.Output.Capacity > 256 * 1024) _output = null; // do not keep a large stanza's buffer per thread
        return bytes;
    }

    private void Write(ref Writer w, object obj)
    {
        switch (obj)
        {
            case UsersActor.Envelope e:
                w.Jid(e.User);
                Nested(ref w, e.Message);
                break;
            case AccountResourcesActor.RouteStanza m:
                if (m.Trace != default) w.Trace(m.Trace);
                w.Element(m.Stanza);
                w.Jid(m.From);
                w.Jid(m.To);
                break;
            case AccountResourcesActor.OwnPresence m:
                w.Jid(m.Resource);
                w.Ref(m.Session);
                w.Bool(m.Available);
                w.Int(m.Priority);
                w.Element(m.Broadcast);
                break;
            case AccountResourcesActor.DeliverPageTo m:
                w.Jid(m.Resource);
                Nested(ref w, m.Page);
                break;
            case AccountResourcesActor.ResourceList m:
                WriteEntries(ref w, m.Resources);
                break;
            case AccountResourcesActor.FindSessions m:
                w.Jid(m.Account);
                break;
            case AccountResourcesActor.SessionsOnNode m:
                WriteEntries(ref w, m.Sessions);
                break;
            case ClusterSignals.Signal m:
                w.String(m.Source);
                w.String(m.Name);
                w.Jid(m.About);
                break;
            case SessionView.Changed m:
                WriteViewChanged(ref w, m);
                break;
            case SessionView.Ended m:
                w.Jid(m.Jid);
                w.Ref(m.Session);
                break;
            case SessionView.Snapshot m:
                w.Bool(m.Reply);
                w.Int(m.Sessions.Count);
                foreach (var c in m.Sessions) WriteViewChanged(ref w, c);
                break;
            case UserActor.SessionStarted m:
                w.Jid(m.Resource);
                w.Ref(m.Session);
                w.Bool(m.Registered is not null);
                if (m.Registered is { } registered) w.Ref(registered);
                break;
            case Sessions.SessionsActor.Registered m:
                w.Ref(m.Session);
                break;
            case NodeInfoActor.Info m:
                w.Int(m.Sessions);
                break;
            case UserActor.ResourcePresence m:
                w.Jid(m.Resource);
                w.Ref(m.Session);
                w.Element(m.Presence);
                w.Bool(m.Available);
                w.Int(m.Priority);
                break;
            case UserActor.SessionEnded m:
                w.Jid(m.Resource);
                w.Ref(m.Session);
                break;
            case UserActor.OutboundSubscription m:
                w.Element(m.Stanza);
                w.Jid(m.To);
                break;
            case UserActor.InboundPresence m:
                w.Element(m.Stanza);
                w.Jid(m.From);
                break;
            case UserActor.HandleIq m:
                w.Element(m.Iq);
                w.Jid(m.From);
                break;
            case UserActor.PresenceReport m:
                w.Jid(m.Resource);
                w.Ref(m.Session);
                w.Element(m.Presence);
                w.Bool(m.RosterRequested);
                break;
            case UserActor.DropLegacyOffline m:
                w.Long(m.UpToId);
                break;
            case UserActor.RemoveAccount m:
                w.OptionalJid(m.Requester);
                w.Element(m.FinalStanza);
                break;
            case UserActor.AccountDeleted m:
                w.Int(m.LocalContacts.Count);
                foreach (var c in m.LocalContacts) w.Jid(c);
                break;
            case UserActor.Contacts m:
                w.Int(m.Jids.Count);
                foreach (var c in m.Jids) w.Jid(c);
                break;
            case UserActor.CloseSessions m:
                w.String(m.Condition);
                w.String(m.Text);
                w.OptionalJid(m.Keep);
                break;
            case UserActor.GetSubscription m:
                w.Jid(m.Contact);
                break;
            case UserActor.SubscriptionOf m:
                w.String(m.Subscription);
                w.Int(m.Groups.Count);
                foreach (var group in m.Groups) w.String(group);
                break;
            case UserActor.ImportData m:
                w.Int(m.Roster.Count);
                foreach (var item in m.Roster)
                {
                    w.String(item.Jid);
                    w.String(item.Name);
                    w.Int(item.Groups.Length);
                    foreach (var group in item.Groups) w.String(group);
                    w.String(item.Subscription);
                    w.Bool(item.Ask);
                    w.Bool(item.Approved);
                }
                w.Int(m.PendingIn.Count);
                foreach (var request in m.PendingIn)
                {
                    w.String(request.From);
                    w.String(request.Stanza);
                }
                break;
            case UserActor.DataImported m:
                w.Int(m.RosterItems);
                w.Int(m.Requests);
                break;
            case UserActor.LastUnavailable m:
                w.Bool(m.At.HasValue);
                if (m.At is { } at) w.Long(at.UtcTicks);
                w.String(m.Status);
                break;
            case SessionMessages.PageWritten m:
                w.Long(m.PageId);
                w.Bool(m.Written);
                w.Bool(m.AwaitsAck);
                break;
            case SessionMessages.PageAcknowledged m:
                w.Long(m.PageId);
                w.Bool(m.Acknowledged);
                break;
            case C2sConnectionActor.CloseWithStreamError m:
                w.String(m.Condition);
                w.String(m.Text);
                w.Element(m.ApplicationSpecific);
                break;
            case StoreEnvelope m:
                w.String(m.Address.Plugin);
                w.Bool(m.Address.Shape == StoreShape.Archive);
                w.String(m.Address.Kind);
                w.Jid(m.Address.Owner);
                Nested(ref w, m.Command);
                break;
            case StoreCommands.Get m:
                w.String(m.Key);
                break;
            case StoreCommands.Set m:
                w.Int(m.Entries.Length);
                foreach (var e in m.Entries) w.Entry(e);
                break;
            case StoreCommands.Append m:
                w.String(m.Text);
                w.String(m.Xml);
                w.Int(m.MaxItems);
                break;
            case StoreCommands.Read m:
                w.Long(m.AfterId);
                w.Int(m.Max);
                break;
            case StoreCommands.Trim m:
                w.Long(m.UpToId);
                break;
            case StoreReplies.Value m:
                w.Bool(m.Entry is not null);
                if (m.Entry is { } entry) w.Entry(entry);
                break;
            case StoreReplies.Entries m:
                w.Int(m.Items.Length);
                foreach (var e in m.Items) w.Entry(e);
                break;
            case StoreReplies.Page m:
                w.Int(m.Items.Length);
                foreach (var item in m.Items)
                {
                    w.Long(item.Id);
                    w.Long(item.Stamp.UtcTicks);
                    w.Int((int)item.Stamp.Offset.TotalMinutes);
                    w.String(item.Text);
                    w.String(item.Xml);
                }
                w.Bool(m.Complete);
                break;
            case StoreReplies.Appended m:
                w.Long(m.Id);
                break;
            case StoreReplies.Counted m:
                w.Int(m.Count);
                break;
            case StoreReplies.OverQuota m:
                w.Long(m.MaxBytes);
                break;
            case EntityCommand m:
                w.String(m.Key);
                w.Element(m.Command);
                w.Bool(m.ExpectsReply);
                break;
            case EntityReply m:
                w.Element(m.Payload);
                break;
            case EntityFailed m:
                w.String(m.Reason);
                break;
            case PendingServerIqActor.Answered m:
                w.String(m.Key);
                w.Element(m.Stanza);
                break;
            case PendingServerIqActor.NodeTag m:
                w.String(m.Tag);
                break;
            case PluginOperations.Run m:
                w.String(m.Command);
                w.String(m.Plugin);
                break;
            case PluginOperations.Result m:
                w.Bool(m.Ok);
                w.String(m.Message);
                break;
            case PluginOperations.LoadedSet m:
                w.Int(m.Plugins.Count);
                foreach (var id in m.Plugins) w.String(id);
                break;
            case AccountResourcesActor.ResumeSession m:
                w.String(m.SessionId);
                w.Int(unchecked((int)m.Handled));
                w.Ref(m.Requester);
                break;
            case AccountResourcesActor.HandOverRefused m:
                w.Jid(m.Resource);
                w.Ref(m.Session);
                break;
            case UserActor.SessionMoved m:
                w.Jid(m.Resource);
                w.Ref(m.From);
                w.Ref(m.To);
                w.Bool(m.Available);
                w.Int(m.Priority);
                break;
            case Sessions.SessionActor.HandOver m:
                w.Jid(m.Account);
                w.Int(unchecked((int)m.Handled));
                break;
            case Sessions.SessionActor.HandedOver m:
                WriteHandedOver(ref w, m);
                break;
            case Sessions.SessionActor.MovedTo m:
                w.Ref(m.Successor);
                break;
            case Sessions.SessionsActor.AttachFailed m:
                w.String(m.SessionId);
                w.Bool(m.TooHigh is not null);
                if (m.TooHigh is { } tooHigh)
                {
                    w.Int(unchecked((int)tooHigh.H));
                    w.Int(unchecked((int)tooHigh.SendCount));
                }
                break;
            case AccountResourcesActor.ListResources or AccountResourcesActor.AccountCreated or UserActor.ReportPresence
                or UserActor.GetState or UserActor.GetContacts or UserActor.GetLastUnavailable or SessionMessages.Replaced or SessionMessages.EndSeen or NodeInfoActor.Query
                or StoreCommands.GetAll or StoreCommands.Clear or StoreCommands.Count or StoreCommands.Purge or StoreReplies.Done
                or PendingServerIqActor.WhatTag or PluginOperations.ListLoaded:
                break; // no fields
            default:
                throw new ArgumentException($"{nameof(RoutingSerializer)} cannot serialize {obj.GetType()}", nameof(obj));
        }
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        var r = new Reader(bytes);
        object result = manifest switch
        {
            Envelope => new UsersActor.Envelope(r.Jid(), r.Nested(_system)),
            RouteStanza => new AccountResourcesActor.RouteStanza(r.Element(), r.Jid(), r.Jid()),
            RouteStanzaTraced => ReadTracedRoute(ref r),
            OwnPresence => new AccountResourcesActor.OwnPresence(r.Jid(), r.Ref(_system), r.Bool(), r.Int(), r.OptionalElement()),
            DeliverPageTo => new AccountResourcesActor.DeliverPageTo(r.Jid(),
                r.Nested(_system) as SessionMessages.DeliverPage ?? throw new SerializationException("not a page")),
            ListResources => AccountResourcesActor.ListResources.Instance,
            ResourceList => new AccountResourcesActor.ResourceList(ReadEntries(ref r)),
            FindSessions => new AccountResourcesActor.FindSessions(r.Jid()),
            SessionsOnNode => new AccountResourcesActor.SessionsOnNode(ReadEntries(ref r)),
            ClusterSignal => new ClusterSignals.Signal(r.RequiredString(), r.RequiredString(), r.Jid()),
            ViewChanged => ReadViewChanged(ref r),
            ViewEnded => new SessionView.Ended(FullJid(r.Jid()), r.Ref(_system)),
            ViewSnapshot => ReadViewSnapshot(ref r),
            AccountCreated => AccountResourcesActor.AccountCreated.Instance,
            SessionStarted => new UserActor.SessionStarted(r.Jid(), r.Ref(_system), r.Bool() ? r.Ref(_system) : null),
            Registered => new Sessions.SessionsActor.Registered(r.Ref(_system)),
            NodeInfoQuery => NodeInfoActor.Query.Instance,
            NodeInfo => new NodeInfoActor.Info(r.Int()),
            ResourcePresence => new UserActor.ResourcePresence(r.Jid(), r.Ref(_system), r.Element(), r.Bool(), r.Int()),
            SessionEnded => new UserActor.SessionEnded(r.Jid(), r.Ref(_system)),
            OutboundSubscription => new UserActor.OutboundSubscription(r.Element(), r.Jid()),
            InboundPresence => new UserActor.InboundPresence(r.Element(), r.Jid()),
            HandleIq => new UserActor.HandleIq(r.Element(), r.Jid()),
            ReportPresence => UserActor.ReportPresence.Instance,
            PresenceReport => new UserActor.PresenceReport(r.Jid(), r.Ref(_system), r.OptionalElement(), r.Bool()),
            DropLegacyOffline => new UserActor.DropLegacyOffline(r.Long()),
            GetState => UserActor.GetState.Instance,
            GetContacts => UserActor.GetContacts.Instance,
            Contacts => new UserActor.Contacts(ReadJids(ref r)),
            RemoveAccount => new UserActor.RemoveAccount(r.OptionalJid(), r.OptionalElement()),
            AccountDeleted => new UserActor.AccountDeleted(ReadJids(ref r)),
            CloseSessions => new UserActor.CloseSessions(r.RequiredString(), r.RequiredString(), r.OptionalJid()),
            GetSubscription => new UserActor.GetSubscription(r.Jid()),
            SubscriptionOf => new UserActor.SubscriptionOf(r.RequiredString(), ReadStrings(ref r)),
            ImportData => ReadImport(ref r),
            DataImported => new UserActor.DataImported(r.Int(), r.Int()),
            GetLastUnavailable => UserActor.GetLastUnavailable.Instance,
            LastUnavailable => new UserActor.LastUnavailable(r.Bool() ? new DateTimeOffset(r.Long(), TimeSpan.Zero) : null, r.String()),
            PageWritten => new SessionMessages.PageWritten(r.Long(), r.Bool(), r.Bool()),
            PageAcknowledged => new SessionMessages.PageAcknowledged(r.Long(), r.Bool()),
            Replaced => new SessionMessages.Replaced(),
            EndSeen => SessionMessages.EndSeenInstance,
            CloseWithStreamError => new C2sConnectionActor.CloseWithStreamError(r.RequiredString(), r.String(), r.OptionalElement()),
            StoreEnvelopeManifest => new StoreEnvelope(ReadStoreAddress(ref r), r.Nested(_system)),
            StoreGet => new StoreCommands.Get(r.RequiredString()),
            StoreGetAll => StoreCommands.GetAll.Instance,
            StoreSet => new StoreCommands.Set(ReadStoreEntries(ref r)),
            StoreClear => StoreCommands.Clear.Instance,
            StoreAppend => new StoreCommands.Append(r.String(), r.String(), r.Int()),
            StoreRead => new StoreCommands.Read(r.Long(), r.Int()),
            StoreTrim => new StoreCommands.Trim(r.Long()),
            StoreCount => StoreCommands.Count.Instance,
            StorePurge => StoreCommands.Purge.Instance,
            StoreValue => new StoreReplies.Value(r.Bool() ? r.Entry() : null),
            StoreEntries => new StoreReplies.Entries(ReadStoreEntries(ref r)),
            StorePage => new StoreReplies.Page(ReadStoreItems(ref r), r.Bool()),
            StoreAppended => new StoreReplies.Appended(r.Long()),
            StoreCounted => new StoreReplies.Counted(r.Int()),
            StoreDone => StoreReplies.Done.Instance,
            StoreOverQuota => new StoreReplies.OverQuota(r.Long()),
            EntityCommandManifest => new EntityCommand(NonEmpty(r.RequiredString()), r.Element(), r.Bool()),
            EntityReplyManifest => new EntityReply(r.OptionalElement()),
            EntityFailedManifest => new EntityFailed(r.RequiredString()),
            ServerIqAnswered => new PendingServerIqActor.Answered(r.RequiredString(), r.Element()),
            ServerIqWhatTag => PendingServerIqActor.WhatTag.Instance,
            ServerIqNodeTag => new PendingServerIqActor.NodeTag(r.RequiredString()),
            PluginOperationRun => new PluginOperations.Run(r.RequiredString(), r.RequiredString()),
            PluginOperationResult => new PluginOperations.Result(r.Bool(), r.RequiredString()),
            PluginListLoaded => PluginOperations.ListLoaded.Instance,
            PluginLoadedSet => new PluginOperations.LoadedSet(ReadStrings(ref r)),
            ResumeSession => new AccountResourcesActor.ResumeSession(SessionId(r.RequiredString()), r.UInt(), r.Ref(_system)),
            HandOverRefused => new AccountResourcesActor.HandOverRefused(r.Jid(), r.Ref(_system)),
            SessionMoved => new UserActor.SessionMoved(r.Jid(), r.Ref(_system), r.Ref(_system), r.Bool(), r.Int()),
            HandOver => new Sessions.SessionActor.HandOver(r.Jid(), r.UInt()),
            HandedOver => ReadHandedOver(ref r),
            MovedTo => new Sessions.SessionActor.MovedTo(r.Ref(_system)),
            AttachFailed => new Sessions.SessionsActor.AttachFailed(r.RequiredString(),
                r.Bool() ? new Sessions.SessionActor.HandledCountTooHigh(r.UInt(), r.UInt()) : null),
            _ => throw new SerializationException($"unknown routing manifest '{manifest}'"),
        };
        r.End();
        return result;
    }

    /// <summary>A session id from another node names an actor here: only the shape <see cref="Sessions.SessionsActor"/> draws.</summary>
    private static string SessionId(string id) =>
        Sessions.SessionsActor.WellFormedId(id) ? id : throw new SerializationException("invalid session id");

    private static void WriteHandedOver(ref Writer w, Sessions.SessionActor.HandedOver m)
    {
        w.String(m.SessionId);
        w.Jid(m.Jid);
        w.Long(m.Window.Ticks);
        w.Int(unchecked((int)m.Handled));
        w.Int(unchecked((int)m.Sent));
        w.Int(unchecked((int)m.Acknowledged));
        w.Int(m.Unacked.Count);
        foreach (var u in m.Unacked)
        {
            w.Element(u.Stanza);
            w.Long(u.PageId);
            w.Bool(u.Asker is not null);
            if (u.Asker is { } asker) w.Ref(asker);
            w.Bool(u.EndsPage);
        }
        w.Bool(m.Available);
        w.Int(m.Priority);
        w.Element(m.LastPresence);
        w.Int(m.DirectedPresence.Count);
        foreach (var jid in m.DirectedPresence) w.Jid(jid);
        w.Bool(m.RosterRequested);
    }

    private Sessions.SessionActor.HandedOver ReadHandedOver(ref Reader r)
    {
        var id = SessionId(r.RequiredString());
        var jid = r.Jid();
        if (jid.Resource is null) throw new SerializationException("a session's JID is a full JID");
        var ticks = r.Long();
        if (ticks < 0) throw new SerializationException("invalid resumption window");
        var handled = r.UInt();
        var sent = r.UInt();
        var acknowledged = r.UInt();
        var unacked = new Sessions.SessionActor.HandedOverStanza[r.Count()];
        for (var i = 0; i < unacked.Length; i++)
            unacked[i] = new Sessions.SessionActor.HandedOverStanza(r.Element(), r.Long(), r.Bool() ? r.Ref(_system) : null, r.Bool());
        var available = r.Bool();
        var priority = r.Int();
        if (priority is < -128 or > 127) throw new SerializationException("invalid priority"); // RFC 6121 §4.7.2.3
        var lastPresence = r.OptionalElement();
        var directed = ReadJids(ref r);
        return new Sessions.SessionActor.HandedOver(id, jid, TimeSpan.FromTicks(ticks), handled, sent, acknowledged, unacked,
            available, priority, lastPresence, directed, r.Bool());
    }

    private static void WriteViewChanged(ref Writer w, SessionView.Changed m)
    {
        w.Jid(m.Jid);
        w.Ref(m.Session);
        w.Bool(m.Available);
        w.Int(m.Priority);
        w.Int(m.Flags.Count);
        foreach (var flag in m.Flags) w.String(flag);
    }

    private SessionView.Changed ReadViewChanged(ref Reader r)
    {
        var jid = FullJid(r.Jid());
        var session = r.Ref(_system);
        var available = r.Bool();
        var priority = r.Int();
        if (priority is < -128 or > 127) throw new SerializationException("invalid priority"); // RFC 6121 §4.7.2.3
        var flags = ReadStrings(ref r);
        foreach (var flag in flags)
            if (flag.Length == 0) throw new SerializationException("empty session flag");
        return new SessionView.Changed(jid, session, available, priority, flags);
    }

    private SessionView.Snapshot ReadViewSnapshot(ref Reader r)
    {
        var reply = r.Bool();
        var sessions = new SessionView.Changed[r.Count()];
        for (var i = 0; i < sessions.Length; i++) sessions[i] = ReadViewChanged(ref r);
        return new SessionView.Snapshot(sessions, reply);
    }

    /// <summary>A bound session's JID: a full JID, or the record is refused.</summary>
    private static Jid FullJid(Jid jid) => jid.Resource is not null ? jid : throw new SerializationException("a session is a full JID");

    private static void WriteEntries(ref Writer w, IReadOnlyList<SessionEntry> entries)
    {
        w.Int(entries.Count);
        foreach (var e in entries)
        {
            w.Jid(e.Jid);
            w.Ref(e.Session);
            w.Bool(e.Available);
            w.Int(e.Priority);
            w.Long(e.BoundAt);
        }
    }

    private IReadOnlyList<SessionEntry> ReadEntries(ref Reader r)
    {
        var count = r.Count();
        var list = new SessionEntry[count];
        for (var i = 0; i < count; i++) list[i] = new SessionEntry(r.Jid(), r.Ref(_system), r.Bool(), r.Int(), r.Long());
        return list;
    }

    private static UserActor.ImportData ReadImport(ref Reader r)
    {
        var roster = new Users.Events.RosterItemState[r.Count()];
        for (var i = 0; i < roster.Length; i++)
            roster[i] = new Users.Events.RosterItemState(r.RequiredString(), r.String(), ReadStrings(ref r), r.RequiredString(), r.Bool(), r.Bool());
        var pending = new Users.Events.SubscriptionRequestState[r.Count()];
        for (var i = 0; i < pending.Length; i++) pending[i] = new Users.Events.SubscriptionRequestState(r.RequiredString(), r.RequiredString());
        return new UserActor.ImportData(roster, pending);
    }

    private static string[] ReadStrings(ref Reader r)
    {
        var count = r.Count();
        var list = new string[count];
        for (var i = 0; i < count; i++) list[i] = r.RequiredString();
        return list;
    }

    private static string NonEmpty(string key) => key.Length > 0 ? key : throw new SerializationException("empty entity key");

    private static StoreAddress ReadStoreAddress(ref Reader r)
    {
        var plugin = r.RequiredString();
        var shape = r.Bool() ? StoreShape.Archive : StoreShape.Map;
        var kind = r.RequiredString();
        var owner = r.Jid();
        // the names go into a persistence id: another node is trusted no more than a plugin
        if (!StoreAddress.IsValidName(plugin) || !StoreAddress.IsValidName(kind) || owner.Resource is not null)
            throw new SerializationException("invalid store address");
        return new StoreAddress(plugin, shape, kind, owner);
    }

    private static StoreEntryRecord[] ReadStoreEntries(ref Reader r)
    {
        var count = r.Count();
        var list = new StoreEntryRecord[count];
        for (var i = 0; i < count; i++) list[i] = r.Entry();
        return list;
    }

    private static StoreItemRecord[] ReadStoreItems(ref Reader r)
    {
        var count = r.Count();
        var list = new StoreItemRecord[count];
        for (var i = 0; i < count; i++)
        {
            var id = r.Long();
            var ticks = r.Long();
            var offset = r.Int();
            if (ticks is < 0 || ticks > DateTime.MaxValue.Ticks || offset is < -14 * 60 or > 14 * 60) throw new SerializationException("invalid stamp");
            var utc = new DateTimeOffset(ticks, TimeSpan.Zero);
            list[i] = new StoreItemRecord(id, utc.ToOffset(TimeSpan.FromMinutes(offset)), r.String(), r.String());
        }
        return list;
    }

    private static AccountResourcesActor.RouteStanza ReadTracedRoute(ref Reader r)
    {
        var trace = r.Trace();
        return new AccountResourcesActor.RouteStanza(r.Element(), r.Jid(), r.Jid(), trace);
    }

    private static IReadOnlyList<Jid> ReadJids(ref Reader r)
    {
        var count = r.Count();
        var list = new Jid[count];
        for (var i = 0; i < count; i++) list[i] = r.Jid();
        return list;
    }

    private ref struct Writer(ArrayBufferWriter<byte> output)
    {
        public readonly ArrayBufferWriter<byte> Output = output;

        public void Bool(bool b)
        {
            Output.GetSpan(1)[0] = b ? (byte)1 : (byte)0;
            Output.Advance(1);
        }

        public void Int(int i)
        {
            BinaryPrimitives.WriteInt32LittleEndian(Output.GetSpan(4), i);
            Output.Advance(4);
        }

        public void Long(long l)
        {
            BinaryPrimitives.WriteInt64LittleEndian(Output.GetSpan(8), l);
            Output.Advance(8);
        }

        /// <summary>-1 for null, else the UTF-8 byte count and the bytes.</summary>
        public void String(string? s)
        {
            if (s is null)
            {
                Int(-1);
                return;
            }
            var count = Encoding.UTF8.GetByteCount(s);
            Int(count);
            Encoding.UTF8.GetBytes(s, Output.GetSpan(count));
            Output.Advance(count);
        }

        public void Jid(Jid jid) => String(jid.ToString());

        public void Trace(in System.Diagnostics.ActivityContext context)
        {
            Diagnostics.XmppTracing.WriteContext(Output.GetSpan(Diagnostics.XmppTracing.WireSize), context);
            Output.Advance(Diagnostics.XmppTracing.WireSize);
        }

        public void Entry(StoreEntryRecord e)
        {
            String(e.Key);
            String(e.Text);
            String(e.Xml);
        }
        public void OptionalJid(Jid? jid) => String(jid?.ToString());

        /// <summary>-1 for null, else the XML's byte count and the XML (written in place, its length patched after).</summary>
        public void Element(Element? element)
        {
            if (element is null)
            {
                Int(-1);
                return;
            }
            var at = BeginLength();
            StanzaSerializer.WriteElement(Output, element);
            EndLength(at);
        }

        public void Ref(IActorRef actor) => String(Akka.Serialization.Serialization.SerializedActorPath(actor));

        /// <summary>The position of a length to patch once what follows it is written.</summary>
        public int BeginLength()
        {
            var at = Output.WrittenCount;
            Int(0);
            return at;
        }

        public void EndLength(int at) =>
            BinaryPrimitives.WriteInt32LittleEndian(System.Runtime.InteropServices.MemoryMarshal.AsMemory(Output.WrittenMemory).Span[at..],
                Output.WrittenCount - at - 4);
    }

    /// <summary>Another record through the serializer its type is bound to: the serializer id, the manifest, the
    /// length and the bytes (a routing record is written in place, into the same buffer).</summary>
    private void Nested(ref Writer w, object message)
    {
        var serializer = _system.Serialization.FindSerializerFor(message);
        if (serializer is not (RoutingSerializer or StanzaSerializer))
            throw new ArgumentException($"{message.GetType()} has no routing serializer: it cannot be sent to another node", nameof(message));
        var withManifest = (SerializerWithStringManifest)serializer;
        w.Int(serializer.Identifier);
        w.String(withManifest.Manifest(message));
        if (serializer is RoutingSerializer)
        {
            var at = w.BeginLength();
            Write(ref w, message);
            w.EndLength(at);
            return;
        }
        var bytes = serializer.ToBinary(message); // the stanza serializer's own buffer
        w.Int(bytes.Length);
        bytes.CopyTo(w.Output.GetSpan(bytes.Length));
        w.Output.Advance(bytes.Length);
    }

    private ref struct Reader(byte[] bytes)
    {
        private readonly byte[] _bytes = bytes;
        private int _at;

        private ReadOnlySpan<byte> Take(int count)
        {
            if (count < 0 || count > _bytes.Length - _at) throw new SerializationException("truncated routing record");
            var span = _bytes.AsSpan(_at, count);
            _at += count;
            return span;
        }

        public void End()
        {
            if (_at != _bytes.Length) throw new SerializationException("trailing bytes after a routing record");
        }

        public bool Bool() => Take(1)[0] switch
        {
            0 => false,
            1 => true,
            _ => throw new SerializationException("invalid boolean"),
        };

        public int Int() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));
        public long Long() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));
        public System.Diagnostics.ActivityContext Trace() => Diagnostics.XmppTracing.ReadContext(Take(Diagnostics.XmppTracing.WireSize));
        public uint UInt() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

        public int Count()
        {
            var count = Int();
            // every counted item takes at least 4 bytes: a count larger than what is left is hostile
            if (count < 0 || count > (_bytes.Length - _at) / 4) throw new SerializationException("invalid count");
            return count;
        }

        public string? String()
        {
            var length = Int();
            return length == -1 ? null : Encoding.UTF8.GetString(Take(length));
        }

        public string RequiredString() => String() ?? throw new SerializationException("missing string");

        public StoreEntryRecord Entry() => new(RequiredString(), String(), String());

        public Jid Jid() => OptionalJid() ?? throw new SerializationException("missing JID");

        public Jid? OptionalJid()
        {
            var text = String();
            if (text is null) return null;
            return global::Actors.Xmpp.Jid.TryParse(text, out var jid) && jid is not null ? jid : throw new SerializationException("invalid JID");
        }

        public Element Element() => OptionalElement() ?? throw new SerializationException("missing stanza");

        public Element? OptionalElement()
        {
            var length = Int();
            return length == -1 ? null : StanzaSerializer.ParseElement(Take(length));
        }

        public IActorRef Ref(ExtendedActorSystem system) => system.Provider.ResolveActorRef(String() ?? throw new SerializationException("missing actor"));

        public object Nested(ExtendedActorSystem system)
        {
            var id = Int();
            if (id is not (SerializerId or StanzaSerializer.SerializerId)) throw new SerializationException($"serializer {id} is not a routing serializer");
            var manifest = RequiredString();
            var length = Int();
            var bytes = Take(length).ToArray();
            return system.Serialization.Deserialize(bytes, id, manifest);
        }
    }

    private static string BuildConfig()
    {
        static string Name(Type t) => $"\"{t.FullName}, {t.Assembly.GetName().Name}\"";
        var bindings = new StringBuilder();
        foreach (var t in Records) bindings.Append("    ").Append(Name(t)).Append(" = xmpp-routing\n");
        return $$"""
            akka.actor {
              serializers.xmpp-routing = {{Name(typeof(RoutingSerializer))}}
              serialization-bindings {
            {{bindings}}  }
              serialization-identifiers { {{Name(typeof(RoutingSerializer))}} = {{SerializerId}} }
            }
            """;
    }
}

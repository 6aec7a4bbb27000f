using Actors.Xmpp.Server.PluginEntities;
using Actors.Xmpp.Persistence.Plugins;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Xml;
using Actors.Xmpp.Server.Runtime;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;

namespace Actors.Xmpp.PluginHost.Entities;

/// <summary>
/// One keyed entity of a plugin (persistence id entity:&lt;plugin&gt;/&lt;kind&gt;/&lt;key&gt;): a host-owned persistent actor
/// that runs the plugin's <see cref="IEntityBehavior"/> over the plugin's state. It recovers from the latest snapshot and
/// the events after it, handles one command at a time, snapshots every N events when the behaviour makes snapshots, and
/// asks its region to passivate it when idle (not while one of its timers is pending).
/// <para>Writes are pipelined: a command's events are applied at once and written with <c>PersistAllAsync</c>, so the
/// next command is handled against the state they make while the journal writes them (the journal puts the writes of
/// many commands in one transaction: a node that 10,000 subscribers join is not held to one commit per join). What a
/// command asked for (its reply, stanzas, fan-out, timers) is carried out when its events are written, in command
/// order; a command without events waits behind the writes before it (<c>DeferAsync</c>), so nothing leaves that
/// reflects an unwritten event. A failed write stops the entity and every command it had not answered gets a failure
/// (Akka.Persistence has one write under way per actor: the later ones were never sent). A rejected write fails its
/// command; the entity waits for the answers to the writes after it (each asker learns what became of its command),
/// then recovers from the journal. At most <see cref="MaxInFlight"/> commands are in
/// flight; a snapshot is taken when none is (see <see cref="MaybeSnapshot"/>).</para>
/// </summary>
internal sealed class PluginEntityActor : UntypedPersistentActor, IWithTimers
{
    /// <summary>A timer the behaviour scheduled: its command comes back to the entity.</summary>
    private sealed record TimerFired(string Name, Element Command);

    /// <summary>The fan-out lane is back under its backlog, or the wait for it ran out (<see cref="EntityFanout.MaxWait"/>).</summary>
    private sealed record LaneReady(long Wait);

    /// <summary>The key of the host's own timer (never a behaviour's: theirs are strings).</summary>
    private static readonly object LaneTimer = new();

    private readonly IEntityBehavior _behavior;
    private readonly EntityKindOptions _options;
    private readonly Action<Element> _send;
    private readonly EntityFanout _fanout;
    private readonly string _key;
    private readonly object _passivateRequest; // to the parent: the local region's, or the shard's (a clustered node)
    private object _state;
    private long _lastSnapshotSeq;
    private long _lastSnapshotBytes; // the size of the last snapshot (recovered or made; 0: none yet)
    private IActorRef? _asker; // the asker of the command being handled, failed in PreRestart if the behaviour throws
    private HashSet<string>? _pendingTimers; // names of the behaviour's timers not yet fired: an idle entity waits for them
    private long _laneWait; // the current wait for the fan-out lane (0: not waiting); its reply is held meanwhile
    private long _laneWaits;
    private IActorRef? _heldAsker;
    private Element? _heldReply;

    // pipelined writes
    /// <summary>A command whose events are being written (or, eventless, that waits behind such writes).</summary>
    private sealed class InFlight(Effects effects, IActorRef? asker, int events)
    {
        public readonly Effects Effects = effects;
        public readonly IActorRef? Asker = asker;
        public int Unwritten = events; // its events not yet written (or rejected)
        public bool Rejected;          // the journal rejected its events: its asker gets a failure
    }

    private readonly Queue<InFlight> _inFlightCommands = new(); // in command order (the journal answers in that order)
    private int InFlightCount => _inFlightCommands.Count;
    private bool _restartWhenWritten; // a write was rejected: once nothing is in flight, the entity recovers from its journal
    private Queue<(Effects Effects, IActorRef? Asker)>? _written; // written while the lane held a reply: carried out after it
    private bool _drainForSnapshot; // a snapshot is overdue: new commands wait until nothing is in flight
    private bool _makesSnapshots = true; // false once the behaviour answered that it keeps only events
    private bool _failing; // a command failed while writes were in flight: the entity restarts once they are written
    private bool _stopping; // told to stop while writes were in flight: it stops once they are written
    private int _stashed;

    /// <summary>Commands in flight at most; more wait in the stash (bounded memory for what they will carry out).</summary>
    internal const int MaxInFlight = 512;

    public ITimerScheduler Timers { get; set; } = null!;

    public override string PersistenceId { get; }

    /// <param name="fanout">The kind's fan-out lanes (<see cref="IEntityContext.SendToEach"/>); null: routed inline.</param>
    public static Props Props(string plugin, string kind, string key, IEntityBehavior behavior, EntityKindOptions options, Action<Element> send,
        bool sharded = false, EntityFanout? fanout = null) =>
        Akka.Actor.Props.Create(() => new PluginEntityActor(plugin, kind, key, behavior, options, send, sharded, fanout));

    /// <summary>The passivation request of an entity of a shard region: the shard buffers its commands, then tells it
    /// <see cref="EntityRegionActor.StopEntity"/> (as <see cref="EntityRegionActor"/> does on one node).</summary>
    private static readonly Akka.Cluster.Sharding.Passivate ShardPassivate = new(EntityRegionActor.StopEntity.Instance);

    public PluginEntityActor(string plugin, string kind, string key, IEntityBehavior behavior, EntityKindOptions options, Action<Element> send,
        bool sharded, EntityFanout? fanout)
    {
        _fanout = fanout ?? EntityFanout.Inline(send);
        _passivateRequest = sharded ? ShardPassivate : EntityRegionActor.Passivate.Instance;
        _behavior = behavior;
        _options = options;
        _send = send;
        _key = key;
        PersistenceId = EntityPersistenceIds.Of(plugin, kind, key);
        _state = BehaviorCalls.Initial(behavior, key);
    }

    protected override void OnRecover(object message)
    {
        switch (message)
        {
            case SnapshotOffer { Snapshot: EntitySnapshotRecord s } offer:
                _state = BehaviorCalls.Restore(_behavior, _key, new EntitySnapshot(s.Xml is null ? null : StanzaXml.Parse(s.Xml), s.Bytes));
                _lastSnapshotSeq = offer.Metadata.SequenceNr;
                _lastSnapshotBytes = (s.Xml?.Length ?? 0) + (s.Bytes?.Length ?? 0);
                break;
            case EntityEventRecord e:
                _state = BehaviorCalls.Apply(_behavior, _state, StanzaXml.Parse(e.Xml));
                break;
            case RecoveryCompleted:
                Context.SetReceiveTimeout(_options.PassivateAfter);
                break;
        }
    }

    /// <summary>New commands wait: for the fan-out lane, a full pipeline, an overdue snapshot, a restart or a stop.</summary>
    private bool Holding => _laneWait != 0 || InFlightCount >= MaxInFlight || _drainForSnapshot || _failing || _stopping || _restartWhenWritten;

    protected override void OnCommand(object message)
    {
        if (message is EntityCommand or TimerFired or ReceiveTimeout && Holding)
        {
            // later commands wait (and the entity is not idle)
            if (message is not ReceiveTimeout)
            {
                Stash.Stash();
                _stashed++;
            }
            return;
        }
        switch (message)
        {
            case EntityCommand c:
                Run(c.Command, c.ExpectsReply ? Sender : null);
                break;
            case LaneReady r:
                if (r.Wait == _laneWait) StopWaitingForLane();
                break;
            case TimerFired t:
                _pendingTimers?.Remove(t.Name);
                Run(t.Command, null);
                break;
            case ReceiveTimeout:
                // idle, but a timer still due keeps it (a passivated entity would lose it); the receive timeout
                // comes again after the next idle period
                if (_pendingTimers is not { Count: > 0 } && InFlightCount == 0) Context.Parent.Tell(_passivateRequest);
                break;
            case EntityRegionActor.StopEntity:
                if (InFlightCount == 0)
                {
                    CarryOutHeld(); // the held reply and what waited behind it go; the stashed commands go with the mailbox
                    Context.Stop(Self);
                }
                else
                {
                    _stopping = true; // after the writes in flight
                    DeferAsync(this, _ =>
                    {
                        CarryOutHeld();
                        Context.Stop(Self);
                    });
                }
                break;
            case SaveSnapshotSuccess s:
                _lastSnapshotSeq = s.Metadata.SequenceNr;
                DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1)); // the older ones
                break;
            default:
                if (!SnapshotHousekeeping.Handled(message, Log, PersistenceId)) Unhandled(message);
                break;
        }
    }

    private void Run(Element command, IActorRef? asker)
    {
        _asker = asker;
        var effects = new Effects(_key);
        List<Element>? events;
        try
        {
            BehaviorCalls.Handle(_behavior, effects, _state, command);
            events = effects.Events;
            // applied at once: the next command is handled against the state these events make
            if (events is not null)
                for (var i = 0; i < events.Count; i++) _state = BehaviorCalls.Apply(_behavior, _state, events[i]);
        }
        catch (Exception ex) when (InFlightCount > 0)
        {
            // the commands before it are being written: their replies go first, then the entity restarts (supervision)
            // and this command's asker gets the failure (PreRestart)
            _asker = null;
            _failing = true;
            var failure = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex);
            DeferAsync(failure, f =>
            {
                _asker = asker;
                f.Throw();
            });
            return;
        }
        _asker = null;
        if (events is null && InFlightCount == 0)
        {
            Finish(effects, asker);
            return;
        }
        var inFlight = new InFlight(effects, asker, events?.Count ?? 0);
        _inFlightCommands.Enqueue(inFlight);
        if (events is null)
        {
            DeferAsync(inFlight, Written); // behind the writes before it
            return;
        }
        var records = new EntityEventRecord[events.Count];
        for (var i = 0; i < records.Length; i++) records[i] = new EntityEventRecord(StanzaXml.ToXml(events[i]));
        PersistAllAsync(records, _ =>
        {
            if (--inFlight.Unwritten == 0) Written(inFlight);
        });
    }

    /// <summary>A command's events are written (or, eventless, those before it are; or the journal rejected them): what
    /// it asked for goes, in order behind a reply the fan-out lane holds (a rejected one: its asker gets a failure).</summary>
    private void Written(InFlight done)
    {
        _inFlightCommands.Dequeue(); // (the head: the journal answers in command order)
        if (done.Rejected) done.Asker?.Tell(new EntityFailed("the journal rejected the command's events"));
        else if (_laneWait != 0) (_written ??= new()).Enqueue((done.Effects, done.Asker));
        else Finish(done.Effects, done.Asker);
        if (_restartWhenWritten && InFlightCount == 0)
            throw new InvalidOperationException($"the journal rejected events of {PersistenceId}: recovering what was written");
        if (InFlightCount == 0) MaybeSnapshot();
        else if (_makesSnapshots && !_drainForSnapshot && LastSequenceNr - _lastSnapshotSeq >= 2 * SnapshotInterval)
            _drainForSnapshot = true; // pipelined writes never leave a moment for it: make one
        ResumeIfFree();
    }

    private void ResumeIfFree()
    {
        if (_stashed == 0 || Holding) return;
        _stashed = 0;
        Stash.UnstashAll();
    }

    private void Finish(Effects effects, IActorRef? asker, bool mayWait = true)
    {
        // back-pressure: a fan-out that leaves the lane over its backlog holds the reply and the next commands until
        // the lane drains (a publisher waiting for its answer then publishes as fast as the copies are routed)
        var copies = 0L;
        if (effects.Fanouts is { } counted)
            foreach (var (_, recipients) in counted) copies += recipients.Length;
        var wait = mayWait && copies > 0 && !effects.PassivateRequested && _fanout.WouldExceedBacklog(_key, copies);
        if (!wait) asker?.Tell(new EntityReply(effects.ReplyPayload));
        if (effects.Stanzas is { } stanzas)
            foreach (var stanza in stanzas) _send(stanza);
        if (effects.Fanouts is { } fanouts)
            foreach (var (stanza, recipients) in fanouts) _fanout.Enqueue(_key, stanza, recipients);
        if (wait) WaitForLane(asker, effects.ReplyPayload);
        if (mayWait && effects.TimerChanges is { } timers)
        {
            foreach (var (name, delay, cmd) in timers)
            {
                if (cmd is null)
                {
                    Timers.Cancel(name);
                    _pendingTimers?.Remove(name);
                }
                else
                {
                    Timers.StartSingleTimer(name, new TimerFired(name, cmd), delay);
                    (_pendingTimers ??= new HashSet<string>(StringComparer.Ordinal)).Add(name);
                }
            }
        }
        if (mayWait && effects.PassivateRequested) Context.Parent.Tell(_passivateRequest);
    }

    private void WaitForLane(IActorRef? asker, Element? reply)
    {
        _laneWait = ++_laneWaits;
        _heldAsker = asker;
        _heldReply = reply;
        var wait = _laneWait;
        _fanout.WhenBelowBacklog(_key).PipeTo(Self, success: () => new LaneReady(wait));
        Timers.StartSingleTimer(LaneTimer, new LaneReady(wait), EntityFanout.MaxWait);
    }

    private void StopWaitingForLane()
    {
        HoldNoLonger();
        // what was written meanwhile goes now, in order (it may fill the lane again)
        while (_laneWait == 0 && _written is { Count: > 0 } written)
        {
            var (effects, asker) = written.Dequeue();
            Finish(effects, asker);
        }
        ResumeIfFree();
    }

    /// <summary>Going (stopped or restarted): the held reply, and the replies and stanzas of the commands written
    /// behind it, go without waiting for the lane (their events are written).</summary>
    private void CarryOutHeld()
    {
        if (_laneWait != 0) HoldNoLonger();
        while (_written is { Count: > 0 } written)
        {
            var (effects, asker) = written.Dequeue();
            Finish(effects, asker, mayWait: false);
        }
    }

    private void HoldNoLonger()
    {
        _laneWait = 0;
        Timers.Cancel(LaneTimer);
        _heldAsker?.Tell(new EntityReply(_heldReply));
        _heldAsker = null;
        _heldReply = null;
    }

    /// <summary>A snapshot after <see cref="EntityKindOptions.SnapshotEvery"/> events, or after one event per
    /// <see cref="SnapshotBytesPerEvent"/> bytes of the last snapshot if that is more: a large state (a node with
    /// 10,000 subscriptions) is not written out whole every 100 events.</summary>
    private long SnapshotInterval => Math.Max(_options.SnapshotEvery, _lastSnapshotBytes / SnapshotBytesPerEvent);

    /// <remarks>Only when no write is in flight: the state then is the state of the events written.</remarks>
    private void MaybeSnapshot()
    {
        _drainForSnapshot = false;
        if (LastSequenceNr - _lastSnapshotSeq < SnapshotInterval) return;
        var snapshot = BehaviorCalls.Snapshot(_behavior, _state);
        if (snapshot is null)
        {
            _makesSnapshots = false;
            return;
        }
        _lastSnapshotSeq = LastSequenceNr; // one attempt per interval, even if this one fails
        var xml = snapshot.Xml is null ? null : StanzaXml.ToXml(snapshot.Xml);
        _lastSnapshotBytes = (xml?.Length ?? 0) + (snapshot.Bytes?.Length ?? 0);
        SaveSnapshot(new EntitySnapshotRecord(xml, snapshot.Bytes));
    }

    /// <summary>Snapshot bytes that one event "pays for" (see <see cref="MaybeSnapshot"/>).</summary>
    private const int SnapshotBytesPerEvent = 256;

    protected override void PreRestart(Exception reason, object message)
    {
        _asker?.Tell(new EntityFailed(reason.Message)); // the message only: the exception may be a plugin's type
        _asker = null;
        CarryOutHeld();
        FailInFlight(reason.Message);
        base.PreRestart(reason, message);
    }

    /// <summary>Stopped (its kind stopped, the node left, or a write failed) while it held replies for its lane: their
    /// events are written, so their askers get the replies, not a timeout; commands whose writes did not finish fail.</summary>
    protected override void PostStop()
    {
        Actors.Xmpp.Server.Hosting.IdleHeapTrimmer.Released(Context.System);
        CarryOutHeld();
        FailInFlight("the entity stopped before its events were written");
        base.PostStop();
    }

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        FailInFlight("the journal write failed: " + cause.Message);
        base.OnPersistFailure(cause, @event, sequenceNr); // stops: the next command recovers what was written
    }

    /// <summary>The state holds events the journal did not take: the commands after them may still be written (their
    /// writes are under way), so the entity waits for every answer, tells each asker what became of its command, and
    /// then recovers from the journal.</summary>
    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        base.OnPersistRejected(cause, @event, sequenceNr); // logs it
        _restartWhenWritten = true;
        var head = _inFlightCommands.Peek(); // the command of this event: the commands before it are answered
        head.Rejected = true;
        if (--head.Unwritten == 0) Written(head);
    }

    private void FailInFlight(string reason)
    {
        while (_inFlightCommands.TryDequeue(out var command)) command.Asker?.Tell(new EntityFailed(reason));
    }

    /// <summary>What one command's handler asked for, carried out after its events are written.</summary>
    private sealed class Effects(string key) : IEntityContext
    {
        public List<Element>? Events;
        public List<Element>? Stanzas;
        public List<(Element Stanza, string[] Recipients)>? Fanouts;
        public List<(string Name, TimeSpan Delay, Element? Command)>? TimerChanges;
        public Element? ReplyPayload;
        public bool PassivateRequested;

        public string Key { get; } = key;
        public void Persist(Element @event) => (Events ??= new List<Element>()).Add(@event ?? throw new ArgumentNullException(nameof(@event)));
        public void Reply(Element reply) => ReplyPayload = reply;
        public void Send(Element stanza) => (Stanzas ??= new List<Element>()).Add(stanza ?? throw new ArgumentNullException(nameof(stanza)));

        public void SendToEach(Element stanza, IReadOnlyList<string> recipients)
        {
            ArgumentNullException.ThrowIfNull(stanza);
            ArgumentNullException.ThrowIfNull(recipients);
            var copy = new string[recipients.Count]; // the plugin's list may change after this command
            for (var i = 0; i < copy.Length; i++) copy[i] = recipients[i] ?? throw new ArgumentException("a recipient is null", nameof(recipients));
            (Fanouts ??= new()).Add((stanza, copy));
        }

        public void Schedule(string name, TimeSpan delay, Element command) =>
            (TimerChanges ??= new()).Add((name, delay, command ?? throw new ArgumentNullException(nameof(command))));

        public void Cancel(string name) => (TimerChanges ??= new()).Add((name, TimeSpan.Zero, null));
        public void Passivate() => PassivateRequested = true;
    }
}

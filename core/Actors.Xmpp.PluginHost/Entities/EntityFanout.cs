using System.Threading.Channels;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Akka.Event;
using Akka.Streams;
using Akka.Streams.Dsl;

namespace Actors.Xmpp.PluginHost.Entities;

/// <summary>
/// The fan-outs of one entity kind (<see cref="IEntityContext.SendToEach"/>): a few lanes, each an Akka.Streams graph
/// (started on the lane's first fan-out) fed by an unbounded channel of fan-outs (one element per fan-out: the shared stanza and its recipients, so an
/// entity's command costs it one write whatever the number of recipients). The graph expands a fan-out into copies a
/// chunk at a time, only as fast as its sink routes them (and, with <see cref="EntityKindOptions.FanoutPerSecond"/>,
/// no faster than that), so the copies of a large fan-out are made and routed off the entity's actor, a bounded number
/// in memory at once. An entity always uses the same lane (by its key), and a lane takes its fan-outs one after
/// another: every recipient gets one entity's fan-outs in order. Routing is a Tell (sessions bound their outbound
/// queues themselves), so a recipient that does not read never holds up a lane. Disposing it (the kind stops) lets
/// every lane finish what it was given, then stops the graphs.
/// Each lane counts the copies it holds (made or not yet made, not yet routed): an entity whose fan-out leaves its lane
/// holding more than <see cref="Backlog"/> holds its reply and its next commands until the lane is back under it
/// (<see cref="WhenBelowBacklog"/>), so that a publisher that waits for its answers publishes no faster than its
/// subscribers' copies are routed (the backlog, and with it latency and memory, stays bounded).
/// </summary>
internal sealed class EntityFanout : IDisposable
{
    /// <summary>Copies made and routed per stream element (and per throttle token group).</summary>
    internal const int ChunkSize = 64;

    /// <summary>Copies a lane may hold before the entities that fan out on it wait for it (PluginEntityActor): about
    /// 0.1 to 0.2 s of routing at the rates measured here (docs/benchmarks.md, "PubSub fan-out"), and more than one
    /// fan-out to 1,000 subscribers, so that small fan-outs never wait.</summary>
    internal const long Backlog = 8192;

    /// <summary>The longest an entity holds a reply for its lane (a throttled lane, <see cref="EntityKindOptions.FanoutPerSecond"/>,
    /// may take longer to drain): well inside the asks' timeouts (the pubsub service's is 4 s).</summary>
    internal static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(2);

    /// <summary>One fan-out: the stanza (never changed; copied per recipient) and its recipients.</summary>
    private sealed record Fanout(Element Stanza, string[] Recipients);

    /// <summary>A lane: its channel, the copies it holds, and who waits for that count to fall to the backlog.</summary>
    private sealed class Lane(ChannelWriter<Fanout> writer)
    {
        public readonly ChannelWriter<Fanout> Writer = writer;
        public long Held;
        private List<TaskCompletionSource>? _waiting;

        public void Routed(int copies)
        {
            if (Interlocked.Add(ref Held, -copies) > Backlog) return;
            List<TaskCompletionSource>? ready;
            lock (this) { ready = _waiting; _waiting = null; }
            if (ready is not null) foreach (var w in ready) w.TrySetResult();
        }

        public Task WhenBelowBacklog()
        {
            var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (this) (_waiting ??= new()).Add(waiter);
            if (Volatile.Read(ref Held) <= Backlog) Routed(0); // drained meanwhile: nothing else would complete it
            return waiter.Task;
        }
    }

    private readonly Lane?[]? _lanes; // started on first use: a kind that never fans out runs no graph
    private readonly List<Task> _running = new();
    private readonly ActorSystem? _system;
    private readonly EntityKindOptions? _options;
    private readonly Action<Element> _send;
    private readonly ILoggingAdapter? _log;
    private ActorMaterializer? _materializer;
    private bool _disposed;

    /// <summary>Fan-outs that route inline on the caller's thread (a host without an actor system: tests of the entity
    /// actor alone).</summary>
    public static EntityFanout Inline(Action<Element> send) => new(send);

    private EntityFanout(Action<Element> send) => _send = send;

    public EntityFanout(ActorSystem system, string name, EntityKindOptions options, Action<Element> send)
    {
        _system = system;
        _options = options;
        _send = send;
        _log = Logging.GetLogger(system, "entity-fanout:" + name);
        _lanes = new Lane?[Math.Max(1, options.FanoutLanes)];
    }

    /// <summary>Queues a fan-out of the entity of <paramref name="key"/> on its lane (routes it inline when the kind
    /// has stopped meanwhile, so nothing is lost to a stop between a command and its effects).</summary>
    public void Enqueue(string key, Element stanza, string[] recipients)
    {
        if (recipients.Length == 0) return;
        if (LaneOf(key) is { } lane)
        {
            Interlocked.Add(ref lane.Held, recipients.Length);
            if (lane.Writer.TryWrite(new Fanout(stanza, recipients))) return;
            lane.Routed(recipients.Length); // completed by a stop meanwhile: routed inline below
        }
        foreach (var chunk in Chunks(new Fanout(stanza, recipients))) Route(chunk);
    }

    /// <summary>Whether the lane of <paramref name="key"/> would hold more copies than <see cref="Backlog"/> with
    /// <paramref name="copies"/> more.</summary>
    public bool WouldExceedBacklog(string key, long copies) =>
        _lanes is not null && (Existing(key) is { } lane ? Volatile.Read(ref lane.Held) : 0) + copies > Backlog;

    /// <summary>Completes once the lane of <paramref name="key"/> holds no more than <see cref="Backlog"/> copies.</summary>
    public Task WhenBelowBacklog(string key) => Existing(key)?.WhenBelowBacklog() ?? Task.CompletedTask;

    private Lane? Existing(string key) => _lanes is null ? null : Volatile.Read(ref _lanes[Index(key)]);

    private int Index(string key) => (int)((uint)StringComparer.Ordinal.GetHashCode(key) % (uint)_lanes!.Length);

    private Lane? LaneOf(string key)
    {
        if (_lanes is null) return null;
        var i = Index(key);
        if (Volatile.Read(ref _lanes[i]) is { } started) return started;
        lock (_running)
        {
            if (_disposed) return null;
            if (_lanes[i] is null) Volatile.Write(ref _lanes[i], Start());
            return _lanes[i];
        }
    }

    /// <summary>A lane's graph: fan-outs from its channel, copies a chunk at a time, throttled, routed.</summary>
    private Lane Start()
    {
        var channel = Channel.CreateUnbounded<Fanout>(new UnboundedChannelOptions { SingleReader = true });
        _materializer ??= _system!.Materializer(namePrefix: "fanout");
        var chunks = ChannelSource.FromReader(channel.Reader).SelectMany(Chunks);
        if (_options!.FanoutPerSecond > 0) // tokens are copies: a chunk costs its length
            chunks = chunks.Throttle(_options.FanoutPerSecond, TimeSpan.FromSeconds(1), Math.Max(ChunkSize, _options.FanoutPerSecond / 10),
                chunk => chunk.Length, ThrottleMode.Shaping);
        var lane = new Lane(channel.Writer);
        _running.Add(chunks.RunWith(Sink.ForEach<Element[]>(chunk =>
        {
            Route(chunk);
            lane.Routed(chunk.Length);
        }), _materializer));
        return lane;
    }

    private static IEnumerable<Element[]> Chunks(Fanout fanout)
    {
        var recipients = fanout.Recipients;
        for (var start = 0; start < recipients.Length; start += ChunkSize)
        {
            var chunk = new Element[Math.Min(ChunkSize, recipients.Length - start)];
            for (var i = 0; i < chunk.Length; i++)
            {
                var copy = fanout.Stanza.CopySharingChildren(); // the stanza is never changed (IEntityContext.SendToEach)
                copy.To = recipients[start + i];
                chunk[i] = copy;
            }
            yield return chunk;
        }
    }

    private void Route(Element[] chunk)
    {
        foreach (var copy in chunk)
        {
            try
            {
                _send(copy);
            }
            catch (ArgumentException ex) // an invalid recipient: that copy only (the router checks 'from' and 'to')
            {
                _log?.Warning("a fan-out copy to {0} was not routed: {1}", copy.To, ex.Message);
            }
        }
    }

    /// <summary>No more fan-outs: each lane routes what it holds, then its graph stops (and the materializer with the last).</summary>
    public void Dispose()
    {
        if (_lanes is null) return;
        lock (_running)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var lane in _lanes) lane?.Writer.TryComplete();
            if (_materializer is { } materializer)
                Task.WhenAll(_running).ContinueWith(_ => materializer.Dispose(), TaskScheduler.Default);
        }
    }
}

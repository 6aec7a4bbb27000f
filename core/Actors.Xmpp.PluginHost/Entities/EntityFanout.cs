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
/// </summary>
internal sealed class EntityFanout : IDisposable
{
    /// <summary>Copies made and routed per stream element (and per throttle token group).</summary>
    internal const int ChunkSize = 64;

    /// <summary>One fan-out: the stanza (never changed; copied per recipient) and its recipients.</summary>
    private sealed record Fanout(Element Stanza, string[] Recipients);

    private readonly ChannelWriter<Fanout>?[]? _lanes; // started on first use: a kind that never fans out runs no graph
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
        _lanes = new ChannelWriter<Fanout>?[Math.Max(1, options.FanoutLanes)];
    }

    /// <summary>Queues a fan-out of the entity of <paramref name="key"/> on its lane (routes it inline when the kind
    /// has stopped meanwhile, so nothing is lost to a stop between a command and its effects).</summary>
    public void Enqueue(string key, Element stanza, string[] recipients)
    {
        if (recipients.Length == 0) return;
        if (Lane(key) is { } lane && lane.TryWrite(new Fanout(stanza, recipients))) return;
        foreach (var chunk in Chunks(new Fanout(stanza, recipients))) Route(chunk);
    }

    private ChannelWriter<Fanout>? Lane(string key)
    {
        if (_lanes is null) return null;
        var i = (int)((uint)StringComparer.Ordinal.GetHashCode(key) % (uint)_lanes.Length);
        if (Volatile.Read(ref _lanes[i]) is { } started) return started;
        lock (_running)
        {
            if (_disposed) return null;
            if (_lanes[i] is null) Volatile.Write(ref _lanes[i], Start());
            return _lanes[i];
        }
    }

    /// <summary>A lane's graph: fan-outs from its channel, copies a chunk at a time, throttled, routed.</summary>
    private ChannelWriter<Fanout> Start()
    {
        var channel = Channel.CreateUnbounded<Fanout>(new UnboundedChannelOptions { SingleReader = true });
        _materializer ??= _system!.Materializer(namePrefix: "fanout");
        var chunks = ChannelSource.FromReader(channel.Reader).SelectMany(Chunks);
        if (_options!.FanoutPerSecond > 0) // tokens are copies: a chunk costs its length
            chunks = chunks.Throttle(_options.FanoutPerSecond, TimeSpan.FromSeconds(1), Math.Max(ChunkSize, _options.FanoutPerSecond / 10),
                chunk => chunk.Length, ThrottleMode.Shaping);
        _running.Add(chunks.RunWith(Sink.ForEach<Element[]>(Route), _materializer));
        return channel.Writer;
    }

    private static IEnumerable<Element[]> Chunks(Fanout fanout)
    {
        var recipients = fanout.Recipients;
        for (var start = 0; start < recipients.Length; start += ChunkSize)
        {
            var chunk = new Element[Math.Min(ChunkSize, recipients.Length - start)];
            for (var i = 0; i < chunk.Length; i++)
            {
                var copy = fanout.Stanza.Clone();
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
            foreach (var lane in _lanes) lane?.TryComplete();
            if (_materializer is { } materializer)
                Task.WhenAll(_running).ContinueWith(_ => materializer.Dispose(), TaskScheduler.Default);
        }
    }
}

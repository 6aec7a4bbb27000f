using Actors.Xmpp.Xml;
using Akka.Actor;

namespace Actors.Xmpp.Server.Routing;

/// <summary>
/// The IQ requests the server sent (<see cref="StanzaRouter.SendIqAsync"/>) and waits for, held by one actor per node
/// (<c>/user/server-iqs</c>, <see cref="PendingServerIqActor"/>) keyed by id and addresses, never in a process-wide
/// map. Each id carries the asking node's tag (<c>s-&lt;node&gt;-&lt;n&gt;</c>), so an answer is sent to the node that
/// asked wherever it arrives: <see cref="NodeOf"/> resolves a tag to that node's actor: this node's, or on a clustered
/// node another member's <c>/user/server-iqs</c>, whose tag <see cref="Cluster.ServerIqNodes"/> asked it when the member
/// came up (so a client's answer to a request another node sent is handed to that node, whichever node the client is on).
/// </summary>
public sealed class PendingServerIqs
{
    private const string Prefix = "s-";
    private IActorRef _local = ActorRefs.Nobody;
    private long _next;
    private volatile System.Collections.Immutable.ImmutableDictionary<string, IActorRef> _others =
        System.Collections.Immutable.ImmutableDictionary<string, IActorRef>.Empty.WithComparers(StringComparer.Ordinal);

    /// <summary>This node's tag: random per process, so that answers to a previous run's requests match nothing.</summary>
    public string NodeTag { get; } = Guid.NewGuid().ToString("N")[..8];

    public bool Attached => !_local.IsNobody();

    /// <summary>Starts this node's actor (once the actor system is up).</summary>
    public void Attach(ActorSystem system) => _local = system.ActorOf(Props.Create(() => new PendingServerIqActor(NodeTag)), ActorName);

    /// <summary>The name of each node's actor under /user.</summary>
    public const string ActorName = "server-iqs";

    /// <summary>Another node's tag and actor (a clustered node learnt it from that member).</summary>
    internal void AddNode(string tag, IActorRef actor) => _others = _others.SetItem(tag, actor);

    /// <summary>The tags of a member that left (its requests are gone with it).</summary>
    internal void RemoveNode(Akka.Actor.Address address)
    {
        var others = _others;
        foreach (var (tag, actor) in others)
            if (actor.Path.Address.Equals(address)) others = others.Remove(tag);
        _others = others;
    }

    internal string NewId() => Prefix + NodeTag + "-" + Interlocked.Increment(ref _next).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Registers the wait (before the request is routed: the answer is queued behind it) and completes with the
    /// answer, or TimeoutException after <paramref name="timeout"/>.</summary>
    internal Task<Element> Expect(string key, TimeSpan timeout)
    {
        if (!Attached) throw new InvalidOperationException("the server's pending-IQ actor is not started");
        return _local.Ask<Element>(new PendingServerIqActor.Expect(key, timeout), timeout + TimeSpan.FromSeconds(5));
    }

    /// <summary>Hands an answer addressed to the server to the node whose request it answers (nothing if none).</summary>
    internal void Answer(string id, string key, Element stanza) => NodeOf(id)?.Tell(new PendingServerIqActor.Answered(key, stanza));

    /// <summary>The actor of the node that sent the request with this id; null for ids the server did not make.</summary>
    private IActorRef? NodeOf(string id)
    {
        if (!id.StartsWith(Prefix, StringComparison.Ordinal)) return null;
        var end = id.IndexOf('-', Prefix.Length);
        if (end < 0) return null;
        var tag = id.AsSpan(Prefix.Length, end - Prefix.Length);
        if (tag.SequenceEqual(NodeTag)) return Attached ? _local : null;
        var others = _others;
        return others.Count != 0 && others.TryGetValue(tag.ToString(), out var node) ? node : null;
    }
}

/// <summary>One node's pending server IQs: the asker of each key, answered once, or with TimeoutException.</summary>
internal sealed class PendingServerIqActor(string nodeTag) : UntypedActor, IWithTimers
{
    public sealed record Expect(string Key, TimeSpan Timeout);
    /// <summary>An answer for the request with this key (from any node: it crosses nodes with the routing serializer).</summary>
    public sealed record Answered(string Key, Element Stanza);
    private sealed record Expired(string Key);

    /// <summary>Another node asks this node's tag: answered with <see cref="NodeTag"/>.</summary>
    public sealed record WhatTag
    {
        public static readonly WhatTag Instance = new();
    }

    public sealed record NodeTag(string Tag);

    private readonly Dictionary<string, IActorRef> _waiting = new(StringComparer.Ordinal);

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case Expect m:
                if (!_waiting.TryAdd(m.Key, Sender))
                {
                    Sender.Tell(new Status.Failure(new InvalidOperationException("an IQ with this id is pending already")));
                    return;
                }
                Timers.StartSingleTimer(m.Key, new Expired(m.Key), m.Timeout);
                break;
            case Answered m:
                if (!_waiting.Remove(m.Key, out var asker)) return; // late, or not ours
                Timers.Cancel(m.Key);
                asker.Tell(m.Stanza);
                break;
            case WhatTag:
                Sender.Tell(new NodeTag(nodeTag));
                break;
            case Expired m:
                if (_waiting.Remove(m.Key, out var waiting))
                    waiting.Tell(new Status.Failure(new TimeoutException("the IQ was not answered in time")));
                break;
            default:
                Unhandled(message);
                break;
        }
    }
}

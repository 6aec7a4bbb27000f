using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Akka;
using Akka.Actor;
using Akka.Persistence;
using Akka.Persistence.Query;
using Akka.Persistence.Sql.Query;
using Akka.Streams;
using Akka.Streams.Dsl;

namespace Actors.Xmpp.Persistence.Replay;

/// <summary>One event read back from the journal.</summary>
public sealed record JournalEvent(string PersistenceId, long SequenceNr, long Ordering, DateTimeOffset Timestamp, object Event, IReadOnlyList<string> Tags)
{
    public string Manifest => Event switch
    {
        UndecodableEvent u => u.Manifest,
        IPersistentEvent => PersistentEventTypes.ManifestOf(Event.GetType()),
        _ => Event.GetType().Name,
    };

    /// <summary>The event as the operator reads it (`events dump`, the web admin's journal page): where it is, when it
    /// was stored, its manifest and tags, and the event itself in the journal's JSON (or the raw bytes and the error of
    /// one that cannot be decoded).</summary>
    public JsonObject ToJson()
    {
        var tags = new JsonArray();
        foreach (var t in Tags) tags.Add(t);
        var o = new JsonObject
        {
            ["persistenceId"] = PersistenceId,
            ["sequenceNr"] = SequenceNr,
            ["ordering"] = Ordering,
            ["timestamp"] = Timestamp.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
            ["manifest"] = Manifest,
            ["tags"] = tags,
        };
        if (Event is UndecodableEvent u)
        {
            o["error"] = u.Error;
            o["raw"] = Encoding.UTF8.GetString(u.Bytes);
        }
        else
        {
            o["event"] = JsonSerializer.SerializeToNode(Event, Event.GetType(), XmppEventSerializer.Options);
        }
        return o;
    }
}

/// <summary>
/// Read-only access to the journal through Akka.Persistence.Query's SqlReadJournal (works while the server runs).
/// Open it with <see cref="OpenAsync"/>.
/// </summary>
public sealed class JournalReader
{
    /// <summary>How long <see cref="OpenAsync"/> waits by default for the write journal to initialize.</summary>
    public static readonly TimeSpan DefaultStartTimeout = TimeSpan.FromSeconds(60);

    // a persistence id nothing writes: the readiness probe reads its highest sequence number (0)
    private const string ReadinessProbeId = "actors-journal-reader:readiness-probe";

    private readonly ActorSystem _system;
    private readonly SqlReadJournal _journal;
    private readonly IMaterializer _materializer;

    /// <summary>
    /// Opens the query side once the write journal has finished initializing. SqlReadJournal's constructor blocks on
    /// an ask to the write journal with a fixed 5 s timeout (Akka.Persistence.Sql issue 344's fix) and the write
    /// journal answers only after it has created its materializer and tables: in a fresh process on a busy machine
    /// that takes longer, and every command of the event tool failed with "Timeout after 5.00 seconds". Waiting here,
    /// asynchronously and for the journal's own answer, makes that ask return at once.
    /// </summary>
    public static async Task<JournalReader> OpenAsync(ActorSystem system, TimeSpan? timeout = null, CancellationToken ct = default)
    {
        await WriteJournalReadyAsync(system, timeout ?? DefaultStartTimeout, ct).ConfigureAwait(false);
        return new JournalReader(system);
    }

    /// <summary>Completes when the write journal serves requests: it stashes everything until its initialization
    /// is done, so the answer to a (public) replay request for an unused id is that signal.</summary>
    public static async Task WriteJournalReadyAsync(ActorSystem system, TimeSpan timeout, CancellationToken ct = default)
    {
        var journal = Akka.Persistence.Persistence.Instance.Apply(system).JournalFor(XmppPersistenceConfig.JournalPlugin);
        var reply = await journal.Ask<object>(replyTo => new ReplayMessages(0, 0, 0, ReadinessProbeId, replyTo), timeout, ct)
            .ConfigureAwait(false);
        if (reply is ReplayMessagesFailure failure)
            throw new InvalidOperationException("the journal failed to start: " + failure.Cause.Message, failure.Cause);
    }

    private JournalReader(ActorSystem system)
    {
        _system = system;
        _journal = PersistenceQuery.Get(system).ReadJournalFor<SqlReadJournal>(XmppPersistenceConfig.QueryPlugin);
        _materializer = system.Materializer();
    }

    public Task<IReadOnlyList<string>> PersistenceIdsAsync(CancellationToken ct = default)
        => CollectAsync(_journal.CurrentPersistenceIds(), ct);

    /// <summary>Events of one entity, sequence numbers from..to (inclusive); live if <paramref name="follow"/>.</summary>
    public Source<JournalEvent, NotUsed> ByPersistenceId(string persistenceId, long from = 0, long to = long.MaxValue, bool follow = false)
        => (follow ? _journal.EventsByPersistenceId(persistenceId, from, to) : _journal.CurrentEventsByPersistenceId(persistenceId, from, to))
            .Select(ToEvent);

    /// <summary>Events with <paramref name="tag"/>, those after the journal ordering <paramref name="after"/> (0: all).</summary>
    public Source<JournalEvent, NotUsed> ByTag(string tag, bool follow = false, long after = 0)
        => (follow ? _journal.EventsByTag(tag, OffsetAfter(after)) : _journal.CurrentEventsByTag(tag, OffsetAfter(after))).Select(ToEvent);

    /// <summary>Every event, those after the journal ordering <paramref name="after"/> (0: all).</summary>
    public Source<JournalEvent, NotUsed> All(bool follow = false, long after = 0)
        => (follow ? _journal.AllEvents(OffsetAfter(after)) : _journal.CurrentAllEvents(OffsetAfter(after))).Select(ToEvent);

    private static Offset OffsetAfter(long ordering) => ordering > 0 ? Offset.Sequence(ordering) : Offset.NoOffset();

    public Task RunAsync(Source<JournalEvent, NotUsed> source, Action<JournalEvent> each, CancellationToken ct = default)
    {
        var (kill, done) = source.ViaMaterialized(KillSwitches.Single<JournalEvent>(), Keep.Right)
            .ToMaterialized(Sink.ForEach(each), Keep.Both).Run(_materializer);
        ct.Register(() => kill.Shutdown());
        return done;
    }

    /// <summary>The events of <paramref name="source"/> as they come, pulled one at a time (the stream waits for the
    /// reader: a slow HTTP client slows the query, nothing piles up); a live source ends when <paramref name="ct"/> fires.</summary>
    public async IAsyncEnumerable<JournalEvent> StreamAsync(Source<JournalEvent, NotUsed> source,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        var (kill, queue) = source.ViaMaterialized(KillSwitches.Single<JournalEvent>(), Keep.Right)
            .ToMaterialized(Sink.Queue<JournalEvent>(), Keep.Both).Run(_materializer);
        using var registration = ct.Register(() => kill.Shutdown());
        try
        {
            while (true)
            {
                var next = await queue.PullAsync().ConfigureAwait(false);
                if (!next.HasValue) yield break;
                yield return next.Value;
            }
        }
        finally
        {
            kill.Shutdown();
        }
    }

    public async Task<IReadOnlyList<T>> CollectAsync<T>(Source<T, NotUsed> source, CancellationToken ct = default)
    {
        var list = new List<T>();
        await source.ViaMaterialized(KillSwitches.Single<T>(), Keep.Right)
            .ToMaterialized(Sink.ForEach<T>(list.Add), Keep.Both)
            .MapMaterializedValue(m => { ct.Register(() => m.Item1.Shutdown()); return m.Item2; })
            .Run(_materializer);
        return list;
    }

    private static JournalEvent ToEvent(EventEnvelope e)
        => new(e.PersistenceId, e.SequenceNr, e.Offset is Sequence s ? s.Value : 0, TimestampOf(e.Timestamp), e.Event,
            e.Tags is { Length: > 0 } tags ? tags.Order(StringComparer.Ordinal).ToArray() : []);

    /// <summary>Journal timestamps are DateTime ticks (UTC) in Akka.Persistence.Sql; tolerate milliseconds too.</summary>
    public static DateTimeOffset TimestampOf(long value)
        => value > 100_000_000_000_000L ? new DateTimeOffset(value, TimeSpan.Zero) : DateTimeOffset.FromUnixTimeMilliseconds(value);

    public ActorSystem System => _system;
}

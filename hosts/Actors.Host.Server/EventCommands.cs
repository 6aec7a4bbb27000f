using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Actors.Xmpp.Persistence;
using Actors.Xmpp.Persistence.Replay;
using Actors.Xmpp.Server;
using Akka.Actor;
using Microsoft.Extensions.Configuration;

namespace Actors.Host.Server;

/// <summary>
/// `actors-server events ...`: the operator's event-log tool. Read-only, through Akka.Persistence.Query (SqlReadJournal),
/// so it works on SQLite and PostgreSQL whether the server runs or not. Progress goes to stderr.
/// </summary>
internal static class EventCommands
{
    public static Command Create()
    {
        var events = new Command("events", "Read the event journal: list, dump, rebuild, verify.");

        var list = new Command("list", "Persistence ids (accounts:<domain>, users, ...) with their event counts.");
        list.SetAction((p, ct) => WithLog(p, log => ListAsync(log, ct)));

        var pid = new Argument<string?>("persistenceId") { Description = "The entity whose log to dump", Arity = ArgumentArity.ZeroOrOne };
        var tag = new Option<string?>("--tag") { Description = "All events with this tag: domain:<domain>, or an event kind (account, roster, ...)" };
        var from = new Option<string?>("--from") { Description = "Only events stored at or after this time (ISO 8601, UTC unless an offset is given)" };
        var to = new Option<string?>("--to") { Description = "Only events stored before this time" };
        var format = new Option<string>("--format") { Description = "json (one JSON object per line) or table", DefaultValueFactory = _ => "json" };
        format.AcceptOnlyFromAmong("json", "table");
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep running and print new events as they are stored" };
        var dump = new Command("dump", "Print events: one entity's log, all events with a tag, or all events in a time range.")
            { pid, tag, from, to, format, follow };
        dump.SetAction((p, ct) => WithLog(p, log => DumpAsync(log, p.GetValue(pid), p.GetValue(tag), Time(p.GetValue(from)),
            Time(p.GetValue(to)), p.GetValue(format) == "table", p.GetValue(follow), ct)));

        var rebuildPid = new Argument<string>("persistenceId") { Description = "The entity to rebuild, e.g. accounts:localhost" };
        var toSeq = new Option<long?>("--to-sequence") { Description = "Replay up to and including this sequence number" };
        var at = new Option<string?>("--at") { Description = "Replay the events stored up to this time (ISO 8601)" };
        var rebuild = new Command("rebuild", "Replay an entity's events into fresh state and print what it holds.") { rebuildPid, toSeq, at };
        rebuild.SetAction((p, ct) => WithLog(p, log => RebuildAsync(log, p.GetValue(rebuildPid)!, p.GetValue(toSeq), Time(p.GetValue(at)), ct)));

        var verify = new Command("verify", "Read every event of every entity; report those that cannot be deserialized.");
        verify.SetAction((p, ct) => WithLog(p, log => VerifyAsync(log, ct)));

        events.Subcommands.Add(list);
        events.Subcommands.Add(dump);
        events.Subcommands.Add(rebuild);
        events.Subcommands.Add(verify);
        return events;
    }

    private static DateTimeOffset? Time(string? text)
        => text is null ? null : DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    private static async Task<int> WithLog(ParseResult parse, Func<JournalReader, Task<int>> run)
    {
        var configuration = ServerRunner.CreateBuilder(ConfigOverrides.For(parse)).Configuration;
        var options = new XmppServerOptions();
        configuration.GetSection(XmppServerOptions.Section).Bind(options);
        var persistence = new XmppPersistenceOptions();
        configuration.GetSection(XmppPersistenceOptions.Section).Bind(persistence);
        ActorSystem system;
        try
        {
            // every events command only reads: the database must exist and is opened read-only
            system = PersistenceActorSystem.Create("actors-events", persistence, options.DataDir, lenientReads: true, readOnly: true);
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException)
        {
            await Console.Error.WriteLineAsync("error: " + ex.Message);
            return 1;
        }
        await Console.Error.WriteLineAsync($"journal: {persistence.Describe(options.DataDir)}");
        try
        {
            return await run(await JournalReader.OpenAsync(system));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            await Console.Error.WriteLineAsync("error: " + ex.Message);
            return 1;
        }
        finally
        {
            await system.Terminate();
        }
    }

    private static async Task<int> ListAsync(JournalReader log, CancellationToken ct)
    {
        var ids = (await log.PersistenceIdsAsync(ct)).Order(StringComparer.Ordinal).ToList();
        var progress = new Progress("counting", ids.Count);
        var total = 0L;
        foreach (var id in ids)
        {
            long count = 0, last = 0;
            await log.RunAsync(log.ByPersistenceId(id), e => { count++; last = e.SequenceNr; }, ct);
            total += count;
            Console.WriteLine($"{id}\t{count} events\tlast #{last}");
            progress.Step();
        }
        progress.Done();
        await Console.Error.WriteLineAsync($"{ids.Count} persistence ids, {total} events");
        return 0;
    }

    private static async Task<int> DumpAsync(JournalReader log, string? pid, string? tag, DateTimeOffset? from, DateTimeOffset? to,
        bool table, bool follow, CancellationToken ct)
    {
        if (pid is not null && tag is not null)
        {
            await Console.Error.WriteLineAsync("error: give a persistence id or --tag, not both");
            return 2;
        }
        if (pid is null && tag is null && from is null && to is null && !follow)
            await Console.Error.WriteLineAsync("(no persistence id, --tag or time range: dumping all events)");
        var source = pid is not null ? log.ByPersistenceId(pid, follow: follow)
            : tag is not null ? log.ByTag(tag, follow)
            : log.All(follow);
        var progress = new Progress("read", null);
        var output = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false)) { AutoFlush = follow };
        await using (output)
        {
            await log.RunAsync(source, e =>
            {
                progress.Step();
                if (from is { } f && e.Timestamp < f) return;
                if (to is { } t && e.Timestamp >= t) return;
                output.WriteLine(table ? Row(e) : JsonLine(e));
            }, ct);
        }
        progress.Done();
        return 0;
    }

    private static async Task<int> RebuildAsync(JournalReader log, string pid, long? toSequence, DateTimeOffset? at, CancellationToken ct)
    {
        var view = JournalStateViews.For(pid);
        var state = view.Empty(pid);
        long applied = 0, last = 0;
        var undecodable = 0;
        // the latest snapshot at or before the point first: the events it covers may have been deleted
        var snapshots = Akka.Persistence.Persistence.Instance.Apply(log.System).SnapshotStoreFor(null);
        var criteria = new Akka.Persistence.SnapshotSelectionCriteria(toSequence ?? long.MaxValue, at?.UtcDateTime ?? DateTime.MaxValue);
        var loaded = await snapshots.Ask<Akka.Persistence.LoadSnapshotResult>(
            new Akka.Persistence.LoadSnapshot(pid, criteria, toSequence ?? long.MaxValue), TimeSpan.FromSeconds(30), ct);
        var from = 0L;
        if (loaded.Snapshot is { } snapshot)
        {
            state = view.Apply(state, snapshot.Snapshot);
            from = snapshot.Metadata.SequenceNr + 1;
            last = snapshot.Metadata.SequenceNr;
            Console.WriteLine($"{pid}: from the snapshot at #{snapshot.Metadata.SequenceNr} ({snapshot.Metadata.Timestamp:u})");
        }
        var progress = new Progress("replayed", null);
        await log.RunAsync(log.ByPersistenceId(pid, from, toSequence ?? long.MaxValue), e =>
        {
            if (at is { } limit && e.Timestamp > limit) return;
            if (e.Event is UndecodableEvent) undecodable++;
            state = view.Apply(state, e.Event);
            applied++;
            last = e.SequenceNr;
            progress.Step();
        }, ct);
        progress.Done();
        Console.WriteLine($"{pid}: {applied} events replayed (up to #{last})");
        view.Print(state, Console.Out);
        if (undecodable > 0) await Console.Error.WriteLineAsync($"warning: {undecodable} events could not be decoded (run events verify)");
        return 0;
    }

    private static async Task<int> VerifyAsync(JournalReader log, CancellationToken ct)
    {
        var ids = (await log.PersistenceIdsAsync(ct)).Order(StringComparer.Ordinal).ToList();
        var progress = new Progress("verified", null);
        long total = 0, bad = 0;
        foreach (var id in ids)
        {
            try
            {
                await log.RunAsync(log.ByPersistenceId(id), e =>
                {
                    total++;
                    progress.Step();
                    if (e.Event is not UndecodableEvent u) return;
                    bad++;
                    Console.WriteLine($"{e.PersistenceId} #{e.SequenceNr} ({u.Manifest}, stored {e.Timestamp:u}): {u.Error}");
                }, ct);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                bad++;
                Console.WriteLine($"{id}: the log cannot be read past event #{total}: {ex.GetBaseException().Message}");
            }
        }
        progress.Done();
        Console.WriteLine(bad == 0
            ? $"ok: {total} events of {ids.Count} entities decode"
            : $"FAILED: {bad} of {total} events of {ids.Count} entities cannot be decoded");
        return bad == 0 ? 0 : 3;
    }

    internal static string JsonLine(JournalEvent e) => e.ToJson().ToJsonString();

    private static string Row(JournalEvent e)
    {
        var body = e.Event is UndecodableEvent u ? "UNDECODABLE: " + u.Error
            : JsonSerializer.Serialize(e.Event, e.Event.GetType(), XmppEventSerializer.Options);
        if (body.Length > 120) body = body[..117] + "...";
        return $"{e.Timestamp.UtcDateTime:yyyy-MM-dd HH:mm:ss}  {e.PersistenceId,-28} #{e.SequenceNr,-6} {e.Manifest,-30} {body}";
    }

    /// <summary>A progress line on stderr every 2 s (only for long runs).</summary>
    private sealed class Progress(string verb, long? total)
    {
        private readonly Stopwatch _watch = Stopwatch.StartNew();
        private long _count;
        private TimeSpan _next = TimeSpan.FromSeconds(2);

        public void Step()
        {
            _count++;
            if (_watch.Elapsed < _next) return;
            _next = _watch.Elapsed + TimeSpan.FromSeconds(2);
            Console.Error.WriteLine(total is { } t ? $"... {verb} {_count}/{t}" : $"... {verb} {_count} events ({_count / _watch.Elapsed.TotalSeconds:0}/s)");
        }

        public void Done()
        {
            if (_watch.Elapsed >= TimeSpan.FromSeconds(2))
                Console.Error.WriteLine($"... {verb} {_count} in {_watch.Elapsed.TotalSeconds:0.0} s");
        }
    }
}

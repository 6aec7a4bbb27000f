using System.Collections.Concurrent;
using System.Globalization;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Stanzas;
using Actors.Xmpp.Xml;
using Microsoft.Extensions.Logging;

namespace Actors.Plugins.Offline;

/// <summary>
/// The accounts' offline mailboxes: one archive per account (owner the bare JID), appended to when a message cannot
/// be delivered and read out in pages when a resource comes online. One delivery per account at a time; a page is
/// at most <see cref="ISessionDelivery.PageBytes"/> of XML (at least one message), the next one is sent only after the
/// transport wrote the previous one out, and only what was delivered is trimmed from the archive: written out, or with
/// XEP-0198 acknowledged by the client (a few pages may wait for that at once, <see cref="PagesInFlight"/>); a connection
/// lost mid-mailbox leaves the rest, and the pages in flight, for the next login: at least once to the client.
/// Disposed when the plugin unloads: deliveries in progress stop after their current page (the next version, or the
/// next login, takes over from what is stored).
/// In a cluster a mailbox is delivered only by a node that holds the target resource (<see cref="Target"/> picks among
/// this node's sessions), so two nodes never deliver one mailbox at once; a message stored on one node is announced to
/// the others (<paramref name="stored"/>, the plugin's cluster signal), where a resource that came online while the
/// message was being stored takes it.
/// </summary>
internal sealed class Mailboxes(IStoreArchive archive, ISessionDelivery delivery, ISessions sessions, IRouter router, int maxMessages,
    ILogger log, Action<Jid>? stored = null) : IDisposable
{
    private volatile bool _disposed;

    public void Dispose() => _disposed = true;

    public const string Kind = "messages";

    /// <summary>Items read from the archive at a time (a page is then cut by bytes).</summary>
    private const int ReadBatch = 200;

    /// <summary>About what the XEP-0203 &lt;delay/&gt; adds to a stored stanza on the wire (about 90 bytes with a short
    /// domain): counted so that a page of many small messages stays within its budget.</summary>
    private const int DelayBytes = 128;

    // accounts whose mailbox is being delivered; Again: something was stored or a resource came meanwhile
    private readonly ConcurrentDictionary<Jid, Run> _running = new();

    private sealed class Run
    {
        public bool Again;
        public Jid? Preferred;
    }

    // ---- storing (RFC 6121 §8.5.2.2.1) ------------------------------------------------------------------------

    /// <summary>The Undeliverable hook: true when the message is taken (stored or dropped as the RFC says).</summary>
    public bool Store(Element stanza, Jid account)
    {
        // XEP-0353: a call (propose, retract, accept...) is live signalling, not chat to read later: not stored, so the
        // router bounces it and the caller learns the callee cannot be reached now (a missed call is in the archive)
        if (IsJingleMessage(stanza)) return false;
        switch (stanza.Type ?? "normal")
        {
            case "normal" or "chat":
                // the XML is taken before the first await: the routed stanza is not touched afterwards
                _ = StoreAsync(stanza, account, StoredValue.Of(stanza));
                return true;
            case "headline" or "error":
                return true; // §8.5.2.2.1: silently ignored
            default:
                return false; // (groupchat is bounced by the router before)
        }
    }

    /// <summary>XEP-0353 Jingle message initiation.</summary>
    public const string JingleMessageNs = "urn:xmpp:jingle-message:0";

    private static bool IsJingleMessage(Element stanza)
    {
        foreach (var child in stanza.Elements())
            if (child.Namespace == JingleMessageNs) return true;
        return false;
    }

    private async Task StoreAsync(Element stanza, Jid account, StoredValue value)
    {
        long id;
        try
        {
            id = await archive.AppendAsync(account, value, maxMessages);
        }
        catch (StorageException ex)
        {
            // the journal failed or did not answer in time: the sender learns it (if the write was only slow, the
            // message may still arrive: an error and a delivery, never neither)
            log.LogError(ex, "storing an offline message for {Account} failed", account);
            Bounce(stanza, "internal-server-error", "the message could not be stored");
            return;
        }
        if (id == 0)
        {
            Bounce(stanza, "service-unavailable", "the recipient's offline mailbox is full");
            return;
        }
        // a resource may have become available since the router looked: it gets it now, here or, in a cluster, on its
        // node (whose own delivery at its login may have read the mailbox before this message landed)
        Deliver(account, null);
        stored?.Invoke(account);
    }

    private void Bounce(Element stanza, string condition, string text)
    {
        if (StanzaErrors.Reply(stanza, condition, text) is not { } reply) return;
        try { router.Send(reply); }
        catch (ArgumentException ex) { log.LogDebug(ex, "the error for an offline message could not be routed back"); }
    }

    // ---- XEP-0227 §4.4 ------------------------------------------------------------------------------------------

    public const string PortableName = "offline-messages";

    /// <summary>The mailbox as &lt;offline-messages/&gt; (in the file's namespace), each message with the XEP-0203 delay
    /// of when it was stored.</summary>
    public async Task<IReadOnlyList<Element>> ExportAsync(Jid account)
    {
        var messages = new Element(PortableName, "urn:xmpp:pie:0");
        var after = 0L;
        while (true)
        {
            var read = await archive.ReadAsync(account, after, ReadBatch);
            foreach (var item in read.Items)
            {
                after = item.Id;
                if (item.Value.Xml is not { } stanza) continue;
                if (stanza.Child("delay", Ns.Delay) is null) stanza.Add(Delay(item.Stamp, account.Domain));
                messages.Add(stanza);
            }
            if (read.Complete || read.Items.Count == 0) break;
        }
        return messages.ElementCount == 0 ? [] : [messages];
    }

    /// <summary>Appends the file's messages to the mailbox (up to its limit), their delays kept.</summary>
    public async Task ImportAsync(Jid account, Element messages)
    {
        foreach (var message in messages.Elements("message", Ns.Client))
        {
            var copy = message.Clone();
            copy.To = account.ToString(); // the mailbox's owner, whatever resource the exporting server had
            if (await archive.AppendAsync(account, StoredValue.Of(copy), maxMessages) == 0)
                throw new InvalidOperationException($"the offline mailbox of {account} is full ({maxMessages} messages)");
        }
    }

    // ---- delivery (XEP-0160, XEP-0203) ----------------------------------------------------------------------------

    /// <summary>Delivers the mailbox of <paramref name="account"/> to an available resource (<paramref name="preferred"/>
    /// when it can take it), unless a delivery runs: that one then looks again when it ends.</summary>
    public void Deliver(Jid account, Jid? preferred)
    {
        if (_disposed) return;
        var run = new Run { Preferred = preferred };
        var current = _running.GetOrAdd(account, run);
        if (!ReferenceEquals(current, run))
        {
            lock (current)
            {
                if (_running.TryGetValue(account, out var still) && ReferenceEquals(still, current))
                {
                    current.Again = true;
                    current.Preferred ??= preferred;
                    return;
                }
            }
            Deliver(account, preferred); // it just ended: start one
            return;
        }
        _ = RunAsync(account, run);
    }

    private async Task RunAsync(Jid account, Run run)
    {
        try
        {
            while (true)
            {
                Jid? preferred;
                lock (run)
                {
                    run.Again = false;
                    preferred = run.Preferred;
                    run.Preferred = null;
                }
                await DeliverAllAsync(account, preferred);
                lock (run)
                {
                    if (run.Again) continue;
                    _running.TryRemove(new KeyValuePair<Jid, Run>(account, run));
                    return;
                }
            }
        }
        catch (Exception ex)
        {
            // StorageException: the archive could not be read or trimmed; the rest waits for the next login
            log.LogWarning(ex, "delivering the offline messages of {Account} stopped", account);
            lock (run) _running.TryRemove(new KeyValuePair<Jid, Run>(account, run));
        }
    }

    /// <summary>Pages written out but not yet known delivered (acknowledged, with XEP-0198) at once, per delivery: the
    /// next page goes out when the previous one is written, while up to this many wait for the client's acknowledgement
    /// (it acknowledges when the server asks, one &lt;r/&gt; at a time). With a page a quarter of the outbound limit, as
    /// much as that limit can be unacknowledged.</summary>
    private const int PagesInFlight = 4;

    /// <summary>Page after page to one resource at a time, while one can take them; a page is trimmed from the archive
    /// only once delivered (written out, or acknowledged under XEP-0198), in order.</summary>
    private async Task DeliverAllAsync(Jid account, Jid? preferred)
    {
        HashSet<Jid>? failed = null;
        var after = 0L;     // read from here
        var inFlight = new Queue<(long UpTo, Task<bool> Delivered)>();
        // an empty mailbox that never held a message is answered by the host's store directory: no store is read
        if (Target(account, preferred, null) is null) return;
        while (!_disposed)
        {
            var target = Target(account, preferred, failed);
            if (target is null) break;
            var read = await archive.ReadAsync(account, after, ReadBatch);
            if (read.Items.Count == 0) break; // (a message stored from now on starts a delivery of its own)
            var page = new List<Element>();
            var bytes = 0L;
            var upTo = 0L;
            for (var i = 0; i < read.Items.Count && (page.Count == 0 || bytes < delivery.PageBytes); i++)
            {
                var item = read.Items[i];
                upTo = item.Id;
                if (item.Value.Xml is not { } stanza) continue; // (only stanzas are appended)
                bytes += stanza.ToUtf8().Length + DelayBytes;
                // XEP-0203: when it was stored (a message imported from another server keeps the stamp it came with)
                if (stanza.Child("delay", Ns.Delay) is null) stanza.Add(Delay(item.Stamp, account.Domain));
                page.Add(stanza);
            }
            var sent = delivery.Deliver(target, page);
            if (!await sent.Written)
            {
                // not written (the session went away, detached or stalled): another available resource may take it,
                // from what is known delivered (what was trimmed is gone: reading from the start reads the rest again)
                (failed ??= new()).Add(target);
                await TrimDeliveredAsync(account, inFlight, wait: false);
                inFlight.Clear();
                after = 0;
                continue;
            }
            inFlight.Enqueue((upTo, sent.Delivered));
            after = upTo;
            if (inFlight.Count < PagesInFlight && !inFlight.Peek().Delivered.IsCompleted) continue;
            var (oldestUpTo, oldest) = inFlight.Dequeue();
            if (await oldest)
            {
                await archive.TrimAsync(account, oldestUpTo); // only now: delivered to the client
                continue;
            }
            // the session ended before the client acknowledged it: the rest is read again, for another resource
            (failed ??= new()).Add(target);
            inFlight.Clear();
            after = 0;
        }
        // the mailbox is written out (or nothing else can take it): trim what the client acknowledges, in order
        await TrimDeliveredAsync(account, inFlight, wait: true);
    }

    /// <summary>Trims the pages in flight that are delivered, in order (waiting for each when <paramref name="wait"/>), up
    /// to the first that is not.</summary>
    private async Task TrimDeliveredAsync(Jid account, Queue<(long UpTo, Task<bool> Delivered)> inFlight, bool wait)
    {
        while (inFlight.Count > 0)
        {
            var (upTo, delivered) = inFlight.Peek();
            if (!wait && !delivered.IsCompleted || !await delivered) return;
            inFlight.Dequeue();
            await archive.TrimAsync(account, upTo);
        }
    }

    /// <summary>The resource to deliver to: <paramref name="preferred"/> if it is available with a non-negative priority,
    /// otherwise the highest-priority such resource (RFC 6121 §8.5.2.1.1), among the sessions on this node (in a cluster
    /// the node of another one delivers to it); none: the mailbox waits.</summary>
    private Jid? Target(Jid account, Jid? preferred, HashSet<Jid>? failed)
    {
        Jid? best = null;
        var bestPriority = int.MinValue;
        foreach (var r in sessions.Resources(account))
        {
            if (!r.OnThisNode || !r.Available || r.Priority < 0 || failed is not null && failed.Contains(r.Jid)) continue;
            if (r.Jid.Equals(preferred)) return r.Jid;
            if (r.Priority > bestPriority)
            {
                best = r.Jid;
                bestPriority = r.Priority;
            }
        }
        return best;
    }

    private static Element Delay(DateTimeOffset at, string domain) => new Element("delay", Ns.Delay).SetAttr("from", domain)
        .SetAttr("stamp", at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
}

using Actors.Xmpp.Xml;
using Akka.Actor;

namespace Actors.Xmpp.Server.Sessions;

/// <summary>
/// The XEP-0198 state of one session once the client enabled stream management: what it handled from the client
/// (the 'h' it reports), what it sent and the stanzas sent but not yet acknowledged, in order. Counters are 32-bit and
/// wrap around (§4: "the value of 'h' … MUST wrap to zero" after 2^32 - 1), so every comparison is a difference
/// modulo 2^32. Owned by the <see cref="SessionActor"/>, which is the one writer to its client; no thread-safety.
/// </summary>
public sealed class StreamManagement
{
    /// <summary>A stanza sent and not acknowledged; <paramref name="Page"/> when it belongs to a paced page whose asker
    /// waits for the client's acknowledgement of its last stanza (<paramref name="EndsPage"/>).</summary>
    public readonly record struct Unacked(Element Stanza, PageReceipt? Page, bool EndsPage);

    /// <summary>Who waits for the acknowledgement of the page that ends with this stanza.</summary>
    public sealed record PageReceipt(long PageId, IActorRef Asker);

    private readonly Queue<Unacked> _unacked = new();
    private int _paced; // of _unacked, the stanzas of paced pages

    /// <param name="resumable">The client asked for resumption and the server allows it.</param>
    /// <param name="window">How long the session waits detached for a resumption.</param>
    /// <param name="sent">The outbound counter to start from (0 at enable; tests start near the wrap).</param>
    public StreamManagement(bool resumable, TimeSpan window, uint sent = 0)
    {
        Resumable = resumable;
        Window = window;
        Sent = sent;
        Acknowledged = sent;
    }

    /// <summary>The state of a session handed over from another node (XEP-0198 resumption across cluster nodes): the
    /// counters as they were there, and the stanzas still unacknowledged, oldest first.</summary>
    public static StreamManagement Restore(bool resumable, TimeSpan window, uint handled, uint sent, uint acknowledged,
        IReadOnlyList<Unacked> unacked)
    {
        var sm = new StreamManagement(resumable, window) { Handled = handled, Sent = sent, Acknowledged = acknowledged };
        for (var i = 0; i < unacked.Count; i++)
        {
            sm._unacked.Enqueue(unacked[i]);
            if (unacked[i].Page is not null) sm._paced++;
        }
        return sm;
    }

    public bool Resumable { get; }
    public TimeSpan Window { get; }

    /// <summary>Stanzas handled from the client since enable, modulo 2^32: the 'h' of our &lt;a/&gt; and &lt;resumed/&gt;.</summary>
    public uint Handled { get; private set; }

    /// <summary>Stanzas sent to the client since enable, modulo 2^32.</summary>
    public uint Sent { get; private set; }

    /// <summary>The client's last 'h' (how many of <see cref="Sent"/> it acknowledged).</summary>
    public uint Acknowledged { get; private set; }

    /// <summary>An &lt;r/&gt; is outstanding.</summary>
    public bool AckRequested { get; set; }

    public int UnackedCount => _unacked.Count;

    /// <summary>Unacknowledged stanzas outside paced pages: what the session's bound on unacknowledged stanzas counts.
    /// A paced page's stanzas are bounded by its asker, which sends the next only as pages are written and keeps a few
    /// waiting for acknowledgement (the offline mailbox: 4 pages of a quarter of the outbound limit).</summary>
    public int UnpacedUnackedCount => _unacked.Count - _paced;

    /// <summary>One more stanza from the client was handled.</summary>
    public void CountHandled() => Handled = unchecked(Handled + 1);

    /// <summary>A stanza goes to the client: counted and kept until acknowledged.</summary>
    public void Sending(Element stanza, PageReceipt? page = null)
    {
        Sent = unchecked(Sent + 1);
        _unacked.Enqueue(new Unacked(stanza, page, false));
        if (page is not null) _paced++;
    }

    /// <summary>The page <paramref name="page"/> was sent: its receipt waits on its last unacknowledged stanza. False
    /// when none of its stanzas is unacknowledged (none was sent, or all are acknowledged already).</summary>
    public bool EndPage(PageReceipt page)
    {
        var n = _unacked.Count;
        if (n == 0) return false;
        // Queue<T> has no access to its tail: rotate it once (one page per offline page read; not the chat path)
        var found = false;
        for (var i = 0; i < n; i++)
        {
            var item = _unacked.Dequeue();
            if (i == n - 1 && ReferenceEquals(item.Page, page))
            {
                item = item with { EndsPage = true };
                found = true;
            }
            _unacked.Enqueue(item);
        }
        return found;
    }

    /// <summary>How many stanzas an 'h' of <paramref name="h"/> acknowledges beyond the last one, modulo 2^32; more
    /// than <see cref="UnackedCount"/> means the client acknowledged stanzas never sent.</summary>
    public uint NewlyAcknowledged(uint h) => unchecked(h - Acknowledged);

    /// <summary>Whether <paramref name="h"/> acknowledges no more than was sent (§4: otherwise the stream is closed
    /// with &lt;handled-count-too-high/&gt;).</summary>
    public bool IsValidAck(uint h) => NewlyAcknowledged(h) <= (uint)_unacked.Count;

    /// <summary>Drops the stanzas <paramref name="h"/> acknowledges (call <see cref="IsValidAck"/> first); the page
    /// receipts among them are handed to <paramref name="acknowledged"/>.</summary>
    public void Acknowledge(uint h, Action<PageReceipt> acknowledged)
    {
        var n = NewlyAcknowledged(h);
        for (uint i = 0; i < n && _unacked.Count > 0; i++)
        {
            var item = _unacked.Dequeue();
            if (item.Page is not null) _paced--;
            if (item.EndsPage) acknowledged(item.Page!);
        }
        Acknowledged = h;
    }

    /// <summary>The unacknowledged stanzas, oldest first (retransmitted on resumption, handed back when the session
    /// ends). The queue keeps them.</summary>
    public Queue<Unacked>.Enumerator GetEnumerator() => _unacked.GetEnumerator();

    /// <summary>Empties the queue, returning what it held, oldest first.</summary>
    public Unacked[] TakeAll()
    {
        var all = _unacked.ToArray();
        _unacked.Clear();
        _paced = 0;
        return all;
    }

    /// <summary>A §4 'h' attribute: an unsigned 32-bit integer.</summary>
    public static bool TryParseH(string? value, out uint h) =>
        uint.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out h);
}

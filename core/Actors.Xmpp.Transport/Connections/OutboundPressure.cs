namespace Actors.Xmpp.Transport.Connections;

/// <summary>
/// What a connection does about the bytes its peer has not taken yet (queued plus being written), shared by the TCP
/// and WebSocket connections and used under their write lock:
/// <list type="bullet">
/// <item>past a quarter of <see cref="TransportOptions.MaxOutboundBytes"/> the connection stops reading from the peer
/// until half of that is written (<see cref="ReadingMayGoOn"/>): most of what a client sends is answered or bounced to
/// it, so a client that sends faster than it reads is held back by TCP instead of filling its own queue;</item>
/// <item>past <see cref="TransportOptions.MaxOutboundBytes"/> the peer is dropped (<see cref="Overflowing"/>) once it
/// has taken nothing for <see cref="TransportOptions.OutboundStall"/> (it does not read), or at four times the bound
/// whatever it does. A peer that reads, only slower than the server answered what it had already sent before reading
/// paused, is not dropped: that surplus is bounded by what was in flight inside the server.</item>
/// </list>
/// A mutable struct kept in a (non-readonly) field of its connection: no object per connection.
/// </summary>
internal struct OutboundPressure(TransportOptions options)
{
    private TaskCompletionSource? _drained;
    private long _progressTicks = Environment.TickCount64;

    private long PauseReadingAbove => options.MaxOutboundBytes / 4;

    /// <summary>The writer starts after being idle: the peer is not late yet.</summary>
    public void WriterStarted() => _progressTicks = Environment.TickCount64;

    /// <summary>A write completed, leaving <paramref name="unwritten"/> bytes: reading resumes once it is low enough.</summary>
    public void Written(long unwritten)
    {
        _progressTicks = Environment.TickCount64;
        if (_drained is null || unwritten > PauseReadingAbove / 2) return;
        _drained.TrySetResult();
        _drained = null;
    }

    /// <summary>Null when reading may go on; else a task that completes when it may (or the connection closed).</summary>
    public Task? ReadingMayGoOn(long unwritten) =>
        unwritten <= PauseReadingAbove ? null : (_drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    /// <summary>True when the peer must be dropped with <paramref name="unwritten"/> bytes not taken.</summary>
    public bool Overflowing(long unwritten) =>
        unwritten > options.MaxOutboundBytes
        && (unwritten > 4L * options.MaxOutboundBytes || Environment.TickCount64 - _progressTicks > (long)options.OutboundStall.TotalMilliseconds);

    /// <summary>The connection closed: a paused read loop wakes to find it so.</summary>
    public void Closed()
    {
        _drained?.TrySetResult();
        _drained = null;
    }
}

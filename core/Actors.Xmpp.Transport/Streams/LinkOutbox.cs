using System.Buffers;
using Akka.Streams;
using Akka.Streams.Stage;

namespace Actors.Xmpp.Transport.Streams;

/// <summary>
/// The owner's writes of one link on their way to <see cref="LinkSinkStage"/>, through <see cref="LinkOutboxStage"/>.
/// What the owner appends while a write is under way is copied into one pooled chunk, which the sink takes whole
/// when that write completes: under load a link writes many stanzas per TLS record and per send, and the owner
/// hands each over with a copy under a short lock, no task and no message (Akka's <c>Source.Queue</c> did both per
/// offer: docs/benchmarks.md, "s2s"). A TLS upgrade is kept in its place between chunks. More than
/// <c>maxQueued</c> appends waiting fail the stage (the socket closes): a peer that does not read is disconnected.
/// The owner appends from one thread at a time; the stage takes from its interpreter.
/// </summary>
public sealed class LinkOutbox
{
    /// <summary>A chunk is closed at this size and the next one started (the sink writes them in turn).</summary>
    internal const int MaxChunkBytes = 64 * 1024;
    private const int FirstChunkBytes = 4096;

    private readonly object _gate = new();
    private readonly Queue<(LinkWrite Write, int Appends)> _closed = new();
    private readonly int _maxQueued;
    private byte[]? _open;
    private int _openBytes, _openAppends, _queued;
    private Action? _wake;
    private bool _waiting, _completed, _overflowed;

    public LinkOutbox(int maxQueued) => _maxQueued = Math.Max(1, maxQueued);

    internal enum Taken { Write, Empty, Completed, Overflowed }

    /// <summary>Appends a copy of <paramref name="bytes"/>; false when the outbox is completed or overflowed.</summary>
    public bool Append(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty) return true;
        Action? wake;
        bool accepted;
        lock (_gate)
        {
            if (_completed || _overflowed) return false;
            if (++_queued > _maxQueued) _overflowed = true;
            else
            {
                if (_open is not null && _openBytes + bytes.Length > _open.Length)
                {
                    if (_openBytes + bytes.Length <= MaxChunkBytes) Grow(_openBytes + bytes.Length);
                    else CloseChunk();
                }
                if (_open is null)
                {
                    _open = ArrayPool<byte>.Shared.Rent(Math.Max(FirstChunkBytes, bytes.Length));
                    _openBytes = 0;
                }
                bytes.CopyTo(_open.AsSpan(_openBytes));
                _openBytes += bytes.Length;
                _openAppends++;
            }
            accepted = !_overflowed;
            wake = TakeWake();
        }
        wake?.Invoke();
        return accepted;
    }

    /// <summary>Queues a TLS handshake after what is appended so far.</summary>
    public void AppendTls(TlsUpgrade upgrade)
    {
        Action? wake;
        lock (_gate)
        {
            if (_completed || _overflowed) return;
            CloseChunk();
            _closed.Enqueue((new LinkWrite(ReadOnlyMemory<byte>.Empty, upgrade), 0));
            wake = TakeWake();
        }
        wake?.Invoke();
    }

    /// <summary>Nothing more will be appended: the stage completes once what is queued has been taken.</summary>
    public void Complete()
    {
        Action? wake;
        lock (_gate)
        {
            _completed = true;
            wake = TakeWake();
        }
        wake?.Invoke();
    }

    internal bool Overflowed
    {
        get { lock (_gate) return _overflowed; }
    }

    /// <summary>The stage's wake-up (its async callback), called when something arrives while it waits.</summary>
    internal void Attach(Action wake)
    {
        lock (_gate) _wake = wake;
    }

    /// <summary>The next write, or why there is none; on <see cref="Taken.Empty"/> the stage is woken by the next
    /// append.</summary>
    internal Taken Take(out LinkWrite write)
    {
        lock (_gate)
        {
            write = default;
            if (_overflowed) return Taken.Overflowed;
            if (_closed.Count == 0) CloseChunk();
            if (_closed.TryDequeue(out var next))
            {
                write = next.Write;
                _queued -= next.Appends;
                return Taken.Write;
            }
            if (_completed) return Taken.Completed;
            _waiting = true;
            return Taken.Empty;
        }
    }

    private Action? TakeWake()
    {
        if (!_waiting && !_overflowed && !_completed) return null;
        _waiting = false;
        return _wake;
    }

    private void Grow(int needed)
    {
        var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(MaxChunkBytes, Math.Max(needed, _open!.Length * 2)));
        _open.AsSpan(0, _openBytes).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_open);
        _open = bigger;
    }

    private void CloseChunk()
    {
        if (_open is null) return;
        _closed.Enqueue((new LinkWrite(_open.AsMemory(0, _openBytes), Rented: _open), _openAppends));
        _open = null;
        _openBytes = _openAppends = 0;
    }
}

/// <summary>The source of a link's outbound graph: emits what <see cref="LinkOutbox"/> holds, a chunk at a time, as it
/// is pulled; completes after the last one once the outbox is completed; fails when it overflowed.</summary>
public sealed class LinkOutboxStage : GraphStage<SourceShape<LinkWrite>>
{
    private readonly LinkOutbox _outbox;

    public LinkOutboxStage(LinkOutbox outbox)
    {
        _outbox = outbox;
        Shape = new SourceShape<LinkWrite>(Out);
    }

    public Outlet<LinkWrite> Out { get; } = new("link.outbox");
    public override SourceShape<LinkWrite> Shape { get; }

    protected override GraphStageLogic CreateLogic(Attributes inheritedAttributes) => new Logic(this);

    private sealed class Logic : OutGraphStageLogic
    {
        private readonly LinkOutboxStage _stage;

        public Logic(LinkOutboxStage stage) : base(stage.Shape)
        {
            _stage = stage;
            SetHandler(stage.Out, this);
        }

        public override void PreStart() => _stage._outbox.Attach(GetAsyncCallback(OnWake));

        public override void OnPull() => Emit();

        private void OnWake()
        {
            if (IsAvailable(_stage.Out)) Emit();
            else if (_stage._outbox.Overflowed) Overflow(); // at once, even while a write is under way
        }

        private void Emit()
        {
            switch (_stage._outbox.Take(out var write))
            {
                case LinkOutbox.Taken.Write: Push(_stage.Out, write); break;
                case LinkOutbox.Taken.Completed: CompleteStage(); break;
                case LinkOutbox.Taken.Overflowed: Overflow(); break;
            }
        }

        private void Overflow() => FailStage(new BufferOverflowException("the link's peer does not read: too many writes are waiting"));
    }
}

using System.Buffers;

namespace Actors.Xmpp.Transport.Buffers;

/// <summary>An <see cref="IBufferWriter{T}"/> over a rented array; <see cref="Reset"/> gives the array back to the pool.</summary>
public sealed class PooledBufferWriter : IBufferWriter<byte>
{
    private byte[]? _buffer;
    private int _written;

    public int WrittenCount => _written;
    public ReadOnlyMemory<byte> WrittenMemory => _buffer is null ? ReadOnlyMemory<byte>.Empty : _buffer.AsMemory(0, _written);
    public ReadOnlySpan<byte> WrittenSpan => _buffer is null ? ReadOnlySpan<byte>.Empty : _buffer.AsSpan(0, _written);

    public void Advance(int count) => _written += count;

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_written);
    }

    private void Ensure(int sizeHint)
    {
        if (sizeHint < 1) sizeHint = 256;
        if (_buffer is null)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(sizeHint, 1024));
            return;
        }
        if (_buffer.Length - _written >= sizeHint) return;
        var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _written + sizeHint));
        _buffer.AsSpan(0, _written).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = bigger;
    }

    /// <summary>Forgets what was written and returns the array to the pool.</summary>
    public void Reset()
    {
        if (_buffer is not null) ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = null;
        _written = 0;
    }
}

using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Actors.Plugins.Turn;

/// <summary>
/// Writes one STUN message (RFC 8489 §5, §14): header, attributes padded to 4 bytes, then optionally
/// MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256 and FINGERPRINT, each computed over what precedes it with the header's
/// length counting it.
/// </summary>
internal sealed class StunBuilder
{
    private byte[] _buffer;
    private int _length;

    public StunBuilder(ushort method, StunClass cls, ReadOnlySpan<byte> transactionId, int capacity = 256)
    {
        _buffer = new byte[Math.Max(capacity, StunWire.HeaderLength + 64)];
        BinaryPrimitives.WriteUInt16BigEndian(_buffer, StunWire.MessageType(method, cls));
        BinaryPrimitives.WriteUInt32BigEndian(_buffer.AsSpan(4), StunWire.MagicCookie);
        transactionId.CopyTo(_buffer.AsSpan(8, StunWire.TransactionIdLength));
        _length = StunWire.HeaderLength;
    }

    /// <summary>A response to <paramref name="request"/>: same method and transaction id.</summary>
    public static StunBuilder ResponseTo(StunMessage request, bool success) =>
        new(request.Method, success ? StunClass.SuccessResponse : StunClass.ErrorResponse, request.TransactionId);

    private Span<byte> Reserve(ushort type, int valueLength, byte padding = 0)
    {
        var padded = (valueLength + 3) & ~3;
        if (_length + 4 + padded > _buffer.Length) Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + 4 + padded + 64));
        BinaryPrimitives.WriteUInt16BigEndian(_buffer.AsSpan(_length), type);
        BinaryPrimitives.WriteUInt16BigEndian(_buffer.AsSpan(_length + 2), (ushort)valueLength);
        var value = _buffer.AsSpan(_length + 4, padded);
        value[..valueLength].Clear();
        value[valueLength..].Fill(padding); // RFC 8489 §14: any value; this server writes zeros
        _length += 4 + padded;
        SetLength(_length);
        return value[..valueLength];
    }

    private void SetLength(int total) => BinaryPrimitives.WriteUInt16BigEndian(_buffer.AsSpan(2), (ushort)(total - StunWire.HeaderLength));

    public StunBuilder Bytes(ushort type, ReadOnlySpan<byte> value, byte padding = 0)
    {
        value.CopyTo(Reserve(type, value.Length, padding));
        return this;
    }

    public StunBuilder Text(ushort type, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        return Bytes(type, bytes);
    }

    public StunBuilder UInt32(ushort type, uint value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(Reserve(type, 4), value);
        return this;
    }

    /// <summary>ERROR-CODE (§14.8): class (hundreds) and number, then the reason phrase.</summary>
    public StunBuilder Error(int code, string? reason = null)
    {
        var phrase = Encoding.UTF8.GetBytes(reason ?? StunError.Reason(code));
        var v = Reserve(StunAttr.ErrorCode, 4 + phrase.Length);
        v[2] = (byte)(code / 100);
        v[3] = (byte)(code % 100);
        phrase.CopyTo(v[4..]);
        return this;
    }

    /// <summary>UNKNOWN-ATTRIBUTES (§14.9): the 16-bit types the request carried and the server does not understand.</summary>
    public StunBuilder Unknown(IReadOnlyList<ushort> types)
    {
        var v = Reserve(StunAttr.UnknownAttributes, 2 * types.Count);
        for (var i = 0; i < types.Count; i++) BinaryPrimitives.WriteUInt16BigEndian(v[(2 * i)..], types[i]);
        return this;
    }

    /// <summary>An XOR-*-ADDRESS (§14.2): port XOR the cookie's high half, the address XOR the cookie (and, for IPv6,
    /// the transaction id).</summary>
    public StunBuilder XorAddress(ushort type, IPEndPoint endPoint)
    {
        var v = Reserve(type, XorAddressLength(endPoint));
        WriteXorAddress(v, endPoint, _buffer.AsSpan(8, StunWire.TransactionIdLength));
        return this;
    }

    private static IPAddress Unmapped(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;

    private static int XorAddressLength(IPEndPoint endPoint) =>
        Unmapped(endPoint.Address).AddressFamily == AddressFamily.InterNetworkV6 ? 20 : 8;

    /// <summary>An XOR-*-ADDRESS value (<see cref="XorAddressLength"/> bytes, zeroed) for a message of
    /// <paramref name="transactionId"/>.</summary>
    private static void WriteXorAddress(Span<byte> v, IPEndPoint endPoint, ReadOnlySpan<byte> transactionId)
    {
        var address = Unmapped(endPoint.Address);
        var v6 = address.AddressFamily == AddressFamily.InterNetworkV6;
        v[1] = v6 ? StunWire.FamilyIPv6 : StunWire.FamilyIPv4;
        BinaryPrimitives.WriteUInt16BigEndian(v[2..], (ushort)(endPoint.Port ^ (int)(StunWire.MagicCookie >> 16)));
        address.TryWriteBytes(v[4..], out _);
        Span<byte> mask = stackalloc byte[16];
        BinaryPrimitives.WriteUInt32BigEndian(mask, StunWire.MagicCookie);
        transactionId.CopyTo(mask[4..]);
        var n = v6 ? 16 : 4;
        for (var i = 0; i < n; i++) v[4 + i] ^= mask[i];
    }

    /// <summary>Writes a Data indication (RFC 8656 §11.3: XOR-PEER-ADDRESS and DATA, no integrity) into
    /// <paramref name="into"/> without allocating; returns its length, or 0 when it does not fit (or would exceed the
    /// 16-bit message length).</summary>
    public static int WriteDataIndication(Span<byte> into, ReadOnlySpan<byte> transactionId, IPEndPoint peer, ReadOnlySpan<byte> data)
    {
        var addressLength = XorAddressLength(peer);
        var padded = (data.Length + 3) & ~3;
        var total = StunWire.HeaderLength + 4 + addressLength + 4 + padded;
        if (total > into.Length || total - StunWire.HeaderLength > ushort.MaxValue) return 0;
        BinaryPrimitives.WriteUInt16BigEndian(into, StunWire.MessageType(StunMethod.Data, StunClass.Indication));
        BinaryPrimitives.WriteUInt16BigEndian(into[2..], (ushort)(total - StunWire.HeaderLength));
        BinaryPrimitives.WriteUInt32BigEndian(into[4..], StunWire.MagicCookie);
        transactionId.CopyTo(into[8..]);
        var at = StunWire.HeaderLength;
        BinaryPrimitives.WriteUInt16BigEndian(into[at..], StunAttr.XorPeerAddress);
        BinaryPrimitives.WriteUInt16BigEndian(into[(at + 2)..], (ushort)addressLength);
        var value = into.Slice(at + 4, addressLength);
        value.Clear();
        WriteXorAddress(value, peer, transactionId);
        at += 4 + addressLength;
        BinaryPrimitives.WriteUInt16BigEndian(into[at..], StunAttr.Data);
        BinaryPrimitives.WriteUInt16BigEndian(into[(at + 2)..], (ushort)data.Length);
        data.CopyTo(into[(at + 4)..]);
        into.Slice(at + 4 + data.Length, padded - data.Length).Clear();
        return total;
    }

    /// <summary>MESSAGE-INTEGRITY (HMAC-SHA1, §14.5) or MESSAGE-INTEGRITY-SHA256 (§14.6, 32 bytes).</summary>
    public StunBuilder Integrity(ushort type, ReadOnlySpan<byte> key)
    {
        var macLength = type == StunAttr.MessageIntegritySha256 ? 32 : 20;
        var covered = _length;
        SetLength(covered + 4 + macLength); // the length counts the attribute being added
        var mac = type == StunAttr.MessageIntegritySha256
            ? HMACSHA256.HashData(key, _buffer.AsSpan(0, covered))
            : HMACSHA1.HashData(key, _buffer.AsSpan(0, covered));
        return Bytes(type, mac);
    }

    /// <summary>FINGERPRINT (§14.7), the last attribute.</summary>
    public StunBuilder Fingerprint()
    {
        var covered = _length;
        SetLength(covered + 8);
        var crc = StunMessage.Fingerprint(_buffer.AsSpan(0, covered));
        BinaryPrimitives.WriteUInt32BigEndian(Reserve(StunAttr.Fingerprint, 4), crc);
        return this;
    }

    public ReadOnlyMemory<byte> Memory => _buffer.AsMemory(0, _length);
    public byte[] ToArray() => _buffer.AsSpan(0, _length).ToArray();
}

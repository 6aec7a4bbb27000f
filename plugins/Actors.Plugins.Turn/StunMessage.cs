using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Actors.Plugins.Turn;

/// <summary>One attribute of a parsed message: where its value lies in <see cref="StunMessage.Raw"/>.</summary>
internal readonly record struct StunAttribute(ushort Type, int Offset, int Length);

/// <summary>What <see cref="StunMessage.Parse"/> found.</summary>
internal enum StunParse
{
    /// <summary>A well-formed message.</summary>
    Ok,
    /// <summary>Not STUN (RFC 8489 §6.3: first bits, magic cookie, length, or a wrong FINGERPRINT): dropped silently.</summary>
    NotStun,
    /// <summary>A STUN header over attributes that do not parse: a request gets 400.</summary>
    Malformed,
}

/// <summary>
/// A received STUN message (RFC 8489 §5-6): the header and the attribute list over a copy of the bytes. Integrity is
/// checked against the bytes as they arrived (§14.5, §14.6), which is why the message keeps them.
/// </summary>
internal sealed class StunMessage
{
    private readonly List<StunAttribute> _attributes;

    private StunMessage(byte[] raw, ushort method, StunClass cls, List<StunAttribute> attributes)
    {
        Raw = raw;
        Method = method;
        Class = cls;
        _attributes = attributes;
    }

    public byte[] Raw { get; }
    public ushort Method { get; }
    public StunClass Class { get; }
    public ReadOnlySpan<byte> TransactionId => Raw.AsSpan(8, StunWire.TransactionIdLength);
    public IReadOnlyList<StunAttribute> Attributes => _attributes;

    /// <summary>The header checks of RFC 8489 §6.3 on the first bytes of a datagram or stream: the two leading zero
    /// bits, the magic cookie, a length that is a multiple of 4. Returns the whole message's length, or -1.</summary>
    public static int MessageLength(ReadOnlySpan<byte> header)
    {
        if (header.Length < StunWire.HeaderLength || (header[0] & 0xC0) != 0) return -1;
        if (BinaryPrimitives.ReadUInt32BigEndian(header[4..]) != StunWire.MagicCookie) return -1;
        var length = BinaryPrimitives.ReadUInt16BigEndian(header[2..]);
        return (length & 3) != 0 ? -1 : StunWire.HeaderLength + length;
    }

    /// <summary>Parses exactly one message (a datagram, or one message cut from a stream).</summary>
    public static StunParse Parse(ReadOnlySpan<byte> data, out StunMessage? message)
    {
        message = null;
        if (MessageLength(data) != data.Length) return StunParse.NotStun;
        var raw = data.ToArray();
        var type = BinaryPrimitives.ReadUInt16BigEndian(raw);
        var attributes = new List<StunAttribute>(8);
        var at = StunWire.HeaderLength;
        var afterIntegrity = false;
        var afterIntegritySha256 = false;
        var result = StunParse.Ok;
        while (at < raw.Length)
        {
            if (raw.Length - at < 4) { result = StunParse.Malformed; break; }
            var attrType = BinaryPrimitives.ReadUInt16BigEndian(raw.AsSpan(at));
            var attrLength = BinaryPrimitives.ReadUInt16BigEndian(raw.AsSpan(at + 2));
            var padded = (attrLength + 3) & ~3;
            if (raw.Length - at - 4 < padded) { result = StunParse.Malformed; break; }
            if (attrType == StunAttr.Fingerprint)
            {
                // §14.7: the last attribute; a wrong one means this is not a STUN message
                if (attrLength != 4 || at + 8 != raw.Length) return StunParse.NotStun;
                var expected = BinaryPrimitives.ReadUInt32BigEndian(raw.AsSpan(at + 4));
                if (Fingerprint(raw.AsSpan(0, at)) != expected) return StunParse.NotStun;
                attributes.Add(new StunAttribute(attrType, at + 4, attrLength));
                break;
            }
            // §14.5/§14.6: after MESSAGE-INTEGRITY only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT count; after
            // MESSAGE-INTEGRITY-SHA256 only FINGERPRINT. Whatever else follows is ignored.
            var counted = !afterIntegritySha256 && (!afterIntegrity || attrType == StunAttr.MessageIntegritySha256);
            if (counted)
            {
                attributes.Add(new StunAttribute(attrType, at + 4, attrLength));
                if (attrType == StunAttr.MessageIntegrity) afterIntegrity = true;
                if (attrType == StunAttr.MessageIntegritySha256) afterIntegritySha256 = true;
            }
            at += 4 + padded;
        }
        message = new StunMessage(raw, StunWire.MethodOf(type), StunWire.ClassOf(type), attributes);
        return result;
    }

    // ---------------------------------------------------------------- attribute access

    public bool Has(ushort type) => Find(type) is not null;

    public StunAttribute? Find(ushort type)
    {
        foreach (var a in _attributes)
            if (a.Type == type) return a; // §14: only the first of a repeated attribute counts
        return null;
    }

    public ReadOnlySpan<byte> Value(StunAttribute a) => Raw.AsSpan(a.Offset, a.Length);

    /// <summary>A UTF-8 attribute (USERNAME, REALM, NONCE, SOFTWARE), or null when absent or not UTF-8.</summary>
    public string? Text(ushort type)
    {
        if (Find(type) is not { } a) return null;
        try
        {
            return Strict.GetString(Raw, a.Offset, a.Length);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    private static readonly UTF8Encoding Strict = new(false, true);

    /// <summary>A 32-bit attribute (LIFETIME), or null when absent or not 4 bytes.</summary>
    public uint? UInt32(ushort type) =>
        Find(type) is { Length: 4 } a ? BinaryPrimitives.ReadUInt32BigEndian(Raw.AsSpan(a.Offset)) : null;

    /// <summary>Decodes an XOR-*-ADDRESS attribute value (RFC 8489 §14.2). False when it is not a valid one.</summary>
    public bool TryXorAddress(StunAttribute a, out IPEndPoint endPoint)
    {
        endPoint = null!;
        var v = Value(a);
        if (v.Length < 4) return false;
        var port = (ushort)(BinaryPrimitives.ReadUInt16BigEndian(v[2..]) ^ (StunWire.MagicCookie >> 16));
        switch (v[1])
        {
            case StunWire.FamilyIPv4 when v.Length == 8:
                Span<byte> v4 = stackalloc byte[4];
                BinaryPrimitives.WriteUInt32BigEndian(v4, BinaryPrimitives.ReadUInt32BigEndian(v[4..]) ^ StunWire.MagicCookie);
                endPoint = new IPEndPoint(new IPAddress(v4), port);
                return true;
            case StunWire.FamilyIPv6 when v.Length == 20:
                Span<byte> v6 = stackalloc byte[16];
                BinaryPrimitives.WriteUInt32BigEndian(v6, StunWire.MagicCookie);
                TransactionId.CopyTo(v6[4..]);
                for (var i = 0; i < 16; i++) v6[i] ^= v[4 + i];
                endPoint = new IPEndPoint(new IPAddress(v6), port);
                return true;
            default:
                return false;
        }
    }

    /// <summary>Every XOR-PEER-ADDRESS (CreatePermission may carry several: RFC 8656 §9.1).</summary>
    public IEnumerable<StunAttribute> All(ushort type)
    {
        foreach (var a in _attributes)
            if (a.Type == type) yield return a;
    }

    // ---------------------------------------------------------------- integrity (RFC 8489 §14.5, §14.6)

    /// <summary>Checks MESSAGE-INTEGRITY-SHA256 when present, else MESSAGE-INTEGRITY, with <paramref name="key"/>.
    /// Returns which one was checked (the response uses the same), or 0 when neither is present or the check failed
    /// (<paramref name="valid"/> tells which).</summary>
    public ushort CheckIntegrity(ReadOnlySpan<byte> key, out bool valid)
    {
        valid = false;
        if (Find(StunAttr.MessageIntegritySha256) is { } sha)
        {
            // §14.6: 16 to 32 bytes, a multiple of 4: the leading bytes of the HMAC
            if (sha.Length is < 16 or > 32 || (sha.Length & 3) != 0) return 0;
            var mac = HmacOver(key, sha.Offset - 4, sha.Length, sha256: true);
            valid = CryptographicOperations.FixedTimeEquals(mac.AsSpan(0, sha.Length), Value(sha));
            return valid ? StunAttr.MessageIntegritySha256 : (ushort)0;
        }
        if (Find(StunAttr.MessageIntegrity) is { } mi)
        {
            if (mi.Length != 20) return 0;
            var mac = HmacOver(key, mi.Offset - 4, mi.Length, sha256: false);
            valid = CryptographicOperations.FixedTimeEquals(mac, Value(mi));
            return valid ? StunAttr.MessageIntegrity : (ushort)0;
        }
        return 0;
    }

    /// <summary>The HMAC over the message up to the attribute at <paramref name="attributeStart"/>, with the header's
    /// length set as if that attribute were the last.</summary>
    private byte[] HmacOver(ReadOnlySpan<byte> key, int attributeStart, int attributeLength, bool sha256)
    {
        var covered = Raw.AsSpan(0, attributeStart).ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(covered.AsSpan(2), (ushort)(attributeStart - StunWire.HeaderLength + 4 + attributeLength));
        return sha256 ? HMACSHA256.HashData(key, covered) : HMACSHA1.HashData(key, covered);
    }

    /// <summary>RFC 8489 §14.7: CRC-32 (ISO/IEC 13239, as in IEEE 802.3) XOR 0x5354554E over the message before
    /// FINGERPRINT, whose header's length already counts FINGERPRINT.</summary>
    public static uint Fingerprint(ReadOnlySpan<byte> before)
    {
        // the length field as written covers the FINGERPRINT attribute: the bytes are hashed as they are
        return Crc32.Compute(before) ^ StunWire.FingerprintXor;
    }
}

/// <summary>CRC-32 (reflected polynomial 0xEDB88320), the one FINGERPRINT uses.</summary>
internal static class Crc32
{
    private static readonly uint[] Table = Build();

    private static uint[] Build()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        return table;
    }

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFF;
        foreach (var b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc ^ 0xFFFFFFFF;
    }
}

using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Actors.Xmpp.Transport.Admission;

/// <summary>
/// The unit per-address limits count by: an IPv4 address (an IPv4-mapped IPv6 address counts as its IPv4 address),
/// or the /64 prefix of an IPv6 address. A /64 is what one IPv6 subscriber (one home, one phone) gets, and any address
/// in it is theirs to pick: limits keyed by the exact address would let one client rotate through 2^64 of them.
/// </summary>
public readonly record struct AddressGroup(bool IsV6, ulong Bits)
{
    public static AddressGroup Of(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        Span<byte> bytes = stackalloc byte[16];
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            address.TryWriteBytes(bytes, out _);
            return new AddressGroup(false, BinaryPrimitives.ReadUInt32BigEndian(bytes));
        }
        address.TryWriteBytes(bytes, out _);
        return new AddressGroup(true, BinaryPrimitives.ReadUInt64BigEndian(bytes)); // the /64 prefix
    }

    /// <summary>The group of <paramref name="endPoint"/>'s address; null for an endpoint that is not IP (a test's in-memory connection).</summary>
    public static AddressGroup? Of(EndPoint? endPoint) => endPoint is IPEndPoint ip ? Of(ip.Address) : null;

    public override string ToString()
    {
        if (!IsV6) return new IPAddress(BinaryPrimitives.ReverseEndianness((uint)Bits)).ToString();
        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, Bits);
        return new IPAddress(bytes).ToString() + "/64";
    }
}

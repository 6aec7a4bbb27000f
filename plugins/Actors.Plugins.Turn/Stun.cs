namespace Actors.Plugins.Turn;

/// <summary>STUN message classes (RFC 8489 §5): the two C bits of the message type.</summary>
internal enum StunClass : byte
{
    Request = 0b00,
    Indication = 0b01,
    SuccessResponse = 0b10,
    ErrorResponse = 0b11,
}

/// <summary>STUN methods (RFC 8489 §18.2 Binding; RFC 8656 §18 the TURN ones).</summary>
internal static class StunMethod
{
    public const ushort Binding = 0x001;
    public const ushort Allocate = 0x003;
    public const ushort Refresh = 0x004;
    public const ushort Send = 0x006;
    public const ushort Data = 0x007;
    public const ushort CreatePermission = 0x008;
    public const ushort ChannelBind = 0x009;
    /// <summary>RFC 6062 §6.1: Connect, ConnectionBind and the ConnectionAttempt indication (TCP relays).</summary>
    public const ushort Connect = 0x00A;
    public const ushort ConnectionBind = 0x00B;
    public const ushort ConnectionAttempt = 0x00C;
}

/// <summary>STUN attribute types (RFC 8489 §18.3, RFC 8656 §18). Below 0x8000: comprehension-required.</summary>
internal static class StunAttr
{
    public const ushort MappedAddress = 0x0001;
    public const ushort Username = 0x0006;
    public const ushort MessageIntegrity = 0x0008;
    public const ushort ErrorCode = 0x0009;
    public const ushort UnknownAttributes = 0x000A;
    public const ushort ChannelNumber = 0x000C;
    public const ushort Lifetime = 0x000D;
    public const ushort XorPeerAddress = 0x0012;
    public const ushort Data = 0x0013;
    public const ushort Realm = 0x0014;
    public const ushort Nonce = 0x0015;
    public const ushort XorRelayedAddress = 0x0016;
    public const ushort RequestedAddressFamily = 0x0017;
    public const ushort EvenPort = 0x0018;
    public const ushort RequestedTransport = 0x0019;
    public const ushort DontFragment = 0x001A;
    public const ushort MessageIntegritySha256 = 0x001C;
    public const ushort PasswordAlgorithm = 0x001D;
    public const ushort Userhash = 0x001E;
    public const ushort XorMappedAddress = 0x0020;
    public const ushort ReservationToken = 0x0022;
    /// <summary>RFC 6062 §6.2.1: the 32-bit id of a peer data connection.</summary>
    public const ushort ConnectionId = 0x002A;
    public const ushort AdditionalAddressFamily = 0x8000;
    public const ushort AddressErrorCode = 0x8001;
    public const ushort PasswordAlgorithms = 0x8002;
    public const ushort AlternateDomain = 0x8003;
    public const ushort Icmp = 0x8004;
    public const ushort Software = 0x8022;
    public const ushort AlternateServer = 0x8023;
    public const ushort Fingerprint = 0x8028;

    /// <summary>RFC 8489 §14: attributes 0x0000-0x7FFF must be understood; a request with one the server does not
    /// know gets 420.</summary>
    public static bool ComprehensionRequired(ushort type) => type < 0x8000;
}

/// <summary>STUN/TURN error codes (RFC 8489 §14.8, RFC 8656 §18.7) with their reason phrases.</summary>
internal static class StunError
{
    public const int TryAlternate = 300;
    public const int BadRequest = 400;
    public const int Unauthorized = 401;
    public const int Forbidden = 403;
    public const int UnknownAttribute = 420;
    public const int AllocationMismatch = 437;
    public const int StaleNonce = 438;
    public const int AddressFamilyNotSupported = 440;
    public const int WrongCredentials = 441;
    public const int UnsupportedTransportProtocol = 442;
    public const int PeerAddressFamilyMismatch = 443;
    /// <summary>RFC 6062 §6.3.</summary>
    public const int ConnectionAlreadyExists = 446;
    /// <summary>RFC 6062 §6.3.</summary>
    public const int ConnectionTimeoutOrFailure = 447;
    public const int AllocationQuotaReached = 486;
    public const int ServerError = 500;
    public const int InsufficientCapacity = 508;

    public static string Reason(int code) => code switch
    {
        TryAlternate => "Try Alternate",
        BadRequest => "Bad Request",
        Unauthorized => "Unauthorized",
        Forbidden => "Forbidden",
        UnknownAttribute => "Unknown Attribute",
        AllocationMismatch => "Allocation Mismatch",
        StaleNonce => "Stale Nonce",
        AddressFamilyNotSupported => "Address Family not Supported",
        WrongCredentials => "Wrong Credentials",
        UnsupportedTransportProtocol => "Unsupported Transport Protocol",
        PeerAddressFamilyMismatch => "Peer Address Family Mismatch",
        ConnectionAlreadyExists => "Connection Already Exists",
        ConnectionTimeoutOrFailure => "Connection Timeout or Failure",
        AllocationQuotaReached => "Allocation Quota Reached",
        ServerError => "Server Error",
        InsufficientCapacity => "Insufficient Capacity",
        _ => "Error",
    };
}

/// <summary>Wire constants (RFC 8489 §5-6, RFC 8656 §12).</summary>
internal static class StunWire
{
    public const uint MagicCookie = 0x2112A442;
    public const int HeaderLength = 20;
    public const int TransactionIdLength = 12;
    /// <summary>FINGERPRINT's XOR value (RFC 8489 §14.7): "STUN" in ASCII.</summary>
    public const uint FingerprintXor = 0x5354554E;
    /// <summary>ChannelData (RFC 8656 §12.4): first two bits 01 tell it from STUN. RFC 8656 §12 narrows the channel
    /// numbers to 0x4000-0x4FFF; RFC 5766's 0x4000-0x7FFF is what clients in use pick from (libwebrtc's, coturn's
    /// turnutils_uclient), so this server takes the RFC 5766 range: a client of RFC 8656 never sends a number above
    /// 0x4FFF, and everything from 0x4000 to 0x7FFF still demultiplexes as ChannelData (the two leading bits).</summary>
    public const ushort MinChannel = 0x4000;
    public const ushort MaxChannel = 0x7FFF;
    public const int ChannelDataHeaderLength = 4;
    public const byte FamilyIPv4 = 0x01;
    public const byte FamilyIPv6 = 0x02;
    /// <summary>REQUESTED-TRANSPORT's protocol number for UDP (RFC 8656 §18.6).</summary>
    public const byte TransportUdp = 17;
    /// <summary>REQUESTED-TRANSPORT's protocol number for TCP (RFC 6062 §5.1: a TCP relay).</summary>
    public const byte TransportTcp = 6;

    /// <summary>The 16-bit message type of a method and a class (RFC 8489 §5, Figure 3).</summary>
    public static ushort MessageType(ushort method, StunClass cls)
    {
        var c = (int)cls;
        return (ushort)((method & 0x000F) | ((c & 1) << 4) | ((method & 0x0070) << 1) | ((c & 2) << 7) | ((method & 0x0F80) << 2));
    }

    /// <summary>Writes a ChannelData message (RFC 8656 §12.4: channel number, length, data), over TCP padded to a
    /// multiple of 4 bytes (§12.5); returns its length.</summary>
    public static int WriteChannelData(Span<byte> into, ushort channel, ReadOnlySpan<byte> data, bool padded)
    {
        var length = ChannelDataHeaderLength + data.Length;
        var total = padded ? (length + 3) & ~3 : length;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(into, channel);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(into[2..], (ushort)data.Length);
        data.CopyTo(into[ChannelDataHeaderLength..]);
        into[length..total].Clear();
        return total;
    }

    public static ushort MethodOf(ushort type) => (ushort)((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));

    public static StunClass ClassOf(ushort type) => (StunClass)(((type & 0x0010) >> 4) | ((type & 0x0100) >> 7));
}

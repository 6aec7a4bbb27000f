using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Actors.Plugins.Turn;

namespace Actors.Plugins.Tests.Turn;

/// <summary>The turn plugin's STUN codec (RFC 8489) against the RFC 5769 test vectors, and the message rules of
/// RFC 8489 §5-6 and §14 that a server depends on.</summary>
public sealed class StunCodecSpec
{
    private const string ShortTermPassword = "VOkJxbRl1RmTxUk/WvJxBt";

    // RFC 5769 §2.1 Sample Request (SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME, MESSAGE-INTEGRITY, FINGERPRINT)
    private static readonly byte[] SampleRequest = Convert.FromHexString(
        "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74" +
        "002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020" +
        "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf");

    // RFC 5769 §2.2 Sample IPv4 Response: 192.0.2.1 port 32853
    private static readonly byte[] SampleIPv4Response = Convert.FromHexString(
        "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220" +
        "00200008" + "0001a147e112a643" +
        "000800142b91f599fd9e90c38c7489f92af9ba53f06be7d780280004c07d4c96");

    // RFC 5769 §2.3 Sample IPv6 Response: 2001:db8:1234:5678:11:2233:4455:6677 port 32853
    private static readonly byte[] SampleIPv6Response = Convert.FromHexString(
        "010100482112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220" +
        "00200014" + "0002a1470113a9faa5d3f179bc25f4b5bed2b9d9" +
        "00080014a382954e4be67bf11784c97c8292c275bfe3ed4180280004c8fb0b4c");

    // RFC 5769 §2.4 Sample Request with Long-Term Authentication
    private static readonly byte[] SampleLongTermRequest = Convert.FromHexString(
        "000100602112a44278ad3433c6ad72c029da412e00060012e3839ee38388e383aae38383e382afe382b90000" +
        "0015001c662f2f3439396b39353464364f4c33346f4c39465354767936347341" +
        "0014000b6578616d706c652e6f726700" +
        "00080014f67024656dd64a3e02b8e0712e85c9a28ca89666");

    private static byte[] ShortTermKey => Encoding.UTF8.GetBytes(ShortTermPassword); // RFC 8489 §9.1.1: the password itself

    [Fact]
    public void Rfc5769_2_1_sample_request_parses_with_valid_integrity_and_fingerprint()
    {
        Assert.Equal(StunParse.Ok, StunMessage.Parse(SampleRequest, out var m));
        Assert.Equal(StunMethod.Binding, m!.Method);
        Assert.Equal(StunClass.Request, m.Class);
        Assert.Equal(Convert.FromHexString("b7e7a701bc34d686fa87dfae"), m.TransactionId.ToArray());
        Assert.Equal("evtj:h6vY", m.Text(StunAttr.Username));
        Assert.Equal("STUN test client", m.Text(StunAttr.Software));
        Assert.Equal(StunAttr.MessageIntegrity, m.CheckIntegrity(ShortTermKey, out var valid));
        Assert.True(valid);
        Assert.True(m.Has(StunAttr.Fingerprint));
    }

    [Fact]
    public void Rfc5769_2_1_wrong_password_fails_the_integrity_check()
    {
        StunMessage.Parse(SampleRequest, out var m);
        Assert.Equal(0, m!.CheckIntegrity(Encoding.UTF8.GetBytes("not the password"), out var valid));
        Assert.False(valid);
    }

    [Fact]
    public void Rfc8489_14_7_a_wrong_fingerprint_means_not_stun()
    {
        var broken = (byte[])SampleRequest.Clone();
        broken[^1] ^= 1;
        Assert.Equal(StunParse.NotStun, StunMessage.Parse(broken, out _));
    }

    [Fact]
    public void Rfc5769_2_2_sample_ipv4_response_decodes_the_xor_mapped_address()
    {
        Assert.Equal(StunParse.Ok, StunMessage.Parse(SampleIPv4Response, out var m));
        Assert.Equal(StunClass.SuccessResponse, m!.Class);
        Assert.True(m.TryXorAddress(m.Find(StunAttr.XorMappedAddress)!.Value, out var mapped));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.1"), 32853), mapped);
        m.CheckIntegrity(ShortTermKey, out var valid);
        Assert.True(valid);
    }

    [Fact]
    public void Rfc5769_2_3_sample_ipv6_response_decodes_the_xor_mapped_address()
    {
        Assert.Equal(StunParse.Ok, StunMessage.Parse(SampleIPv6Response, out var m));
        Assert.True(m!.TryXorAddress(m.Find(StunAttr.XorMappedAddress)!.Value, out var mapped));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8:1234:5678:11:2233:4455:6677"), 32853), mapped);
        m.CheckIntegrity(ShortTermKey, out var valid);
        Assert.True(valid);
    }

    [Fact]
    public void Rfc5769_2_4_long_term_request_integrity_with_the_md5_key()
    {
        Assert.Equal(StunParse.Ok, StunMessage.Parse(SampleLongTermRequest, out var m));
        Assert.Equal("\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9", m!.Text(StunAttr.Username));
        Assert.Equal("example.org", m.Text(StunAttr.Realm));
        Assert.Equal("f//499k954d6OL34oL9FSTvy64sA", m.Text(StunAttr.Nonce));
        // RFC 8489 §9.2.2: key = MD5(username ":" realm ":" password), the password after SASLprep: "TheMatrIX"
        var key = MD5.HashData(Encoding.UTF8.GetBytes("\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9:example.org:TheMatrIX"));
        Assert.Equal(StunAttr.MessageIntegrity, m.CheckIntegrity(key, out var valid));
        Assert.True(valid);
    }

    [Fact]
    public void Rfc5769_2_2_builder_writes_the_vector_byte_for_byte()
    {
        // the vector pads SOFTWARE with a space (RFC 8489 §14: padding may be any value, and MESSAGE-INTEGRITY covers it)
        var written = new StunBuilder(StunMethod.Binding, StunClass.SuccessResponse, Convert.FromHexString("b7e7a701bc34d686fa87dfae"))
            .Bytes(StunAttr.Software, Encoding.UTF8.GetBytes("test vector"), padding: 0x20)
            .XorAddress(StunAttr.XorMappedAddress, new IPEndPoint(IPAddress.Parse("192.0.2.1"), 32853))
            .Integrity(StunAttr.MessageIntegrity, ShortTermKey)
            .Fingerprint();
        Assert.Equal(Convert.ToHexString(SampleIPv4Response), Convert.ToHexString(written.ToArray()));
    }

    [Fact]
    public void Rfc5769_2_3_builder_writes_the_ipv6_xor_mapped_address_of_the_vector()
    {
        var b = new StunBuilder(StunMethod.Binding, StunClass.SuccessResponse, Convert.FromHexString("b7e7a701bc34d686fa87dfae"))
            .XorAddress(StunAttr.XorMappedAddress, new IPEndPoint(IPAddress.Parse("2001:db8:1234:5678:11:2233:4455:6677"), 32853));
        var bytes = b.ToArray();
        Assert.Equal("002000140002A1470113A9FAA5D3F179BC25F4B5BED2B9D9", Convert.ToHexString(bytes.AsSpan(20)));
    }

    [Fact]
    public void Rfc8489_14_6_message_integrity_sha256_round_trips_and_is_checked_first()
    {
        var key = MD5.HashData(Encoding.UTF8.GetBytes("user:realm:pass"));
        var tid = RandomNumberGenerator.GetBytes(12);
        var bytes = new StunBuilder(StunMethod.Allocate, StunClass.Request, tid)
            .Text(StunAttr.Username, "user").Integrity(StunAttr.MessageIntegritySha256, key).Fingerprint().ToArray();
        Assert.Equal(StunParse.Ok, StunMessage.Parse(bytes, out var m));
        Assert.Equal(StunAttr.MessageIntegritySha256, m!.CheckIntegrity(key, out var valid));
        Assert.True(valid);
        bytes[25] ^= 1; // a changed byte of USERNAME: the HMAC no longer matches (FINGERPRINT recomputed)
        var tampered = Refingerprint(bytes);
        StunMessage.Parse(tampered, out var t);
        t!.CheckIntegrity(key, out var stillValid);
        Assert.False(stillValid);
    }

    [Fact]
    public void Rfc8489_14_5_attributes_after_message_integrity_are_ignored_except_sha256_and_fingerprint()
    {
        var key = new byte[16];
        var bytes = new StunBuilder(StunMethod.Binding, StunClass.Request, new byte[12])
            .Integrity(StunAttr.MessageIntegrity, key)
            .Text(StunAttr.Realm, "after").ToArray();
        StunMessage.Parse(bytes, out var m);
        Assert.Null(m!.Text(StunAttr.Realm));
        m.CheckIntegrity(key, out var valid);
        Assert.True(valid);
    }

    [Theory]
    [InlineData("c0010000" + "2112a442" + "000000000000000000000000")] // first two bits not zero
    [InlineData("00010000" + "2112a443" + "000000000000000000000000")] // not the magic cookie
    [InlineData("00010002" + "2112a442" + "000000000000000000000000" + "0000")] // length not a multiple of 4
    [InlineData("00010008" + "2112a442" + "000000000000000000000000")] // length beyond the datagram
    public void Rfc8489_6_3_messages_failing_the_header_checks_are_not_stun(string hex)
    {
        Assert.Equal(StunParse.NotStun, StunMessage.Parse(Convert.FromHexString(hex), out _));
    }

    [Fact]
    public void Rfc8489_14_an_attribute_running_past_the_message_is_malformed()
    {
        // USERNAME claims 16 bytes, 4 follow
        var bytes = Convert.FromHexString("00010008" + "2112a442" + "000000000000000000000000" + "00060010" + "61626364");
        Assert.Equal(StunParse.Malformed, StunMessage.Parse(bytes, out var m));
        Assert.Equal(StunMethod.Binding, m!.Method);
    }

    [Theory]
    [InlineData(StunMethod.Binding, 0b00, 0x0001)]
    [InlineData(StunMethod.Binding, 0b10, 0x0101)]
    [InlineData(StunMethod.Binding, 0b11, 0x0111)]
    [InlineData(StunMethod.Allocate, 0b00, 0x0003)]
    [InlineData(StunMethod.Send, 0b01, 0x0016)]
    [InlineData(StunMethod.Data, 0b01, 0x0017)]
    [InlineData(StunMethod.ChannelBind, 0b10, 0x0109)]
    public void Rfc8489_5_message_type_encodes_method_and_class(ushort method, byte classBits, int type)
    {
        var cls = (StunClass)classBits;
        Assert.Equal(type, StunWire.MessageType(method, cls));
        Assert.Equal(method, StunWire.MethodOf((ushort)type));
        Assert.Equal(cls, StunWire.ClassOf((ushort)type));
    }

    [Fact]
    public void Rfc8489_14_8_error_code_carries_class_number_and_reason()
    {
        var bytes = new StunBuilder(StunMethod.Allocate, StunClass.ErrorResponse, new byte[12]).Error(StunError.AllocationQuotaReached).ToArray();
        StunMessage.Parse(bytes, out var m);
        var v = m!.Value(m.Find(StunAttr.ErrorCode)!.Value);
        Assert.Equal(4, v[2]);
        Assert.Equal(86, v[3]);
        Assert.Equal("Allocation Quota Reached", Encoding.UTF8.GetString(v[4..]));
    }

    [Theory]
    [InlineData("192.0.2.7", 40000, 5)]
    [InlineData("2001:db8::7", 40001, 8)]
    public void Rfc8656_11_3_data_indication_written_in_place_carries_the_peer_and_the_data(string address, int port, int length)
    {
        var peer = new IPEndPoint(IPAddress.Parse(address), port);
        var data = RandomNumberGenerator.GetBytes(length);
        var tid = RandomNumberGenerator.GetBytes(StunWire.TransactionIdLength);
        var into = new byte[128];
        into.AsSpan().Fill(0xEE); // what was there before must not leak into the padding
        var n = StunBuilder.WriteDataIndication(into, tid, peer, data);
        Assert.Equal(0, n % 4); // RFC 8489 §14: attributes padded to 4 bytes
        Assert.Equal(StunParse.Ok, StunMessage.Parse(into.AsSpan(0, n), out var m));
        Assert.Equal(StunMethod.Data, m!.Method);
        Assert.Equal(StunClass.Indication, m.Class);
        Assert.Equal(tid, m.TransactionId.ToArray());
        Assert.True(m.TryXorAddress(m.Find(StunAttr.XorPeerAddress)!.Value, out var decoded));
        Assert.Equal(peer, decoded);
        Assert.Equal(data, m.Value(m.Find(StunAttr.Data)!.Value).ToArray());
        Assert.All(into.AsSpan(n - ((4 - length % 4) % 4), (4 - length % 4) % 4).ToArray(), b => Assert.Equal(0, b));
        // the same bytes as the general builder writes
        var built = new StunBuilder(StunMethod.Data, StunClass.Indication, tid).XorAddress(StunAttr.XorPeerAddress, peer).Bytes(StunAttr.Data, data);
        Assert.Equal(Convert.ToHexString(built.ToArray()), Convert.ToHexString(into.AsSpan(0, n)));
    }

    [Fact]
    public void Rfc8656_11_3_a_data_indication_that_does_not_fit_is_not_written()
    {
        var into = new byte[64];
        Assert.Equal(0, StunBuilder.WriteDataIndication(into, new byte[12], new IPEndPoint(IPAddress.Loopback, 1), new byte[40]));
    }

    [Theory]
    [InlineData(false, 9)]
    [InlineData(true, 12)]
    public void Rfc8656_12_4_and_12_5_channel_data_header_and_tcp_padding(bool tcp, int expected)
    {
        var into = new byte[16];
        into.AsSpan().Fill(0xEE);
        var n = StunWire.WriteChannelData(into, 0x4001, [1, 2, 3, 4, 5], padded: tcp);
        Assert.Equal(expected, n);
        Assert.Equal("4001000501020304" + "05" + (tcp ? "000000" : ""), Convert.ToHexString(into.AsSpan(0, n)));
    }

    private static byte[] Refingerprint(byte[] bytes)
    {
        var crc = StunMessage.Fingerprint(bytes.AsSpan(0, bytes.Length - 8));
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(bytes.Length - 4), crc);
        return bytes;
    }
}

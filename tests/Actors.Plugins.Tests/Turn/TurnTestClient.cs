using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Actors.Plugins.Turn;

namespace Actors.Plugins.Tests.Turn;

/// <summary>
/// A small STUN/TURN client for the tests, over UDP or TCP: requests wait for the response with their transaction id;
/// everything else the server sends (Data indications, ChannelData) is queued for <see cref="ReceiveAsync"/>.
/// Long-term credentials are a TURN REST username and password, as extdisco hands them out.
/// </summary>
internal sealed class TurnTestClient : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private readonly Socket _socket;
    private readonly IPEndPoint _server;
    private readonly ConcurrentDictionary<string, TaskCompletionSource<StunMessage>> _pending = new();
    private readonly Channel<Received> _received = Channel.CreateUnbounded<Received>();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public bool Tcp { get; }
    public string? Username { get; set; }
    public string? Password { get; set; }
    public string? Realm { get; set; }
    public string? Nonce { get; set; }
    /// <summary>MESSAGE-INTEGRITY-SHA256 instead of MESSAGE-INTEGRITY.</summary>
    public bool Sha256 { get; set; }

    /// <summary>What arrived unasked: a Data indication (peer, data) or ChannelData (channel, data).</summary>
    public sealed record Received(StunMessage? Indication, ushort Channel, byte[] Data);

    private TurnTestClient(Socket socket, IPEndPoint server, bool tcp)
    {
        _socket = socket;
        _server = server;
        Tcp = tcp;
        _loop = tcp ? TcpLoopAsync() : UdpLoopAsync();
    }

    public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    public static async Task<TurnTestClient> ConnectAsync(IPEndPoint server, bool tcp)
    {
        if (!tcp)
        {
            var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return new TurnTestClient(udp, server, false);
        }
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(server);
        return new TurnTestClient(socket, server, true);
    }

    // ---------------------------------------------------------------- sending

    public async Task SendRawAsync(ReadOnlyMemory<byte> bytes)
    {
        if (Tcp) await _socket.SendAsync(bytes, SocketFlags.None);
        else await _socket.SendToAsync(bytes, SocketFlags.None, _server);
    }

    /// <summary>Sends a request and waits for its response.</summary>
    public async Task<StunMessage> RequestAsync(byte[] request, TimeSpan? timeout = null)
    {
        var tid = Convert.ToHexString(request.AsSpan(8, 12));
        var answer = new TaskCompletionSource<StunMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[tid] = answer;
        try
        {
            await SendRawAsync(request);
            return await answer.Task.WaitAsync(timeout ?? Timeout);
        }
        finally
        {
            _pending.TryRemove(tid, out _);
        }
    }

    /// <summary>A request of <paramref name="method"/>; with credentials known, authenticated (USERNAME, REALM, NONCE,
    /// integrity), then FINGERPRINT.</summary>
    public byte[] Build(ushort method, Action<StunBuilder>? attributes = null, bool authenticate = true, byte[]? transactionId = null)
    {
        var b = new StunBuilder(method, StunClass.Request, transactionId ?? RandomNumberGenerator.GetBytes(12));
        attributes?.Invoke(b);
        if (authenticate && Username is not null && Realm is not null && Nonce is not null)
        {
            b.Text(StunAttr.Username, Username).Text(StunAttr.Realm, Realm).Text(StunAttr.Nonce, Nonce);
            b.Integrity(Sha256 ? StunAttr.MessageIntegritySha256 : StunAttr.MessageIntegrity, Key);
        }
        return b.Fingerprint().ToArray();
    }

    /// <summary>RFC 8489 §9.2.2: MD5(username ":" realm ":" password).</summary>
    public byte[] Key => MD5.HashData(Encoding.UTF8.GetBytes(Username + ":" + Realm + ":" + Password));

    /// <summary>Sends a request; on 401 or 438 takes REALM and NONCE and sends it once more, authenticated (RFC 8489
    /// §9.2.3). Returns the last response.</summary>
    public async Task<StunMessage> AuthenticatedAsync(ushort method, Action<StunBuilder>? attributes = null)
    {
        var response = await RequestAsync(Build(method, attributes));
        if (response.Class == StunClass.ErrorResponse && ErrorCode(response) is StunError.Unauthorized or StunError.StaleNonce
            && response.Text(StunAttr.Nonce) is { } nonce && response.Text(StunAttr.Realm) is { } realm)
        {
            var retry = Realm is null || Nonce != nonce;
            Realm = realm;
            Nonce = nonce;
            if (retry) response = await RequestAsync(Build(method, attributes));
        }
        return response;
    }

    public Task<StunMessage> AllocateAsync(uint? lifetime = null) => Allocated(AuthenticatedAsync(StunMethod.Allocate, b =>
    {
        b.Bytes(StunAttr.RequestedTransport, [StunWire.TransportUdp, 0, 0, 0]);
        if (lifetime is { } l) b.UInt32(StunAttr.Lifetime, l);
    }));

    /// <summary>The credentials of the allocation this UDP client made: disposing deletes it (RFC 8656 §7.5, a
    /// Refresh with LIFETIME 0), as a client that is done does. Otherwise it lives on in the shared server, and a later
    /// test's client that the OS gives the same ephemeral port has the same 5-tuple: its Allocate gets 437.</summary>
    private (string User, string Password)? _allocatedAs;

    private async Task<StunMessage> Allocated(Task<StunMessage> allocate)
    {
        var response = await allocate;
        if (!Tcp && response.Class == StunClass.SuccessResponse && Username is not null && Password is not null)
            _allocatedAs = (Username, Password);
        return response;
    }

    /// <summary>Allocate with REQUESTED-TRANSPORT <paramref name="transport"/> (RFC 6062: 6 for a TCP relay).</summary>
    public Task<StunMessage> AllocateAsync(byte transport, Action<StunBuilder>? more = null) => Allocated(AuthenticatedAsync(StunMethod.Allocate, b =>
    {
        b.Bytes(StunAttr.RequestedTransport, [transport, 0, 0, 0]);
        more?.Invoke(b);
    }));

    /// <summary>RFC 6062 §4.3: Connect to <paramref name="peer"/>.</summary>
    public Task<StunMessage> ConnectToPeerAsync(IPEndPoint peer) =>
        AuthenticatedAsync(StunMethod.Connect, b => b.XorAddress(StunAttr.XorPeerAddress, peer));

    public static uint ConnectionId(StunMessage m)
    {
        Assert.True(m.Find(StunAttr.ConnectionId) is { Length: 4 }, "no CONNECTION-ID");
        return BinaryPrimitives.ReadUInt32BigEndian(m.Value(m.Find(StunAttr.ConnectionId)!.Value));
    }

    /// <summary>RFC 6062 §4.4: a new TCP connection to the server carrying one ConnectionBind for <paramref name="id"/>
    /// with this client's credentials; returns the socket (a raw byte stream after a success) and the response.</summary>
    public async Task<(Socket Data, StunMessage Response)> ConnectionBindAsync(uint id, byte[]? thenSend = null)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(_server);
        var idBytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(idBytes, id);
        var request = Build(StunMethod.ConnectionBind, b => b.Bytes(StunAttr.ConnectionId, idBytes));
        await socket.SendAsync(thenSend is null ? request : [.. request, .. thenSend], SocketFlags.None);
        var header = await ReadExactlyAsync(socket, 20);
        var body = await ReadExactlyAsync(socket, BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(2)));
        Assert.Equal(StunParse.Ok, StunMessage.Parse([.. header, .. body], out var response));
        return (socket, response!);
    }

    public static async Task<byte[]> ReadExactlyAsync(Socket socket, int count)
    {
        var bytes = new byte[count];
        using var cts = new CancellationTokenSource(Timeout);
        var at = 0;
        while (at < count)
        {
            var n = await socket.ReceiveAsync(bytes.AsMemory(at), SocketFlags.None, cts.Token);
            if (n == 0) throw new EndOfStreamException($"closed after {at} of {count} bytes");
            at += n;
        }
        return bytes;
    }

    public async Task SendIndicationAsync(IPEndPoint peer, byte[] data)
    {
        var b = new StunBuilder(StunMethod.Send, StunClass.Indication, RandomNumberGenerator.GetBytes(12))
            .XorAddress(StunAttr.XorPeerAddress, peer).Bytes(StunAttr.Data, data);
        await SendRawAsync(b.ToArray());
    }

    /// <summary>ChannelData (RFC 8656 §12.4), padded to 4 bytes over TCP (§12.5).</summary>
    public async Task SendChannelDataAsync(ushort channel, byte[] data)
    {
        var length = 4 + data.Length;
        var bytes = new byte[Tcp ? (length + 3) & ~3 : length];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, channel);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(2), (ushort)data.Length);
        data.CopyTo(bytes, 4);
        await SendRawAsync(bytes);
    }

    public async Task<Received> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Timeout);
        return await _received.Reader.ReadAsync(cts.Token);
    }

    /// <summary>True when nothing unasked arrives within <paramref name="quiet"/>.</summary>
    public async Task<bool> NothingWithin(TimeSpan quiet)
    {
        try
        {
            await ReceiveAsync(quiet);
            return false;
        }
        catch (OperationCanceledException)
        {
            return true;
        }
    }

    // ---------------------------------------------------------------- answers

    public static int ErrorCode(StunMessage m)
    {
        if (m.Find(StunAttr.ErrorCode) is not { } a) return 0;
        var v = m.Value(a);
        return (v[2] & 7) * 100 + v[3];
    }

    public static IPEndPoint Address(StunMessage m, ushort type)
    {
        Assert.True(m.Find(type) is { } a && m.TryXorAddress(a, out _), $"no {type:x4} in the response");
        m.TryXorAddress(m.Find(type)!.Value, out var endPoint);
        return endPoint;
    }

    // ---------------------------------------------------------------- receiving

    private async Task UdpLoopAsync()
    {
        var buffer = new byte[65536];
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult r;
            try
            {
                r = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
            {
                continue;
            }
            catch (Exception)
            {
                return;
            }
            Dispatch(buffer.AsSpan(0, r.ReceivedBytes));
        }
    }

    private async Task TcpLoopAsync()
    {
        var buffer = new byte[140000];
        var filled = 0;
        while (!_stop.IsCancellationRequested)
        {
            int n;
            try
            {
                n = await _socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, _stop.Token);
            }
            catch (Exception)
            {
                return;
            }
            if (n == 0) return;
            filled += n;
            var at = 0;
            while (filled - at >= 4)
            {
                var span = buffer.AsSpan(at, filled - at);
                int length;
                if ((span[0] & 0xC0) == 0x40)
                {
                    var dataLength = BinaryPrimitives.ReadUInt16BigEndian(span[2..]);
                    length = (4 + dataLength + 3) & ~3; // §12.5: padded over TCP
                    if (span.Length < length) break;
                    Dispatch(span[..(4 + dataLength)]);
                }
                else
                {
                    if (span.Length < 20) break;
                    length = 20 + BinaryPrimitives.ReadUInt16BigEndian(span[2..]);
                    if (span.Length < length) break;
                    Dispatch(span[..length]);
                }
                at += length;
            }
            buffer.AsSpan(at, filled - at).CopyTo(buffer);
            filled -= at;
        }
    }

    private void Dispatch(ReadOnlySpan<byte> bytes)
    {
        if ((bytes[0] & 0xC0) == 0x40)
        {
            var channel = BinaryPrimitives.ReadUInt16BigEndian(bytes);
            var length = BinaryPrimitives.ReadUInt16BigEndian(bytes[2..]);
            _received.Writer.TryWrite(new Received(null, channel, bytes.Slice(4, length).ToArray()));
            return;
        }
        if (StunMessage.Parse(bytes, out var m) != StunParse.Ok || m is null) return;
        if (m.Class is StunClass.SuccessResponse or StunClass.ErrorResponse)
        {
            if (_pending.TryGetValue(Convert.ToHexString(m.TransactionId), out var answer)) answer.TrySetResult(m);
            return;
        }
        var data = m.Find(StunAttr.Data) is { } d ? m.Value(d).ToArray() : [];
        _received.Writer.TryWrite(new Received(m, 0, data));
    }

    public async ValueTask DisposeAsync()
    {
        if (_allocatedAs is { } owner && Realm is not null && Nonce is not null)
        {
            (Username, Password) = owner;
            try
            {
                await RequestAsync(Build(StunMethod.Refresh, b => b.UInt32(StunAttr.Lifetime, 0)), TimeSpan.FromSeconds(2));
            }
            catch (Exception ex) when (ex is TimeoutException or SocketException or ObjectDisposedException)
            {
                // gone already (deleted, expired, the server stopped): nothing to delete
            }
        }
        _stop.Cancel();
        _socket.Dispose();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }
        _stop.Dispose();
    }
}

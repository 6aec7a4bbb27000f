using System.Net.Sockets;

namespace Actors.Xmpp.Transport.Streams;

/// <summary>
/// The server side of an RFC 1928 SOCKS5 handshake as XEP-0065 uses it: the client offers its methods (§3), the server
/// picks "no authentication required" (X'00') or answers X'FF' and closes; the client sends one request (§4), which
/// must be CONNECT (X'01') to a DOMAINNAME (X'03'), whose name is the bytestream's hash (XEP-0065 §5.3.2: 40 hex
/// digits); the server answers (§6) with X'00' and BND.ADDR/BND.PORT set to the request's DST.ADDR/DST.PORT (XEP-0065
/// §6.3.2 MUST), or with a failure code, after which it closes the connection (§6 MUST). Everything the client sends
/// is bounded (a greeting of at most 257 bytes, a request of at most 262) and must arrive within the timeout.
/// Runs on its own task, never on an actor's thread.
/// </summary>
public static class Socks5Handshake
{
    public const byte Version = 0x05;
    public const byte MethodNoAuthentication = 0x00;
    public const byte MethodNoneAcceptable = 0xFF;
    public const byte CommandConnect = 0x01;
    public const byte AddressIPv4 = 0x01;
    public const byte AddressDomainName = 0x03;
    public const byte AddressIPv6 = 0x04;

    /// <summary>RFC 1928 §6 reply codes.</summary>
    public const byte Succeeded = 0x00, GeneralFailure = 0x01, NotAllowedByRuleset = 0x02, CommandNotSupported = 0x07,
        AddressTypeNotSupported = 0x08;

    /// <summary>The length of a hex-encoded SHA-1 (XEP-0065 §5.3.2).</summary>
    public const int HashLength = 40;

    /// <summary>
    /// Runs the handshake on <paramref name="socket"/>. With a valid request, <paramref name="claim"/> is asked whether
    /// the hash takes this connection (it keeps the socket when it answers true); the reply follows its answer (X'02'
    /// when it refuses). Returns true when the socket was claimed (it is the claimer's from then on, even when the reply
    /// could not be written: the socket is closed then and the claimer finds it so); otherwise the socket has been closed.
    /// </summary>
    public static async Task<bool> AcceptAsync(Socket socket, TimeSpan timeout, Func<string, Socket, Task<bool>> claim)
    {
        using var deadline = new CancellationTokenSource(timeout);
        var buffer = new byte[262];
        var claimed = false;
        try
        {
            socket.NoDelay = true;
            // §3: VER, NMETHODS, METHODS
            await ReadExactlyAsync(socket, buffer.AsMemory(0, 2), deadline.Token).ConfigureAwait(false);
            if (buffer[0] != Version || buffer[1] == 0) return Close(socket);
            int methods = buffer[1];
            await ReadExactlyAsync(socket, buffer.AsMemory(0, methods), deadline.Token).ConfigureAwait(false);
            if (Array.IndexOf(buffer, MethodNoAuthentication, 0, methods) < 0)
            {
                // "If the selected METHOD is X'FF', none of the methods listed by the client are acceptable, and the
                // client MUST close the connection": we close our side too
                await SendAsync(socket, new byte[] { Version, MethodNoneAcceptable }, deadline.Token).ConfigureAwait(false);
                return Close(socket);
            }
            await SendAsync(socket, new byte[] { Version, MethodNoAuthentication }, deadline.Token).ConfigureAwait(false);

            // §4: VER, CMD, RSV, ATYP, DST.ADDR, DST.PORT
            await ReadExactlyAsync(socket, buffer.AsMemory(0, 4), deadline.Token).ConfigureAwait(false);
            if (buffer[0] != Version) return Close(socket);
            var command = buffer[1];
            var addressType = buffer[3];
            if (addressType != AddressDomainName)
            {
                // skip nothing more: the reply refuses and the connection closes (IPv4 and IPv6 cannot name a hash)
                return await FailAsync(socket, AddressTypeNotSupported, deadline.Token).ConfigureAwait(false);
            }
            await ReadExactlyAsync(socket, buffer.AsMemory(4, 1), deadline.Token).ConfigureAwait(false);
            int nameLength = buffer[4];
            await ReadExactlyAsync(socket, buffer.AsMemory(5, nameLength + 2), deadline.Token).ConfigureAwait(false);
            var requestLength = 5 + nameLength + 2;
            if (command != CommandConnect) return await FailAsync(socket, CommandNotSupported, deadline.Token).ConfigureAwait(false);
            var hash = HashOf(buffer.AsSpan(5, nameLength));
            if (hash is null) return await FailAsync(socket, NotAllowedByRuleset, deadline.Token).ConfigureAwait(false);
            claimed = await claim(hash, socket).ConfigureAwait(false);
            if (!claimed)
                return await FailAsync(socket, NotAllowedByRuleset, deadline.Token).ConfigureAwait(false);
            // §6: VER, REP, RSV, ATYP, BND.ADDR, BND.PORT = the request's own address and port (XEP-0065 MUST)
            buffer[1] = Succeeded;
            buffer[2] = 0;
            await SendAsync(socket, buffer.AsMemory(0, requestLength), deadline.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException or EndOfStreamException)
        {
            Close(socket); // a peer that went away, sent too little in time, or a claimed socket closed meanwhile
            return claimed;
        }
    }

    /// <summary>The hash a DOMAINNAME names, in lower case; null unless it is 40 hex digits.</summary>
    public static string? HashOf(ReadOnlySpan<byte> name)
    {
        if (name.Length != HashLength) return null;
        Span<char> chars = stackalloc char[HashLength];
        for (var i = 0; i < name.Length; i++)
        {
            var c = (char)name[i];
            if (c is >= '0' and <= '9' or >= 'a' and <= 'f') chars[i] = c;
            else if (c is >= 'A' and <= 'F') chars[i] = (char)(c + ('a' - 'A'));
            else return null;
        }
        return new string(chars);
    }

    private static async Task<bool> FailAsync(Socket socket, byte reply, CancellationToken token)
    {
        // §6: a failure reply (BND fields of the IPv4 form, all zero), then the server MUST close the connection
        await SendAsync(socket, new byte[] { Version, reply, 0, AddressIPv4, 0, 0, 0, 0, 0, 0 }, token).ConfigureAwait(false);
        return Close(socket);
    }

    private static async Task ReadExactlyAsync(Socket socket, Memory<byte> into, CancellationToken token)
    {
        while (into.Length > 0)
        {
            var n = await socket.ReceiveAsync(into, SocketFlags.None, token).ConfigureAwait(false);
            if (n == 0) throw new EndOfStreamException();
            into = into[n..];
        }
    }

    private static async Task SendAsync(Socket socket, ReadOnlyMemory<byte> bytes, CancellationToken token)
    {
        while (bytes.Length > 0)
        {
            var n = await socket.SendAsync(bytes, SocketFlags.None, token).ConfigureAwait(false);
            bytes = bytes[n..];
        }
    }

    /// <summary>Shuts the socket down and closes it; safe to call on a socket closed already.</summary>
    public static bool Close(Socket socket)
    {
        try { socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
        socket.Dispose();
        return false;
    }
}

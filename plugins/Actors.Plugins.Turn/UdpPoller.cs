using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Actors.Plugins.Turn;

/// <summary>A UDP socket the <see cref="UdpPoller"/> reads: what to do when a datagram is waiting on it. Called on the
/// poller's thread only, one at a time, so it may keep per-socket state without locks.</summary>
internal abstract class PolledSocket(Socket socket)
{
    public Socket Socket => socket;
    internal ulong Id { get; set; }

    /// <summary>Reads one datagram from <see cref="Socket"/> (it is readable) and handles it. <paramref name="buffer"/>
    /// and <paramref name="scratch"/> are the poller's, reused for every datagram.</summary>
    public abstract void OnReadable(byte[] buffer, byte[] scratch);
}

/// <summary>
/// Linux: one thread waits in <c>epoll</c> for every UDP socket of the TURN server (the listener and the relays of UDP
/// clients) and reads the ready ones synchronously, the way coturn's relay threads do. A relayed datagram then costs a
/// <c>recvfrom</c> and a <c>sendto</c> on this thread, where an awaited <c>ReceiveFromAsync</c> costs the runtime's
/// epoll thread, a thread-pool hand-off and a wake-up per datagram (docs/benchmarks.md, "TURN relay"). Level-triggered:
/// a socket with more datagrams waiting is reported again by the next <c>epoll_wait</c>, one datagram per socket per
/// round, so one busy peer cannot starve the others. Sockets added here are never used with async socket calls (that
/// would hand them to the runtime's own epoll). <see cref="TryCreate"/> returns null elsewhere (other systems, other
/// C libraries): the server then runs an async receive loop per socket.
/// </summary>
internal sealed class UdpPoller : IDisposable
{
    private const int EpollCtlAdd = 1;
    private const int EpollCtlDel = 2;
    private const uint EpollIn = 0x001;
    private const int EpollCloExec = 0x80000;
    private const int EIntr = 4;
    private const int MaxEvents = 64;
    private const int MaxDatagram = 65535;
    /// <summary>The id of the wake-up socket: a datagram on it makes the thread look at <see cref="_stopping"/>.</summary>
    private const ulong WakeId = 0;

    // struct epoll_event { uint32_t events; epoll_data_t data; }: packed on x86-64 (12 bytes), naturally aligned elsewhere
    private static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    private static readonly int DataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    private readonly int _epoll;
    private readonly ConcurrentDictionary<ulong, PolledSocket> _sockets = new();
    private readonly Socket _wake;
    private readonly Thread _thread;
    private readonly ILogger _log;
    private long _nextId;
    private volatile bool _stopping;

    private UdpPoller(int epoll, ILogger log)
    {
        _epoll = epoll;
        _log = log;
        _wake = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _wake.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        Control(EpollCtlAdd, _wake, WakeId);
        _thread = new Thread(Run) { IsBackground = true, Name = "turn-udp" };
    }

    /// <summary>A poller with its thread started, or null where epoll is not there (then the caller reads with async
    /// loops).</summary>
    public static UdpPoller? TryCreate(ILogger log)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture is not (Architecture.X64 or Architecture.Arm64))
            return null;
        int epoll;
        try
        {
            epoll = Native.epoll_create1(EpollCloExec);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
        if (epoll < 0) return null;
        var poller = new UdpPoller(epoll, log);
        poller._thread.Start();
        return poller;
    }

    /// <summary>Starts reading <paramref name="target"/>'s socket on the poller's thread.</summary>
    public void Add(PolledSocket target)
    {
        var id = (ulong)Interlocked.Increment(ref _nextId);
        target.Id = id;
        _sockets[id] = target;
        Control(EpollCtlAdd, target.Socket, id);
    }

    /// <summary>Stops reading <paramref name="target"/>'s socket (before it is closed). A readiness already reported for
    /// it finds no target and is skipped.</summary>
    public void Remove(PolledSocket target)
    {
        if (!_sockets.TryRemove(target.Id, out _)) return;
        try
        {
            Control(EpollCtlDel, target.Socket, target.Id);
        }
        catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
        {
            // closed already: the kernel dropped it from the set with its last descriptor
        }
    }

    private void Control(int op, Socket socket, ulong id)
    {
        var ev = new byte[EventSize];
        BinaryPrimitives.WriteUInt32LittleEndian(ev, EpollIn);
        BitConverter.TryWriteBytes(ev.AsSpan(DataOffset), id);
        var handle = socket.SafeHandle;
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            if (Native.epoll_ctl(_epoll, op, (int)handle.DangerousGetHandle(), ev) != 0)
                throw new SocketException(Marshal.GetLastPInvokeError());
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }

    private void Run()
    {
        var events = new byte[EventSize * MaxEvents];
        var buffer = new byte[MaxDatagram];
        var scratch = new byte[MaxDatagram + 64];
        while (!_stopping)
        {
            var n = Native.epoll_wait(_epoll, events, MaxEvents, -1);
            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() == EIntr) continue;
                _log.LogError("TURN: epoll_wait failed ({Error}); UDP relaying stopped", Marshal.GetLastPInvokeError());
                return;
            }
            for (var i = 0; i < n && !_stopping; i++)
            {
                var id = BitConverter.ToUInt64(events, i * EventSize + DataOffset);
                if (id == WakeId)
                {
                    Drain(_wake, buffer);
                    continue;
                }
                if (!_sockets.TryGetValue(id, out var target)) continue; // removed since
                try
                {
                    target.OnReadable(buffer, scratch);
                }
                catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
                {
                    // closed by a deletion while this round was under way
                }
                catch (Exception ex)
                {
                    _log.LogWarning(ex, "TURN: a datagram failed");
                }
            }
        }
        Native.close(_epoll);
        _wake.Dispose();
    }

    private static void Drain(Socket socket, byte[] buffer)
    {
        try
        {
            socket.Receive(buffer);
        }
        catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
        {
        }
    }

    /// <summary>Ends the thread without waiting for it: a datagram to the wake-up socket makes it look at the flag, and
    /// it closes the epoll descriptor and that socket on its way out. The sockets read are their owners' to close.</summary>
    public void Dispose()
    {
        _stopping = true;
        _sockets.Clear();
        try
        {
            _wake.SendTo([0], _wake.LocalEndPoint!);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }

    private static class Native
    {
        [DllImport("libc.so.6", SetLastError = true)]
        public static extern int epoll_create1(int flags);

        [DllImport("libc.so.6", SetLastError = true)]
        public static extern int epoll_ctl(int epfd, int op, int fd, byte[] ev);

        [DllImport("libc.so.6", SetLastError = true)]
        public static extern int epoll_wait(int epfd, byte[] events, int maxevents, int timeout);

        [DllImport("libc.so.6")]
        public static extern int close(int fd);
    }
}

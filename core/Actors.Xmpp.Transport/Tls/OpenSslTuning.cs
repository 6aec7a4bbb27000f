using System.Net.Security;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Actors.Xmpp.Transport.Tls;

/// <summary>
/// Per-connection OpenSSL memory settings .NET does not expose, for the <c>SSL*</c> behind an <see cref="SslStream"/>
/// (Linux). Best effort: on other platforms, or if the runtime's internals change, nothing happens.
/// <list type="bullet">
/// <item><see cref="ReleaseBuffersWhenIdle"/>: SSL_MODE_RELEASE_BUFFERS. An idle TLS session otherwise keeps OpenSSL's
/// read and write record buffers (16.7 + 16.6 KB measured) for its whole life; the mode frees them whenever they are
/// empty, which is most of the time for an idle XMPP client.</item>
/// <item><see cref="ReleaseIdleBioBuffers"/>: SslStream feeds OpenSSL through two memory BIOs (encrypted bytes in, and
/// out). Their buffers only grow: each keeps the size of the largest record that went through it — 1.4 KB for the
/// two after a handshake, ≈40 KB after one 30 KB write — for the connection's life. This frees them when empty
/// (OpenSSL 3). It swaps a BIO's buffer from outside SslStream, which is safe only because SslStream encrypts and
/// decrypts under its own lock (_handshakeLock), taken here too. That is an internal of the runtime: a runtime that
/// no longer held that lock would have OpenSSL use a freed buffer. So it runs only on the runtime versions it was
/// checked against (<see cref="CheckedRuntimes"/>) and is off on any other, whatever the reflection finds; the
/// server logs which at start (<see cref="Describe"/>).</item>
/// </list>
/// </summary>
public static class OpenSslTuning
{
    /// <summary>Runtime versions (major.minor) whose SslStream was read for the locking <see cref="ReleaseIdleBioBuffers"/>
    /// relies on. A new runtime is added here only after its SslStream has been read again.</summary>
    public static readonly IReadOnlyList<Version> CheckedRuntimes = [new(10, 0)];

    /// <summary>True when <see cref="ReleaseIdleBioBuffers"/> runs: a checked runtime, its SslStream members found,
    /// on Linux.</summary>
    public static bool BioReleaseEnabled => BioRelease.Value;

    // lazily: the static fields it reads are initialized further down
    private static readonly Lazy<bool> BioRelease = new(() => ComputeBioReleaseEnabled(Environment.Version));

    internal static bool IsCheckedRuntime(Version runtime)
    {
        foreach (var v in CheckedRuntimes)
            if (v.Major == runtime.Major && v.Minor == runtime.Minor) return true;
        return false;
    }

    private static bool ComputeBioReleaseEnabled(Version runtime) =>
        OperatingSystem.IsLinux() && IsCheckedRuntime(runtime) && HandshakeLock is not null && HandshakeWaiter is not null;

    /// <summary>One line for the start-up log: whether the BIO buffer release is on, and why not when it is off.</summary>
    public static string Describe()
    {
        var runtime = Environment.Version;
        if (BioReleaseEnabled) return $"OpenSSL idle buffer release on (runtime {runtime}, a checked version)";
        if (!OperatingSystem.IsLinux()) return "OpenSSL idle buffer release off (not Linux)";
        if (!IsCheckedRuntime(runtime))
            return $"OpenSSL idle buffer release off: runtime {runtime} is not among the checked versions ({string.Join(", ", CheckedRuntimes)})";
        return $"OpenSSL idle buffer release off: runtime {runtime}'s SslStream lacks the members it relies on";
    }

    private const int SslCtrlMode = 33;               // SSL_CTRL_MODE
    private const long SslModeReleaseBuffers = 0x10;  // SSL_MODE_RELEASE_BUFFERS
    private const int BioTypeMem = 1 | 0x0400;        // BIO_TYPE_MEM
    private const int BioFlagsMemReadOnly = 0x200;    // BIO_FLAGS_MEM_RDONLY
    private const int BioCtrlGetClose = 8;            // BIO_CTRL_GET_CLOSE
    private const int BioCtrlPending = 10;            // BIO_CTRL_PENDING
    private const int BioCSetBufMem = 114;            // BIO_C_SET_BUF_MEM
    private const int BioCGetBufMemPtr = 115;         // BIO_C_GET_BUF_MEM_PTR
    private const int BioClose = 1;                   // BIO_CLOSE

    internal static bool ReleaseBuffersWhenIdle(SslStream stream) =>
        TlsChannelBinding.WithSsl(stream, static ssl => TlsChannelBinding.LoadedLibSsl.Value switch
        {
            // the libssl the runtime loaded: an SSL* must never reach another OpenSSL version
            "3" => Ssl3.SSL_ctrl(ssl, SslCtrlMode, (nint)SslModeReleaseBuffers, IntPtr.Zero) != 0,
            "1.1" => Ssl11.SSL_ctrl(ssl, SslCtrlMode, (nint)SslModeReleaseBuffers, IntPtr.Zero) != 0,
            _ => false,
        });

    // SslStream encrypts and decrypts under lock (_handshakeLock), the only places it touches the SSL* and its BIOs
    // once authenticated, except a post-handshake exchange, which runs outside the lock while _handshakeWaiter is set.
    private static readonly Func<SslStream, object>? HandshakeLock = CreateGetter<object>(
        typeof(SslStream).GetProperty("_handshakeLock", BindingFlags.NonPublic | BindingFlags.Instance)?.GetMethod);
    private static readonly FieldInfo? HandshakeWaiter =
        typeof(SslStream).GetField("_handshakeWaiter", BindingFlags.NonPublic | BindingFlags.Instance);

    private static Func<SslStream, T>? CreateGetter<T>(MethodInfo? getter) =>
        getter is not null && getter.ReturnType == typeof(T) ? getter.CreateDelegate<Func<SslStream, T>>() : null;

    /// <summary>
    /// Frees the buffers of the two memory BIOs between <paramref name="stream"/> and OpenSSL if they hold no bytes
    /// (they are reallocated, at the size needed, by the next record). Safe to call from any thread while reads and
    /// writes go on: it takes the stream's own encrypt/decrypt lock, and does nothing while a post-handshake exchange
    /// runs. Returns how many buffers were freed (0 when not possible here).
    /// </summary>
    internal static int ReleaseIdleBioBuffers(SslStream stream)
    {
        if (!BioReleaseEnabled || HandshakeLock is null || HandshakeWaiter is null || !stream.IsAuthenticated) return 0;
        lock (HandshakeLock(stream))
        {
            if (HandshakeWaiter.GetValue(stream) is not null) return 0;
            // OpenSSL 3 only: the memory BIO internals this relies on were checked against 3.x (1.1.1 is end of life)
            return TlsChannelBinding.WithSsl(stream, static ssl => TlsChannelBinding.LoadedLibSsl.Value == "3"
                ? Release(Ssl3.SSL_get_rbio(ssl)) + Release(Ssl3.SSL_get_wbio(ssl))
                : 0);
        }
    }

    /// <summary>
    /// Bytes allocated for the buffers of the read and write memory BIOs behind <paramref name="stream"/> (their
    /// BUF_MEM's max); null where that cannot be read here. For tests and diagnostics.
    /// </summary>
    internal static (long Read, long Write)? BioBufferBytes(SslStream stream)
    {
        if (HandshakeLock is null || !stream.IsAuthenticated) return null;
        lock (HandshakeLock(stream))
        {
            return TlsChannelBinding.WithSsl(stream, static ssl => TlsChannelBinding.LoadedLibSsl.Value == "3"
                ? ((long Read, long Write)?)(Allocated(Ssl3.SSL_get_rbio(ssl)), Allocated(Ssl3.SSL_get_wbio(ssl)))
                : null);
        }

        static long Allocated(IntPtr bio) =>
            bio != IntPtr.Zero && Crypto3.BIO_method_type(bio) == BioTypeMem
            && Crypto3.BIO_ctrl(bio, BioCGetBufMemPtr, 0, out var current) == 1 ? BufMemMax(current) : -1;
    }

    /// <summary>Swaps an empty BUF_MEM into a memory BIO that holds no bytes; the BIO frees its old one (BIO_CLOSE).</summary>
    private static int Release(IntPtr bio)
    {
        if (bio == IntPtr.Zero
            || Crypto3.BIO_method_type(bio) != BioTypeMem || Crypto3.BIO_test_flags(bio, BioFlagsMemReadOnly) != 0
            || Crypto3.BIO_ctrl(bio, BioCtrlGetClose, 0, IntPtr.Zero) != BioClose
            || Crypto3.BIO_ctrl(bio, BioCtrlPending, 0, IntPtr.Zero) != 0
            || Crypto3.BIO_ctrl(bio, BioCGetBufMemPtr, 0, out var current) != 1 || BufMemMax(current) == 0)
            return 0;
        var fresh = Crypto3.BUF_MEM_new();
        if (fresh == IntPtr.Zero) return 0;
        Crypto3.BIO_ctrl(bio, BioCSetBufMem, BioClose, fresh);
        return 1;
    }

    // struct buf_mem_st { size_t length; char *data; size_t max; unsigned long flags; }
    private static nint BufMemMax(IntPtr bufMem) => bufMem == IntPtr.Zero ? 0 : Marshal.ReadIntPtr(bufMem, 2 * IntPtr.Size);

    private static class Ssl3
    {
        [DllImport("libssl.so.3", CallingConvention = CallingConvention.Cdecl)]
        public static extern nint SSL_ctrl(IntPtr ssl, int cmd, nint larg, IntPtr parg);
        [DllImport("libssl.so.3", CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr SSL_get_rbio(IntPtr ssl);
        [DllImport("libssl.so.3", CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr SSL_get_wbio(IntPtr ssl);
    }

    private static class Ssl11
    {
        [DllImport("libssl.so.1.1", CallingConvention = CallingConvention.Cdecl)]
        public static extern nint SSL_ctrl(IntPtr ssl, int cmd, nint larg, IntPtr parg);
    }

    private static class Crypto3
    {
        [DllImport("libcrypto.so.3", CallingConvention = CallingConvention.Cdecl)]
        public static extern nint BIO_ctrl(IntPtr bio, int cmd, nint larg, IntPtr parg);
        [DllImport("libcrypto.so.3", CallingConvention = CallingConvention.Cdecl)]
        public static extern nint BIO_ctrl(IntPtr bio, int cmd, nint larg, out IntPtr parg);
        [DllImport("libcrypto.so.3", CallingConvention = CallingConvention.Cdecl)]
        public static extern int BIO_method_type(IntPtr bio);
        [DllImport("libcrypto.so.3", CallingConvention = CallingConvention.Cdecl)]
        public static extern int BIO_test_flags(IntPtr bio, int flags);
        [DllImport("libcrypto.so.3", CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr BUF_MEM_new();
    }
}

using System.Net.Security;
using System.Runtime.InteropServices;

namespace Actors.Xmpp.Transport.Tls;

/// <summary>
/// Per-connection OpenSSL settings .NET does not expose. An idle TLS session otherwise keeps OpenSSL's read and
/// write record buffers (about 34 KB) for its whole life; SSL_MODE_RELEASE_BUFFERS frees them whenever they are
/// empty, which is most of the time for an idle XMPP client. Best effort: on other platforms, or if the runtime's
/// internals change, nothing happens.
/// </summary>
internal static class OpenSslTuning
{
    private const int SslCtrlMode = 33;          // SSL_CTRL_MODE
    private const long SslModeReleaseBuffers = 0x10; // SSL_MODE_RELEASE_BUFFERS

    public static bool ReleaseBuffersWhenIdle(SslStream stream) =>
        TlsChannelBinding.WithSsl(stream, ssl => TlsChannelBinding.LoadedLibSsl.Value switch
        {
            // the libssl the runtime loaded: an SSL* must never reach another OpenSSL version
            "3" => Ssl3.SSL_ctrl(ssl, SslCtrlMode, (nint)SslModeReleaseBuffers, IntPtr.Zero) != 0,
            "1.1" => Ssl11.SSL_ctrl(ssl, SslCtrlMode, (nint)SslModeReleaseBuffers, IntPtr.Zero) != 0,
            _ => false,
        });

    private static class Ssl3
    {
        [DllImport("libssl.so.3", CallingConvention = CallingConvention.Cdecl)]
        public static extern nint SSL_ctrl(IntPtr ssl, int cmd, nint larg, IntPtr parg);
    }

    private static class Ssl11
    {
        [DllImport("libssl.so.1.1", CallingConvention = CallingConvention.Cdecl)]
        public static extern nint SSL_ctrl(IntPtr ssl, int cmd, nint larg, IntPtr parg);
    }
}

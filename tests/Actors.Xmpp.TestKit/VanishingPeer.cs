using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Actors.Xmpp.Testing;

/// <summary>
/// A TCP peer that vanishes without closing (a pulled cable, a phone gone out of coverage), on loopback and without
/// privileges: a socket filter (Linux SO_ATTACH_FILTER) that drops every packet arriving for the socket, so that its
/// kernel neither delivers, answers nor acknowledges anything, and nothing is sent from it any more unless the test
/// writes. Only the other end's dead-peer detection (TCP keep-alive, a write that is never acknowledged) can end the
/// connection.
/// </summary>
public static class VanishingPeer
{
    /// <summary>Whether <see cref="Vanish"/> works here.</summary>
    public static bool Supported => OperatingSystem.IsLinux();

    public static void Vanish(Socket socket)
    {
        if (!Supported) throw new PlatformNotSupportedException("VanishingPeer attaches a Linux socket filter");
        const int SolSocket = 1, SoAttachFilter = 26;
        // one classic BPF instruction, "ret #0" (struct sock_filter { u16 code = BPF_RET|BPF_K; u8 jt, jf; u32 k = 0 }):
        // keep nothing of any packet
        var program = Marshal.AllocHGlobal(8);
        try
        {
            Marshal.WriteInt64(program, 0x06);
            // struct sock_fprog { unsigned short len; struct sock_filter *filter; }; the kernel copies the program
            var fprog = new byte[2 * IntPtr.Size];
            BitConverter.TryWriteBytes(fprog.AsSpan(0, 2), (ushort)1);
            if (IntPtr.Size == 8) BitConverter.TryWriteBytes(fprog.AsSpan(8), program.ToInt64());
            else BitConverter.TryWriteBytes(fprog.AsSpan(4), program.ToInt32());
            socket.SetRawSocketOption(SolSocket, SoAttachFilter, fprog);
        }
        finally
        {
            Marshal.FreeHGlobal(program);
        }
    }
}

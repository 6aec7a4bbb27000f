using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Actors.Benchmarks.IdleConnections;

/// <summary>The load tools' command-line options (--name value).</summary>
internal static class ToolArgs
{
    /// <summary>The value after --<paramref name="name"/>; <paramref name="fallback"/> when the option is absent, and
    /// without one an error that names it.</summary>
    public static string Get(string[] args, string name, string? fallback = null)
    {
        var i = Array.IndexOf(args, "--" + name);
        if (i >= 0 && i + 1 < args.Length) return args[i + 1];
        return fallback ?? throw new ArgumentException("--" + name + " is required");
    }
}

internal static class Counters
{
    public static long Stanzas;
    public static long Opened;
    public static long Closed;
}

internal static class Wire
{
    public static readonly byte[] ClientHello = Encoding.UTF8.GetBytes(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' " +
        "to='example.com' version='1.0'><message to='romeo@example.com' type='chat' id='m1'><body>hi</body></message>");

    public static readonly byte[] StartTlsRequest = Encoding.UTF8.GetBytes(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' " +
        "to='example.com' version='1.0'><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");

    public static readonly byte[] Proceed = Encoding.UTF8.GetBytes("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");

    public static byte[] Whitespace(int bytes)
    {
        var b = new byte[bytes];
        b.AsSpan().Fill((byte)' ');
        return b;
    }

    public static readonly byte[] ServerHeader = Encoding.UTF8.GetBytes(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' " +
        "from='example.com' id='s1' version='1.0'>");
}

internal static class Mem
{
    public static long RssBytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim()) * 1024;
        return -1;
    }

    /// <summary>
    /// Bytes glibc's malloc has handed out and not got back (mallinfo2: uordblks + hblkhd), i.e. live native
    /// allocations (OpenSSL, the runtime's native parts); RSS minus the managed heap minus this is mostly allocator
    /// overhead and fragmentation, stacks and mapped code. -1 where glibc's mallinfo2 is missing.
    /// </summary>
    public static long NativeInUseBytes()
    {
        try
        {
            var mi = MallInfo2();
            return (long)(mi.Uordblks + mi.Hblkhd);
        }
        catch (EntryPointNotFoundException) { return -1; }
        catch (DllNotFoundException) { return -1; }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MallInfo2Struct
    {
        public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost;
    }

    [DllImport("libc", EntryPoint = "mallinfo2")]
    private static extern MallInfo2Struct MallInfo2();

    /// <summary>Full blocking compacting GCs until the heap stops shrinking, then the managed heap and RSS.</summary>
    public static (long Heap, long Rss, int Threads, long Native) Measure()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
        var heap = GC.GetTotalMemory(forceFullCollection: true);
        Thread.Sleep(200);
        return (heap, RssBytes(), Process.GetCurrentProcess().Threads.Count, NativeInUseBytes());
    }

    public static string MiB(long bytes) => (bytes / 1048576.0).ToString("F1", System.Globalization.CultureInfo.InvariantCulture);
}

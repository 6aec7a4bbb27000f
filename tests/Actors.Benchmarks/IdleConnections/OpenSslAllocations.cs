using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Actors.Benchmarks.IdleConnections;

/// <summary>
/// OpenSSL's live allocations by allocation site, through the memory tracking built into the runtime's OpenSSL shim
/// (libSystem.Security.Cryptography.Native.OpenSsl): with the environment variable DOTNET_OPENSSL_MEMORY_DEBUG=1 set
/// when the process starts, the shim routes OpenSSL's allocations through its own functions; it counts bytes in
/// use, and, while tracking is enabled, records each allocation with the source file and line of OpenSSL that made
/// it. <see cref="Start"/> enables tracking (at the baseline), <see cref="Report"/> prints what was allocated since
/// and is still live, grouped by site, per connection. Diagnostic only.
/// </summary>
internal static unsafe class OpenSslAllocations
{
    private static readonly nint Shim;

    static OpenSslAllocations()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_OPENSSL_MEMORY_DEBUG") is null) return;
        // the very file the runtime loaded, so that dlopen hands back the same instance
        var path = Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "libSystem.Security.Cryptography.Native.OpenSsl.so");
        NativeLibrary.TryLoad(path, out Shim);
    }

    public static bool Enabled => Shim != 0;

    public static long BytesInUse()
    {
        if (!Enabled) return -1;
        long use = 0, count = 0;
        ((delegate* unmanaged<long*, long*, void>)NativeLibrary.GetExport(Shim, "CryptoNative_GetMemoryUse"))(&use, &count);
        return use;
    }

    public static void Start()
    {
        if (!Enabled) return;
        ((delegate* unmanaged<int, void>)NativeLibrary.GetExport(Shim, "CryptoNative_EnableMemoryTracking"))(1);
    }

    [ThreadStatic] private static Dictionary<(nint File, int Line), (long Bytes, long Count)>? _sites;

    public static void Report(int perConnections, int top = 40)
    {
        if (!Enabled) return;
        ((delegate* unmanaged<int, void>)NativeLibrary.GetExport(Shim, "CryptoNative_EnableMemoryTracking"))(0);
        _sites = new();
        ((delegate* unmanaged<delegate* unmanaged<nint, ulong, byte*, int, nint, void>, nint, void>)NativeLibrary.GetExport(Shim, "CryptoNative_ForEachTrackedAllocation"))
            (&OnAllocation, 0);
        var sites = _sites;
        _sites = null;
        long total = 0, totalCount = 0;
        foreach (var v in sites.Values) { total += v.Bytes; totalCount += v.Count; }
        Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"  openssl: live allocations made since the baseline: {total / 1024.0 / perConnections:F2} KiB and {(double)totalCount / perConnections:F1} allocations per connection"));
        foreach (var ((file, line), (bytes, count)) in sites.OrderByDescending(kv => kv.Value.Bytes).Take(top))
        {
            var name = file == 0 ? "?" : Marshal.PtrToStringUTF8(file) ?? "?";
            Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"  openssl: {bytes / (double)perConnections,8:F1} B/conn {count / (double)perConnections,6:F2} allocs/conn  {name}:{line}"));
        }
    }

    [UnmanagedCallersOnly]
    private static void OnAllocation(nint ptr, ulong size, byte* file, int line, nint ctx)
    {
        var key = ((nint)file, line);
        var v = _sites!.GetValueOrDefault(key);
        _sites[key] = (v.Bytes + (long)size, v.Count + 1);
    }
}

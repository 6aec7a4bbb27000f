using Actors.Benchmarks.IdleConnections;
using BenchmarkDotNet.Running;

namespace Actors.Benchmarks;

public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "idle") return IdleServer.Run(args[1..]);
        if (args.Length > 0 && args[0] == "client") return IdleClient.Run(args[1..]);
        if (args.Length > 0 && args[0] == "offline-users") return OfflineUsers.Run(args[1..]);
        if (args.Length > 0 && args[0] == "directory-memory") return DirectoryMemory.Run(args[1..]);
        if (args.Length > 0 && args[0] == "idle-web") return IdleWebClients.Run(args[1..]);
        if (args.Length > 0 && args[0] == "archive-page") return ArchivePages.Run(args[1..]);
        if (args.Length > 0 && args[0] == "resume") return Resumption.Run(args[1..]);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}

using SharpFuzz;

namespace Actors.Fuzz;

/// <summary>
/// <c>dotnet Actors.Fuzz.dll TARGET</c> under the libFuzzer driver (tests/fuzz/driver.c, which sets the
/// <c>__LIBFUZZER_*</c> variables): runs the target on every input libFuzzer sends, through SharpFuzz's shared memory
/// and pipes. <c>dotnet Actors.Fuzz.dll TARGET FILE|DIR...</c> elsewhere: replays those inputs (a crash libFuzzer
/// saved, the corpus), printing each failing one in hex; exit code 1 if any failed.
/// </summary>
public static class Program
{
    private const string LibFuzzerSharedMemoryVariable = "__LIBFUZZER_SHM_ID";

    public static int Main(string[] args)
    {
        var target = args.Length > 0 ? FuzzTargets.Find(args[0]) : null;
        if (target is null)
        {
            Console.Error.WriteLine($"usage: Actors.Fuzz {string.Join('|', FuzzTargets.Names)} [FILE|DIR...]");
            return 2;
        }
        if (Environment.GetEnvironmentVariable(LibFuzzerSharedMemoryVariable) is not null)
        {
            // an exception escaping the target is reported to the driver as a crash
            Fuzzer.LibFuzzer.Run(input => target(input));
            return 0;
        }
        return Replay(args[0], target, args.AsSpan(1));
    }

    private static int Replay(string name, FuzzTarget target, ReadOnlySpan<string> paths)
    {
        var files = new List<string>();
        foreach (var path in paths)
        {
            if (Directory.Exists(path)) files.AddRange(Directory.GetFiles(path).Order(StringComparer.Ordinal));
            else if (File.Exists(path)) files.Add(path);
            else
            {
                Console.Error.WriteLine($"{name}: no such file or directory: {path}");
                return 2;
            }
        }
        var failed = 0;
        foreach (var file in files)
        {
            var input = File.ReadAllBytes(file);
            try { target(input); }
            catch (Exception ex)
            {
                failed++;
                Console.Error.WriteLine($"{name}: {file} fails: {Convert.ToHexString(input)}\n{ex}");
            }
        }
        Console.WriteLine($"{name}: {files.Count - failed} of {files.Count} inputs pass");
        return failed == 0 ? 0 : 1;
    }
}

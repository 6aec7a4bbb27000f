using System.Diagnostics;
using System.Text;

namespace Actors.Plugins.Tests;

/// <summary>Runs a Debian program the tests drive as a real client (mosquitto_pub/sub, coturn's turnutils) to its end.</summary>
public static class ExternalProgram
{
    public sealed record Outcome(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit {ExitCode}; stdout: {Stdout.Trim()}; stderr: {Stderr.Trim()}";
    }

    /// <summary>Runs <paramref name="program"/> with <paramref name="args"/>; killed (and a TimeoutException) after
    /// <paramref name="timeout"/>.</summary>
    public static async Task<Outcome> RunAsync(string program, IEnumerable<string> args, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish within {timeout.TotalSeconds} s: {await stdout} {await stderr}");
        }
        return new Outcome(process.ExitCode, await stdout, await stderr);
    }
}

using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Actors.Xmpp.Testing;

namespace Actors.Plugins.Tests;

/// <summary>Issue 16, packaging: the server's log lines carry the date and time in UTC, as plain lines or (Xmpp:LogFormat
/// json) one JSON object a line for a log shipper; another value is refused with the key named.</summary>
public sealed partial class LogFormatSpec
{
    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")]
    private static partial Regex UtcTimestamp();

    private static ProcessStartInfo Server(string data, params string[] settings)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(ServerBinary.Dll);
        foreach (var s in new[] { "Xmpp:DataDir=" + data, "Xmpp:C2sPort=0", "Xmpp:DirectTlsPort=-1", "Xmpp:Tls:Required=false" }.Concat(settings))
        {
            psi.ArgumentList.Add("--set");
            psi.ArgumentList.Add(s);
        }
        psi.Environment["DOTNET_NOLOGO"] = "1";
        return psi;
    }

    /// <summary>The first <paramref name="count"/> lines the server writes on standard output, then it is stopped.</summary>
    private static async Task<List<string>> FirstLines(ProcessStartInfo psi, int count)
    {
        using var process = Process.Start(psi)!;
        var lines = new List<string>();
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            while (lines.Count < count && await process.StandardOutput.ReadLineAsync(cts.Token) is { } line) lines.Add(line);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        return lines;
    }

    [Fact]
    public async Task With_LogFormat_json_each_line_is_a_json_object_dated_in_utc()
    {
        var data = Path.Combine(Path.GetTempPath(), "actors-log-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            var lines = await FirstLines(Server(data, "Xmpp:LogFormat=json"), 2);
            Assert.NotEmpty(lines);
            foreach (var line in lines)
            {
                using var json = JsonDocument.Parse(line);
                var root = json.RootElement;
                Assert.Matches(UtcTimestamp(), root.GetProperty("Timestamp").GetString());
                Assert.False(string.IsNullOrEmpty(root.GetProperty("LogLevel").GetString()));
                Assert.False(string.IsNullOrEmpty(root.GetProperty("Category").GetString()));
                Assert.False(string.IsNullOrEmpty(root.GetProperty("Message").GetString()));
            }
        }
        finally
        {
            try { Directory.Delete(data, recursive: true); } catch (IOException) { }
        }
    }

    [Fact]
    public async Task By_default_each_line_is_plain_text_beginning_with_the_date_and_time_in_utc()
    {
        var data = Path.Combine(Path.GetTempPath(), "actors-log-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            var lines = await FirstLines(Server(data), 2);
            Assert.NotEmpty(lines);
            foreach (var line in lines) Assert.Matches(UtcTimestamp(), line.Split(' ')[0]);
        }
        finally
        {
            try { Directory.Delete(data, recursive: true); } catch (IOException) { }
        }
    }

    [Fact]
    public async Task Another_LogFormat_is_refused_at_start_with_the_key_named()
    {
        var data = Path.Combine(Path.GetTempPath(), "actors-log-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            using var process = Process.Start(Server(data, "Xmpp:LogFormat=xml"))!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            await process.WaitForExitAsync(cts.Token);
            Assert.NotEqual(0, process.ExitCode);
            Assert.Contains("Xmpp:LogFormat", await stderr + await stdout);
        }
        finally
        {
            try { Directory.Delete(data, recursive: true); } catch (IOException) { }
        }
    }
}

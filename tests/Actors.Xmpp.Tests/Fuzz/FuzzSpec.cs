using System.Diagnostics;
using System.Globalization;
using System.Text;
using Actors.Fuzz;
using Actors.Xmpp.Server.Sasl;

namespace Actors.Xmpp.Tests.Fuzz;

/// <summary>
/// The fuzz targets of tests/Actors.Fuzz (framer, SASL mechanisms, JID parser), run in process on every test run: first
/// on every input of their corpus in tests/fuzz/corpus/&lt;target&gt;/ (the seeds, and every input that ever broke an
/// invariant: regression tests), then on mutations of it (bit flips, byte edits, splices, the tokens of
/// tests/fuzz/&lt;target&gt;.dict) with a fixed seed for a bounded time per target (ACTORS_FUZZ_SECONDS, default 4).
/// Coverage-guided fuzzing of the same targets is SharpFuzz under libFuzzer: tests/fuzz/run.sh, docs/reliability.md.
/// </summary>
public class FuzzSpec
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(Environment.GetEnvironmentVariable("ACTORS_FUZZ_SECONDS") is { } s && int.TryParse(s, out var n) ? n : 4);

    private static string FuzzFile(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "fuzz", .. parts]);

    private static List<byte[]> Corpus(string target)
    {
        var files = Directory.GetFiles(FuzzFile("corpus", target)).Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(files);
        return files.Select(File.ReadAllBytes).ToList();
    }

    /// <summary>The tokens of a libFuzzer dictionary: one quoted string a line (optionally name=), escapes \\ \" \xNN.</summary>
    internal static List<byte[]> Dictionary(string target)
    {
        var tokens = new List<byte[]>();
        foreach (var line in File.ReadAllLines(FuzzFile(target + ".dict")))
        {
            var open = line.IndexOf('"');
            if (line.TrimStart().StartsWith('#') || open < 0) continue;
            var close = line.LastIndexOf('"');
            Assert.True(close > open, $"{target}.dict: unterminated token: {line}");
            var token = new List<byte>();
            for (var i = open + 1; i < close; i++)
            {
                if (line[i] != '\\') { token.AddRange(Encoding.UTF8.GetBytes(line[i].ToString())); continue; }
                i++;
                if (line[i] == 'x')
                {
                    token.Add(byte.Parse(line.AsSpan(i + 1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                    i += 2;
                }
                else token.Add((byte)line[i]);
            }
            tokens.Add(token.ToArray());
        }
        Assert.NotEmpty(tokens);
        return tokens;
    }

    /// <summary>Runs the target on every corpus input, then on mutations of them until the budget is spent.</summary>
    private static int Run(string name, int seed)
    {
        var target = FuzzTargets.Find(name)!;
        var seeds = Corpus(name);
        var tokens = Dictionary(name);
        var random = new Random(seed);
        var runs = 0;
        void Checked(byte[] input)
        {
            try { target(input); }
            catch (Exception ex)
            {
                throw new Xunit.Sdk.XunitException($"{name}: invariant broken by input (fix it, then add it to tests/fuzz/corpus/{name}/): {Convert.ToHexString(input)}\n{ex}");
            }
            runs++;
        }
        foreach (var s in seeds) Checked(s);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Budget)
        {
            var input = seeds[random.Next(seeds.Count)];
            var edits = 1 + random.Next(4);
            for (var i = 0; i < edits; i++) input = Mutate(input, random, tokens, seeds);
            Checked(input);
        }
        return runs;
    }

    private static byte[] Mutate(byte[] input, Random random, List<byte[]> tokens, List<byte[]> seeds)
    {
        var bytes = new List<byte>(input);
        var at = bytes.Count == 0 ? 0 : random.Next(bytes.Count + 1);
        switch (random.Next(7))
        {
            case 0 when bytes.Count > 0: // flip a bit
                var i = random.Next(bytes.Count);
                bytes[i] ^= (byte)(1 << random.Next(8));
                break;
            case 1 when bytes.Count > 0: // delete a run
                var start = random.Next(bytes.Count);
                bytes.RemoveRange(start, Math.Min(bytes.Count - start, 1 + random.Next(8)));
                break;
            case 2: // insert a random byte
                bytes.Insert(at, (byte)random.Next(256));
                break;
            case 3 when bytes.Count > 0: // duplicate a run
                var from = random.Next(bytes.Count);
                var run = bytes.GetRange(from, Math.Min(bytes.Count - from, 1 + random.Next(32)));
                bytes.InsertRange(at, run);
                break;
            case 4: // splice another seed's tail
                var other = seeds[random.Next(seeds.Count)];
                var cut = other.Length == 0 ? 0 : random.Next(other.Length);
                bytes.RemoveRange(at, bytes.Count - at);
                bytes.AddRange(other.AsSpan(cut).ToArray());
                break;
            default: // a token of the grammar
                bytes.InsertRange(at, tokens[random.Next(tokens.Count)]);
                break;
        }
        return bytes.ToArray();
    }

    [Fact]
    public void Framer_events_do_not_depend_on_chunking_and_every_stanza_serializes_back_to_itself()
    {
        var runs = Run(FuzzTargets.FramerName, seed: 1);
        Assert.True(runs > 100, $"only {runs} runs");
    }

    [Fact]
    public void Sasl_mechanisms_answer_every_client_message_with_a_result_and_succeed_only_on_proof()
    {
        var runs = Run(FuzzTargets.SaslName, seed: 2);
        Assert.True(runs > 100, $"only {runs} runs");
    }

    [Fact]
    public void Jid_parsing_never_throws_and_a_parsed_jid_parses_back_to_itself()
    {
        var runs = Run(FuzzTargets.JidName, seed: 3);
        Assert.True(runs > 100, $"only {runs} runs");
    }

    [Theory]
    [InlineData("scram-sha256-exchange.bin", "SCRAM-SHA-256")]
    [InlineData("scram-sha1-authzid-exchange.bin", "SCRAM-SHA-1")]
    [InlineData("scram-sha512-plus-exchange.bin", "SCRAM-SHA-512-PLUS")]
    [InlineData("plain.bin", "PLAIN")]
    [InlineData("plain-after-challenge.bin", "PLAIN")]
    [InlineData("external-authzid.txt", "EXTERNAL")]
    public void Sasl_corpus_reaches_success_so_the_fuzzer_starts_past_the_proof_checks(string seed, string mechanism)
    {
        var outcomes = FuzzTargets.SaslExchanges(File.ReadAllBytes(FuzzFile("corpus", FuzzTargets.SaslName, seed)));
        var succeeded = outcomes.Where(o => o.Result is SaslResult.Success).Select(o => o.Mechanism).ToList();
        Assert.Equal([mechanism], succeeded);
    }

    [Fact]
    public void Sasl_a_proof_one_bit_off_is_not_authorized_RFC5802_section_5_1()
    {
        var exchange = File.ReadAllBytes(FuzzFile("corpus", FuzzTargets.SaslName, "scram-sha256-exchange.bin"));
        exchange[^4] ^= 1; // inside the base64 of the proof
        var outcome = FuzzTargets.SaslExchanges(exchange).Single(o => o.Mechanism == "SCRAM-SHA-256").Result;
        Assert.Equal(SaslConditions.NotAuthorized, Assert.IsType<SaslResult.Failure>(outcome).Condition);
    }

    [Fact]
    public void Dictionaries_decode_escapes()
    {
        var tokens = Dictionary(FuzzTargets.SaslName);
        Assert.Contains(tokens, t => t.SequenceEqual(new byte[] { 0 }));
        Assert.Contains(tokens, t => t.SequenceEqual(new byte[] { 0xFF }));
        Assert.Contains(tokens, t => t.SequenceEqual("n,,"u8.ToArray()));
    }
}

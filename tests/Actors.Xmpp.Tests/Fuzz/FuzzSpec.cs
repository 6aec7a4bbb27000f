using System.Diagnostics;
using System.Text;
using Actors.Xmpp.Security;
using Actors.Xmpp.Server.Sasl;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Tests.Fuzz;

/// <summary>
/// Bounded mutation fuzzing of what parses hostile input: the stream framer, the SASL mechanisms (PLAIN, SCRAM) and the
/// JID parser. Seeds are the corpus kept in Fuzz/corpus/&lt;target&gt;/ (add an input that ever broke an invariant
/// there: it is then replayed by every run); each run mutates them (bit flips, byte edits, splices, tokens of the
/// target's grammar) with a fixed seed, for a bounded time per target, and checks invariants rather than outputs.
/// This runs in-process without coverage feedback (no libFuzzer engine here): see docs/reliability.md.
/// </summary>
public class FuzzSpec
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(Environment.GetEnvironmentVariable("ACTORS_FUZZ_SECONDS") is { } s && int.TryParse(s, out var n) ? n : 4);
    private const string Header = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

    private static readonly string[] XmlTokens = ["<", ">", "/>", "</", "'", "\"", "&", "&amp;", "&#x0;", "&#xD800;", "&#65;", "&lt;", "&bogus;",
        "xmlns='urn:x'", "xmlns:p='urn:p'", "p:", "xml:lang='en'", "<![CDATA[", "]]>", "<!--", "<?pi?>", "<!DOCTYPE x>", "\0", "\uFFFE", "é", "😀", " a='1'", "</stream:stream>"];
    private static readonly string[] SaslTokens = ["\0", ",", "=", "n,,", "y,,", "p=tls-exporter,,", "n=", "r=", "c=", "p=", "a=", "=2C", "=3D", "==", "m=", "é"];
    private static readonly string[] JidTokens = ["@", "/", ".", "[", "]", "::", "\0", " ", "é", "ß", "\u0130", "\u200B", "xn--", "%", "\uFF20"];

    private static IEnumerable<byte[]> Corpus(string target)
    {
        var dir = Path.Combine(AppContext.BaseDirectory, "Fuzz", "corpus", target);
        var files = Directory.GetFiles(dir).Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(files);
        return files.Select(File.ReadAllBytes);
    }

    /// <summary>Runs <paramref name="check"/> on every seed, then on mutations of them until the budget is spent.</summary>
    private static int Run(string target, string[] tokens, Action<byte[]> check, int seed)
    {
        var seeds = Corpus(target).ToList();
        var random = new Random(seed);
        var runs = 0;
        void Checked(byte[] input)
        {
            try { check(input); }
            catch (Exception ex)
            {
                throw new Xunit.Sdk.XunitException($"{target}: invariant broken by input (add it to Fuzz/corpus/{target}/): {Convert.ToHexString(input)}\n{ex}");
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

    private static byte[] Mutate(byte[] input, Random random, string[] tokens, List<byte[]> seeds)
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
                bytes.InsertRange(at, Encoding.UTF8.GetBytes(tokens[random.Next(tokens.Length)]));
                break;
        }
        return bytes.ToArray();
    }

    private sealed class Recorder : IFramerSink
    {
        public readonly List<string> Events = new();
        public readonly List<Element> Stanzas = new();
        public void OnStreamOpen(StreamHeader header) => Events.Add("open " + header.Name);
        public void OnStanza(Element stanza)
        {
            Stanzas.Add(stanza);
            Events.Add(Encoding.UTF8.GetString(stanza.ToUtf8(Ns.Client)));
        }
        public void OnStreamClose() => Events.Add("close");
        public void OnError(FramerErrorCondition condition, string text) => Events.Add("error " + condition);
    }

    private static Recorder Frame(byte[] input, FramerLimits limits, params int[] splits)
    {
        var recorder = new Recorder();
        var framer = new XmppFramer(recorder, limits);
        var last = 0;
        foreach (var s in splits)
        {
            framer.Feed(input.AsSpan(last, s - last));
            last = s;
        }
        framer.Feed(input.AsSpan(last));
        return recorder;
    }

    [Fact]
    public void Framer_events_do_not_depend_on_chunking_and_every_stanza_serializes_back_to_itself()
    {
        var header = Encoding.UTF8.GetBytes(Header);
        var limits = new FramerLimits(MaxStanzaBytes: 4096, MaxDepth: 16, MaxAttributes: 8, MaxChildren: 16, MaxElements: 64);
        var random = new Random(17);
        var runs = Run("framer", XmlTokens, body =>
        {
            var input = header.Concat(body).ToArray();
            var whole = Frame(input, limits);
            var a = random.Next(input.Length + 1);
            var b = random.Next(input.Length + 1);
            var split = Frame(input, limits, Math.Min(a, b), Math.Max(a, b));
            Assert.Equal(whole.Events, split.Events);
            // what the server would write for each stanza is read back as the same stanza
            foreach (var stanza in whole.Stanzas)
            {
                var written = stanza.ToUtf8(Ns.Client);
                var again = Frame(header.Concat(written).ToArray(), FramerLimits.Trusted(1 << 20, 64));
                Assert.Equal(Encoding.UTF8.GetString(written), Assert.Single(again.Events.Skip(1)));
            }
        }, seed: 1);
        Assert.True(runs > 100, $"only {runs} runs");
    }

    private sealed class Binding : IChannelBinding
    {
        public byte[]? Get(string type) => new byte[32];
        public IReadOnlyList<string> SupportedTypes => ["tls-exporter", "tls-server-end-point"];
    }

    [Fact]
    public void Sasl_mechanisms_answer_every_client_message_with_a_result_never_an_exception()
    {
        var mechanisms = new SaslMechanisms(new SaslOptions { FakeIterations = 64 });
        var names = mechanisms.Advertise(true, new Binding());
        var credentials = ScramKeys.Create("juliet", "r0m30", 64);
        var random = new Random(23);
        var runs = Run("sasl", SaslTokens, input =>
        {
            var name = names[random.Next(names.Count)];
            var mechanism = mechanisms.Create(name, true, new Binding(), "example.com", () => "servernonce")!;
            var result = mechanism.Start(input);
            for (var step = 0; step < 3 && result is SaslResult.NeedCredentials or SaslResult.Challenge; step++)
            {
                // as the connection does: the credentials of the user the mechanism named, if that user exists
                result = result is SaslResult.NeedCredentials need
                    ? mechanism.Continue(need.Username == "juliet" ? credentials : null)
                    : mechanism.Step(Mutate(input, random, SaslTokens, [input]));
            }
            Assert.NotNull(result);
            if (result is SaslResult.Success success)
            {
                // only PLAIN can succeed here (no mutation makes a SCRAM proof), for juliet, with her password
                Assert.Equal("PLAIN", name);
                Assert.Equal("juliet", success.Username);
                Assert.Equal("r0m30", Encoding.UTF8.GetString(input).Split('\0')[^1]);
            }
        }, seed: 2);
        Assert.True(runs > 100, $"only {runs} runs");
    }

    [Fact]
    public void Jid_parsing_never_throws_and_a_parsed_jid_parses_back_to_itself()
    {
        var runs = Run("jid", JidTokens, input =>
        {
            var text = Encoding.UTF8.GetString(input);
            if (!Jid.TryParse(text, out var jid) || jid is null) return;
            var again = Jid.Parse(jid.ToString());
            Assert.Equal(jid, again);
            Assert.Equal(jid.ToString(), again.ToString());
        }, seed: 3);
        Assert.True(runs > 100, $"only {runs} runs");
    }
}

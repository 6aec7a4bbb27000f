using System.Security.Cryptography;
using System.Text;
using Actors.Xmpp;
using Actors.Xmpp.Security;
using Actors.Xmpp.Server.Sasl;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;

namespace Actors.Fuzz;

/// <summary>An invariant of a fuzz target does not hold for an input: a finding (libFuzzer saves the input as a crash).</summary>
public sealed class FuzzInvariantException(string message) : Exception(message);

/// <summary>One fuzz target: runs one input, throws when an invariant does not hold.</summary>
public delegate void FuzzTarget(ReadOnlySpan<byte> input);

/// <summary>
/// The fuzz targets: one per surface that parses hostile input. Each takes one input and throws when an invariant does
/// not hold (or the code under test throws), and is deterministic (libFuzzer needs the same input to take the same path).
/// libFuzzer runs them through SharpFuzz (<see cref="Program"/>, tests/fuzz/run.sh); FuzzSpec runs them in process on
/// the corpus in tests/fuzz/corpus/&lt;target&gt;/ and on mutations of it, on every test run.
/// </summary>
public static class FuzzTargets
{
    public const string FramerName = "framer";
    public const string SaslName = "sasl";
    public const string JidName = "jid";

    /// <summary>Target names, in the order run.sh and CI run them.</summary>
    public static IReadOnlyList<string> Names { get; } = [FramerName, SaslName, JidName];

    /// <summary>The target of that name, or null.</summary>
    public static FuzzTarget? Find(string name) => name switch
    {
        FramerName => Framer,
        SaslName => Sasl,
        JidName => JidRoundTrip,
        _ => null,
    };

    private static void Check(bool condition, string what)
    {
        if (!condition) throw new FuzzInvariantException(what);
    }

    // ---------------------------------------------------------------- framer

    /// <summary>The stream header every framer input follows (the input is what a client sends after it).</summary>
    public static readonly byte[] StreamHeader = Encoding.UTF8.GetBytes(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>");

    /// <summary>Small limits, so that inputs of a few KiB reach each of them.</summary>
    private static readonly FramerLimits HostileLimits = new(MaxStanzaBytes: 4096, MaxDepth: 16, MaxAttributes: 8, MaxChildren: 16, MaxElements: 64);
    private static readonly FramerLimits TrustedLimits = FramerLimits.Trusted(1 << 20, 64);

    private sealed class Recorder : IFramerSink
    {
        public readonly List<string> Events = new();
        public readonly List<Element> Stanzas = new();
        public void OnStreamOpen(StreamHeader header) => Events.Add("open " + header.Name + " " + header.Namespace);
        public void OnStanza(Element stanza)
        {
            Stanzas.Add(stanza);
            Events.Add(Encoding.UTF8.GetString(stanza.ToUtf8(Ns.Client)));
        }
        public void OnStreamClose() => Events.Add("close");
        public void OnError(FramerErrorCondition condition, string text) => Events.Add("error " + condition);
    }

    /// <summary>Feeds <paramref name="input"/> in the chunks <paramref name="cuts"/> delimit (ascending offsets).</summary>
    private static Recorder Frame(ReadOnlySpan<byte> input, FramerLimits limits, ReadOnlySpan<int> cuts)
    {
        var recorder = new Recorder();
        var framer = new XmppFramer(recorder, limits);
        var last = 0;
        foreach (var cut in cuts)
        {
            framer.Feed(input[last..cut]);
            last = cut;
        }
        framer.Feed(input[last..]);
        return recorder;
    }

    private static Recorder FrameBytewise(ReadOnlySpan<byte> input, FramerLimits limits)
    {
        var recorder = new Recorder();
        var framer = new XmppFramer(recorder, limits);
        for (var i = 0; i < input.Length; i++) framer.Feed(input.Slice(i, 1));
        return recorder;
    }

    private static void SameEvents(Recorder expected, Recorder actual, string how)
    {
        Check(expected.Events.Count == actual.Events.Count,
            $"framer: {expected.Events.Count} events fed whole, {actual.Events.Count} fed {how}");
        for (var i = 0; i < expected.Events.Count; i++)
            Check(expected.Events[i] == actual.Events[i],
                $"framer: event {i} is '{expected.Events[i]}' fed whole, '{actual.Events[i]}' fed {how}");
    }

    /// <summary>
    /// The XML stream framer (RFC 6120 §4, §11): what a client sends after the stream header, fed whole, one byte at a
    /// time, and in three chunks cut where a hash of the input says, gives the same events (stream open, stanzas,
    /// close, the error condition); and every stanza it yields, serialized as the server would write it, is read back
    /// as one stanza that serializes to the same bytes.
    /// </summary>
    public static void Framer(ReadOnlySpan<byte> body)
    {
        var input = new byte[StreamHeader.Length + body.Length];
        StreamHeader.CopyTo(input, 0);
        body.CopyTo(input.AsSpan(StreamHeader.Length));

        var whole = Frame(input, HostileLimits, []);
        SameEvents(whole, FrameBytewise(input, HostileLimits), "one byte at a time");
        var hash = Fnv1a(input);
        var a = (int)(hash % (uint)(input.Length + 1));
        var b = (int)((hash >> 32) % (uint)(input.Length + 1));
        SameEvents(whole, Frame(input, HostileLimits, [Math.Min(a, b), Math.Max(a, b)]), $"cut at {Math.Min(a, b)} and {Math.Max(a, b)}");

        foreach (var stanza in whole.Stanzas)
        {
            var written = stanza.ToUtf8(Ns.Client);
            var again = new byte[StreamHeader.Length + written.Length];
            StreamHeader.CopyTo(again, 0);
            written.CopyTo(again.AsSpan(StreamHeader.Length));
            var reread = Frame(again, TrustedLimits, []);
            var text = Encoding.UTF8.GetString(written);
            Check(reread.Events.Count == 2 && reread.Stanzas.Count == 1,
                $"framer: the stanza written as '{text}' reads back as {reread.Events.Count - 1} events: {string.Join(" | ", reread.Events)}");
            Check(reread.Events[1] == text, $"framer: the stanza written as '{text}' reads back as '{reread.Events[1]}'");
        }
    }

    private static ulong Fnv1a(ReadOnlySpan<byte> data)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in data) hash = (hash ^ b) * 1099511628211UL;
        return hash;
    }

    // ---------------------------------------------------------------- SASL

    /// <summary>The account the SASL target knows: juliet@example.com with this password.</summary>
    public const string Domain = "example.com";
    public const string Username = "juliet";
    public const string Password = "r0m30";
    /// <summary>SCRAM iterations of juliet's verifiers and of the fake ones (low: a run is then cheap).</summary>
    public const int Iterations = 64;
    /// <summary>Fixed server nonce (the client nonce comes first in the combined nonce, RFC 5802 §5.1).</summary>
    public const string ServerNonce = "servernonce";
    /// <summary>Separates the first client message (the &lt;auth/&gt; initial response) from the next one (&lt;response/&gt;);
    /// 0xFF never occurs in UTF-8, so a SCRAM message cannot contain it.</summary>
    public const byte MessageSeparator = 0xFF;

    /// <summary>juliet's salt (fixed: the target must be deterministic).</summary>
    public static byte[] Salt(string hash) => SHA256.HashData(Encoding.UTF8.GetBytes("actors fuzz salt " + hash))[..16];

    /// <summary>Channel-binding data of the fuzzed "connection": 32 zero bytes for every type.</summary>
    private sealed class FixedChannelBinding : IChannelBinding
    {
        public byte[]? Get(string type) => SupportedTypes.Contains(type) ? new byte[32] : null;
        public IReadOnlyList<string> SupportedTypes { get; } = ["tls-exporter", "tls-server-end-point"];
    }

    private static readonly IChannelBinding Binding = new FixedChannelBinding();
    private static readonly SaslMechanisms Mechanisms = new(new SaslOptions
    {
        FakeIterations = Iterations,
        ServerSecret = SHA256.HashData(Encoding.UTF8.GetBytes("actors fuzz server secret")),
    });
    /// <summary>The accounts the client certificate names (EXTERNAL): juliet, and romeo who has no account.</summary>
    private static readonly IReadOnlyList<Jid> CertificateJids = [Jid.Create(Username, Domain), Jid.Create("romeo", Domain)];
    private static readonly IReadOnlyList<string> MechanismNames = Mechanisms.Advertise(true, Binding, CertificateJids);
    private static readonly UserCredentials Juliet = new(Username,
        [.. ScramKeys.Hashes.Select(h => ScramKeys.Derive(h, Password, Salt(h), Iterations))]);
    private static readonly HashSet<string> Conditions =
    [
        SaslConditions.Aborted, SaslConditions.AccountDisabled, SaslConditions.CredentialsExpired, SaslConditions.EncryptionRequired,
        SaslConditions.IncorrectEncoding, SaslConditions.InvalidAuthzid, SaslConditions.InvalidMechanism, SaslConditions.MalformedRequest,
        SaslConditions.MechanismTooWeak, SaslConditions.NotAuthorized, SaslConditions.TemporaryAuthFailure,
    ];

    /// <summary>
    /// Every server SASL mechanism offered on a TLS connection with channel binding and a client certificate (EXTERNAL,
    /// SCRAM-SHA-1/256/512 and their -PLUS, PLAIN) is given the input as its first message and, after the first
    /// challenge, the part after <see cref="MessageSeparator"/> as the next one, answering each with the credentials of
    /// the user it names (juliet's, or none). Each answer is a result, never an exception; a failure names an RFC 6120
    /// §6.5 condition; a success is juliet's, proven: PLAIN with her password (RFC 4616), SCRAM with the client proof
    /// RFC 5802 §3 derives from it (and the server signature it sends is the one the client checks), EXTERNAL for an
    /// account the certificate names (XEP-0178); an authorization identity, if any, is her bare JID (RFC 6120 §6.3.8).
    /// </summary>
    public static void Sasl(ReadOnlySpan<byte> input) => SaslExchanges(input);

    /// <summary>Runs <see cref="Sasl"/>'s exchanges and checks; returns each mechanism's last answer.</summary>
    public static IReadOnlyList<(string Mechanism, SaslResult Result)> SaslExchanges(ReadOnlySpan<byte> input)
    {
        var outcomes = new List<(string, SaslResult)>(MechanismNames.Count);
        var cut = input.IndexOf(MessageSeparator);
        // an empty first message is an <auth/> without initial response (RFC 6120 §6.4.2): the mechanism challenges first
        byte[]? first = cut == 0 || input.Length == 0 ? null : (cut < 0 ? input : input[..cut]).ToArray();
        var next = cut < 0 ? null : input[(cut + 1)..].ToArray();
        foreach (var name in MechanismNames)
        {
            var mechanism = Mechanisms.Create(name, true, Binding, Domain, () => ServerNonce, CertificateJids);
            Check(mechanism is not null && mechanism.Name == name, $"sasl: {name} is advertised but not created");
            var result = mechanism!.Start(first);
            var response = next;
            byte[]? serverFirst = null;
            var clientFirst = first;
            for (var step = 0; step < 4; step++)
            {
                if (result is SaslResult.NeedCredentials need)
                    result = mechanism.Continue(need.Username == Username ? Juliet : null);
                else if (result is SaslResult.Challenge challenge && response is not null)
                {
                    serverFirst = challenge.Data;
                    clientFirst ??= response;
                    result = mechanism.Step(response);
                    response = null;
                }
                else break;
            }
            Check(result is not null, $"sasl: {name} answered null");
            switch (result)
            {
                case SaslResult.Failure failure:
                    Check(Conditions.Contains(failure.Condition), $"sasl: {name} failed with '{failure.Condition}', not an RFC 6120 §6.5 condition");
                    break;
                case SaslResult.Success success:
                    // with no initial response, the response was the first client message and there is no second
                    CheckSuccess(name, success, clientFirst!, serverFirst, first is null ? null : next);
                    break;
            }
            outcomes.Add((name, result!));
        }
        return outcomes;
    }

    private static void CheckSuccess(string name, SaslResult.Success success, byte[] first, byte[]? serverFirst, byte[]? final)
    {
        Check(success.Username == Username, $"sasl: {name} authenticated '{success.Username}', who has no account");
        Check(success.AuthzId is null || success.AuthzId == Username + "@" + Domain,
            $"sasl: {name} authorized '{success.AuthzId}' for {Username}");
        if (name == "PLAIN")
        {
            var password = Encoding.UTF8.GetString(first[(Array.LastIndexOf(first, (byte)0) + 1)..]);
            Check(Precis.OpaqueString(password) == Password, $"sasl: PLAIN accepted the password '{password}'");
        }
        else if (name == ExternalServerMechanism.MechanismName)
            Check(success.AdditionalData is null, "sasl: EXTERNAL sent additional data with success");
        else
        {
            Check(serverFirst is not null && final is not null, $"sasl: {name} succeeded without a client-final-message");
            CheckScramProof(name, first, serverFirst!, final!, success.AdditionalData);
        }
    }

    /// <summary>RFC 5802 §3, computed here from the password: ClientProof = ClientKey XOR HMAC(H(ClientKey), AuthMessage),
    /// ServerSignature = HMAC(HMAC(SaltedPassword, "Server Key"), AuthMessage).</summary>
    private static void CheckScramProof(string name, byte[] first, byte[] serverFirst, byte[] final, byte[]? additional)
    {
        var hash = name["SCRAM-".Length..].Replace("-PLUS", "", StringComparison.Ordinal);
        var algorithm = hash switch
        {
            ScramKeys.Sha1 => HashAlgorithmName.SHA1,
            ScramKeys.Sha256 => HashAlgorithmName.SHA256,
            _ => HashAlgorithmName.SHA512,
        };
        var clientFirst = Encoding.UTF8.GetString(first);
        // gs2-header = gs2-cbind-flag "," [authzid] ",": neither part contains ',' (saslname escapes it)
        var gs2End = clientFirst.IndexOf(',', clientFirst.IndexOf(',') + 1) + 1;
        var clientFinal = Encoding.UTF8.GetString(final);
        var proofAt = clientFinal.LastIndexOf(",p=", StringComparison.Ordinal);
        Check(gs2End > 0 && proofAt > 0, $"sasl: {name} succeeded on messages without a GS2 header or a proof");
        var authMessage = Encoding.UTF8.GetBytes(clientFirst[gs2End..] + "," + Encoding.UTF8.GetString(serverFirst) + "," + clientFinal[..proofAt]);
        var salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(Password), Salt(hash), Iterations, algorithm, HashLength(algorithm));
        var clientKey = Hmac(algorithm, salted, "Client Key"u8);
        var storedKey = algorithm == HashAlgorithmName.SHA1 ? SHA1.HashData(clientKey)
            : algorithm == HashAlgorithmName.SHA256 ? SHA256.HashData(clientKey) : SHA512.HashData(clientKey);
        var signature = Hmac(algorithm, storedKey, authMessage);
        var proof = new byte[clientKey.Length];
        for (var i = 0; i < proof.Length; i++) proof[i] = (byte)(clientKey[i] ^ signature[i]);
        Check(clientFinal[(proofAt + 3)..] == Convert.ToBase64String(proof), $"sasl: {name} accepted a proof that is not juliet's");
        var serverSignature = Hmac(algorithm, Hmac(algorithm, salted, "Server Key"u8), authMessage);
        Check(additional is not null && Encoding.UTF8.GetString(additional) == "v=" + Convert.ToBase64String(serverSignature),
            $"sasl: {name} sent a server signature the client cannot verify");
    }

    private static int HashLength(HashAlgorithmName algorithm) =>
        algorithm == HashAlgorithmName.SHA1 ? 20 : algorithm == HashAlgorithmName.SHA256 ? 32 : 64;

    private static byte[] Hmac(HashAlgorithmName algorithm, byte[] key, ReadOnlySpan<byte> data) =>
        algorithm == HashAlgorithmName.SHA1 ? HMACSHA1.HashData(key, data)
        : algorithm == HashAlgorithmName.SHA256 ? HMACSHA256.HashData(key, data) : HMACSHA512.HashData(key, data);

    // ---------------------------------------------------------------- JID

    /// <summary>
    /// The JID parser (RFC 7622): the input as UTF-8 (invalid sequences replaced), parsed; when it parses, it never
    /// threw, each part is 1..1023 bytes of UTF-8 (§3.2, §3.3, §3.4), its string form parses back to the same JID with
    /// the same string form, and creating it from its parts gives it again (normalization is idempotent).
    /// </summary>
    public static void JidRoundTrip(ReadOnlySpan<byte> input)
    {
        var text = Encoding.UTF8.GetString(input);
        if (!Jid.TryParse(text, out var jid) || jid is null) return;
        CheckPart(jid.Local, "localpart", text);
        CheckPart(jid.Domain, "domainpart", text);
        CheckPart(jid.Resource, "resourcepart", text);
        var written = jid.ToString();
        Check(Jid.TryParse(written, out var again) && again is not null, $"jid: '{text}' parsed, its form '{written}' does not");
        Check(again!.Equals(jid) && again.ToString() == written, $"jid: '{text}' is '{written}', which parses as '{again}'");
        Check(again.Local == jid.Local && again.Domain == jid.Domain && again.Resource == jid.Resource,
            $"jid: '{written}' parses back with other parts");
        var created = Jid.Create(jid.Local, jid.Domain, jid.Resource);
        Check(created.Equals(jid), $"jid: '{written}' created from its parts is '{created}'");
    }

    private static void CheckPart(string? part, string what, string text)
    {
        if (part is null) return;
        var bytes = Encoding.UTF8.GetByteCount(part);
        Check(bytes is >= 1 and <= Jid.MaxPartBytes, $"jid: '{text}' has a {what} of {bytes} bytes");
    }
}

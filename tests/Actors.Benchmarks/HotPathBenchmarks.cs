using System.Text;
using Actors.Xmpp;
using Actors.Xmpp.Server.Accounts;
using Actors.Xmpp.Server.Iq;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Server.Sasl;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Transport.Buffers;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;
using Akka.Actor;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging.Abstractions;

namespace Actors.Benchmarks;

/// <summary>XmppFramer: bytes to a parsed <see cref="Element"/>, one stanza per operation, on an open stream.</summary>
[MemoryDiagnoser]
[MedianColumn, MinColumn, MaxColumn]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 5)]
public class FramingBenchmarks
{
    private XmppFramer _framer = null!;
    private CollectingSink _sink = null!;
    private byte[] _stanza = null!;

    [Params("chat-300B", "chat-1KB")]
    public string Stanza { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        _stanza = Stanza == "chat-300B" ? Stanzas.Chat300 : Stanzas.Chat1K;
        _sink = new CollectingSink();
        _framer = new XmppFramer(_sink);
        _framer.Feed(Stanzas.StreamHeader);
        _framer.Feed(_stanza);
        if (_sink.Count != 1) throw new InvalidOperationException("framer did not produce the stanza: " + _sink.Error);
    }

    [Benchmark(Description = "Feed, one chunk")]
    public Element? OneChunk()
    {
        _framer.Feed(_stanza);
        return _sink.Last;
    }

    [Benchmark(Description = "Feed, 64-byte chunks")]
    public Element? Chunks64()
    {
        var s = _stanza.AsSpan();
        for (var i = 0; i < s.Length; i += 64) _framer.Feed(s.Slice(i, Math.Min(64, s.Length - i)));
        return _sink.Last;
    }
}

/// <summary>Element.WriteTo into a reused PooledBufferWriter (the connection's outbound buffer type).</summary>
[MemoryDiagnoser]
[MedianColumn, MinColumn, MaxColumn]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 5)]
public class SerializationBenchmarks
{
    private Element _element = null!;
    private readonly PooledBufferWriter _out = new();

    [Params("chat-300B", "chat-1KB")]
    public string Stanza { get; set; } = "";

    [GlobalSetup]
    public void Setup() => _element = Stanzas.Parse(Stanza == "chat-300B" ? Stanzas.Chat300 : Stanzas.Chat1K);

    [Benchmark(Description = "Element.WriteTo(pooled)")]
    public int WriteTo()
    {
        _element.WriteTo(_out, Stanzas.ContentNs);
        var n = _out.WrittenCount;
        _out.Reset();
        return n;
    }
}

/// <summary>StanzaRouter.Route of a chat message to a bare JID with one available resource.</summary>
[MemoryDiagnoser]
[MedianColumn, MinColumn, MaxColumn]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 5)]
public class RoutingBenchmarks
{
    private sealed class Accounts(params Jid[] accounts) : IAccountStore
    {
        private readonly HashSet<Jid> _set = new(accounts);
        public UserCredentials? Find(Jid account) => null;
        public ValueTask<UserCredentials?> FindAsync(Jid account) =>
            ValueTask.FromResult(_set.Contains(account) ? new UserCredentials(account.Local ?? "", []) : null);
        public bool Exists(Jid account) => _set.Contains(account);
        public Task<bool> AddAsync(Jid account, string password) => throw new NotSupportedException();
        public Task<int> AddManyAsync(IReadOnlyList<(Jid Account, string Password)> accounts) => throw new NotSupportedException();
        public Task<bool> RemoveAsync(Jid account) => throw new NotSupportedException();
        public Task<bool> SetPasswordAsync(Jid account, string password) => throw new NotSupportedException();
        public IReadOnlyList<Jid> List() => _set.ToList();
    }

    private sealed class Ignore : UntypedActor
    {
        protected override void OnReceive(object message) { }
    }

    /// <summary>A user directory whose Tell does nothing but count: the router's own cost up to its one Tell.</summary>
    private sealed class CountingDirectory : IUserDirectory
    {
        public long Count;
        public void Tell(Jid user, object message, IActorRef? sender = null) => Count++;
        public Task<T> Ask<T>(Jid user, object message, TimeSpan timeout) => throw new NotSupportedException();
    }

    private StanzaRouter _stubRouter = null!, _actorRouter = null!;
    private ActorSystem _system = null!;
    private Element _stanza = null!;
    private Jid _from = null!, _to = null!;

    [GlobalSetup]
    public void Setup()
    {
        _from = Jid.Parse("juliet@example.com/balcony");
        _to = Jid.Parse("romeo@example.com");
        _stanza = Stanzas.Parse(Stanzas.Chat300);
        _stanza.To = _to.ToString();
        _stanza.From = _from.ToString();
        var accounts = new Accounts(_from.Bare, _to);

        // the router Tells the account's resources entity (issue 9, 5e): the stub counts that Tell
        _stubRouter = new StanzaRouter(["example.com"], new LocalSessionRegistry(), accounts, new IqHandlers(), NullLogger<StanzaRouter>.Instance,
            new CountingDirectory());

        // the real path: users actor → romeo's resources entity → a do-nothing session
        _system = ActorSystem.Create("bench", "akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING");
        var session = _system.ActorOf(Props.Create(typeof(Ignore)), "romeo-orchard");
        var users = new LocalUserDirectory();
        _actorRouter = new StanzaRouter(["example.com"], new LocalSessionRegistry(), accounts, new IqHandlers(), NullLogger<StanzaRouter>.Instance, users);
        users.Attach(_system.ActorOf(UsersActor.Props(_ => Props.Create(typeof(Ignore)), _actorRouter), "users"));
        var romeo = Jid.Parse("romeo@example.com/orchard");
        users.Tell(romeo.Bare, new UserActor.SessionStarted(romeo, session), session);
        users.Tell(romeo.Bare, new UserActor.ResourcePresence(romeo, session, new Element("presence", Ns.Client), true, 0), session);
    }

    [GlobalCleanup]
    public void Cleanup() => _system.Terminate().Wait();

    [Benchmark(Description = "Route to bare JID, stub user directory")]
    public void RouteStub() => _stubRouter.Route(_stanza, _from, _to);

    [Benchmark(Description = "Route to bare JID, through the resources entity to a do-nothing actor")]
    public void RouteActor() => _actorRouter.Route(_stanza, _from, _to);
}

[MemoryDiagnoser]
[MedianColumn, MinColumn, MaxColumn]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 5)]
public class JidBenchmarks
{
    [Params("juliet@example.com/balcony", "romeo@example.net", "Jürgen@Exämple.COM/Tablet ☕")]
    public string Text { get; set; } = "";

    [Benchmark(Description = "Jid.Parse")]
    public Jid Parse() => Jid.Parse(Text);
}

/// <summary>
/// Server side of one full SCRAM-SHA-1 exchange (client-first, server-first, client-final, server-final) against a
/// stored verifier with 4096 iterations (RFC 5802 §5 test vector). The server never runs PBKDF2 at login (it stores
/// StoredKey/ServerKey), so <c>Derive</c> is measured separately: what 4096 iterations cost when an account is
/// created or its password changed, and what every client pays per login.
/// </summary>
[MemoryDiagnoser]
[MedianColumn, MinColumn, MaxColumn]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 5)]
public class ScramBenchmarks
{
    private static readonly SaslOptions Options = new() { ServerSecret = Encoding.UTF8.GetBytes("bench-secret") };
    private readonly byte[] _clientFirst = Encoding.UTF8.GetBytes("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
    private readonly byte[] _clientFinal = Encoding.UTF8.GetBytes("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
    private readonly byte[] _salt = Convert.FromBase64String("QSXCR+Q6sek8bf92");
    private UserCredentials _creds = null!;

    [GlobalSetup]
    public void Setup()
    {
        _creds = new UserCredentials("user", [ScramKeys.Derive("SHA-1", "pencil", _salt, 4096)]);
        if (Exchange() is not SaslResult.Success) throw new InvalidOperationException("SCRAM exchange failed");
    }

    [Benchmark(Description = "SCRAM-SHA-1 server exchange (i=4096 verifier)")]
    public SaslResult Exchange()
    {
        var m = new ScramServerMechanism("SHA-1", false, null, false, "example.com", Options, () => "3rfcNHYJY1ZVvWVs7j");
        m.Start(_clientFirst);
        m.Continue(_creds);
        return m.Step(_clientFinal);
    }

    [Benchmark(Description = "ScramKeys.Derive SHA-1 i=4096 (PBKDF2)")]
    public ScramCredential Derive() => ScramKeys.Derive("SHA-1", "pencil", _salt, 4096);
}

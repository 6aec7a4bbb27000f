using System.Text;
using Actors.Xmpp.Server;
using Actors.Xmpp.Server.Accounts;
using Actors.Xmpp.Server.C2s;
using Actors.Xmpp.Server.Iq;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Server.Sasl;
using Actors.Xmpp.Server.Sessions;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Server.Security;
using Actors.Xmpp.Transport.Connections;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Microsoft.Extensions.Logging.Abstractions;

namespace Actors.Xmpp.Tests.C2s;

/// <summary>The connection actor driven message by message through an in-memory transport (a transcript test).</summary>
public sealed class C2sConnectionActorSpec : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), "actors-spec-" + Guid.NewGuid().ToString("N"));
    private readonly ServerContext _server;
    private readonly IActorRef _sessions;

    public C2sConnectionActorSpec()
    {
        var options = new XmppServerOptions { DataDir = _dataDir };
        options.Tls.Required = false;
        options.Auth.AllowPlainWithoutTls = true;
        options.Limits.NegotiationTimeoutSeconds = 1;
        var domains = options.AllDomains();
        var accounts = new FileAccountStore(_dataDir, 64);
        accounts.AddAsync(Jid.Parse("alice@localhost"), "secret").GetAwaiter().GetResult();
        var sessions = new LocalSessionRegistry();
        var iq = new IqHandlers();
        // the accounts' resources entities route; the user actors are left out (nothing here needs a roster)
        var users = new LocalUserDirectory();
        var router = new StanzaRouter(domains, sessions, accounts, iq, NullLogger<StanzaRouter>.Instance, users);
        users.Attach(Sys.ActorOf(UsersActor.Props(_ => Akka.TestKit.TestActors.BlackHoleActor.Props, router)));
        _server = new ServerContext(options, domains, accounts, sessions, router, iq,
            new SaslMechanisms(new SaslOptions { AllowPlainWithoutTls = true, FakeIterations = 64 }), new LoginRateLimiter(10));
        _sessions = Sys.ActorOf(SessionsActor.Props(_server), SessionsActor.Name);
    }

    private static StreamHeader Header(string to = "localhost", string? version = "1.0", string ns = Ns.Streams, string? content = Ns.Client)
    {
        var attrs = new List<XAttr> { new("to", to) };
        if (version is not null) attrs.Add(new("version", version));
        return new StreamHeader("stream", ns, content, attrs);
    }

    private (IActorRef Actor, InMemoryConnection Conn) Connect(IActorRef? sessions = null)
    {
        var conn = new InMemoryConnection();
        var actor = Sys.ActorOf(C2sConnectionActor.Props(_server, conn, sessions ?? _sessions));
        return (actor, conn);
    }

    private static Element Stanza(string xml) => Element.Parse(xml);

    private static void ExpectStreamError(InMemoryConnection conn, string condition)
    {
        var error = conn.NextElement();
        Assert.True(error.Is("error", Ns.Streams), $"expected a stream error, got {error}");
        Assert.NotNull(error.Child(condition, Ns.StreamErrors));
        Assert.Equal("</stream:stream>", conn.NextRaw());
    }

    [Fact]
    public void Rfc6120_4_7_header_is_answered_with_header_and_features()
    {
        var (actor, conn) = Connect();
        actor.Tell(new TransportEvents.StreamOpened(Header()));
        var header = conn.NextRaw();
        Assert.Contains("from='localhost'", header);
        Assert.Contains("version='1.0'", header);
        Assert.Matches("id='[0-9a-f]+'", header);
        var features = conn.NextElement();
        Assert.True(features.Is("features", Ns.Streams));
        var mechanisms = features.Child("mechanisms", Ns.Sasl)!.Elements().Select(m => m.Text).ToList();
        Assert.Contains("SCRAM-SHA-256", mechanisms);
        Assert.Contains("PLAIN", mechanisms);
    }

    [Fact]
    public void Rfc6120_4_9_3_6_unknown_host_gets_header_then_host_unknown()
    {
        var (actor, conn) = Connect();
        actor.Tell(new TransportEvents.StreamOpened(Header(to: "elsewhere.example")));
        Assert.StartsWith("<?xml", conn.NextRaw());
        ExpectStreamError(conn, "host-unknown");
        AwaitCondition(() => conn.Closed); // the close follows the closing tag
    }

    [Fact]
    public void Rfc6120_4_9_3_10_wrong_content_namespace_is_invalid_namespace()
    {
        var (actor, conn) = Connect();
        actor.Tell(new TransportEvents.StreamOpened(Header(content: "jabber:server")));
        conn.NextRaw();
        ExpectStreamError(conn, "invalid-namespace");
    }

    [Fact]
    public void Rfc6120_4_9_3_12_stanza_before_authentication_is_not_authorized()
    {
        var (actor, conn) = Connect();
        actor.Tell(new TransportEvents.StreamOpened(Header()));
        conn.NextRaw();
        conn.NextElement();
        actor.Tell(new TransportEvents.StanzaReceived(Stanza("<message to='alice@localhost'><body>x</body></message>")));
        ExpectStreamError(conn, "not-authorized");
    }

    [Fact]
    public void A_plugins_pre_authentication_IQ_handler_answers_on_the_stream_and_sees_its_domain_security_and_address()
    {
        Plugins.StreamInfo? seen = null;
        using var feature = _server.Negotiation.AddStreamFeature(Plugins.StreamStage.BeforeAuthentication,
            s => s.IsSecure ? null : new Element("example", "urn:example:pre"));
        using var handler = _server.Negotiation.HandlePreAuthIq("get", "urn:example:pre", "query", r =>
        {
            seen = r.Stream;
            return ValueTask.FromResult(r.Result(new Element("query", "urn:example:pre")));
        });
        var (actor, conn) = Connect();
        actor.Tell(new TransportEvents.StreamOpened(Header()));
        conn.NextRaw();
        Assert.NotNull(conn.NextElement().Child("example", "urn:example:pre")); // the provider's own condition: not secure
        actor.Tell(new TransportEvents.StanzaReceived(Stanza("<iq type='get' id='q1'><query xmlns='urn:example:pre'/></iq>")));
        var answer = conn.NextElement();
        Assert.Equal("result", answer.Type);
        Assert.Equal("q1", answer.Id);
        // the address group: an IPv4 address is its own; a loopback client is exempt from per-address limits (the
        // default Limits:ExemptLoopback)
        Assert.Equal(new Plugins.StreamInfo("localhost", false, "127.0.0.1", "127.0.0.1", AddressLimitsExempt: true), seen);
        // RFC 6120 §4.9.3.12: the same namespace with a type nobody handles still ends the stream
        actor.Tell(new TransportEvents.StanzaReceived(Stanza("<iq type='set' id='q2'><query xmlns='urn:example:pre'/></iq>")));
        ExpectStreamError(conn, "not-authorized");
    }

    [Fact]
    public void A_plugins_stream_feature_after_authentication_is_offered_next_to_bind_and_withdrawn_when_disposed()
    {
        var feature = _server.Negotiation.AddStreamFeature(Plugins.StreamStage.AfterAuthentication, _ => new Element("example", "urn:example:post"));
        Element Login()
        {
            var (actor, conn) = Connect();
            actor.Tell(new TransportEvents.StreamOpened(Header()));
            conn.NextRaw();
            Assert.Null(conn.NextElement().Child("example", "urn:example:post")); // not before authentication
            var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes("\0alice\0secret"));
            actor.Tell(new TransportEvents.StanzaReceived(Stanza($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>")));
            Assert.True(conn.NextElement().Is("success", Ns.Sasl));
            actor.Tell(new TransportEvents.StreamOpened(Header()));
            conn.NextRaw();
            return conn.NextElement();
        }
        var features = Login();
        Assert.NotNull(features.Child("bind", Ns.Bind));
        Assert.NotNull(features.Child("example", "urn:example:post"));
        feature.Dispose();
        Assert.Null(Login().Child("example", "urn:example:post"));
    }

    [Fact]
    public void Rfc6120_6_and_7_plain_login_bind_and_message_to_self()
    {
        var (actor, conn) = Connect();
        actor.Tell(new TransportEvents.StreamOpened(Header()));
        conn.NextRaw();
        conn.NextElement();
        var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes("\0alice\0secret"));
        actor.Tell(new TransportEvents.StanzaReceived(Stanza($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>")));
        Assert.True(conn.NextElement().Is("success", Ns.Sasl));
        Assert.True(conn.Restarted);

        actor.Tell(new TransportEvents.StreamOpened(Header()));
        conn.NextRaw();
        var features = conn.NextElement();
        Assert.NotNull(features.Child("bind", Ns.Bind));
        Assert.NotNull(features.Child("session", Ns.Session)?.Child("optional"));

        actor.Tell(new TransportEvents.StanzaReceived(Stanza("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>phone</resource></bind></iq>")));
        var bound = conn.NextElement();
        Assert.Equal("result", bound.Type);
        Assert.Equal("alice@localhost/phone", bound.Child("bind", Ns.Bind)!.ChildText("jid"));

        actor.Tell(new TransportEvents.StanzaReceived(Stanza("<presence/>")));
        var ownPresence = conn.NextElement();
        Assert.Equal("presence", ownPresence.Name);
        Assert.Equal("alice@localhost/phone", ownPresence.From);

        actor.Tell(new TransportEvents.StanzaReceived(Stanza("<message type='chat' to='alice@localhost'><body>note to self</body></message>")));
        var message = conn.NextElement();
        Assert.Equal("note to self", message.ChildText("body"));
        Assert.Equal("alice@localhost/phone", message.From);
        AwaitCondition(() => conn.ProcessedCount == 4);
    }

    [Fact]
    public void Rfc6120_6_5_10_wrong_password_is_not_authorized()
    {
        var (actor, conn) = Connect();
        actor.Tell(new TransportEvents.StreamOpened(Header()));
        conn.NextRaw();
        conn.NextElement();
        var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes("\0alice\0wrong"));
        actor.Tell(new TransportEvents.StanzaReceived(Stanza($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>")));
        var failure = conn.NextElement();
        Assert.True(failure.Is("failure", Ns.Sasl));
        Assert.NotNull(failure.Child("not-authorized"));
    }

    [Fact]
    public void Rfc6120_4_9_3_4_negotiation_that_takes_too_long_is_connection_timeout()
    {
        var (actor, conn) = Connect();
        actor.Tell(new TransportEvents.StreamOpened(Header()));
        conn.NextRaw();
        conn.NextElement();
        var error = conn.NextElement(TimeSpan.FromSeconds(5));
        Assert.NotNull(error.Child("connection-timeout", Ns.StreamErrors));
    }

    [Fact]
    public void Rfc6120_7_7_2_2_a_second_bind_of_the_same_resource_replaces_the_first_with_conflict()
    {
        var first = Login("desk");
        var second = Login("desk");
        ExpectStreamError(first.Conn, "conflict");
        Assert.Single(_server.Sessions.Resources(Jid.Parse("alice@localhost")));
        Assert.Equal(second.Actor.Path.Name, second.Actor.Path.Name);
    }

    [Fact]
    public void Rfc6120_7_stanzas_pipelined_behind_the_bind_request_reach_the_session_after_the_bind_result()
    {
        var (actor, conn) = Connect();
        actor.Tell(new TransportEvents.StreamOpened(Header()));
        conn.NextRaw();
        conn.NextElement();
        var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes("\0alice\0secret"));
        actor.Tell(new TransportEvents.StanzaReceived(Stanza($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>")));
        conn.NextElement();
        actor.Tell(new TransportEvents.StreamOpened(Header()));
        conn.NextRaw();
        conn.NextElement();
        // sent back to back: the session is made by the sessions supervisor meanwhile
        actor.Tell(new TransportEvents.StanzaReceived(Stanza("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>fast</resource></bind></iq>")));
        actor.Tell(new TransportEvents.StanzaReceived(Stanza("<presence/>")));
        actor.Tell(new TransportEvents.StanzaReceived(Stanza("<iq type='get' id='r'><query xmlns='jabber:iq:version'/></iq>")));
        Assert.Equal("b", conn.NextElement().Id);
        var presence = conn.NextElement();
        Assert.Equal("presence", presence.Name);
        Assert.Equal("alice@localhost/fast", presence.From);
        AwaitCondition(() => conn.ProcessedCount == 4);
    }

    [Fact]
    public void Rfc6120_4_6_1_a_silent_stream_gets_a_whitespace_keep_alive_from_the_timer_wheel()
    {
        _server.Options.Limits.KeepAliveSeconds = 1;
        _server.Options.Limits.NegotiationTimeoutSeconds = 10; // due with the keep-alive at 1 s, it would close the stream first
        var (actor, conn) = Connect();
        actor.Tell(new TransportEvents.StreamOpened(Header()));
        conn.NextRaw();
        conn.NextElement();
        conn.LastSentTicks = Environment.TickCount64 - 5000; // nothing sent for a while
        conn.LastReceivedTicks = Environment.TickCount64;
        AwaitCondition(() => conn.KeepAlives > 0, TimeSpan.FromSeconds(5));
        Assert.Equal(" ", conn.NextRaw());
    }

    [Fact]
    public void Without_a_resumption_window_a_lost_connection_closes_its_session()
    {
        var (actor, conn) = Login("lost");
        var full = Jid.Parse("alice@localhost/lost");
        Assert.NotNull(_server.Sessions.Find(full));
        actor.Tell(new TransportEvents.ConnectionLost("reset by peer"));
        // the session leaves the registry once its account's entity has seen the end (SessionMessages.EndSeen): a
        // round trip through the user directory, longer than the kit's 3 s default on a machine busy building
        AwaitCondition(() => _server.Sessions.Find(full) is null, TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void With_a_resumption_window_a_lost_connection_detaches_its_session_and_a_closed_stream_closes_it()
    {
        _server.Options.Sessions.ResumptionWindowSeconds = 60;
        var sessions = Sys.ActorOf(SessionsActor.Props(_server));
        var (lost, _) = Login("lost", sessions);
        var lostSession = _server.Sessions.Find(Jid.Parse("alice@localhost/lost"))!.Session;
        lost.Tell(new TransportEvents.ConnectionLost("reset by peer"));
        AwaitAssert(() =>
        {
            lostSession.Tell(SessionActor.GetState.Instance);
            Assert.Equal(SessionActor.State.Detached, ExpectMsg<SessionActor.State>());
        });

        var (closed, conn) = Login("closed", sessions);
        var closedSession = _server.Sessions.Find(Jid.Parse("alice@localhost/closed"))!.Session;
        Watch(closedSession);
        closed.Tell(TransportEvents.StreamClosedInstance); // RFC 6120 §4.4: the client closes its stream
        Assert.Equal("</stream:stream>", conn.NextRaw());
        ExpectTerminated(closedSession);
    }

    private (IActorRef Actor, InMemoryConnection Conn) Login(string resource, IActorRef? sessions = null)
    {
        var (actor, conn) = Connect(sessions);
        actor.Tell(new TransportEvents.StreamOpened(Header()));
        conn.NextRaw();
        conn.NextElement();
        var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes("\0alice\0secret"));
        actor.Tell(new TransportEvents.StanzaReceived(Stanza($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>")));
        conn.NextElement();
        actor.Tell(new TransportEvents.StreamOpened(Header()));
        conn.NextRaw();
        conn.NextElement();
        actor.Tell(new TransportEvents.StanzaReceived(Stanza($"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{resource}</resource></bind></iq>")));
        Assert.Equal("result", conn.NextElement().Type);
        return (actor, conn);
    }

    /// <summary>An account store whose lookups complete when the test opens it (a directory still being recovered);
    /// a synchronous lookup fails the test.</summary>
    private sealed class GatedAccounts(IAccountStore inner) : IAccountStore
    {
        public readonly TaskCompletionSource Open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public UserCredentials? Find(Jid account) => throw new InvalidOperationException("a synchronous account lookup");
        public async ValueTask<UserCredentials?> FindAsync(Jid account)
        {
            await Open.Task;
            return inner.Find(account);
        }
        public bool Exists(Jid account) => inner.Exists(account);
        public Task<bool> AddAsync(Jid account, string password) => inner.AddAsync(account, password);
        public Task<int> AddManyAsync(IReadOnlyList<(Jid Account, string Password)> accounts) => inner.AddManyAsync(accounts);
        public Task<bool> RemoveAsync(Jid account) => inner.RemoveAsync(account);
        public Task<bool> SetPasswordAsync(Jid account, string password) => inner.SetPasswordAsync(account, password);
        public IReadOnlyList<Jid> List() => inner.List();
    }

    [Fact]
    public void Rfc6120_6_4_account_lookup_does_not_block_and_later_stanzas_wait_for_its_answer()
    {
        var gated = new GatedAccounts(_server.Accounts);
        var server = _server with { Accounts = gated };
        var conn = new InMemoryConnection();
        var actor = Sys.ActorOf(C2sConnectionActor.Props(server, conn, _sessions));
        actor.Tell(new TransportEvents.StreamOpened(Header()));
        conn.NextRaw();
        conn.NextElement();
        var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes("\0alice\0secret"));
        actor.Tell(new TransportEvents.StanzaReceived(Stanza($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>")));
        // the actor is not blocked while the lookup is pending: a message to it is answered
        actor.Tell(new TransportEvents.StanzaReceived(Stanza("<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")));
        Assert.Throws<TimeoutException>(() => conn.Next(TimeSpan.FromMilliseconds(200)));
        AwaitAssert(() => Assert.Equal(1, Volatile.Read(ref conn.ProcessedCount))); // the abort is held, unacknowledged

        gated.Open.SetResult();
        // the lookup's answer first: had the <abort/> been handled while the lookup was pending, the exchange would
        // have ended with <failure><aborted/></failure> and no success
        Assert.True(conn.NextElement().Is("success", Ns.Sasl));
        actor.Tell(new TransportEvents.StreamOpened(Header()));
        conn.NextRaw();
        Assert.NotNull(conn.NextElement().Child("bind", Ns.Bind)); // authenticated
        AwaitAssert(() => Assert.Equal(2, Volatile.Read(ref conn.ProcessedCount)));
    }

    public new void Dispose()
    {
        base.Dispose();
        try { Directory.Delete(_dataDir, true); } catch (IOException) { }
    }
}

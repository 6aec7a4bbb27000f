using System.Text;
using Actors.Xmpp.Server;
using Actors.Xmpp.Server.Accounts;
using Actors.Xmpp.Server.C2s;
using Actors.Xmpp.Server.Iq;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Server.Sasl;
using Actors.Xmpp.Server.Security;
using Actors.Xmpp.Server.Sessions;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Tests.C2s;
using Actors.Xmpp.Transport.Connections;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Akka.TestKit;
using Microsoft.Extensions.Logging.Abstractions;

namespace Actors.Xmpp.Tests.Sessions;

/// <summary>
/// The session lifecycle under the sessions supervisor (docs/architecture.md): bound = attached; connection lost =
/// detached (closed at once with no resumption window); attached again, or closed when the window ends; unavailable
/// presence only when it is really closed. Connections are test probes with in-memory transports; the resumption
/// window runs on a hand-driven timer wheel.
/// </summary>
public sealed class SessionLifecycleSpec : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), "actors-sessions-" + Guid.NewGuid().ToString("N"));
    private readonly LocalSessionRegistry _registry = new();
    private readonly TimerWheel _wheel;
    private LocalUserDirectory? _users;
    private long _now = 1_000_000;
    private static readonly Jid Alice = Jid.Parse("alice@localhost/phone");
    private static readonly Jid AliceLaptop = Jid.Parse("alice@localhost/laptop");
    private static readonly TimeSpan Nothing = TimeSpan.FromMilliseconds(300);

    public SessionLifecycleSpec()
    {
        _wheel = new TimerWheel(() => _now, 500, 64, autoAdvance: false);
    }

    /// <param name="usersActor">instead of the users actor (the accounts' resources entities): a probe</param>
    private ServerContext Server(int resumptionWindowSeconds, int maxDetachedStanzas = 500, IActorRef? usersActor = null)
    {
        var options = new XmppServerOptions { DataDir = _dataDir };
        options.Tls.Required = false;
        options.Auth.AllowPlainWithoutTls = true;
        options.Sessions.ResumptionWindowSeconds = resumptionWindowSeconds;
        options.Sessions.MaxDetachedStanzas = maxDetachedStanzas;
        var domains = options.AllDomains();
        var accounts = new FileAccountStore(_dataDir, 64);
        accounts.AddAsync(Jid.Parse("alice@localhost"), "secret").GetAwaiter().GetResult();
        var iq = new IqHandlers();
        // the accounts' resources entities route; the user actors are left out (nothing here needs a roster)
        var users = new LocalUserDirectory();
        var router = new StanzaRouter(domains, _registry, accounts, iq, NullLogger<StanzaRouter>.Instance, users);
        users.Attach(usersActor ?? Sys.ActorOf(UsersActor.Props(_ => Akka.TestKit.TestActors.BlackHoleActor.Props, router)));
        _users = users;
        return new ServerContext(options, domains, accounts, _registry, router, iq,
            new SaslMechanisms(new SaslOptions { AllowPlainWithoutTls = true, FakeIterations = 64 }), new LoginRateLimiter(10))
        {
            Timers = _wheel,
        };
    }

    private static Element Stanza(string xml)
    {
        Element? result = null;
        var framer = new XmppFramer(new CaptureSink(e => result = e));
        framer.Feed(Encoding.UTF8.GetBytes("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>" + xml));
        return result ?? throw new InvalidOperationException("no stanza parsed");
    }

    private sealed class CaptureSink(Action<Element> onStanza) : IFramerSink
    {
        public void OnStreamOpen(StreamHeader header) { }
        public void OnStanza(Element stanza) => onStanza(stanza);
        public void OnStreamClose() { }
        public void OnError(FramerErrorCondition condition, string text) => throw new InvalidOperationException(text);
    }

    /// <summary>Opens <paramref name="jid"/>'s session through the supervisor, attached to a probe connection.</summary>
    private (IActorRef Session, string Id, TestProbe Connection, InMemoryConnection Client) Open(IActorRef supervisor, Jid jid)
    {
        var connection = CreateTestProbe();
        var client = new InMemoryConnection();
        var id = SessionsActor.NewSessionId();
        supervisor.Tell(new SessionsActor.Open(id, jid, client, connection.Ref), connection.Ref);
        var opened = connection.ExpectMsg<SessionsActor.Opened>();
        Assert.Equal(id, opened.SessionId);
        Assert.Equal(jid, opened.Jid);
        return (opened.Session, id, connection, client);
    }

    /// <summary>Another resource of the account, as a probe bound and available (what its session tells the account's
    /// resources entity): it receives the presence broadcasts.</summary>
    private TestProbe OtherResource()
    {
        var laptop = CreateTestProbe();
        _users!.Tell(AliceLaptop.Bare, new UserActor.SessionStarted(AliceLaptop, laptop.Ref), laptop.Ref);
        _users.Tell(AliceLaptop.Bare, new AccountResourcesActor.OwnPresence(AliceLaptop, laptop.Ref, true, 0, null), laptop.Ref);
        return laptop;
    }

    private static SessionActor.State StateOf(IActorRef session, TestProbe asker)
    {
        session.Tell(SessionActor.GetState.Instance, asker.Ref);
        return asker.ExpectMsg<SessionActor.State>();
    }

    private void ElapseWindow(int seconds)
    {
        _now += seconds * 1000L + 500;
        _wheel.Advance();
    }

    private static bool IsUnavailableFromAlice(object m) =>
        m is SessionMessages.Deliver d && d.Stanza.Name == "presence" && d.Stanza.Type == "unavailable" && d.Stanza.From == Alice.ToString();

    [Fact]
    public void A_bound_session_is_a_child_of_the_sessions_supervisor_registered_and_attached()
    {
        var supervisor = Sys.ActorOf(SessionsActor.Props(Server(0)), SessionsActor.Name);
        var (session, id, _, _) = Open(supervisor, Alice);
        Assert.Equal("/user/sessions/" + id, session.Path.ToStringWithoutAddress());
        Assert.Equal(session, _registry.Find(Alice)?.Session);
        Assert.Equal(SessionActor.State.Attached, StateOf(session, CreateTestProbe()));
        supervisor.Tell(SessionsActor.GetCount.Instance);
        ExpectMsg(1);
    }

    [Fact]
    public void Rfc6120_7_7_2_2_a_second_session_for_the_same_full_jid_tells_the_first_connection_conflict()
    {
        var supervisor = Sys.ActorOf(SessionsActor.Props(Server(0)));
        var (first, _, firstConnection, _) = Open(supervisor, Alice);
        var (second, _, _, _) = Open(supervisor, Alice);
        var close = firstConnection.ExpectMsg<C2sConnectionActor.CloseWithStreamError>();
        Assert.Equal("conflict", close.Condition);
        Assert.Equal(second, _registry.Find(Alice)?.Session);
        Watch(first);
        first.Tell(new SessionActor.Close(firstConnection.Ref));
        ExpectTerminated(first);
        Assert.Equal(second, _registry.Find(Alice)?.Session); // the old one unregisters only itself
    }

    [Fact]
    public void Rfc6121_4_5_2_a_closed_stream_closes_the_session_and_unavailable_presence_is_broadcast()
    {
        var supervisor = Sys.ActorOf(SessionsActor.Props(Server(60)));
        var (session, _, connection, _) = Open(supervisor, Alice);
        var laptop = OtherResource();
        session.Tell(new SessionActor.FromClient(Stanza("<presence/>")));
        laptop.FishForMessage(m => m is SessionMessages.Deliver d && d.Stanza.Name == "presence" && d.Stanza.Type is null);
        Watch(session);
        session.Tell(new SessionActor.Close(connection.Ref)); // a clean close ends the session even with a window
        ExpectTerminated(session);
        laptop.FishForMessage(IsUnavailableFromAlice);
        Assert.Null(_registry.Find(Alice));
    }

    [Fact]
    public void Rfc6121_8_5_3_2_1_a_message_that_reaches_a_session_after_its_end_goes_to_another_resource_not_lost()
    {
        // the account's resources entity may route a message to the session just before it learns the end: the
        // session hands it back until the entity confirms, so it is handled as a message to a gone resource (here:
        // the account's other available resource). The users actor is reached through a gate that holds the
        // session's SessionEnded until the late message is in the session's mailbox, as the entity's own would be
        var gate = CreateTestProbe();
        var heldEnd = new System.Collections.Concurrent.ConcurrentQueue<(object Message, IActorRef Sender)>();
        IActorRef? real = null;
        gate.SetAutoPilot(new DelegateAutoPilot((sender, message) =>
        {
            if (message is UsersActor.Envelope { Message: UserActor.SessionEnded } && heldEnd.IsEmpty) heldEnd.Enqueue((message, sender));
            else real!.Tell(message, sender);
            return AutoPilot.KeepRunning;
        }));
        var server = Server(0, usersActor: gate.Ref);
        real = Sys.ActorOf(UsersActor.Props(_ => Akka.TestKit.TestActors.BlackHoleActor.Props, server.Router));
        var supervisor = Sys.ActorOf(SessionsActor.Props(server));
        var (session, _, connection, _) = Open(supervisor, Alice);
        var laptop = OtherResource();
        Watch(session);
        session.Tell(new SessionActor.Close(connection.Ref));
        AwaitCondition(() => StateOf(session, CreateTestProbe()) == SessionActor.State.Ending);
        session.Tell(new SessionMessages.Deliver(Stanza("<message from='bob@localhost/x' to='alice@localhost/phone' type='chat'><body>late</body></message>")));
        Assert.Equal(SessionActor.State.Ending, StateOf(session, CreateTestProbe())); // the late message is handled
        AwaitCondition(() => !heldEnd.IsEmpty);
        heldEnd.TryPeek(out var end);
        real.Tell(end.Message, end.Sender);
        var late = (SessionMessages.Deliver)laptop.FishForMessage(m => m is SessionMessages.Deliver d && d.Stanza.Name == "message");
        Assert.Equal("late", late.Stanza.ChildText("body", Ns.Client));
        ExpectTerminated(session); // once the entity saw the end
    }

    [Fact]
    public void An_ended_session_hands_back_what_reaches_it_until_its_entity_confirms_or_the_ending_timeout()
    {
        var entities = CreateTestProbe(); // the users region that never confirms
        var supervisor = Sys.ActorOf(SessionsActor.Props(Server(0, usersActor: entities.Ref)));
        var (session, _, connection, _) = Open(supervisor, Alice);
        Watch(session);
        session.Tell(SessionActor.End.Instance); // the server stops
        entities.FishForMessage(m => m is UsersActor.Envelope { Message: UserActor.SessionEnded });
        Assert.Equal(SessionActor.State.Ending, StateOf(session, CreateTestProbe()));
        Assert.Null(_registry.Find(Alice));

        session.Tell(new SessionMessages.Deliver(Stanza("<message from='bob@localhost/x' to='alice@localhost/phone' type='chat'><body>late</body></message>")));
        var routed = (UsersActor.Envelope)entities.FishForMessage(m => m is UsersActor.Envelope { Message: AccountResourcesActor.RouteStanza });
        Assert.Equal("late", ((AccountResourcesActor.RouteStanza)routed.Message).Stanza.ChildText("body", Ns.Client));
        var asker = CreateTestProbe();
        session.Tell(new SessionMessages.DeliverPage([Stanza("<message from='bob@localhost/x' to='alice@localhost/phone'><body>stored</body></message>")], 7), asker.Ref);
        Assert.False(asker.ExpectMsg<SessionMessages.PageWritten>().Written);
        session.Tell(new SessionActor.Attach(Alice.Bare, new InMemoryConnection(), connection.Ref), connection.Ref);
        connection.FishForMessage(m => m is SessionsActor.AttachFailed);

        ExpectNoMsg(Nothing); // still ending
        _now += (long)SessionActor.EndingTimeout.TotalMilliseconds + 500;
        _wheel.Advance();
        ExpectTerminated(session);
    }

    [Fact]
    public void Without_a_resumption_window_a_lost_connection_closes_the_session_at_once()
    {
        var supervisor = Sys.ActorOf(SessionsActor.Props(Server(0)));
        var (session, _, connection, _) = Open(supervisor, Alice);
        var laptop = OtherResource();
        session.Tell(new SessionActor.FromClient(Stanza("<presence/>")));
        laptop.FishForMessage(m => m is SessionMessages.Deliver d && d.Stanza.Name == "presence" && d.Stanza.Type is null);
        Watch(session);
        session.Tell(new SessionActor.Detach(connection.Ref));
        ExpectTerminated(session);
        laptop.FishForMessage(IsUnavailableFromAlice);
        Assert.Null(_registry.Find(Alice));
    }

    [Fact]
    public void A_detached_session_stays_registered_and_available_keeps_what_is_delivered_and_broadcasts_nothing()
    {
        var supervisor = Sys.ActorOf(SessionsActor.Props(Server(60)));
        var (session, _, connection, client) = Open(supervisor, Alice);
        var laptop = OtherResource();
        session.Tell(new SessionActor.FromClient(Stanza("<presence/>")));
        laptop.FishForMessage(m => m is SessionMessages.Deliver d && d.Stanza.Name == "presence" && d.Stanza.Type is null);
        client.NextElement(); // its own presence, reflected (RFC 6121 §4.2.2)

        session.Tell(new SessionActor.Detach(connection.Ref));
        Assert.Equal(SessionActor.State.Detached, StateOf(session, CreateTestProbe()));
        Assert.True(_registry.Find(Alice)?.Available);
        session.Tell(new SessionMessages.Deliver(Stanza("<message from='bob@localhost/x' to='alice@localhost/phone' type='chat'><body>kept</body></message>")));
        laptop.ExpectNoMsg(Nothing); // no unavailable presence: the session is not closed
        Assert.False(client.Sent.TryTake(out _, 100)); // the lost connection gets nothing
    }

    [Fact]
    public void A_detached_session_attached_to_a_new_connection_writes_there_starting_with_what_was_kept()
    {
        var supervisor = Sys.ActorOf(SessionsActor.Props(Server(60)));
        var (session, id, connection, _) = Open(supervisor, Alice);
        session.Tell(new SessionActor.Detach(connection.Ref));
        session.Tell(new SessionMessages.Deliver(Stanza("<message from='bob@localhost/x' to='alice@localhost/phone' type='chat'><body>one</body></message>")));
        session.Tell(new SessionMessages.Deliver(Stanza("<message from='bob@localhost/x' to='alice@localhost/phone' type='chat'><body>two</body></message>")));

        var resumed = new System.Collections.Concurrent.ConcurrentQueue<Actors.Xmpp.Plugins.ServerEvent>();
        using var subscription = Actors.Xmpp.Server.Lifecycle.ServerEvents.Of(Sys).On(Actors.Xmpp.Plugins.ServerEventKind.SessionResumed, e =>
        {
            resumed.Enqueue(e);
            return ValueTask.CompletedTask;
        });
        var newConnection = CreateTestProbe();
        var newClient = new InMemoryConnection();
        supervisor.Tell(new SessionsActor.Attach(id, Alice.Bare, newClient, newConnection.Ref), newConnection.Ref);
        var attached = newConnection.ExpectMsg<SessionActor.Attached>();
        AwaitCondition(() => resumed.Count == 1); // plugins hear of it (ServerEventKind.SessionResumed, the full JID)
        Assert.Equal(Alice, Assert.Single(resumed).Jid);
        Assert.Equal(session, attached.Session);
        Assert.Equal(Alice, attached.Jid);
        Assert.Equal(2, attached.Pending);
        Assert.Equal("one", newClient.NextElement().ChildText("body", Ns.Client));
        Assert.Equal("two", newClient.NextElement().ChildText("body", Ns.Client));
        Assert.Equal(SessionActor.State.Attached, StateOf(session, CreateTestProbe()));

        session.Tell(new SessionMessages.Deliver(Stanza("<message from='bob@localhost/x' to='alice@localhost/phone' type='chat'><body>three</body></message>")));
        Assert.Equal("three", newClient.NextElement().ChildText("body", Ns.Client));

        // the window that was running no longer closes it
        ElapseWindow(120);
        Assert.Equal(SessionActor.State.Attached, StateOf(session, CreateTestProbe()));
        // and the old connection's late messages are ignored
        session.Tell(new SessionActor.Detach(connection.Ref));
        session.Tell(new SessionActor.Close(connection.Ref));
        Assert.Equal(SessionActor.State.Attached, StateOf(session, CreateTestProbe()));
    }

    [Fact]
    public void A_detached_session_is_closed_when_its_resumption_window_ends_and_only_then_broadcasts_unavailable()
    {
        var supervisor = Sys.ActorOf(SessionsActor.Props(Server(30)));
        var (session, id, connection, _) = Open(supervisor, Alice);
        var laptop = OtherResource();
        session.Tell(new SessionActor.FromClient(Stanza("<presence/>")));
        laptop.FishForMessage(m => m is SessionMessages.Deliver d && d.Stanza.Name == "presence" && d.Stanza.Type is null);
        Watch(session);
        session.Tell(new SessionActor.Detach(connection.Ref));
        Assert.Equal(SessionActor.State.Detached, StateOf(session, CreateTestProbe()));

        _now += 29_000;
        _wheel.Advance();
        laptop.ExpectNoMsg(Nothing);
        Assert.NotNull(_registry.Find(Alice));

        ElapseWindow(1);
        ExpectTerminated(session);
        laptop.FishForMessage(IsUnavailableFromAlice);
        Assert.Null(_registry.Find(Alice));

        var late = CreateTestProbe();
        supervisor.Tell(new SessionsActor.Attach(id, Alice.Bare, new InMemoryConnection(), late.Ref), late.Ref);
        Assert.Equal(id, late.ExpectMsg<SessionsActor.AttachFailed>().SessionId);
    }

    [Fact]
    public void Rfc6120_8_3_3_19_an_iq_request_kept_by_a_session_that_closes_detached_is_answered_service_unavailable()
    {
        var supervisor = Sys.ActorOf(SessionsActor.Props(Server(30)));
        var (session, _, connection, _) = Open(supervisor, Alice);
        var laptop = OtherResource();
        session.Tell(new SessionActor.Detach(connection.Ref));
        session.Tell(new SessionMessages.Deliver(Stanza("<iq from='alice@localhost/laptop' to='alice@localhost/phone' type='get' id='q1'><query xmlns='jabber:iq:version'/></iq>")));
        Assert.Equal(SessionActor.State.Detached, StateOf(session, CreateTestProbe())); // its window is on the wheel
        Watch(session);
        ElapseWindow(30);
        ExpectTerminated(session);
        var error = laptop.FishForMessage<SessionMessages.Deliver>(d => d.Stanza.Name == "iq").Stanza;
        Assert.Equal("error", error.Type);
        Assert.Equal("q1", error.Id);
        Assert.NotNull(error.Child("error", Ns.Client)?.Child("service-unavailable", Ns.StanzaErrors));
    }

    [Fact]
    public void A_detached_session_that_is_given_more_than_it_may_keep_is_closed()
    {
        var supervisor = Sys.ActorOf(SessionsActor.Props(Server(60, maxDetachedStanzas: 2)));
        var (session, _, connection, _) = Open(supervisor, Alice);
        Watch(session);
        session.Tell(new SessionActor.Detach(connection.Ref));
        for (var i = 0; i < 2; i++)
            session.Tell(new SessionMessages.Deliver(Stanza($"<message from='bob@localhost/x' to='alice@localhost/phone'><body>{i}</body></message>")));
        ExpectNoMsg(Nothing);
        session.Tell(new SessionMessages.Deliver(Stanza("<message from='bob@localhost/x' to='alice@localhost/phone'><body>too many</body></message>")));
        ExpectTerminated(session);
    }

    [Fact]
    public void Attaching_while_the_old_connection_is_open_closes_that_one_with_conflict()
    {
        var supervisor = Sys.ActorOf(SessionsActor.Props(Server(60)));
        var (session, id, connection, _) = Open(supervisor, Alice);
        var newConnection = CreateTestProbe();
        supervisor.Tell(new SessionsActor.Attach(id, Alice.Bare, new InMemoryConnection(), newConnection.Ref), newConnection.Ref);
        newConnection.ExpectMsg<SessionActor.Attached>();
        Assert.Equal("conflict", connection.ExpectMsg<C2sConnectionActor.CloseWithStreamError>().Condition);
        session.Tell(new SessionActor.Close(connection.Ref)); // its close does not end the session it left
        Assert.Equal(SessionActor.State.Attached, StateOf(session, CreateTestProbe()));
    }

    [Fact]
    public void Only_the_account_of_a_session_can_attach_to_it_and_only_by_a_well_formed_id()
    {
        var supervisor = Sys.ActorOf(SessionsActor.Props(Server(60)));
        var (session, id, connection, _) = Open(supervisor, Alice);
        session.Tell(new SessionActor.Detach(connection.Ref));
        var mallory = CreateTestProbe();
        supervisor.Tell(new SessionsActor.Attach(id, Jid.Parse("mallory@localhost"), new InMemoryConnection(), mallory.Ref), mallory.Ref);
        mallory.ExpectMsg<SessionsActor.AttachFailed>();
        supervisor.Tell(new SessionsActor.Attach("../" + id, Alice.Bare, new InMemoryConnection(), mallory.Ref), mallory.Ref);
        mallory.ExpectMsg<SessionsActor.AttachFailed>();
        supervisor.Tell(new SessionsActor.Attach(SessionsActor.NewSessionId(), Alice.Bare, new InMemoryConnection(), mallory.Ref), mallory.Ref);
        mallory.ExpectMsg<SessionsActor.AttachFailed>();
        Assert.Equal(SessionActor.State.Detached, StateOf(session, CreateTestProbe()));
    }

    [Fact]
    public void A_connection_that_dies_before_it_learns_of_its_session_abandons_it()
    {
        var supervisor = Sys.ActorOf(SessionsActor.Props(Server(60)));
        var connection = CreateTestProbe();
        var id = SessionsActor.NewSessionId();
        supervisor.Tell(new SessionsActor.Open(id, Alice, new InMemoryConnection(), connection.Ref), connection.Ref);
        supervisor.Tell(new SessionsActor.Abandoned(id, connection.Ref), connection.Ref);
        AwaitCondition(() => _registry.Find(Alice) is null);
    }

    public new void Dispose()
    {
        _wheel.Dispose();
        base.Dispose();
        try { Directory.Delete(_dataDir, recursive: true); } catch (IOException) { }
    }
}

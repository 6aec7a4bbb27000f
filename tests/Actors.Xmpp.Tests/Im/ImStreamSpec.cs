using System.Text;
using Actors.Xmpp.Server;
using Actors.Xmpp.Server.C2s;
using Actors.Xmpp.Server.Sasl;
using Actors.Xmpp.Server.Sessions;
using Actors.Xmpp.Server.Security;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Tests.C2s;
using Actors.Xmpp.Transport.Connections;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;
using Akka.Actor;

namespace Actors.Xmpp.Tests.Im;

/// <summary>
/// RFC 6121 over whole client streams: C2sConnectionActor + SessionActor + UserActor with the in-memory transport
/// (what a client sees on the wire, without sockets).
/// </summary>
public sealed class ImStreamSpec : ImSpecBase
{
    private readonly ServerContext _server;
    private readonly IActorRef _sessions;

    public ImStreamSpec()
    {
        var options = new XmppServerOptions { DataDir = DataDir };
        options.Tls.Required = false;
        options.Auth.AllowPlainWithoutTls = true;
        _server = new ServerContext(options, options.AllDomains(), Accounts, Sessions, Router, Iq,
            new SaslMechanisms(new SaslOptions { AllowPlainWithoutTls = true, FakeIterations = 64 }), new LoginRateLimiter(100));
        _sessions = Sys.ActorOf(SessionsActor.Props(_server), SessionsActor.Name);
    }

    private sealed class Client(IActorRef actor, InMemoryConnection conn)
    {
        public IActorRef Actor = actor;
        public InMemoryConnection Conn = conn;
        public void Send(string xml) => Actor.Tell(new TransportEvents.StanzaReceived(Parse(xml)));

        private readonly List<Element> _skipped = new();

        /// <summary>The first stanza (already received or next) that matches; others stay for later calls.</summary>
        public Element Next(Func<Element, bool>? match = null)
        {
            match ??= _ => true;
            var earlier = _skipped.FindIndex(e => match(e));
            if (earlier >= 0)
            {
                var found = _skipped[earlier];
                _skipped.RemoveAt(earlier);
                return found;
            }
            while (true)
            {
                var e = Conn.NextElement(TimeSpan.FromSeconds(5));
                if (match(e)) return e;
                _skipped.Add(e);
            }
        }

        public void Quiet(int ms = 300) => Assert.False(Conn.Sent.TryTake(out var extra, ms), $"unexpected {extra}");
    }

    private static StreamHeader Header() => new("stream", Ns.Streams, Ns.Client, [new XAttr("to", "localhost"), new XAttr("version", "1.0")]);

    private Client Login(string user, string resource, bool presence = true)
    {
        var conn = new InMemoryConnection();
        var actor = Sys.ActorOf(C2sConnectionActor.Props(_server, conn, _sessions));
        actor.Tell(new TransportEvents.StreamOpened(Header()));
        conn.NextRaw();
        conn.NextElement();
        var password = user[..1];
        var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{user}\0{password}"));
        actor.Tell(new TransportEvents.StanzaReceived(Parse($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>")));
        Assert.True(conn.NextElement().Is("success", Ns.Sasl));
        actor.Tell(new TransportEvents.StreamOpened(Header()));
        conn.NextRaw();
        var features = conn.NextElement();
        Assert.NotNull(features.Child("ver", "urn:xmpp:features:rosterver")); // RFC 6121 §2.6.1
        Assert.NotNull(features.Child("sub", "urn:xmpp:features:pre-approval")); // RFC 6121 §3.4.1
        actor.Tell(new TransportEvents.StanzaReceived(Parse($"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{resource}</resource></bind></iq>")));
        Assert.Equal("result", conn.NextElement().Type);
        var client = new Client(actor, conn);
        if (presence)
        {
            client.Send("<presence/>");
            Assert.Equal($"{user}@localhost/{resource}", client.Next(e => e.Name == "presence").From); // own echo
        }
        return client;
    }

    [Fact]
    public void Rfc6121_3_1_subscription_over_streams_updates_both_rosters_with_pushes()
    {
        var alice = Login("alice", "phone");
        var bob = Login("bob", "phone");
        alice.Send("<iq type='get' id='r0'><query xmlns='jabber:iq:roster'/></iq>");
        alice.Next(e => e.Id == "r0");
        alice.Send("<presence to='bob@localhost' type='subscribe'/>");
        var push = alice.Next(e => e.Name == "iq" && e.Type == "set");
        var item = push.Child("query", Ns.Roster)!.Child("item", Ns.Roster)!;
        Assert.Equal(("bob@localhost", "none", "subscribe"), (item.Attr("jid"), item.Attr("subscription"), item.Attr("ask")));
        Assert.Equal("alice@localhost", bob.Next(e => e.Type == "subscribe").From);

        bob.Send("<presence to='alice@localhost' type='subscribed'/>");
        var pushTo = alice.Next(e => e.Name == "iq" && e.Type == "set");
        Assert.Equal("to", pushTo.Child("query", Ns.Roster)!.Child("item", Ns.Roster)!.Attr("subscription"));
        alice.Next(e => e.Name == "presence" && e.Type is null && e.From == "bob@localhost/phone");

        // §4.5.2 / "unavailable on disconnect": bob's stream dies, alice (subscribed to bob) is told
        Sys.Stop(bob.Actor);
        alice.Next(e => e.Name == "presence" && e.Type == "unavailable" && e.From == "bob@localhost/phone");
    }

    [Fact]
    public void Rfc6121_4_3_a_probe_sent_by_a_client_is_answered_by_the_contacts_server_and_never_reaches_its_clients()
    {
        var alice = Login("alice", "phone");
        var bob = Login("bob", "phone");
        alice.Send("<presence to='bob@localhost' type='subscribe'/>");
        bob.Next(e => e.Type == "subscribe");
        bob.Send("<presence to='alice@localhost' type='subscribed'/>");
        alice.Next(e => e.Name == "presence" && e.Type is null && e.From == "bob@localhost/phone");
        bob.Quiet();

        alice.Send("<presence to='bob@localhost' type='probe'/>"); // to the bare JID
        var answer = alice.Next(e => e.Name == "presence" && e.From == "bob@localhost/phone");
        Assert.Null(answer.Type);
        alice.Send("<presence to='bob@localhost/phone' type='probe'/>"); // to a full JID: processed for the bare JID
        alice.Next(e => e.Name == "presence" && e.From == "bob@localhost/phone");
        bob.Quiet();

        var carol = Login("carol", "x");
        carol.Send("<presence to='bob@localhost/phone' type='probe'/>"); // no subscription: nothing revealed, nothing shown
        carol.Quiet();
        bob.Quiet();
    }

    [Fact]
    public void Rfc6121_4_3_2_after_a_restart_of_the_user_actor_probes_see_the_sessions_last_presence_and_pushes_still_arrive()
    {
        var alice = Login("alice", "phone");
        var bob = Login("bob", "phone");
        bob.Send("<iq type='get' id='r0'><query xmlns='jabber:iq:roster'/></iq>");
        bob.Next(e => e.Id == "r0");
        alice.Send("<presence to='bob@localhost' type='subscribe'/>");
        bob.Next(e => e.Type == "subscribe");
        bob.Send("<presence to='alice@localhost' type='subscribed'/>");
        bob.Next(e => e.Name == "iq" && e.Type == "set"); // roster push: from
        alice.Next(e => e.Name == "presence" && e.From == "bob@localhost/phone" && e.Type is null); // §3.1.5
        bob.Send("<presence><show>dnd</show><status>busy</status></presence>");
        alice.Next(e => e.Name == "presence" && e.From == "bob@localhost/phone" && e.ChildText("status", Ns.Client) == "busy");

        StopUser(Bob); // what a journal failure does; the next message recreates it from the journal

        alice.Send("<presence to='bob@localhost' type='probe'/>");
        var answer = alice.Next(e => e.Name == "presence" && e.From == "bob@localhost/phone" && e.Type is null);
        Assert.Equal(("dnd", "busy"), (answer.ChildText("show", Ns.Client), answer.ChildText("status", Ns.Client)));

        // the interest reported by the session: roster pushes (RFC 6121 §2.1.6)
        alice.Send("<presence to='bob@localhost' type='unsubscribe'/>");
        var push = bob.Next(e => e.Name == "iq" && e.Type == "set" && e.Child("query", Ns.Roster) is not null);
        Assert.Equal("none", push.Child("query", Ns.Roster)!.Child("item", Ns.Roster)!.Attr("subscription"));
    }

    [Fact]
    public void Rfc6121_4_6_directed_presence_still_gets_unavailable_at_session_end()
    {
        var alice = Login("alice", "phone");
        var carol = Login("carol", "x");
        alice.Send("<presence to='carol@localhost/x'/>");
        carol.Next(e => e.Name == "presence" && e.From == "alice@localhost/phone" && e.Type is null);
        Sys.Stop(alice.Actor);
        carol.Next(e => e.Name == "presence" && e.From == "alice@localhost/phone" && e.Type == "unavailable");
    }
}

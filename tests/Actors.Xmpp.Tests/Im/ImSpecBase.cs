using Actors.Xmpp.Server;
using Actors.Xmpp.Server.Accounts;
using Actors.Xmpp.Server.Iq;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Server.Users.Events;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Akka.TestKit;
using Microsoft.Extensions.Logging.Abstractions;

namespace Actors.Xmpp.Tests.Im;

/// <summary>
/// A router, account store and the users actor (user actors and the accounts' resources entities) on Akka's in-memory
/// journal; "sessions" are test probes that tell what a session tells (bound, presence, ended), so every stanza the
/// server delivers to a resource arrives at its probe. (They are also put in the session registry, the operator's view.)
/// </summary>
public abstract class ImSpecBase : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    public const string InMemoryPersistence = """
        akka.persistence.journal.plugin = "akka.persistence.journal.inmem"
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.inmem"
        akka.loglevel = WARNING
        """;

    protected readonly string DataDir = Path.Combine(Path.GetTempPath(), "actors-im-" + Guid.NewGuid().ToString("N"));
    protected readonly LocalSessionRegistry Sessions = new();
    protected readonly LocalUserDirectory Users = new();
    protected readonly StanzaRouter Router;
    protected readonly IqHandlers Iq = new();
    protected readonly FileAccountStore Accounts;
    protected readonly Jid Alice = Jid.Parse("alice@localhost");
    protected readonly Jid Bob = Jid.Parse("bob@localhost");
    protected readonly Jid Carol = Jid.Parse("carol@localhost");

    protected ImSpecBase(UserActor.Settings? settings = null, string? config = null, AccountResourcesActor.Settings? resources = null)
        : base(config ?? InMemoryPersistence)
    {
        Accounts = new FileAccountStore(DataDir, 64);
        Accounts.AddManyAsync([(Alice, "a"), (Bob, "b"), (Carol, "c"), (Jid.Parse("dave@localhost"), "d")]).GetAwaiter().GetResult();
        UserIqHandlers.Register(Iq, Users);
        Router = new StanzaRouter(["localhost"], Sessions, Accounts, Iq, NullLogger<StanzaRouter>.Instance, Users);
        var s = settings ?? new UserActor.Settings();
        var router = Router;
        Users.Attach(Sys.ActorOf(UsersActor.Props(u => UserActor.Props(u, router, s), router, resources), "users"));
    }

    /// <summary>The last available presence sent through <see cref="Online"/>, per resource (what a session keeps).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Jid, Element> _presenceOf = new();

    /// <summary>A bound resource (not yet available) whose deliveries arrive at the returned probe.</summary>
    protected TestProbe Bind(Jid full)
    {
        var probe = CreateTestProbe();
        // like SessionActor: a restarted user actor asks for the last presence
        probe.SetAutoPilot(new DelegateAutoPilot((_, message) =>
        {
            if (message is UserActor.ReportPresence)
                Users.Tell(full.Bare, new UserActor.PresenceReport(full, probe.Ref, _presenceOf.GetValueOrDefault(full)?.Clone(), false), probe.Ref);
            return AutoPilot.KeepRunning;
        }));
        Sessions.Register(new SessionEntry(full, probe.Ref, false, 0, Environment.TickCount64));
        Users.Tell(full.Bare, new UserActor.SessionStarted(full, probe.Ref), probe.Ref);
        State(full.Bare); // answered after the user actor tracked the session (what the session's next stanza relies on)
        return probe;
    }

    /// <summary>Binds <paramref name="full"/> and sends its initial presence (what SessionActor does).</summary>
    protected TestProbe Online(Jid full, int priority = 0, TestProbe? probe = null)
    {
        probe ??= Bind(full);
        var presence = new Element("presence", Ns.Client).SetAttr("from", full.ToString());
        if (priority != 0) presence.Add(new Element("priority", Ns.Client).AddText(priority.ToString()));
        _presenceOf[full] = presence;
        Sessions.UpdatePresence(full, probe.Ref, true, priority);
        Users.Tell(full.Bare, new UserActor.ResourcePresence(full, probe.Ref, presence, true, priority), probe.Ref);
        return probe;
    }

    protected void Offline(Jid full, TestProbe probe, string? status = null)
    {
        var presence = new Element("presence", Ns.Client).SetAttr("from", full.ToString()).SetAttr("type", "unavailable");
        if (status is not null) presence.Add(new Element("status", Ns.Client).AddText(status));
        _presenceOf.TryRemove(full, out _);
        Sessions.UpdatePresence(full, probe.Ref, false, 0);
        Users.Tell(full.Bare, new UserActor.ResourcePresence(full, probe.Ref, presence, false, 0), probe.Ref);
        Sessions.Unregister(full, probe.Ref);
        Users.Tell(full.Bare, new UserActor.SessionEnded(full, probe.Ref));
    }

    /// <summary>What a client sends, already stamped and validated by its session.</summary>
    protected void Send(Jid from, string xml)
    {
        var stanza = Parse(xml);
        stanza.From = from.ToString();
        var to = stanza.To is null ? from.Bare : Jid.Parse(stanza.To);
        stanza.To = to.ToString();
        if (stanza.Name == "presence" && stanza.Type is "subscribe" or "subscribed" or "unsubscribe" or "unsubscribed")
        {
            stanza.From = from.Bare.ToString();
            Users.Tell(from.Bare, new UserActor.OutboundSubscription(stanza, to));
            return;
        }
        Router.Route(stanza, stanza.Name == "presence" && stanza.Type is "probe" ? from.Bare : from, to);
    }

    /// <summary>The next stanza delivered to a probe.</summary>
    protected static Element Next(TestProbe probe, TimeSpan? timeout = null)
    {
        while (true)
        {
            var m = probe.ReceiveOne(timeout ?? TimeSpan.FromSeconds(3));
            switch (m)
            {
                case SessionMessages.Deliver d: return d.Stanza;
                case UserActor.ReportPresence: continue;
                case null: throw new TimeoutException("nothing was delivered");
                default: throw new InvalidOperationException($"unexpected {m}");
            }
        }
    }

    /// <summary>The next <paramref name="count"/> stanzas (in any order: pushes and results race each other).</summary>
    protected static List<Element> NextN(TestProbe probe, int count)
    {
        var list = new List<Element>();
        for (var i = 0; i < count; i++) list.Add(Next(probe));
        return list;
    }

    /// <summary>Everything delivered to the probe until it is quiet for <paramref name="quietMs"/>.</summary>
    protected static List<Element> Drain(TestProbe probe, int quietMs = 400)
    {
        var list = new List<Element>();
        while (true)
        {
            var m = probe.ReceiveOne(TimeSpan.FromMilliseconds(quietMs));
            if (m is null) return list;
            if (m is SessionMessages.Deliver d) list.Add(d.Stanza);
        }
    }

    /// <summary>
    /// Everything delivered to the probe until a stanza matching <paramref name="expected"/> has arrived and the probe
    /// is then quiet for <paramref name="quietMs"/>; fails if it has not arrived within <paramref name="timeoutMs"/>.
    /// Waits for the stanza the spec requires rather than for a pause: on a busy machine a delivery can come later
    /// than any fixed quiet period, and <see cref="Drain"/> alone then returns too early.
    /// </summary>
    protected static List<Element> DrainUntil(TestProbe probe, Predicate<Element> expected, int quietMs = 400, int timeoutMs = 10_000)
    {
        var list = new List<Element>();
        var deadline = Environment.TickCount64 + timeoutMs;
        while (!list.Exists(expected))
        {
            var left = deadline - Environment.TickCount64;
            var m = left > 0 ? probe.ReceiveOne(TimeSpan.FromMilliseconds(left)) : null;
            if (m is null)
                Assert.Fail($"the expected stanza was not delivered within {timeoutMs} ms; got: " + string.Join(" ", list.Select(e => e.ToString())));
            if (m is SessionMessages.Deliver d) list.Add(d.Stanza);
        }
        list.AddRange(Drain(probe, quietMs));
        return list;
    }

    /// <summary>alice and bob subscribed to each other (RFC 6121 §3.1), both online as "phone".</summary>
    protected (TestProbe Alice, TestProbe Bob) MutualSubscription()
    {
        var alicePhone = Alice.WithResource("phone");
        var bobPhone = Bob.WithResource("phone");
        var a = Online(alicePhone);
        var b = Online(bobPhone);
        Send(alicePhone, "<presence to='bob@localhost' type='subscribe'/>");
        Assert.Equal("subscribe", Next(b).Type);
        Send(bobPhone, "<presence to='alice@localhost' type='subscribed'/>");
        Send(bobPhone, "<presence to='alice@localhost' type='subscribe'/>");
        DrainUntil(a, e => e.Type == "subscribe");
        Send(alicePhone, "<presence to='bob@localhost' type='subscribed'/>");
        Drain(b);
        Drain(a);
        AwaitAssert(() => Assert.Equal("both", State(Alice).Roster.Single().Subscription));
        AwaitAssert(() => Assert.Equal("both", State(Bob).Roster.Single().Subscription));
        return (a, b);
    }

    protected static void Nothing(TestProbe probe, int ms = 300)
    {
        var m = probe.ReceiveOne(TimeSpan.FromMilliseconds(ms));
        while (m is UserActor.ReportPresence) m = probe.ReceiveOne(TimeSpan.FromMilliseconds(ms)); // (after a restart)
        Assert.Null(m);
    }

    /// <summary>The user actor's state. Asked again once when the first ask reached an actor that was stopping (after a
    /// failed journal write it stops itself, and a query in its mailbox then is not an in-flight stanza the parent
    /// redelivers: the next one reaches the recovered actor).</summary>
    protected UserSnapshot State(Jid user)
    {
        try
        {
            return Users.Ask<UserSnapshot>(user, UserActor.GetState.Instance, TimeSpan.FromSeconds(3)).GetAwaiter().GetResult();
        }
        catch (Akka.Actor.AskTimeoutException)
        {
            return Users.Ask<UserSnapshot>(user, UserActor.GetState.Instance, TimeSpan.FromSeconds(3)).GetAwaiter().GetResult();
        }
    }

    /// <summary>Stops the user actor (it is recreated from the journal by the next message).</summary>
    protected void StopUser(Jid user)
    {
        var actor = Sys.ActorSelection("/user/users/" + Uri.EscapeDataString(user.ToString()))
            .ResolveOne(TimeSpan.FromSeconds(3)).GetAwaiter().GetResult();
        Watch(actor);
        Sys.Stop(actor);
        ExpectTerminated(actor);
    }

    protected static Element Parse(string xml) => Element.Parse(xml);

    protected static string? Condition(Element stanza) =>
        stanza.Child("error", Ns.Client)?.Elements().FirstOrDefault(e => e.Namespace == Ns.StanzaErrors && e.Name != "text")?.Name;

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        try { Directory.Delete(DataDir, true); } catch (IOException) { }
    }
}

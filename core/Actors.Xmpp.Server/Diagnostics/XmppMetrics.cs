using System.Diagnostics.Metrics;

namespace Actors.Xmpp.Server.Diagnostics;

/// <summary>
/// The server's meters (System.Diagnostics.Metrics, meter <see cref="MeterName"/>): what an operator watches, exported
/// by OpenTelemetry (Prometheus scrape endpoint, OTLP) when Xmpp:Metrics is on, and by any other listener (dotnet-counters).
/// A counter's Add costs a check of a flag while nothing listens; the instruments are static so that the hot path
/// reaches them without a lookup. Gauges read counters kept here (connections) or the services that hold the numbers
/// (sessions: <see cref="ObserveSessions"/>).
/// </summary>
public static class XmppMetrics
{
    public const string MeterName = "Actors.Xmpp";
    /// <summary>The stanza counter's name (the web admin's charts listen to it).</summary>
    public const string StanzasName = "xmpp.c2s.stanzas";

    /// <summary>Tag names and values (Prometheus label names; constants, not loose strings).</summary>
    public static class Tags
    {
        public const string Kind = "kind";
        public const string Result = "result";
        public const string Direction = "direction";
        public const string Success = "success";
        public const string Failure = "failure";
        public const string FromClient = "in";
        public const string ToClient = "out";
    }

    private static readonly Meter Meter = new(MeterName, typeof(XmppMetrics).Assembly.GetName().Version?.ToString());

    private static long _connections;
    // the session registries of the servers in this process (one in production; several in tests): the gauge is
    // their sum, as the connection gauge counts every server's connections
    private static readonly List<Func<int>> SessionSources = [];

    /// <summary>Client connections accepted (TCP, direct TLS, WebSocket, BOSH).</summary>
    public static readonly Counter<long> ConnectionsOpened = Meter.CreateCounter<long>("xmpp.c2s.connections.opened", "{connection}",
        "Client connections accepted");

    /// <summary>SASL logins by result (a failed credential check is a failure; a probe of mechanisms is not counted).</summary>
    public static readonly Counter<long> Logins = Meter.CreateCounter<long>("xmpp.c2s.logins", "{login}",
        "SASL authentications completed, by result");

    /// <summary>Stanzas from and to clients, by kind (message, presence, iq) and direction.</summary>
    public static readonly Counter<long> Stanzas = Meter.CreateCounter<long>(StanzasName, "{stanza}",
        "Stanzas received from clients (direction=in) and written to them (direction=out), by kind");

    /// <summary>Stanzas handed to the offline store, bounced, or dropped as undeliverable (RFC 6121 §8.5).</summary>
    public static readonly Counter<long> Undeliverable = Meter.CreateCounter<long>("xmpp.routing.undeliverable", "{stanza}",
        "Stanzas to an account with no available resource (stored offline, bounced or dropped as RFC 6121 §8.5 says)");

    /// <summary>Stanzas bounced with &lt;resource-constraint/&gt; because their recipient's connection was not reading
    /// what it was sent (end-to-end back-pressure, <c>SessionActor</c>).</summary>
    public static readonly Counter<long> BouncedRecipientBehind = Meter.CreateCounter<long>("xmpp.c2s.bounced_recipient_behind", "{stanza}",
        "Messages and IQ requests bounced because the recipient's connection was not reading what it was sent");

    static XmppMetrics()
    {
        Meter.CreateObservableGauge("xmpp.c2s.connections.active", () => Volatile.Read(ref _connections), "{connection}",
            "Client connections open now");
        Meter.CreateObservableGauge("xmpp.c2s.sessions.active", SessionsNow, "{session}",
            "Bound client sessions on this node");
    }

    public static void ConnectionOpened()
    {
        Interlocked.Increment(ref _connections);
        ConnectionsOpened.Add(1);
    }

    public static void ConnectionClosed() => Interlocked.Decrement(ref _connections);

    /// <summary>Adds a source of the sessions gauge (a server's session registry) until the result is disposed.</summary>
    public static IDisposable ObserveSessions(Func<int> count)
    {
        lock (SessionSources) SessionSources.Add(count);
        return new SessionSource(count);
    }

    private sealed class SessionSource(Func<int> count) : IDisposable
    {
        public void Dispose()
        {
            lock (SessionSources) SessionSources.Remove(count);
        }
    }

    private static int SessionsNow()
    {
        var total = 0;
        lock (SessionSources)
            foreach (var source in SessionSources) total += source();
        return total;
    }

    public static void Login(bool success)
    {
        if (success) Interlocked.Increment(ref _loginsSucceeded);
        else Interlocked.Increment(ref _loginsFailed);
        Logins.Add(1, new KeyValuePair<string, object?>(Tags.Result, success ? Tags.Success : Tags.Failure));
    }

    private static long _loginsSucceeded;
    private static long _loginsFailed;

    /// <summary>Totals since start, for `actors-server stats` (process-wide, like the meters).</summary>
    public static long ActiveConnections => Volatile.Read(ref _connections);
    public static long LoginsSucceeded => Volatile.Read(ref _loginsSucceeded);
    public static long LoginsFailed => Volatile.Read(ref _loginsFailed);

    public static void Stanza(string kind, bool fromClient)
    {
        if (!Stanzas.Enabled) return;
        Stanzas.Add(1, new KeyValuePair<string, object?>(Tags.Kind, kind),
            new KeyValuePair<string, object?>(Tags.Direction, fromClient ? Tags.FromClient : Tags.ToClient));
    }
}

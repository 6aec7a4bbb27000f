using System.Collections.Concurrent;
using System.Net;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Stanzas;
using Actors.Xmpp.Xml;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace Actors.Plugins.Mqtt;

/// <summary>
/// The MQTT 5 side of the bridge (an MQTTnet server) and its XMPP side: every MQTT client is an address of its account,
/// <c>account/&lt;prefix&gt;&lt;client id&gt;</c>, that sends the PubSub service the requests an XMPP client of that account
/// would send (publish, subscribe, unsubscribe, create), so the service's access rules decide; the service's
/// notifications to that address become MQTT messages to that one client. MQTTnet never routes a client's PUBLISH
/// itself: what MQTT clients see is what PubSub notifies (<see cref="OnPublishAsync"/>).
/// </summary>
internal sealed class MqttBridge
{
    /// <summary>The MQTT 5 user property that carries the PubSub item id.</summary>
    public const string ItemIdProperty = "item-id";
    /// <summary>The sender id of the messages the bridge injects: this prefix and the one client it is for.</summary>
    private const string DeliverySender = "$xmpp/";

    private const string PubSubNs = "http://jabber.org/protocol/pubsub";
    private const string PubSubEventNs = "http://jabber.org/protocol/pubsub#event";

    private readonly IPluginContext _ctx;
    private readonly MqttOptions _options;
    private readonly IAuthentication _authentication;
    private readonly IStoreMap _bridged;
    private readonly TimeSpan _timeout;
    private readonly ConcurrentDictionary<string, BridgeClient> _clients = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Jid, BridgeClient> _byAddress = new();
    private readonly ConcurrentDictionary<string, PendingRequest> _pending = new(StringComparer.Ordinal);
    private readonly string _idPrefix = "mqtt-" + Guid.NewGuid().ToString("N")[..8] + "-";
    private long _nextId;
    private MqttServer? _server;
    private volatile bool _ready;

    public MqttBridge(IPluginContext ctx, MqttOptions options, IAuthentication authentication, IStoreMap bridged)
    {
        _ctx = ctx;
        _options = options;
        _authentication = authentication;
        _bridged = bridged;
        _timeout = TimeSpan.FromSeconds(options.RequestTimeoutSeconds);
    }

    private sealed record PendingRequest(TaskCompletionSource<Element> Answer, Jid From, Jid To);

    // ---------------------------------------------------------------- lifecycle

    public void Start()
    {
        var serverOptionsBuilder = new MqttServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointBoundIPAddress(IPAddress.Parse(_options.BindAddress))
            .WithDefaultEndpointPort(_options.Port)
            .WithPersistentSessions(false) // a session lives as long as its connection (CONNACK says so: OnOutboundPacket)
            .WithMaxPendingMessagesPerClient(_options.MaxPendingMessagesPerClient);
        if (_options.TlsPort > 0)
        {
            // MQTT over TLS (MQTT 5 §4.2): the server's own certificate, asked for again on each connection (a reload
            // of Xmpp:Tls reaches new connections)
            var certificates = _ctx.Require<IServerCertificates>();
            var domain = _ctx.Domains[0];
            serverOptionsBuilder = serverOptionsBuilder.WithEncryptedEndpoint()
                .WithEncryptedEndpointBoundIPAddress(IPAddress.Parse(_options.BindAddress))
                .WithEncryptedEndpointPort(_options.TlsPort)
                .WithEncryptionCertificate(new ServerCertificate(() => certificates.For(domain)))
                .WithEncryptionSslProtocol(SslProtocols.Tls12 | SslProtocols.Tls13);
        }
        var server = new MqttServerFactory().CreateMqttServer(serverOptionsBuilder.Build());
        server.ValidatingConnectionAsync += OnConnectAsync;
        server.InterceptingOutboundPacketAsync += OnOutboundPacket;
        server.InterceptingPublishAsync += OnPublishAsync;
        server.InterceptingSubscriptionAsync += OnSubscribeAsync;
        server.ClientSubscribedTopicAsync += OnSubscribed;
        server.InterceptingUnsubscriptionAsync += OnUnsubscribeAsync;
        server.InterceptingClientEnqueueAsync += OnEnqueue;
        server.ClientDisconnectedAsync += OnDisconnected;
        // the plugin manager is not an actor: a bounded wait here makes a port already taken fail the plugin's load
        if (!server.StartAsync().Wait(TimeSpan.FromSeconds(30)))
            throw new TimeoutException($"the MQTT listener on {_options.BindAddress}:{_options.Port} did not start within 30 s");
        _server = server;
        _ = RemoveLeftoverSubscriptionsAsync();
    }

    /// <summary>Stops the listener (on unload or reload: the port is free again when this returns) and ends the
    /// PubSub subscriptions of the clients it had.</summary>
    public void Stop()
    {
        _ready = false;
        var server = Interlocked.Exchange(ref _server, null);
        if (server is null) return;
        try
        {
            if (!server.StopAsync(new MqttServerStopOptions()).Wait(TimeSpan.FromSeconds(10)))
                _ctx.Logger.LogWarning("the MQTT listener did not stop within 10 s");
        }
        catch (AggregateException ex)
        {
            _ctx.Logger.LogWarning(ex.InnerException, "the MQTT listener failed to stop");
        }
        server.Dispose();
        foreach (var client in _clients.Values) Forget(client);
        foreach (var pending in _pending.Values) pending.Answer.TrySetException(new OperationCanceledException("the bridge stopped"));
        _pending.Clear();
    }

    /// <summary>Subscriptions the bridge made and did not end (the server stopped with clients connected): ended
    /// before the bridge accepts clients, so that no notification goes to an address nobody answers for.</summary>
    private async Task RemoveLeftoverSubscriptionsAsync()
    {
        try
        {
            foreach (var domain in _ctx.Domains)
            {
                var owner = Jid.Create(null, domain);
                foreach (var entry in await _bridged.GetAllAsync(owner))
                {
                    if (BridgedKey.TryParse(entry.Key, out var address, out var node) && entry.Value?.Text is { } subid)
                        await RequestAsync(address, domain, Unsubscribe(node, address, subid));
                    await _bridged.SetAsync(owner, entry.Key, null);
                }
            }
        }
        catch (Exception ex)
        {
            _ctx.Logger.LogWarning(ex, "the MQTT bridge could not end the subscriptions of its previous run");
        }
        _ready = true;
    }

    // ---------------------------------------------------------------- MQTT: connect and disconnect

    private async Task OnConnectAsync(ValidatingConnectionEventArgs e)
    {
        if (!_ready)
        {
            e.ReasonCode = MqttConnectReasonCode.ServerUnavailable;
            return;
        }
        var clientId = e.ClientId;
        if (string.IsNullOrEmpty(clientId) && e.ProtocolVersion == MQTTnet.Formatter.MqttProtocolVersion.V500)
        {
            clientId = Guid.NewGuid().ToString("N"); // MQTT 5 §3.1.3.1: the server assigns one (and says it in CONNACK)
            e.AssignedClientIdentifier = clientId;
        }
        if (string.IsNullOrEmpty(clientId) || clientId.StartsWith(DeliverySender, StringComparison.Ordinal))
        {
            e.ReasonCode = MqttConnectReasonCode.ClientIdentifierNotValid;
            return;
        }
        // the user name is the account's bare JID, the password its password
        if (string.IsNullOrEmpty(e.UserName) || !Jid.TryParse(e.UserName, out var account) || account is null
            || account.Local is null || account.Resource is not null || !_ctx.Domains.Contains(account.Domain)
            || e.RawPassword is not { Length: > 0 }
            || !await _authentication.CheckPasswordAsync(account, e.Password, e.RemoteEndPoint))
        {
            e.ReasonCode = MqttConnectReasonCode.BadUserNameOrPassword;
            return;
        }
        if (!Jid.TryParse(account + "/" + _options.ResourcePrefix + clientId, out var address) || address is null)
        {
            e.ReasonCode = MqttConnectReasonCode.ClientIdentifierNotValid; // not a valid resourcepart (RFC 7622 §3.4)
            return;
        }
        var client = new BridgeClient(clientId, address);
        if (_clients.TryGetValue(clientId, out var existing))
        {
            if (!existing.Address.Equals(address)) // a client id is one account's: another account may not take it over
            {
                e.ReasonCode = MqttConnectReasonCode.NotAuthorized;
                e.ReasonString = "this client identifier is connected for another account";
                return;
            }
            if (e.CleanSession != false) Forget(existing); // MQTT 5 §3.1.2.4 clean start: the old session's subscriptions end
            else client = existing;                          // the session goes on with the new connection
        }
        _clients[clientId] = client;
        _byAddress[address] = client;
    }

    /// <summary>MQTT 5 §3.2.2.3.2: the server keeps no session after the connection (Session Expiry Interval 0 in
    /// CONNACK; Session Present stays MQTTnet's: 1 only when a connection with Clean Start 0 takes over a live one), and
    /// it offers no wildcard subscriptions (§3.2.2.3.14: a topic is one PubSub node).</summary>
    private static Task OnOutboundPacket(InterceptingPacketEventArgs e)
    {
        if (e.Packet is MqttConnAckPacket connAck)
        {
            connAck.SessionExpiryInterval = 0;
            connAck.WildcardSubscriptionAvailable = false;
        }
        return Task.CompletedTask;
    }

    private Task OnDisconnected(ClientDisconnectedEventArgs e)
    {
        if (_clients.TryGetValue(e.ClientId, out var client)) Forget(client);
        return Task.CompletedTask;
    }

    /// <summary>A client's connection and session ended: its PubSub subscriptions end with them.</summary>
    private void Forget(BridgeClient client)
    {
        _clients.TryRemove(new KeyValuePair<string, BridgeClient>(client.ClientId, client));
        _byAddress.TryRemove(new KeyValuePair<Jid, BridgeClient>(client.Address, client));
        foreach (var (node, subid) in client.TakeSubscriptions()) _ = EndSubscriptionAsync(client.Address, node, subid);
    }

    private async Task EndSubscriptionAsync(Jid address, string node, string subid)
    {
        try
        {
            await RequestAsync(address, address.Domain, Unsubscribe(node, address, subid));
            await _bridged.SetAsync(Jid.Create(null, address.Domain), BridgedKey.Of(address, node), null);
        }
        catch (Exception ex) when (ex is TimeoutException or StorageException or OperationCanceledException)
        {
            _ctx.Logger.LogWarning(ex, "the subscription of {Address} to {Node} could not be ended", address, node);
        }
    }

    // ---------------------------------------------------------------- MQTT PUBLISH: a PubSub publish

    /// <summary>An MQTT client's PUBLISH is a publish to the node named by its topic, as its account (XEP-0060 §7.1);
    /// a node that does not exist is created first, as the account (§8.1), if the service lets the account create it.
    /// The PUBACK/PUBREC carries the outcome (MQTT 5 §3.4.2.1); at QoS 0, which has no acknowledgement, a refused
    /// publish closes the connection (§4.13).</summary>
    private async Task OnPublishAsync(InterceptingPublishEventArgs e)
    {
        if (e.ClientId.StartsWith(DeliverySender, StringComparison.Ordinal)) return; // the bridge's own delivery
        e.ProcessPublish = false; // MQTTnet routes nothing itself: subscribers get PubSub's notifications
        if (!_clients.TryGetValue(e.ClientId, out var client))
        {
            e.Response.ReasonCode = MqttPubAckReasonCode.NotAuthorized;
            e.CloseConnection = true;
            return;
        }
        var message = e.ApplicationMessage;
        var topic = message.Topic;
        var item = new Element("item", PubSubNs).Add(MqttPayload.ToItemPayload(message.Payload, message.ContentType));
        Element reply;
        try
        {
            reply = await RequestAsync(client.Address, client.Address.Domain,
                new Element("pubsub", PubSubNs).Add(new Element("publish", PubSubNs).SetAttr("node", topic).Add(item)));
            if (Condition(reply) == "item-not-found")
            {
                var created = await RequestAsync(client.Address, client.Address.Domain,
                    new Element("pubsub", PubSubNs).Add(new Element("create", PubSubNs).SetAttr("node", topic)));
                reply = created.Type == "result" || Condition(created) == "conflict" // created, or by someone else meanwhile
                    ? await RequestAsync(client.Address, client.Address.Domain,
                        new Element("pubsub", PubSubNs).Add(new Element("publish", PubSubNs).SetAttr("node", topic).Add(item.Clone())))
                    : created;
            }
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            e.Response.ReasonCode = MqttPubAckReasonCode.ImplementationSpecificError;
            e.Response.ReasonString = "the PubSub service did not answer";
            e.CloseConnection = message.QualityOfServiceLevel == MqttQualityOfServiceLevel.AtMostOnce;
            return;
        }
        if (reply.Type == "result") return;
        var condition = Condition(reply);
        e.Response.ReasonCode = condition switch
        {
            "forbidden" or "not-authorized" or "not-allowed" or "registration-required" => MqttPubAckReasonCode.NotAuthorized,
            "not-acceptable" or "bad-request" => MqttPubAckReasonCode.PayloadFormatInvalid,
            "policy-violation" or "resource-constraint" => MqttPubAckReasonCode.QuotaExceeded,
            _ => MqttPubAckReasonCode.ImplementationSpecificError,
        };
        e.Response.ReasonString = ReasonText(reply, condition);
        e.CloseConnection = message.QualityOfServiceLevel == MqttQualityOfServiceLevel.AtMostOnce;
    }

    // ---------------------------------------------------------------- MQTT SUBSCRIBE / UNSUBSCRIBE: PubSub's

    /// <summary>An MQTT SUBSCRIBE to a topic is a PubSub subscription of the client's address to that node (XEP-0060
    /// §6.1), with the SUBACK reason code for the service's answer (MQTT 5 §3.9.3). Wildcards are refused with 0xA2 (a
    /// topic is one node).</summary>
    private async Task OnSubscribeAsync(InterceptingSubscriptionEventArgs e)
    {
        if (e.Response.ReasonCode > MqttSubscribeReasonCode.GrantedQoS2) return; // refused already (shared subscriptions)
        var topic = e.TopicFilter.Topic;
        if (topic.Contains('+') || topic.Contains('#'))
        {
            Refuse(e, MqttSubscribeReasonCode.WildcardSubscriptionsNotSupported, "a topic is one PubSub node: no wildcards");
            return;
        }
        if (!_clients.TryGetValue(e.ClientId, out var client))
        {
            Refuse(e, MqttSubscribeReasonCode.NotAuthorized, null);
            return;
        }
        if (client.IsSubscribed(topic)) return; // MQTT 5 §3.8.4: replaces the subscription; PubSub's stays
        client.Hold(topic); // the last item can come before MQTTnet has the subscription (OnSubscribed releases it)
        Element reply;
        try
        {
            reply = await RequestAsync(client.Address, client.Address.Domain, new Element("pubsub", PubSubNs)
                .Add(new Element("subscribe", PubSubNs).SetAttr("node", topic).SetAttr("jid", client.Address.ToString())));
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            client.Release(topic);
            Refuse(e, MqttSubscribeReasonCode.ImplementationSpecificError, "the PubSub service did not answer");
            return;
        }
        var subscription = reply.Type == "result" ? reply.Child("pubsub", PubSubNs)?.Child("subscription", PubSubNs) : null;
        var state = subscription?.Attr("subscription") ?? (reply.Type == "result" ? "subscribed" : null);
        var subid = subscription?.Attr("subid") ?? "";
        if (state == "subscribed")
        {
            try { await _bridged.SetAsync(Jid.Create(null, client.Address.Domain), BridgedKey.Of(client.Address, topic), StoredValue.Of(subid)); }
            catch (StorageException ex) { _ctx.Logger.LogWarning(ex, "the bridge could not note the subscription of {Address} to {Node}", client.Address, topic); }
            if (!client.Subscribed(topic, subid)) _ = EndSubscriptionAsync(client.Address, topic, subid); // the client left meanwhile
            return;
        }
        client.Release(topic);
        if (state == "pending") // §6.1.2 approval needed: MQTT has no pending subscription, so it is withdrawn
        {
            _ = EndSubscriptionAsync(client.Address, topic, subid);
            Refuse(e, MqttSubscribeReasonCode.NotAuthorized, "the node's owner must approve subscriptions");
            return;
        }
        var condition = Condition(reply);
        Refuse(e, condition switch
        {
            "forbidden" or "not-authorized" or "not-allowed" or "registration-required" => MqttSubscribeReasonCode.NotAuthorized,
            "policy-violation" => MqttSubscribeReasonCode.QuotaExceeded,
            "item-not-found" => MqttSubscribeReasonCode.TopicFilterInvalid,
            _ => MqttSubscribeReasonCode.ImplementationSpecificError,
        }, ReasonText(reply, condition));
    }

    private static void Refuse(InterceptingSubscriptionEventArgs e, MqttSubscribeReasonCode code, string? reason)
    {
        e.Response.ReasonCode = code;
        e.ReasonString = reason;
        e.ProcessSubscription = false;
    }

    /// <summary>MQTTnet has the subscription now: what PubSub sent meanwhile (the last item, §6.1.7) goes out.</summary>
    private Task OnSubscribed(ClientSubscribedTopicEventArgs e)
    {
        if (_clients.TryGetValue(e.ClientId, out var client))
            foreach (var held in client.Release(e.TopicFilter.Topic)) Deliver(client, held);
        return Task.CompletedTask;
    }

    private async Task OnUnsubscribeAsync(InterceptingUnsubscriptionEventArgs e)
    {
        if (!_clients.TryGetValue(e.ClientId, out var client) || client.TakeSubscription(e.Topic) is not { } subid) return;
        await EndSubscriptionAsync(client.Address, e.Topic, subid); // XEP-0060 §6.2; MQTTnet answers the UNSUBACK
    }

    // ---------------------------------------------------------------- XMPP side: answers and notifications

    /// <summary>The InboundFull hook: stanzas to an MQTT client's address. The PubSub service's answers and
    /// notifications are the bridge's; anything else goes on as to an address without a session (RFC 6121 §8.5.3.2).</summary>
    public bool OnInbound(StanzaEvent e)
    {
        var to = e.Session;
        if (to.Resource is null || !to.Resource.StartsWith(_options.ResourcePrefix, StringComparison.Ordinal)) return false;
        var stanza = e.Stanza;
        var fromService = e.From is { Local: null, Resource: null } from && from.Domain == ServiceOf(to.Domain);
        if (stanza.Name == "iq" && stanza.Type is "result" or "error" && stanza.Id is { } id
            && _pending.TryGetValue(id, out var pending) && pending.From.Equals(to) && e.From is not null && pending.To.Equals(e.From))
        {
            if (_pending.TryRemove(id, out _)) pending.Answer.TrySetResult(stanza); // RFC 6120 §8.2.3: matched by id and addresses
            return true;
        }
        if (!fromService || stanza.Name != "message") return false;
        if (_byAddress.TryGetValue(to, out var client) && stanza.Child("event", PubSubEventNs)?.Child("items", PubSubEventNs) is { } items
            && items.Attr("node") is { Length: > 0 } node)
        {
            foreach (var item in items.Elements("item", PubSubEventNs))
                client.DeliverOrHold(node, MqttPayload.ToMessage(node, item.Attr("id"), item.FirstChild()), this);
        }
        return true; // the service's messages to an MQTT address never go to the account's XMPP resources
    }

    /// <summary>Hands one message to MQTTnet for exactly <paramref name="client"/> (<see cref="OnEnqueue"/> filters by sender).</summary>
    internal void Deliver(BridgeClient client, MqttApplicationMessage message)
    {
        if (_server is not { } server) return;
        Task delivery;
        try
        {
            delivery = server.InjectApplicationMessage(new InjectedMqttApplicationMessage(message) { SenderClientId = DeliverySender + client.ClientId });
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or NotSupportedException)
        {
            _ctx.Logger.LogDebug(ex, "node {Node} is not an MQTT topic name: not delivered to {Client}", message.Topic, client.ClientId);
            return;
        }
        if (!delivery.IsCompletedSuccessfully)
            _ = delivery.ContinueWith(t => _ctx.Logger.LogWarning(t.Exception, "an MQTT delivery failed"), TaskContinuationOptions.OnlyOnFaulted);
    }

    /// <summary>A message injected for one client reaches that client only.</summary>
    private static Task OnEnqueue(InterceptingClientApplicationMessageEnqueueEventArgs e)
    {
        var sender = e.SenderClientId;
        if (sender.StartsWith(DeliverySender, StringComparison.Ordinal))
            e.AcceptEnqueue = sender.AsSpan(DeliverySender.Length).SequenceEqual(e.ReceiverClientId);
        return Task.CompletedTask;
    }

    // ---------------------------------------------------------------- requests to the PubSub service

    private string ServiceOf(string domain) => _options.PubSubSubdomain + "." + domain;

    /// <summary>An IQ set from <paramref name="from"/> to the PubSub service of <paramref name="domain"/>; completes
    /// with its answer (routed to <paramref name="from"/> and taken by <see cref="OnInbound"/>).</summary>
    private async Task<Element> RequestAsync(Jid from, string domain, Element payload)
    {
        var id = _idPrefix + Interlocked.Increment(ref _nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var service = Jid.Create(null, ServiceOf(domain));
        var pending = new PendingRequest(new TaskCompletionSource<Element>(TaskCreationOptions.RunContinuationsAsynchronously), from, service);
        _pending[id] = pending;
        try
        {
            _ctx.SendStanza(new Element("iq", Xmpp.Ns.Client).SetAttr("type", "set").SetAttr("id", id)
                .SetAttr("from", from.ToString()).SetAttr("to", service.ToString()).Add(payload));
            return await pending.Answer.Task.WaitAsync(_timeout);
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    private static Element Unsubscribe(string node, Jid address, string subid) =>
        new Element("pubsub", PubSubNs).Add(new Element("unsubscribe", PubSubNs).SetAttr("node", node)
            .SetAttr("jid", address.ToString()).SetAttr("subid", subid.Length == 0 ? null : subid));

    private static string? Condition(Element reply)
    {
        if (reply.Type != "error" || reply.Child("error", Xmpp.Ns.Client) is not { } error) return null;
        foreach (var c in error.Elements())
            if (c.Namespace == Xmpp.Ns.StanzaErrors && c.Name != "text") return c.Name;
        return null;
    }

    private static string ReasonText(Element reply, string? condition)
    {
        var text = reply.Child("error", Xmpp.Ns.Client)?.ChildText("text", Xmpp.Ns.StanzaErrors);
        return text is { Length: > 0 } ? (condition ?? "error") + ": " + text : condition ?? "error";
    }
}

/// <summary>The key of a subscription the bridge made, in its store (owner: the domain): "address\nnode".</summary>
internal static class BridgedKey
{
    public static string Of(Jid address, string node) => address + "\n" + node;

    public static bool TryParse(string key, out Jid address, out string node)
    {
        var cut = key.IndexOf('\n');
        address = null!;
        node = "";
        if (cut <= 0 || !Jid.TryParse(key[..cut], out var jid) || jid is null) return false;
        address = jid;
        node = key[(cut + 1)..];
        return true;
    }
}

/// <summary>The server's current certificate for MQTTnet's TLS endpoint (MQTTnet asks per connection).</summary>
internal sealed class ServerCertificate(Func<X509Certificate2> current) : MQTTnet.Certificates.ICertificateProvider
{
    public X509Certificate2 GetCertificate() => current();
}

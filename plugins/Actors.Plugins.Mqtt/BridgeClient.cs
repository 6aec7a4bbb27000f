using Actors.Xmpp;
using MQTTnet;

namespace Actors.Plugins.Mqtt;

/// <summary>
/// One MQTT client of the bridge: its client id, its XMPP address (account/&lt;prefix&gt;&lt;client id&gt;), the PubSub
/// subscriptions it holds (topic to subid), and the messages held for topics whose SUBSCRIBE is in progress (the
/// node's last item, XEP-0060 §6.1.7, can arrive before MQTTnet has the subscription). Thread-safe: MQTTnet's
/// connection tasks and the router's hook both use it.
/// </summary>
internal sealed class BridgeClient(string clientId, Jid address)
{
    private readonly object _gate = new();
    private readonly Dictionary<string, string> _subscriptions = new(StringComparer.Ordinal);
    private Dictionary<string, List<MqttApplicationMessage>>? _held;
    private bool _gone;

    public string ClientId { get; } = clientId;
    public Jid Address { get; } = address;

    public bool IsSubscribed(string topic)
    {
        lock (_gate) return _subscriptions.ContainsKey(topic);
    }

    /// <summary>Holds what arrives for <paramref name="topic"/> until <see cref="Release"/>.</summary>
    public void Hold(string topic)
    {
        lock (_gate)
        {
            _held ??= new Dictionary<string, List<MqttApplicationMessage>>(StringComparer.Ordinal);
            _held.TryAdd(topic, []);
        }
    }

    /// <summary>The subscription is PubSub's now; false if the client is gone (the caller ends it).</summary>
    public bool Subscribed(string topic, string subid)
    {
        lock (_gate)
        {
            if (_gone) return false;
            _subscriptions[topic] = subid;
            return true;
        }
    }

    /// <summary>Stops holding <paramref name="topic"/>; returns what was held, in order.</summary>
    public List<MqttApplicationMessage> Release(string topic)
    {
        lock (_gate)
        {
            if (_held is null || !_held.Remove(topic, out var held)) return [];
            if (_held.Count == 0) _held = null;
            return held;
        }
    }

    public void DeliverOrHold(string topic, MqttApplicationMessage message, MqttBridge bridge)
    {
        lock (_gate)
        {
            if (_gone) return;
            if (_held is not null && _held.TryGetValue(topic, out var held))
            {
                held.Add(message);
                return;
            }
        }
        bridge.Deliver(this, message);
    }

    public string? TakeSubscription(string topic)
    {
        lock (_gate) return _subscriptions.Remove(topic, out var subid) ? subid : null;
    }

    /// <summary>The client is gone: every subscription it held, for the caller to end.</summary>
    public List<KeyValuePair<string, string>> TakeSubscriptions()
    {
        lock (_gate)
        {
            _gone = true;
            _held = null;
            var all = _subscriptions.ToList();
            _subscriptions.Clear();
            return all;
        }
    }
}

using Actors.Xmpp.Stanzas;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Plugins;

/// <summary>
/// A stanza sent to an address a plugin owns (<see cref="IPluginContext.OwnService"/>,
/// <see cref="IPluginContext.OwnAccountNamespace"/>): 'from' and 'to' are validated and stamped. The handler answers
/// with <see cref="IPluginContext.SendStanza"/> (an IQ get/set must get exactly one result or error, RFC 6120 §8.2.3).
/// </summary>
public sealed record AddressedStanza(Element Stanza, Jid From, Jid To)
{
    /// <summary>The result of an IQ get/set, from the address it was sent to.</summary>
    public Element Result(Element? payload = null) => StanzaErrors.IqResult(Stanza, payload);

    /// <summary>An error reply (RFC 6120 §8.3), or null for a stanza that must not be answered (an error, an IQ result).</summary>
    public Element? Error(string condition, string? text = null) => StanzaErrors.Reply(Stanza, condition, text);

    /// <summary>The payload of an IQ (its first child), or null.</summary>
    public Element? Payload => Stanza.FirstChild();
}

/// <summary>Handles one stanza sent to an owned address. A handler that throws (or whose task faults) has its stanza
/// answered with &lt;internal-server-error/&gt; (RFC 6120 §8.3.3.8) by the host.</summary>
public delegate ValueTask AddressHandler(AddressedStanza stanza);

/// <summary>The stanza kinds to an account's bare JID that an account-namespace owner receives.</summary>
[Flags]
public enum AccountStanzas
{
    /// <summary>IQ get/set whose payload is in the namespace.</summary>
    Iq = 1,
    /// <summary>Messages carrying a child element in the namespace.</summary>
    Message = 2,
    /// <summary>Presence carrying a child element in the namespace.</summary>
    Presence = 4,
}

/// <summary>
/// The service JIDs plugins own (host-provided): the disco plugin lists them in the server's disco#items
/// (XEP-0030 §4).
/// </summary>
public interface IOwnedAddresses
{
    /// <summary>The services under <paramref name="domain"/> (a served domain), e.g. pubsub.example.org.</summary>
    IReadOnlyList<DiscoItem> Services(string domain);
}

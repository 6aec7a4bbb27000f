using Actors.Xmpp.Stanzas;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Plugins;

/// <summary>Whether a handler answers IQs addressed to the server's domain or to an account's bare JID
/// (which the server answers on the account's behalf, RFC 6120 §10.5.3).</summary>
[Flags]
public enum IqScope { Server = 1, Account = 2, Both = Server | Account }

/// <summary>An IQ the server answers: the request (from and to already validated and stamped) and its payload.</summary>
public sealed record IqRequest(Element Iq, Jid From, Jid To, Element Payload)
{
    /// <summary>What a handler completes with when its answer is delivered another way (the server sends nothing
    /// more): <see cref="IAccounts.RemoveAsync(Jid, Jid, Element)"/> delivers the result before the stream error.</summary>
    public static readonly Element AnsweredElsewhere = new("answered-elsewhere", "urn:actors:internal");

    public bool IsSet => Iq.Type == "set";
    public Element Result(Element? payload = null) => StanzaErrors.IqResult(Iq, payload);
    public Element Error(string condition, string? text = null) => StanzaErrors.Reply(Iq, condition, text)!;
    /// <summary>The result, already completed (for synchronous handlers).</summary>
    public ValueTask<Element> Ok(Element? payload = null) => ValueTask.FromResult(Result(payload));
    public ValueTask<Element> Fail(string condition, string? text = null) => ValueTask.FromResult(Error(condition, text));
}

/// <summary>Answers one IQ: a result or an error stanza. Synchronous handlers return a completed ValueTask.</summary>
public delegate ValueTask<Element> IqHandler(IqRequest request);

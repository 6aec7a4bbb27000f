using Actors.Xmpp.Server.Stanzas;
using Actors.Xmpp.Stanzas;
using Actors.Xmpp.Transport.Streams;
using Actors.Xmpp.Xml;
using Akka.Actor;

namespace Actors.Xmpp.Server.S2s;

/// <summary>
/// What a peer has proved on one server-to-server stream, as seen by this server in the role of the Receiving Server:
/// the (peer domain, local domain) pairs it may send stanzas for, and the dialback requests (XEP-0220 §2.1.2) still
/// being checked with the Authoritative Servers. An <see cref="InboundLinkActor"/> has one; so has an
/// <see cref="OutboundLinkActor"/> whose stream became bidirectional (XEP-0288), where the peer sends stanzas for the
/// pair the link authenticated and may ask for more pairs with dialback (XEP-0288 §2.2). One place for the dialback
/// requests' answers and errors and for the address checks of a peer's stanzas (RFC 6120 §4.9.3.6, §4.9.3.7, §4.9.3.9).
/// </summary>
internal sealed class PeerDomains
{
    private readonly S2sContext _context;
    private readonly HashSet<(string Remote, string Local)> _authenticated = new();
    private readonly HashSet<(string Remote, string Local)> _verifying = new();

    public PeerDomains(S2sContext context) => _context = context;

    public int Count => _authenticated.Count;

    /// <summary>Dialback requests waiting for their Authoritative Server's answer.</summary>
    public int Verifying => _verifying.Count;

    public IEnumerable<(string Remote, string Local)> Pairs => _authenticated;

    public bool Add(string remote, string local) => _authenticated.Add((remote, local));

    public bool Contains(string remote, string local) => _authenticated.Contains((remote, local));

    /// <summary>RFC 6120 §5.4.3.3: after TLS the stream restarts and what was learned before is forgotten.</summary>
    public void Clear()
    {
        _authenticated.Clear();
        _verifying.Clear();
    }

    /// <summary>XEP-0220 §2.1.2: the peer claims <c>from</c> for <c>to</c> with a key; the Authoritative Server of
    /// <c>from</c> is asked (through <see cref="S2sActor.Verify"/>, never on this stream: XEP-0288 §2.2) and the answer
    /// comes to <paramref name="self"/> as <see cref="S2sActor.Verified"/>. Errors of XEP-0220 §2.4 are answered here;
    /// returns the text of a stream error (&lt;invalid-from/&gt;) that must close the stream, else null.</summary>
    public string? OnResultRequest(Element result, string streamId, string streamLocal, StreamLink link, IActorRef self, IActorRef s2s)
    {
        var to = result.To is { } t ? Jid.NormalizeDomain(t) : null;
        var from = result.From is { } f ? Jid.NormalizeDomain(f) : null;
        if (from is null) return "db:result needs a valid 'from' domain"; // XEP-0220 §2.4
        if (to is null || !_context.Router.IsHostedDomain(to))
        {
            // XEP-0220 §2.4 (dialback errors announced): the target domain is not hosted here
            link.Send(S2sStreams.Prefixed(S2sStreams.DialbackError(S2sStreams.Result, result.To ?? streamLocal, from, "item-not-found")));
            return null;
        }
        var key = result.Text;
        if (key.Length == 0)
        {
            link.Send(S2sStreams.Prefixed(S2sStreams.DialbackError(S2sStreams.Result, to, from, "bad-request")));
            return null;
        }
        if (_authenticated.Contains((from, to)) || !_verifying.Add((from, to))) return null; // asked already
        s2s.Tell(new S2sActor.Verify(to, from, streamId, key, self));
        return null;
    }

    /// <summary>The Authoritative Server's answer to a request of <see cref="OnResultRequest"/>, passed on to the peer
    /// (XEP-0220 §2.4); true when it authenticated a new pair.</summary>
    public bool OnVerified(S2sActor.Verified m, StreamLink link)
    {
        if (!_verifying.Remove((m.Remote, m.Local))) return false;
        if (m.ErrorCondition is { } condition)
        {
            // XEP-0220 §2.4: the Authoritative Server could not be asked (remote-server-not-found / -timeout)
            link.Send(S2sStreams.Prefixed(S2sStreams.DialbackError(S2sStreams.Result, m.Local, m.Remote, condition)));
            return false;
        }
        link.Send(S2sStreams.Prefixed(S2sStreams.Dialback(S2sStreams.Result, m.Local, m.Remote, m.Valid ? S2sStreams.Valid : S2sStreams.Invalid)));
        return m.Valid && _authenticated.Add((m.Remote, m.Local)); // invalid: other domains may still authenticate
    }

    /// <summary>XEP-0220 §2.3: this server is the Authoritative Server of the db:verify's 'to'; the key is valid when
    /// it is the one this server generated for the Receiving Server ('from') and that stream id. Returns the text of a
    /// stream error (&lt;invalid-xml/&gt;) when the request is unusable, else null.</summary>
    public string? OnVerifyRequest(Element verify, string streamLocal, StreamLink link)
    {
        var receiving = verify.From is { } f ? Jid.NormalizeDomain(f) : null;
        var originating = verify.To is { } t ? Jid.NormalizeDomain(t) : null;
        var id = verify.Id;
        if (receiving is null || string.IsNullOrEmpty(id)) return "db:verify needs 'from' and 'id'";
        if (originating is null || !_context.Router.IsHostedDomain(originating))
        {
            link.Send(S2sStreams.Prefixed(S2sStreams.DialbackError(S2sStreams.Verify, verify.To ?? streamLocal, receiving, "item-not-found", id)));
            return null;
        }
        var valid = _context.Keys.Verify(receiving, originating, id, verify.Text);
        link.Send(S2sStreams.Prefixed(S2sStreams.Dialback(S2sStreams.Verify, originating, receiving, valid ? S2sStreams.Valid : S2sStreams.Invalid, id)));
        return null;
    }

    /// <summary>The addresses of a peer's stanza on an authenticated stream (RFC 6120 §8.1.1.1, §8.1.2.1: a server's
    /// stanza names both). Null when it may be delivered (<paramref name="from"/> and <paramref name="to"/> set); else
    /// the stream error that closes the stream, with its text. A 'to' that is not a JID is answered
    /// &lt;jid-malformed/&gt; here (the result is null and <paramref name="to"/> null).</summary>
    public (string Condition, string Text)? CheckAddresses(Element received, out Jid? from, out Jid? to)
    {
        from = to = null;
        if (received.From is not { } fromAttr || received.To is not { } toAttr)
            return (StreamErrors.ImproperAddressing, "a server's stanza needs 'from' and 'to'"); // §4.9.3.7
        if (!Jid.TryParse(fromAttr, out from) || from is null)
            return (StreamErrors.InvalidFrom, "'from' is not a valid JID"); // §4.9.3.9
        if (!Jid.TryParse(toAttr, out to) || to is null)
        {
            to = null;
            var stanza = received.CloneIn(Ns.Server, Ns.Client);
            if (StanzaErrors.Reply(stanza, "jid-malformed", "the 'to' address is not a valid JID") is { } reply) Back(reply);
            return null;
        }
        if (_authenticated.Contains((from.Domain, to.Domain))) return null;
        if (!IsAuthenticatedTarget(to.Domain))
            return (StreamErrors.HostUnknown, $"{to.Domain} was not authenticated on this stream"); // §4.9.3.6
        return (StreamErrors.InvalidFrom, $"{from.Domain} was not authenticated on this stream"); // §4.9.3.9
    }

    /// <summary>A checked stanza of the peer, routed in as jabber:client like any other.</summary>
    public void Deliver(Element received, Jid from, Jid to)
    {
        var stanza = received.CloneIn(Ns.Server, Ns.Client);
        stanza.From = from.ToString();
        stanza.To = to.ToString();
        _context.Router.Route(stanza, from, to);
    }

    private bool IsAuthenticatedTarget(string domain)
    {
        foreach (var pair in _authenticated)
            if (pair.Local == domain) return true;
        return false;
    }

    /// <summary>An error for the peer's entity goes back through the router (and this server's way out to it).</summary>
    private void Back(Element reply)
    {
        if (Jid.TryParse(reply.To, out var to) && to is not null && Jid.TryParse(reply.From, out var from) && from is not null)
            _context.Router.Route(reply, from, to);
    }
}

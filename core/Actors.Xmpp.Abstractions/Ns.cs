namespace Actors.Xmpp;

/// <summary>XML namespaces of RFC 6120/6121 and the core XEPs.</summary>
public static class Ns
{
    public const string Streams = "http://etherx.jabber.org/streams";
    public const string Client = "jabber:client";
    public const string Server = "jabber:server";
    /// <summary>XEP-0114: the content namespace of a component's stream.</summary>
    public const string ComponentAccept = "jabber:component:accept";
    /// <summary>XEP-0220: server dialback elements (db:result, db:verify) on server-to-server streams.</summary>
    public const string Dialback = "jabber:server:dialback";
    /// <summary>XEP-0220 §2.4 / XEP-0288-era stream feature announcing dialback (with &lt;errors/&gt;: dialback errors).</summary>
    public const string DialbackFeature = "urn:xmpp:features:dialback";
    /// <summary>XEP-0288 §2.2: the initiating server's request for a bidirectional server-to-server stream.</summary>
    public const string Bidi = "urn:xmpp:bidi";
    /// <summary>XEP-0288 §2.1: the stream feature announcing bidirectional server-to-server streams.</summary>
    public const string BidiFeature = "urn:xmpp:features:bidi";
    public const string StreamErrors = "urn:ietf:params:xml:ns:xmpp-streams";
    public const string StanzaErrors = "urn:ietf:params:xml:ns:xmpp-stanzas";
    public const string Tls = "urn:ietf:params:xml:ns:xmpp-tls";
    public const string Sasl = "urn:ietf:params:xml:ns:xmpp-sasl";
    public const string Bind = "urn:ietf:params:xml:ns:xmpp-bind";
    public const string Session = "urn:ietf:params:xml:ns:xmpp-session";
    public const string Xml = "http://www.w3.org/XML/1998/namespace";
    public const string Roster = "jabber:iq:roster";
    public const string Register = "jabber:iq:register";
    public const string RegisterFeature = "http://jabber.org/features/iq-register";
    public const string Ping = "urn:xmpp:ping";
    public const string DiscoInfo = "http://jabber.org/protocol/disco#info";
    public const string DiscoItems = "http://jabber.org/protocol/disco#items";
    public const string Delay = "urn:xmpp:delay";
    public const string DataForms = "jabber:x:data";
    public const string SaslChannelBinding = "urn:xmpp:sasl-cb:0";
    /// <summary>XEP-0198 stream management, version 3.</summary>
    public const string StreamManagement = "urn:xmpp:sm:3";
    /// <summary>XEP-0352 client state indication.</summary>
    public const string Csi = "urn:xmpp:csi:0";
    /// <summary>XEP-0085 chat state notifications.</summary>
    public const string ChatStates = "http://jabber.org/protocol/chatstates";
    public const string Version = "jabber:iq:version";
    public const string Time = "urn:xmpp:time";
}

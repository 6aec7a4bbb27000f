using Actors.Xmpp.Server.Stanzas;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Server.C2s;

/// <summary>XEP-0077 in-band registration of a new account, before authentication. Off unless configured.</summary>
internal static class InBandRegistration
{
    public static async Task<Element> Handle(ServerContext server, string domain, Element iq, Element query)
    {
        var settings = server.Options.Registration;
        if (!settings.Enabled)
            return StanzaErrors.Reply(iq, "service-unavailable", "in-band registration is disabled")!; // XEP-0077 §3.1
        if (query.Name != "query") return StanzaErrors.Reply(iq, "bad-request")!;
        if (iq.Type == "get")
        {
            var form = new Element("query", Ns.Register,
                new Element("instructions", Ns.Register, "Choose a username and password for use with this service."),
                new Element("username", Ns.Register),
                new Element("password", Ns.Register));
            return Result(iq, form);
        }
        if (iq.Type != "set") return StanzaErrors.Reply(iq, "bad-request")!;
        if (query.Child("remove") is not null)
            return StanzaErrors.Reply(iq, "not-authorized", "log in to cancel a registration")!; // XEP-0077 §3.2
        var username = query.ChildText("username");
        var password = query.ChildText("password");
        if (string.IsNullOrEmpty(username) || string.IsNullOrEmpty(password))
            return StanzaErrors.Reply(iq, "not-acceptable", "username and password are required")!; // XEP-0077 §3.1
        var local = Jid.NormalizeLocal(username);
        if (local is null) return StanzaErrors.Reply(iq, "jid-malformed", "the username is not a valid JID localpart")!;
        if (password.Length < settings.MinPasswordLength)
            return StanzaErrors.Reply(iq, "not-acceptable", $"the password must have at least {settings.MinPasswordLength} characters")!;
        var account = Jid.Create(local, domain);
        if (!await server.Accounts.AddAsync(account, password).ConfigureAwait(false))
            return StanzaErrors.Reply(iq, "conflict", "the username is taken")!;
        return Result(iq, null);
    }

    private static Element Result(Element iq, Element? payload)
    {
        var result = new Element("iq", Ns.Client).SetAttr("id", iq.Id).SetAttr("type", "result");
        if (payload is not null) result.Add(payload);
        return result;
    }
}

using Akka.Actor;
using Actors.Xmpp.Server.Iq;
using Actors.Xmpp.Server.Stanzas;
using Actors.Xmpp.Stanzas;
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

/// <summary>
/// XEP-0077 after authentication, on the account's own bare JID: the registration info (§3.2 get with
/// &lt;registered/&gt;), password change (§3.3; the account's other sessions are closed) and cancellation (§3.2,
/// &lt;remove/&gt;: see <see cref="Accounts.AccountLifecycle"/>). Registered only when in-band registration is enabled.
/// </summary>
internal static class AccountRegistration
{
    public static void Register(IqHandlers iq, XmppServerOptions options, Accounts.AccountLifecycle accounts)
    {
        if (!options.Registration.Enabled) return;
        iq.AddFeature(Plugins.IqScope.Server, Ns.Register);
        iq.Register("get", Plugins.IqScope.Account, Ns.Register, "query", r =>
        {
            if (!r.From.Bare.Equals(r.To)) return ValueTask.FromResult(r.Error("forbidden", "only the account itself"));
            return ValueTask.FromResult(r.Result(new Element("query", Ns.Register,
                new Element("registered", Ns.Register), new Element("username", Ns.Register, r.To.Local!))));
        });
        iq.Register("set", Plugins.IqScope.Account, Ns.Register, "query", async r =>
        {
            if (!r.From.Bare.Equals(r.To)) return r.Error("forbidden", "only the account itself");
            var account = r.To;
            if (r.Payload.Child("remove") is not null)
            {
                // §3.2: <remove/> must be the only child, else <bad-request/>
                if (r.Payload.ElementCount != 1) return r.Error("bad-request", "<remove/> must be the only child of <query/>");
                // §3.2: the account is deleted and every stream of it ends with <not-authorized/>; the requester's
                // result is delivered by the account's user actor, before its stream error
                return await accounts.RemoveAsync(account, r.From, r.Result()).ConfigureAwait(false)
                    ? IqHandlers.AnsweredElsewhere
                    : r.Error("item-not-found");
            }
            var username = r.Payload.ChildText("username");
            var password = r.Payload.ChildText("password");
            if (string.IsNullOrEmpty(username) || string.IsNullOrEmpty(password))
                return r.Error("bad-request", "username and password are required"); // §3.3
            if (Jid.NormalizeLocal(username) != account.Local) return r.Error("not-authorized", "that is another account");
            if (password.Length < options.Registration.MinPasswordLength)
                return r.Error("not-acceptable", $"the password must have at least {options.Registration.MinPasswordLength} characters");
            // the account's other sessions are closed; this one stays
            return await accounts.SetPasswordAsync(account, password, keep: r.From).ConfigureAwait(false) ? r.Result() : r.Error("item-not-found");
        });
    }
}

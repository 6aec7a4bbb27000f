using System.ComponentModel.DataAnnotations;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Register;

/// <summary>
/// XEP-0077 in-band registration (Prosody's mod_register_ibr and mod_register). Off unless Xmpp:Registration:Enabled.
/// <list type="bullet">
/// <item>Before authentication, on the client's stream: the &lt;register/&gt; stream feature (§8), the registration
/// fields (§3.1: &lt;instructions/&gt;, &lt;username/&gt;, &lt;password/&gt;, and the same as a jabber:x:data form with
/// FORM_TYPE jabber:iq:register, §4), the registration itself from either (never both, §4), limited per remote address
/// (§3.1.1), and &lt;not-authorized/&gt; for a cancellation before login (§3.2).</item>
/// <item>After authentication, from the account itself (to its bare JID, to the server, or with no 'to'): the
/// registration on file with &lt;registered/&gt; (§3.1), password change (§3.3; the account's other sessions are
/// closed) and cancellation (§3.2: &lt;remove/&gt; alone; the result, then &lt;not-authorized/&gt; on every session of the
/// account, which the host removes with all it stored).</item>
/// </list>
/// The connection keeps RFC 6120's rules around it: where TLS is required nothing of this is offered or answered
/// before TLS (XEP-0077 §10 wants a secured channel), and without this plugin (or disabled) the server answers
/// &lt;service-unavailable/&gt; (§3.1).
/// </summary>
[Xep(77, "2.4")]
public sealed class RegisterPlugin : IXmppPlugin
{
    public const string FormType = Ns.Register; // XEP-0077 §4: the FORM_TYPE of the registration form
    private const string Instructions = "Choose a username and password for use with this service.";

    /// <summary>The section Xmpp:Registration (the keys the server had before registration became a plugin).</summary>
    public sealed class Options
    {
        /// <summary>XEP-0077 in-band registration. Off by default.</summary>
        public bool Enabled { get; set; }

        /// <summary>Passwords shorter than this are refused with &lt;not-acceptable/&gt; (registration and change).</summary>
        [Range(0, 1024)]
        public int MinPasswordLength { get; set; } = 8;

        /// <summary>Accounts one remote address (an IPv6 /64 counts as one) may create within
        /// <see cref="ThrottlePeriodSeconds"/> (§3.1.1); more get &lt;not-acceptable/&gt; (type wait) saying when to try
        /// again. 0: no limit. Loopback clients are not limited while Xmpp:Limits:ExemptLoopback is on. (At 10 a minute,
        /// a registration flood from one address created 10 accounts in 10 s where ejabberd's default created one:
        /// docs/reliability.md, "Hostile clients".)</summary>
        [Range(0, 1_000_000)]
        public int MaxPerAddress { get; set; } = 1;

        /// <summary>The throttle's window: ejabberd's registration_timeout default, 600 s.</summary>
        [Range(1, 7 * 24 * 3600)]
        public int ThrottlePeriodSeconds { get; set; } = 600;

        /// <summary>The earlier form of the throttle (until 2026-12): when set, <see cref="MaxPerAddress"/> is this and
        /// the window one minute, as it meant then.</summary>
        [Range(0, 1_000_000)]
        public int? MaxPerAddressPerMinute { get; set; }

        internal (int Max, TimeSpan Period) Throttle => MaxPerAddressPerMinute is { } perMinute
            ? (perMinute, TimeSpan.FromMinutes(1))
            : (MaxPerAddress, TimeSpan.FromSeconds(ThrottlePeriodSeconds));
    }

    public PluginDescriptor Descriptor { get; } = new("register", "1.0.0") { OptionsSection = "Xmpp:Registration" };

    public void Configure(IPluginContext ctx)
    {
        var options = ctx.Options<Options>(); // validated even when registration is off
        if (!options.Enabled) return;
        var accounts = ctx.Require<IAccounts>();
        var (max, period) = options.Throttle;
        var throttle = new RegistrationThrottle(max, period, static () => Environment.TickCount64);

        // §8: the stream feature (the connection offers it only where the stream may authenticate)
        ctx.AddStreamFeature(StreamStage.BeforeAuthentication, static _ => new Element("register", Ns.RegisterFeature));
        ctx.HandlePreAuthIq("get", Ns.Register, "query", static r => ValueTask.FromResult(r.Result(RegistrationFields())));
        ctx.HandlePreAuthIq("set", Ns.Register, "query", r => RegisterAsync(r, accounts, throttle, options));

        ctx.AddFeature(Ns.Register); // disco#info of the server
        ctx.HandleIq("get", IqScope.Account, Ns.Register, "query", r => OnFile(r, r.To));
        ctx.HandleIq("get", IqScope.Server, Ns.Register, "query", r => OnFile(r, r.From.Bare));
        ctx.HandleIq("set", IqScope.Account, Ns.Register, "query", r => ChangeAsync(r, r.To, accounts, options));
        ctx.HandleIq("set", IqScope.Server, Ns.Register, "query", r => ChangeAsync(r, r.From.Bare, accounts, options));
        ctx.Every(TimeSpan.FromMinutes(1), _ =>
        {
            throttle.DropExpired();
            return Task.CompletedTask;
        });
    }

    // ---- §3.1 before authentication ----------------------------------------------------------------------------

    /// <summary>§3.1 the fields, and §4 the same as a data form (§6: a client that understands x:data submits the form).</summary>
    private static Element RegistrationFields()
    {
        var form = new Element("x", AdHoc.DataNs).SetAttr("type", "form"); // as XEP-0077 §3.1's example: title, instructions, fields
        form.Add(new Element("title", AdHoc.DataNs, "Account registration"));
        form.Add(new Element("instructions", AdHoc.DataNs, Instructions));
        form.Add(AdHoc.Field("FORM_TYPE", "hidden", FormType));
        form.Add(Required(AdHoc.Field("username", "text-single"), "Username"));
        form.Add(Required(AdHoc.Field("password", "text-private"), "Password"));
        return new Element("query", Ns.Register,
            new Element("instructions", Ns.Register, Instructions),
            new Element("username", Ns.Register),
            new Element("password", Ns.Register),
            form);
    }

    private static Element Required(Element field, string label)
    {
        field.SetAttr("label", label);
        field.Add(new Element("required", AdHoc.DataNs));
        return field;
    }

    private static async ValueTask<Element> RegisterAsync(PreAuthIqRequest r, IAccounts accounts, RegistrationThrottle throttle, Options options)
    {
        var query = r.Payload;
        // §3.2: cancelling a registration needs a logged-in account
        if (query.Child("remove", Ns.Register) is not null) return r.Error("not-authorized", "log in to cancel a registration");
        if (!Submitted(query, out var username, out var password, out var problem)) return r.Error("bad-request", problem);
        // §3.1: every field asked for, and a password with character data
        if (string.IsNullOrEmpty(username) || string.IsNullOrEmpty(password))
            return r.Error("not-acceptable", "username and password are required");
        var local = Jid.NormalizeLocal(username);
        if (local is null) return r.Error("jid-malformed", "the username is not a valid JID localpart");
        if (password.Length < options.MinPasswordLength)
            return r.Error("not-acceptable", $"the password must have at least {options.MinPasswordLength} characters");
        // §3.1.1: too many registrations from this address
        // an IPv6 client owns its whole /64; a loopback client is not limited while the server's per-address limits
        // exempt it (Xmpp:Limits:ExemptLoopback: local tools, a reverse proxy on the host)
        var address = r.Stream.AddressLimitsExempt ? null : r.Stream.RemoteAddressGroup ?? r.Stream.RemoteAddress;
        if (!throttle.TryTake(address, out var retryAfter))
            return r.Error("not-acceptable", "too many accounts were registered from your address; try again in "
                + Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture) + " s",
                type: "wait");
        var created = false;
        try
        {
            created = await accounts.AddAsync(Jid.Create(local, r.Stream.Domain), password);
        }
        finally
        {
            if (!created) throttle.Return(address);
        }
        return created ? r.Result() : r.Error("conflict", "the username is taken");
    }

    /// <summary>
    /// The username and password of a registration request: from the data form (§4: FORM_TYPE jabber:iq:register,
    /// type submit) or from the iq:register fields, never both (§4 item 5). False with the reason for a request that
    /// mixes them or submits another form.
    /// </summary>
    private static bool Submitted(Element query, out string? username, out string? password, out string? problem)
    {
        username = password = problem = null;
        var form = query.Child("x", AdHoc.DataNs);
        if (form is null)
        {
            username = query.ChildText("username");
            password = query.ChildText("password");
            return true;
        }
        if (query.Child("username", Ns.Register) is not null || query.Child("password", Ns.Register) is not null)
        {
            problem = "submit the data form or the registration fields, not both";
            return false;
        }
        if (form.Attr("type") != "submit" || AdHoc.Value(query, "FORM_TYPE") != FormType)
        {
            problem = $"expected a submitted form of FORM_TYPE {FormType}";
            return false;
        }
        username = AdHoc.Value(query, "username");
        password = AdHoc.Value(query, "password");
        return true;
    }

    // ---- after authentication: §3.1 registered, §3.2 cancel, §3.3 password change ---------------------------------

    private static ValueTask<Element> OnFile(IqRequest r, Jid account)
    {
        if (!Own(r, account)) return r.Fail("forbidden", "only the account itself");
        // §3.1: an entity already registered gets <registered/> with what is on file (the password is not shown)
        return r.Ok(new Element("query", Ns.Register,
            new Element("instructions", Ns.Register, "You are registered. Send a new password to change it, or <remove/> to cancel the account."),
            new Element("registered", Ns.Register),
            new Element("username", Ns.Register, account.Local!)));
    }

    private static async ValueTask<Element> ChangeAsync(IqRequest r, Jid account, IAccounts accounts, Options options)
    {
        if (!Own(r, account)) return r.Error("forbidden", "only the account itself");
        if (r.Payload.Child("remove", Ns.Register) is not null)
        {
            // §3.2: <remove/> must be the only child, else <bad-request/>
            if (r.Payload.ElementCount != 1) return r.Error("bad-request", "<remove/> must be the only child of <query/>");
            // §3.2: the account is removed and every stream of it ends with <not-authorized/>; the result reaches the
            // requester first, delivered by the host
            return await accounts.RemoveAsync(account, r.From, r.Result()) ? IqRequest.AnsweredElsewhere : r.Error("item-not-found");
        }
        var username = r.Payload.ChildText("username");
        var password = r.Payload.ChildText("password");
        // §3.3: incomplete information is <bad-request/>, and an empty password never replaces the one on file
        if (string.IsNullOrEmpty(username) || string.IsNullOrEmpty(password))
            return PasswordChangeError(r, "bad-request", "username and password are required");
        if (Jid.NormalizeLocal(username) != account.Local) return PasswordChangeError(r, "not-authorized", "that is another account");
        if (password.Length < options.MinPasswordLength)
            return PasswordChangeError(r, "not-acceptable", $"the password must have at least {options.MinPasswordLength} characters");
        // the account's other sessions are closed; this one stays
        return await accounts.SetPasswordAsync(account, password, keep: r.From) ? r.Result() : PasswordChangeError(r, "item-not-found", null);
    }

    /// <summary>§3.3: an error about a password change does not carry the request's XML back (it holds the password).</summary>
    private static Element PasswordChangeError(IqRequest r, string condition, string? text)
    {
        var error = r.Error(condition, text);
        error.RemoveAll("query", Ns.Register);
        return error;
    }

    /// <summary>The request comes from a session of <paramref name="account"/>, a local account (its bare JID, or the
    /// server of its own domain, was addressed).</summary>
    private static bool Own(IqRequest r, Jid account) =>
        account.Local is not null && r.From.Bare.Equals(account) && (r.To.Equals(account) || r.To.IsDomain && r.To.Domain == account.Domain);
}

using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.ExternalServices;

/// <summary>
/// XEP-0215 external service discovery (Prosody's mod_external_services, ejabberd's mod_stun_disco): the STUN and
/// TURN servers a client uses for Jingle calls, with time-limited TURN credentials made from a shared secret (the TURN
/// REST scheme coturn's use-auth-secret checks), asked for by the account's own sessions only. Besides the configured
/// services it lists those other plugins register through <see cref="IExternalServices"/> (the built-in STUN/TURN
/// server, plugin "turn", while it is loaded).
/// </summary>
[Xep(215, "1.0.0")]
public sealed class ExternalServicesPlugin : IXmppPlugin
{
    public const string Ns = "urn:xmpp:extdisco:2";

    public PluginDescriptor Descriptor { get; } = new("extdisco", "1.0.0");

    public void Configure(IPluginContext ctx)
    {
        var options = ctx.Options<ExternalServicesOptions>();
        var registered = new RegisteredServices();
        ctx.Provide<IExternalServices>(registered);
        ctx.AddFeature(Ns); // §3.1: the server's disco#info
        var domains = ctx.Domains;
        // the services (and their credentials) are for this server's own users, not for other servers' (§6)
        bool Local(IqRequest r) => r.From.Local is not null && domains.Contains(r.From.Domain);
        ctx.HandleIq("get", IqScope.Server, Ns, "services", r =>
            Local(r) ? r.Ok(Services(options, registered.All, r, Filter(r.Payload))) : r.Fail("forbidden", "external services are for this server's users"));
        ctx.HandleIq("get", IqScope.Server, Ns, "credentials", r =>
        {
            if (!Local(r)) return r.Fail("forbidden", "external services are for this server's users");
            // §3.3: credentials for one service, named by host and type (and port)
            var asked = r.Payload.Child("service", Ns);
            if (asked?.Attr("host") is not { Length: > 0 } host || asked.Attr("type") is not { Length: > 0 } type)
                return r.Fail("bad-request", "name the service by 'host' and 'type'");
            var port = asked.Attr("port");
            var match = options.Services.Concat(registered.All).FirstOrDefault(s => s.Host == host && s.Type == type
                && (port is null || s.Port.ToString(CultureInfo.InvariantCulture) == port));
            if (match is null) return r.Fail("item-not-found", "no such service");
            var answer = new Element("credentials", Ns);
            answer.Add(Describe(match, options, r.From));
            return r.Ok(answer);
        });
    }

    private static string? Filter(Element services) => services.Attr("type") is { Length: > 0 } t ? t : null;

    /// <summary>§3.2: every service (of the type asked for), each with its credentials.</summary>
    private static Element Services(ExternalServicesOptions options, ExternalService[] registered, IqRequest r, string? type)
    {
        var answer = new Element("services", Ns);
        if (type is not null) answer.SetAttr("type", type);
        foreach (var s in options.Services)
            if (type is null || s.Type == type) answer.Add(Describe(s, options, r.From));
        foreach (var s in registered)
            if (type is null || s.Type == type) answer.Add(Describe(s, options, r.From));
        return answer;
    }

    private static Element Describe(ExternalService s, ExternalServicesOptions options, Jid requester)
    {
        var e = new Element("service", Ns).SetAttr("type", s.Type).SetAttr("host", s.Host);
        if (s.Port > 0) e.SetAttr("port", s.Port.ToString(CultureInfo.InvariantCulture));
        if (!string.IsNullOrEmpty(s.Transport)) e.SetAttr("transport", s.Transport);
        if (!string.IsNullOrEmpty(s.Name)) e.SetAttr("name", s.Name);
        if (!string.IsNullOrEmpty(s.Secret))
        {
            var expires = DateTimeOffset.UtcNow.AddSeconds(options.CredentialSeconds);
            var (username, password) = TurnRestCredentials.Make(s.Secret, requester.Bare.ToString(), expires);
            e.SetAttr("username", username).SetAttr("password", password)
                .SetAttr("expires", expires.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture))
                .SetAttr("restricted", "1"); // §3.2: time-limited credentials
        }
        else if (!string.IsNullOrEmpty(s.Password))
        {
            if (!string.IsNullOrEmpty(s.Username)) e.SetAttr("username", s.Username);
            e.SetAttr("password", s.Password);
        }
        return e;
    }

    /// <summary>The services other plugins registered (<see cref="IExternalServices"/>), in registration order.</summary>
    private sealed class RegisteredServices : IExternalServices
    {
        private ExternalService[] _all = [];
        private readonly Lock _gate = new();

        public ExternalService[] All => Volatile.Read(ref _all);

        public IDisposable Add(ExternalServiceEntry service)
        {
            var entry = new ExternalService
            {
                Type = service.Type, Host = service.Host, Port = service.Port, Transport = service.Transport,
                Name = service.Name, Secret = service.Secret,
            };
            lock (_gate) _all = [.. _all, entry];
            return new Registration(this, entry);
        }

        private void Remove(ExternalService entry)
        {
            lock (_gate) _all = Array.FindAll(_all, s => !ReferenceEquals(s, entry));
        }

        private sealed class Registration(RegisteredServices owner, ExternalService entry) : IDisposable
        {
            public void Dispose() => owner.Remove(entry);
        }
    }
}

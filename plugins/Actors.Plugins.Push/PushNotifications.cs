using System.Collections.Concurrent;
using System.Globalization;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;
using Microsoft.Extensions.Logging;

namespace Actors.Plugins.Push;

/// <summary>
/// The accounts' push registrations (a map per account: key "service-JID node", value the &lt;registration/&gt; with the
/// client's publish-options form and the resource that enabled it) and the notifications: XEP-0357 §7, an IQ-set
/// publish from the account's bare JID to the push service's node with a urn:xmpp:push:summary form, for each message
/// that cannot reach the user now. An app server that answers with an error of type cancel or auth (the node is gone,
/// the secret is wrong) loses the registration (§8 leaves it to the server; Prosody does the same).
/// </summary>
internal sealed class PushNotifications(IStoreMap registrations, IRouter router, PushOptions options, ILogger log)
{
    public const string RegistrationsKind = "registrations";
    private const string Registration = "registration";

    // sessions that wait detached for a XEP-0198 resumption, and the messages each account missed since it was last
    // reachable (the summary's message-count)
    private readonly ConcurrentDictionary<Jid, byte> _detached = new();
    private readonly ConcurrentDictionary<Jid, int> _missed = new();

    // ---- §5 enabling, §6 disabling --------------------------------------------------------------------------------

    public async ValueTask<Element> EnableAsync(IqRequest r)
    {
        if (!IsOwnAccount(r)) return r.Error("forbidden", "push notifications are enabled by the account's own resources");
        var enable = r.Payload;
        if (!TryService(enable, out var service)) return r.Error("bad-request", "'jid' must be the push service's JID");
        var node = enable.Attr("node");
        if (string.IsNullOrEmpty(node)) return r.Error("bad-request", "'node' is required");
        Element? form = null;
        foreach (var x in enable.Elements("x", PushNs.Data))
        {
            // §5: the optional publish-options, a form of type submit with that FORM_TYPE
            if (x.Attr("type") != "submit" || FormType(x) != PushNs.PublishOptions)
                return r.Error("bad-request", "publish-options must be a submitted form of type " + PushNs.PublishOptions);
            form = x;
        }
        var account = r.From.Bare;
        var existing = await registrations.GetAllAsync(account);
        var key = Key(service, node);
        var count = 0;
        foreach (var e in existing)
            if (e.Key != key) count++;
        if (count >= options.MaxRegistrations)
            return r.Error("resource-constraint", $"at most {options.MaxRegistrations} push services per account");
        var stored = new Element(Registration, PushNs.Push).SetAttr("jid", service.ToString()).SetAttr("node", node)
            .SetAttr("resource", r.From.Resource);
        if (form is not null) stored.Add(form.Clone());
        await registrations.SetAsync(account, key, StoredValue.Of(stored));
        return r.Result();
    }

    public async ValueTask<Element> DisableAsync(IqRequest r)
    {
        if (!IsOwnAccount(r)) return r.Error("forbidden", "push notifications are disabled by the account's own resources");
        if (!TryService(r.Payload, out var service)) return r.Error("bad-request", "'jid' must be the push service's JID");
        var node = r.Payload.Attr("node"); // §6: without a node, every node of that service
        var account = r.From.Bare;
        var removals = new List<StoredEntry>();
        foreach (var e in await registrations.GetAllAsync(account))
            if (e.Value?.Xml is { } reg && reg.Attr("jid") == service.ToString() && (node is null || reg.Attr("node") == node))
                removals.Add(new StoredEntry(e.Key, null));
        if (removals.Count > 0) await registrations.SetManyAsync(account, removals);
        return r.Result();
    }

    private static bool IsOwnAccount(IqRequest r) => r.From.Resource is not null && (r.To.Local is null || r.To.Equals(r.From.Bare));

    private static bool TryService(Element e, out Jid service)
    {
        service = null!;
        if (!Jid.TryParse(e.Attr("jid"), out var jid) || jid is null) return false;
        service = jid;
        return true;
    }

    private static string? FormType(Element x)
    {
        foreach (var f in x.Elements("field", PushNs.Data))
            if (f.Attr("var") == "FORM_TYPE") return f.ChildText("value", PushNs.Data);
        return null;
    }

    private static string Key(Jid service, string node) => service + " " + node;

    // ---- when to notify --------------------------------------------------------------------------------------------

    public ValueTask Detached(Jid session)
    {
        _detached[session] = 0;
        return ValueTask.CompletedTask;
    }

    /// <summary>A session resumed, or a resource became available: the account is reachable again.</summary>
    public ValueTask Back(Jid session)
    {
        _detached.TryRemove(session, out _);
        _missed.TryRemove(session.Bare, out _);
        return ValueTask.CompletedTask;
    }

    public ValueTask Gone(Jid session)
    {
        _detached.TryRemove(session, out _);
        return ValueTask.CompletedTask;
    }

    /// <summary>A stanza for a session that waits detached: held for the resumption, and the device is woken (the
    /// registrations that session made).</summary>
    public bool Deliver(StanzaEvent e)
    {
        if (!_detached.IsEmpty && _detached.ContainsKey(e.Session) && IsImportant(e.Stanza))
            _ = NotifyAsync(e.Session.Bare, e.Session.Resource, e.Stanza);
        return false;
    }

    /// <summary>A message for an account with no available resource (it goes to offline storage): every device of the
    /// account is woken.</summary>
    public bool Undeliverable(StanzaEvent e)
    {
        if (IsImportant(e.Stanza) && e.Stanza.Type is null or "normal" or "chat") _ = NotifyAsync(e.Session.Bare, null, e.Stanza);
        return false;
    }

    /// <summary>What wakes a device: a message with a body, an encrypted one (OMEMO) or a call (XEP-0353 propose);
    /// not chat states, receipts or errors.</summary>
    private static bool IsImportant(Element stanza)
    {
        if (stanza.Name != "message" || stanza.Type == "error") return false;
        foreach (var child in stanza.Elements())
        {
            if (child.Name == "body" && child.Namespace == PushNs.Client) return true;
            if (child.Name == "encrypted" && child.Namespace is PushNs.OmemoLegacy or PushNs.Omemo) return true;
            if (child.Name == "propose" && child.Namespace == PushNs.JingleMessage) return true;
        }
        return false;
    }

    // ---- §7 the notification -----------------------------------------------------------------------------------

    private async Task NotifyAsync(Jid account, string? resource, Element message)
    {
        try
        {
            var registered = await registrations.GetAllAsync(account);
            if (registered.Count == 0) return;
            var count = _missed.AddOrUpdate(account, 1, static (_, n) => n + 1);
            foreach (var entry in registered)
            {
                if (entry.Value?.Xml is not { } reg) continue;
                // a detached session wakes its own device; an offline message every device
                if (resource is not null && reg.Attr("resource") != resource) continue;
                _ = PublishAsync(account, entry.Key, reg, count, message);
            }
        }
        catch (StorageException ex)
        {
            log.LogWarning(ex, "reading the push registrations of {Account} failed", account);
        }
    }

    private async Task PublishAsync(Jid account, string key, Element registration, int count, Element message)
    {
        var service = registration.Attr("jid")!;
        var summary = new Element("x", PushNs.Data).SetAttr("type", "submit");
        Field(summary, "FORM_TYPE", PushNs.Summary).SetAttr("type", "hidden");
        Field(summary, "message-count", count.ToString(CultureInfo.InvariantCulture));
        if (options.IncludeSender && message.From is { } from && Jid.TryParse(from, out var sender) && sender is not null)
            Field(summary, "last-message-sender", sender.Bare.ToString());
        if (options.IncludeBody && message.ChildText("body", PushNs.Client) is { } body)
            Field(summary, "last-message-body", body);
        var pubsub = new Element("pubsub", PushNs.PubSub);
        pubsub.AddChild("publish").SetAttr("node", registration.Attr("node")).AddChild("item")
            .Add(new Element("notification", PushNs.Push).Add(summary));
        if (registration.Child("x", PushNs.Data) is { } publishOptions) pubsub.AddChild("publish-options").Add(publishOptions);
        var iq = new Element("iq", PushNs.Client).SetAttr("type", "set").SetAttr("to", service).SetAttr("from", account.ToString());
        iq.Add(pubsub);
        Element answer;
        try
        {
            answer = await router.SendIqAsync(iq, TimeSpan.FromSeconds(options.TimeoutSeconds));
        }
        catch (TimeoutException)
        {
            log.LogInformation("the push service {Service} did not answer a notification for {Account}", service, account);
            return;
        }
        if (answer.Type != "error") return;
        var type = answer.Child("error", PushNs.Client)?.Attr("type");
        if (type is "cancel" or "auth")
        {
            // the app server refuses this registration for good: notifications to it stop
            log.LogInformation("the push service {Service} refused a notification for {Account} ({Error}): registration removed",
                service, account, answer.Child("error", PushNs.Client)?.FirstChild()?.Name);
            try { await registrations.SetAsync(account, key, null); }
            catch (StorageException ex) { log.LogWarning(ex, "removing a push registration of {Account} failed", account); }
        }
    }

    private static Element Field(Element form, string var, string value)
    {
        var field = form.AddChild("field").SetAttr("var", var);
        field.AddChild("value").AddText(value);
        return field;
    }
}

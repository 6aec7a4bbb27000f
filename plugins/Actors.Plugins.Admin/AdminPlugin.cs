using System.ComponentModel.DataAnnotations;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;
using static Actors.Xmpp.Plugins.AdHoc;

namespace Actors.Plugins.Admin;

/// <summary>XEP-0133 service administration on top of XEP-0050: add user, delete user, list online users,
/// announce; and every plugin's admin commands open to administrators (<see cref="CommandAccess.Admin"/>) as
/// XEP-0050 commands, their arguments a data form. Only the JIDs in the options' Admins list see and run them.</summary>
[Xep(133, "1.3.0", Status = "partial")]
public sealed class AdminPlugin : IXmppPlugin
{
    public const string Ns = "http://jabber.org/protocol/admin";

    public PluginDescriptor Descriptor { get; } = new("admin", "1.1.0", [PluginDependency.Hard("adhoc")]);

    public sealed class Options : IValidatableObject
    {
        /// <summary>Bare JIDs of the server's administrators.</summary>
        public List<string> Admins { get; set; } = new();

        public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
        {
            for (var i = 0; i < Admins.Count; i++)
                if (!Jid.TryParse(Admins[i], out var jid) || jid is null || !jid.IsBare)
                    yield return new ValidationResult($"'{Admins[i]}' is not a bare JID", [$"{nameof(Admins)}:{i}"]);
        }
    }

    public void Configure(IPluginContext ctx)
    {
        var admins = ctx.Options<Options>().Admins.Select(a => Jid.Parse(a).Bare).ToHashSet();
        Func<Jid, bool> isAdmin = jid => admins.Contains(jid.Bare);
        var commands = ctx.Require<IAdHocCommands>();
        var accounts = ctx.Require<IAccounts>();
        var sessions = ctx.Require<ISessions>();
        var adminCommands = ctx.Require<IAdminCommands>();

        // every plugin's admin commands, as they come and go (this plugin's own announce and online-users among them)
        ctx.Track(commands.AddSource(() => adminCommands.List().Where(c => c.Command.Access == CommandAccess.Admin)
            .Select(c => new AdHocCommand(c.AdHocNode, c.Command.Description, isAdmin, r => AdminCommandBridge.RunAsync(adminCommands, c, r)))));

        ctx.Track(commands.Add(new AdHocCommand(Ns + "#add-user", "Add a User", isAdmin, async r =>
        {
            if (r.Payload.Child("x", DataNs) is null)
                return r.Result(Ask(r, "Add a User", Field("accountjid", "jid-single"), Field("password", "text-private"), Field("password-verify", "text-private")));
            var jid = BareJid(Value(r.Payload, "accountjid"));
            var password = Value(r.Payload, "password");
            if (jid is null || string.IsNullOrEmpty(password)) return r.Error("bad-request", "accountjid and password are required");
            if (Value(r.Payload, "password-verify") is { } verify && verify != password) return r.Error("bad-request", "the passwords differ");
            return await accounts.AddAsync(jid, password)
                ? r.Result(Completed(r, $"{jid} added"))
                : r.Error("conflict", $"{jid} exists already");
        })));

        ctx.Track(commands.Add(new AdHocCommand(Ns + "#delete-user", "Delete a User", isAdmin, async r =>
        {
            if (r.Payload.Child("x", DataNs) is null) return r.Result(Ask(r, "Delete Users", Field("accountjids", "jid-multi")));
            var removed = new List<string>();
            foreach (var text in Values(r.Payload, "accountjids"))
                if (BareJid(text) is { } jid && await accounts.RemoveAsync(jid)) // the host closes its sessions and tells its contacts
                    removed.Add(jid.ToString());
            return r.Result(Completed(r, removed.Count == 0 ? "no account deleted" : "deleted " + string.Join(", ", removed)));
        })));

        ctx.AddCommand(new AdminCommand("online-users", "Get List of Online Users", (_, _) =>
        {
            var users = sessions.List().Select(s => s.Jid.Bare.ToString()).Distinct().Order(StringComparer.Ordinal).ToArray();
            return Task.FromResult(CommandResult.Data([new ResultField("onlineuserjids", ArgumentKind.Jids, users) { Label = "The list of all online users" }],
                $"{users.Length} users online"));
        })
        {
            Access = CommandAccess.Admin, AdHocNode = Ns + "#get-online-users-list", FormType = Ns,
        });

        ctx.AddCommand(new AdminCommand("announce", "Send Announcement to Online Users", (input, _) =>
        {
            var body = input.Text("announcement")!;
            var subject = input.Text("subject");
            var online = sessions.List();
            foreach (var s in online)
            {
                var message = new Element("message", Xmpp.Ns.Client).SetAttr("type", "headline").SetAttr("from", ctx.Domains[0]).SetAttr("to", s.Jid.ToString());
                if (subject is not null) message.Add(new Element("subject", Xmpp.Ns.Client, subject));
                message.Add(new Element("body", Xmpp.Ns.Client, body));
                ctx.SendStanza(message);
            }
            return Task.FromResult(CommandResult.Done($"sent to {online.Count} sessions"));
        })
        {
            Access = CommandAccess.Admin, AdHocNode = Ns + "#announce", FormType = Ns,
            Arguments =
            [
                new CommandArgument("subject", ArgumentKind.Text, "Subject"),
                new CommandArgument("announcement", ArgumentKind.Lines, "Announcement") { Required = true },
            ],
        });
    }

    /// <summary>The first stage of a command: a form to fill in.</summary>
    private static Element Ask(IqRequest r, string title, params Element[] fields)
    {
        var command = Command(r, StatusExecuting);
        command.Add(new Element("actions", Xmpp.Plugins.AdHoc.Ns).SetAttr("execute", ActionComplete).Add(new Element(ActionComplete, Xmpp.Plugins.AdHoc.Ns)));
        var form = Form("form", title, Ns);
        foreach (var f in fields) form.Add(f);
        return command.Add(form);
    }

    private static Jid? BareJid(string? text) =>
        text is not null && Jid.TryParse(text, out var j) && j is { Local: not null } ? j.Bare : null;
}

using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;
using static Actors.Xmpp.Plugins.AdHoc;

namespace Actors.Plugins.Admin;

/// <summary>
/// One plugin admin command as an XEP-0050 command: without a submitted form, a command with arguments answers
/// its form (§3.4: status executing, the arguments as XEP-0004 fields); the submitted form (or a command without
/// arguments) runs it through the host, which checks the values; the result is a result form (structured fields)
/// and/or a note.
/// </summary>
internal static class AdminCommandBridge
{
    public static async ValueTask<Element> RunAsync(IAdminCommands host, RegisteredCommand registered, IqRequest r)
    {
        var command = registered.Command;
        var submitted = r.Payload.Child("x", DataNs);
        if (submitted?.Attr("type") == "cancel") return r.Result(Command(r, StatusCanceled));
        if (submitted is null && command.Arguments.Count > 0) return r.Result(Ask(r, command));
        if (submitted is not null && submitted.Attr("type") != "submit")
            return Error(r, "bad-request", BadPayload, "the data form must be of type 'submit'");

        var arguments = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        if (submitted is not null)
        {
            foreach (var field in submitted.Elements("field", DataNs))
            {
                var name = field.Attr("var");
                if (name is null || name == "FORM_TYPE") continue;
                arguments[name] = field.Elements("value", DataNs).Select(v => v.Text).ToList();
            }
        }
        var outcome = await host.ExecuteAsync(registered.Plugin, command.Name, arguments, new CommandCaller(r.From));
        switch (outcome.Refusal)
        {
            case CommandRefusal.NotFound: return r.Error("item-not-found", outcome.Error);
            case CommandRefusal.Forbidden: return r.Error("forbidden", outcome.Error);
            case CommandRefusal.BadArguments: return Error(r, "bad-request", BadPayload, outcome.Error);
            case CommandRefusal.Failed: return r.Error("internal-server-error", outcome.Error);
        }
        var result = outcome.Result!;
        var reply = Command(r, StatusCompleted);
        if (result.Text is not null)
            reply.Add(new Element("note", Ns).SetAttr("type", result.Ok ? "info" : "error").AddText(result.Text));
        if (result.Ok && result.Fields is { Count: > 0 })
        {
            var form = Form("result", command.Description, command.FormType);
            foreach (var f in result.Fields) form.Add(Field(f.Name, FieldType(f.Kind), f.Values.ToArray()).SetAttr("label", f.Label));
            reply.Add(form);
        }
        return r.Result(reply);
    }

    /// <summary>The form of XEP-0050 §3.4 / XEP-0004 §3.2: one field per argument, its default as the value,
    /// required ones marked; integers carry an XEP-0122 datatype.</summary>
    private static Element Ask(IqRequest r, AdminCommand command)
    {
        var reply = Command(r, StatusExecuting);
        reply.Add(new Element("actions", Ns).SetAttr("execute", ActionComplete).Add(new Element(ActionComplete, Ns)));
        var form = Form("form", command.Description, command.FormType);
        foreach (var a in command.Arguments)
        {
            var field = new Element("field", DataNs).SetAttr("var", a.Name).SetAttr("type", FieldType(a.Kind)).SetAttr("label", a.Description);
            if (a.Required) field.Add(new Element("required", DataNs));
            if (a.Default is not null) field.Add(new Element("value", DataNs).AddText(a.Default));
            foreach (var choice in a.Choices ?? [])
                field.Add(new Element("option", DataNs).SetAttr("label", choice).Add(new Element("value", DataNs).AddText(choice)));
            if (a.Kind == ArgumentKind.Integer) field.Add(new Element("validate", ValidateNs).SetAttr("datatype", "xs:integer"));
            form.Add(field);
        }
        return reply.Add(form);
    }

    /// <summary>XEP-0004 §3.3 field types.</summary>
    private static string FieldType(ArgumentKind kind) => kind switch
    {
        ArgumentKind.Secret => "text-private",
        ArgumentKind.Lines => "text-multi",
        ArgumentKind.Boolean => "boolean",
        ArgumentKind.Jid => "jid-single",
        ArgumentKind.Jids => "jid-multi",
        ArgumentKind.Choice => "list-single",
        _ => "text-single",
    };
}

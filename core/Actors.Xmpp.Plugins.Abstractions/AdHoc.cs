using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Plugins;

/// <summary>Helpers for XEP-0050 command payloads and XEP-0004 data forms.</summary>
public static class AdHoc
{
    public const string Ns = "http://jabber.org/protocol/commands";
    public const string DataNs = "jabber:x:data";
    /// <summary>XEP-0122 data forms validation.</summary>
    public const string ValidateNs = "http://jabber.org/protocol/xdata-validate";

    // XEP-0050 §3.4 actions and statuses
    public const string ActionExecute = "execute";
    public const string ActionCancel = "cancel";
    public const string ActionPrev = "prev";
    public const string ActionNext = "next";
    public const string ActionComplete = "complete";
    public const string StatusExecuting = "executing";
    public const string StatusCompleted = "completed";
    public const string StatusCanceled = "canceled";

    // XEP-0050 §4.6 application-specific error conditions
    public const string MalformedAction = "malformed-action";
    public const string BadAction = "bad-action";
    public const string BadLocale = "bad-locale";
    public const string BadPayload = "bad-payload";
    public const string BadSessionId = "bad-sessionid";
    public const string SessionExpired = "session-expired";

    /// <summary>An XEP-0050 §4.6 error: the stanza error condition plus the commands namespace's specific one
    /// (e.g. bad-request + &lt;bad-sessionid/&gt;).</summary>
    public static Element Error(IqRequest r, string condition, string specific, string? text = null)
    {
        var reply = r.Error(condition, text);
        reply.Child("error", Xmpp.Ns.Client)!.Add(new Element(specific, Ns));
        return reply;
    }

    /// <summary>A reply &lt;command/&gt; for the request's node and session.</summary>
    public static Element Command(IqRequest r, string status, string? session = null) =>
        new Element("command", Ns).SetAttr("node", r.Payload.Attr("node")).SetAttr("status", status)
            .SetAttr("sessionid", session ?? r.Payload.Attr("sessionid") ?? Guid.NewGuid().ToString("N"));

    /// <summary>A command that completed with a note.</summary>
    public static Element Completed(IqRequest r, string note, string type = "info")
    {
        var c = Command(r, StatusCompleted);
        c.Add(new Element("note", Ns).SetAttr("type", type).AddText(note));
        return c;
    }

    /// <summary>A data form of the given type ("form", "result", "submit").</summary>
    public static Element Form(string type, string? title = null, string? formType = null)
    {
        var x = new Element("x", DataNs).SetAttr("type", type);
        if (title is not null) x.Add(new Element("title", DataNs).AddText(title));
        if (formType is not null) x.Add(Field("FORM_TYPE", "hidden", formType));
        return x;
    }

    public static Element Field(string var, string? type, params string[] values)
    {
        var f = new Element("field", DataNs).SetAttr("var", var).SetAttr("type", type);
        foreach (var v in values) f.Add(new Element("value", DataNs).AddText(v));
        return f;
    }

    /// <summary>The values of a field in the submitted form of a command request (empty if absent).</summary>
    public static IReadOnlyList<string> Values(Element command, string var)
    {
        var x = command.Child("x", DataNs);
        if (x is null) return [];
        foreach (var f in x.Elements("field", DataNs))
            if (f.Attr("var") == var) return f.Elements("value", DataNs).Select(v => v.Text).ToList();
        return [];
    }

    public static string? Value(Element command, string var) => Values(command, var) is { Count: > 0 } v ? v[0] : null;
}

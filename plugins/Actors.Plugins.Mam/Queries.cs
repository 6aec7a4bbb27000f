using System.Globalization;
using System.Text.RegularExpressions;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Mam;

/// <summary>A query as the client asked it (XEP-0313 §4): the form's filters, the XEP-0059 page and the flip.</summary>
internal sealed record ArchiveRequest(MessageArchiveFilter Filter, int? Max, string? After, string? Before, bool LastPage, bool Flip);

/// <summary>XEP-0313 §4 and §5 on an account's bare JID: the query form, queries and their results, and metadata.</summary>
internal sealed partial class Queries(IMessageArchive archive, ISessionDelivery delivery, MamOptions options)
{
    /// <summary>How long the results of one query may take to reach the client before the query's result is sent anyway.</summary>
    private static readonly TimeSpan DeliveryTimeout = TimeSpan.FromSeconds(60);

    private const string FieldWith = "with";
    private const string FieldStart = "start";
    private const string FieldEnd = "end";
    private const string FieldBeforeId = "before-id";
    private const string FieldAfterId = "after-id";
    private const string FieldIds = "ids";

    /// <summary>§4.1.5: the fields this server supports (none marked required, 'ids' open to any value per XEP-0122).</summary>
    public ValueTask<Element> Form(IqRequest r)
    {
        if (!r.From.Bare.Equals(r.To.Bare)) return r.Fail("forbidden", "only the account itself reads its archive");
        var x = new Element("x", Ns.DataForms).SetAttr("type", "form");
        x.Add(Field(MamNs.FormType, "hidden").Add(new Element("value", Ns.DataForms).AddText(MamNs.Mam)));
        x.Add(Field(FieldWith, "jid-single"));
        x.Add(Field(FieldStart, "text-single"));
        x.Add(Field(FieldEnd, "text-single"));
        x.Add(Field(FieldBeforeId, "text-single"));
        x.Add(Field(FieldAfterId, "text-single"));
        x.Add(Field(FieldIds, "list-multi").Add(new Element("validate", "http://jabber.org/protocol/xdata-validate")
            .SetAttr("datatype", "xs:string").Add(new Element("open", "http://jabber.org/protocol/xdata-validate"))));
        x.Add(Field(MamNs.FullTextField, "text-single"));
        return r.Ok(new Element("query", MamNs.Mam).Add(x));
    }

    private static Element Field(string var, string type) => new Element("field", Ns.DataForms).SetAttr("var", var).SetAttr("type", type);

    /// <summary>
    /// §4: pushes the matching messages to the querying resource, each as &lt;result queryid id&gt;&lt;forwarded&gt;
    /// with the XEP-0203 delay of when it was archived (§4.2), in chronological order (reversed within the page with
    /// &lt;flip-page/&gt;, §4.3.4), then answers with &lt;fin/&gt; and the XEP-0059 set (§4.3): first, last, count, and complete='true' when the page reaches the end of the results in its direction.
    /// </summary>
    public async ValueTask<Element> Query(IqRequest r)
    {
        if (!r.From.Bare.Equals(r.To.Bare)) return r.Error("forbidden", "only the account itself queries its archive"); // §8.1
        if (Parse(r.Payload, out var condition, out var error) is not { } request) return r.Error(condition!, error);
        var max = Math.Min(request.Max ?? options.MaxPageSize, options.MaxPageSize);
        var query = new MessageArchiveQuery(request.Filter, max, request.After, request.Before, request.LastPage);
        var page = await archive.QueryAsync(MamPlugin.ArchiveKind, r.To.Bare, query);
        if (page.UnknownId is { } unknown)
            return r.Error("item-not-found", $"no message '{unknown}' in the archive"); // §4.1.3, §4.3.2

        var queryId = r.Payload.Attr("queryid");
        if (page.Items.Count > 0 && r.From.Resource is not null)
            await Deliver(r.From, r.To.Bare, queryId, page.Items, request.Flip);

        var set = new Element("set", MamNs.Rsm);
        if (page.Items.Count > 0)
        {
            // no 'index' (optional, §4.3.2): a client paging backwards from the last page reads first index + page size
            // = count as the end of the results (slixmpp's XEP-0059 iterator stops there, one page short)
            set.Add(new Element("first", MamNs.Rsm).AddText(page.Items[0].Id));
            set.Add(new Element("last", MamNs.Rsm).AddText(page.Items[^1].Id));
        }
        set.Add(new Element("count", MamNs.Rsm).AddText(page.Count.ToString(CultureInfo.InvariantCulture)));
        var fin = new Element("fin", MamNs.Mam);
        if (page.Complete) fin.SetAttr("complete", "true");
        if (queryId is not null) fin.SetAttr("queryid", queryId);
        return r.Result(fin.Add(set));
    }

    private async Task Deliver(Jid session, Jid archiveJid, string? queryId, IReadOnlyList<ArchivedMessage> items, bool flip)
    {
        var budget = delivery.PageBytes;
        var pending = new List<Element>();
        var bytes = 0;
        for (var n = 0; n < items.Count; n++)
        {
            var item = items[flip ? items.Count - 1 - n : n];
            var result = ResultMessage(session, archiveJid, queryId, item);
            var size = result.ToUtf8().Length;
            if (pending.Count > 0 && bytes + size > budget)
            {
                if (!await Write(session, pending)) return;
                pending = new List<Element>();
                bytes = 0;
            }
            pending.Add(result);
            bytes += size;
        }
        if (pending.Count > 0) await Write(session, pending);
    }

    /// <summary>One page through the session's paced delivery: false when the session is gone (the rest is not sent).
    /// Paced on the write, not on a XEP-0198 acknowledgement: nothing is removed from the archive, and the &lt;fin/&gt;
    /// needs only to follow the results on the stream.</summary>
    private async Task<bool> Write(Jid session, List<Element> page)
    {
        try { return await delivery.Deliver(session, page).Written.WaitAsync(DeliveryTimeout); }
        catch (TimeoutException) { return false; }
    }

    private static Element ResultMessage(Jid session, Jid archiveJid, string? queryId, ArchivedMessage item)
    {
        var result = new Element("result", MamNs.Mam).SetAttr("id", item.Id);
        if (queryId is not null) result.SetAttr("queryid", queryId);
        var forwarded = new Element("forwarded", MamNs.Forward)
            .Add(new Element("delay", Ns.Delay).SetAttr("stamp", Stamp(item.Stamp)))
            .Add(item.Message);
        return new Element("message", Ns.Client)
            .SetAttr("from", archiveJid.ToString())
            .SetAttr("to", session.ToString())
            .SetAttr("id", Guid.NewGuid().ToString("N"))
            .Add(result.Add(forwarded));
    }

    /// <summary>§5 (with #extended): the first and last message of the archive; an empty &lt;metadata/&gt; for an empty one.</summary>
    public async ValueTask<Element> Metadata(IqRequest r)
    {
        if (!r.From.Bare.Equals(r.To.Bare)) return r.Error("forbidden", "only the account itself reads its archive");
        var bounds = await archive.BoundsAsync(MamPlugin.ArchiveKind, r.To.Bare);
        var metadata = new Element("metadata", MamNs.Mam);
        if (bounds.First is { } first && bounds.Last is { } last)
        {
            metadata.Add(new Element("start", MamNs.Mam).SetAttr("id", first.Id).SetAttr("timestamp", Stamp(first.Stamp)));
            metadata.Add(new Element("end", MamNs.Mam).SetAttr("id", last.Id).SetAttr("timestamp", Stamp(last.Stamp)));
        }
        return r.Result(metadata);
    }

    /// <summary>XEP-0082 DateTime, UTC, with milliseconds (the archive's resolution: a stamp given back as 'start' or
    /// 'end' selects the message it came from).</summary>
    public static string Stamp(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>
    /// Reads the &lt;query/&gt;: its XEP-0004 form (FORM_TYPE urn:xmpp:mam:2 if given; §4.1's fields and XEP-0431's; any
    /// other field is &lt;feature-not-implemented/&gt;, §4.1.5), its XEP-0059 &lt;set/&gt; (max, after, before, empty
    /// before for the last page; &lt;index/&gt; is not supported) and &lt;flip-page/&gt;. Malformed values are
    /// &lt;bad-request/&gt;.
    /// </summary>
    public static ArchiveRequest? Parse(Element query, out string? condition, out string? error)
    {
        condition = "bad-request";
        var filter = new MessageArchiveFilter();
        if (query.Child("x", Ns.DataForms) is { } form)
        {
            if (form.Attr("type") is { } formType && formType != "submit")
            {
                error = "the query form must be of type 'submit'";
                return null;
            }
            foreach (var field in form.Elements("field", Ns.DataForms))
            {
                var var = field.Attr("var");
                var values = new List<string>();
                foreach (var v in field.Elements("value", Ns.DataForms)) values.Add(v.Text);
                var single = values.Count > 0 ? values[0].Trim() : null;
                switch (var)
                {
                    case MamNs.FormType:
                        if (single != MamNs.Mam)
                        {
                            error = $"FORM_TYPE must be {MamNs.Mam}";
                            return null;
                        }
                        break;
                    case FieldWith:
                        if (single is null) break;
                        if (!Jid.TryParse(single, out var with) || with is null)
                        {
                            condition = "jid-malformed";
                            error = $"'with' is not a JID: '{single}'";
                            return null;
                        }
                        filter = filter with { With = with };
                        break;
                    case FieldStart or FieldEnd:
                        if (single is null) break;
                        if (ParseDateTime(single) is not { } at)
                        {
                            error = $"'{var}' is not an XEP-0082 DateTime: '{single}'";
                            return null;
                        }
                        filter = var == FieldStart ? filter with { Start = at } : filter with { End = at };
                        break;
                    case FieldBeforeId:
                        if (single is { Length: > 0 }) filter = filter with { BeforeId = single };
                        break;
                    case FieldAfterId:
                        if (single is { Length: > 0 }) filter = filter with { AfterId = single };
                        break;
                    case FieldIds:
                        var ids = new List<string>();
                        foreach (var v in values)
                            if (v.Trim() is { Length: > 0 } id && !ids.Contains(id)) ids.Add(id);
                        filter = filter with { Ids = ids.ToArray() };
                        break;
                    case MamNs.FullTextField:
                        if (single is { Length: > 0 }) filter = filter with { Text = single };
                        break;
                    default:
                        condition = "feature-not-implemented";
                        error = $"the field '{var}' is not supported (§4.1.5: ask the form for the supported fields)";
                        return null;
                }
            }
        }

        int? max = null;
        string? after = null, before = null;
        var lastPage = false;
        if (query.Child("set", MamNs.Rsm) is { } set)
        {
            if (set.Child("max", MamNs.Rsm) is { } maxElement)
            {
                if (!int.TryParse(maxElement.Text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var m))
                {
                    error = "<max/> must be a non-negative integer (XEP-0059 §2.1)";
                    return null;
                }
                max = m;
            }
            if (set.Child("index", MamNs.Rsm) is not null)
            {
                condition = "feature-not-implemented";
                error = "paging by <index/> is not supported (XEP-0059 §2.5): use <after/> or <before/>";
                return null;
            }
            if (set.Child("after", MamNs.Rsm) is { } afterElement)
            {
                after = afterElement.Text.Trim();
                if (after.Length == 0)
                {
                    error = "<after/> must name an id (XEP-0059 §2.2)";
                    return null;
                }
            }
            if (set.Child("before", MamNs.Rsm) is { } beforeElement)
            {
                var text = beforeElement.Text.Trim();
                if (text.Length == 0) lastPage = true; // §4.3.3: the last page
                else before = text;
            }
        }
        var flip = query.Child("flip-page", MamNs.Mam) is not null;
        condition = null;
        error = null;
        return new ArchiveRequest(filter, max, after, before, lastPage, flip);
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", RegexOptions.CultureInvariant)]
    private static partial Regex DateTimeProfile();

    /// <summary>XEP-0082 §3.2 DateTime (CCYY-MM-DDThh:mm:ss[.sss]TZD), null for anything else.</summary>
    public static DateTimeOffset? ParseDateTime(string text) =>
        DateTimeProfile().IsMatch(text) && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
            ? at : null;
}

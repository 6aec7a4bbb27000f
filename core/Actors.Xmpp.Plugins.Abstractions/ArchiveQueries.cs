using System.Globalization;
using System.Text.RegularExpressions;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Plugins;

/// <summary>A query as the client asked it (XEP-0313 §4): the form's filters, the XEP-0059 page and the flip.</summary>
public sealed record ArchiveRequest(MessageArchiveFilter Filter, int? Max, string? After, string? Before, bool LastPage, bool Flip)
{
    /// <summary>The archive query for a page of at most <paramref name="maxPageSize"/> results (a larger or missing
    /// &lt;max/&gt; is cut to it, XEP-0313 §4.3.1).</summary>
    public MessageArchiveQuery ToQuery(int maxPageSize) =>
        new(Filter, Math.Min(Max ?? maxPageSize, maxPageSize), After, Before, LastPage);
}

/// <summary>
/// The XEP-0313 query protocol over an <see cref="IMessageArchive"/>, for every archive a plugin exposes (an account's on
/// its bare JID, a room's on the room's bare JID, §3.3): the query form (§4.1.5), reading a query (§4.1, XEP-0059
/// paging, §4.3.4 flipped pages), the result messages (§4.2) paced to the session, the &lt;fin/&gt; (§4.3) and the
/// metadata (§5). Who may read which archive, and what is archived, stays with the plugin that owns the archive.
/// </summary>
public static partial class ArchiveQueries
{
    public const string Namespace = "urn:xmpp:mam:2";
    public const string Rsm = "http://jabber.org/protocol/rsm";
    public const string Forward = "urn:xmpp:forward:0";
    public const string FormType = "FORM_TYPE";
    /// <summary>XEP-0431's query field.</summary>
    public const string FullTextField = "{urn:xmpp:fulltext:0}fulltext";

    private const string FieldWith = "with";
    private const string FieldStart = "start";
    private const string FieldEnd = "end";
    private const string FieldBeforeId = "before-id";
    private const string FieldAfterId = "after-id";
    private const string FieldIds = "ids";

    /// <summary>How long the results of one query may take to reach the client before the query's result is sent anyway.</summary>
    private static readonly TimeSpan DeliveryTimeout = TimeSpan.FromSeconds(60);

    /// <summary>§4.1.5: the fields this server supports (none marked required, 'ids' open to any value per XEP-0122).</summary>
    public static Element Form()
    {
        var x = new Element("x", Ns.DataForms).SetAttr("type", "form");
        x.Add(Field(FormType, "hidden").Add(new Element("value", Ns.DataForms).AddText(Namespace)));
        x.Add(Field(FieldWith, "jid-single"));
        x.Add(Field(FieldStart, "text-single"));
        x.Add(Field(FieldEnd, "text-single"));
        x.Add(Field(FieldBeforeId, "text-single"));
        x.Add(Field(FieldAfterId, "text-single"));
        x.Add(Field(FieldIds, "list-multi").Add(new Element("validate", "http://jabber.org/protocol/xdata-validate")
            .SetAttr("datatype", "xs:string").Add(new Element("open", "http://jabber.org/protocol/xdata-validate"))));
        x.Add(Field(FullTextField, "text-single"));
        return new Element("query", Namespace).Add(x);
    }

    private static Element Field(string var, string type) => new Element("field", Ns.DataForms).SetAttr("var", var).SetAttr("type", type);

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
                    case FormType:
                        if (single != Namespace)
                        {
                            error = $"FORM_TYPE must be {Namespace}";
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
                    case FullTextField:
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
        if (query.Child("set", Rsm) is { } set)
        {
            if (set.Child("max", Rsm) is { } maxElement)
            {
                if (!int.TryParse(maxElement.Text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var m))
                {
                    error = "<max/> must be a non-negative integer (XEP-0059 §2.1)";
                    return null;
                }
                max = m;
            }
            if (set.Child("index", Rsm) is not null)
            {
                condition = "feature-not-implemented";
                error = "paging by <index/> is not supported (XEP-0059 §2.5): use <after/> or <before/>";
                return null;
            }
            if (set.Child("after", Rsm) is { } afterElement)
            {
                after = afterElement.Text.Trim();
                if (after.Length == 0)
                {
                    error = "<after/> must name an id (XEP-0059 §2.2)";
                    return null;
                }
            }
            if (set.Child("before", Rsm) is { } beforeElement)
            {
                var text = beforeElement.Text.Trim();
                if (text.Length == 0) lastPage = true; // §4.3.3: the last page
                else before = text;
            }
        }
        var flip = query.Child("flip-page", Namespace) is not null;
        condition = null;
        error = null;
        return new ArchiveRequest(filter, max, after, before, lastPage, flip);
    }

    /// <summary>§4.2: one result, from the archive's JID to the querying session: &lt;result queryid id&gt; with the
    /// message <paramref name="message"/> (default: as archived) forwarded with the XEP-0203 delay of when it was archived.</summary>
    public static Element Result(Jid session, Jid archive, string? queryId, ArchivedMessage item, Element? message = null)
    {
        var result = new Element("result", Namespace).SetAttr("id", item.Id);
        if (queryId is not null) result.SetAttr("queryid", queryId);
        var forwarded = new Element("forwarded", Forward)
            .Add(new Element("delay", Ns.Delay).SetAttr("stamp", Stamp(item.Stamp)))
            .Add(message ?? item.Message);
        return new Element("message", Ns.Client)
            .SetAttr("from", archive.ToString())
            .SetAttr("to", session.ToString())
            .SetAttr("id", Guid.NewGuid().ToString("N"))
            .Add(result.Add(forwarded));
    }

    /// <summary>§4.3: the &lt;fin/&gt; of a page, with the XEP-0059 set: first, last, count, and complete='true' when the
    /// page reaches the end of the results in its direction. No 'index' (optional, §4.3.2): a client paging backwards
    /// from the last page reads first index + page size = count as the end of the results (slixmpp's XEP-0059 iterator
    /// stops there, one page short).</summary>
    public static Element Fin(MessageArchivePage page, string? queryId)
    {
        var set = new Element("set", Rsm);
        if (page.Items.Count > 0)
        {
            set.Add(new Element("first", Rsm).AddText(page.Items[0].Id));
            set.Add(new Element("last", Rsm).AddText(page.Items[^1].Id));
        }
        set.Add(new Element("count", Rsm).AddText(page.Count.ToString(CultureInfo.InvariantCulture)));
        var fin = new Element("fin", Namespace);
        if (page.Complete) fin.SetAttr("complete", "true");
        if (queryId is not null) fin.SetAttr("queryid", queryId);
        return fin.Add(set);
    }

    /// <summary>§5 (with #extended): the first and last message of the archive; an empty &lt;metadata/&gt; for an empty one.</summary>
    public static Element Metadata(MessageArchiveBounds bounds)
    {
        var metadata = new Element("metadata", Namespace);
        if (bounds.First is { } first && bounds.Last is { } last)
        {
            metadata.Add(new Element("start", Namespace).SetAttr("id", first.Id).SetAttr("timestamp", Stamp(first.Stamp)));
            metadata.Add(new Element("end", Namespace).SetAttr("id", last.Id).SetAttr("timestamp", Stamp(last.Stamp)));
        }
        return metadata;
    }

    /// <summary>Writes the results to the querying session in pages of about <see cref="ISessionDelivery.PageBytes"/>,
    /// each once the one before is written (paced on the write, not on a XEP-0198 acknowledgement: nothing is removed
    /// from the archive, and the &lt;fin/&gt; needs only to follow the results on the stream). Completes with false when
    /// the session is gone (the rest is not sent).</summary>
    public static async Task<bool> DeliverAsync(ISessionDelivery delivery, Jid session, IReadOnlyList<Element> results)
    {
        var budget = delivery.PageBytes;
        var pending = new List<Element>();
        var bytes = 0;
        foreach (var result in results)
        {
            var size = result.ToUtf8().Length;
            if (pending.Count > 0 && bytes + size > budget)
            {
                if (!await Write(delivery, session, pending)) return false;
                pending = new List<Element>();
                bytes = 0;
            }
            pending.Add(result);
            bytes += size;
        }
        return pending.Count == 0 || await Write(delivery, session, pending);
    }

    private static async Task<bool> Write(ISessionDelivery delivery, Jid session, List<Element> page)
    {
        try { return await delivery.Deliver(session, page).Written.WaitAsync(DeliveryTimeout); }
        catch (TimeoutException) { return false; }
    }

    /// <summary>XEP-0082 DateTime, UTC, with milliseconds (the archive's resolution: a stamp given back as 'start' or
    /// 'end' selects the message it came from).</summary>
    public static string Stamp(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", RegexOptions.CultureInvariant)]
    private static partial Regex DateTimeProfile();

    /// <summary>XEP-0082 §3.2 DateTime (CCYY-MM-DDThh:mm:ss[.sss]TZD), null for anything else.</summary>
    public static DateTimeOffset? ParseDateTime(string text) =>
        DateTimeProfile().IsMatch(text) && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
            ? at : null;
}

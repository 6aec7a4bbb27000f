using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Mam;

/// <summary>XEP-0313 §4 and §5 on an account's bare JID: only the account itself reads its archive (§8.1); the query
/// protocol is the contract's (<see cref="ArchiveQueries"/>, shared with the rooms' archives).</summary>
internal sealed class Queries(IMessageArchive archive, ISessionDelivery delivery, MamOptions options)
{
    /// <summary>§4.1.5: the fields this server supports.</summary>
    public ValueTask<Element> Form(IqRequest r)
    {
        if (!r.From.Bare.Equals(r.To.Bare)) return r.Fail("forbidden", "only the account itself reads its archive");
        return r.Ok(ArchiveQueries.Form());
    }

    /// <summary>
    /// §4: pushes the matching messages to the querying resource, each as &lt;result queryid id&gt;&lt;forwarded&gt;
    /// with the XEP-0203 delay of when it was archived (§4.2), in chronological order (reversed within the page with
    /// &lt;flip-page/&gt;, §4.3.4), then answers with &lt;fin/&gt; and the XEP-0059 set (§4.3).
    /// </summary>
    public async ValueTask<Element> Query(IqRequest r)
    {
        if (!r.From.Bare.Equals(r.To.Bare)) return r.Error("forbidden", "only the account itself queries its archive"); // §8.1
        if (ArchiveQueries.Parse(r.Payload, out var condition, out var error) is not { } request) return r.Error(condition!, error);
        var page = await archive.QueryAsync(MamPlugin.ArchiveKind, r.To.Bare, request.ToQuery(options.MaxPageSize));
        if (page.UnknownId is { } unknown)
            return r.Error("item-not-found", $"no message '{unknown}' in the archive"); // §4.1.3, §4.3.2

        var queryId = r.Payload.Attr("queryid");
        if (page.Items.Count > 0 && r.From.Resource is not null)
        {
            var results = new List<Element>(page.Items.Count);
            for (var n = 0; n < page.Items.Count; n++)
                results.Add(ArchiveQueries.Result(r.From, r.To.Bare, queryId, page.Items[request.Flip ? page.Items.Count - 1 - n : n]));
            await ArchiveQueries.DeliverAsync(delivery, r.From, results);
        }
        return r.Result(ArchiveQueries.Fin(page, queryId));
    }

    /// <summary>§5 (with #extended): the first and last message of the archive; an empty &lt;metadata/&gt; for an empty one.</summary>
    public async ValueTask<Element> Metadata(IqRequest r)
    {
        if (!r.From.Bare.Equals(r.To.Bare)) return r.Error("forbidden", "only the account itself reads its archive");
        return r.Result(ArchiveQueries.Metadata(await archive.BoundsAsync(MamPlugin.ArchiveKind, r.To.Bare)));
    }
}

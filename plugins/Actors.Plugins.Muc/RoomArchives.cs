using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Muc;

/// <summary>
/// XEP-0313 on a room's bare JID (§3.3.2): the query form, queries with XEP-0059 paging and metadata over the rooms'
/// archives in the server's message archive (kind <see cref="MucPlugin.ArchiveKind"/>, one archive per room JID). The
/// room decides who may read (<c>Room.ArchiveAccess</c>); this reads the table, asynchronously, outside the room's
/// actor, with the contract's query protocol (<see cref="ArchiveQueries"/>, the account archives' too).
/// </summary>
internal sealed class RoomArchives(IPluginContext ctx, IMessageArchive archive, ISessionDelivery? delivery, MucOptions options)
{
    /// <param name="mayKnowJids">Whether the asker may see the occupants' real JIDs (§6.1.2).</param>
    public async Task Answer(AddressedStanza s, Element query, bool mayKnowJids)
    {
        var room = s.To.Bare;
        if (query.Name == "metadata") // §5
        {
            ctx.SendStanza(s.Result(ArchiveQueries.Metadata(await archive.BoundsAsync(MucPlugin.ArchiveKind, room))));
            return;
        }
        if (s.Stanza.Type == "get") // §4.1.5
        {
            ctx.SendStanza(s.Result(ArchiveQueries.Form()));
            return;
        }
        if (ArchiveQueries.Parse(query, out var condition, out var error) is not { } request)
        {
            Fail(s, condition!, error);
            return;
        }
        if (request.Filter.With is not null && !mayKnowJids) // §4.1.1: only for who may know the publishers
        {
            Fail(s, Errors.Forbidden, "filtering by sender would reveal real JIDs this room does not show you");
            return;
        }
        var page = await archive.QueryAsync(MucPlugin.ArchiveKind, room, request.ToQuery(options.ArchiveMaxPageSize));
        if (page.UnknownId is { } unknown)
        {
            Fail(s, Errors.ItemNotFound, $"no message '{unknown}' in the archive"); // §4.1.3, §4.3.2
            return;
        }
        var queryId = query.Attr("queryid");
        var results = new List<Element>(page.Items.Count);
        for (var n = 0; n < page.Items.Count; n++)
        {
            var item = page.Items[request.Flip ? page.Items.Count - 1 - n : n];
            results.Add(ArchiveQueries.Result(s.From, room, queryId, item, Shown(item, mayKnowJids)));
        }
        if (results.Count > 0)
        {
            if (delivery is not null && s.From.Resource is not null && IsLocal(s.From)) await ArchiveQueries.DeliverAsync(delivery, s.From, results);
            else foreach (var result in results) ctx.SendStanza(result);
        }
        ctx.SendStanza(s.Result(ArchiveQueries.Fin(page, queryId)));
    }

    /// <summary>§6.1.2: a message as archived (from room/nick), with the sender's real JID in a muc#user item for who
    /// may know it.</summary>
    private static Element Shown(ArchivedMessage item, bool mayKnowJids)
    {
        if (!mayKnowJids) return item.Message;
        return item.Message.Clone().Add(new Element("x", MucNs.User).Add(new Element("item", MucNs.User).SetAttr("jid", item.With.ToString())));
    }

    private bool IsLocal(Jid jid)
    {
        foreach (var domain in ctx.Domains)
            if (string.Equals(domain, jid.Domain, StringComparison.Ordinal)) return true;
        return false;
    }

    private void Fail(AddressedStanza s, string condition, string? text)
    {
        if (s.Error(condition, text) is { } error) ctx.SendStanza(error);
    }

    /// <summary>A destroyed room's archive goes with it (a new room of that name starts empty).</summary>
    public Task Forget(Jid room) => archive.RemoveAsync(MucPlugin.ArchiveKind, room);
}

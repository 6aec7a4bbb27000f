using Actors.Xmpp.Persistence.Archive;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Server.Archive;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Persistence.Tests;

/// <summary>The host's message archive table (IMessageArchive) on the server's database: batched appends visible to the
/// next query, XEP-0059 pages both ways with count and index, filters, unknown ids, removal and retention. Every case
/// on SQLite and PostgreSQL.</summary>
public sealed class MessageArchiveSpec
{
    private static readonly Jid Alice = Jid.Parse("alice@localhost"), Bob = Jid.Parse("bob@localhost/desk"), Carol = Jid.Parse("carol@localhost/phone");

    private static Element Chat(Jid from, Jid to, string body) =>
        new Element("message", Ns.Client).SetAttr("from", from.ToString()).SetAttr("to", to.ToString()).SetAttr("type", "chat")
            .Add(new Element("body", Ns.Client).AddText(body));

    private static async Task With(string kind, Func<MessageArchive, Task> body)
    {
        using var db = TestDatabase.Create(kind);
        var archive = new MessageArchive(new MessageArchiveTable(db.Options, db.DataDir));
        try { await body(archive); }
        finally { await archive.DisposeAsync(); }
    }

    private static string[] Bodies(MessageArchivePage page) => page.Items.Select(i => i.Message.ChildText("body", Ns.Client)!).ToArray();

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task Appends_are_visible_to_the_next_query_in_order_with_their_ids_stamps_and_remote_party(string kind) => await With(kind, async archive =>
    {
        var ids = new List<string>();
        for (var i = 0; i < 1000; i++) // more than one batch, queued faster than written
            ids.Add(archive.Append("mam", Alice, i % 2 == 0 ? Bob : Carol, Chat(i % 2 == 0 ? Bob : Carol, Alice, "m" + i)));
        Assert.Equal(1000, ids.Distinct().Count());
        var page = await archive.QueryAsync("mam", Alice, new MessageArchiveQuery(new MessageArchiveFilter(), 1000));
        Assert.Equal(ids, page.Items.Select(i => i.Id));
        Assert.Equal(1000, page.Count);
        Assert.True(page.Complete);
        Assert.Equal(Bob, page.Items[0].With);
        Assert.InRange(page.Items[0].Stamp, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddSeconds(1));
        Assert.Equal("m999", page.Items[^1].Message.ChildText("body", Ns.Client));
        // another owner's archive and another kind are separate
        Assert.Equal(0, (await archive.QueryAsync("mam", Bob, new MessageArchiveQuery(new MessageArchiveFilter(), 10))).Count);
        Assert.Equal(0, (await archive.QueryAsync("muc", Alice, new MessageArchiveQuery(new MessageArchiveFilter(), 10))).Count);
    });

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task Pages_go_forward_and_backward_with_count_index_and_complete(string kind) => await With(kind, async archive =>
    {
        var ids = Enumerable.Range(1, 7).Select(i => archive.Append("mam", Alice, Bob, Chat(Bob, Alice, "m" + i))).ToArray();
        var all = new MessageArchiveFilter();
        var first = await archive.QueryAsync("mam", Alice, new MessageArchiveQuery(all, 3));
        Assert.Equal(["m1", "m2", "m3"], Bodies(first));
        Assert.False(first.Complete);
        Assert.Equal((7, 0), (first.Count, first.FirstIndex));
        var middle = await archive.QueryAsync("mam", Alice, new MessageArchiveQuery(all, 3, After: ids[1]));
        Assert.Equal(["m3", "m4", "m5"], Bodies(middle));
        Assert.Equal(2, middle.FirstIndex);
        Assert.False(middle.Complete);
        var inside = await archive.QueryAsync("mam", Alice, new MessageArchiveQuery(all, 2, Before: ids[5]));
        Assert.Equal(["m4", "m5"], Bodies(inside));
        Assert.Equal(3, inside.FirstIndex);
        var next = await archive.QueryAsync("mam", Alice, new MessageArchiveQuery(all, 3, After: ids[5]));
        Assert.Equal(["m7"], Bodies(next));
        Assert.True(next.Complete);
        Assert.Equal(6, next.FirstIndex);
        var last = await archive.QueryAsync("mam", Alice, new MessageArchiveQuery(all, 3, FromEnd: true));
        Assert.Equal(["m5", "m6", "m7"], Bodies(last));
        Assert.Equal(4, last.FirstIndex);
        Assert.False(last.Complete);
        var back = await archive.QueryAsync("mam", Alice, new MessageArchiveQuery(all, 3, Before: ids[2]));
        Assert.Equal(["m1", "m2"], Bodies(back));
        Assert.True(back.Complete);
        var counted = await archive.QueryAsync("mam", Alice, new MessageArchiveQuery(all, 0));
        Assert.Empty(counted.Items);
        Assert.Equal(7, counted.Count);
    });

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task Filters_select_by_remote_party_time_ids_and_text_and_an_unknown_id_is_reported(string kind) => await With(kind, async archive =>
    {
        var a = archive.Append("mam", Alice, Bob, Chat(Bob, Alice, "Hello from desk"));
        var b = archive.Append("mam", Alice, Bob.Bare.WithResource("phone"), Chat(Bob.Bare.WithResource("phone"), Alice, "phone 100%"));
        var c = archive.Append("mam", Alice, Carol, Chat(Carol, Alice, "carol_here"));
        async Task<string[]> Select(MessageArchiveFilter f) => Bodies(await archive.QueryAsync("mam", Alice, new MessageArchiveQuery(f, 10)));
        Assert.Equal(["Hello from desk", "phone 100%"], await Select(new MessageArchiveFilter { With = Bob.Bare }));
        Assert.Equal(["Hello from desk"], await Select(new MessageArchiveFilter { With = Bob }));
        Assert.Equal(["phone 100%", "carol_here"], await Select(new MessageArchiveFilter { AfterId = a }));
        Assert.Equal(["phone 100%"], await Select(new MessageArchiveFilter { AfterId = a, BeforeId = c }));
        Assert.Equal(["Hello from desk", "carol_here"], await Select(new MessageArchiveFilter { Ids = [c, a] }));
        Assert.Equal(["Hello from desk"], await Select(new MessageArchiveFilter { Text = "HELLO" }));
        Assert.Equal(["phone 100%"], await Select(new MessageArchiveFilter { Text = "100%" })); // LIKE wildcards are literal
        Assert.Empty(await Select(new MessageArchiveFilter { Text = "o_" })); // "o_" as a pattern would match "Hello from"
        Assert.Empty(await Select(new MessageArchiveFilter { Start = DateTimeOffset.UtcNow.AddMinutes(1) }));
        Assert.Equal(3, (await Select(new MessageArchiveFilter { End = DateTimeOffset.UtcNow.AddMinutes(1) })).Length);
        Assert.Equal("nope", (await archive.QueryAsync("mam", Alice, new MessageArchiveQuery(new MessageArchiveFilter { Ids = [a, "nope"] }, 10))).UnknownId);
        Assert.Equal("nope", (await archive.QueryAsync("mam", Alice, new MessageArchiveQuery(new MessageArchiveFilter(), 10, After: "nope"))).UnknownId);
        var bounds = await archive.BoundsAsync("mam", Alice);
        Assert.Equal((a, c), (bounds.First!.Id, bounds.Last!.Id));
        Assert.NotEqual(b, a);
    });

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task Removal_by_owner_by_age_and_with_the_account(string kind) => await With(kind, async archive =>
    {
        archive.Append("mam", Alice, Bob, Chat(Bob, Alice, "1"));
        archive.Append("mam", Alice.Bare, Carol, Chat(Carol, Alice, "2"));
        archive.Append("mam", Bob.Bare, Alice, Chat(Alice, Bob, "3"));
        archive.Append("muc", Alice, Bob, Chat(Bob, Alice, "4"));
        Assert.Equal(0, await archive.RemoveOlderThanAsync("mam", DateTimeOffset.UtcNow.AddMinutes(-1)));
        Assert.Equal(2, await archive.RemoveAsync("mam", Alice, DateTimeOffset.UtcNow.AddMinutes(1)));
        Assert.Equal(1, await archive.RemoveOlderThanAsync("mam", DateTimeOffset.UtcNow.AddMinutes(1))); // bob's
        Assert.Equal(1, await archive.RemoveOwnerAsync(Alice)); // the muc kind's too
        Assert.Null((await archive.BoundsAsync("muc", Alice)).First);
    });
}

public sealed class MessageArchiveIndexSpec
{
    [Fact]
    public async Task Removing_an_owner_reads_its_rows_through_the_owner_index_not_the_whole_table()
    {
        using var db = TestDatabase.Create(TestDatabase.Sqlite);
        var table = new MessageArchiveTable(db.Options, db.DataDir);
        Assert.Equal(0, await table.DeleteOwnerAsync("nobody@localhost", CancellationToken.None)); // creates the table
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection(db.Options.ResolveConnectionString(db.DataDir));
        await connection.OpenAsync();
        await using var explain = connection.CreateCommand();
        explain.CommandText = "EXPLAIN QUERY PLAN DELETE FROM \"message_archive\" WHERE \"owner\" = 'alice@localhost'";
        var plan = new System.Text.StringBuilder();
        await using (var reader = await explain.ExecuteReaderAsync())
            while (await reader.ReadAsync()) plan.AppendLine(reader.GetString(3));
        Assert.Contains("USING INDEX message_archive_owner", plan.ToString());
    }
}

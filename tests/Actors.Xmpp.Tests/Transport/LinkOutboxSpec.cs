using System.Text;
using Actors.Xmpp.Transport.Streams;

namespace Actors.Xmpp.Tests.Transport;

/// <summary>The outbound queue of an s2s or component link: writes coalesced in order, TLS upgrades kept in their
/// place, the bound, completion.</summary>
public sealed class LinkOutboxSpec
{
    private static string Text(LinkWrite write) => Encoding.UTF8.GetString(write.Bytes.Span);

    [Fact]
    public void Appends_waiting_for_the_sink_are_taken_as_one_write_in_order()
    {
        var outbox = new LinkOutbox(maxQueued: 16);
        outbox.Append("<a/>"u8);
        outbox.Append("<b/>"u8);
        outbox.Append("<c/>"u8);
        Assert.Equal(LinkOutbox.Taken.Write, outbox.Take(out var write));
        Assert.Equal("<a/><b/><c/>", Text(write));
        Assert.NotNull(write.Rented);
        Assert.Equal(LinkOutbox.Taken.Empty, outbox.Take(out _));
    }

    [Fact]
    public void A_tls_upgrade_stays_between_the_bytes_before_and_after_it()
    {
        var outbox = new LinkOutbox(maxQueued: 16);
        var upgrade = TlsUpgrade.AsClient("peer.example", null, TimeSpan.FromSeconds(1));
        outbox.Append("<starttls/>"u8);
        outbox.AppendTls(upgrade);
        outbox.Append("<stream:stream>"u8);
        Assert.Equal(LinkOutbox.Taken.Write, outbox.Take(out var first));
        Assert.Equal("<starttls/>", Text(first));
        Assert.Equal(LinkOutbox.Taken.Write, outbox.Take(out var tls));
        Assert.Same(upgrade, tls.Tls);
        Assert.Equal(LinkOutbox.Taken.Write, outbox.Take(out var after));
        Assert.Equal("<stream:stream>", Text(after));
    }

    [Fact]
    public void Chunks_close_at_their_size_limit_and_keep_the_order()
    {
        var outbox = new LinkOutbox(maxQueued: 1000);
        var stanza = new byte[1000];
        var all = new StringBuilder();
        for (var i = 0; i < 150; i++)
        {
            Array.Fill(stanza, (byte)('a' + i % 26));
            outbox.Append(stanza);
            all.Append((char)('a' + i % 26), stanza.Length);
        }
        var taken = new StringBuilder();
        var writes = 0;
        while (outbox.Take(out var write) == LinkOutbox.Taken.Write)
        {
            Assert.True(write.Bytes.Length <= LinkOutbox.MaxChunkBytes);
            taken.Append(Text(write));
            writes++;
        }
        Assert.Equal(all.ToString(), taken.ToString());
        Assert.Equal(3, writes); // 150 KB in chunks of at most 64 KiB
    }

    [Fact]
    public void More_waiting_appends_than_the_bound_overflow_and_wake_the_stage()
    {
        var outbox = new LinkOutbox(maxQueued: 2);
        var woken = 0;
        outbox.Attach(() => woken++);
        Assert.True(outbox.Append("<a/>"u8));
        Assert.True(outbox.Append("<b/>"u8));
        Assert.False(outbox.Append("<c/>"u8));
        Assert.Equal(1, woken);
        Assert.Equal(LinkOutbox.Taken.Overflowed, outbox.Take(out _));
    }

    [Fact]
    public void Taken_appends_no_longer_count_against_the_bound()
    {
        var outbox = new LinkOutbox(maxQueued: 2);
        outbox.Append("<a/>"u8);
        outbox.Append("<b/>"u8);
        Assert.Equal(LinkOutbox.Taken.Write, outbox.Take(out _));
        Assert.True(outbox.Append("<c/>"u8));
        Assert.True(outbox.Append("<d/>"u8));
    }

    [Fact]
    public void A_waiting_stage_is_woken_by_the_next_append_once_and_completion_follows_the_last_write()
    {
        var outbox = new LinkOutbox(maxQueued: 8);
        var woken = 0;
        outbox.Attach(() => woken++);
        outbox.Append("<a/>"u8);
        Assert.Equal(0, woken); // the stage has not asked yet
        Assert.Equal(LinkOutbox.Taken.Write, outbox.Take(out _));
        Assert.Equal(LinkOutbox.Taken.Empty, outbox.Take(out _)); // now it waits
        outbox.Append("<b/>"u8);
        outbox.Append("<c/>"u8);
        Assert.Equal(1, woken);
        outbox.Complete();
        Assert.Equal(LinkOutbox.Taken.Write, outbox.Take(out var last));
        Assert.Equal("<b/><c/>", Text(last));
        Assert.Equal(LinkOutbox.Taken.Completed, outbox.Take(out _));
        Assert.False(outbox.Append("<d/>"u8));
    }
}

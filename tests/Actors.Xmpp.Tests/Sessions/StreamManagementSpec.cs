using Actors.Xmpp.Server.Sessions;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Tests.Sessions;

/// <summary>XEP-0198 counting: 32-bit counters that wrap, acknowledgements as differences modulo 2^32.</summary>
public sealed class StreamManagementSpec
{
    private static Element Message(int n) => new Element("message", Ns.Client).SetAttr("id", "m" + n);

    [Fact]
    public void Xep0198_4_h_wraps_to_zero_after_2_pow_32_minus_1_and_acks_still_drop_the_right_stanzas()
    {
        var sm = new StreamManagement(resumable: true, TimeSpan.FromMinutes(1), sent: uint.MaxValue - 1);
        for (var i = 0; i < 4; i++) sm.Sending(Message(i));
        Assert.Equal(2u, sm.Sent); // 2^32 - 2 + 4, modulo 2^32
        Assert.True(sm.IsValidAck(0u)); // 2^32 acknowledged, as 0: two stanzas
        sm.Acknowledge(0u, _ => Assert.Fail("no page"));
        Assert.Equal(2, sm.UnackedCount);
        var left = sm.TakeAll();
        Assert.Equal("m2", left[0].Stanza.Id);
        Assert.Equal("m3", left[1].Stanza.Id);
    }

    [Fact]
    public void Xep0198_4_an_h_above_what_was_sent_is_invalid_also_across_the_wrap()
    {
        var sm = new StreamManagement(resumable: false, TimeSpan.Zero, sent: uint.MaxValue);
        sm.Sending(Message(1));
        Assert.True(sm.IsValidAck(0u));
        Assert.True(sm.IsValidAck(uint.MaxValue)); // nothing new
        Assert.False(sm.IsValidAck(1u));
        Assert.False(sm.IsValidAck(uint.MaxValue - 1)); // "before" what was acknowledged: 2^32 - 1 ahead, too many
    }

    [Fact]
    public void Xep0198_4_the_handled_count_wraps_too()
    {
        var sm = new StreamManagement(resumable: false, TimeSpan.Zero);
        for (var i = 0; i < 3; i++) sm.CountHandled();
        Assert.Equal(3u, sm.Handled);
        Assert.True(StreamManagement.TryParseH("4294967295", out var max));
        Assert.Equal(uint.MaxValue, max);
        Assert.False(StreamManagement.TryParseH("4294967296", out _));
        Assert.False(StreamManagement.TryParseH("-1", out _));
        Assert.False(StreamManagement.TryParseH(" 1", out _));
    }

    [Fact]
    public void Xep0198_a_page_receipt_is_handed_over_only_when_its_last_stanza_is_acknowledged()
    {
        var sm = new StreamManagement(resumable: false, TimeSpan.Zero);
        var receipt = new StreamManagement.PageReceipt(7, Akka.Actor.ActorRefs.Nobody);
        sm.Sending(Message(0));
        sm.Sending(Message(1), receipt);
        sm.Sending(Message(2), receipt);
        Assert.True(sm.EndPage(receipt));
        var handed = new List<long>();
        sm.Acknowledge(2, r => handed.Add(r.PageId));
        Assert.Empty(handed);
        sm.Acknowledge(3, r => handed.Add(r.PageId));
        Assert.Equal([7L], handed);
        Assert.False(sm.EndPage(new StreamManagement.PageReceipt(8, Akka.Actor.ActorRefs.Nobody))); // nothing unacknowledged
    }
}

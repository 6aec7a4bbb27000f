using System.Collections.Immutable;
using Actors.Plugins.Blocking;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Tests;

/// <summary>
/// The blocking plugin holds a stanza whose recipient's or sender's list is still being read and routes it again once
/// they are (the plugin's <c>AccountList</c>, compiled into the tests). RFC 6120 §10.1: the stanzas of one sender to one
/// recipient are delivered in the order sent, whichever list each waited for.
/// </summary>
public sealed class BlockListOrderSpec
{
    /// <summary>A recipient's list and its sender's, with the inbound hook's use of them: a stanza admitted is delivered
    /// (in the order admitted, as the router's Tell would), one that waits is routed again through the same hook.</summary>
    private sealed class Pair
    {
        public readonly AccountList Recipient;
        public readonly AccountList Sender;
        public readonly List<int> Delivered = [];
        public readonly List<int> Refused = [];
        /// <summary>Stanzas from a remote JID: no sender list.</summary>
        public readonly HashSet<int> Remote = [];

        public Pair()
        {
            Recipient = new AccountList(Route, Refuse);
            Sender = new AccountList(Route, Refuse);
        }

        /// <summary>With <see cref="Slow"/> each pass takes a moment, as the other hooks and the router's Tell do: it widens the
        /// windows between a list read on one thread and the stanzas routed on another.</summary>
        public bool Slow;

        public void Route(Element stanza)
        {
            if (Slow) Thread.SpinWait(Random.Shared.Next(3000));
            if (!Recipient.Admit(stanza, Remote.Contains(Id(stanza)) ? null : Sender)) return;
            lock (Delivered) Delivered.Add(Id(stanza));
        }

        private void Refuse(Element stanza)
        {
            lock (Refused) Refused.Add(Id(stanza));
        }

        public int[] DeliveredNow()
        {
            lock (Delivered) return [.. Delivered];
        }
    }

    private static Element Message(int id) => Element.Parse($"<message xmlns='jabber:client' id='m{id}'><body>{id}</body></message>");

    private static int Id(Element stanza) => int.Parse(stanza.Id!.AsSpan(1));

    [Fact]
    public void Rfc6120_10_1_a_stanza_held_again_for_its_senders_list_keeps_the_later_ones_behind_it()
    {
        var pair = new Pair();
        pair.Route(Message(0));
        pair.Route(Message(1));
        Assert.Empty(pair.DeliveredNow()); // neither list is read

        pair.Recipient.Publish([]); // the first is routed again and now waits for its sender's list: the second with it
        Assert.Empty(pair.DeliveredNow());
        pair.Route(Message(2));
        Assert.Empty(pair.DeliveredNow());

        pair.Sender.Publish([]);
        Assert.Equal([0, 1, 2], pair.DeliveredNow());
        pair.Route(Message(3));
        Assert.Equal([0, 1, 2, 3], pair.DeliveredNow());
    }

    [Fact]
    public void Rfc6120_10_1_once_a_stanza_waits_for_its_senders_list_a_read_recipient_holds_the_next_ones_too()
    {
        var pair = new Pair();
        pair.Recipient.Publish([]);
        pair.Route(Message(0)); // the recipient's list is read, the sender's is not
        pair.Remote.Add(1);
        pair.Route(Message(1)); // from a remote JID (no list to wait for): it waits behind the first
        Assert.Empty(pair.DeliveredNow());
        pair.Sender.Publish([]);
        Assert.Equal([0, 1], pair.DeliveredNow());
    }

    [Fact]
    public void Rfc6120_10_1_lists_read_on_other_threads_while_the_sender_goes_on_keep_the_order()
    {
        // the interleaving CI met: the recipient's list read on one thread, the sender's on another, the sender's
        // session routing its next stanzas meanwhile (with a queue per list, 3 of 300 trials here delivered out of order)
        for (var trial = 0; trial < 300; trial++)
        {
            var pair = new Pair { Slow = true };
            const int count = 60;
            using var go = new Barrier(3);
            var recipientRead = Task.Run(() => { go.SignalAndWait(); Thread.SpinWait(Random.Shared.Next(2000)); pair.Recipient.Publish([]); });
            var senderRead = Task.Run(() => { go.SignalAndWait(); Thread.SpinWait(Random.Shared.Next(2000)); pair.Sender.Publish([]); });
            var session = Task.Run(() =>
            {
                go.SignalAndWait();
                for (var i = 0; i < count; i++)
                {
                    pair.Route(Message(i));
                    if (i % 8 == 0) Thread.SpinWait(Random.Shared.Next(200));
                }
            });
            Assert.True(Task.WaitAll([recipientRead, senderRead, session], TimeSpan.FromSeconds(30)));
            // what waited is routed again by the reading threads, or by a pool thread when a list was read just as a
            // stanza started waiting for it
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (pair.DeliveredNow().Length < count && DateTime.UtcNow < deadline) Thread.Sleep(1);
            Assert.Equal(Enumerable.Range(0, count), pair.DeliveredNow());
        }
    }

    [Fact]
    public void Xep0191_a_recipients_list_that_cannot_be_read_refuses_what_waits_for_it()
    {
        var pair = new Pair();
        pair.Route(Message(0));
        pair.Recipient.Fail(new InvalidOperationException("store down"));
        Assert.Equal([0], pair.Refused);
        pair.Route(Message(1)); // a stanza that found this list before it was replaced is refused too, not kept
        Assert.Equal([0, 1], pair.Refused);
        Assert.Empty(pair.DeliveredNow());
        Assert.True(pair.Recipient.Loaded.Task.IsFaulted);
    }

    [Fact]
    public void Xep0191_a_senders_list_that_cannot_be_read_refuses_its_stanzas_and_lets_the_ones_behind_them_go()
    {
        var pair = new Pair();
        pair.Recipient.Publish([]);
        pair.Route(Message(0)); // waits for the sender's list
        pair.Remote.Add(1);
        pair.Route(Message(1)); // from a remote JID: waits behind it
        pair.Sender.Fail(new InvalidOperationException("store down"));
        Assert.Equal([0], pair.Refused);
        Assert.Equal([1], pair.DeliveredNow());
    }

    [Fact]
    public void Xep0191_3_3_a_block_applied_is_the_list_the_hooks_see()
    {
        var list = new AccountList(_ => { }, _ => { });
        list.Publish(ImmutableHashSet.Create(StringComparer.Ordinal, "a@localhost"));
        list.Apply(block: true, ["b@localhost"]);
        Assert.Equal(["a@localhost", "b@localhost"], list.Sorted());
        list.Apply(block: false, []);
        Assert.Empty(list.Blocked!);
    }
}

using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Stanzas;
using Actors.Xmpp.Xml;
using XNs = Actors.Xmpp.Ns;

namespace Samples.Polls;

/// <summary>Options (Xmpp:Plugins:polls).</summary>
public sealed class PollsOptions
{
    /// <summary>The service is &lt;Subdomain&gt;.&lt;domain&gt;; each poll is &lt;name&gt;@ under it.</summary>
    public string Subdomain { get; set; } = "polls";
    /// <summary>A poll nobody used for this long leaves memory (its votes stay in the journal).</summary>
    public int IdleSeconds { get; set; } = 120;
}

/// <summary>
/// A poll service at polls.&lt;domain&gt;: every lunch@polls.&lt;domain&gt; is a poll, a keyed entity whose votes are
/// events in the server's journal. Vote with &lt;iq type='set'&gt;&lt;vote xmlns='urn:example:poll:0' choice='pizza'/&gt;
/// or a chat message whose body is the choice; read the tally with &lt;iq type='get'&gt;&lt;tally .../&gt;; send the
/// poll presence and it answers with the leading choice. An account of the server asks the service itself for the
/// polls it voted in (&lt;iq type='get' to='polls.&lt;domain&gt;'&gt;&lt;mine .../&gt;), kept in its plugin storage.
/// </summary>
public sealed class PollsPlugin : IXmppPlugin
{
    public const string Ns = "urn:example:poll:0";
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(5);

    public PluginDescriptor Descriptor { get; } = new("polls", "1.0.0");

    public void Configure(IPluginContext ctx)
    {
        var options = ctx.Options<PollsOptions>();
        // the keyed entity: one poll per key, host-owned, persistent, passivated when idle
        var polls = ctx.AddEntityKind("poll", new Poll(), new EntityKindOptions { PassivateAfter = TimeSpan.FromSeconds(options.IdleSeconds) });
        // the storage: per account, the polls it voted in and its choice in each (removed with the account)
        var voted = ctx.Storage.Map("voted");
        // the address: every stanza to polls.<domain> and to anything@polls.<domain> comes here
        var info = new DiscoInfo([new DiscoIdentity("component", "generic", "Polls")], [Ns], []);
        ctx.OwnService(options.Subdomain, info, async s =>
        {
            var account = ctx.Domains.Contains(s.From.Domain); // storage owners are this server's accounts
            if (s.To.Local is null) // the service itself: an account's polls (disco#info is answered by the host)
            {
                if (account && s.Stanza.Name == "iq" && s.Stanza.Type == "get" && s.Payload is { } q && q.Is("mine", Ns))
                    ctx.SendStanza(s.Result(Mine(s.To, await voted.GetAllAsync(s.From.Bare))));
                else if (s.Error("service-unavailable") is { } error) ctx.SendStanza(error); // RFC 6120 §8.3.3.19
                return;
            }
            var reply = await polls.AskAsync(s.To.Local, s.Stanza, AskTimeout); // the poll answers the stanza itself
            if (account && reply is not null && reply.Type != "error" && Poll.ChoiceOf(s.Stanza) is { Length: > 0 } choice)
                await voted.SetAsync(s.From.Bare, s.To.Local, StoredValue.Of(choice)); // stored before the reply leaves
            if (reply is not null) ctx.SendStanza(reply);
        });
    }

    /// <summary>&lt;mine&gt;&lt;poll jid='lunch@polls.example.org' choice='pizza'/&gt;...&lt;/mine&gt;, in poll order.</summary>
    private static Element Mine(Jid service, IReadOnlyList<StoredEntry> voted)
    {
        var mine = new Element("mine", Ns);
        foreach (var (poll, choice) in voted.OrderBy(e => e.Key, StringComparer.Ordinal))
            mine.Add(new Element("poll", Ns).SetAttr("jid", Jid.Create(poll, service.Domain).ToString()).SetAttr("choice", choice?.Text));
        return mine;
    }
}

/// <summary>One poll: the choice of each voter (a bare JID votes once; voting again changes the vote).</summary>
internal sealed class Poll : EntityBehavior<Dictionary<string, string>>
{
    public override Dictionary<string, string> Initial(string key) => new(StringComparer.Ordinal);

    /// <summary>&lt;voted voter='alice@example.org' choice='pizza'/&gt;: the only event.</summary>
    public override Dictionary<string, string> Apply(Dictionary<string, string> votes, Element e)
    {
        votes[e.Attr("voter")!] = e.Attr("choice")!;
        return votes;
    }

    public override void Handle(IEntityContext poll, Dictionary<string, string> votes, Element stanza)
    {
        var voter = Jid.Parse(stanza.From!).Bare.ToString();
        var choice = ChoiceOf(stanza);
        switch (stanza.Name)
        {
            case "iq" when choice is { Length: 0 }:
                poll.Reply(StanzaErrors.Reply(stanza, "bad-request", "a vote needs a choice")!);
                return;
            case "iq" when choice is not null:
                poll.Persist(Voted(voter, choice));
                poll.Reply(StanzaErrors.IqResult(stanza)); // sent once the vote is in the journal
                return;
            case "iq" when stanza.Type == "get" && stanza.FirstChild() is { } q && q.Is("tally", PollsPlugin.Ns):
                poll.Reply(StanzaErrors.IqResult(stanza, Tally(votes)));
                return;
            case "iq":
                if (StanzaErrors.Reply(stanza, "service-unavailable") is { } error) poll.Reply(error); // RFC 6120 §8.4
                return;
            case "message" when choice is { Length: > 0 }:
                poll.Persist(Voted(voter, choice));
                var counted = new Dictionary<string, string>(votes) { [voter] = choice };
                poll.Reply(new Element("message", XNs.Client).SetAttr("from", stanza.To).SetAttr("to", stanza.From).SetAttr("type", "chat")
                    .Add(new Element("body", XNs.Client).AddText(Summary(counted))));
                return;
            case "presence" when stanza.Type is null:
                poll.Reply(new Element("presence", XNs.Client).SetAttr("from", stanza.To).SetAttr("to", stanza.From)
                    .Add(new Element("status", XNs.Client).AddText(Summary(votes))));
                return;
        }
    }

    public override EntitySnapshot? Snapshot(Dictionary<string, string> votes)
    {
        var poll = new Element("poll", PollsPlugin.Ns);
        foreach (var (voter, choice) in votes) poll.Add(Voted(voter, choice));
        return EntitySnapshot.Of(poll);
    }

    public override Dictionary<string, string> Restore(string key, EntitySnapshot snapshot) =>
        snapshot.Xml!.Elements("voted", PollsPlugin.Ns).Aggregate(Initial(key), Apply);

    /// <summary>The choice a stanza votes for ("" for a vote without one), or null when it is no vote: an IQ set
    /// &lt;vote choice='...'/&gt; or a chat (or normal) message whose body is the choice.</summary>
    internal static string? ChoiceOf(Element stanza) => stanza.Name switch
    {
        "iq" when stanza.Type == "set" && stanza.FirstChild() is { } q && q.Is("vote", PollsPlugin.Ns) => q.Attr("choice")?.Trim() ?? "",
        "message" when stanza.Type is "chat" or "normal" or null => stanza.ChildText("body", XNs.Client)?.Trim(),
        _ => null,
    };

    private static Element Voted(string voter, string choice) =>
        new Element("voted", PollsPlugin.Ns).SetAttr("voter", voter).SetAttr("choice", choice);

    private static IEnumerable<(string Choice, int Votes)> Counts(Dictionary<string, string> votes) =>
        votes.Values.GroupBy(c => c).Select(g => (g.Key, g.Count())).OrderByDescending(c => c.Item2).ThenBy(c => c.Key, StringComparer.Ordinal);

    private static Element Tally(Dictionary<string, string> votes)
    {
        var tally = new Element("tally", PollsPlugin.Ns);
        foreach (var (choice, count) in Counts(votes))
            tally.Add(new Element("choice", PollsPlugin.Ns).SetAttr("name", choice).SetAttr("votes", count.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        return tally;
    }

    private static string Summary(Dictionary<string, string> votes) =>
        votes.Count == 0 ? "no votes yet" : string.Join(", ", Counts(votes).Select(c => $"{c.Choice}: {c.Votes}"));
}

using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Tests.Im;

/// <summary>
/// IQs sent by the server (<see cref="StanzaRouter.SendIqAsync"/>): pending in the node's actor, matched by id and
/// addresses (RFC 6120 §8.2.3), the asking node encoded in the id.
/// </summary>
public sealed class ServerIqSpec : ImSpecBase
{
    private readonly Jid _phone = Jid.Parse("alice@localhost/phone");

    public ServerIqSpec() => Router.PendingIqs.Attach(Sys);

    private static Element Ping(string? id = null)
    {
        var iq = new Element("iq", Ns.Client).SetAttr("type", "get").SetAttr("from", "localhost").SetAttr("to", "alice@localhost/phone");
        if (id is not null) iq.SetAttr("id", id);
        return iq.Add(new Element("ping", "urn:xmpp:ping"));
    }

    private void Answer(Element request, string type, string from = "alice@localhost/phone")
    {
        var result = new Element("iq", Ns.Client).SetAttr("type", type).SetAttr("id", request.Id).SetAttr("from", from).SetAttr("to", "localhost");
        Router.Route(result, Jid.Parse(from), Jid.Parse("localhost"));
    }

    [Fact]
    public async Task Rfc6120_8_2_3_result_with_the_request_id_from_the_addressee_completes_the_request()
    {
        var probe = Bind(_phone);
        var pending = Router.SendIqAsync(Ping(), TimeSpan.FromSeconds(5));
        var request = Next(probe);
        Assert.StartsWith("s-" + Router.PendingIqs.NodeTag + "-", request.Id); // the asking node is in the id
        Answer(request, "result", from: "bob@localhost/phone"); // RFC 6120 §8.2.3: another entity's answer does not match
        Answer(request, "result");
        var result = await pending;
        Assert.Equal("result", result.Type);
        Assert.Equal(request.Id, result.Id);
    }

    [Fact]
    public async Task Unanswered_request_times_out_and_a_late_answer_is_dropped()
    {
        var probe = Bind(_phone);
        var pending = Router.SendIqAsync(Ping(), TimeSpan.FromMilliseconds(300));
        var request = Next(probe);
        await Assert.ThrowsAsync<TimeoutException>(() => pending);
        Answer(request, "result"); // nothing waits for it any more
        Nothing(probe);
    }

    [Fact]
    public async Task Answer_to_an_id_of_another_node_is_not_taken_by_this_one()
    {
        var probe = Bind(_phone);
        var foreign = "s-othernod-1";
        var pending = Router.SendIqAsync(Ping(foreign), TimeSpan.FromMilliseconds(500));
        Answer(Next(probe), "result");
        await Assert.ThrowsAsync<TimeoutException>(() => pending);
    }
}

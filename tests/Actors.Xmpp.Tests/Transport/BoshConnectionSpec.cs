using System.Text;
using Actors.Xmpp.Server;
using Actors.Xmpp.Server.Http.Bosh;
using Actors.Xmpp.Transport.Connections;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Tests.Transport;

/// <summary>
/// One XEP-0124 session's transport (<see cref="BoshConnection"/>) with a test probe as its owner: the orderings of
/// the owner's writes and closes against the client's requests that the HTTP tests can only hit by chance.
/// </summary>
public sealed class BoshConnectionSpec : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    private const long CreationRid = 5000;
    private readonly TimerWheel _wheel = new(static () => Environment.TickCount64, 20, 64);

    private BoshConnection Open()
    {
        var sessions = new BoshSessions(null!, new TransportOptions(), TestActor);
        var parameters = new BoshSessionParameters(Wait: 5, Hold: 1, Requests: 2, Inactivity: 30, Polling: 2, MaxPause: 60,
            Ver: "1.11", Legacy: false, Ack: false);
        var header = new StreamHeader("stream", Ns.Streams, Ns.Client, [new XAttr("to", "localhost", null)]);
        var connection = new BoshConnection(sessions, "s1", parameters, header, CreationRid, null, false, new TransportOptions(), _wheel);
        var created = connection.Creation();
        connection.Start(TestActor);
        ExpectMsg<TransportEvents.StreamOpened>();
        Assert.True(connection.OpenStream(new StreamOpening(Ns.Client, "localhost", "id1", null, "1.0", null)));
        Assert.True(connection.SendFeatures(new Element("features", Ns.Streams)));
        Assert.True(created.Wait(TimeSpan.FromSeconds(5)));
        return connection;
    }

    private static Element Body(long rid, string attributes = "", string payload = "") =>
        Element.Parse($"<body xmlns='{BoshProtocol.Namespace}' sid='s1' rid='{rid}' {attributes}>{payload}</body>");

    private static Element Answer(Task<BoshResponse> response)
    {
        Assert.True(response.Wait(TimeSpan.FromSeconds(5)), "no answer");
        return Element.Parse(Encoding.UTF8.GetString(response.Result.Body!));
    }

    [Fact]
    public void Xep0124_13_a_stanza_written_between_the_clients_terminate_and_the_owners_close_stays_out_of_the_empty_answer()
    {
        var connection = Open();
        var bye = connection.Request(Body(CreationRid + 1, "type='terminate'", "<presence xmlns='jabber:client' type='unavailable'/>"));
        ExpectMsg<TransportEvents.StanzaReceived>();
        ExpectMsg<TransportEvents.StreamClosed>();
        // the session's reflection of that unavailable presence, written before the owner handles the close
        Assert.False(connection.Send(new Element("presence", Ns.Client) { Type = "unavailable" }, Ns.Client));
        Assert.False(bye.IsCompleted);
        connection.CloseStream(null);
        var answer = Answer(bye);
        Assert.False(answer.HasChildren, $"expected an empty body, got {answer}");
        ExpectMsg<TransportEvents.ConnectionLost>();
        Assert.Equal(BoshProtocol.Conditions.ItemNotFound, Answer(connection.Request(Body(CreationRid + 2))).Attr("condition"));
    }

    [Fact]
    public void Xep0124_10_a_stanza_written_while_a_request_waits_answers_it()
    {
        var connection = Open();
        var held = connection.Request(Body(CreationRid + 1));
        Assert.False(held.IsCompleted);
        Assert.True(connection.Send(new Element("message", Ns.Client) { Id = "m1" }, Ns.Client));
        var answer = Answer(held);
        Assert.Equal("m1", answer.Child("message", Ns.Client)?.Id);
    }

    public new void Dispose()
    {
        _wheel.Dispose();
        base.Dispose();
    }
}

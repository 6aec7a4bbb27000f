using System.Security.Cryptography;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>
/// File transfer negotiated end to end by the clients (XEP-0047 in-band bytestreams, XEP-0234 Jingle file transfer over
/// the XEP-0261 IBB transport): the server's part is RFC 6121 §8.5.3 routing of IQs to full JIDs, intact and in order,
/// with their results routed back, and the errors of §8.5.3.2.3 when the resource is not there.
/// </summary>
public sealed class FileTransferRoutingTests(PlainServer server) : IClassFixture<PlainServer>
{
    private const string Ibb = "http://jabber.org/protocol/ibb";
    private const string Jingle = "urn:xmpp:jingle:1";
    private const string FileTransfer = "urn:xmpp:jingle:apps:file-transfer:5";
    private const string JingleIbb = "urn:xmpp:jingle:transports:ibb:1";

    private async Task<XmppTestClient> LoginAsync(string user, string resource)
    {
        if (!server.Accounts.Exists(Jid.Create(user, TestServer.Domain))) await server.AddUserAsync(user);
        return await XmppTestClient.LoginAsync(server, user, resource, available: true);
    }

    /// <summary>The target answers each IQ it receives with a result; the requester gets it back with the same id.</summary>
    private static async Task<Element> RoundTripAsync(XmppTestClient from, XmppTestClient to, string iq, string id)
    {
        await from.SendAsync(iq);
        var received = await to.NextMatchingAsync(e => e.Name == "iq" && e.Id == id);
        await to.SendAsync($"<iq type='result' id='{id}' to='{received.From}'/>");
        var result = await from.NextMatchingAsync(e => e.Name == "iq" && e.Id == id);
        Assert.Equal("result", result.Type);
        Assert.Equal(received.To, result.From);
        return received;
    }

    [Fact]
    public async Task Xep0047_open_data_and_close_are_routed_to_the_full_jid_in_order_with_results_back()
    {
        await using var romeo = await LoginAsync("ft-romeo", "orchard");
        await using var juliet = await LoginAsync("ft-juliet", "balcony");
        var open = await RoundTripAsync(romeo, juliet,
            $"<iq type='set' id='o1' to='ft-juliet@localhost/balcony'><open xmlns='{Ibb}' block-size='4096' sid='i781hf64' stanza='iq'/></iq>", "o1");
        Assert.Equal("ft-romeo@localhost/orchard", open.From);
        var payload = open.Child("open", Ibb)!;
        Assert.Equal("4096", payload.Attr("block-size"));
        Assert.Equal("i781hf64", payload.Attr("sid"));

        // §2.2: each block in a <data/> IQ with its seq; 64 KiB in 16 blocks, each delivered as sent and in order
        var file = RandomNumberGenerator.GetBytes(64 * 1024);
        var received = new MemoryStream();
        for (var seq = 0; seq < 16; seq++)
        {
            var block = Convert.ToBase64String(file, seq * 4096, 4096);
            var data = await RoundTripAsync(romeo, juliet,
                $"<iq type='set' id='d{seq}' to='ft-juliet@localhost/balcony'><data xmlns='{Ibb}' seq='{seq}' sid='i781hf64'>{block}</data></iq>", "d" + seq);
            var element = data.Child("data", Ibb)!;
            Assert.Equal(seq.ToString(System.Globalization.CultureInfo.InvariantCulture), element.Attr("seq"));
            received.Write(Convert.FromBase64String(element.Text));
        }
        Assert.Equal(file, received.ToArray());

        await RoundTripAsync(romeo, juliet, $"<iq type='set' id='c1' to='ft-juliet@localhost/balcony'><close xmlns='{Ibb}' sid='i781hf64'/></iq>", "c1");
    }

    [Fact]
    public async Task Xep0047_3_data_in_messages_is_delivered_to_the_full_jid()
    {
        await using var romeo = await LoginAsync("ft-romeo2", "orchard");
        await using var juliet = await LoginAsync("ft-juliet2", "balcony");
        await romeo.SendAsync($"<message id='m0' to='ft-juliet2@localhost/balcony'><data xmlns='{Ibb}' seq='0' sid='msg1'>cXVpdGUgYSBibG9jaw==</data></message>");
        var message = await juliet.NextMatchingAsync(e => e.Name == "message" && e.Id == "m0");
        Assert.Equal("cXVpdGUgYSBibG9jaw==", message.Child("data", Ibb)!.Text);
        Assert.Equal("ft-romeo2@localhost/orchard", message.From);
    }

    [Fact]
    public async Task Rfc6121_8_5_3_2_3_ibb_open_to_a_resource_that_is_not_online_is_service_unavailable()
    {
        await using var romeo = await LoginAsync("ft-romeo3", "orchard");
        await using var juliet = await LoginAsync("ft-juliet3", "balcony");
        await romeo.SendAsync($"<iq type='set' id='o9' to='ft-juliet3@localhost/elsewhere'><open xmlns='{Ibb}' block-size='4096' sid='x' stanza='iq'/></iq>");
        var reply = await romeo.NextMatchingAsync(e => e.Name == "iq" && e.Id == "o9");
        Assert.Equal("error", reply.Type);
        Assert.NotNull(reply.Child("error", Ns.Client)!.Child("service-unavailable", Ns.StanzaErrors));
    }

    [Fact]
    public async Task Xep0234_jingle_file_transfer_over_xep0261_ibb_is_routed_to_the_full_jid_intact()
    {
        await using var romeo = await LoginAsync("ft-romeo4", "orchard");
        await using var juliet = await LoginAsync("ft-juliet4", "balcony");
        // XEP-0234 §4: session-initiate offering a file, XEP-0261 §2: the IBB transport
        var initiate = await RoundTripAsync(romeo, juliet,
            "<iq type='set' id='j1' to='ft-juliet4@localhost/balcony'>" +
            $"<jingle xmlns='{Jingle}' action='session-initiate' initiator='ft-romeo4@localhost/orchard' sid='851ba2'>" +
            "<content creator='initiator' name='a-file-offer' senders='initiator'>" +
            $"<description xmlns='{FileTransfer}'><file><media-type>text/plain</media-type><name>test.txt</name>" +
            "<size>6144</size><hash xmlns='urn:xmpp:hashes:2' algo='sha-1'>w0mcJylzCn+AfvuGdqkty2+KP48=</hash></file></description>" +
            $"<transport xmlns='{JingleIbb}' block-size='4096' sid='ch3d9s71'/></content></jingle></iq>", "j1");
        var jingle = initiate.Child("jingle", Jingle)!;
        Assert.Equal("session-initiate", jingle.Attr("action"));
        var content = jingle.Child("content", Jingle)!;
        var file = content.Child("description", FileTransfer)!.Child("file", FileTransfer)!;
        Assert.Equal("test.txt", file.ChildText("name", FileTransfer));
        Assert.Equal("w0mcJylzCn+AfvuGdqkty2+KP48=", file.Child("hash", "urn:xmpp:hashes:2")!.Text);
        Assert.Equal("ch3d9s71", content.Child("transport", JingleIbb)!.Attr("sid"));

        // the responder accepts (from its full JID to the initiator's), then the initiator ends the session
        await RoundTripAsync(juliet, romeo,
            "<iq type='set' id='j2' to='ft-romeo4@localhost/orchard'>" +
            $"<jingle xmlns='{Jingle}' action='session-accept' responder='ft-juliet4@localhost/balcony' sid='851ba2'>" +
            $"<content creator='initiator' name='a-file-offer' senders='initiator'><description xmlns='{FileTransfer}'/>" +
            $"<transport xmlns='{JingleIbb}' block-size='2048' sid='ch3d9s71'/></content></jingle></iq>", "j2");
        var terminate = await RoundTripAsync(romeo, juliet,
            "<iq type='set' id='j3' to='ft-juliet4@localhost/balcony'>" +
            $"<jingle xmlns='{Jingle}' action='session-terminate' sid='851ba2'><reason><success/></reason></jingle></iq>", "j3");
        Assert.NotNull(terminate.Child("jingle", Jingle)!.Child("reason", Jingle)!.Child("success", Jingle));
    }

    [Fact]
    public async Task Rfc6121_8_5_2_1_3_jingle_to_a_bare_jid_is_answered_by_the_server_not_a_client()
    {
        await using var romeo = await LoginAsync("ft-romeo5", "orchard");
        await using var juliet = await LoginAsync("ft-juliet5", "balcony");
        await romeo.SendAsync($"<iq type='set' id='jb' to='ft-juliet5@localhost'><jingle xmlns='{Jingle}' action='session-initiate' sid='s'/></iq>");
        var reply = await romeo.NextMatchingAsync(e => e.Name == "iq" && e.Id == "jb");
        Assert.Equal("error", reply.Type);
        Assert.Equal("ft-juliet5@localhost", reply.From);
        Assert.NotNull(reply.Child("error", Ns.Client)!.Child("service-unavailable", Ns.StanzaErrors));
        // the client never saw it: everything it received up to its own ping's answer is something else
        await juliet.SendAsync("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
        while (await juliet.NextAsync() is var e && !(e.Name == "iq" && e.Id == "p1"))
            Assert.False(e.Name == "iq" && e.Id == "jb", "the jingle IQ to the bare JID reached a client");
    }
}

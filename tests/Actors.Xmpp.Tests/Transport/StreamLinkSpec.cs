using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Actors.Xmpp.Transport.Tls;
using System.Text;
using Actors.Xmpp.Transport.Connections;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Transport.Streams;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Akka.Streams;
using Akka.TestKit;

namespace Actors.Xmpp.Tests.Transport;

/// <summary>The Akka.Streams link stages (socket source and sink, the framer) on a real loopback socket pair.</summary>
public sealed class StreamLinkSpec : Akka.TestKit.Xunit2.TestKit
{
    private static async Task<(Socket Server, Socket Peer)> PairAsync()
    {
        using var listen = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listen.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listen.Listen(1);
        var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var accept = listen.AcceptAsync();
        await peer.ConnectAsync(listen.LocalEndPoint!);
        return (await accept, peer);
    }

    private static async Task<string> ReadUntilClosedAsync(Socket peer)
    {
        var all = new MemoryStream();
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        while (true)
        {
            var n = await peer.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            if (n == 0) return Encoding.UTF8.GetString(all.ToArray());
            all.Write(buffer, 0, n);
        }
    }

    /// <summary>Acks each event to its sender, as a link's owner must, and hands it to the test.</summary>
    private TestProbe Owner()
    {
        var probe = CreateTestProbe();
        probe.SetAutoPilot(new DelegateAutoPilot((sender, _) =>
        {
            sender.Tell(StreamLink.Ack);
            return AutoPilot.KeepRunning;
        }));
        return probe;
    }

    [Fact]
    public async Task Inbound_bytes_become_acknowledged_transport_events_in_order_split_anywhere()
    {
        var (server, peer) = await PairAsync();
        using var _ = peer;
        var owner = Owner();
        StreamLink.Run(server, owner, Sys.Materializer(), new FramerLimits());
        owner.ExpectMsg<object>(m => ReferenceEquals(m, StreamLink.Init));
        var text = "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='c.example'>"
                   + "<message to='a@example' from='b@c.example'><body>one</body></message><iq type='get' id='2'/></stream:stream>";
        var bytes = Encoding.UTF8.GetBytes(text);
        for (var i = 0; i < bytes.Length; i += 7) // chunks that cut names and attributes apart
        {
            await peer.SendAsync(bytes.AsMemory(i, Math.Min(7, bytes.Length - i)), SocketFlags.None);
            await Task.Delay(1);
        }
        var opened = owner.ExpectMsg<TransportEvents.StreamOpened>();
        Assert.Equal("c.example", opened.Header.Attr("to"));
        Assert.Equal(Ns.ComponentAccept, opened.Header.DefaultNamespace);
        var message = owner.ExpectMsg<TransportEvents.StanzaReceived>().Element;
        Assert.True(message.Is("message", Ns.ComponentAccept));
        Assert.Equal("one", message.ChildText("body", Ns.ComponentAccept));
        Assert.Equal("2", owner.ExpectMsg<TransportEvents.StanzaReceived>().Element.Id);
        owner.ExpectMsg<TransportEvents.StreamClosed>();
        owner.ExpectMsg<TransportEvents.ConnectionLost>();
    }

    [Fact]
    public async Task Rfc6120_11_1_restricted_xml_is_reported_as_a_framing_failure_and_ends_the_inbound_side()
    {
        var (server, peer) = await PairAsync();
        using var _ = peer;
        var owner = Owner();
        StreamLink.Run(server, owner, Sys.Materializer(), new FramerLimits());
        owner.ExpectMsg<object>(m => ReferenceEquals(m, StreamLink.Init));
        await peer.SendAsync(Encoding.UTF8.GetBytes(
            "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'><!-- a comment -->"), SocketFlags.None);
        owner.ExpectMsg<TransportEvents.StreamOpened>();
        Assert.Equal(FramerErrorCondition.RestrictedXml, owner.ExpectMsg<TransportEvents.FramingFailed>().Condition);
        owner.ExpectMsg<TransportEvents.ConnectionLost>();
    }

    [Fact]
    public async Task Stanza_over_the_size_limit_is_a_policy_violation()
    {
        var (server, peer) = await PairAsync();
        using var _ = peer;
        var owner = Owner();
        StreamLink.Run(server, owner, Sys.Materializer(), new FramerLimits(MaxStanzaBytes: 200));
        owner.ExpectMsg<object>(m => ReferenceEquals(m, StreamLink.Init));
        await peer.SendAsync(Encoding.UTF8.GetBytes(
            "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'><message><body>"
            + new string('x', 400) + "</body></message>"), SocketFlags.None);
        owner.ExpectMsg<TransportEvents.StreamOpened>();
        Assert.Equal(FramerErrorCondition.PolicyViolation, owner.ExpectMsg<TransportEvents.FramingFailed>().Condition);
    }

    [Fact]
    public async Task Writes_leave_in_order_and_complete_closes_the_socket_after_them()
    {
        var (server, peer) = await PairAsync();
        using var _ = peer;
        var owner = Owner();
        var link = StreamLink.Run(server, owner, Sys.Materializer(), new FramerLimits());
        link.Send("<stream:stream>"u8);
        for (var i = 0; i < 100; i++)
            link.Send(new Element("message", Ns.ComponentAccept).SetAttr("id", i.ToString(System.Globalization.CultureInfo.InvariantCulture)), Ns.ComponentAccept);
        link.Send("</stream:stream>"u8);
        link.Complete();
        var written = await ReadUntilClosedAsync(peer);
        var expected = new StringBuilder("<stream:stream>");
        for (var i = 0; i < 100; i++) expected.Append("<message id='").Append(i).Append("'/>");
        expected.Append("</stream:stream>");
        Assert.Equal(expected.ToString(), written.Replace('"', '\''));
        owner.FishForMessage(m => m is TransportEvents.ConnectionLost, TimeSpan.FromSeconds(5)); // the inbound side ends with it
    }

    [Fact]
    public async Task Peer_that_does_not_read_past_the_bounded_queue_is_disconnected()
    {
        var (server, peer) = await PairAsync();
        using var _ = peer;
        peer.ReceiveBufferSize = 4096;
        var owner = Owner();
        var link = StreamLink.Run(server, owner, Sys.Materializer(), new FramerLimits(), outboundElements: 8);
        var big = new Element("message", Ns.ComponentAccept);
        big.AddChild("body").AddText(new string('x', 64 * 1024));
        for (var i = 0; i < 200; i++) link.Send(big, Ns.ComponentAccept); // far more than the socket buffers and the queue hold
        owner.FishForMessage(m => m is TransportEvents.ConnectionLost, TimeSpan.FromSeconds(10));
    }

    private static X509Certificate2 SelfSigned(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }

    [Fact]
    public async Task Rfc6120_5_4_3_3_starttls_reads_nothing_past_starttls_then_a_new_stream_over_tls()
    {
        var (server, peer) = await PairAsync();
        using var _ = peer;
        var owner = CreateTestProbe(); // acknowledges by hand
        var link = StreamLink.Run(server, owner, Sys.Materializer(), new FramerLimits());
        owner.ExpectMsg<object>(m => ReferenceEquals(m, StreamLink.Init));
        owner.LastSender.Tell(StreamLink.Ack);
        await peer.SendAsync(Encoding.UTF8.GetBytes(
            "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"), SocketFlags.None);
        owner.ExpectMsg<TransportEvents.StreamOpened>();
        owner.LastSender.Tell(StreamLink.Ack);
        await peer.SendAsync(Encoding.UTF8.GetBytes("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"), SocketFlags.None);
        Assert.True(owner.ExpectMsg<TransportEvents.StanzaReceived>().Element.Is("starttls", Ns.Tls));
        var heldAck = owner.LastSender; // held: the source must not read the ClientHello
        link.Send("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"u8);
        var upgrade = TlsUpgrade.AsServer(ServerCertificates.Single(SelfSigned("s.example")), TimeSpan.FromSeconds(10));
        link.StartTls(upgrade);
        var proceed = new byte[64];
        var n = await peer.ReceiveAsync(proceed, SocketFlags.None);
        Assert.Contains("proceed", Encoding.UTF8.GetString(proceed, 0, n));
        await using var tls = new SslStream(new NetworkStream(peer, ownsSocket: false), leaveInnerStreamOpen: true);
        using var clientCertificate = SelfSigned("c.example");
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "s.example",
            ApplicationProtocols = [TlsUpgrade.XmppServer],
            ClientCertificates = new X509CertificateCollection { clientCertificate },
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        });
        owner.ExpectMsg<TransportEvents.TlsEstablished>();
        Assert.Equal("s.example", upgrade.RequestedServerName);
        Assert.Equal(clientCertificate.Thumbprint, upgrade.PeerCertificate?.Thumbprint); // kept for the owner to verify
        Assert.Equal(TlsUpgrade.XmppServer, link.Tls!.NegotiatedApplicationProtocol);   // XEP-0368 ALPN
        link.RestartStream();
        heldAck.Tell(StreamLink.Ack);
        await tls.WriteAsync(Encoding.UTF8.GetBytes(
            "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='s.example' version='1.0'><message id='over-tls'/>"));
        Assert.Equal("s.example", owner.ExpectMsg<TransportEvents.StreamOpened>().Header.Attr("to")); // a new stream
        owner.LastSender.Tell(StreamLink.Ack);
        Assert.Equal("over-tls", owner.ExpectMsg<TransportEvents.StanzaReceived>().Element.Id);
        link.Send(new Element("message", Ns.Server).SetAttr("id", "back"), Ns.Server);
        var back = new byte[256];
        var m = await tls.ReadAsync(back);
        Assert.Equal("<message id='back'/>", Encoding.UTF8.GetString(back, 0, m).Replace('"', '\''));
    }

    /// <summary>Sends a jabber:server stream header and <paramref name="count"/> messages with bodies of
    /// <paramref name="bodyBytes"/> in one write, and returns how long the owner took to receive them all (every one
    /// arrives: shaped, not dropped).</summary>
    private async Task<TimeSpan> ReceiveAllAsync(LinkShaping? shaping, int count, int bodyBytes)
    {
        var (server, peer) = await PairAsync();
        using var _ = peer;
        var owner = Owner();
        StreamLink.Run(server, owner, Sys.Materializer(), new FramerLimits(), shaping: shaping);
        owner.ExpectMsg<object>(m => ReferenceEquals(m, StreamLink.Init));
        var text = new StringBuilder("<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='b.example'>");
        var body = new string('x', bodyBytes);
        for (var i = 0; i < count; i++) text.Append($"<message to='a@b.example' from='c@d.example' id='m{i}'><body>{body}</body></message>");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await peer.SendAsync(Encoding.UTF8.GetBytes(text.ToString()), SocketFlags.None);
        owner.ExpectMsg<TransportEvents.StreamOpened>();
        for (var i = 0; i < count; i++) Assert.Equal("m" + i, owner.ExpectMsg<TransportEvents.StanzaReceived>(TimeSpan.FromSeconds(20)).Element.Id);
        return clock.Elapsed;
    }

    [Fact]
    public async Task A_shaped_link_reads_stanzas_at_its_rate_after_the_burst_and_drops_none()
    {
        // 2 at once, then 5 a second: the other 6 take at least 1.2 s (a lower bound only: a loaded machine is slower)
        var elapsed = await ReceiveAllAsync(new LinkShaping(0, 0, StanzasPerSecond: 5, BurstStanzas: 2), 8, 10);
        Assert.True(elapsed >= TimeSpan.FromSeconds(1), $"8 stanzas in {elapsed}: not shaped");
    }

    [Fact]
    public async Task A_shaped_link_reads_bytes_at_its_rate_after_the_burst_and_drops_none()
    {
        // about 12 KiB at 4 KiB/s after a burst of 4 KiB: at least 1.5 s
        var elapsed = await ReceiveAllAsync(new LinkShaping(4096, 4096), 12, 960);
        Assert.True(elapsed >= TimeSpan.FromSeconds(1.5), $"12 KiB in {elapsed}: not shaped");
    }
}

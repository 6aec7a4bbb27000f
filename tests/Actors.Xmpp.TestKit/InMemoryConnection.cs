using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Actors.Xmpp.Security;
using Actors.Xmpp.Transport.Connections;
using Actors.Xmpp.Xml;
using Akka.Actor;

namespace Actors.Xmpp.Testing;

/// <summary>An <see cref="ITransportConnection"/> that records what the actor sends (the in-memory transport of the tests).</summary>
public sealed class InMemoryConnection : ITransportConnection
{
    public readonly BlockingCollection<object> Sent = new(); // Element or string (raw)
    public volatile bool Closed, Aborted, TlsStarted, Restarted;
    public int ProcessedCount;

    public string Id { get; } = "mem" + Guid.NewGuid().ToString("N")[..6];
    public EndPoint? RemoteEndPoint { get; } = new IPEndPoint(IPAddress.Loopback, 40000);
    public bool IsSecure { get; set; }
    public bool CanStartTls { get; set; }
    public IChannelBinding? ChannelBinding { get; set; }
    public long LastReceivedTicks { get; set; } = Environment.TickCount64;
    public long LastSentTicks { get; set; } = Environment.TickCount64;

    public bool Send(Element element, string? contextNamespace)
    {
        if (Closed) return false;
        Sent.Add(element.Clone());
        return true;
    }

    public IActorRef? Owner;
    public StreamOpening? LastOpening;
    public int KeepAlives;

    public void Start(IActorRef owner) => Owner = owner;

    // the stream operations are rendered as the TCP transport renders them, and recorded like what it would write
    public bool OpenStream(StreamOpening opening)
    {
        LastOpening = opening;
        var buffer = new ArrayBufferWriter<byte>();
        TcpStreamFraming.WriteHeader(buffer, opening);
        return SendRaw(buffer.WrittenSpan);
    }

    public bool SendFeatures(Element features)
    {
        var buffer = new ArrayBufferWriter<byte>();
        TcpStreamFraming.WriteStreamElement(buffer, features, Ns.Client);
        return SendRaw(buffer.WrittenSpan);
    }

    public void CloseStream(Element? streamError)
    {
        if (streamError is not null)
        {
            var buffer = new ArrayBufferWriter<byte>();
            TcpStreamFraming.WriteStreamElement(buffer, streamError, Ns.Client);
            SendRaw(buffer.WrittenSpan);
        }
        SendRaw(TcpStreamFraming.Close);
        Close();
    }

    public bool KeepAlive()
    {
        Interlocked.Increment(ref KeepAlives);
        return SendRaw(TcpStreamFraming.KeepAlive);
    }

    private bool SendRaw(ReadOnlySpan<byte> utf8)
    {
        if (Closed) return false;
        var text = Encoding.UTF8.GetString(utf8);
        // <stream:features/> and <stream:error/> go out as raw text with the stream prefix: hand them to the test
        // as elements, parsed the way a client would
        if (text.StartsWith("<stream:", StringComparison.Ordinal) && !text.StartsWith("<stream:stream", StringComparison.Ordinal))
        {
            foreach (var e in Element.ParseAll(text)) Sent.Add(e);
            return true;
        }
        Sent.Add(text);
        return true;
    }

    public void Processed() => Interlocked.Increment(ref ProcessedCount);
    public void RestartStream() => Restarted = true;
    public void StartTls() => TlsStarted = true;
    public void Close() => Closed = true;
    public void Abort() => Aborted = true;

    public object Next(TimeSpan? timeout = null)
    {
        if (!Sent.TryTake(out var item, timeout ?? TimeSpan.FromSeconds(3)))
            throw new TimeoutException("nothing was sent to the client");
        return item;
    }

    public Element NextElement(TimeSpan? timeout = null)
    {
        while (true)
        {
            var item = Next(timeout);
            if (item is Element e) return e;
            if (item is string s && s.Trim().Length == 0) continue; // keep-alive
            throw new InvalidOperationException($"expected an element, got raw '{item}'");
        }
    }

    public string NextRaw(TimeSpan? timeout = null) => Next(timeout) as string
        ?? throw new InvalidOperationException("expected raw text");

    /// <summary>The next element, asserted to match <paramref name="expected"/> (see <see cref="StanzaAssert.Matches(string, Element)"/>).</summary>
    public Element NextElement(string expected, TimeSpan? timeout = null)
    {
        var element = NextElement(timeout);
        StanzaAssert.Matches(expected, element);
        return element;
    }
}

using System.Buffers;
using System.Text;
using Actors.Xmpp.Xml;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Actors.Plugins.Mqtt;

/// <summary>
/// How an MQTT application message and a PubSub item carry each other (README, "MQTT bridge"). An MQTT message is an
/// item whose payload is <c>&lt;message xmlns='urn:actors:mqtt:0'&gt;</c>: its text is the message's bytes when they are
/// UTF-8 text XML can carry unchanged, and their base64 with <c>encoding='base64'</c> otherwise; the MQTT 5 content type
/// is its <c>content-type</c>. An item published over XMPP with any other payload reaches MQTT clients as that
/// payload's XML (UTF-8, content type application/xml); an item without a payload as an empty message.
/// </summary>
public static class MqttPayload
{
    public const string Ns = "urn:actors:mqtt:0";
    public const string Message = "message";
    public const string EncodingAttr = "encoding";
    public const string Base64 = "base64";
    public const string ContentTypeAttr = "content-type";
    public const string XmlContentType = "application/xml";

    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    /// <summary>The item payload for an MQTT message's payload and content type.</summary>
    public static Element ToItemPayload(ReadOnlySequence<byte> payload, string? contentType)
    {
        var element = new Element(Message, Ns);
        if (!string.IsNullOrEmpty(contentType)) element.SetAttr(ContentTypeAttr, contentType);
        if (payload.IsEmpty) return element;
        var bytes = payload.ToArray();
        if (AsXmlText(bytes) is { } text) return element.AddText(text);
        return element.SetAttr(EncodingAttr, Base64).AddText(Convert.ToBase64String(bytes));
    }

    /// <summary>The text of <paramref name="bytes"/> when they are strict UTF-8 of characters XML 1.0 carries unchanged
    /// (no control characters, no CR, which a parser turns into LF), else null.</summary>
    public static string? AsXmlText(byte[] bytes)
    {
        string text;
        try { text = StrictUtf8.GetString(bytes); }
        catch (DecoderFallbackException) { return null; }
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c is '\t' or '\n') continue;
            if (c < 0x20 || c is '\uFFFE' or '\uFFFF') return null;
            if (char.IsHighSurrogate(c))
            {
                if (i + 1 >= text.Length || !char.IsLowSurrogate(text[i + 1])) return null;
                i++;
            }
            else if (char.IsLowSurrogate(c)) return null;
        }
        return text;
    }

    /// <summary>The MQTT message for an item of node <paramref name="topic"/> (<paramref name="payload"/>: the item's
    /// payload element, or null).</summary>
    public static MqttApplicationMessage ToMessage(string topic, string? itemId, Element? payload)
    {
        var message = new MqttApplicationMessage
        {
            Topic = topic,
            QualityOfServiceLevel = MqttQualityOfServiceLevel.AtLeastOnce,
        };
        if (itemId is not null) message.UserProperties = [new MqttUserProperty(MqttBridge.ItemIdProperty, Encoding.UTF8.GetBytes(itemId).AsMemory())];
        if (payload is null) return message;
        if (payload.Is(Message, Ns))
        {
            var contentType = payload.Attr(ContentTypeAttr);
            if (!string.IsNullOrEmpty(contentType)) message.ContentType = contentType;
            if (payload.Attr(EncodingAttr) == Base64)
            {
                var bytes = FromBase64(payload.Text);
                if (bytes is not null)
                {
                    message.Payload = new ReadOnlySequence<byte>(bytes);
                    return message;
                }
            }
            else
            {
                message.Payload = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(payload.Text));
                message.PayloadFormatIndicator = MqttPayloadFormatIndicator.CharacterData;
                return message;
            }
        }
        message.Payload = new ReadOnlySequence<byte>(payload.ToUtf8());
        message.ContentType = XmlContentType;
        message.PayloadFormatIndicator = MqttPayloadFormatIndicator.CharacterData;
        return message;
    }

    private static byte[]? FromBase64(string text)
    {
        try { return Convert.FromBase64String(text); }
        catch (FormatException) { return null; }
    }
}

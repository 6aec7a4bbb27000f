using System.Globalization;
using System.Text;
using System.Text.Json;
using Actors.Xmpp.Xml;

namespace Samples.Fleet;

/// <summary>One device's reading as the dashboard shows it.</summary>
public sealed record Reading(string Device, long SequenceNumber, double Temperature, DateTimeOffset Timestamp);

/// <summary>
/// The two wire forms of a reading. XMPP devices publish a XEP-0323 <c>&lt;fields/&gt;</c> element (one node, one
/// momentary numeric field) as the item's payload. MQTT devices publish JSON, <c>{"seq":N,"temperature":T,"ts":"…"}</c>,
/// which the bridge carries as the text of <c>&lt;message xmlns='urn:actors:mqtt:0'/&gt;</c>.
/// </summary>
public static class Readings
{
    public static Element Fields(string device, long seqnr, double temperature, DateTimeOffset at)
    {
        var fields = new Element("fields", Protocol.SensorData);
        fields.SetAttr("seqnr", seqnr.ToString(CultureInfo.InvariantCulture)).SetAttr("done", "true");
        var node = fields.AddChild("node", Protocol.SensorData);
        node.SetAttr("nodeId", device);
        var timestamp = node.AddChild("timestamp", Protocol.SensorData);
        timestamp.SetAttr("value", at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
        timestamp.AddChild("numeric", Protocol.SensorData)
            .SetAttr("name", Protocol.TemperatureField)
            .SetAttr("momentary", "true")
            .SetAttr("automaticReadout", "true")
            .SetAttr("value", temperature.ToString("0.00", CultureInfo.InvariantCulture))
            .SetAttr("unit", Protocol.TemperatureUnit)
            .SetAttr("nrDecimals", "2");
        return fields;
    }

    public static byte[] Json(long seqnr, double temperature, DateTimeOffset at)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(96);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("seq", seqnr);
            w.WriteNumber("temperature", Math.Round(temperature, 2));
            w.WriteString("ts", at.UtcDateTime);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The reading in a PubSub item's payload of either form; null when it is neither (hostile or foreign input).</summary>
    public static Reading? Parse(string device, Element payload)
    {
        if (payload.Is("fields", Protocol.SensorData))
        {
            if (!long.TryParse(payload.Attr("seqnr"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var seqnr)) return null;
            var timestamp = payload.Child("node", Protocol.SensorData)?.Child("timestamp", Protocol.SensorData);
            if (timestamp is null || !DateTimeOffset.TryParse(timestamp.Attr("value"), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)) return null;
            foreach (var numeric in timestamp.Elements("numeric", Protocol.SensorData))
                if (numeric.Attr("name") == Protocol.TemperatureField
                    && double.TryParse(numeric.Attr("value"), NumberStyles.Float, CultureInfo.InvariantCulture, out var t))
                    return new Reading(device, seqnr, t, at);
            return null;
        }
        if (payload.Is("message", Protocol.MqttPayload) && payload.Attr("encoding") is null)
        {
            var text = payload.Text;
            if (text.Length > 1024) return null;
            try
            {
                using var doc = JsonDocument.Parse(Encoding.UTF8.GetBytes(text), new JsonDocumentOptions { MaxDepth = 4 });
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object
                    || !root.TryGetProperty("seq", out var seq) || !seq.TryGetInt64(out var seqnr)
                    || !root.TryGetProperty("temperature", out var temp) || !temp.TryGetDouble(out var t)
                    || !root.TryGetProperty("ts", out var ts) || !ts.TryGetDateTimeOffset(out var at)) return null;
                return new Reading(device, seqnr, t, at);
            }
            catch (JsonException)
            {
                return null;
            }
        }
        return null;
    }
}

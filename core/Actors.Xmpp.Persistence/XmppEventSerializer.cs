using System.Runtime.Serialization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Akka.Actor;
using Akka.Serialization;

namespace Actors.Xmpp.Persistence;

/// <summary>
/// Serializer of every journal payload (<see cref="IPersistentEvent"/>): System.Text.Json with fixed options, the
/// manifest from <see cref="PersistentEventAttribute"/>. The JSON carries no .NET type name, so a type can be renamed or
/// moved; its property names are the contract (a golden-bytes test per manifest guards them).
/// </summary>
public sealed class XmppEventSerializer : SerializerWithStringManifest
{
    public const int SerializerId = 4710;

    /// <summary>The JSON options of the journal. Changing them changes every stored event: don't.</summary>
    public static readonly JsonSerializerOptions Options = CreateOptions();

    private readonly bool _lenient;

    public XmppEventSerializer(ExtendedActorSystem system) : base(system)
    {
        var config = system.Settings.Config;
        _lenient = config.HasPath("actors.persistence.lenient-reads") && config.GetBoolean("actors.persistence.lenient-reads");
    }

    public override int Identifier => SerializerId;

    public override string Manifest(object o) => PersistentEventTypes.ManifestOf(o.GetType());

    public override byte[] ToBinary(object obj) => Serialize(obj);

    public override object FromBinary(byte[] bytes, string manifest)
    {
        try
        {
            return Deserialize(bytes, manifest);
        }
        catch (Exception ex) when (_lenient && ex is SerializationException or JsonException or NotSupportedException)
        {
            return new UndecodableEvent(manifest, bytes, ex.Message);
        }
    }

    public static byte[] Serialize(object obj) => JsonSerializer.SerializeToUtf8Bytes(obj, obj.GetType(), Options);

    public static object Deserialize(byte[] bytes, string manifest)
    {
        var type = PersistentEventTypes.TypeOf(manifest)
                   ?? throw new SerializationException(
                       $"unknown journal manifest '{manifest}': no loaded type carries [PersistentEvent(\"{manifest}\")] " +
                       "(an event of a newer release, or of a plugin that is not loaded?)");
        try
        {
            return JsonSerializer.Deserialize(bytes, type, Options)
                   ?? throw new SerializationException($"journal event '{manifest}' is JSON null");
        }
        catch (JsonException ex)
        {
            throw new SerializationException($"journal event '{manifest}' does not decode as {type.Name}: {ex.Message}", ex);
        }
    }

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions
        {
            PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
            DictionaryKeyPolicy = null,
            WriteIndented = false,
            DefaultIgnoreCondition = JsonIgnoreCondition.Never,
            NumberHandling = JsonNumberHandling.Strict,
            UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
            TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
            // journal storage, never HTML: keep stanza XML readable and half the size (no \u003C for '<')
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase, allowIntegerValues: false));
        options.MakeReadOnly();
        return options;
    }
}

/// <summary>What the event-log tool reads (lenient reads) in place of an event that cannot be decoded.</summary>
public sealed record UndecodableEvent(string Manifest, byte[] Bytes, string Error);

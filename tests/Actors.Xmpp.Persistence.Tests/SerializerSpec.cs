using System.Runtime.Serialization;
using System.Text;
using Actors.Xmpp.Server.Accounts;
using Akka.Actor;
using Akka.Persistence.Journal;

namespace Actors.Xmpp.Persistence.Tests;

public sealed class SerializerSpec : IDisposable
{
    private readonly TestDatabase _db = TestDatabase.Create(TestDatabase.Sqlite);
    private readonly ActorSystem _system;

    public SerializerSpec() => _system = PersistenceActorSystem.Create("serializer", _db.Options, _db.DataDir);

    public void Dispose()
    {
        _system.Terminate().Wait(TimeSpan.FromSeconds(10));
        _db.Dispose();
    }

    /// <summary>Persistent event types of the core assemblies (not of test assemblies).</summary>
    private static IEnumerable<KeyValuePair<string, Type>> CoreTypes()
        => PersistentEventTypes.All.Where(kv => kv.Value.Assembly.GetName().Name is { } n
                                                && n.StartsWith("Actors.Xmpp.", StringComparison.Ordinal) && !n.EndsWith(".Tests", StringComparison.Ordinal));

    [Fact]
    public void Every_persistent_event_type_in_the_core_assemblies_has_a_golden_sample()
    {
        var missing = CoreTypes().Where(kv => !GoldenEvents.All.ContainsKey(kv.Key)).Select(kv => $"{kv.Key} ({kv.Value.FullName})").ToList();
        Assert.True(missing.Count == 0, "add golden samples to GoldenEvents.cs for: " + string.Join(", ", missing));
        Assert.Contains("account.created.v1", CoreTypes().Select(kv => kv.Key));
    }

    [Fact]
    public void Every_persistent_event_type_is_an_IPersistentEvent()
    {
        var wrong = CoreTypes().Where(kv => !typeof(IPersistentEvent).IsAssignableFrom(kv.Value)).Select(kv => kv.Value.FullName).ToList();
        Assert.True(wrong.Count == 0, "[PersistentEvent] types must implement IPersistentEvent: " + string.Join(", ", wrong));
    }

    public static TheoryData<string> Manifests => new(GoldenEvents.All.Keys);

    [Theory]
    [MemberData(nameof(Manifests))]
    public void Golden_bytes_of_each_event_do_not_change(string manifest)
    {
        var (sample, json) = GoldenEvents.All[manifest];
        Assert.Equal(manifest, PersistentEventTypes.ManifestOf(sample.GetType()));
        var bytes = XmppEventSerializer.Serialize(sample);
        Assert.Equal(json, Encoding.UTF8.GetString(bytes));
        // stored bytes read back and written again give the same bytes
        var read = XmppEventSerializer.Deserialize(Encoding.UTF8.GetBytes(json), manifest);
        Assert.IsType(sample.GetType(), read);
        Assert.Equal(json, Encoding.UTF8.GetString(XmppEventSerializer.Serialize(read)));
    }

    [Theory]
    [MemberData(nameof(Manifests))]
    public void Akka_serialization_uses_the_event_serializer_with_the_manifest(string manifest)
    {
        var (sample, json) = GoldenEvents.All[manifest];
        var serialization = _system.Serialization;
        var serializer = serialization.FindSerializerFor(sample);
        Assert.IsType<XmppEventSerializer>(serializer);
        var bytes = serializer.ToBinary(sample);
        Assert.Equal(manifest, Akka.Serialization.Serialization.ManifestFor(serializer, sample));
        var back = serialization.Deserialize(bytes, serializer.Identifier, manifest);
        Assert.Equal(json, Encoding.UTF8.GetString(XmppEventSerializer.Serialize(back)));
    }

    [Fact]
    public void An_unknown_manifest_is_a_clear_error_naming_it()
    {
        var ex = Assert.Throws<SerializationException>(() => XmppEventSerializer.Deserialize("{}"u8.ToArray(), "nothing.like-this.v9"));
        Assert.Contains("'nothing.like-this.v9'", ex.Message);
    }

    [Fact]
    public void Events_are_tagged_by_domain_and_kind()
    {
        var tagged = Assert.IsType<Tagged>(new XmppEventTagger().ToJournal(new AccountRemoved("example.org", "bob")));
        Assert.Equal(["account", "domain:example.org"], tagged.Tags.Order());
    }
}

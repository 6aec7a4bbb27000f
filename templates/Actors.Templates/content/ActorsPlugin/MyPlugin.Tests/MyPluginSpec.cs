using Actors.Xmpp.Testing;

namespace MyPlugin.Tests;

/// <summary>The plugin in a real server: a client logs in, finds the feature and asks (RFC 6120 §8.2.3: an IQ
/// is answered by exactly one result or error).</summary>
public sealed class MyPluginSpec : IAsyncLifetime
{
    /// <summary>The plugin's namespace (MyPluginPlugin.Ns: the tests talk XMPP to it, they do not reference it).</summary>
    private const string Ns = "urn:example:myplugin:0";

    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(["myplugin"]);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task The_server_answers_hello_with_the_users_name()
    {
        await using var alice = await _server.LoginAsync("alice"); // alice, bob and admin exist, password "pw"
        await alice.Sends($"<iq type='get' id='h1' to='localhost'><hello xmlns='{Ns}'/></iq>");
        var result = await alice.Receives($"<iq type='result' id='h1' from='localhost'><hello xmlns='{Ns}'/></iq>");
        Assert.Equal("Hello, alice", result.FirstChild()!.Text);
    }

    [Fact]
    public async Task A_set_is_answered_service_unavailable_RFC6120_8_4()
    {
        await using var alice = await _server.LoginAsync("alice");
        await alice.Sends($"<iq type='set' id='h2' to='localhost'><hello xmlns='{Ns}'/></iq>");
        await alice.Receives("<iq type='error' id='h2'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    }

    [Fact]
    public async Task Unloading_the_plugin_removes_its_handler()
    {
        var unloaded = await _server.Plugins.UnloadAsync("myplugin");
        Assert.True(unloaded.Ok, unloaded.Message);
        await using var alice = await _server.LoginAsync("alice");
        await alice.Sends($"<iq type='get' id='h3' to='localhost'><hello xmlns='{Ns}'/></iq>");
        await alice.Receives("<iq type='error' id='h3'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    }
}

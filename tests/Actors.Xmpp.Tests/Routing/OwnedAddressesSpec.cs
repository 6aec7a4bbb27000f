using Actors.Xmpp.Plugins;
using Actors.Xmpp.Server.Accounts;
using Actors.Xmpp.Server.Iq;
using Actors.Xmpp.Server.Routing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Actors.Xmpp.Tests.Routing;

/// <summary>The ownership rules of plugin addresses (the routing itself is covered over TCP in Actors.Plugins.Tests).</summary>
public sealed class OwnedAddressesSpec : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "owned-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly StanzaRouter _router;
    private static readonly DiscoInfo Info = new([new DiscoIdentity("pubsub", "service", "Publish-Subscribe")], ["http://jabber.org/protocol/pubsub"], []);
    private static readonly AddressHandler Nothing = _ => ValueTask.CompletedTask;

    public OwnedAddressesSpec()
    {
        Directory.CreateDirectory(_dir);
        _router = new StanzaRouter(["example.org", "example.net"], new LocalSessionRegistry(), new FileAccountStore(_dir, 64), new IqHandlers(),
            NullLogger<StanzaRouter>.Instance);
    }

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void A_service_is_owned_under_every_served_domain_and_listed_under_its_own_domain_only()
    {
        using var pubsub = _router.Addresses.AddService("pubsub-plugin", "pubsub", Info, Nothing);
        Assert.True(_router.Addresses.IsService("pubsub.example.org"));
        Assert.True(_router.Addresses.IsService("pubsub.example.net"));
        var items = _router.Addresses.Services("example.org");
        Assert.Equal([new DiscoItem("pubsub.example.org", null, "Publish-Subscribe")], items);
    }

    [Fact]
    public void Two_plugins_cannot_own_one_service_or_one_account_namespace()
    {
        using var first = _router.Addresses.AddService("a", "muc", Info, Nothing);
        var ex = Assert.Throws<InvalidOperationException>(() => _router.Addresses.AddService("b", "muc", Info, Nothing));
        Assert.Contains("owned by plugin 'a'", ex.Message);
        using var pep = _router.Addresses.AddAccountNamespace("a", "http://jabber.org/protocol/pubsub", AccountStanzas.Iq, Nothing);
        Assert.Throws<InvalidOperationException>(() => _router.Addresses.AddAccountNamespace("b", "http://jabber.org/protocol/pubsub", AccountStanzas.Iq, Nothing));
    }

    [Fact]
    public void Disposing_the_registration_releases_the_address_for_another_plugin()
    {
        var first = _router.Addresses.AddService("a", "muc", Info, Nothing);
        first.Dispose();
        Assert.False(_router.Addresses.IsService("muc.example.org"));
        Assert.Empty(_router.Addresses.Services("example.org"));
        using var second = _router.Addresses.AddService("b", "muc", Info, Nothing);
        Assert.True(_router.Addresses.IsService("muc.example.net"));
    }

    [Fact]
    public void A_subdomain_that_is_not_a_valid_domainpart_is_refused()
    {
        Assert.Throws<ArgumentException>(() => _router.Addresses.AddService("a", "bad/part", Info, Nothing));
        Assert.Throws<ArgumentException>(() => _router.Addresses.AddService("a", "user@host", Info, Nothing));
    }
}

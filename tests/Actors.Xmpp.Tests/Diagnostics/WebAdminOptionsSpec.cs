using Actors.Xmpp.Server;

namespace Actors.Xmpp.Tests.Diagnostics;

/// <summary>Issue 16: the web admin page's settings are checked at start, the key named.</summary>
public sealed class WebAdminOptionsSpec
{
    private static XmppServerOptions With(int httpPort, bool enabled, string path = "/admin")
    {
        var options = new XmppServerOptions { BindAddress = "127.0.0.1" };
        options.Http.Port = httpPort;
        options.Http.Admin.Enabled = enabled;
        options.Http.Admin.Path = path;
        return options;
    }

    [Fact]
    public void The_page_needs_an_http_listener()
    {
        var error = Assert.Throws<InvalidOperationException>(() => With(httpPort: -1, enabled: true).Validate());
        Assert.Contains("Xmpp:Http:Admin:Enabled", error.Message);
        With(httpPort: -1, enabled: false).Validate(); // off: no listener needed
        With(httpPort: 0, enabled: true).Validate();
    }

    [Theory]
    [InlineData("admin")]
    [InlineData("/admin/")]
    [InlineData("/")]
    public void Its_path_is_a_folder_that_starts_with_a_slash_and_has_no_trailing_one(string path)
    {
        var error = Assert.Throws<InvalidOperationException>(() => With(httpPort: 0, enabled: true, path).Validate());
        Assert.Contains("Xmpp:Http", error.Message);
    }
}

using Actors.Xmpp.Plugins;

namespace Actors.Xmpp.PluginHost;

// HTTP paths on the server's HTTP host (ServerContext.HttpRoutes) and the plugin's folder under the data folder.
internal sealed partial class PluginContext
{
    public IDisposable MapHttp(string pathPrefix, HttpHandler handler) => Track(_server.HttpRoutes.Add(PluginId, pathPrefix, handler));

    public string? HttpBaseUrl => _server.HttpRoutes.BaseUrl;

    public string DataDirectory
    {
        get
        {
            var folder = Path.GetFullPath(Path.Combine(_server.Options.DataDir, "plugins", PluginId));
            Directory.CreateDirectory(folder);
            return folder;
        }
    }
}

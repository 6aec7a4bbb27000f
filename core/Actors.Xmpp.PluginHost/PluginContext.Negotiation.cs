using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.PluginHost;

// Stream negotiation: stream features per stage and IQ handlers of unauthenticated streams (ServerContext.Negotiation).
internal sealed partial class PluginContext
{
    public IDisposable AddStreamFeature(StreamStage stage, Func<StreamInfo, Element?> provider) =>
        Track(_server.Negotiation.AddStreamFeature(stage, provider));

    public IDisposable HandlePreAuthIq(string type, string ns, string name, PreAuthIqHandler handler) =>
        Track(_server.Negotiation.HandlePreAuthIq(type, ns, name, handler));
}

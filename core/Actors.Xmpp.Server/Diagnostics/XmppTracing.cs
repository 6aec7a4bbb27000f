using System.Diagnostics;
using Actors.Xmpp.Xml;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Actors.Xmpp.Server.Diagnostics;

/// <summary>
/// The server's traces (System.Diagnostics <see cref="ActivitySource"/> <see cref="SourceName"/>): a stanza's path
/// across actors, one span per actor that handles it: the client connection that read it (<see cref="Spans.ClientStanza"/>,
/// the root), the sender's session that routes it (<see cref="Spans.SessionRoute"/>, which runs the router on its
/// thread), the recipient account's resources entity that chooses the resources (<see cref="Spans.AccountRoute"/>,
/// RFC 6121 §8.5), and each recipient session that writes it (<see cref="Spans.SessionDeliver"/>). The W3C trace
/// context travels beside the stanza in the message records (<c>SessionActor.FromClient</c>,
/// <c>AccountResourcesActor.RouteStanza</c>, <c>SessionMessages.Deliver</c>), and between nodes in their serializers'
/// traced manifests, never in the XML: nothing of it reaches a client or another server.
/// While nothing listens (Xmpp:Tracing off) a span costs one flag check and the records carry an empty context.
/// </summary>
public static class XmppTracing
{
    public const string SourceName = "Actors.Xmpp";

    public static readonly ActivitySource Source = new(SourceName, typeof(XmppTracing).Assembly.GetName().Version?.ToString());

    /// <summary>Span names (constants, one per actor on the path).</summary>
    public static class Spans
    {
        /// <summary>The client connection read a stanza and handed it to its session (the root of the trace).</summary>
        public const string ClientStanza = "xmpp.c2s.stanza";
        /// <summary>The sender's session stamped and routed it (hooks, router; for a local account, told to its entity).</summary>
        public const string SessionRoute = "xmpp.session.route";
        /// <summary>The recipient account's resources entity applied RFC 6121 §8.5 (which sessions get it).</summary>
        public const string AccountRoute = "xmpp.account.route";
        /// <summary>A recipient session delivered it (Deliver hooks, XEP-0352 holding, the write to the client).</summary>
        public const string SessionDeliver = "xmpp.session.deliver";
    }

    /// <summary>Span attribute names. No addresses: a trace says what happened to a stanza, not who wrote to whom.</summary>
    public static class Tags
    {
        /// <summary>message, presence or iq.</summary>
        public const string StanzaKind = "xmpp.stanza.kind";
        /// <summary>The stanza's 'type' attribute when it has one.</summary>
        public const string StanzaType = "xmpp.stanza.type";
        /// <summary>The stanza's 'id' attribute when it has one (what the client chose, to find its stanza's trace).</summary>
        public const string StanzaId = "xmpp.stanza.id";
    }

    /// <summary>The name the traces' resource gives the server (OpenTelemetry service.name).</summary>
    public const string ServiceName = "actors-server";

    /// <summary>
    /// The server's tracer: this source, the sampler of <paramref name="settings"/> (parent-based: a trace begun
    /// elsewhere keeps its choice), and the OTLP exporter when an endpoint is set. Tests add their own exporter to the
    /// builder this returns before building it.
    /// </summary>
    public static TracerProviderBuilder Configure(TracerProviderBuilder builder, XmppServerOptions.TracingSettings settings)
    {
        builder.AddSource(SourceName)
            .ConfigureResource(r => r.AddService(ServiceName, serviceVersion: typeof(XmppTracing).Assembly.GetName().Version?.ToString()))
            .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(settings.SampleRatio)));
        if (settings.Enabled)
            builder.AddOtlpExporter(o =>
            {
                o.Endpoint = new Uri(settings.OtlpEndpoint!);
                o.Protocol = settings.OtlpProtocol == XmppServerOptions.TracingSettings.HttpProtobuf
                    ? OtlpExportProtocol.HttpProtobuf
                    : OtlpExportProtocol.Grpc;
            });
        return builder;
    }

    /// <summary>The tracer of a server whose Xmpp:Tracing is set, or null (no span is then made).</summary>
    public static TracerProvider? CreateProvider(XmppServerOptions.TracingSettings settings) =>
        settings.Enabled ? Configure(Sdk.CreateTracerProviderBuilder(), settings).Build() : null;

    /// <summary>The context to carry in a record told on (the span the calling actor runs in), or none.</summary>
    public static ActivityContext Current => Source.HasListeners() && Activity.Current is { } current ? current.Context : default;

    /// <summary>
    /// Starts the span of one actor's handling of <paramref name="stanza"/>, child of <paramref name="parent"/> (the
    /// context its message carried; none: a new trace, or the span this thread runs in). Null while nothing listens
    /// or the sampler drops it. Dispose it before the handler returns (Activity.Current must not outlive the message).
    /// </summary>
    public static Activity? Start(string name, ActivityKind kind, in ActivityContext parent, Element stanza)
    {
        if (!Source.HasListeners()) return null;
        var activity = Source.StartActivity(name, kind, parent);
        if (activity is null) return null;
        if (activity.IsAllDataRequested)
        {
            activity.SetTag(Tags.StanzaKind, stanza.Name);
            if (stanza.Type is { } type) activity.SetTag(Tags.StanzaType, type);
            if (stanza.Id is { } id) activity.SetTag(Tags.StanzaId, id);
        }
        return activity;
    }

    /// <summary>Starts the span of a stanza a client sent: the root of its trace. An activity the actor's thread still
    /// carries from elsewhere (an execution context that flowed in) is not its parent: were it one the sampler did not
    /// record, the parent-based sampler would drop the whole trace.</summary>
    public static Activity? StartRoot(string name, ActivityKind kind, Element stanza)
    {
        if (!Source.HasListeners()) return null;
        if (Activity.Current is not null) Activity.Current = null;
        return Start(name, kind, default, stanza);
    }

    // ---- the context between nodes (W3C Trace Context: trace-id, parent-id, trace-flags; tracestate as is) ----

    /// <summary>Bytes of a context on the wire: trace id (16), span id (8), flags (1).</summary>
    public const int WireSize = 25;

    /// <summary>Writes <paramref name="context"/> (not default) as its <see cref="WireSize"/> bytes.</summary>
    public static void WriteContext(Span<byte> destination, in ActivityContext context)
    {
        context.TraceId.CopyTo(destination[..16]);
        context.SpanId.CopyTo(destination.Slice(16, 8));
        destination[24] = (byte)context.TraceFlags;
    }

    /// <summary>Reads a context another node wrote (remote: its spans are parents here). An all-zero trace or span
    /// id is invalid in W3C Trace Context: read as none.</summary>
    public static ActivityContext ReadContext(ReadOnlySpan<byte> source)
    {
        if (source.Length < WireSize) throw new System.Runtime.Serialization.SerializationException("truncated trace context");
        if (source[..16].IndexOfAnyExcept((byte)0) < 0 || source.Slice(16, 8).IndexOfAnyExcept((byte)0) < 0) return default;
        return new ActivityContext(ActivityTraceId.CreateFromBytes(source[..16]), ActivitySpanId.CreateFromBytes(source.Slice(16, 8)), (ActivityTraceFlags)(source[24] & 0x01), null, isRemote: true);
    }
}

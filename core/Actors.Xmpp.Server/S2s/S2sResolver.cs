using System.Net;
using System.Net.Sockets;
using DnsClient;
using DnsClient.Protocol;

namespace Actors.Xmpp.Server.S2s;

/// <summary>Where a remote domain's server is reached: a host (name or address) and a port, in the order to try;
/// <paramref name="DirectTls"/>: TLS from the first byte (XEP-0368), else STARTTLS on the stream.</summary>
public sealed record S2sTarget(string Host, int Port, bool DirectTls = false);

/// <summary>A connected socket to a remote domain's server, and whether TLS starts on its first byte (XEP-0368).</summary>
public sealed record S2sConnection(Socket Socket, bool DirectTls);

/// <summary>
/// Finds the servers of a remote domain (RFC 6120 §3.2): a static route of <c>Xmpp:S2s:Routes</c> first ("host:port",
/// or "tls:host:port" for TLS from the first byte); else the SRV records of <c>_xmpps-server._tcp.&lt;domain&gt;</c>
/// (XEP-0368 §3, direct TLS) and <c>_xmpp-server._tcp.&lt;domain&gt;</c> (§3.2.1) together, ordered by priority, then
/// weighted at random per RFC 2782 (XEP-0368 §3: the two sets are merged as one); a set that is a single record with
/// target "." offers no service (§3.2.1 step 4), and when both say so there is no fallback; without SRV records, the
/// domain itself on port 5269 (§3.2.2). Then connects to the first target and address that accepts.
/// </summary>
public sealed class S2sResolver
{
    public const int DefaultPort = 5269;
    public const string SrvPrefix = "_xmpp-server._tcp.";
    public const string DirectTlsSrvPrefix = "_xmpps-server._tcp.";
    /// <summary>A static route's prefix for a direct TLS target (XEP-0368).</summary>
    public const string DirectTlsRoutePrefix = "tls:";

    private readonly IReadOnlyDictionary<string, S2sTarget> _routes;
    private readonly ILookupClient? _dns;

    /// <param name="routes">remote domain → "host:port" (normalized domains).</param>
    /// <param name="dns">null: static routes only.</param>
    public S2sResolver(IReadOnlyDictionary<string, S2sTarget> routes, ILookupClient? dns)
    {
        _routes = routes;
        _dns = dns;
    }

    /// <summary>Parses <c>Xmpp:S2s:Routes</c> (domain → host:port, port 5269 when absent).</summary>
    public static Dictionary<string, S2sTarget> ParseRoutes(IReadOnlyDictionary<string, string> configured)
    {
        var routes = new Dictionary<string, S2sTarget>(StringComparer.Ordinal);
        foreach (var (key, value) in configured)
        {
            var domain = Jid.NormalizeDomain(key) ?? throw new InvalidOperationException($"Xmpp:S2s:Routes:{key} is not a valid domain");
            routes[domain] = ParseTarget(value) ?? throw new InvalidOperationException($"Xmpp:S2s:Routes:{key}: '{value}' is not host:port");
        }
        return routes;
    }

    private static S2sTarget? ParseTarget(string value)
    {
        value = value.Trim();
        if (value.StartsWith(DirectTlsRoutePrefix, StringComparison.OrdinalIgnoreCase))
            return ParseTarget(value[DirectTlsRoutePrefix.Length..]) is { } plain ? plain with { DirectTls = true } : null;
        if (value.Length == 0) return null;
        if (IPEndPoint.TryParse(value, out var ep) && (value.Contains(']') || value.Count(c => c == ':') == 1))
            return new S2sTarget(ep.Address.ToString(), ep.Port == 0 ? DefaultPort : ep.Port);
        var colon = value.LastIndexOf(':');
        if (colon < 0) return new S2sTarget(value, DefaultPort);
        if (!int.TryParse(value.AsSpan(colon + 1), out var port) || port is <= 0 or > 65535 || colon == 0) return null;
        return new S2sTarget(value[..colon], port);
    }

    /// <summary>The targets for <paramref name="domain"/>, in order (empty: the domain has no server-to-server service).</summary>
    public async Task<IReadOnlyList<S2sTarget>> ResolveAsync(string domain, CancellationToken cancel)
    {
        if (_routes.TryGetValue(domain, out var route)) return [route];
        if (_dns is null) return [];
        var direct = QueryAsync(DirectTlsSrvPrefix + domain + ".", cancel);
        var plain = QueryAsync(SrvPrefix + domain + ".", cancel);
        var tlsRecords = await direct.ConfigureAwait(false);
        var records = await plain.ConfigureAwait(false);
        if (tlsRecords.Count == 0 && records.Count == 0) return [new S2sTarget(domain, DefaultPort)]; // §3.2.2: A/AAAA on 5269
        var tlsNone = IsNoService(tlsRecords);
        var plainNone = IsNoService(records);
        if ((tlsNone || tlsRecords.Count == 0) && (plainNone || records.Count == 0)) return []; // "service decidedly not available"
        var merged = new List<(SrvRecord Record, bool DirectTls)>(tlsRecords.Count + records.Count);
        if (!tlsNone) foreach (var r in tlsRecords) merged.Add((r, true));
        if (!plainNone) foreach (var r in records) merged.Add((r, false));
        return OrderSrv(merged);
    }

    private async Task<List<SrvRecord>> QueryAsync(string name, CancellationToken cancel)
    {
        var answer = await _dns!.QueryAsync(name, QueryType.SRV, QueryClass.IN, cancel).ConfigureAwait(false);
        var records = new List<SrvRecord>();
        if (!answer.HasError)
            foreach (var r in answer.Answers.SrvRecords()) records.Add(r);
        return records;
    }

    /// <summary>RFC 6120 §3.2.1 step 4 (and XEP-0368 for its own records): one record with target ".".</summary>
    private static bool IsNoService(List<SrvRecord> records) => records.Count == 1 && records[0].Target.Value is "." or "";

    /// <summary>RFC 2782 on plain records (STARTTLS targets).</summary>
    internal static IReadOnlyList<S2sTarget> OrderSrv(List<SrvRecord> records)
    {
        var tagged = new List<(SrvRecord, bool)>(records.Count);
        foreach (var r in records) tagged.Add((r, false));
        return OrderSrv(tagged);
    }

    /// <summary>RFC 2782: lowest priority first; within a priority, a weighted random order.</summary>
    internal static IReadOnlyList<S2sTarget> OrderSrv(List<(SrvRecord Record, bool DirectTls)> tagged)
    {
        tagged.Sort((a, b) => a.Record.Priority.CompareTo(b.Record.Priority));
        var records = new List<SrvRecord>(tagged.Count);
        foreach (var t in tagged) records.Add(t.Record);
        records.Sort((a, b) => a.Priority.CompareTo(b.Priority));
        var ordered = new List<S2sTarget>(records.Count);
        var i = 0;
        while (i < records.Count)
        {
            var j = i;
            while (j < records.Count && records[j].Priority == records[i].Priority) j++;
            var group = records.GetRange(i, j - i);
            while (group.Count > 0)
            {
                var total = 0;
                foreach (var r in group) total += r.Weight;
                var pick = 0;
                if (total > 0)
                {
                    var roll = Random.Shared.Next(total + 1);
                    var sum = 0;
                    for (pick = 0; pick < group.Count; pick++)
                    {
                        sum += group[pick].Weight;
                        if (sum >= roll) break;
                    }
                    if (pick == group.Count) pick = group.Count - 1;
                }
                var chosen = group[pick];
                group.RemoveAt(pick);
                ordered.Add(new S2sTarget(chosen.Target.Value.TrimEnd('.'), chosen.Port, DirectTlsOf(tagged, chosen)));
            }
            i = j;
        }
        return ordered;
    }

    private static bool DirectTlsOf(List<(SrvRecord Record, bool DirectTls)> tagged, SrvRecord record)
    {
        foreach (var t in tagged)
            if (ReferenceEquals(t.Record, record)) return t.DirectTls;
        return false;
    }

    /// <summary>Resolves <paramref name="domain"/> and connects to the first target address that accepts; throws
    /// <see cref="S2sUnreachableException"/> when none does.</summary>
    public async Task<S2sConnection> ConnectAsync(string domain, CancellationToken cancel)
    {
        IReadOnlyList<S2sTarget> targets;
        try
        {
            targets = await ResolveAsync(domain, cancel).ConfigureAwait(false);
        }
        catch (DnsResponseException ex)
        {
            throw new S2sUnreachableException($"{domain}: DNS failed ({ex.Message})");
        }
        if (targets.Count == 0) throw new S2sUnreachableException($"{domain} offers no server-to-server service");
        string? last = null;
        foreach (var target in targets)
        {
            IPAddress[] addresses;
            if (IPAddress.TryParse(target.Host, out var literal)) addresses = [literal];
            else
            {
                try { addresses = await Dns.GetHostAddressesAsync(target.Host, cancel).ConfigureAwait(false); }
                catch (SocketException ex)
                {
                    last = $"{target.Host}: {ex.SocketErrorCode}";
                    continue;
                }
            }
            foreach (var address in addresses)
            {
                var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(address, target.Port), cancel).ConfigureAwait(false);
                    return new S2sConnection(socket, target.DirectTls);
                }
                catch (SocketException ex)
                {
                    socket.Dispose();
                    last = $"{address}:{target.Port}: {ex.SocketErrorCode}";
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            }
        }
        throw new S2sUnreachableException($"{domain}: no server accepted ({last ?? "no address"})");
    }
}

/// <summary>A remote domain could not be resolved or connected (RFC 6120 §8.3.3.14 remote-server-not-found).</summary>
public sealed class S2sUnreachableException(string message) : Exception(message);

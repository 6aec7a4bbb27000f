using System.Buffers;
using System.Globalization;
using System.Text;
using Actors.Xmpp.Server.Accounts;
using Actors.Xmpp.Server.Sasl;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Server.Users.Events;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Server.Portability;

/// <summary>What an export or an import did (the CLI prints it).</summary>
public sealed record PortabilityReport(int Hosts, int Accounts, int AccountsExisting, int RosterItems, int PluginElements,
    IReadOnlyList<string> Warnings);

/// <summary>
/// XEP-0227 export and import of a running server's accounts (ejabberd's export_piefxis, Prosody's
/// mod_storage_xep0227): one &lt;host/&gt; per served domain, one &lt;user/&gt; per account with its SCRAM credentials
/// (§4.2.1; the server keeps no password to export), its roster (§4.3) and pending subscription requests (§4.8), and
/// what each plugin exports for it (<see cref="PortableDataRegistry"/>: vCard, private XML, offline messages).
/// Import reads the same, a password attribute or SCRAM credentials, XEP-0227 1.0+ or the older namespace, and
/// XInclude'd files in the same folder (ejabberd writes one file per host). The file is hostile input: it is parsed by
/// the stream framer (no DTD, no entities) under a size cap; an account that exists keeps its credentials and gets
/// the file's data added.
/// </summary>
public sealed class ServerDataPortability(ServerContext server)
{
    /// <summary>The largest file (and XInclude'd file) an import reads.</summary>
    public const long MaxFileBytes = 256L * 1024 * 1024;
    private const int MaxIncludeDepth = 2;
    private static readonly TimeSpan UserTimeout = TimeSpan.FromSeconds(30);

    // ------------------------------------------------------------------ export

    /// <summary>Writes the accounts of <paramref name="domain"/> (null: every served domain) to <paramref name="path"/>.</summary>
    public async Task<PortabilityReport> ExportAsync(string path, string? domain, CancellationToken cancellationToken)
    {
        if (domain is not null && !server.Serves(domain)) throw new ArgumentException($"'{domain}' is not a domain this server serves");
        var warnings = new List<string>();
        int hosts = 0, accounts = 0, items = 0, pluginElements = 0;
        var plugins = server.PortableData.All();
        var temp = path + ".part";
        await using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 64 * 1024, useAsync: true))
        {
            var output = new ArrayBufferWriter<byte>(16 * 1024);
            Write(output, "<?xml version='1.0' encoding='UTF-8'?>\n<server-data xmlns='" + PortableFormat.Ns + "'>\n");
            var all = server.Accounts.List();
            foreach (var host in domain is null ? server.Domains : [domain])
            {
                hosts++;
                Write(output, "  <host jid='" + Escape(host) + "'>\n");
                foreach (var account in all)
                {
                    if (account.Domain != host) continue;
                    cancellationToken.ThrowIfCancellationRequested();
                    var user = new Element(PortableFormat.User, PortableFormat.Ns).SetAttr("name", account.Local);
                    if (await server.Accounts.FindAsync(account).ConfigureAwait(false) is { } credentials)
                        foreach (var c in credentials.Scram) user.Add(Scram(c));
                    var state = await server.Router.Users!.Ask<UserSnapshot>(account, UserActor.GetState.Instance, UserTimeout).ConfigureAwait(false);
                    if (state.Roster.Length > 0)
                    {
                        var query = user.AddChild("query", Ns.Roster);
                        foreach (var item in state.Roster) query.Add(RosterItem(item));
                        items += state.Roster.Length;
                    }
                    foreach (var request in state.PendingIn)
                    {
                        try { user.Add(Element.Parse(request.Stanza)); }
                        catch (FormatException) { warnings.Add($"{account}: a stored subscription request from {request.From} is not XML; left out"); }
                    }
                    foreach (var (plugin, data) in plugins)
                    {
                        IReadOnlyList<Element> elements;
                        try { elements = await data.Export(account, cancellationToken).ConfigureAwait(false); }
                        catch (Exception ex) when (ex is not OperationCanceledException)
                        {
                            warnings.Add($"{account}: plugin '{plugin}' could not export <{data.Name}/>: {ex.Message}");
                            continue;
                        }
                        foreach (var e in elements)
                        {
                            user.Add(e.Clone());
                            pluginElements++;
                        }
                    }
                    Write(output, "    ");
                    user.WriteTo(output, PortableFormat.Ns);
                    Write(output, "\n");
                    accounts++;
                    if (output.WrittenCount > 64 * 1024)
                    {
                        await file.WriteAsync(output.WrittenMemory, cancellationToken).ConfigureAwait(false);
                        output.ResetWrittenCount();
                    }
                }
                Write(output, "  </host>\n");
            }
            Write(output, "</server-data>\n");
            await file.WriteAsync(output.WrittenMemory, cancellationToken).ConfigureAwait(false);
            await file.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        File.Move(temp, path, overwrite: true); // a reader never sees half a file
        return new PortabilityReport(hosts, accounts, 0, items, pluginElements, warnings);
    }

    private static Element Scram(ScramCredential c)
    {
        var e = new Element(PortableFormat.ScramCredentials, PortableFormat.ScramNs).SetAttr("mechanism", PortableFormat.Mechanism(c.Hash));
        e.AddChild(PortableFormat.IterationCount, PortableFormat.ScramNs).AddText(c.Iterations.ToString(CultureInfo.InvariantCulture));
        e.AddChild(PortableFormat.Salt, PortableFormat.ScramNs).AddText(Convert.ToBase64String(c.Salt));
        e.AddChild(PortableFormat.ServerKey, PortableFormat.ScramNs).AddText(Convert.ToBase64String(c.ServerKey));
        e.AddChild(PortableFormat.StoredKey, PortableFormat.ScramNs).AddText(Convert.ToBase64String(c.StoredKey));
        return e;
    }

    private static Element RosterItem(RosterItemState item)
    {
        // RFC 6121 §2.1.2: the item as a roster result carries it
        var e = new Element("item", Ns.Roster).SetAttr("jid", item.Jid).SetAttr("subscription", item.Subscription);
        if (!string.IsNullOrEmpty(item.Name)) e.SetAttr("name", item.Name);
        if (item.Ask) e.SetAttr("ask", "subscribe");
        if (item.Approved) e.SetAttr("approved", "true");
        foreach (var g in item.Groups) e.AddChild("group", Ns.Roster).AddText(g);
        return e;
    }

    private static void Write(ArrayBufferWriter<byte> output, string text) => Encoding.UTF8.GetBytes(text, output);

    private static string Escape(string text) => text.Replace("&", "&amp;").Replace("'", "&apos;").Replace("<", "&lt;");

    // ------------------------------------------------------------------ import

    /// <summary>Reads <paramref name="path"/> and stores what it holds for the domains this server serves (other hosts
    /// are skipped with a warning).</summary>
    public async Task<PortabilityReport> ImportAsync(string path, CancellationToken cancellationToken)
    {
        var report = new Counts();
        await ImportFileAsync(Path.GetFullPath(path), 0, report, cancellationToken).ConfigureAwait(false);
        return new PortabilityReport(report.Hosts, report.Accounts, report.Existing, report.RosterItems, report.PluginElements, report.Warnings);
    }

    private sealed class Counts
    {
        public int Hosts, Accounts, Existing, RosterItems, PluginElements;
        public readonly List<string> Warnings = new();
    }

    private async Task ImportFileAsync(string path, int depth, Counts counts, CancellationToken cancellationToken)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"no file {path}");
        if (info.Length > MaxFileBytes) throw new InvalidDataException($"{path} is larger than {MaxFileBytes} bytes");
        var bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        var document = Parse(bytes, path);
        var root = document.Root;
        foreach (var child in document.Children)
        {
            if (child.Is(PortableFormat.Include, PortableFormat.XIncludeNs))
            {
                await IncludeAsync(path, child, depth, counts, cancellationToken).ConfigureAwait(false);
                continue;
            }
            if (root.Name == PortableFormat.ServerData && child.Name == PortableFormat.Host && PortableFormat.IsFileNamespace(child.Namespace))
                await ImportHostAsync(path, child, depth, counts, cancellationToken).ConfigureAwait(false);
            else if (root.Name == PortableFormat.Host && child.Name == PortableFormat.User && PortableFormat.IsFileNamespace(child.Namespace))
                await ImportUserAsync(root.Attr("jid"), child, counts, cancellationToken).ConfigureAwait(false);
            else counts.Warnings.Add($"{Path.GetFileName(path)}: <{child.Name} xmlns='{child.Namespace}'/> under <{root.Name}/> is not XEP-0227; skipped");
        }
    }

    /// <summary>XEP-0227 §5: a file of the same folder (ejabberd's export_piefxis writes one per host); nothing outside it.</summary>
    private async Task IncludeAsync(string from, Element include, int depth, Counts counts, CancellationToken cancellationToken)
    {
        var href = include.Attr("href");
        if (depth >= MaxIncludeDepth) throw new InvalidDataException($"{Path.GetFileName(from)}: XInclude nested more than {MaxIncludeDepth} deep");
        if (string.IsNullOrEmpty(href) || href.Contains('/') || href.Contains('\\') || href.Contains(':') || href is "." or "..")
            throw new InvalidDataException($"{Path.GetFileName(from)}: XInclude href '{href}' is not a file name in the same folder");
        await ImportFileAsync(Path.Combine(Path.GetDirectoryName(from)!, href), depth + 1, counts, cancellationToken).ConfigureAwait(false);
    }

    private async Task ImportHostAsync(string path, Element host, int depth, Counts counts, CancellationToken cancellationToken)
    {
        counts.Hosts++;
        foreach (var child in host.Elements())
        {
            if (child.Is(PortableFormat.Include, PortableFormat.XIncludeNs)) await IncludeAsync(path, child, depth, counts, cancellationToken).ConfigureAwait(false);
            else if (child.Name == PortableFormat.User && PortableFormat.IsFileNamespace(child.Namespace))
                await ImportUserAsync(host.Attr("jid"), child, counts, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ImportUserAsync(string? domain, Element user, Counts counts, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var name = user.Attr("name");
        if (domain is null || !server.Serves(domain))
        {
            counts.Warnings.Add($"{name}@{domain}: not a domain this server serves; skipped");
            return;
        }
        if (string.IsNullOrEmpty(name) || !Jid.TryParse(name + "@" + domain, out var parsed) || parsed is null || parsed.Local is null)
        {
            counts.Warnings.Add($"'{name}'@{domain}: not a valid account name; skipped");
            return;
        }
        var account = parsed.Bare;
        if (server.Accounts.Exists(account)) counts.Existing++;
        else if (!await CreateAsync(account, user, counts).ConfigureAwait(false)) return;
        counts.Accounts++;

        var roster = new List<RosterItemState>();
        var pending = new List<SubscriptionRequestState>();
        var plugins = server.PortableData.All();
        foreach (var child in user.Elements())
        {
            if (child.Is("query", Ns.Roster)) ReadRoster(account, child, roster, counts);
            else if (child.Is("presence", Ns.Client) && child.Type == "subscribe" && child.From is { } from
                     && Jid.TryParse(from, out var requester) && requester is not null)
                pending.Add(new SubscriptionRequestState(requester.Bare.ToString(), child.ToString()));
            else if (child.Is(PortableFormat.ScramCredentials, PortableFormat.ScramNs)) { }
            else
            {
                var handled = false;
                foreach (var (plugin, data) in plugins)
                {
                    var ns = data.Namespace.Length == 0 ? null : data.Namespace;
                    if (child.Name != data.Name || (ns is null ? !PortableFormat.IsFileNamespace(child.Namespace) : child.Namespace != ns)) continue;
                    handled = true;
                    try
                    {
                        await data.Import(account, child.Clone(), cancellationToken).ConfigureAwait(false);
                        counts.PluginElements++;
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        counts.Warnings.Add($"{account}: plugin '{plugin}' could not import <{child.Name}/>: {ex.Message}");
                    }
                    break;
                }
                if (!handled) counts.Warnings.Add($"{account}: no loaded plugin takes <{child.Name} xmlns='{child.Namespace}'/>; skipped");
            }
        }
        if (roster.Count > 0 || pending.Count > 0)
        {
            var imported = await server.Router.Users!.Ask<UserActor.DataImported>(account, new UserActor.ImportData(roster, pending), UserTimeout)
                .ConfigureAwait(false);
            counts.RosterItems += imported.RosterItems;
        }
    }

    /// <summary>§4.2: a password attribute (discouraged by 1.1, still what older exporters write), or §4.2.1's SCRAM
    /// credentials; an account with neither cannot log in and is not created.</summary>
    private async Task<bool> CreateAsync(Jid account, Element user, Counts counts)
    {
        if (user.Attr("password") is { Length: > 0 } password)
        {
            await server.Accounts.AddAsync(account, password).ConfigureAwait(false);
            return true;
        }
        var credentials = new List<ScramCredential>();
        foreach (var s in user.Elements(PortableFormat.ScramCredentials, PortableFormat.ScramNs))
        {
            var hash = PortableFormat.HashOf(s.Attr("mechanism"));
            if (hash is null)
            {
                counts.Warnings.Add($"{account}: SCRAM mechanism '{s.Attr("mechanism")}' is not one this server keeps; left out");
                continue;
            }
            try
            {
                credentials.Add(ReadScram(hash, s));
            }
            catch (FormatException)
            {
                counts.Warnings.Add($"{account}: malformed {s.Attr("mechanism")} credentials; left out");
            }
        }
        if (credentials.Count == 0)
        {
            counts.Warnings.Add($"{account}: no password and no usable SCRAM credentials; not created");
            return false;
        }
        if (server.Accounts is not JournalAccountStore store)
            throw new InvalidOperationException("this account store cannot take SCRAM credentials; import accounts with passwords");
        await store.ImportAsync([(account, new UserCredentials(account.Local!, credentials))]).ConfigureAwait(false);
        return true;
    }

    /// <summary>§4.2.1's keys, base64 of the raw bytes. ejabberd 23.01's export_piefxis encodes the base64 text it
    /// stores once more: when a key does not decode to the hash's length but its text does, the file is read that way
    /// (salt included), so that its accounts can log in.</summary>
    private static ScramCredential ReadScram(string hash, Element s)
    {
        var length = hash switch { ScramKeys.Sha1 => 20, ScramKeys.Sha256 => 32, _ => 64 };
        var stored = Base64(s.ChildText(PortableFormat.StoredKey, PortableFormat.ScramNs));
        var server = Base64(s.ChildText(PortableFormat.ServerKey, PortableFormat.ScramNs));
        var salt = Base64(s.ChildText(PortableFormat.Salt, PortableFormat.ScramNs));
        var iterations = int.Parse(s.ChildText(PortableFormat.IterationCount, PortableFormat.ScramNs) ?? "", NumberStyles.None, CultureInfo.InvariantCulture);
        if (stored.Length != length || server.Length != length)
        {
            if (!TwiceEncoded(stored, out stored) || !TwiceEncoded(server, out server) || !TwiceEncoded(salt, out salt)
                || stored.Length != length || server.Length != length)
                throw new FormatException($"the keys are not {length} bytes");
        }
        if (iterations < 1 || salt.Length == 0) throw new FormatException("no salt or iteration count");
        return new ScramCredential(hash, salt, iterations, stored, server);
    }

    private static byte[] Base64(string? text) => Convert.FromBase64String(text?.Trim() ?? "");

    private static bool TwiceEncoded(byte[] once, out byte[] twice)
    {
        twice = new byte[once.Length];
        if (Convert.TryFromBase64String(Encoding.ASCII.GetString(once), twice, out var written))
        {
            twice = twice[..written];
            return true;
        }
        return false;
    }

    private static void ReadRoster(Jid account, Element query, List<RosterItemState> roster, Counts counts)
    {
        foreach (var item in query.Elements("item", Ns.Roster))
        {
            if (item.Attr("jid") is not { } text || !Jid.TryParse(text, out var contact) || contact is null)
            {
                counts.Warnings.Add($"{account}: roster item '{item.Attr("jid")}' is not a JID; skipped");
                continue;
            }
            var subscription = item.Attr("subscription") is "to" or "from" or "both" ? item.Attr("subscription")! : "none";
            var groups = new List<string>();
            foreach (var g in item.Elements("group", Ns.Roster))
                if (!string.IsNullOrEmpty(g.Text) && !groups.Contains(g.Text)) groups.Add(g.Text);
            roster.Add(new RosterItemState(contact.Bare.ToString(), item.Attr("name"), groups.ToArray(), subscription,
                item.Attr("ask") == "subscribe", item.Attr("approved") is "true" or "1"));
        }
    }

    // ------------------------------------------------------------------ parsing

    private sealed record Document(Element Root, List<Element> Children);

    /// <summary>The root and its children, read by the stream framer (restricted XML: no DTD, no entity, no PI but the
    /// declaration), the root standing where a stream header stands.</summary>
    private static Document Parse(byte[] bytes, string path)
    {
        var sink = new DocumentSink();
        var framer = new XmppFramer(sink, new FramerLimits((int)Math.Min(int.MaxValue, Math.Max(64 * 1024, bytes.LongLength + 1024)), 32, 64,
            int.MaxValue, int.MaxValue));
        framer.Feed(bytes);
        if (sink.Error is not null) throw new InvalidDataException($"{Path.GetFileName(path)}: {sink.Error}");
        if (sink.Root is null) throw new InvalidDataException($"{Path.GetFileName(path)}: no root element");
        if (!sink.Closed) throw new InvalidDataException($"{Path.GetFileName(path)}: the document ends before </{sink.Root.Name}>");
        if (!PortableFormat.IsFileNamespace(sink.Root.Namespace) || sink.Root.Name is not (PortableFormat.ServerData or PortableFormat.Host))
            throw new InvalidDataException($"{Path.GetFileName(path)}: the root is <{sink.Root.Name} xmlns='{sink.Root.Namespace}'/>, not XEP-0227's <server-data xmlns='{PortableFormat.Ns}'/>");
        return new Document(sink.Root, sink.Children);
    }

    private sealed class DocumentSink : IFramerSink
    {
        public Element? Root;
        public readonly List<Element> Children = new();
        public string? Error;
        public bool Closed;

        public void OnStreamOpen(StreamHeader header)
        {
            var root = new Element(header.Name, header.Namespace);
            foreach (var a in header.Attributes) root.AddAttrUnchecked(a.Name, a.Value, a.Namespace);
            Root = root;
        }

        public void OnStanza(Element stanza) => Children.Add(stanza);
        public void OnStreamClose() => Closed = true;
        public void OnError(FramerErrorCondition condition, string text) => Error ??= condition + ": " + text;
    }
}

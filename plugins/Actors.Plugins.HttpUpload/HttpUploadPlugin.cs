using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;
using Microsoft.Extensions.Logging;
using XNs = Actors.Xmpp.Ns;

namespace Actors.Plugins.HttpUpload;

/// <summary>
/// XEP-0363 HTTP file upload at upload.&lt;domain&gt; (Prosody's mod_http_file_share): a local account asks the service
/// for a slot (§4), gets a PUT and a GET URL on the server's HTTP host under <see cref="UploadOptions.PathPrefix"/>, puts
/// the file (§6: Content-Length must be the slot's size, Content-Type the slot's) and anyone with the GET URL reads it.
/// Files live under the plugin's data folder (<see cref="UploadFiles"/>); sizes, a per-account quota, slot expiry and
/// the cleanup of old files are enforced here.
/// </summary>
[Xep(363, "1.1.0")]
public sealed class HttpUploadPlugin : IXmppPlugin
{
    private const int CopyBufferBytes = 64 * 1024;
    private UploadFiles? _files;
    private byte[]? _restored;

    public PluginDescriptor Descriptor { get; } = new("upload", "1.0.0", [PluginDependency.Soft("disco")]);

    public byte[]? SaveState() => _files?.SaveSlots();

    public void RestoreState(byte[] state)
    {
        if (_files is null) _restored = state;
        else _files.RestoreSlots(state);
    }

    public void Configure(IPluginContext ctx)
    {
        var options = ctx.Options<UploadOptions>();
        var files = _files = new UploadFiles(ctx.DataDirectory);
        if (_restored is not null) files.RestoreSlots(_restored);

        // §3: identity store/file, the feature, and max-file-size as an XEP-0128 form
        var form = new Element("x", XNs.DataForms).SetAttr("type", "result");
        form.AddChild("field").SetAttr("var", "FORM_TYPE").SetAttr("type", "hidden").AddChild("value").AddText(UploadNs.Upload);
        form.AddChild("field").SetAttr("var", UploadNs.MaxFileSize).AddChild("value").AddText(options.MaxFileSize.ToString(CultureInfo.InvariantCulture));
        var info = new DiscoInfo([new DiscoIdentity("store", "file", options.Name)], [UploadNs.Upload], [form]);
        ctx.OwnService(options.Subdomain, info, s =>
        {
            var stanza = s.Stanza;
            if (stanza.Name == "iq" && stanza.Type == "get" && s.Payload is { } request && request.Is(UploadNs.Request, UploadNs.Upload))
                ctx.SendStanza(Slot(ctx, options, files, s, request));
            else if (stanza.Name == "iq" && stanza.Type is "get" or "set" && s.Error(Conditions.ServiceUnavailable) is { } unknown)
                ctx.SendStanza(unknown); // RFC 6120 §8.3.3.19: no other IQ is served here
            else if (stanza.Name == "message" && s.Error(Conditions.ServiceUnavailable) is { } refused)
                ctx.SendStanza(refused);
            return ValueTask.CompletedTask;
        });

        ctx.MapHttp(options.PathPrefix, exchange => Serve(ctx, options, files, exchange));

        // file system work off the timer actor's thread (no blocking inside actors)
        ctx.Every(TimeSpan.FromSeconds(options.CleanupSeconds), _ => Task.Run(() => Cleanup(ctx, options, files, DateTimeOffset.UtcNow)));
        _ = Task.Run(() => files.Usage("")); // count what is on disk now, not in the first slot request
    }

    // ------------------------------------------------------------------ §4 and §5: slot requests
    private static Element Slot(IPluginContext ctx, UploadOptions options, UploadFiles files, AddressedStanza s, Element request)
    {
        // §5: a service may refuse whom it does not serve (only accounts of this server upload here)
        if (!ctx.Domains.Contains(s.From.Domain) || s.From.Local is null)
            return s.Error(Conditions.NotAllowed, "Only accounts of this server may upload files")!;
        // §4: filename and size MUST be present
        var rawName = request.Attr("filename");
        if (string.IsNullOrEmpty(rawName) || !long.TryParse(request.Attr("size"), NumberStyles.None, CultureInfo.InvariantCulture, out var size) || size < 0)
            return s.Error(Conditions.BadRequest, "A slot request needs a filename and a size in bytes")!;
        var contentType = UploadNs.DefaultContentType; // §6: assumed when the client names none
        if (request.Attr("content-type") is { Length: > 0 } requested)
        {
            if (UploadFiles.NormalizeContentType(requested) is not { } normalized) return s.Error(Conditions.BadRequest, "Not a media type")!;
            contentType = normalized;
        }
        if (size > options.MaxFileSize)
        {
            // §5: <not-acceptable/> (modify) with <file-too-large><max-file-size/></file-too-large>
            var tooLarge = s.Error(Conditions.NotAcceptable, $"File too large. The maximum file size is {options.MaxFileSize} bytes")!;
            var error = tooLarge.Child("error", XNs.Client)!;
            error.Add(new Element(UploadNs.FileTooLarge, UploadNs.Upload,
                new Element(UploadNs.MaxFileSize, UploadNs.Upload).AddText(options.MaxFileSize.ToString(CultureInfo.InvariantCulture))));
            return tooLarge;
        }
        var baseUrl = string.IsNullOrEmpty(options.PublicUrl) ? ctx.HttpBaseUrl : options.PublicUrl.TrimEnd('/');
        if (baseUrl is null) return s.Error(Conditions.ServiceUnavailable, "The server has no HTTP listener (Xmpp:Http:Port)")!;

        var name = UploadFiles.SanitizeName(rawName);
        var token = UploadFiles.NewToken();
        var now = DateTimeOffset.UtcNow;
        var slot = new PendingSlot(token, s.From.Bare.ToString(), name, size, contentType, now.AddSeconds(options.SlotSeconds),
            "Bearer " + UploadFiles.Base64Url(RandomNumberGenerator.GetBytes(24)));
        if (!files.TryReserve(slot, options.QuotaBytes))
        {
            // §5: a temporary error with <retry stamp/>: space comes back as open slots expire
            var full = s.Error(Conditions.ResourceConstraint, $"Quota reached: {options.QuotaBytes} bytes per account")!;
            full.Child("error", XNs.Client)!.Add(new Element(UploadNs.Retry, UploadNs.Upload)
                .SetAttr("stamp", now.AddSeconds(options.SlotSeconds).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)));
            return full;
        }
        var url = $"{baseUrl}{options.PathPrefix}/{token}/{Uri.EscapeDataString(name)}";
        var put = new Element("put", UploadNs.Upload).SetAttr("url", url);
        put.Add(new Element("header", UploadNs.Upload).SetAttr("name", "Authorization").AddText(slot.Authorization));
        var payload = new Element(UploadNs.Slot, UploadNs.Upload, put, new Element("get", UploadNs.Upload).SetAttr("url", url));
        ctx.Logger.LogDebug("upload slot {Token} for {Owner}: {Name}, {Size} bytes", token[..6], slot.Owner, name, size);
        return s.Result(payload);
    }

    // ------------------------------------------------------------------ §6: PUT, and GET/HEAD of stored files
    private static async ValueTask Serve(IPluginContext ctx, UploadOptions options, UploadFiles files, IHttpExchange http)
    {
        // the path is /<token>/<name>: the token is the only part that names a file on disk
        var path = http.SubPath;
        var second = path.Length > 1 ? path.IndexOf('/', 1) : -1;
        if (path.Length == 0 || path[0] != '/' || second < 0 || !UploadFiles.IsToken(path.AsSpan(1, second - 1)) || path.IndexOf('/', second + 1) >= 0)
        {
            http.StatusCode = 404;
            return;
        }
        var token = path[1..second];
        string name;
        try { name = Uri.UnescapeDataString(path[(second + 1)..]); }
        catch (UriFormatException) { http.StatusCode = 404; return; }

        switch (http.Method)
        {
            case "PUT":
                await Put(ctx, options, files, http, token, name);
                return;
            case "GET":
            case "HEAD":
                await Get(files, http, token, name, head: http.Method == "HEAD");
                return;
            default:
                http.StatusCode = 405;
                http.SetResponseHeader("Allow", "GET, HEAD, PUT");
                return;
        }
    }

    private static async ValueTask Put(IPluginContext ctx, UploadOptions options, UploadFiles files, IHttpExchange http, string token, string name)
    {
        if (!files.TryGetSlot(token, out var slot))
        {
            http.StatusCode = File.Exists(files.MetaPath(token)) ? 409 : 404; // used already, or never handed out
            return;
        }
        if (slot.Name != name) { http.StatusCode = 404; return; }
        if (!FixedTimeEquals(http.RequestHeader("Authorization"), slot.Authorization)) { http.StatusCode = 403; return; } // §6: the slot's headers
        if (slot.Expires <= DateTimeOffset.UtcNow)
        {
            if (files.TryTakeSlot(slot)) files.Abandon(slot);
            http.StatusCode = 410; // §7: the PUT URL is valid for a short time only
            return;
        }
        // §6: the upload MUST be rejected when Content-Length is not the slot's size
        if (http.RequestContentLength is not { } length) { http.StatusCode = 411; return; }
        if (length != slot.Size) { http.StatusCode = length > slot.Size ? 413 : 400; return; }
        // §6: and SHOULD be when the Content-Type is not the one announced
        var type = http.RequestHeader("Content-Type");
        if (type is not null && UploadFiles.MediaType(type) != UploadFiles.MediaType(slot.ContentType)) { http.StatusCode = 415; return; }
        if (!files.TryTakeSlot(slot)) { http.StatusCode = 409; return; } // a concurrent PUT took it

        var part = files.PartPath(token);
        var complete = false;
        try
        {
            http.AllowRequestBody(slot.Size);
            await using (var output = new FileStream(part, FileMode.CreateNew, FileAccess.Write, FileShare.None, CopyBufferBytes, useAsync: true))
            {
                var buffer = new byte[CopyBufferBytes];
                long total = 0;
                int read;
                while ((read = await http.RequestBody.ReadAsync(buffer, http.Aborted)) > 0)
                {
                    total += read;
                    if (total > slot.Size) break;
                    await output.WriteAsync(buffer.AsMemory(0, read), http.Aborted);
                }
                if (total != slot.Size) { http.StatusCode = 400; return; }
            }
            files.WriteMeta(token, new StoredFile(slot.Owner, slot.Name, slot.Size, slot.ContentType, DateTimeOffset.UtcNow));
            File.Move(part, files.DataPath(token));
            files.Stored(slot);
            complete = true;
            http.StatusCode = 201; // §6: ready to serve at the GET URL
            ctx.Logger.LogDebug("upload {Token} stored: {Size} bytes", token[..6], slot.Size);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException) // a broken or oversized body (the host reports both as IOException)
        {
            http.StatusCode = 400;
        }
        finally
        {
            if (!complete)
            {
                File.Delete(part);
                File.Delete(files.MetaPath(token));
                files.Abandon(slot); // the slot is used up; its reservation is not
            }
        }
    }

    private static async ValueTask Get(UploadFiles files, IHttpExchange http, string token, string name, bool head)
    {
        if (files.ReadMeta(token) is not { } file || file.Name != name || !File.Exists(files.DataPath(token)))
        {
            http.StatusCode = 404;
            return;
        }
        FileStream stream;
        try { stream = new FileStream(files.DataPath(token), FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, CopyBufferBytes, useAsync: true); }
        catch (FileNotFoundException) { http.StatusCode = 404; return; }
        await using (stream)
        {
            // only types a browser renders without running anything are served as stored; everything else is a download
            var mediaType = UploadFiles.MediaType(file.ContentType);
            var inline = UploadFiles.IsInline(mediaType);
            http.StatusCode = 200;
            http.SetResponseHeader("Content-Type", inline ? file.ContentType : UploadNs.DefaultContentType);
            http.SetResponseHeader("Content-Disposition", UploadFiles.ContentDisposition(file.Name, inline));
            http.SetResponseHeader("X-Content-Type-Options", "nosniff");
            http.SetResponseHeader("Content-Security-Policy", "default-src 'none'; sandbox");
            http.SetResponseHeader("Cache-Control", "public, max-age=31536000, immutable");
            http.ResponseContentLength = stream.Length;
            if (head) return;
            await stream.CopyToAsync(http.ResponseBody, CopyBufferBytes, http.Aborted);
        }
    }

    private static bool FixedTimeEquals(string? given, string expected) =>
        given is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), Encoding.UTF8.GetBytes(expected));

    // ------------------------------------------------------------------ §7: expiry and old files
    /// <summary>Drops expired slots, deletes files older than FileLifetimeHours and leftovers of broken uploads.</summary>
    internal static void Cleanup(IPluginContext ctx, UploadOptions options, UploadFiles files, DateTimeOffset now)
    {
        files.ExpireSlots(now);
        var deleted = 0;
        if (options.FileLifetimeHours > 0)
        {
            var oldest = now.AddHours(-options.FileLifetimeHours);
            foreach (var (token, file) in files.StoredFiles().ToList())
                if (file.Uploaded < oldest)
                {
                    files.Delete(token, file);
                    deleted++;
                }
        }
        foreach (var part in Directory.EnumerateFiles(files.Folder, "*.part").ToList())
            if (File.GetLastWriteTimeUtc(part) < now.UtcDateTime.AddHours(-1)) File.Delete(part);
        if (deleted > 0) ctx.Logger.LogInformation("upload: {Count} files older than {Hours} h deleted", deleted, options.FileLifetimeHours);
    }
}

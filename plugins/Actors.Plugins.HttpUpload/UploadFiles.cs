using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Globalization;

namespace Actors.Plugins.HttpUpload;

/// <summary>A slot handed out and not yet used: who asked, for what, until when, and the PUT's Authorization value.</summary>
internal sealed record PendingSlot(string Token, string Owner, string Name, long Size, string ContentType, DateTimeOffset Expires, string Authorization);

/// <summary>What is stored next to an uploaded file (&lt;token&gt;.meta).</summary>
internal sealed record StoredFile(string Owner, string Name, long Size, string ContentType, DateTimeOffset Uploaded);

/// <summary>
/// The files on disk under the plugin's data folder: &lt;token&gt;.bin (the bytes) and &lt;token&gt;.meta (owner, name,
/// type, size, time: tab-separated, none of them can hold a tab or a newline), written as &lt;token&gt;.part first and renamed once complete. A token is 32 random bytes, base64url: the
/// only part of a URL ever used as a file name (the name in the URL is compared, never opened), so no request path
/// reaches outside the folder. Also the open slots and each account's bytes (stored plus reserved) for the quota.
/// </summary>
internal sealed class UploadFiles(string folder)
{
    public const int TokenLength = 43;
    private const int MaxNameLength = 120;

    private readonly ConcurrentDictionary<string, PendingSlot> _slots = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _usage = new(StringComparer.Ordinal);
    private bool _usageLoaded;

    public string Folder => folder;

    public static string NewToken() => Base64Url(RandomNumberGenerator.GetBytes(32));

    public static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Whether <paramref name="token"/> has the shape of a token (and so is a safe file name).</summary>
    public static bool IsToken(ReadOnlySpan<char> token)
    {
        if (token.Length != TokenLength) return false;
        foreach (var c in token)
            if (!char.IsAsciiLetterOrDigit(c) && c != '-' && c != '_') return false;
        return true;
    }

    public string DataPath(string token) => Path.Combine(folder, token + ".bin");
    public string MetaPath(string token) => Path.Combine(folder, token + ".meta");
    public string PartPath(string token) => Path.Combine(folder, token + ".part");

    // ---------------------------------------------------------------- names and types

    /// <summary>
    /// A file name safe to keep and to put in a URL: the last segment of any path, without control characters, without
    /// leading dots, characters outside letters, digits and ". - _ ( ) + , space" replaced by '_', at most 120
    /// characters with the extension kept (XEP-0363 §4: keep the name and its ending intact where possible); "file"
    /// when nothing is left.
    /// </summary>
    public static string SanitizeName(string name)
    {
        var slash = Math.Max(name.LastIndexOf('/'), name.LastIndexOf('\\'));
        if (slash >= 0) name = name[(slash + 1)..];
        var clean = new StringBuilder(name.Length);
        foreach (var rune in name.EnumerateRunes())
        {
            if (Rune.IsControl(rune) || Rune.GetUnicodeCategory(rune) is System.Globalization.UnicodeCategory.Format
                    or System.Globalization.UnicodeCategory.Surrogate or System.Globalization.UnicodeCategory.PrivateUse
                    or System.Globalization.UnicodeCategory.OtherNotAssigned)
                continue;
            if (Rune.IsLetterOrDigit(rune) || rune.Value is '.' or '-' or '_' or '(' or ')' or '+' or ',' or ' ') clean.Append(rune.ToString());
            else clean.Append('_');
        }
        var result = clean.ToString().Trim().TrimStart('.').Trim();
        if (result.Length > MaxNameLength)
        {
            var dot = result.LastIndexOf('.');
            var extension = dot > 0 && result.Length - dot <= 16 ? result[dot..] : "";
            var stem = result[..(MaxNameLength - extension.Length)];
            if (char.IsHighSurrogate(stem[^1])) stem = stem[..^1];
            result = stem + extension;
        }
        return result.Length == 0 ? "file" : result;
    }

    /// <summary>A media type as RFC 9110 §8.3.1 writes it (type "/" subtype, then "; name=value" parameters of tokens or
    /// quoted strings without control characters), lower-cased type and subtype; null when it is not one.</summary>
    public static string? NormalizeContentType(string value)
    {
        if (value.Length is 0 or > 255) return null;
        var semicolon = value.IndexOf(';');
        var mediaType = (semicolon < 0 ? value : value[..semicolon]).Trim();
        var slash = mediaType.IndexOf('/');
        if (slash <= 0 || slash == mediaType.Length - 1 || !IsToken(mediaType.AsSpan(0, slash), true) || !IsToken(mediaType.AsSpan(slash + 1), true)) return null;
        if (semicolon >= 0)
            foreach (var c in value.AsSpan(semicolon))
                if (char.IsControl(c) || c > '~') return null;
        return mediaType.ToLowerInvariant() + (semicolon < 0 ? "" : value[semicolon..]);
    }

    private static bool IsToken(ReadOnlySpan<char> s, bool _)
    {
        foreach (var c in s)
            if (!(char.IsAsciiLetterOrDigit(c) || "!#$&-^_.+".Contains(c))) return false;
        return true;
    }

    /// <summary>The media type without parameters, for comparing a PUT's Content-Type with the slot's.</summary>
    public static string MediaType(string contentType)
    {
        var semicolon = contentType.IndexOf(';');
        return (semicolon < 0 ? contentType : contentType[..semicolon]).Trim().ToLowerInvariant();
    }

    /// <summary>Types a browser shows without running anything: served inline as stored. Every other type (HTML, SVG,
    /// XML, scripts, PDF ...) is served as application/octet-stream with Content-Disposition: attachment.</summary>
    private static readonly string[] InlineTypes =
    [
        "image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/heic", "image/bmp",
        "audio/mpeg", "audio/ogg", "audio/opus", "audio/mp4", "audio/aac", "audio/wav", "audio/webm", "audio/flac",
        "video/mp4", "video/webm", "video/ogg", "video/quicktime", "text/plain",
    ];

    public static bool IsInline(string mediaType) => Array.IndexOf(InlineTypes, mediaType) >= 0;

    /// <summary>RFC 6266 Content-Disposition: an ASCII fallback name and the UTF-8 name (RFC 8187).</summary>
    public static string ContentDisposition(string name, bool inline)
    {
        var ascii = new StringBuilder(name.Length);
        foreach (var c in name) ascii.Append(c is >= ' ' and < '\x7f' and not '"' and not '\\' and not '%' ? c : '_');
        return $"{(inline ? "inline" : "attachment")}; filename=\"{ascii}\"; filename*=UTF-8''{Uri.EscapeDataString(name)}";
    }

    // ---------------------------------------------------------------- slots and quota

    public bool TryGetSlot(string token, out PendingSlot slot) => _slots.TryGetValue(token, out slot!);

    // slots taken by a PUT whose file is not stored yet: still counted against the quota as theirs, so that a usage
    // scan running meanwhile (after a reload) counts them once, neither as an open slot nor as a stored file
    private readonly Dictionary<string, PendingSlot> _taken = new(StringComparer.Ordinal);

    /// <summary>Takes the slot for one PUT (a second PUT on it finds none); end it with <see cref="Stored"/> or
    /// <see cref="Abandon"/>.</summary>
    public bool TryTakeSlot(PendingSlot slot)
    {
        lock (_usage)
        {
            if (!_slots.TryRemove(new KeyValuePair<string, PendingSlot>(slot.Token, slot))) return false;
            _taken[slot.Token] = slot;
            return true;
        }
    }

    /// <summary>The taken slot's file is stored (its meta and data written): its bytes stay counted, as a file now.</summary>
    public void Stored(PendingSlot slot)
    {
        lock (_usage) _taken.Remove(slot.Token);
    }

    /// <summary>The taken slot stored nothing (expired, failed): its reservation is given back.</summary>
    public void Abandon(PendingSlot slot)
    {
        lock (_usage)
        {
            _taken.Remove(slot.Token);
            ReleaseLocked(slot.Owner, slot.Size);
        }
    }

    /// <summary>Opens a slot if the owner's stored and reserved bytes plus its size stay within <paramref name="quota"/>
    /// (0: none).</summary>
    public bool TryReserve(PendingSlot slot, long quota)
    {
        lock (_usage)
        {
            LoadUsage();
            var used = _usage.GetValueOrDefault(slot.Owner);
            if (quota > 0 && used + slot.Size > quota) return false;
            _usage[slot.Owner] = used + slot.Size;
            _slots[slot.Token] = slot;
            return true;
        }
    }

    /// <summary>Gives back reserved or stored bytes (a slot that expired or failed, a file deleted).</summary>
    public void Release(string owner, long size)
    {
        lock (_usage) ReleaseLocked(owner, size);
    }

    private void ReleaseLocked(string owner, long size)
    {
        if (!_usageLoaded) return; // the scan will count what is on disk
        var left = _usage.GetValueOrDefault(owner) - size;
        if (left > 0) _usage[owner] = left;
        else _usage.Remove(owner);
    }

    /// <summary>The owner's bytes counted against the quota (tests and diagnostics).</summary>
    public long Usage(string owner)
    {
        lock (_usage)
        {
            LoadUsage();
            return _usage.GetValueOrDefault(owner);
        }
    }

    private void LoadUsage()
    {
        if (_usageLoaded) return;
        foreach (var (token, file) in StoredFiles())
            if (!_taken.ContainsKey(token)) _usage[file.Owner] = _usage.GetValueOrDefault(file.Owner) + file.Size;
        foreach (var slot in _slots.Values) _usage[slot.Owner] = _usage.GetValueOrDefault(slot.Owner) + slot.Size;
        foreach (var slot in _taken.Values) _usage[slot.Owner] = _usage.GetValueOrDefault(slot.Owner) + slot.Size;
        _usageLoaded = true;
    }

    public IEnumerable<(string Token, StoredFile File)> StoredFiles()
    {
        foreach (var meta in Directory.EnumerateFiles(folder, "*.meta"))
        {
            var token = Path.GetFileNameWithoutExtension(meta);
            if (!IsToken(token)) continue;
            if (ReadMeta(token) is { } file) yield return (token, file);
        }
    }

    // no System.Text.Json here: its caches would keep this collectible plugin's types (and its load context) alive
    public StoredFile? ReadMeta(string token)
    {
        string text;
        try { text = File.ReadAllText(MetaPath(token), Encoding.UTF8); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
        var f = text.Split('\t');
        if (f.Length != 5 || !long.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out var size)
            || !long.TryParse(f[4], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks)) return null;
        return new StoredFile(f[0], f[1], size, f[3], new DateTimeOffset(ticks, TimeSpan.Zero));
    }

    public void WriteMeta(string token, StoredFile file) =>
        File.WriteAllText(MetaPath(token), string.Join('\t', file.Owner, file.Name, file.Size.ToString(CultureInfo.InvariantCulture),
            file.ContentType, file.Uploaded.UtcTicks.ToString(CultureInfo.InvariantCulture)), Encoding.UTF8);

    /// <summary>Deletes a stored file (its bytes first, then its description) and gives its bytes back.</summary>
    public void Delete(string token, StoredFile file)
    {
        File.Delete(DataPath(token));
        File.Delete(MetaPath(token));
        Release(file.Owner, file.Size);
    }

    /// <summary>Drops slots past their expiry and gives their bytes back; returns how many.</summary>
    public int ExpireSlots(DateTimeOffset now)
    {
        var expired = 0;
        foreach (var slot in _slots.Values)
            if (slot.Expires <= now && TryTakeSlot(slot))
            {
                Release(slot.Owner, slot.Size);
                expired++;
            }
        return expired;
    }

    // ---------------------------------------------------------------- reload

    /// <summary>The open slots, a line each (tab-separated fields), for the next version of the plugin.</summary>
    public byte[] SaveSlots()
    {
        var text = new StringBuilder();
        foreach (var slot in _slots.Values)
            text.Append(slot.Token).Append('\t').Append(slot.Owner).Append('\t').Append(slot.Name).Append('\t')
                .Append(slot.Size.ToString(CultureInfo.InvariantCulture)).Append('\t').Append(slot.ContentType).Append('\t')
                .Append(slot.Expires.UtcTicks.ToString(CultureInfo.InvariantCulture)).Append('\t').Append(slot.Authorization).Append('\n');
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    public void RestoreSlots(byte[] state)
    {
        foreach (var line in Encoding.UTF8.GetString(state).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split('\t');
            if (f.Length != 7 || !IsToken(f[0]) || !long.TryParse(f[3], NumberStyles.None, CultureInfo.InvariantCulture, out var size)
                || !long.TryParse(f[5], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks)) continue;
            lock (_usage) // counted once: by the disk scan if it comes later, here if it ran already
            {
                _slots[f[0]] = new PendingSlot(f[0], f[1], f[2], size, f[4], new DateTimeOffset(ticks, TimeSpan.Zero), f[6]);
                if (_usageLoaded) _usage[f[1]] = _usage.GetValueOrDefault(f[1]) + size;
            }
        }
    }
}

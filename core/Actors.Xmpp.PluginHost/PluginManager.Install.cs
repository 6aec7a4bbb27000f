using System.IO.Compression;
using System.Runtime.InteropServices;

namespace Actors.Xmpp.PluginHost;

// `actors-server plugin install PACKAGE.nupkg|FOLDER` (issue 16, plugin SDK): a plugin from outside put in place the
// way the watcher expects a deployment, a whole folder swapped in at once, after the checks a load makes.
public sealed partial class PluginManager
{
    private const string NupkgExtension = ".nupkg";
    private const string LibFolder = "lib/";

    /// <summary>
    /// Installs a plugin from a NuGet package (the files of its lib/&lt;target framework&gt;/ folder, the one this
    /// server runs) or from a folder (a build output): stages it as a dot folder of the plugin directory (the watcher
    /// ignores those), checks it as a load does (one plugin assembly, the contract version this server implements,
    /// its hard dependencies among the loaded plugins), then swaps it in for the folder of that plugin id (an atomic
    /// exchange of the two folders where the system has one, renameat2 on Linux) and removes what it replaced. With
    /// the watcher on, the watcher loads or reloads it; without, this does.
    /// </summary>
    public async Task<PluginResult> InstallAsync(string source)
    {
        var staging = Path.Combine(Directory, ".install-" + Guid.NewGuid().ToString("N")[..12]);
        string id, version, target;
        bool loaded;
        await _gate.WaitAsync();
        try
        {
            try
            {
                if (File.Exists(source) && source.EndsWith(NupkgExtension, StringComparison.OrdinalIgnoreCase)) ExtractPackage(source, staging);
                else if (System.IO.Directory.Exists(source)) CopyFolder(source, staging);
                else return new PluginResult(false, $"{source} is neither a {NupkgExtension} file nor a folder");
                var c = Prepare(staging); // the assembly, one IXmppPlugin, the contract version
                var descriptor = c.Descriptor;
                Release(c.Loader, c.Plugin);
                foreach (var dep in descriptor.DependsOn)
                    if (!dep.Optional && dep.Id != descriptor.Id && !_loaded.ContainsKey(dep.Id))
                        throw new PluginLoadException($"plugin '{descriptor.Id}' depends on plugin '{dep.Id}', which is not loaded here");
                id = descriptor.Id;
                version = descriptor.Version;
            }
            catch (Exception ex) when (ex is PluginLoadException or InvalidDataException or IOException or UnauthorizedAccessException)
            {
                DeleteQuietly(staging);
                return new PluginResult(false, $"not installed: {ex.Message}");
            }
            loaded = _loaded.TryGetValue(id, out var live);
            target = live?.Folder ?? Path.Combine(Directory, id);
            try
            {
                if (System.IO.Directory.Exists(target))
                {
                    SwapFolders(staging, target); // staging now holds what was there
                    DeleteQuietly(staging);
                }
                else System.IO.Directory.Move(staging, target);
            }
            catch (IOException ex)
            {
                DeleteQuietly(staging);
                return new PluginResult(false, $"not installed: cannot move it into {target}: {ex.Message}");
            }
        }
        finally
        {
            _gate.Release();
        }
        var installed = $"installed {id} {version} into {target}";
        if (Options.Watch) return new PluginResult(true, installed + (loaded ? "; the watcher reloads it" : "; the watcher loads it"));
        var result = loaded ? await ReloadAsync(id) : await LoadAsync(target);
        return new PluginResult(result.Ok, installed + "; " + result.Message) { Released = result.Released };
    }

    /// <summary>The package's lib/&lt;tfm&gt;/ files for this runtime (net&lt;major&gt;.0), flattened into
    /// <paramref name="folder"/>. A package is input from outside: an entry naming a path outside the folder is refused.</summary>
    private static void ExtractPackage(string package, string folder)
    {
        using var zip = ZipFile.OpenRead(package);
        var tfm = $"net{Environment.Version.Major}.0";
        var prefix = LibFolder + tfm + "/";
        var root = Path.GetFullPath(folder) + Path.DirectorySeparatorChar;
        var found = false;
        foreach (var entry in zip.Entries)
        {
            var name = entry.FullName.Replace('\\', '/');
            if (!name.StartsWith(prefix, StringComparison.Ordinal) || name.EndsWith('/')) continue;
            var path = Path.GetFullPath(Path.Combine(folder, name[prefix.Length..]));
            if (!path.StartsWith(root, StringComparison.Ordinal))
                throw new InvalidDataException($"the package's entry '{entry.FullName}' points outside its folder");
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            entry.ExtractToFile(path, overwrite: false);
            found = true;
        }
        if (!found) throw new InvalidDataException($"the package has no {prefix} files (a plugin package for this server targets {tfm})");
    }

    private static void CopyFolder(string source, string target)
    {
        source = Path.GetFullPath(source);
        foreach (var file in System.IO.Directory.GetFiles(source, "*", SearchOption.AllDirectories))
        {
            var to = Path.Combine(target, Path.GetRelativePath(source, file));
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(file, to);
        }
    }

    /// <summary>Exchanges two folders of the same file system: atomically with renameat2(RENAME_EXCHANGE) on Linux (a
    /// watcher or a loader never sees the id without a folder), else with two renames.</summary>
    private static void SwapFolders(string a, string b)
    {
        if (OperatingSystem.IsLinux())
        {
            try
            {
                if (RenameAt2(AtCurrentDirectory, a, AtCurrentDirectory, b, RenameExchange) == 0) return;
            }
            catch (EntryPointNotFoundException) { } // a C library without renameat2
            catch (DllNotFoundException) { }
        }
        // b aside under a dot name (ignored by the watcher), a into b's place, then what was b where a was
        var aside = Path.Combine(Path.GetDirectoryName(b)!, "." + Path.GetFileName(b) + ".old-" + Guid.NewGuid().ToString("N")[..6]);
        System.IO.Directory.Move(b, aside);
        System.IO.Directory.Move(a, b);
        System.IO.Directory.Move(aside, a);
    }

    private const int AtCurrentDirectory = -100; // AT_FDCWD
    private const uint RenameExchange = 2;       // RENAME_EXCHANGE

    [DllImport("libc", EntryPoint = "renameat2", SetLastError = true)]
    private static extern int RenameAt2(int oldDirectory, [MarshalAs(UnmanagedType.LPUTF8Str)] string oldPath, int newDirectory,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string newPath, uint flags);

    private static void DeleteQuietly(string folder)
    {
        try
        {
            if (System.IO.Directory.Exists(folder)) System.IO.Directory.Delete(folder, recursive: true);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

using System.CommandLine;

namespace Actors.Host.Server;

/// <summary>
/// Configuration overrides on the command line, kept apart from the commands so that parsing stays strict (an unknown
/// command or option is an error): <c>--set Xmpp:C2sPort=5222</c> (repeatable, on every command), and the older form
/// <c>--Xmpp:C2sPort=5222</c> / <c>--Xmpp:C2sPort 5222</c> that scripts and the test harness pass. The older form is
/// recognised by the ':' in its name (no option of the CLI has one) and taken out before parsing.
/// </summary>
internal static class ConfigOverrides
{
    public static readonly Option<string[]> Set = new("--set")
    {
        Description = "A configuration override KEY=VALUE, e.g. --set Xmpp:Domain=example.org (repeatable; --Xmpp:Domain=example.org works too)",
        Arity = ArgumentArity.OneOrMore,
        AllowMultipleArgumentsPerToken = false,
        Recursive = true,
        HelpName = "KEY=VALUE",
    };

    static ConfigOverrides()
    {
        Set.Validators.Add(result =>
        {
            foreach (var token in result.Tokens)
                if (token.Value.IndexOf('=') <= 0)
                    result.AddError($"--set {token.Value}: expected KEY=VALUE (for example --set Xmpp:Domain=example.org)");
        });
    }

    /// <summary>The overrides of the older form found by <see cref="Extract"/>.</summary>
    private static string[] _legacy = [];

    /// <summary>Takes the <c>--Section:Key=value</c> and <c>--Section:Key value</c> tokens out of the arguments; the
    /// rest is parsed strictly.</summary>
    public static string[] Extract(string[] args)
    {
        var rest = new List<string>(args.Length);
        var legacy = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (a == "--") // everything after is literal
            {
                for (; i < args.Length; i++) rest.Add(args[i]);
                break;
            }
            if (IsLegacyOverride(a))
            {
                if (a.Contains('=')) legacy.Add(a);
                else if (i + 1 < args.Length) legacy.Add(a + "=" + args[++i]);
                else rest.Add(a); // no value: left to the parser, which rejects it
                continue;
            }
            rest.Add(a);
        }
        _legacy = legacy.ToArray();
        return rest.ToArray();
    }

    private static bool IsLegacyOverride(string token)
    {
        if (!token.StartsWith("--", StringComparison.Ordinal) || token.Length < 4) return false;
        var end = token.IndexOf('=');
        var name = end < 0 ? token.AsSpan(2) : token.AsSpan(2, end - 2);
        var colon = name.IndexOf(':');
        return colon > 0 && colon < name.Length - 1;
    }

    /// <summary>The overrides for the configuration builder (the form Microsoft.Extensions.Configuration's command
    /// line provider reads), the older ones first, then --set in order (a later one wins).</summary>
    public static string[] For(ParseResult parse)
    {
        var set = parse.GetValue(Set) ?? [];
        var all = new string[_legacy.Length + set.Length];
        _legacy.CopyTo(all, 0);
        for (var i = 0; i < set.Length; i++) all[_legacy.Length + i] = "--" + set[i];
        return all;
    }
}

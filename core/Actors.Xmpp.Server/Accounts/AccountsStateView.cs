using Actors.Xmpp.Persistence.Replay;

namespace Actors.Xmpp.Server.Accounts;

/// <summary>"events rebuild accounts:&lt;domain&gt;": the accounts the directory holds (and their SCRAM hashes).</summary>
public sealed class AccountsStateView : IJournalStateView
{
    public bool Handles(string persistenceId) => persistenceId.StartsWith("accounts:", StringComparison.Ordinal);

    public object Empty(string persistenceId) => new SortedDictionary<string, string>(StringComparer.Ordinal);

    public object Apply(object state, object @event)
    {
        var accounts = (SortedDictionary<string, string>)state;
        switch (@event)
        {
            case AccountCreated e: accounts[e.User + "@" + e.Domain] = Hashes(e.Scram); break;
            case AccountPasswordChanged e: accounts[e.User + "@" + e.Domain] = Hashes(e.Scram) + " (password changed)"; break;
            case AccountRemoved e: accounts.Remove(e.User + "@" + e.Domain); break;
            case AccountsSnapshot s:
                accounts.Clear();
                foreach (var a in s.Accounts) accounts[a.User + "@" + s.Domain] = Hashes(a.Scram);
                break;
        }
        return accounts;
    }

    public void Print(object state, TextWriter output)
    {
        var accounts = (SortedDictionary<string, string>)state;
        output.WriteLine($"{accounts.Count} accounts");
        foreach (var (jid, keys) in accounts) output.WriteLine($"  {jid}  [{keys}]");
    }

    private static string Hashes(IReadOnlyList<ScramKeyRecord> scram) => string.Join(", ", scram.Select(s => $"{s.Hash}/{s.Iterations}"));
}

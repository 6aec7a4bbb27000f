using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Plugins;

/// <summary>
/// A plugin's share of an account's data in XEP-0227's portable format (`actors-server export|import`): the elements
/// it writes under an account's &lt;user/&gt; and reads back. The host writes the account itself, its credentials
/// and its roster; each plugin its own data, so that data moves with the plugin that owns it (the vcard plugin its
/// &lt;vCard xmlns='vcard-temp'/&gt;, the private plugin its &lt;query xmlns='jabber:iq:private'/&gt;, the offline
/// plugin its &lt;offline-messages/&gt;).
/// </summary>
/// <param name="Name">The local name of the element this plugin reads back (with <paramref name="Namespace"/>).</param>
/// <param name="Namespace">Its namespace; "" for XEP-0227's own (&lt;offline-messages/&gt; is in the file's namespace).</param>
/// <param name="Export">The account's elements (none: nothing is written for it).</param>
/// <param name="Import">Stores one element found under the account's &lt;user/&gt; (the account exists by then).</param>
public sealed record PortableAccountData(string Name, string Namespace,
    Func<Jid, CancellationToken, Task<IReadOnlyList<Element>>> Export,
    Func<Jid, Element, CancellationToken, Task> Import);

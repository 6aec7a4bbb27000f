using System.Text;
using Actors.Xmpp.Xml;
using Xunit;
using Xunit.Sdk;

namespace Actors.Xmpp.Testing;

/// <summary>
/// Transcript assertions: a received stanza or stream element against an expected XML fragment or a predicate, with
/// failure messages that show what was expected, what arrived and where they differ.
/// </summary>
public static class StanzaAssert
{
    /// <summary>Loose match of <paramref name="actual"/> against the pattern <paramref name="expected"/>: same name and
    /// namespace, every attribute of the pattern with the same value, every child element of the pattern matched by some
    /// child (recursively), and the same text (trimmed) if the pattern has text. Anything else in
    /// <paramref name="actual"/> is ignored.</summary>
    public static bool IsMatch(Element expected, Element actual) => Mismatch(expected, actual, "") is null;

    /// <summary>Fails unless <paramref name="actual"/> matches the XML fragment <paramref name="expected"/> (parsed with
    /// <c>Element.Parse</c>, default namespace jabber:client; see <see cref="IsMatch"/>).</summary>
    public static void Matches(string expected, Element actual) => Matches(Element.Parse(expected), actual);

    /// <inheritdoc cref="Matches(string, Element)"/>
    public static void Matches(Element expected, Element actual)
    {
        var why = Mismatch(expected, actual, "");
        if (why is not null)
            throw new XunitException($"the stanza does not match: {why}\nexpected (at least): {expected}\nactual: {actual}");
    }

    /// <summary>Fails unless <paramref name="predicate"/> accepts <paramref name="actual"/>; <paramref name="description"/>
    /// says what was expected ("a presence from alice").</summary>
    public static void That(Element actual, Func<Element, bool> predicate, string description)
    {
        if (!predicate(actual)) throw new XunitException($"expected {description}, got {actual}");
    }

    /// <summary>An error stanza with this RFC 6120 §8.3.3 condition.</summary>
    public static void Error(Element stanza, string condition)
    {
        Assert.True(stanza.Type == "error", $"expected an error reply, got {stanza}");
        var error = stanza.Child("error", Ns.Client);
        Assert.True(error is not null, $"no <error/> in {stanza}");
        Assert.True(error!.Child(condition, Ns.StanzaErrors) is not null, $"expected <{condition}/>, got {stanza}");
    }

    /// <summary>A &lt;stream:error/&gt; whose RFC 6120 §4.9.3 condition is <paramref name="condition"/>.</summary>
    public static void StreamError(Element element, string condition)
    {
        Assert.True(element.Is("error", Ns.Streams), $"expected <stream:error/>, got {element}");
        var first = element.Elements().FirstOrDefault(c => c.Namespace == Ns.StreamErrors && c.Name != "text");
        Assert.True(first is not null && first.Name == condition, $"expected stream error <{condition}/>, got {element}");
    }

    public static void SaslFailure(Element answer, string condition)
    {
        Assert.True(answer.Is("failure", Ns.Sasl), $"expected a SASL <failure/>, got {answer}");
        Assert.True(answer.Child(condition, Ns.Sasl) is not null, $"expected <{condition}/>, got {answer}");
    }

    public static IReadOnlyList<string> Mechanisms(Element features) =>
        features.Child("mechanisms", Ns.Sasl)?.Elements("mechanism", Ns.Sasl).Select(m => m.Text).ToList() ?? (IReadOnlyList<string>)[];

    /// <summary>Why <paramref name="actual"/> does not match <paramref name="expected"/> (the first difference, with its
    /// path), or null when it matches.</summary>
    private static string? Mismatch(Element expected, Element actual, string path)
    {
        var here = path + "/" + actual.Name;
        if (expected.Name != actual.Name || expected.Namespace != actual.Namespace)
            return $"at {(path.Length == 0 ? "/" : path)}: expected <{expected.Name} xmlns='{expected.Namespace}'>, found <{actual.Name} xmlns='{actual.Namespace}'>";
        foreach (var a in expected.Attributes)
        {
            if (a.Name == "xmlns") continue;
            var value = actual.Attr(a.Name, a.Namespace);
            if (value != a.Value)
                return value is null
                    ? $"at {here}: no attribute {a.Name} (expected '{a.Value}')"
                    : $"at {here}: attribute {a.Name} is '{value}', expected '{a.Value}'";
        }
        foreach (var child in expected.Elements())
        {
            // explain the difference with the one child of that name it must have meant (the only one, or the only
            // one with the attributes given), else list how many there were
            string? closest = null, closestByAttributes = null;
            int candidates = 0, byAttributes = 0;
            var found = false;
            foreach (var c in actual.Elements())
            {
                if (c.Name != child.Name || c.Namespace != child.Namespace) continue;
                candidates++;
                var why = Mismatch(child, c, here);
                if (why is null) { found = true; break; }
                closest ??= why;
                if (AttributesMatch(child, c)) { byAttributes++; closestByAttributes ??= why; }
            }
            if (found) continue;
            if (candidates == 1) return closest;
            if (byAttributes == 1) return closestByAttributes;
            return $"at {here}: no child matches {Describe(child)}" +
                (candidates == 0 ? "" : $" ({candidates} <{child.Name}/> children, none matching)");
        }
        var text = expected.Text.Trim();
        if (text.Length != 0 && actual.Text.Trim() != text)
            return $"at {here}: text is '{actual.Text.Trim()}', expected '{text}'";
        return null;
    }

    private static bool AttributesMatch(Element expected, Element actual)
    {
        foreach (var a in expected.Attributes)
            if (a.Name != "xmlns" && actual.Attr(a.Name, a.Namespace) != a.Value) return false;
        return true;
    }

    private static string Describe(Element e)
    {
        var s = new StringBuilder("<").Append(e.Name).Append(" xmlns='").Append(e.Namespace).Append('\'');
        foreach (var a in e.Attributes)
            if (a.Name != "xmlns") s.Append(' ').Append(a.Name).Append("='").Append(a.Value).Append('\'');
        return s.Append(e.HasChildren ? ">..." : "/>").ToString();
    }
}

using System.Text;
using System.Text.Encodings.Web;

namespace Actors.Xmpp.Server.Http.Admin;

/// <summary>HTML of the web admin's pages: markup written as is, every value from elsewhere (JIDs, plugin errors,
/// journal content, form values) encoded.</summary>
internal sealed class HtmlWriter
{
    private readonly StringBuilder _html = new(4096);

    public HtmlWriter Raw(string markup)
    {
        _html.Append(markup);
        return this;
    }

    /// <summary>Text content, encoded.</summary>
    public HtmlWriter Text(string text)
    {
        _html.Append(HtmlEncoder.Default.Encode(text));
        return this;
    }

    /// <summary>An attribute value (inside quotes), encoded.</summary>
    public HtmlWriter Attr(string value)
    {
        _html.Append(HtmlEncoder.Default.Encode(value));
        return this;
    }

    /// <summary>A value encoded for text or an attribute (to put inside an interpolated string).</summary>
    public static string Encode(string value) => HtmlEncoder.Default.Encode(value);

    public HtmlWriter Hidden(string name, string value) =>
        Raw("<input type='hidden' name='").Attr(name).Raw("' value='").Attr(value).Raw("'>");

    public HtmlWriter P(string text) => Raw("<p>").Text(text).Raw("</p>");

    public HtmlWriter Notice(string text, bool ok) =>
        Raw(ok ? "<div class='notice ok' role='status'>" : "<div class='notice error' role='alert'>").Text(text).Raw("</div>");

    public override string ToString() => _html.ToString();
}

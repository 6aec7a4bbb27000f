using System.Globalization;
using System.Text;

namespace Actors.Xmpp.Server.Http.Admin;

/// <summary>A line chart of the last minutes as a small SVG image (no script, no library).</summary>
internal static class ChartSvg
{
    public const int Width = 340;
    public const int Height = 150;
    private const int Left = 46, Right = 8, Top = 24, Bottom = 20;

    public static string Render(string title, string unit, IReadOnlyList<double> values, TimeSpan interval)
    {
        var max = 0.0;
        for (var i = 0; i < values.Count; i++) max = Math.Max(max, values[i]);
        max = max <= 0 ? 1 : NiceCeiling(max);
        var plotWidth = Width - Left - Right;
        var plotHeight = Height - Top - Bottom;
        var step = (double)plotWidth / (MetricsHistory.Capacity - 1);
        var svg = new StringBuilder(2048);
        svg.Append(CultureInfo.InvariantCulture,
            $"<svg xmlns='http://www.w3.org/2000/svg' width='{Width}' height='{Height}' viewBox='0 0 {Width} {Height}' font-family='sans-serif' font-size='11'>");
        svg.Append("<rect width='100%' height='100%' fill='#fff'/>");
        var last = values.Count > 0 ? values[^1] : 0;
        svg.Append("<text x='4' y='14' font-weight='bold'>").Append(Encode(title)).Append(": ")
            .Append(Format(last)).Append(Encode(unit)).Append("</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<line x1='{Left}' y1='{Top}' x2='{Left}' y2='{Top + plotHeight}' stroke='#999'/>");
        svg.Append(CultureInfo.InvariantCulture, $"<line x1='{Left}' y1='{Top + plotHeight}' x2='{Width - Right}' y2='{Top + plotHeight}' stroke='#999'/>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x='{Left - 4}' y='{Top + 4}' text-anchor='end'>{Format(max)}</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x='{Left - 4}' y='{Top + plotHeight}' text-anchor='end'>0</text>");
        var span = (int)(interval.TotalSeconds * (MetricsHistory.Capacity - 1) / 60);
        svg.Append(CultureInfo.InvariantCulture, $"<text x='{Left}' y='{Height - 4}'>-{span} min</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x='{Width - Right}' y='{Height - 4}' text-anchor='end'>now</text>");
        if (values.Count > 0)
        {
            svg.Append("<polyline fill='none' stroke='#2f6fdf' stroke-width='1.5' points='");
            // the newest sample at the right edge
            var offset = MetricsHistory.Capacity - values.Count;
            for (var i = 0; i < values.Count; i++)
            {
                var x = Left + (offset + i) * step;
                var y = Top + plotHeight - values[i] / max * plotHeight;
                svg.Append(x.ToString("0.#", CultureInfo.InvariantCulture)).Append(',').Append(y.ToString("0.#", CultureInfo.InvariantCulture)).Append(' ');
            }
            svg.Append("'/>");
            // the newest value as a dot (a single sample draws no line)
            var lastY = Top + plotHeight - values[^1] / max * plotHeight;
            svg.Append(CultureInfo.InvariantCulture, $"<circle cx='{Width - Right}' cy='{lastY:0.#}' r='2.5' fill='#2f6fdf'/>");
        }
        svg.Append("</svg>");
        return svg.ToString();
    }

    /// <summary>1, 2 or 5 times a power of ten, at least <paramref name="value"/>.</summary>
    private static double NiceCeiling(double value)
    {
        var power = Math.Pow(10, Math.Floor(Math.Log10(value)));
        foreach (var m in new[] { 1.0, 2.0, 5.0, 10.0 })
            if (m * power >= value) return m * power;
        return 10 * power;
    }

    private static string Format(double value) =>
        value >= 100 || value == Math.Floor(value) ? value.ToString("0", CultureInfo.InvariantCulture) : value.ToString("0.##", CultureInfo.InvariantCulture);

    private static string Encode(string text) => text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal);
}

using System.Globalization;
using Curvature.Core;
using ScottPlot;

namespace Curvature.Experiments;

/// <summary>A named curve: y against x, with an optional band (e.g. mean ± one standard deviation over seeds) drawn shaded behind it.</summary>
public sealed record PlotSeries(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y)
{
    /// <summary>Lower edge of the band at each x, or null for no band.</summary>
    public IReadOnlyList<double>? Lower { get; init; }

    /// <summary>Upper edge of the band at each x, or null for no band.</summary>
    public IReadOnlyList<double>? Upper { get; init; }

    /// <summary>The run diverged: its end is marked with a cross, and its points do not set the y range (so a blow-up does not flatten the other curves).</summary>
    public bool Diverged { get; init; }
}

/// <summary>A horizontal reference line (e.g. the stability threshold 2/η).</summary>
public sealed record ReferenceLine(string Name, double Y);

/// <summary>
/// The report's figures, drawn with ScottPlot and saved as PNG through a temporary file.
/// Log-scale axes plot log10 of the data with ticks labelled in the original units, which
/// is how ScottPlot 5 draws logarithmic axes; points that are not finite and positive
/// (a diverged loss, a zero) cannot sit on a log axis and are left out of the curve.
/// </summary>
public static class Plots
{
    /// <summary>Figure width in pixels.</summary>
    public const int Width = 900;
    /// <summary>Figure height in pixels.</summary>
    public const int Height = 540;

    /// <summary>Curves on linear or log-10 y axes, with optional horizontal reference lines.</summary>
    public static void Lines(string path, string title, string xLabel, string yLabel,
        IReadOnlyList<PlotSeries> series, bool logY = false, IReadOnlyList<ReferenceLine>? references = null,
        bool markers = false)
    {
        ArgumentNullException.ThrowIfNull(series);
        var plt = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        int drawn = 0;
        for (int s = 0; s < series.Count; s++)
        {
            var (xs, ys) = Clean(series[s], logY);
            if (xs.Length == 0) continue;
            var sc = plt.Add.Scatter(xs, ys);
            sc.LegendText = series[s].Name;
            sc.Color = palette.GetColor(s);
            sc.LineWidth = 2;
            sc.MarkerSize = markers || xs.Length == 1 ? 5 : xs.Length <= 60 ? 4 : 0;
            sc.MarkerShape = Shapes[s % Shapes.Length];
            sc.LinePattern = Patterns[s % Patterns.Length];
            if (series[s].Lower is { } lower && series[s].Upper is { } upper)
            {
                var (bx, blo, bhi) = CleanBand(series[s].X, lower, upper, logY);
                if (bx.Length > 1)
                {
                    var fill = plt.Add.FillY(bx, blo, bhi);
                    fill.FillColor = palette.GetColor(s).WithAlpha(0.2);
                    fill.LineWidth = 0;
                }
            }
            drawn++;
        }
        ClipToFinite(plt, series, logY, palette);
        if (references is not null)
        {
            for (int r = 0; r < references.Count; r++)
            {
                double y = references[r].Y;
                if (logY) { if (!(y > 0) || !double.IsFinite(y)) continue; y = Math.Log10(y); }
                else if (!double.IsFinite(y)) continue;
                var line = plt.Add.HorizontalLine(y);
                line.LegendText = references[r].Name;
                line.Color = Colors.Black;
                line.LinePattern = LinePattern.Dashed;
                line.LineWidth = 1.5f;
            }
        }
        if (drawn == 0)
        {
            var note = plt.Add.Text("no finite data to show", 0, 0);
            note.LabelFontSize = 18;
        }
        Decorate(plt, title, xLabel, yLabel, logY);
        Save(plt, path);
    }

    /// <summary>Values against categories as bars, grouped by series (e.g. energy share of H, G, F).</summary>
    public static void GroupedBars(string path, string title, string yLabel, IReadOnlyList<string> categories,
        IReadOnlyList<(string Name, IReadOnlyList<double> Values)> groups)
    {
        var plt = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        double width = 0.8 / Math.Max(1, groups.Count);
        for (int g = 0; g < groups.Count; g++)
        {
            var bars = new List<Bar>();
            for (int c = 0; c < categories.Count; c++)
            {
                double v = groups[g].Values[c];
                if (!double.IsFinite(v)) continue;
                bars.Add(new Bar
                {
                    Position = c + (g - (groups.Count - 1) / 2.0) * width,
                    Value = v,
                    Size = width * 0.95,
                    FillColor = palette.GetColor(g),
                });
            }
            var plottable = plt.Add.Bars(bars);
            plottable.LegendText = groups[g].Name;
        }
        var ticks = categories.Select((c, i) => new Tick(i, c)).ToArray();
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks);
        Decorate(plt, title, "", yLabel, logY: false);
        // Headroom above the tallest bar keeps the legend (upper right) off the bars.
        var finite = groups.SelectMany(g => g.Values).Where(double.IsFinite).DefaultIfEmpty(0).ToList();
        double top = Math.Max(finite.Max(), 0), bottom = Math.Min(finite.Min(), 0);
        if (top > bottom) plt.Axes.SetLimitsY(bottom, top + 0.4 * (top - bottom));
        Save(plt, path);
    }

    /// <summary>
    /// When some series diverged: the y range is set by the others (padded 5%), and each diverged
    /// series gets a cross where it ends, drawn at the top edge when its last point lies above.
    /// </summary>
    static void ClipToFinite(Plot plt, IReadOnlyList<PlotSeries> series, bool logY, ScottPlot.Palettes.Category10 palette)
    {
        if (!series.Any(s => s.Diverged)) return;
        var calm = series.Where(s => !s.Diverged).SelectMany(s => Clean(s, logY).Y).ToList();
        double? top = null;
        if (calm.Count > 0)
        {
            double lo = calm.Min(), hi = calm.Max(), pad = Math.Max(0.05 * (hi - lo), 1e-12);
            plt.Axes.SetLimitsY(lo - pad, hi + pad);
            top = hi + pad;
        }
        for (int s = 0; s < series.Count; s++)
        {
            if (!series[s].Diverged) continue;
            var (xs, ys) = Clean(series[s], logY);
            if (xs.Length == 0) continue;
            double y = top is double t ? Math.Min(ys[^1], t) : ys[^1];
            var end = plt.Add.Marker(xs[^1], y);
            end.MarkerShape = MarkerShape.Eks;
            end.MarkerSize = 14;
            end.MarkerLineWidth = 3;
            end.Color = palette.GetColor(s);
            end.LegendText = "";
        }
    }

    /// <summary>Line styles cycled with the colours so curves stay distinct in greyscale print.</summary>
    static readonly LinePattern[] Patterns = [LinePattern.Solid, LinePattern.Dashed, LinePattern.Dotted, LinePattern.DenselyDashed];

    /// <summary>Marker shapes cycled with the colours: the SVG keeps them where it cannot keep dash patterns.</summary>
    static readonly MarkerShape[] Shapes = [MarkerShape.FilledCircle, MarkerShape.FilledSquare, MarkerShape.FilledTriangleUp, MarkerShape.FilledDiamond, MarkerShape.OpenCircle, MarkerShape.OpenSquare];

    static (double[] X, double[] Lo, double[] Hi) CleanBand(IReadOnlyList<double> x, IReadOnlyList<double> lo, IReadOnlyList<double> hi, bool logY)
    {
        var xs = new List<double>(); var l = new List<double>(); var h = new List<double>();
        for (int i = 0; i < Math.Min(x.Count, Math.Min(lo.Count, hi.Count)); i++)
        {
            double a = lo[i], b = hi[i];
            if (!double.IsFinite(x[i]) || !double.IsFinite(a) || !double.IsFinite(b)) continue;
            if (logY)
            {
                if (!(b > 0)) continue;
                // A lower edge at or below zero cannot sit on a log axis: clip it to a decade below the upper edge.
                a = a > 0 ? Math.Log10(a) : Math.Log10(b) - 1;
                b = Math.Log10(b);
            }
            xs.Add(x[i]); l.Add(a); h.Add(b);
        }
        return (xs.ToArray(), l.ToArray(), h.ToArray());
    }

    static (double[] X, double[] Y) Clean(PlotSeries s, bool logY)
    {
        if (s.X.Count != s.Y.Count)
            throw new ArgumentException($"Series '{s.Name}' has {s.X.Count} x values and {s.Y.Count} y values; expected the same number.", nameof(s));
        var xs = new List<double>(s.X.Count);
        var ys = new List<double>(s.Y.Count);
        for (int i = 0; i < s.X.Count; i++)
        {
            double x = s.X[i], y = s.Y[i];
            if (!double.IsFinite(x) || !double.IsFinite(y)) continue;
            if (logY)
            {
                if (!(y > 0)) continue;
                y = Math.Log10(y);
            }
            xs.Add(x);
            ys.Add(y);
        }
        return (xs.ToArray(), ys.ToArray());
    }

    static void Decorate(Plot plt, string title, string xLabel, string yLabel, bool logY)
    {
        plt.Title(title);
        plt.XLabel(xLabel);
        plt.YLabel(yLabel);
        if (logY)
        {
            plt.Axes.Left.TickGenerator = new LogTickGenerator();
            plt.Grid.MajorLineColor = Colors.Black.WithOpacity(0.15);
            plt.Grid.MinorLineColor = Colors.Black.WithOpacity(0.05);
            plt.Grid.MinorLineWidth = 1;
        }
        // The legend sits in its own panel right of the data area, so it never covers a curve.
        if (plt.GetPlottables().Any(p => p.LegendItems.Any(li => !string.IsNullOrEmpty(li.LabelText))))
            plt.ShowLegend(Edge.Right);
        else
            plt.Legend.IsVisible = false;
    }

    /// <summary>Tick label for log10 value e: 10^e written plainly when it reads well, else as 1e±n.</summary>
    public static string LogLabel(double e)
    {
        double v = Math.Pow(10, e);
        return e is >= -3 and <= 4
            ? v.ToString(e >= 0 ? "0" : "0.###", CultureInfo.InvariantCulture)
            : "1e" + Math.Round(e).ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Ticks for a log-10 axis showing log10 values lo..hi, labelled in the original units.
    /// Across a decade or more: powers of ten (every one, or every second, fifth… so at most
    /// eight are labelled) with minor ticks at 2…9 times each. Within less than a decade
    /// the powers of ten alone would leave the axis bare, so the labels are 1-2-5 multiples
    /// of powers of ten when at least three fall inside, else evenly spaced round values in
    /// the original units (about five).
    /// </summary>
    public static Tick[] LogTicks(double lo, double hi)
    {
        if (!double.IsFinite(lo) || !double.IsFinite(hi) || hi <= lo) return [];
        int first = (int)Math.Ceiling(lo), last = (int)Math.Floor(hi);
        var ticks = new List<Tick>();
        if (last - first >= 1)
        {
            int every = new[] { 1, 2, 5, 10, 20, 50, 100 }.FirstOrDefault(k => (last - first) / k + 1 <= 8, 100);
            for (int e = first - 1; e <= last; e++)
            {
                if (e >= first && e % every == 0) ticks.Add(Tick.Major(e, LogLabel(e)));
                if (every > 1) continue;
                for (int m = 2; m <= 9; m++)
                {
                    double p = e + Math.Log10(m);
                    if (p >= lo && p <= hi) ticks.Add(Tick.Minor(p));
                }
            }
            return [.. ticks];
        }
        double vlo = Math.Pow(10, lo), vhi = Math.Pow(10, hi);
        var round = new List<double>();
        for (int e = (int)Math.Floor(lo); e <= last; e++)
            foreach (double m in new[] { 1.0, 2.0, 5.0 })
            {
                double v = m * Math.Pow(10, e);
                if (v >= vlo && v <= vhi) round.Add(v);
            }
        double step;
        if (round.Count >= 3)
            step = round.Min(v => v) / 10;
        else
        {
            step = NiceStep((vhi - vlo) / 5);
            round.Clear();
            for (double k = Math.Ceiling(vlo / step); k * step <= vhi * (1 + 1e-12); k++) round.Add(k * step);
        }
        foreach (double v in round) ticks.Add(Tick.Major(Math.Log10(v), PlainLabel(v, step)));
        return [.. ticks];
    }

    /// <summary>The 1-2-5 multiple of a power of ten nearest above <paramref name="raw"/>.</summary>
    static double NiceStep(double raw)
    {
        double p = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double m = raw / p;
        return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
    }

    /// <summary>v with as many decimals as the tick spacing needs (scientific notation far from 1).</summary>
    static string PlainLabel(double v, double step)
    {
        if (v != 0 && (Math.Abs(v) < 1e-3 || Math.Abs(v) >= 1e5))
            return v.ToString("0.###e0", CultureInfo.InvariantCulture);
        int decimals = Math.Clamp((int)Math.Ceiling(-Math.Log10(step) - 1e-9), 0, 12);
        return Math.Round(v, decimals).ToString("0." + new string('#', Math.Max(decimals, 1)), CultureInfo.InvariantCulture);
    }

    /// <summary>Regenerates <see cref="LogTicks"/> for whatever range the axis shows when it is drawn.</summary>
    sealed class LogTickGenerator : ITickGenerator
    {
        public Tick[] Ticks { get; set; } = [];
        public int MaxTickCount { get; set; } = 1000;
        public void Regenerate(CoordinateRange range, Edge edge, PixelLength size, Paint paint, LabelStyle labelStyle) =>
            Ticks = LogTicks(range.Min, range.Max);
    }

    /// <summary>Saves the PNG at <paramref name="path"/> and, beside it, the same figure as SVG (for papers).</summary>
    static void Save(Plot plt, string path)
    {
        AtomicFile.Write(path, tmp => plt.SavePng(tmp, Width, Height));
        // Skia's SVG canvas has no dash patterns (it prints "Unsupported path effect" per dashed
        // line): the SVG draws every line solid and keeps the marker shapes that tell curves apart.
        foreach (var p in plt.GetPlottables())
        {
            if (p is ScottPlot.Plottables.Scatter sc) sc.LinePattern = LinePattern.Solid;
            else if (p is ScottPlot.Plottables.HorizontalLine h) h.LinePattern = LinePattern.Solid;
        }
        plt.Grid.MajorLinePattern = LinePattern.Solid;
        AtomicFile.Write(Path.ChangeExtension(path, ".svg"), tmp => plt.SaveSvg(tmp, Width, Height));
    }

    /// <summary>
    /// One bar per category, split into the groups' shares and scaled to 100% (a 100% stacked bar):
    /// segment g of category c has height 100·v_gc / Σ_g v_gc. Negative or non-finite parts count as zero.
    /// </summary>
    public static void StackedShares(string path, string title, string yLabel, IReadOnlyList<string> categories,
        IReadOnlyList<(string Name, IReadOnlyList<double> Values)> groups)
    {
        ArgumentNullException.ThrowIfNull(categories);
        ArgumentNullException.ThrowIfNull(groups);
        var plt = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var bottom = new double[categories.Count];
        var total = new double[categories.Count];
        for (int c = 0; c < categories.Count; c++)
            total[c] = groups.Sum(g => Part(g.Values[c]));
        for (int g = 0; g < groups.Count; g++)
        {
            var bars = new List<Bar>();
            for (int c = 0; c < categories.Count; c++)
            {
                if (!(total[c] > 0)) continue;
                double h = 100 * Part(groups[g].Values[c]) / total[c];
                bars.Add(new Bar
                {
                    Position = c, ValueBase = bottom[c], Value = bottom[c] + h, Size = 0.6,
                    FillColor = palette.GetColor(g), LineColor = Colors.White, LineWidth = 1,
                });
                bottom[c] += h;
            }
            var plottable = plt.Add.Bars(bars);
            plottable.LegendText = groups[g].Name;
        }
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(categories.Select((c, i) => new Tick(i, c)).ToArray());
        Decorate(plt, title, "", yLabel, logY: false);
        plt.Axes.SetLimits(-0.6, categories.Count - 0.4, 0, 100);
        Save(plt, path);
    }

    static double Part(double v) => double.IsFinite(v) && v > 0 ? v : 0;
}

using Curvature.Experiments;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

public class PlotTests
{
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-plots-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    internal static bool IsPng(string path)
    {
        var magic = new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A };
        using var f = File.OpenRead(path);
        var head = new byte[8];
        return f.Read(head, 0, 8) == 8 && head.SequenceEqual(magic);
    }

    /// <summary>Width and height from the PNG's IHDR chunk (big-endian at bytes 16..23).</summary>
    internal static (int W, int H) PngSize(string path)
    {
        var b = File.ReadAllBytes(path);
        int Be(int o) => (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
        return (Be(16), Be(20));
    }

    [Test]
    public void Log_scale_loss_plot_is_a_png_of_the_requested_size_and_leaves_no_temporary_file()
    {
        var steps = Enumerable.Range(0, 50).Select(i => (double)i).ToArray();
        var sgd = steps.Select(s => 2.3 * Math.Exp(-s / 10)).ToArray();
        var dom = steps.Select(s => 2.3 - 0.001 * s).ToArray();
        var diverged = steps.Select(s => s < 20 ? 2.3 : double.NaN).ToArray();
        string path = Path.Combine(_dir, "loss.png");

        Plots.Lines(path, "training loss", "step", "loss",
            [new PlotSeries("sgd", steps, sgd), new PlotSeries("dom", steps, dom), new PlotSeries("bulk (diverged)", steps, diverged)],
            logY: true, references: [new ReferenceLine("target", 0.1)]);

        IsPng(path).Should().BeTrue();
        PngSize(path).Should().Be((Plots.Width, Plots.Height));
        Directory.GetFiles(_dir).Order().Should().Equal(path, Path.ChangeExtension(path, ".svg"));
        File.ReadAllText(Path.ChangeExtension(path, ".svg")).Should().Contain("<svg");
    }

    [Test]
    public void A_plot_with_no_finite_positive_points_on_a_log_axis_still_writes_a_png()
    {
        string path = Path.Combine(_dir, "empty.png");
        Plots.Lines(path, "nothing", "x", "y", [new PlotSeries("all bad", [0.0, 1.0], [double.NaN, -1.0])], logY: true);
        IsPng(path).Should().BeTrue();
    }

    [Test]
    public void Grouped_bars_write_a_png()
    {
        string path = Path.Combine(_dir, "bars.png");
        Plots.GroupedBars(path, "energy", "share", ["H", "G", "F"],
            [("step 0", [0.9, 0.95, 0.1]), ("step 100", [0.8, 0.9, 0.2])]);
        IsPng(path).Should().BeTrue();
    }

    [TestCase(0.0, "1")]
    [TestCase(2.0, "100")]
    [TestCase(-2.0, "0.01")]
    [TestCase(-6.0, "1e-6")]
    [TestCase(7.0, "1e7")]
    public void Log_axis_tick_at_exponent_e_is_labelled_ten_to_the_e(double e, string label) =>
        Plots.LogLabel(e).Should().Be(label);

    [TestCase(0.3, 0.6)]
    [TestCase(2.28, 2.31)]
    [TestCase(0.05, 0.4)]
    [TestCase(0.0123, 0.0125)]
    [TestCase(0.12, 0.95)]
    public void A_log_axis_spanning_less_than_a_decade_gets_at_least_three_labelled_ticks_that_name_their_values(double from, double to)
    {
        double lo = Math.Log10(from), hi = Math.Log10(to);
        var major = Plots.LogTicks(lo, hi).Where(t => t.IsMajor).ToArray();
        major.Length.Should().BeGreaterThanOrEqualTo(3);
        major.Select(t => t.Label).Should().OnlyHaveUniqueItems().And.NotContain(string.Empty);
        foreach (var t in major)
        {
            t.Position.Should().BeInRange(lo - 1e-12, hi + 1e-12);
            // The label is the tick's value in the original units, to the precision it shows.
            double shown = double.Parse(t.Label, System.Globalization.CultureInfo.InvariantCulture);
            (Math.Abs(shown - Math.Pow(10, t.Position)) / shown).Should().BeLessThan(1e-9);
        }
    }

    [Test]
    public void A_log_axis_over_several_decades_labels_powers_of_ten_and_marks_minor_ticks_between()
    {
        var ticks = Plots.LogTicks(-3.2, 0.5);
        ticks.Where(t => t.IsMajor).Select(t => t.Label).Should().Equal("0.001", "0.01", "0.1", "1");
        ticks.Where(t => !t.IsMajor).Should().Contain(t => Math.Abs(t.Position - Math.Log10(0.002)) < 1e-12);
        Plots.LogTicks(-30, 10).Count(t => t.IsMajor).Should().BeLessThanOrEqualTo(8);
    }

    [Test]
    public void Loss_figure_over_less_than_a_decade_draws_tick_labels_on_its_log_axis()
    {
        // compare --arch 196-16-10 --data mnist14:500 --steps 200 --lr 0.1: the loss falls from 2.3 to about 0.5.
        var steps = Enumerable.Range(0, 200).Select(i => (double)i).ToArray();
        var loss = steps.Select(s => 0.5 + 1.8 * Math.Exp(-s / 40)).ToArray();
        string path = Path.Combine(_dir, "loss.png");
        Plots.Lines(path, "training loss", "step", "loss", [new PlotSeries("sgd", steps, loss)], logY: true);
        string svg = File.ReadAllText(Path.ChangeExtension(path, ".svg"));
        // The SVG keeps each tick label as text; 0.5, 1 and 2 lie inside 0.5..2.3.
        var labels = System.Text.RegularExpressions.Regex.Matches(svg, @"<text[^>]*>\s*([^<]*?)\s*</text>").Select(m => m.Groups[1].Value);
        labels.Should().Contain(["0.5", "1", "2"]);
    }

    [Test]
    public void Series_with_unequal_x_and_y_lengths_are_rejected_naming_the_series()
    {
        var act = () => Plots.Lines(Path.Combine(_dir, "bad.png"), "t", "x", "y", [new PlotSeries("crooked", [1.0, 2.0], [1.0])]);
        act.Should().Throw<ArgumentException>().WithMessage("*crooked*2 x values*1 y values*");
        File.Exists(Path.Combine(_dir, "bad.png")).Should().BeFalse();
    }
}

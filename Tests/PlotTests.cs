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

    [Test]
    public void Series_with_unequal_x_and_y_lengths_are_rejected_naming_the_series()
    {
        var act = () => Plots.Lines(Path.Combine(_dir, "bad.png"), "t", "x", "y", [new PlotSeries("crooked", [1.0, 2.0], [1.0])]);
        act.Should().Throw<ArgumentException>().WithMessage("*crooked*2 x values*1 y values*");
        File.Exists(Path.Combine(_dir, "bad.png")).Should().BeFalse();
    }
}

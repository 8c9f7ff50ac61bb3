using Curvature.Core;
using Curvature.Experiments;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

public class ReportTests
{
    [Test]
    public void Report_lists_every_figure_in_a_table_and_embeds_each_png_once()
    {
        var r = new ReportWriter("Compare")
            .Paragraph("Intro.")
            .Figure("loss.png", "Training loss")
            .Table(["run", "loss"], [["sgd", "0.1"], ["a|b", "0.2"]])
            .Figure("eigs.png", "Top-k eigenvalues");
        string md = r.Render();

        md.Should().StartWith("# Compare\n");
        md.Should().Contain("| [1](#figure-1) | `loss.png` | Training loss |");
        md.Should().Contain("| [2](#figure-2) | `eigs.png` | Top-k eigenvalues |");
        md.Should().Contain("![Figure 1](loss.png)");
        md.Should().Contain("![Figure 2](eigs.png)");
        md.Should().Contain("| a\\|b | 0.2 |");
        r.FigureFiles.Should().Equal("loss.png", "eigs.png");
    }

    [Test]
    public void A_table_row_with_the_wrong_number_of_cells_is_rejected()
    {
        var act = () => new ReportWriter("t").Table(["a", "b"], [["1"]]);
        act.Should().Throw<ArgumentException>().WithMessage("*1 cells*expected 2*");
    }

    [TestCase(double.NaN, "—")]
    [TestCase(0.0, "0")]
    [TestCase(0.012345, "0.01235")]
    [TestCase(1234.5, "1234")]
    [TestCase(1.5e-7, "1.5e-7")]
    public void Report_numbers_use_four_significant_digits(double v, string text) =>
        ReportWriter.Num(v).Should().Be(text);

    [Test]
    public void Csv_round_trip_keeps_every_value_bit_for_bit_including_nan()
    {
        var t = new CsvTable(["step", "train_loss", "lambda_1"]);
        t.AddRow(0, 2.302585092994046, double.NaN);
        t.AddRow(10, 0.1 + 0.2, 47.25);
        var back = CsvTable.Parse(t.ToCsv());
        back.Columns.Should().Equal("step", "train_loss", "lambda_1");
        back.RowCount.Should().Be(2);
        back[0, "train_loss"].Should().Be(2.302585092994046);
        back[1, "train_loss"].Should().Be(0.1 + 0.2);
        double.IsNaN(back[0, "lambda_1"]).Should().BeTrue();
        back.Column("step").Should().Equal(0.0, 10.0);
    }

    [Test]
    public void Csv_with_a_non_numeric_cell_is_rejected_naming_line_and_column()
    {
        var act = () => CsvTable.Parse("step,loss\n0,1.5\n1,abc\n", "metrics.csv");
        act.Should().Throw<FormatException>().WithMessage("*metrics.csv*line 3*'loss'*'abc'*");
    }

    [Test]
    public void Csv_row_with_missing_cells_is_rejected()
    {
        var act = () => CsvTable.Parse("a,b,c\n1,2\n");
        act.Should().Throw<FormatException>().WithMessage("*2 cells*expected 3*");
    }

    [Test]
    public void Progress_redirected_to_a_pipe_prints_throttled_plain_lines_with_step_loss_and_the_end()
    {
        string dir = Directory.CreateTempSubdirectory("curvature-progress-").FullName;
        try
        {
            var (code, stdout, stderr) = CliProcess.Run(["compare", .. CompareCommandTests.Tiny, "--optimizers", "sgd", "--points", "0", "--out", dir]);
            code.Should().Be(0, stderr);
            var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("[compare]", StringComparison.Ordinal)).ToList();
            lines.Count.Should().BeInRange(3, 30, "plain progress is throttled to a line every few percent");
            lines.Should().Contain(l => l.Contains("sgd") && l.Contains("step") && l.Contains("loss"));
            lines[^1].Should().Contain("done in");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void Absolute_paths_of_existing_files_become_relative_to_the_report_and_formulas_stay()
    {
        string dir = Directory.CreateTempSubdirectory("curvature-report-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "run", "out"));
            string theta = Path.Combine(dir, "run", "theta.npy");
            File.WriteAllText(theta, "");
            File.WriteAllText(Path.Combine(dir, "run", "config.json"), "{}");
            string text = $"θ from `{theta}`; the data from the command line, then {Path.Combine(dir, "run", "config.json")}. Step −η/2 and 2/η, /nonexistent/file.";
            ReportWriter.WithRelativePaths(text, Path.Combine(dir, "run", "out")).Should()
                .Be("θ from `../theta.npy`; the data from the command line, then ../config.json. Step −η/2 and 2/η, /nonexistent/file.");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Test]
    public void No_report_md_written_by_the_cli_contains_an_absolute_path()
    {
        string dir = Directory.CreateTempSubdirectory("curvature-report-").FullName;
        try
        {
            string run = Path.Combine(dir, "train");
            string[] tiny = ["--arch", "4-8-3", "--data", "gmm:90:4:3:1", "--test-data", "none", "--hessian-batch", "0"];
            CliProcess.Run(["train", .. tiny, "--lr", "0.1", "--batch", "10", "--steps", "10", "--save-theta", "--out", run]).Code.Should().Be(0);
            string theta = Path.Combine(run, "theta.npz");
            CliProcess.Run(["decompose", "--theta", theta, "--k", "2", "--out", Path.Combine(dir, "decompose")]).Code.Should().Be(0);
            CliProcess.Run(["spectrum", "--theta", theta, "--k", "2", "--out", Path.Combine(dir, "spectrum")]).Code.Should().Be(0);
            CliProcess.Run(["compare", .. tiny, "--steps", "10", "--batch", "10", "--k", "2", "--out", Path.Combine(dir, "compare")]).Code.Should().Be(0);
            CliProcess.Run(["sweep", .. tiny, "--steps", "5", "--batch", "10", "--k", "2", "--lr", "0.05,0.1", "--out", Path.Combine(dir, "sweep")]).Code.Should().Be(0);
            var reports = Directory.GetFiles(dir, "report.md", SearchOption.AllDirectories);
            reports.Select(Path.GetDirectoryName).Select(Path.GetFileName).Should().Contain(["decompose", "spectrum", "compare", "sweep"]);
            foreach (var report in reports)
                File.ReadAllText(report).Should().NotContain(dir, $"{report} should name files relative to its run directory");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}

using Curvature.Core;
using Curvature.Experiments;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

public class SweepCommandTests
{
    [Test]
    public void Grid_is_the_cartesian_product_with_the_last_axis_varying_fastest()
    {
        var axes = new[]
        {
            SweepGrid.ParseAxis("lr", "0.05,0.1", integer: false, min: 0, minExclusive: true),
            SweepGrid.ParseAxis("k", "5,10,20", integer: true, min: 1),
        };
        var points = SweepGrid.Expand(axes);
        points.Should().HaveCount(6);
        points.Select(p => (p["lr"], p["k"])).Should().Equal(
            (0.05, 5.0), (0.05, 10.0), (0.05, 20.0), (0.1, 5.0), (0.1, 10.0), (0.1, 20.0));
        points.Select(p => p.Index).Should().Equal(0, 1, 2, 3, 4, 5);
        points[4].Label.Should().Be("lr=0.1_k=10");
    }

    [TestCase("0.1,-0.2", "*'--lr'*'-0.2'*> 0*")]
    [TestCase("0.1,abc", "*'--lr'*'abc'*numbers*")]
    [TestCase("0.1,0.1", "*'--lr'*twice*")]
    [TestCase("", "*'--lr'*empty*")]
    public void Invalid_learning_rate_lists_are_rejected_naming_the_option_and_value(string list, string message)
    {
        var act = () => SweepGrid.ParseAxis("lr", list, integer: false, min: 0, minExclusive: true);
        act.Should().Throw<ArgumentException>().WithMessage(message);
    }

    [Test]
    public void A_fractional_k_is_rejected()
    {
        var act = () => SweepGrid.ParseAxis("k", "2.5", integer: true, min: 1);
        act.Should().Throw<ArgumentException>().WithMessage("*'--k'*'2.5'*whole*");
    }
}

public class SweepCommandEndToEndTests
{
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-sweep-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void Sweep_on_a_tiny_grid_tabulates_every_point_and_flags_the_diverged_ones()
    {
        // λ₁ ≈ 3.9 at θ₀: η = 5 puts 2/η = 0.4 far below the bulk's top eigenvalues, so those runs
        // must blow up; η = 0.1 is well inside the stable range.
        string outDir = Path.Combine(_dir, "s");
        var (code, err) = CompareCommandTests.Run(["sweep", "--arch", "4-8-3", "--data", "gmm:90:4:3:1", "--test-data", "none", "--batch", "10",
            "--steps", "20", "--eval-every", "5", "--optimizer", "bulk", "--lr", "0.1,5", "--k", "1,2", "--hessian-batch", "0", "--out", outDir]);
        err.Should().BeEmpty();
        code.Should().Be(0);

        var t = CsvTable.Load(Path.Combine(outDir, "sweep.csv"));
        t.RowCount.Should().Be(4);
        t.Column("lr").Should().Equal(0.1, 0.1, 5, 5);
        t.Column("k").Should().Equal(1, 2, 1, 2);
        t.Column("diverged").Should().Equal(0, 0, 1, 1);
        t.Column("alpha_dom").Should().OnlyContain(v => v == 0);
        t.Column("alpha_bulk").Should().OnlyContain(v => v == 1);
        // A diverged run's best loss is its loss at θ₀ (all runs share it); the stable ones went below it.
        t[0, "final_loss"].Should().BeLessThan(t[2, "min_loss"]);
        t[1, "final_loss"].Should().BeLessThan(t[3, "min_loss"]);

        string report = File.ReadAllText(Path.Combine(outDir, "report.md"));
        report.Should().Contain("2 of 4 runs diverged");
        report.Should().Contain("](loss.png)").And.Contain("](final_loss.png)");
        PlotTests.IsPng(Path.Combine(outDir, "loss.png")).Should().BeTrue();
        PlotTests.IsPng(Path.Combine(outDir, "final_loss.png")).Should().BeTrue();
        Directory.GetDirectories(outDir).Should().HaveCount(4);
        System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "summary.json"))).Dispose();
    }

    [Test]
    public void The_report_puts_each_runs_largest_full_data_lambda_1_beside_two_over_eta_as_its_metrics_logged_it()
    {
        string outDir = Path.Combine(_dir, "s");
        var (code, err) = CompareCommandTests.Run(["sweep", "--arch", "4-8-3", "--data", "gmm:90:4:3:1", "--test-data", "none", "--batch", "10",
            "--steps", "20", "--eval-every", "5", "--full-lambda-every", "5", "--optimizer", "bulk", "--lr", "0.1,0.4", "--k", "1",
            "--hessian-batch", "30", "--out", outDir]);
        err.Should().BeEmpty();
        code.Should().Be(0);

        string report = File.ReadAllText(Path.Combine(outDir, "report.md"));
        report.Should().Contain("20 steps of batch 10.");
        var lines = report.Split('\n');
        int header = Array.FindIndex(lines, l => l.StartsWith("| # | seed | η | 2/η | first λ₁ (all)", StringComparison.Ordinal));
        header.Should().BeGreaterThan(0, report);
        foreach (var (dir, row) in Directory.GetDirectories(outDir).Order().Select((d, i) => (d, lines[header + 2 + i])))
        {
            var metrics = CsvTable.Load(Path.Combine(dir, "metrics.csv"));
            var full = metrics.Column("lambda_1_full").Where(double.IsFinite).ToList();
            full.Should().HaveCountGreaterThan(1, "λ₁ on all examples every 5 of 20 steps");
            double eta = Path.GetFileName(dir).Contains("lr=0.4", StringComparison.Ordinal) ? 0.4 : 0.1;
            var cells = row.Split('|', StringSplitOptions.TrimEntries);
            double.Parse(cells[4], System.Globalization.CultureInfo.InvariantCulture).Should().BeApproximately(2 / eta, 1e-9);
            double.Parse(cells[6], System.Globalization.CultureInfo.InvariantCulture).Should().BeApproximately(full.Max(), 1e-3 * full.Max());
            double.Parse(cells[7], System.Globalization.CultureInfo.InvariantCulture).Should().BeApproximately(full[^1], 1e-3 * full.Max());
        }
    }

    /// <summary>A 2×2 grid of 3000-step runs: long enough that a signal sent when the first run finishes finds the second running.</summary>
    static string[] LongSweep(string outDir) =>
        ["sweep", "--arch", "4-16-3", "--data", "gmm:200:4:3:1", "--test-data", "none", "--steps", "3000", "--batch", "20",
            "--hessian-batch", "0", "--lr", "0.1,0.2", "--k", "1,2", "--seed", "3", "--out", outDir];

    /// <summary>Runs <see cref="LongSweep"/> and sends SIGTERM once its first run has finished (its line printed), so the second is running.</summary>
    static IReadOnlyList<string> InterruptedSweep(string outDir)
    {
        var (code, output) = CliProcess.RunAndSignal(LongSweep(outDir), l => l.Contains(": completed, final loss", StringComparison.Ordinal));
        code.Should().Be(130, string.Join("\n", output));
        return output;
    }

    /// <summary>The status in each cell's summary.json, in cell order ("none" without one).</summary>
    static List<string?> CellStatuses(string outDir) => Directory.GetDirectories(outDir).Order().Select(c => File.Exists(Path.Combine(c, "summary.json"))
        ? System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(c, "summary.json"))).RootElement.GetProperty("status").GetString() : "none").ToList();

    [Test]
    public void SIGTERM_during_an_in_process_sweep_keeps_every_finished_run_and_writes_the_running_one_interrupted_so_it_resumes()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("POSIX signals: Linux only.");
        string dir = Directory.CreateTempSubdirectory("curvature-sweep-sigterm-").FullName;
        try
        {
            string outDir = Path.Combine(dir, "s");
            var output = InterruptedSweep(outDir);
            output.Should().Contain(l => l.StartsWith("interrupted: report:", StringComparison.Ordinal));
            File.ReadAllText(Path.Combine(outDir, "summary.json")).Should().Contain("\"status\": \"interrupted\"");
            var cells = Directory.GetDirectories(outDir).Order().ToList();
            var statuses = CellStatuses(outDir);
            statuses.Should().ContainSingle(x => x == "interrupted", string.Join(",", statuses));
            int cut = statuses.IndexOf("interrupted");
            cut.Should().BeGreaterThan(0, "the first run had finished");
            statuses.Take(cut).Should().OnlyContain(x => x == "completed", "every run before the signal is kept whole");
            using (var summary = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "summary.json"))))
                summary.RootElement.GetProperty("runs")[cut].GetProperty("status").GetString().Should().Be("interrupted", "the sweep's summary names the interrupted run so");
            var table = CsvTable.Load(Path.Combine(outDir, "sweep.csv"));
            table.Column("missing").Sum().Should().Be(4 - cut, "the interrupted run and those never started are missing rows");

            // The interrupted run's directory resumes to the bits of a run that never stopped.
            string cell = cells[cut];
            var resumed = CliProcess.Run(["train", "--config", Path.Combine(cell, "config.json"), "--out", cell, "--quiet", "--resume", Path.Combine(cell, "checkpoint.bin")]);
            resumed.Code.Should().Be(0, resumed.Stderr);
            var straight = CliProcess.Run(["train", "--config", Path.Combine(cell, "config.json"), "--out", Path.Combine(dir, "straight"), "--quiet"]);
            straight.Code.Should().Be(0, straight.Stderr);
            File.ReadAllBytes(Path.Combine(cell, "theta.npy")).Should().Equal(File.ReadAllBytes(Path.Combine(dir, "straight", "theta.npy")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void Rerunning_an_interrupted_sweep_keeps_its_finished_cells_resumes_the_interrupted_one_and_gives_the_uninterrupted_table()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("POSIX signals: Linux only.");
        string dir = Directory.CreateTempSubdirectory("curvature-sweep-rerun-").FullName;
        try
        {
            string outDir = Path.Combine(dir, "s"), straight = Path.Combine(dir, "straight");
            InterruptedSweep(outDir);
            var before = CellStatuses(outDir);
            int cut = before.IndexOf("interrupted");
            cut.Should().BeGreaterThan(0, string.Join(",", before));
            var keptTheta = File.ReadAllBytes(Path.Combine(Directory.GetDirectories(outDir).Order().First(), "theta.npy"));
            var keptWritten = File.GetLastWriteTimeUtc(Path.Combine(Directory.GetDirectories(outDir).Order().First(), "summary.json"));

            // The same command again: the finished cells are read back, the interrupted one resumes, the rest train.
            var rerun = CliProcess.Run(LongSweep(outDir));
            rerun.Code.Should().Be(0, rerun.Stderr);
            rerun.Stdout.Split('\n').Count(l => l.Contains(": completed (kept from the earlier run), final loss", StringComparison.Ordinal)).Should().Be(cut, rerun.Stdout);
            rerun.Stdout.Split('\n').Should().ContainSingle(l => l.Contains(": completed (resumed from step ", StringComparison.Ordinal), rerun.Stdout);
            File.GetLastWriteTimeUtc(Path.Combine(Directory.GetDirectories(outDir).Order().First(), "summary.json")).Should().Be(keptWritten, "a kept cell is not written again");
            CellStatuses(outDir).Should().OnlyContain(x => x == "completed");
            File.ReadAllText(Path.Combine(outDir, "summary.json")).Should().Contain("\"status\": \"completed\"");

            var whole = CliProcess.Run(LongSweep(straight));
            whole.Code.Should().Be(0, whole.Stderr);
            CliProcess.WithoutSeconds(Path.Combine(outDir, "sweep.csv")).Should().Equal(CliProcess.WithoutSeconds(Path.Combine(straight, "sweep.csv")),
                "the table of the interrupted and rerun sweep is the uninterrupted one in every column but the wall time");
            foreach (var cell in Directory.GetDirectories(straight).Select(Path.GetFileName))
            {
                File.ReadAllBytes(Path.Combine(outDir, cell!, "theta.npy")).Should().Equal(File.ReadAllBytes(Path.Combine(straight, cell!, "theta.npy")), cell);
                CliProcess.WithoutSeconds(Path.Combine(outDir, cell!, "metrics.csv")).Should().Equal(CliProcess.WithoutSeconds(Path.Combine(straight, cell!, "metrics.csv")), cell);
            }
            keptTheta.Should().Equal(File.ReadAllBytes(Path.Combine(Directory.GetDirectories(straight).Order().First(), "theta.npy")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Curvature.Core;
using Curvature.Experiments;
using Curvature.Optimizers;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

public class CompareCommandTests
{
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-compare-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void Compare_progress_on_an_80_column_terminal_stays_on_one_line_and_keeps_its_description()
    {
        // The live bar only draws on a terminal: util-linux `script` gives the CLI a pseudo-terminal of 80 columns.
        if (!File.Exists("/usr/bin/script")) Assert.Ignore("needs /usr/bin/script for a pseudo-terminal");
        string outDir = Path.Combine(_dir, "tty");
        string command = $"stty cols 80 rows 24; dotnet '{CliProcess.Dll}' compare --arch 16-8-3 --data gmm:200:16:3:1 --steps 40 --hessian-batch 0 --seeds 2 --test-data none --out '{outDir}'";
        var psi = new System.Diagnostics.ProcessStartInfo("/usr/bin/script") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-qec", command, "/dev/null" }) psi.ArgumentList.Add(a);
        using var process = System.Diagnostics.Process.Start(psi)!;
        var err = process.StandardError.ReadToEndAsync();
        string screen = process.StandardOutput.ReadToEnd();
        process.WaitForExit(600_000).Should().BeTrue();
        process.ExitCode.Should().Be(0, err.Result + screen);
        // Each redraw of the bar, with the terminal's control sequences taken out.
        var lines = Regex.Split(Regex.Replace(screen, @"\x1b\[[0-9;?]*[A-Za-z]", ""), "[\r\n]")
            .Select(l => l.TrimEnd()).Where(l => l.Contains(" step ")).ToList();
        lines.Should().NotBeEmpty();
        lines.Should().OnlyContain(l => l.Length <= 80, "a line longer than the terminal wraps");
        lines.Should().NotContain(l => l.Contains('…'));
        // Which frames are drawn depends on timing; whichever are, each keeps the seed, the run's name and the step.
        lines.Where(l => l.Contains("ETA")).Should().OnlyContain(l => Regex.IsMatch(l, @"seed \d: (sgd|dom|bulk|interp\(0\.2,2\)|analysis) +step \d+/\d+"), "the description keeps the seed, the optimizer and the step");
    }

    internal static (int Code, string Stderr) Run(params string[] args)
    {
        var r = CliProcess.Run(args);
        return (r.Code, r.Stderr);
    }

    internal static readonly string[] Tiny =
    [
        "--arch", "4-8-3", "--act", "tanh", "--loss", "mse", "--data", "gmm:90:4:3:1", "--test-data", "gmm:60:4:3:2",
        "--lr", "0.1", "--batch", "10", "--steps", "20", "--eval-every", "5", "--k", "2", "--refresh", "5", "--hessian-batch", "0",
    ];

    const int TinyParameters = 4 * 8 + 8 + 8 * 3 + 3;

    static readonly string[] RunDirs = ["sgd", "dom", "bulk", "interp_0.2_2"];

    [Test]
    public void Compare_on_a_tiny_network_writes_every_file_and_each_one_parses()
    {
        string outDir = Path.Combine(_dir, "c");
        var (code, err) = Run(["compare", .. Tiny, "--out", outDir]);
        err.Should().BeEmpty();
        code.Should().Be(0);

        Directory.GetFiles(outDir, "*", SearchOption.AllDirectories).Should().NotContain(f => f.Contains(".tmp"), "every file is renamed into place");
        Directory.GetFiles(outDir).Select(Path.GetFileName).Should().Contain(
            ["config.json", "summary.json", "report.md", "energy.csv", "density.csv", "loss.png", "accuracy.png", "lambda1.png",
             "eigenvalues.png", "chi.png", "density.png", "energy.png", "trace_share.png", "split.png"]);

        foreach (var run in RunDirs)
        {
            string d = Path.Combine(outDir, run);
            Directory.GetFiles(d).Select(Path.GetFileName).Should().BeEquivalentTo(["config.json", "metrics.csv", "summary.json", "checkpoint.bin", "theta.npy", "theta.npz"]);
            using (var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(d, "config.json"))))
                config.RootElement.GetProperty("run").GetProperty("optimizer").GetString().Should().Be(run.StartsWith("interp") ? "interp" : run);
            var metrics = CsvTable.Load(Path.Combine(d, "metrics.csv"));
            metrics.Columns.Should().Contain(["step", "train_loss", "train_acc", "test_loss", "test_acc", "lambda_1", "lambda_2", "chi_k", "grad_norm", "matvecs", "seconds"]);
            metrics.Column("step").Should().Equal(0, 5, 10, 15, 20);
            metrics.Column("train_loss").Should().OnlyContain(v => double.IsFinite(v) && v > 0);
            metrics.Column("test_acc").Should().OnlyContain(v => v >= 0 && v <= 1);
            using (var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(d, "summary.json"))))
                summary.RootElement.GetProperty("status").GetString().Should().Be("completed");
            TrainerCheckpoint.Load(Path.Combine(d, "checkpoint.bin")).Step.Should().Be(20);
            Npy.ReadVector(Path.Combine(d, "theta.npy")).Should().HaveCount(TinyParameters);
        }

        using (var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "summary.json"))))
        {
            var s = summary.RootElement;
            s.GetProperty("parameters").GetInt32().Should().Be(TinyParameters);
            s.GetProperty("runs").GetArrayLength().Should().Be(4);
            s.GetProperty("decomposition").GetArrayLength().Should().Be(5);
            s.GetProperty("norm_method").GetString().Should().Be("dense");
        }
        JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "config.json"))).Dispose();

        var energy = CsvTable.Load(Path.Combine(outDir, "energy.csv"));
        energy.Column("step").Should().Equal(0, 5, 10, 15, 20);
        foreach (var c in new[] { "h_energy", "g_energy", "f_energy" })
            energy.Column(c).Should().OnlyContain(v => v >= 0 && v <= 1 + 1e-12, $"{c} is a share of a squared norm");
        var density = CsvTable.Load(Path.Combine(outDir, "density.csv"));
        density.Columns.Should().Equal("lambda_start", "density_start", "lambda_end", "density_end");
        density.Column("density_end").Should().OnlyContain(v => v >= 0);

        string report = File.ReadAllText(Path.Combine(outDir, "report.md"));
        var referenced = Regex.Matches(report, @"!\[[^\]]*\]\(([^)]+\.png)\)").Select(m => m.Groups[1].Value).ToList();
        var pngs = Directory.GetFiles(outDir, "*.png").Select(Path.GetFileName).ToList();
        referenced.Should().BeEquivalentTo(pngs, "the report embeds every figure written, and only those");
        foreach (var png in pngs) PlotTests.IsPng(Path.Combine(outDir, png!)).Should().BeTrue($"{png} starts with the PNG signature");
        foreach (var run in RunDirs) report.Should().Contain($"| {run} |");
    }

    [Test]
    public void Every_optimizer_starts_from_the_same_theta0_and_a_rerun_repeats_the_metrics_bit_for_bit()
    {
        string a = Path.Combine(_dir, "a"), b = Path.Combine(_dir, "b");
        string[] args = [.. Tiny, "--optimizers", "sgd,dom,bulk", "--points", "0"];
        Run(["compare", .. args, "--out", a]).Code.Should().Be(0);
        Run(["compare", .. args, "--out", b]).Code.Should().Be(0);

        var first = new[] { "sgd", "dom", "bulk" }.Select(r => CsvTable.Load(Path.Combine(a, r, "metrics.csv"))).ToList();
        first.Select(t => t[0, "train_loss"]).Distinct().Should().ContainSingle("all runs measure the same θ₀ at step 0");
        foreach (var r in new[] { "sgd", "dom", "bulk" })
        {
            var x = CsvTable.Load(Path.Combine(a, r, "metrics.csv"));
            var y = CsvTable.Load(Path.Combine(b, r, "metrics.csv"));
            foreach (var c in x.Columns.Where(c => c != "seconds"))
                x.Column(c).Select(BitConverter.DoubleToInt64Bits).Should().Equal(y.Column(c).Select(BitConverter.DoubleToInt64Bits), $"{r} {c}");
        }
        File.Exists(Path.Combine(a, "energy.csv")).Should().BeFalse("--points 0 turns the analysis off");
    }

    [Test]
    public void Dom_sgd_moves_theta_only_inside_the_dominant_subspace_so_its_loss_falls_less_than_bulk_sgd()
    {
        // The stall of Dom-SGD, on the tiny problem: with k = 2 of 67 directions it cannot reach
        // the loss Bulk-SGD reaches in the same steps.
        string outDir = Path.Combine(_dir, "s");
        Run(["compare", .. Tiny, "--optimizers", "dom,bulk", "--steps", "60", "--points", "0", "--out", outDir]).Code.Should().Be(0);
        var dom = CsvTable.Load(Path.Combine(outDir, "dom", "metrics.csv")).Column("train_loss");
        var bulk = CsvTable.Load(Path.Combine(outDir, "bulk", "metrics.csv")).Column("train_loss");
        dom[^1].Should().BeGreaterThan(bulk[^1]);
    }

    /// <summary>Three 3000-step runs and a three-point analysis of the sgd run: long enough that a signal sent when sgd finishes finds bulk running.</summary>
    // Bulk-SGD refreshes on all 2,000 examples every 10 steps while SGD's curvature log runs every
    // 1,000 steps, so the bulk run lasts several times the SGD run: a signal sent when SGD
    // finishes lands inside it even on a loaded machine.
    static string[] LongCompare(string outDir) =>
        ["compare", "--arch", "4-16-3", "--data", "gmm:2000:4:3:1", "--test-data", "none", "--steps", "3000", "--batch", "20", "--lr", "0.1", "--k", "2",
            "--hessian-batch", "0", "--optimizers", "sgd,bulk,dom", "--points", "3", "--seed", "3", "--curvature-log-every", "1000", "--out", outDir];

    static string Status(string summaryJson) =>
        JsonDocument.Parse(File.ReadAllText(summaryJson)).RootElement.GetProperty("status").GetString()!;

    // Explicit: it signals when the test host reads "sgd: completed", and under a loaded CI host that read was
    // delayed past the end of the bulk run twice (the child flushes each line; the host's output callback ran late),
    // so the outcome depended on the machine's load. Run it by hand: dotnet test --filter Name~SIGINT_during_compare.
    [Test, Explicit("Timing-dependent under load; see the comment above.")]
    public void SIGINT_during_compare_keeps_the_finished_run_marks_the_running_one_interrupted_and_the_same_command_resumes_to_the_uninterrupted_bits()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("POSIX signals: Linux only.");
        string outDir = Path.Combine(_dir, "c"), straight = Path.Combine(_dir, "straight");
        var (code, output) = CliProcess.RunAndSignal(LongCompare(outDir), l => l.Contains("sgd: completed, train loss", StringComparison.Ordinal), CliProcess.SigInt);
        code.Should().Be(130, string.Join("\n", output));
        output.Should().NotContain(l => l.StartsWith("error:", StringComparison.Ordinal));
        output.Where(l => l.StartsWith("interrupted:", StringComparison.Ordinal)).Should().ContainSingle()
            .Which.Should().Match($"interrupted: {outDir}: 1 of 3 runs finished, bulk was interrupted at step *; rerun the same command to resume.");
        Status(Path.Combine(outDir, "summary.json")).Should().Be("interrupted");
        Status(Path.Combine(outDir, "sgd", "summary.json")).Should().Be("completed");
        Status(Path.Combine(outDir, "bulk", "summary.json")).Should().Be("interrupted");
        Directory.Exists(Path.Combine(outDir, "dom")).Should().BeFalse("the run after the interrupted one never started");
        File.Exists(Path.Combine(outDir, "report.md")).Should().BeFalse("the analysis has not run");
        Directory.GetFiles(Path.Combine(outDir, "sgd"), "theta-step-*.npy").Select(Path.GetFileName).Should().BeEquivalentTo(
            ["theta-step-0.npy", "theta-step-1500.npy", "theta-step-3000.npy"], "the reference run keeps θ at the analysis steps for the rerun's analysis");
        var sgdWritten = File.GetLastWriteTimeUtc(Path.Combine(outDir, "sgd", "summary.json"));

        var rerun = CliProcess.Run(LongCompare(outDir));
        rerun.Code.Should().Be(0, rerun.Stderr);
        rerun.Stdout.Should().Contain("sgd: completed (kept from the earlier run), train loss").And.Contain("bulk: completed (resumed from step ");
        File.GetLastWriteTimeUtc(Path.Combine(outDir, "sgd", "summary.json")).Should().Be(sgdWritten, "the finished run is not trained or written again");
        Status(Path.Combine(outDir, "summary.json")).Should().Be("completed");
        Directory.GetFiles(Path.Combine(outDir, "sgd"), "theta-step-*.npy").Should().BeEmpty("a finished compare keeps no snapshots");

        var whole = CliProcess.Run(LongCompare(straight));
        whole.Code.Should().Be(0, whole.Stderr);
        foreach (var run in new[] { "sgd", "bulk", "dom" })
        {
            File.ReadAllBytes(Path.Combine(outDir, run, "theta.npy")).Should().Equal(File.ReadAllBytes(Path.Combine(straight, run, "theta.npy")), run);
            CliProcess.WithoutSeconds(Path.Combine(outDir, run, "metrics.csv")).Should().Equal(CliProcess.WithoutSeconds(Path.Combine(straight, run, "metrics.csv")), run);
        }
        foreach (var table in new[] { "energy.csv", "density.csv", "layers.csv" })
            File.ReadAllBytes(Path.Combine(outDir, table)).Should().Equal(File.ReadAllBytes(Path.Combine(straight, table)), $"{table}: the analysis of the kept run's θ is the uninterrupted one");
    }
}

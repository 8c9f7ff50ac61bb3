using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Curvature.Core;
using Curvature.Experiments;
using Curvature.Optimizers;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>Issue 13's failure classes, one test each, on the built CLI as a child process.</summary>
public class CliReliabilityTests
{
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-reliability-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    static readonly Dictionary<string, string> Env = new() { ["CURVATURE_BLAS"] = "libopenblas.so.0" };

    static (int Code, string Stdout, string Stderr) Cli(string[] args, string? cwd = null) => CliProcess.Run(args, Env, cwd);

    static readonly string[] Tiny = ["--arch", "4-16-3", "--data", "gmm:200:4:3:1", "--test-data", "none", "--loss", "mse", "--batch", "20", "-k", "2",
        "--refresh", "10", "--hessian-batch", "0", "--eval-every", "5", "--seed", "3", "--save-theta"];

    [Test]
    public void A_trailing_option_without_a_value_is_an_error_naming_it_and_writes_nothing()
    {
        var (code, _, err) = Cli(["init", "--arch", "4-8-3", "--out"], _dir);
        code.Should().NotBe(0);
        err.Trim().Should().Be("error: Option '--out' needs a value; expected DIR after it.");
        Directory.EnumerateFileSystemEntries(_dir).Should().BeEmpty("no file named __default_command (or any other) is written");

        var (code2, _, err2) = Cli(["train", "--steps", "--k", "0", "--out", Path.Combine(_dir, "t")], _dir);
        code2.Should().NotBe(0);
        err2.Should().Contain("Option '--steps' needs a value").And.NotContain("__default_command");
    }

    /// <summary>Command paths from the application's own command list (`curvature --help`), not written here by hand.</summary>
    static List<string[]> CommandPaths()
    {
        var (code, stdout, _) = Cli(["--help"]);
        code.Should().Be(0);
        var lines = stdout.Split('\n');
        int start = Array.FindIndex(lines, l => l.StartsWith("COMMANDS:", StringComparison.Ordinal));
        start.Should().BeGreaterThan(-1);
        var paths = new List<string[]>();
        foreach (var l in lines.Skip(start + 1))
        {
            if (!l.StartsWith("    ", StringComparison.Ordinal)) break;
            string name = l.Trim().Split("  ", StringSplitOptions.RemoveEmptyEntries)[0];
            paths.Add(name.Split(' '));
        }
        return paths;
    }

    [Test]
    public void The_help_page_of_every_command_renders_and_shows_each_options_default_or_says_it_has_none()
    {
        var paths = CommandPaths();
        paths.Should().HaveCountGreaterThanOrEqualTo(10, "every registered command is listed");
        foreach (var path in paths.Select(p => p.Take(1).ToArray()).Where(p => p[0] == "bench").Distinct().Concat(paths))
        {
            var (code, stdout, stderr) = Cli([.. path, "--help"]);
            string name = string.Join(" ", path);
            code.Should().Be(0, $"`curvature {name} --help` succeeds; stderr: {stderr}");
            stderr.Should().BeEmpty($"`curvature {name} --help` prints no error");
            if (path[0] == "bench" && path.Length == 1) { stdout.Should().Contain("autodiff"); continue; }
            var options = stdout.Split('\n').SkipWhile(l => !l.StartsWith("OPTIONS:", StringComparison.Ordinal)).Skip(1)
                .Where(l => l.StartsWith("    -", StringComparison.Ordinal)).ToList();
            options.Should().NotBeEmpty($"`curvature {name} --help` lists its options");
            foreach (var line in options.Where(l => l.Contains('<')))
                line.Should().ContainEquivalentOf("default", $"an option with a value states its default (or '(no default)') in `curvature {name} --help`");
        }
    }

    [Test]
    public void A_diverging_run_keeps_its_last_good_checkpoint_and_resumes_from_it_with_a_smaller_learning_rate()
    {
        string run = Path.Combine(_dir, "dl");
        var (code, stdout, err) = Cli(["train", .. Tiny, "--steps", "300", "--lr", "8", "--warmup", "300", "--checkpoint-every", "10", "--quiet", "--out", run]);
        code.Should().Be(0, err);
        stdout.Should().Contain("diverged at step");
        string summaryText = File.ReadAllText(Path.Combine(run, "summary.json"));
        summaryText.Should().NotContain("\"NaN\"").And.NotContain("Infinity");
        using var summary = JsonDocument.Parse(summaryText);
        var root = summary.RootElement;
        root.GetProperty("status").GetString().Should().Be("diverged");
        long stoppedAt = root.GetProperty("stopped_at").GetInt64();
        long good = root.GetProperty("checkpoint_step").GetInt64();
        good.Should().Be(stoppedAt / 10 * 10 == stoppedAt ? stoppedAt - 10 : stoppedAt / 10 * 10, "the last checkpoint boundary before the divergence");
        good.Should().BeGreaterThan(0, "the run diverged after a few checkpoints");

        var checkpoint = TrainerCheckpoint.Load(Path.Combine(run, "checkpoint.bin"));
        checkpoint.Step.Should().Be(good);
        checkpoint.Status.Should().NotBe(TrainingStatus.Diverged);
        var theta = Npy.ReadVector(Path.Combine(run, "theta.npy"));
        theta.Should().Equal(checkpoint.Theta, "theta.npy is the last good θ");
        theta.Should().OnlyContain(x => double.IsFinite(x));
        TrainerCheckpoint.Load(Path.Combine(run, "diverged.bin")).Status.Should().Be(TrainingStatus.Diverged);
        File.Exists(Path.Combine(run, "theta-diverged.npy")).Should().BeTrue();

        // Resume from the last good state with a smaller rate: it completes.
        string resumed = Path.Combine(_dir, "resumed");
        var (code2, stdout2, err2) = Cli(["train", .. Tiny, "--steps", "300", "--lr", "0.5", "--warmup", "300", "--checkpoint-every", "10", "--quiet",
            "--resume", Path.Combine(run, "checkpoint.bin"), "--out", resumed]);
        code2.Should().Be(0, err2);
        stdout2.Should().StartWith("completed");
        // The diverged state itself is refused.
        var (code3, _, err3) = Cli(["train", .. Tiny, "--steps", "300", "--lr", "0.5", "--warmup", "300", "--quiet",
            "--resume", Path.Combine(run, "diverged.bin"), "--out", Path.Combine(_dir, "again")]);
        code3.Should().NotBe(0);
        err3.Should().Contain("diverged at step");
    }

    static readonly string[] IssueCommand = ["train", "--arch", "196-16-10", "--data", "mnist14:500", "--steps", "2000", "--batch", "32", "--warmup", "2000",
        "--k", "5", "--refresh", "20", "--hessian-batch", "100", "--eval-every", "50", "--checkpoint-every", "20", "--seed", "3", "--save-theta", "--quiet"];

    [Test]
    public void The_issues_diverging_mnist_run_keeps_its_step_80_checkpoint_and_resumes_from_it_in_place_to_completion()
    {
        // Issue 13's own command, unchanged (the test set included: it takes about a second).
        string run = Path.Combine(_dir, "dl");
        var (code, stdout, err) = Cli([.. IssueCommand, "--lr", "20", "--out", run]);
        code.Should().Be(0, err);
        stdout.Should().StartWith("diverged at step 88");
        string summaryText = File.ReadAllText(Path.Combine(run, "summary.json"));
        summaryText.Should().NotContain("Infinity").And.NotContain("NaN");
        using (var summary = JsonDocument.Parse(summaryText))
        {
            summary.RootElement.GetProperty("stopped_at").GetInt64().Should().Be(88);
            summary.RootElement.GetProperty("checkpoint_step").GetInt64().Should().Be(80, "the last multiple of --checkpoint-every 20 before step 88");
        }
        var good = TrainerCheckpoint.Load(Path.Combine(run, "checkpoint.bin"));
        good.Step.Should().Be(80);
        good.Status.Should().Be(TrainingStatus.Running, "the step-80 state was written mid-run and resumes");
        Npy.ReadVector(Path.Combine(run, "theta.npy")).Should().Equal(good.Theta, "theta.npy is the last good θ");
        var diverged = TrainerCheckpoint.Load(Path.Combine(run, "diverged.bin"));
        (diverged.Status, diverged.StoppedAt).Should().Be((TrainingStatus.Diverged, 88L));
        Npy.ReadVector(Path.Combine(run, "theta-diverged.npy")).Should().Equal(diverged.Theta);
        // metrics.csv keeps every row up to the divergence; the good checkpoint counts the rows before step 80.
        var steps = File.ReadAllLines(Path.Combine(run, "metrics.csv")).Skip(1).Select(l => long.Parse(l[..l.IndexOf(',')], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        steps.Should().Equal(0, 50, 88);
        good.MetricsRows.Should().Be(2);
        diverged.MetricsBytes.Should().Be(new FileInfo(Path.Combine(run, "metrics.csv")).Length);

        // Resumed in place with a 100 times smaller rate: from step 80 to the end, the row at 88 cut off.
        var (code2, stdout2, err2) = Cli([.. IssueCommand, "--lr", "0.2", "--resume", Path.Combine(run, "checkpoint.bin"), "--out", run]);
        code2.Should().Be(0, err2);
        stdout2.Should().StartWith("completed: 2000 steps");
        var after = File.ReadAllLines(Path.Combine(run, "metrics.csv")).Skip(1).Select(l => long.Parse(l[..l.IndexOf(',')], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        after.Should().Equal(Enumerable.Range(0, 41).Select(i => 50L * i), "steps 0 and 50 kept, 88 dropped, then every 50th step to 2000");
        File.ReadAllText(Path.Combine(run, "summary.json")).Should().Contain("\"status\": \"completed\"");
        File.Exists(Path.Combine(run, "diverged.bin")).Should().BeFalse("the finished run leaves no diverged state of the earlier attempt");
        File.Exists(Path.Combine(run, "theta-diverged.npy")).Should().BeFalse();
    }

    [Test]
    public void A_resume_whose_metrics_csv_is_shorter_than_the_checkpoint_says_is_refused_naming_the_file()
    {
        string run = Path.Combine(_dir, "short");
        Cli(["train", .. Tiny, "--steps", "20", "--checkpoint-every", "5", "--quiet", "--out", run]).Code.Should().Be(0);
        string metrics = Path.Combine(run, "metrics.csv");
        var bytes = File.ReadAllBytes(metrics);
        File.WriteAllBytes(metrics, bytes[..(bytes.Length - 10)]);
        var (code, _, err) = Cli(["train", .. Tiny, "--steps", "30", "--quiet", "--resume", Path.Combine(run, "checkpoint.bin"), "--out", run]);
        code.Should().NotBe(0);
        err.Trim().Should().Match($"error: Option '--resume': metrics file '{metrics}' has {bytes.Length - 10} bytes but checkpoint '*checkpoint.bin' records {bytes.Length}; expected *");
        File.ReadAllBytes(metrics).Should().HaveCount(bytes.Length - 10, "a refused resume changes nothing");
    }

    [Test]
    public void A_resume_from_a_checkpoint_with_one_flipped_byte_is_refused_in_one_line_naming_the_file()
    {
        string run = Path.Combine(_dir, "flip");
        Cli(["train", .. Tiny, "--steps", "20", "--checkpoint-every", "5", "--quiet", "--out", run]).Code.Should().Be(0);
        string checkpoint = Path.Combine(run, "checkpoint.bin");
        var bytes = File.ReadAllBytes(checkpoint);
        bytes[bytes.Length / 2] ^= 0x01; // inside θ or the buffers: before checksums this resumed to a different θ with exit 0
        File.WriteAllBytes(checkpoint, bytes);
        var (code, _, err) = Cli(["train", .. Tiny, "--steps", "30", "--quiet", "--resume", checkpoint, "--out", Path.Combine(_dir, "on")]);
        code.Should().NotBe(0);
        err.Trim().Should().Be($"error: Option '--resume': Checkpoint '{checkpoint}' fails its SHA-256 checksum: it was truncated, edited or damaged after it was written; expected the file a training run wrote.");
    }

    [Test]
    public void Under_a_file_size_limit_the_run_stops_with_one_error_line_instead_of_dying_by_SIGXFSZ()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("ulimit -f and SIGXFSZ: Linux only.");
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // As a user runs it: the tool's runtimeconfig turns the runtime's W^X double mapping (a file as large as its code heap) off.
        psi.Environment["CURVATURE_BLAS"] = "libopenblas.so.0";
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("ulimit -f 20; exec dotnet \"$0\" \"$@\"");
        foreach (var a in new[] { CliProcess.Dll, "train", "--arch", "4-64-64-3", "--data", "gmm:200:4:3:1", "--test-data", "none", "--steps", "200", "--eval-every", "1",
            "--hessian-batch", "0", "--quiet", "--save-theta", "--out", Path.Combine(_dir, "big") }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit(120_000).Should().BeTrue();
        p.ExitCode.Should().Be(1, "an error exit, not 128 + SIGXFSZ (153)");
        err.Result.Trim().Should().StartWith("error: A file grew past the file-size limit (ulimit -f)").And.NotContain("\n");
    }

    [Test]
    public void A_kill_9_while_checkpointing_every_step_leaves_a_run_that_resumes_to_the_uninterrupted_bytes()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("POSIX signals: Linux only.");
        string run = Path.Combine(_dir, "k9"), straight = Path.Combine(_dir, "straight");
        var tiny = Tiny.ToArray();
        tiny[Array.IndexOf(tiny, "--eval-every") + 1] = "1";
        string[] args = ["train", .. tiny, "--steps", "3000", "--checkpoint-every", "1", "--quiet"];
        foreach (int delayMs in new[] { 700, 1100 })
        {
            var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            psi.Environment["CURVATURE_BLAS"] = "libopenblas.so.0";
            psi.ArgumentList.Add(CliProcess.Dll);
            string[] full = File.Exists(Path.Combine(run, "checkpoint.bin")) ? [.. args, "--resume", Path.Combine(run, "checkpoint.bin"), "--out", run] : [.. args, "--out", run];
            foreach (var arg in full) psi.ArgumentList.Add(arg);
            using var p = Process.Start(psi)!;
            // Killed once checkpoints are being written, at whatever point of a step it has reached.
            var sw = Stopwatch.StartNew();
            while (!File.Exists(Path.Combine(run, "checkpoint.bin")) && sw.ElapsedMilliseconds < 60_000) Thread.Sleep(20);
            Thread.Sleep(delayMs);
            kill(p.Id, 9).Should().Be(0);
            p.WaitForExit(60_000).Should().BeTrue();
            File.Exists(Path.Combine(run, "summary.json")).Should().BeFalse("the run was killed before it finished");
        }
        Cli([.. args, "--resume", Path.Combine(run, "checkpoint.bin"), "--out", run]).Code.Should().Be(0);
        Cli([.. args, "--out", straight]).Code.Should().Be(0);
        static IEnumerable<string> WithoutSeconds(string path) => File.ReadAllLines(path).Select(l => l[..l.LastIndexOf(',')]);
        WithoutSeconds(Path.Combine(run, "metrics.csv")).Should().Equal(WithoutSeconds(Path.Combine(straight, "metrics.csv")));
        File.ReadAllBytes(Path.Combine(run, "theta.npy")).Should().Equal(File.ReadAllBytes(Path.Combine(straight, "theta.npy")));
        var a = TrainerCheckpoint.Load(Path.Combine(run, "checkpoint.bin"));
        var b = TrainerCheckpoint.Load(Path.Combine(straight, "checkpoint.bin"));
        (a.Step, a.MetricsRows, a.Status).Should().Be((b.Step, b.MetricsRows, b.Status));
        a.Velocity.Should().Equal(b.Velocity);
        a.Theta.Should().Equal(b.Theta);
    }

    [Test]
    public void A_compare_whose_runs_diverge_writes_json_with_numbers_or_null_never_NaN_or_Infinity_strings()
    {
        string outDir = Path.Combine(_dir, "cmp");
        var (code, _, err) = Cli(["compare", "--arch", "4-8-3", "--act", "tanh", "--loss", "mse", "--data", "gmm:90:4:3:1", "--test-data", "gmm:60:4:3:2",
            "--lr", "30", "--batch", "10", "--steps", "20", "--eval-every", "5", "--k", "2", "--refresh", "5", "--hessian-batch", "0",
            "--optimizers", "sgd,bulk", "--points", "0", "--out", outDir]);
        code.Should().Be(0, err);
        var json = Directory.GetFiles(outDir, "*.json", SearchOption.AllDirectories);
        json.Should().Contain(f => f.EndsWith(Path.Combine("sgd", "summary.json"), StringComparison.Ordinal));
        foreach (var f in json)
        {
            string text = File.ReadAllText(f);
            text.Should().NotContain("NaN", f).And.NotContain("Infinity", f);
            JsonDocument.Parse(text).Dispose();
        }
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "summary.json")));
        summary.RootElement.ToString().Should().Contain("\"status\": \"diverged\"");

        // The writer's convention on the record itself: every NaN of a run without results is null, snake_case.
        string missing = RunJson.Serialize(Curvature.Experiments.RunSummary.Missing("x", new Curvature.Experiments.OptimizerSpec(OptimizerKind.Sgd, 1, 1), 0.1));
        missing.Should().NotContain("NaN").And.Contain("\"final_train_loss\": null").And.Contain("\"max_lambda1\": null").And.Contain("\"seconds\": null");
    }

    [Test]
    public void A_reused_output_directory_keeps_no_theta_of_an_earlier_run()
    {
        string run = Path.Combine(_dir, "r");
        Cli(["train", .. Tiny, "--steps", "5", "--quiet", "--out", run]).Code.Should().Be(0);
        File.Exists(Path.Combine(run, "theta.npy")).Should().BeTrue();
        Cli(["train", .. Tiny.Where(a => a != "--save-theta").ToArray(), "--steps", "5", "--quiet", "--out", run]).Code.Should().Be(0);
        File.Exists(Path.Combine(run, "theta.npy")).Should().BeFalse("the second run did not ask for θ");
    }

    [DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int signal);

    [Test]
    public void SIGTERM_ends_the_step_writes_an_interrupted_checkpoint_and_resume_gives_the_uninterrupted_bits()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("POSIX signals: Linux only.");
        string run = Path.Combine(_dir, "int");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["CURVATURE_BLAS"] = "libopenblas.so.0";
        string[] args = [CliProcess.Dll, "train", .. Tiny, "--steps", "100000", "--checkpoint-every", "5", "--out", run];
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string? line;
        while ((line = p.StandardOutput.ReadLine()) is not null && !line.StartsWith("step ", StringComparison.Ordinal)) { }
        line.Should().NotBeNull("the run prints a metrics line before it is signalled");
        kill(p.Id, 15).Should().Be(0);
        string rest = p.StandardOutput.ReadToEnd();
        p.WaitForExit(120_000).Should().BeTrue();
        p.ExitCode.Should().Be(130, $"an interrupted run exits non-zero; stderr: {err.Result}");
        rest.Should().Contain("interrupted at step");
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "summary.json")));
        summary.RootElement.GetProperty("status").GetString().Should().Be("interrupted");
        long stopped = summary.RootElement.GetProperty("stopped_at").GetInt64();
        var checkpoint = TrainerCheckpoint.Load(Path.Combine(run, "checkpoint.bin"));
        checkpoint.Step.Should().Be(stopped);
        checkpoint.Status.Should().Be(TrainingStatus.Interrupted);

        long total = stopped + 12;
        string resumed = Path.Combine(_dir, "resumed"), straight = Path.Combine(_dir, "straight");
        string steps = total.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Cli(["train", .. Tiny, "--steps", steps, "--quiet", "--resume", Path.Combine(run, "checkpoint.bin"), "--out", resumed]).Code.Should().Be(0);
        Cli(["train", .. Tiny, "--steps", steps, "--quiet", "--out", straight]).Code.Should().Be(0);
        Npy.ReadVector(Path.Combine(resumed, "theta.npy")).Should().Equal(Npy.ReadVector(Path.Combine(straight, "theta.npy")),
            "stopping at a step boundary and resuming changes no bit");
    }

    [Test]
    public void Every_size_is_checked_against_its_stated_limit_before_allocating()
    {
        Cli(["init", "--arch", "30000-30000-10", "--out", Path.Combine(_dir, "t.npy")]).Stderr.Trim()
            .Should().Match("error: Option '--arch' was '30000-30000-10'*900030000*parameters*at most 50000000*");
        Cli(["grad", "--arch", "100-1-1048576", "--data", "gmm:2:100:1048576:0", "--out", _dir]).Stderr
            .Should().Contain("C·D = 104857600").And.Contain("≤ 100000000");
        Cli(["grad", "--arch", "4-8-3", "--data", "gmm:90:4:3:1", "--threads", "10000000", "--out", _dir]).Stderr
            .Should().Contain("Option '--threads' was 10000000; expected an integer in [1, ");
        Cli(["train", "--arch", "4-8-3", "--data", "gmm:90:4:3:1", "--threads", "10000000", "--out", _dir]).Stderr
            .Should().Contain("Option '--threads' was 10000000");
    }

    [Test]
    public void A_direction_with_a_NaN_is_refused_naming_the_option_and_the_index()
    {
        var v = new double[67];
        v[12] = double.PositiveInfinity;
        string file = Path.Combine(_dir, "v.npy");
        Npy.Write(file, v, 67);
        var (code, _, err) = Cli(["hvp", "--arch", "4-8-3", "--data", "gmm:90:4:3:1", "-v", file, "--out", _dir]);
        code.Should().NotBe(0);
        err.Should().Contain("Option '-v'").And.Contain("Infinity at index 12").And.Contain("expected finite values");
        File.Exists(Path.Combine(_dir, "hv.npy")).Should().BeFalse();
    }

    [Test]
    public void Conversion_failures_name_the_option_the_value_and_the_type()
    {
        Cli(["eig", "-k", "two"]).Stderr.Trim().Should().Be("error: Option '-k' was 'two'; expected an integer.");
        Cli(["init", "--seed", "-3"]).Stderr.Trim().Should().Be("error: Option '--seed' was '-3'; expected a non-negative integer.");
        Cli(["eig", "--tol", "small"]).Stderr.Trim().Should().Be("error: Option '--tol' was 'small'; expected a number.");
        Cli(["grad", "--chunk", "4294967296"]).Stderr.Trim().Should().Be("error: Option '--chunk' was '4294967296'; expected an integer in [-2147483648, 2147483647].");
    }

    [Test]
    public void A_crafted_checkpoint_is_refused_by_its_sizes_not_by_an_allocation_failure()
    {
        string file = Path.Combine(_dir, "crafted.bin");
        File.WriteAllBytes(file, ReliabilityFixtures.CraftedCheckpoint());
        var act = () => TrainerCheckpoint.Load(file);
        act.Should().Throw<InvalidDataException>().WithMessage($"Checkpoint '{file}' is truncated or corrupt: it declares 2147483647 items but only 0 bytes follow*");
    }
}

using System.Globalization;
using System.Text.Json;
using Curvature.Core;
using Curvature.Optimizers;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

public class TrainCommandTests
{
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-train-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    static readonly string[] Tiny =
    [
        "train", "--arch", "4-8-3", "--act", "tanh", "--loss", "ce", "--data", "gmm:60:4:3:1", "--test-data", "gmm:30:4:3:2",
        "--lr", "0.1", "--batch", "10", "--steps", "20", "--k", "2", "--refresh", "5", "--eval-every", "5", "--seed", "3", "--hessian-batch", "0", "--quiet",
    ];

    static (int code, string stderr) Run(params string[] args)
    {
        var r = CliProcess.Run(args);
        return (r.Code, r.Stderr);
    }

    string[] Args(string outDir, params string[] extra) => [.. Tiny, "--out", Path.Combine(_dir, outDir), .. extra];

    [Test]
    public void A_projected_MNIST_run_gives_the_same_bits_on_one_or_two_threads()
    {
        // Big enough (7690 parameters, k = 10) for OpenBLAS to split its reductions over
        // threads, which the tiny network never triggers.
        string Train(int threads)
        {
            string dir = Path.Combine(_dir, $"t{threads}");
            var (code, err) = Run("train", "--arch", "196-32-32-10", "--act", "tanh", "--loss", "mse", "--data", "mnist14:600",
                "--optimizer", "bulk", "--lr", "0.5", "--batch", "100", "--steps", "30", "--k", "10", "--refresh", "10",
                "--hessian-batch", "200", "--eval-every", "10", "--seed", "3", "--threads", threads.ToString(CultureInfo.InvariantCulture),
                "--save-theta", "--quiet", "--out", dir);
            code.Should().Be(0, err);
            return dir;
        }

        string one = Train(1), two = Train(2);
        File.ReadAllBytes(Path.Combine(two, "theta.npy")).Should().Equal(File.ReadAllBytes(Path.Combine(one, "theta.npy")));
        static IEnumerable<string> WithoutSeconds(string dir) =>
            File.ReadLines(Path.Combine(dir, "metrics.csv")).Select(l => string.Join(',', l.Split(',').SkipLast(1)));
        File.ReadAllText(Path.Combine(one, "metrics.csv")).Split('\n').Should().HaveCountGreaterThan(3);
        WithoutSeconds(two).Should().Equal(WithoutSeconds(one));
    }

    [Test]
    public void Switch_step_at_the_last_step_trains_sgd_bit_for_bit_and_an_earlier_switch_departs_and_is_recorded_in_config_json()
    {
        Run(Args("sgd", "--optimizer", "sgd", "--save-theta")).code.Should().Be(0);
        var (code, err) = Run(Args("late", "--optimizer", "bulk", "--switch-step", "20", "--save-theta"));
        code.Should().Be(0, err);
        (code, err) = Run(Args("early", "--optimizer", "bulk", "--switch-step", "10", "--save-theta"));
        code.Should().Be(0, err);
        byte[] Theta(string d) => File.ReadAllBytes(Path.Combine(_dir, d, "theta.npy"));
        Theta("late").Should().Equal(Theta("sgd"), "every one of the 20 steps is before the switch");
        Theta("early").Should().NotEqual(Theta("sgd"), "steps 10 to 19 are Bulk-SGD steps");
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "early", "config.json")));
        config.RootElement.GetProperty("run").GetProperty("switch_step").GetInt32().Should().Be(10);
        var (bad, message) = Run(Args("both", "--optimizer", "bulk", "--switch-step", "10", "--switch-chi", "0.9"));
        bad.Should().NotBe(0);
        message.Should().Contain("--switch-step").And.Contain("one switch");
    }

    [Test]
    public void A_full_batch_chi_switch_fires_at_the_row_where_the_average_of_metrics_csv_chi_first_reaches_tau_and_lambda_1_full_is_logged()
    {
        // refresh = eval-every = 5: each row's chi_k is the full-batch χ of the refresh at its step.
        const double tau = 0.95, beta = 0.0;
        string dir = Path.Combine(_dir, "full");
        var (code, err) = Run([.. Tiny.Select(a => a == "ce" ? "mse" : a), "--lr", "0.5", "--steps", "30", "--optimizer", "bulk",
            "--switch-chi", "0.95", "--switch-chi-source", "full", "--chi-ema", "0", "--full-lambda-every", "10", "--out", dir]);
        code.Should().Be(0, err);
        var rows = MetricsCsv.Load(Path.Combine(dir, "metrics.csv"));
        double m = double.NaN;
        long? predicted = null;
        foreach (var r in rows)
        {
            m = double.IsNaN(m) ? r.Chi!.Value : beta * m + (1 - beta) * r.Chi!.Value;
            if (m >= tau) { predicted = r.Step; break; }
        }
        predicted.Should().NotBeNull().And.BeGreaterThan(0, $"χ by row: {string.Join(", ", rows.Select(r => r.Chi))}");
        rows.Where(r => r.Step < predicted).Should().OnlyContain(r => !r.Projecting);
        rows.Where(r => r.Step >= predicted).Should().OnlyContain(r => r.Projecting);
        rows.Where(r => r.Step % 10 == 0).Should().OnlyContain(r => r.Lambda1Full > 0);
        rows.Where(r => r.Step % 10 != 0).Should().OnlyContain(r => r.Lambda1Full == null);
        rows.Skip(1).Should().OnlyContain(r => r.BasisOverlap > 0 && r.BasisOverlap <= 1 + 1e-12);
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "config.json")));
        config.RootElement.GetProperty("run").GetProperty("switch_chi_source").GetString().Should().Be("full");
        config.RootElement.GetProperty("run").GetProperty("full_lambda_every").GetInt32().Should().Be(10);
        var (bad, message) = Run(Args("nochi", "--optimizer", "bulk", "--switch-chi-source", "full"));
        bad.Should().NotBe(0);
        message.Should().Contain("switch-chi-source").And.Contain("full");
    }

    [Test]
    public void Metrics_update_share_is_inside_zero_one_for_sgd_steps_before_a_step_switch_and_zero_for_bulk_steps_after()
    {
        var (code, err) = Run(Args("s", "--optimizer", "bulk", "--switch-step", "10", "--eval-every", "1"));
        code.Should().Be(0, err);
        var lines = File.ReadAllLines(Path.Combine(_dir, "s", "metrics.csv"));
        var header = lines[0].Split(',');
        int share = Array.IndexOf(header, "update_share"), step = Array.IndexOf(header, "step");
        share.Should().BeGreaterThan(0, "metrics.csv has an update_share column");
        var rows = lines.Skip(1).Select(l => l.Split(',')).ToList();
        rows.Should().HaveCount(21);
        rows[0][share].Should().BeEmpty("no update precedes step 0");
        foreach (var r in rows.Skip(1))
        {
            double s = double.Parse(r[share], CultureInfo.InvariantCulture);
            // Row s reports the update from step s − 1: SGD up to row 10, Bulk-SGD after.
            if (int.Parse(r[step], CultureInfo.InvariantCulture) <= 10) s.Should().BeInRange(1e-3, 1 + 1e-12, "an SGD step is the minibatch gradient, partly in U");
            else s.Should().BeLessThan(1e-10, "a Bulk-SGD step has no part in U");
        }
    }

    [Test]
    public void Bulk_sgd_on_a_random_subspace_steps_orthogonal_to_it_and_differs_from_bulk_on_the_top_subspace()
    {
        var (code, err) = Run(Args("random", "--optimizer", "bulk", "--subspace", "random", "--eval-every", "1", "--save-theta"));
        code.Should().Be(0, err);
        Run(Args("top", "--optimizer", "bulk", "--save-theta")).code.Should().Be(0);
        File.ReadAllBytes(Path.Combine(_dir, "random", "theta.npy")).Should().NotEqual(File.ReadAllBytes(Path.Combine(_dir, "top", "theta.npy")));
        var lines = File.ReadAllLines(Path.Combine(_dir, "random", "metrics.csv"));
        int share = Array.IndexOf(lines[0].Split(','), "update_share");
        lines.Skip(2).Select(l => double.Parse(l.Split(',')[share], CultureInfo.InvariantCulture)).Should().OnlyContain(s => s < 1e-10, "the step has no part in the random U");
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "random", "config.json")));
        config.RootElement.GetProperty("run").GetProperty("subspace").GetString().Should().Be("random");
    }

    [Test]
    public void Train_on_a_tiny_config_writes_config_metrics_summary_checkpoint_and_theta_that_parse()
    {
        var (code, err) = Run(Args("run", "--optimizer", "bulk", "--save-theta", "--hessian-batch", "20"));
        err.Should().BeEmpty();
        code.Should().Be(0);
        var dir = Path.Combine(_dir, "run");
        Directory.GetFiles(dir).Select(Path.GetFileName).Should().BeEquivalentTo(
            ["config.json", "metrics.csv", "summary.json", "checkpoint.bin", "theta.npy", "theta.npz"], "nothing else, in particular no leftover .tmp file");

        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "config.json")));
        config.RootElement.GetProperty("run").GetProperty("optimizer").GetString().Should().Be("bulk");
        config.RootElement.GetProperty("run").GetProperty("learning_rate").GetDouble().Should().Be(0.1);
        config.RootElement.GetProperty("run").GetProperty("hessian_batch").GetInt32().Should().Be(20);

        var lines = File.ReadAllLines(Path.Combine(dir, "metrics.csv"));
        var header = lines[0].Split(',');
        header.Should().Contain(["step", "train_loss", "train_acc", "test_loss", "test_acc", "lambda_1", "chi_k", "grad_norm", "matvecs", "seconds"]);
        header.Should().Contain("lambda_2");
        var rows = lines.Skip(1).Select(l => l.Split(',')).ToList();
        rows.Should().HaveCount(5).And.OnlyContain(r => r.Length == header.Length);
        rows.Select(r => r[0]).Should().Equal("0", "5", "10", "15", "20");
        foreach (var r in rows)
            foreach (var name in new[] { "train_loss", "train_acc", "test_loss", "test_acc", "lambda_1", "lambda_2", "chi_k", "grad_norm", "seconds" })
                double.TryParse(r[Array.IndexOf(header, name)], NumberStyles.Float, CultureInfo.InvariantCulture, out _).Should().BeTrue($"{name} parses");

        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "summary.json")));
        var s = summary.RootElement;
        s.GetProperty("status").GetString().Should().Be("completed");
        s.GetProperty("steps").GetInt64().Should().Be(20);
        s.GetProperty("matvecs").GetInt64().Should().BeGreaterThan(0);
        s.GetProperty("train_loss").GetDouble().Should().BeLessThan(double.Parse(rows[0][Array.IndexOf(header, "train_loss")], CultureInfo.InvariantCulture));
        s.GetProperty("test_accuracy").GetDouble().Should().BeInRange(0, 1);

        TrainerCheckpoint.Load(Path.Combine(dir, "checkpoint.bin")).Step.Should().Be(20);
        Npy.ReadVector(Path.Combine(dir, "theta.npy")).Should().HaveCount(4 * 8 + 8 + 8 * 3 + 3);
    }

    [Test]
    public void Resuming_through_the_command_line_gives_the_bits_of_the_uninterrupted_run()
    {
        Run(Args("whole", "--optimizer", "dom", "--momentum", "0.9", "--save-theta")).code.Should().Be(0);
        var half = Args("half", "--optimizer", "dom", "--momentum", "0.9", "--save-theta");
        half[Array.IndexOf(half, "--steps") + 1] = "10";
        Run(half).code.Should().Be(0);
        var (code, err) = Run(Args("resumed", "--optimizer", "dom", "--momentum", "0.9", "--save-theta", "--resume", Path.Combine(_dir, "half", "checkpoint.bin")));
        err.Should().BeEmpty();
        code.Should().Be(0);
        File.ReadAllBytes(Path.Combine(_dir, "resumed", "theta.npy")).Should().Equal(File.ReadAllBytes(Path.Combine(_dir, "whole", "theta.npy")));
        static IEnumerable<string> WithoutSeconds(string path) => File.ReadAllLines(path).Select(l => l[..l.LastIndexOf(',')]);
        WithoutSeconds(Path.Combine(_dir, "resumed", "metrics.csv")).Should().Equal(WithoutSeconds(Path.Combine(_dir, "whole", "metrics.csv")));
    }

    [Test]
    public void Full_batch_descent_on_npy_data_with_interp_runs_and_an_init_file_sets_theta0()
    {
        var rng = new Rng(5);
        var x = new double[40 * 4];
        rng.FillGaussian(x);
        var y = Enumerable.Range(0, 40).Select(i => (long)(i % 3)).ToArray();
        string xPath = Path.Combine(_dir, "X.npy"), yPath = Path.Combine(_dir, "y.npy"), initPath = Path.Combine(_dir, "init.npy");
        Npy.Write(xPath, x, 40, 4);
        Npy.Write(yPath, y, 40);
        var init = new double[67];
        rng.FillUniform(init, -0.3, 0.3);
        Npy.Write(initPath, init, 67);
        var args = Args("npy", "--optimizer", "interp", "--alpha-dom", "0.5", "--alpha-bulk", "2", "--init", initPath);
        args[Array.IndexOf(args, "--data") + 1] = $"npy:{xPath},{yPath}";
        args[Array.IndexOf(args, "--batch") + 1] = "40";
        args[Array.IndexOf(args, "--steps") + 1] = "0";
        var (code, err) = Run(args);
        err.Should().BeEmpty();
        code.Should().Be(0);
        var checkpoint = TrainerCheckpoint.Load(Path.Combine(_dir, "npy", "checkpoint.bin"));
        checkpoint.Theta.Should().Equal(init, "zero steps leave θ₀ = the --init vector");
        args[Array.IndexOf(args, "--steps") + 1] = "5";
        Run(args).code.Should().Be(0);
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "npy", "summary.json")));
        summary.RootElement.GetProperty("status").GetString().Should().Be("completed");
    }

    [Test]
    public void A_huge_learning_rate_is_reported_as_diverged_not_as_an_error()
    {
        var args = Args("diverged", "--optimizer", "sgd", "--loss", "mse");
        args[Array.IndexOf(args, "--lr") + 1] = "1e6";
        var (code, err) = Run(args);
        err.Should().BeEmpty();
        code.Should().Be(0);
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "diverged", "summary.json")));
        summary.RootElement.GetProperty("status").GetString().Should().Be("diverged");
        summary.RootElement.GetProperty("stopped_at").GetInt64().Should().BeGreaterThan(0);
    }

    [Test]
    public void Docs_quote_only_status_values_that_summary_json_writes()
    {
        string root = CliProcess.RepoRoot;
        var written = Enum.GetNames<TrainingStatus>().Select(n => JsonNamingPolicy.SnakeCaseLower.ConvertName(n)).ToHashSet();
        var quoted = Directory.GetFiles(Path.Combine(root, "docs"), "*.md").Append(Path.Combine(root, "README.md"))
            .SelectMany(f => System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(f), "\"status\": \"([^\"]*)\"").Select(m => (File: Path.GetFileName(f), Value: m.Groups[1].Value)))
            // A grep pattern such as (completed|diverged), as jobs.txt's guard quotes it, names each of its alternatives.
            .SelectMany(q => q.Value.Trim('(', ')').Split('|').Select(v => (q.File, Value: v)))
            .ToList();
        quoted.Should().Contain(q => q.File == "optimizers.md", "docs/optimizers.md §7 shows summary.json's status");
        quoted.Where(q => !written.Contains(q.Value)).Should().BeEmpty("summary.json writes the status as one of {0}", string.Join(", ", written));
    }

    [TestCase("--lr", "-0.1", "'--lr'*-0.1")]
    [TestCase("--k", "67", "'--k'*67*")]
    [TestCase("--batch", "61", "'--batch'*61*60 training examples")]
    [TestCase("--optimizer", "adam", "'--optimizer'*adam*sgd, dom, bulk or interp")]
    [TestCase("--init", "missing.npy", "'--theta'*missing.npy*")]
    [TestCase("--solver", "arnoldi", "'--solver'*arnoldi*block-lanczos, lanczos, lobpcg or power")]
    [TestCase("--momentum", "1.5", "'--momentum'*1.5*")]
    [TestCase("--act", "sigmoid", "'--act'*sigmoid*")]
    [TestCase("--data", "mnist:0", "mnist:0*")]
    [TestCase("--lr", "abc", "'--lr'*abc*number")]
    [TestCase("--hessian-batch", "61", "'--hessian-batch'*61*60 training examples")]
    [TestCase("--resume", "missing.bin", "'--resume'*missing.bin*")]
    public void Invalid_options_fail_with_one_line_naming_the_option_and_value(string option, string value, string pattern)
    {
        var args = Args("bad", "--optimizer", "sgd").ToList();
        int i = args.IndexOf(option);
        if (i >= 0) args[i + 1] = value; else args.AddRange([option, value]);
        var (code, err) = Run([.. args]);
        code.Should().NotBe(0);
        err.TrimEnd('\n', '\r').Should().NotContain("\n").And.StartWith("error: ").And.Match($"*{pattern}*");
        File.Exists(Path.Combine(_dir, "bad", "summary.json")).Should().BeFalse();
    }

    [Test]
    public void Interp_without_both_alphas_is_rejected_naming_the_missing_one()
    {
        var (code, err) = Run(Args("bad", "--optimizer", "interp", "--alpha-dom", "0.5"));
        code.Should().NotBe(0);
        err.Should().Contain("'--alpha-bulk'");
    }
}

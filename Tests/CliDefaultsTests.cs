using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>
/// Defaults that are right for the data, help that shows what runs, and options that are read,
/// through the CLI as users meet it. Each command runs with its required options (and a short
/// --steps for the commands that train, to bound the suite's time) on small data of each family.
/// </summary>
public class CliDefaultsTests
{
    string _dir = "";

    [OneTimeSetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-defaults-").FullName;

    [OneTimeTearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    static string[] Ok(params string[] args)
    {
        var (code, stdout, stderr) = CliProcess.Run(args);
        code.Should().Be(0, $"curvature {string.Join(" ", args)} failed: {stderr}");
        return stdout.Split('\n');
    }

    static JsonNode Json(string file) => JsonNode.Parse(File.ReadAllText(file))!;

    /// <summary>The data families: mnist14, fashion14, gmm, npy, and a CNN on mnist14.</summary>
    static IEnumerable<TestCaseData> Families()
    {
        yield return new TestCaseData("mnist14", new[] { "--data", "mnist14:60" }, "mnist14-test");
        yield return new TestCaseData("fashion14", new[] { "--data", "fashion14:60" }, "fashion14-test");
        yield return new TestCaseData("gmm", new[] { "--data", "gmm:60:4:3:1", "--arch", "4-8-3" }, null);
        yield return new TestCaseData("npy", new[] { "--data", "npy", "--arch", "4-8-3" }, null);
        yield return new TestCaseData("cnn", new[] { "--data", "mnist14:60", "--arch", "1x14x14-c2k3-m2-10" }, "mnist14-test");
    }

    string[] Data(string[] family)
    {
        if (family[1] != "npy") return family;
        string dir = Path.Combine(_dir, "npy-data");
        if (!File.Exists(Path.Combine(dir, "y.npy"))) Ok("export-data", "--data", "gmm:60:4:3:1", "--out", dir);
        return ["--data", $"npy:{Path.Combine(dir, "X.npy")},{Path.Combine(dir, "y.npy")}", .. family[2..]];
    }

    [TestCaseSource(nameof(Families))]
    public void Every_command_runs_with_only_its_required_options_on_small_data_of_each_family(string name, string[] family, string? testSet)
    {
        var data = Data(family);
        string d = Path.Combine(_dir, name);
        string[] steps = ["--steps", "20"];
        var train = Ok(["train", .. data, .. steps, "--out", Path.Combine(d, "train")]);
        train.Should().Contain(l => l.StartsWith("note: the default minibatch of 100 is more than the 60 examples", StringComparison.Ordinal));
        train.Should().Contain(l => l.StartsWith("note: the default Hessian batch of 500", StringComparison.Ordinal));
        var config = Json(Path.Combine(d, "train", "config.json"));
        ((string?)config["run"]!["test_data"]).Should().Be(testSet, "the test set defaults to the training data's own family");
        string checkpoint = Path.Combine(d, "train", "checkpoint.bin");
        Ok("spectrum", "--checkpoint", checkpoint, "--out", Path.Combine(d, "spectrum"));
        ((int)Json(Path.Combine(d, "spectrum", "summary.json"))["examples"]!).Should().Be(60, "spectrum measures the data it is given");
        Ok("decompose", "--checkpoint", checkpoint, "--out", Path.Combine(d, "decompose"));
        Ok(["compare", .. data, .. steps, "--out", Path.Combine(d, "compare")]);
        Ok(["sweep", .. data, .. steps, "--out", Path.Combine(d, "sweep")]);
    }

    [Test]
    public void Train_on_fashion14_evaluates_on_fashion14_test_by_default()
    {
        string[] run = ["train", "--data", "fashion14:1000", "--steps", "10", "--lr", "0.1", "-k", "0", "--quiet"];
        Ok([.. run, "--out", Path.Combine(_dir, "f-default")]);
        Ok([.. run, "--test-data", "fashion14-test", "--out", Path.Combine(_dir, "f-fashion")]);
        Ok([.. run, "--test-data", "mnist14-test", "--out", Path.Combine(_dir, "f-mnist")]);
        double Acc(string dir) => (double)Json(Path.Combine(_dir, dir, "summary.json"))["test_accuracy"]!;
        ((string?)Json(Path.Combine(_dir, "f-default", "config.json"))["run"]!["test_data"]).Should().Be("fashion14-test");
        Acc("f-default").Should().Be(Acc("f-fashion"));
        Acc("f-default").Should().NotBe(Acc("f-mnist"), "digits scored by a Fashion model are another number");
    }

    /// <summary>The option's value in a command's config.json: run.X, X or analysis.X (X the option in snake case), with the CLI's renamings.</summary>
    static JsonNode? ValueOf(JsonNode config, string command, string option)
    {
        string x = option.TrimStart('-').Replace('-', '_');
        string[] paths = (command, option) switch
        {
            ("spectrum", "--tolerance") => ["analysis.tolerance"],
            ("spectrum", "--curvature") => ["operator"],
            (_, "--act") => ["run.activation"],
            (_, "--lr") => ["run.learning_rate"],
            _ => [$"run.{x}", x, $"analysis.{x}"],
        };
        foreach (var path in paths)
        {
            JsonNode? node = config;
            bool found = true;
            foreach (var part in path.Split('.'))
            {
                if (node is JsonObject o && o.TryGetPropertyValue(part, out var next)) node = next;
                else { found = false; break; }
            }
            if (found) return node ?? JsonValue.Create("none");
        }
        return null;
    }

    static bool SameValue(string shown, JsonNode recorded) => recorded switch
    {
        JsonArray a => shown == string.Join(",", a.Select(v => v!.ToString())),
        _ when recorded.GetValueKind() == JsonValueKind.Number => double.Parse(shown, CultureInfo.InvariantCulture) == recorded.GetValue<double>(),
        _ when recorded.GetValueKind() == JsonValueKind.True || recorded.GetValueKind() == JsonValueKind.False => shown == recorded.ToJsonString(),
        _ => shown == recorded.ToString(),
    };

    [Test]
    public void For_every_command_and_option_the_default_in_help_is_what_the_run_records()
    {
        string d = Path.Combine(_dir, "help");
        string[] tiny = ["--data", "gmm:60:4:3:1", "--arch", "4-8-3", "--steps", "20"];
        Ok(["train", .. tiny, "--save-theta", "--out", Path.Combine(d, "train")]);
        // θ outside a run directory, so spectrum and decompose start from the defaults, not the run beside it.
        string theta = Path.Combine(d, "theta.npy");
        File.Copy(Path.Combine(d, "train", "theta.npy"), theta);
        string[] measure = ["--theta", theta, "--arch", "4-8-3", "--data", "gmm:60:4:3:1"];
        var runs = new Dictionary<string, string[]>
        {
            ["train"] = tiny,
            ["compare"] = tiny,
            ["sweep"] = tiny,
            ["spectrum"] = measure,
            ["decompose"] = measure,
        };
        int compared = 0;
        foreach (var (command, args) in runs)
        {
            string outDir = Path.Combine(d, command + "-run");
            if (command != "train") Ok([command, .. args, "--out", outDir]);
            else outDir = Path.Combine(d, "train");
            var config = Json(Path.Combine(outDir, "config.json"));
            var summary = Json(Path.Combine(outDir, "summary.json"));
            var help = CliProcess.Run([command, "--help"]).Stdout;
            foreach (Match m in Regex.Matches(help, @"^\s+(?:-\w, )?(--?[\w-]+)(?: <[A-Z0-9]+>)?\s+.*\(default ([^()]+?)\)\.?$", RegexOptions.Multiline))
            {
                string option = m.Groups[1].Value, shown = m.Groups[2].Value.Trim();
                // sweep's α lists exist only with --optimizer interp, where their defaults 0 and 1 apply.
                if (args.Contains(option) || option is "--out" or "--config" || (command, option) is ("sweep", "--alpha-dom") or ("sweep", "--alpha-bulk")) continue;
                if (option is "--batch" or "--hessian-batch" or "--eval-every")
                {
                    // Data-dependent defaults: the rule the help states, against what ran (train's summary.json).
                    if (command != "train") continue;
                    int ran = option switch { "--batch" => (int)summary["batch"]!, "--hessian-batch" => (int)summary["hessian_batch"]!, _ => (int)summary["eval_every"]! };
                    ran.Should().Be(option switch { "--batch" => Math.Min(100, 60), "--hessian-batch" => 0, _ => Math.Max(1, 20 / 50) }, $"{command} {option}: {shown}");
                    compared++;
                    continue;
                }
                var recorded = ValueOf(config, command, option == "-k" ? "--k" : option);
                if (recorded is null) continue;   // not a spec field (e.g. --quiet); covered by the listed-options test
                if (shown.StartsWith(':'))
                {
                    // A default stated as a rule ("default: the --seed alone") is a field the spec leaves null.
                    recorded.ToString().Should().Be("none", $"`{command} --help` states {option}'s default as a rule: {shown}");
                    compared++;
                    continue;
                }
                SameValue(shown, recorded).Should().BeTrue($"`{command} --help` shows {option} default '{shown}' and config.json records {recorded.ToJsonString()}");
                compared++;
            }
        }
        compared.Should().BeGreaterThan(60, "every command's spec options were compared");
    }

    static readonly string[] TrainingOnly = ["--batch", "--steps", "--warmup", "--momentum", "--update", "--beta1", "--beta2", "--adam-eps", "--weight-decay", "--switch-chi", "--chi-ema", "--eval-every", "--divergence-factor", "--refresh", "--cold-start", "--test-data"];

    [Test]
    public void Spectrum_lists_and_accepts_no_training_option_and_an_unread_option_is_an_error()
    {
        string help = CliProcess.Run(["spectrum", "--help"]).Stdout;
        foreach (var option in TrainingOnly)
        {
            help.Should().NotContain(option + " ", $"spectrum does not read {option}");
            var (code, _, stderr) = CliProcess.Run(["spectrum", "--theta", "t.npy", option, "1"]);
            code.Should().Be(2);
            stderr.Trim().Should().Be($"error: Option '{option}' is not read by `curvature spectrum`; expected only the options `curvature spectrum --help` lists.");
        }
        CliProcess.Run(["grad", "--help"]).Stdout.Should().NotContain("--vector", "grad reads no vector");
        CliProcess.Run(["hvp", "--help"]).Stdout.Should().Contain("--vector");
    }

    [Test]
    public void Spectrum_solver_and_tolerance_are_read()
    {
        string d = Path.Combine(_dir, "solver");
        Ok("train", "--data", "gmm:60:4:3:1", "--arch", "4-8-3", "--steps", "20", "--out", Path.Combine(d, "t"));
        string checkpoint = Path.Combine(d, "t", "checkpoint.bin");
        Ok("spectrum", "--checkpoint", checkpoint, "-k", "3", "--out", Path.Combine(d, "block"));
        Ok("spectrum", "--checkpoint", checkpoint, "-k", "3", "--solver", "lobpcg", "--out", Path.Combine(d, "lobpcg"));
        Ok("spectrum", "--checkpoint", checkpoint, "-k", "3", "--tolerance", "1e-2", "--out", Path.Combine(d, "loose"));
        var block = Json(Path.Combine(d, "block", "summary.json"));
        var lobpcg = Json(Path.Combine(d, "lobpcg", "summary.json"));
        var loose = Json(Path.Combine(d, "loose", "summary.json"));
        ((string?)block["solver"]).Should().Be("block-lanczos");
        ((string?)lobpcg["solver"]).Should().Be("lobpcg");
        File.ReadAllText(Path.Combine(d, "lobpcg", "report.md")).Should().Contain("LOBPCG");
        File.ReadAllText(Path.Combine(d, "block", "report.md")).Should().Contain("block Lanczos");
        ((int)lobpcg["eigen_matvecs"]!).Should().NotBe((int)block["eigen_matvecs"]!, "another solver spends another number of products");
        ((int)loose["eigen_matvecs"]!).Should().BeLessThan((int)block["eigen_matvecs"]!, "a looser tolerance stops earlier");
    }
}

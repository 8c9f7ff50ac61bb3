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

    static readonly string[] TrainingOnly = ["--batch", "--steps", "--warmup", "--momentum", "--update", "--beta1", "--beta2", "--adam-eps", "--weight-decay", "--switch-chi", "--chi-ema", "--eval-every", "--divergence-factor", "--refresh", "--cold-start", "--test-data",
        "--switch-chi-source", "--full-lambda-every", "--curvature-log-every", "--curvature-log-tolerance"];

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

    /// <summary>The options a command's help lists, each with whether the help declares it speed- or printing-only.</summary>
    static List<(string Option, bool OnlySpeedOrPrinting)> Listed(string command) =>
        Regex.Matches(CliProcess.Run([command, "--help"]).Stdout, @"^\s+(?:-\w, )?(--?[\w-]+)(.*)$", RegexOptions.Multiline)
            .Select(m => (m.Groups[1].Value, Regex.IsMatch(m.Groups[2].Value, @"\bOnly (speed|printing): ")))
            .Where(o => o.Item1 != "--help").ToList();

    /// <summary>
    /// What a run wrote, less what changes from run to run anyway: every file's name; config.json,
    /// summary.json and the CSV files with wall times dropped and the output directory's own path
    /// blanked; θ files byte for byte.
    /// </summary>
    static string Fingerprint(string outDir)
    {
        if (!Directory.Exists(outDir)) return "(no output directory)";
        var sb = new System.Text.StringBuilder();
        foreach (var file in Directory.GetFiles(outDir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            string name = Path.GetRelativePath(outDir, file);
            sb.Append("## ").Append(name).Append('\n');
            string ext = Path.GetExtension(file);
            if (ext == ".json") sb.Append(WithoutTimes(JsonNode.Parse(File.ReadAllText(file))!).ToJsonString().Replace(JsonEncodedText.Encode(outDir).ToString(), "<OUT>").Replace(outDir, "<OUT>"));
            else if (ext == ".csv")
            {
                var rows = File.ReadAllLines(file).Select(l => l.Split(',')).ToList();
                var keep = Enumerable.Range(0, rows[0].Length).Where(c => !IsTime(rows[0][c])).ToList();
                foreach (var r in rows) sb.Append(string.Join(",", keep.Where(c => c < r.Length).Select(c => r[c]))).Append('\n');
            }
            else if (ext is ".npy" or ".npz") sb.Append(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(file))));
            sb.Append('\n');
        }
        return sb.ToString();
    }

    static bool IsTime(string key) => Regex.IsMatch(key, @"(^|_)(seconds|ms|time|elapsed|version|cpu|blas|host|started|finished|date)(_|$)", RegexOptions.IgnoreCase);

    static JsonNode WithoutTimes(JsonNode node)
    {
        if (node is JsonObject o)
            foreach (var key in o.Select(p => p.Key).ToList())
            {
                if (IsTime(key)) o.Remove(key);
                else if (o[key] is { } child) WithoutTimes(child);
            }
        else if (node is JsonArray a)
            foreach (var child in a) if (child is not null) WithoutTimes(child);
        return node;
    }

    [Test]
    public void Every_option_a_run_commands_help_lists_changes_what_it_computes_or_writes_unless_declared_speed_or_printing_only()
    {
        string d = Path.Combine(_dir, "read");
        string[] data = ["--data", "gmm:40:4:3:1", "--arch", "4-8-3"];
        string[] short_ = [.. data, "--steps", "4", "-k", "2", "--refresh", "2", "--eval-every", "1", "--lr", "0.1"];
        // Inputs the variants point at: a θ and a checkpoint from another seed, and a config.json that names another seed.
        string other = Path.Combine(d, "other");
        Ok(["train", .. short_, "--seed", "5", "--save-theta", "--out", other]);
        string theta = Path.Combine(other, "theta.npy"), checkpoint = Path.Combine(other, "checkpoint.bin");
        string measureTheta = Path.Combine(d, "theta0.npy");
        Ok(["train", .. short_, "--save-theta", "--out", Path.Combine(d, "base-theta")]);
        File.Copy(Path.Combine(d, "base-theta", "theta.npy"), measureTheta);
        var baseline = new Dictionary<string, string[]>
        {
            ["train"] = short_,
            ["compare"] = [.. short_, "--optimizers", "sgd,bulk", "--points", "2", "--density-probes", "1", "--density-steps", "8"],
            ["sweep"] = [.. data, "--steps", "4", "-k", "2", "--refresh", "2", "--eval-every", "1", "--lr", "0.1"],
            ["spectrum"] = [.. data, "--theta", measureTheta, "-k", "2", "--density-probes", "1", "--density-steps", "8"],
            ["decompose"] = [.. short_, "--points", "2"],
        };
        // A value other than the one the baseline runs with, for each option the help lists.
        var values = new Dictionary<string, string[]>
        {
            ["--arch"] = ["4-6-3"], ["--act"] = ["relu"], ["--loss"] = ["ce"], ["--data"] = ["gmm:40:4:3:2"],
            ["--test-data"] = ["gmm:20:4:3:5"], ["--batch"] = ["10"], ["--steps"] = ["5"], ["--warmup"] = ["2"],
            ["--momentum"] = ["0.5"], ["--update"] = ["adam"], ["--beta1"] = ["0.5"], ["--beta2"] = ["0.9"],
            ["--adam-eps"] = ["1e-3"], ["--weight-decay"] = ["0.01"], ["--switch-chi"] = ["0.5"], ["--switch-step"] = ["2"],
            ["--chi-ema"] = ["0.5"], ["--subspace"] = ["random"], ["--solver"] = ["lanczos"], ["--curvature"] = ["g"],
            ["--tolerance"] = ["1e-2"], ["--cold-start"] = [], ["--eval-every"] = ["2"], ["--divergence-factor"] = ["1.01"],
            ["--seed"] = ["7"], ["--lr"] = ["0.05"], ["-k"] = ["1"], ["--refresh"] = ["3"], ["--hessian-batch"] = ["20"],
            ["--optimizer"] = ["dom"], ["--checkpoint-every"] = ["2"], ["--theta"] = [theta], ["--save-theta"] = [],
            ["--points"] = ["3"], ["--norms"] = ["hutchinson"], ["--probes"] = ["3"], ["--analysis-tolerance"] = ["1e-2"],
            ["--density-probes"] = ["2"], ["--density-steps"] = ["10"], ["--optimizers"] = ["sgd,dom"], ["--target-loss"] = ["0.5"],
            ["--seeds"] = ["2"], ["--checkpoint"] = [checkpoint], ["--no-overlaps"] = [],
            // The full-batch source needs a χ switch to feed; the baseline has none.
            ["--switch-chi-source"] = ["full", "--switch-chi", "0.5"], ["--full-lambda-every"] = ["2"], ["--curvature-log-every"] = ["3"],
            ["--curvature-log-tolerance"] = ["1e-6"],
        };
        var fingerprints = new Dictionary<string, string>();
        var lastDir = "";
        int run = 0;
        string Run(string command, string[] args)
        {
            string key = command + " " + string.Join(" ", args);
            if (fingerprints.TryGetValue(key, out var known)) return known;
            string outDir = lastDir = Path.Combine(d, $"{command}-{run++}");
            Ok([command, .. args, "--out", outDir]);
            return fingerprints[key] = Fingerprint(outDir);
        }
        static string[] With(string[] args, string option, string[] value)
        {
            var list = new List<string>();
            for (int i = 0; i < args.Length; i++)
            {
                if (args[i] == option) { i++; continue; }   // every baseline option takes a value
                list.Add(args[i]);
            }
            return [.. list, option, .. value];
        }
        var checkedOptions = new List<string>();
        var unread = new List<string>();
        // compare and sweep fill the run options they share with train from the same declarations
        // into the same RunSpec fields (and refuse the ones they do not read): train tries those, and
        // compare and sweep try their own, which keeps the test's run time small.
        var trainOptions = Listed("train").Select(o => o.Option).ToHashSet();
        foreach (var (command, args) in baseline)
        {
            Run(command, args);
            string baseConfig = Path.Combine(lastDir, "config.json");
            foreach (var (option, onlySpeedOrPrinting) in Listed(command))
            {
                if (onlySpeedOrPrinting || option == "--out") continue;   // --out is where every fingerprint is read from
                if (command is "compare" or "sweep" && trainOptions.Contains(option) && option is not ("--config" or "--hessian-batch" or "-k" or "--lr" or "--refresh" or "--optimizer" or "--alpha-dom" or "--alpha-bulk")) continue;
                string[] a = args, b;
                if (option == "--config")
                {
                    // The command's own config.json with another seed; the flags are dropped so the file decides.
                    var config = Json(baseConfig);
                    string edited = Path.Combine(d, $"{command}-config.json");
                    if (config["run"] is JsonObject r) r["seed"] = 9;
                    File.WriteAllText(edited, config.ToJsonString());
                    b = ["--config", edited];
                    a = ["--config", baseConfig];
                }
                else if (option is "--alpha-dom" or "--alpha-bulk")
                {
                    // Read only with --optimizer interp: two interp runs that differ in this α.
                    string[] interp = command == "sweep" ? ["--optimizer", "interp"] : ["--optimizer", "interp", "--alpha-dom", "1", "--alpha-bulk", "1"];
                    a = [.. args, .. interp];
                    b = With(a, option, ["0.5"]);
                }
                else if (option == "--emit" || option == "--collect")
                {
                    // sweep --emit writes jobs instead of running them; --collect builds the table from an emitted sweep's runs.
                    string jobs = Path.Combine(d, "jobs");
                    if (option == "--emit") b = [.. args, "--emit", jobs];
                    else
                    {
                        if (!Directory.Exists(jobs)) Ok(["sweep", .. args, "--emit", jobs, "--out", Path.Combine(d, "emit-out")]);
                        b = [.. args, "--collect", jobs];
                    }
                }
                else if (command == "sweep" && option.StartsWith("--slurm-", StringComparison.Ordinal))
                {
                    // Read only with --emit: they shape the emitted Slurm scripts, not any run.
                    string Emitted(string[] extra)
                    {
                        string jobs = Path.Combine(d, $"slurm-{run++}");
                        Ok(["sweep", .. args, .. extra, "--emit", jobs, "--out", Path.Combine(d, "emit-out")]);
                        return string.Concat(Directory.GetFiles(jobs, "slurm*.sh").Order().Select(File.ReadAllText));
                    }
                    string[] slurmValue = option switch { "--slurm-time" => ["01:00:00"], "--slurm-mem" => ["2G"], _ => ["2"] };
                    if (Emitted([]) == Emitted([option, .. slurmValue])) unread.Add($"{command} {option}");
                    checkedOptions.Add($"{command} {option}");
                    continue;
                }
                else if (command == "spectrum" && option == "--arch")
                {
                    // θ must fit the network: the other architecture's own seeded θ.
                    string small = Path.Combine(d, "theta-4-6-3");
                    if (!Directory.Exists(small)) Ok(["train", .. With(short_, "--arch", ["4-6-3"]), "--save-theta", "--out", small]);
                    b = With(With(args, "--arch", ["4-6-3"]), "--theta", [Path.Combine(small, "theta.npy")]);
                }
                else if (command == "spectrum" && option == "--checkpoint") b = [.. args.Where((_, i) => i < 4 || i > 5), "--checkpoint", checkpoint];
                else
                {
                    values.Should().ContainKey(option, $"`{command} --help` lists {option}; the test needs a value for it");
                    b = With(args, option, values[option]);
                }
                if (Run(command, b) == Run(command, a)) unread.Add($"{command} {option}");
                checkedOptions.Add($"{command} {option}");
            }
        }
        unread.Should().BeEmpty($"each option must change what the run computes or writes (tried {checkedOptions.Count}), or be declared speed- or printing-only in its declaration");
        checkedOptions.Should().HaveCountGreaterThan(90, "every option of train, spectrum and decompose and every own option of compare and sweep was tried");
    }
}

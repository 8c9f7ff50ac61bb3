using System.Text.Json.Nodes;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>
/// `--config` files are read strictly (unknown keys, later formats, a missing run and wrong
/// types refused in one line naming the key or option, exit 2), config.json does not record a
/// resume, and a resume may extend --steps when the metrics cadence was derived from it.
/// </summary>
public class StrictConfigTests
{
    string _dir = "";
    string _config = "";

    [OneTimeSetUp]
    public void SetUp()
    {
        _dir = Directory.CreateTempSubdirectory("curvature-strict-").FullName;
        var (code, _, err) = CliProcess.Run(["train", "--arch", "4-8-3", "--data", "gmm:60:4:3:1", "--steps", "4", "-k", "0", "--quiet", "--out", Path.Combine(_dir, "base")]);
        code.Should().Be(0, err);
        _config = Path.Combine(_dir, "base", "config.json");
    }

    [OneTimeTearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    string Edited(string name, Action<JsonObject> edit)
    {
        var root = JsonNode.Parse(File.ReadAllText(_config))!.AsObject();
        edit(root);
        string file = Path.Combine(_dir, name + ".json");
        File.WriteAllText(file, root.ToJsonString());
        return file;
    }

    static void Refused(string file, string pattern)
    {
        var (code, _, stderr) = CliProcess.Run(["train", "--config", file, "--out", file + ".out", "--quiet"]);
        code.Should().Be(2, stderr);
        stderr.Trim().Split('\n').Should().ContainSingle().Which.Should().Match(pattern);
        Directory.Exists(file + ".out").Should().BeFalse("nothing runs from a refused config");
    }

    [Test]
    public void Unknown_or_misspelled_keys_are_refused_naming_the_key_and_the_file()
    {
        string a = Edited("lern", r => r["run"]!["lern_rate"] = 0.1);
        Refused(a, $"error: File '{a}' has the unknown key 'lern_rate' at $.run.lern_rate*");
        string b = Edited("upper", r => r["run"]!["STEPS"] = 10);
        Refused(b, $"error: File '{b}' has the unknown key 'STEPS'*");
        string c = Edited("version", r => r["version"] = "9.9.0");
        Refused(c, $"error: File '{c}' has the unknown key 'version'*");
    }

    [Test]
    public void A_later_format_and_a_missing_run_are_refused()
    {
        string a = Edited("format", r => r["format"] = 9);
        Refused(a, $"error: File '{a}' has format 9; expected 1 to 2*");
        string b = Edited("norun", r => r.Remove("run"));
        Refused(b, $"error: File '{b}' has no 'run'*");
    }

    [Test]
    public void A_value_of_the_wrong_type_names_the_option_and_exits_2()
    {
        string a = Edited("seed", r => r["run"]!["seed"] = "abc");
        Refused(a, $"error: File '{a}': option '--seed' ($.run.seed) has a value of the wrong type or range; expected a non-negative integer.");
        string b = Edited("optimizer", r => r["run"]!["optimizer"] = "adamw");
        Refused(b, $"error: File '{b}': option '--optimizer' ($.run.optimizer)*expected*sgd, dom, bulk or interp*");
    }

    [Test]
    public void Config_json_does_not_record_resume_and_an_old_file_with_one_still_reruns()
    {
        string checkpoint = Path.Combine(_dir, "base", "checkpoint.bin");
        var (code, _, err) = CliProcess.Run(["train", "--config", _config, "--steps", "8", "--resume", checkpoint, "--out", Path.Combine(_dir, "base"), "--quiet"]);
        code.Should().Be(0, err);
        File.ReadAllText(_config).Should().NotContain("resume");
        // A format-1 file (no format, a resume key, an alias) reruns from scratch in another folder.
        string old = Edited("old", r => { r.Remove("format"); r["resume"] = checkpoint; r["run"]!["curvature"] = "gn"; });
        string outDir = Path.Combine(_dir, "rerun");
        (code, _, err) = CliProcess.Run(["train", "--config", old, "--out", outDir, "--quiet"]);
        code.Should().Be(0, err);
        File.ReadAllLines(Path.Combine(outDir, "metrics.csv")).Skip(1).First().Split(',')[0].Should().Be("0", "the rerun starts at step 0, not at the old checkpoint");
        File.ReadAllText(Path.Combine(outDir, "config.json")).Should().Contain("\"curvature\": \"g\"");
    }

    [Test]
    public void A_resume_may_extend_steps_and_keeps_the_cadence_derived_from_the_first_steps()
    {
        string dir = Path.Combine(_dir, "extend");
        string[] run = ["train", "--arch", "4-8-3", "--data", "gmm:60:4:3:1", "--lr", "0.1", "-k", "2", "--quiet", "--out", dir];
        var (code, _, err) = CliProcess.Run([.. run, "--steps", "200"]);
        code.Should().Be(0, err);
        (code, _, err) = CliProcess.Run([.. run, "--steps", "400", "--resume", Path.Combine(dir, "checkpoint.bin")]);
        code.Should().Be(0, err);
        var steps = File.ReadAllLines(Path.Combine(dir, "metrics.csv")).Skip(1).Select(l => int.Parse(l.Split(',')[0], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        steps.Should().Equal(Enumerable.Range(0, 101).Select(i => 4 * i), "steps/50 = 4 for the first 200 steps, and the resumed run keeps it");
        JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "summary.json")))!["steps"]!.GetValue<long>().Should().Be(400);
    }
}

using System.Text.Json;
using System.Text.RegularExpressions;
using Curvature.Core;
using Curvature.Experiments;
using Curvature.Optimizers;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>
/// One spelling of every option across commands (docs/cli.md): one default network, old
/// spellings hidden but accepted, enum values in any case.
/// </summary>
public class OptionVocabularyTests
{
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-options-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    static string Help(string command)
    {
        var (code, stdout, err) = CliProcess.Run([.. command.Split(' '), "--help"]);
        code.Should().Be(0, err);
        return Regex.Replace(stdout, @"\s+", "");
    }

    [TestCase("train")]
    [TestCase("compare")]
    [TestCase("init")]
    [TestCase("grad")]
    public void Every_command_that_builds_a_network_shows_the_same_default_architecture(string command) =>
        Help(command).Should().Contain(RunSpec.DefaultArch);

    [Test]
    public void Old_spellings_are_hidden_from_help_and_new_ones_shown()
    {
        var eig = Help("eig");
        eig.Should().Contain("--tolerance").And.NotContain("--tol<").And.NotContain("--top-k");
        var train = Help("train");
        train.Should().Contain("--theta").And.NotContain("--init<").And.NotContain("--top-k");
        var spectrum = Help("spectrum");
        spectrum.Should().Contain("--curvature").And.NotContain("--operator");
    }

    [Test]
    public void Enum_values_in_any_case_and_old_option_names_configure_the_same_run()
    {
        string a = Path.Combine(_dir, "a"), b = Path.Combine(_dir, "b");
        string[] common = ["--arch", "4-8-3", "--data", "gmm:60:4:3:1", "--test-data", "none", "--steps", "2", "--batch", "10", "--hessian-batch", "0", "--quiet"];
        var r1 = CliProcess.Run(["train", .. common, "--optimizer", "Bulk", "--curvature", "GN", "--loss", "Torch-MSE", "--k", "2", "--out", a]);
        r1.Code.Should().Be(0, r1.Stderr);
        var r2 = CliProcess.Run(["train", .. common, "--optimizer", "bulk", "--curvature", "gn", "--loss", "torch-mse", "--top-k", "2", "--out", b]);
        r2.Code.Should().Be(0, r2.Stderr);
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(a, "config.json")));
        var run = config.RootElement.GetProperty("run");
        run.GetProperty("optimizer").GetString().Should().Be("bulk");
        run.GetProperty("curvature").GetString().Should().Be("g", "an alias is stored by its canonical name");
        run.GetProperty("loss").GetString().Should().Be("torch-mse");
        run.GetProperty("k").GetInt32().Should().Be(2);
        using var other = JsonDocument.Parse(File.ReadAllText(Path.Combine(b, "config.json")));
        other.RootElement.GetProperty("run").GetRawText().Should().Be(run.GetRawText());
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(a, "summary.json")));
        summary.RootElement.GetProperty("version").GetString().Should().Be(RunJson.Version);
    }
}

using Curvature.Core;
using Curvature.Experiments;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>
/// Every command that trains or measures writes its spec as config.json, and `--config` on
/// that file reproduces the outputs bit for bit (wall-clock columns aside). The CLI runs as a
/// child process, as users meet it.
/// </summary>
public class RerunFromConfigTests
{
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-rerun-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    static readonly string[] Tiny =
    [
        "--arch", "4-8-3", "--act", "tanh", "--loss", "mse", "--data", "gmm:90:4:3:1", "--test-data", "gmm:60:4:3:2",
        "--lr", "0.1", "--batch", "10", "--steps", "20", "--eval-every", "5", "--k", "2", "--refresh", "5", "--hessian-batch", "30", "--seed", "7",
    ];

    static string[] Without(string[] args, string option)
    {
        int i = Array.IndexOf(args, option);
        return [.. args[..i], .. args[(i + 2)..]];
    }

    string Dir(string name) => Path.Combine(_dir, name);

    static void Ok(params string[] args)
    {
        var (code, _, err) = CliProcess.Run(args);
        code.Should().Be(0, err);
    }

    /// <summary>A CSV's lines with the named column removed (wall-clock seconds differ between runs).</summary>
    static IEnumerable<string> Without(string file, string column)
    {
        var lines = File.ReadAllLines(file);
        int c = Array.IndexOf(lines[0].Split(','), column);
        return lines.Select(l => c < 0 ? l : string.Join(',', l.Split(',').Where((_, i) => i != c)));
    }

    static void SameCsv(string a, string b, string? skip = null)
    {
        File.Exists(a).Should().BeTrue(a);
        Without(b, skip ?? "").Should().Equal(Without(a, skip ?? ""), $"{Path.GetFileName(b)} reruns bit for bit");
    }

    static void SameBytes(string a, string b)
    {
        File.Exists(a).Should().BeTrue(a);
        File.ReadAllBytes(b).Should().Equal(File.ReadAllBytes(a), $"{Path.GetFileName(b)} reruns bit for bit");
    }

    [Test]
    public void Train_rerun_from_its_config_json_reproduces_metrics_and_theta_bit_for_bit()
    {
        Ok(["train", .. Tiny, "--optimizer", "interp", "--alpha-dom", "0.3", "--alpha-bulk", "1.5", "--momentum", "0.5", "--save-theta", "--quiet", "--out", Dir("a")]);
        Ok(["train", "--config", Path.Combine(Dir("a"), "config.json"), "--quiet", "--out", Dir("b")]);
        SameCsv(Path.Combine(Dir("a"), "metrics.csv"), Path.Combine(Dir("b"), "metrics.csv"), "seconds");
        SameBytes(Path.Combine(Dir("a"), "theta.npy"), Path.Combine(Dir("b"), "theta.npy"));
    }

    [Test]
    public void A_flag_given_with_config_overrides_the_file()
    {
        Ok(["train", .. Tiny, "--save-theta", "--quiet", "--out", Dir("a")]);
        Ok(["train", "--config", Path.Combine(Dir("a"), "config.json"), "--steps", "10", "--quiet", "--out", Dir("b")]);
        var rerun = RunJsonRoot(Path.Combine(Dir("b"), "config.json"));
        rerun.GetProperty("run").GetProperty("steps").GetInt32().Should().Be(10);
        rerun.GetProperty("run").GetProperty("seed").GetUInt64().Should().Be(7, "the other fields come from the file");
    }

    static System.Text.Json.JsonElement RunJsonRoot(string path) => System.Text.Json.JsonDocument.Parse(File.ReadAllText(path)).RootElement;

    [Test]
    public void Compare_rerun_from_its_config_json_reproduces_every_run_and_the_analysis_bit_for_bit()
    {
        Ok(["compare", .. Tiny, "--optimizers", "sgd,bulk", "--points", "2", "--out", Dir("a")]);
        Ok(["compare", "--config", Path.Combine(Dir("a"), "config.json"), "--out", Dir("b")]);
        foreach (var run in new[] { "sgd", "bulk" })
        {
            SameCsv(Path.Combine(Dir("a"), run, "metrics.csv"), Path.Combine(Dir("b"), run, "metrics.csv"), "seconds");
            SameBytes(Path.Combine(Dir("a"), run, "theta.npy"), Path.Combine(Dir("b"), run, "theta.npy"));
        }
        SameCsv(Path.Combine(Dir("a"), "energy.csv"), Path.Combine(Dir("b"), "energy.csv"));
        SameCsv(Path.Combine(Dir("a"), "density.csv"), Path.Combine(Dir("b"), "density.csv"));
    }

    [Test]
    public void A_compare_run_directory_reruns_through_train_bit_for_bit()
    {
        Ok(["compare", .. Tiny, "--optimizers", "bulk", "--points", "0", "--out", Dir("a")]);
        Ok(["train", "--config", Path.Combine(Dir("a"), "bulk", "config.json"), "--quiet", "--out", Dir("b")]);
        SameCsv(Path.Combine(Dir("a"), "bulk", "metrics.csv"), Path.Combine(Dir("b"), "metrics.csv"), "seconds");
        SameBytes(Path.Combine(Dir("a"), "bulk", "theta.npy"), Path.Combine(Dir("b"), "theta.npy"));
    }

    [Test]
    public void Sweep_rerun_from_its_config_json_reproduces_the_table_bit_for_bit()
    {
        Ok(["sweep", .. Without(Tiny, "--lr"), "--lr", "0.05,0.1", "--optimizer", "bulk", "--out", Dir("a")]);
        Ok(["sweep", "--config", Path.Combine(Dir("a"), "config.json"), "--out", Dir("b")]);
        SameCsv(Path.Combine(Dir("a"), "sweep.csv"), Path.Combine(Dir("b"), "sweep.csv"), "seconds");
    }

    [Test]
    public void Spectrum_rerun_from_its_config_json_reproduces_eigenpairs_and_density_bit_for_bit()
    {
        Ok(["train", .. Tiny, "--quiet", "--out", Dir("t")]);
        Ok(["spectrum", "--checkpoint", Path.Combine(Dir("t"), "checkpoint.bin"), "--operator", "g", "--out", Dir("a")]);
        Ok(["spectrum", "--config", Path.Combine(Dir("a"), "config.json"), "--out", Dir("b")]);
        SameCsv(Path.Combine(Dir("a"), "eigenvalues.csv"), Path.Combine(Dir("b"), "eigenvalues.csv"));
        SameBytes(Path.Combine(Dir("a"), "eigenvectors.npy"), Path.Combine(Dir("b"), "eigenvectors.npy"));
        SameCsv(Path.Combine(Dir("a"), "density.csv"), Path.Combine(Dir("b"), "density.csv"));
    }

    [Test]
    public void Decompose_rerun_from_its_config_json_reproduces_the_energies_bit_for_bit()
    {
        Ok(["decompose", .. Tiny, "--points", "2", "--out", Dir("a")]);
        Ok(["decompose", "--config", Path.Combine(Dir("a"), "config.json"), "--out", Dir("b")]);
        SameCsv(Path.Combine(Dir("a"), "energy.csv"), Path.Combine(Dir("b"), "energy.csv"));
        SameCsv(Path.Combine(Dir("a"), "sgd", "metrics.csv"), Path.Combine(Dir("b"), "sgd", "metrics.csv"), "seconds");
    }

    [Test]
    public void Spectrum_measures_the_curvature_on_the_examples_the_tracker_used()
    {
        // One Hessian-batch draw for a given seed: spectrum at θ₀ with the run's seed and batch
        // finds the eigenvalues the tracker found at step 0.
        Ok(["train", .. Tiny, "--steps", "0", "--quiet", "--out", Dir("t")]);
        Ok(["spectrum", "--checkpoint", Path.Combine(Dir("t"), "checkpoint.bin"), "--analysis-tolerance", "1e-10", "--out", Dir("s")]);
        var tracked = CsvTableOf(Path.Combine(Dir("t"), "metrics.csv"));
        var spectrum = CsvTableOf(Path.Combine(Dir("s"), "eigenvalues.csv"));
        spectrum[0, "eigenvalue"].Should().BeApproximately(tracked[0, "lambda_1"], 1e-3 * Math.Abs(tracked[0, "lambda_1"]));
    }

    static Core.CsvTable CsvTableOf(string path) => Core.CsvTable.Load(path);
}

using System.Text.Json;
using Curvature.Core;
using Curvature.Models;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.AutodiffTestSupport;

namespace Curvature.Tests;

/// <summary>The commands on a Transformer architecture over the spam-subject lines, run as a child process.</summary>
public class TransformerCommandTests
{
    const string Arch = "spam-e8-t2f16-2";
    const string Data = "spam:40";
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-transformer-cli-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    static (int Code, string Stdout, string Stderr) Run(params string[] args) => CliProcess.Run(args);

    [Test]
    public void Init_prints_the_parameter_count_of_the_PyTorch_module()
    {
        var r = Run("init", "--arch", Arch, "--seed", "2", "--out", Path.Combine(_dir, "theta.npy"));
        r.Code.Should().Be(0, r.Stderr);
        r.Stdout.Should().Contain($"{PyTorchParameterCount} parameters");
        Npy.ReadVector(Path.Combine(_dir, "theta.npy")).Should().Equal(TransformerClassifier.Parse(Arch).Initialize(2));
    }

    /// <summary>sum(p.numel() for p in model.parameters()) of the PyTorch module behind <see cref="Arch"/>.</summary>
    static int PyTorchParameterCount
    {
        get
        {
            int v = SpamSubjects.Vocabulary.Count, l = SpamSubjects.SequenceLength;
            // pos_embedding + embedding + one layer (attention, feed-forward, two norms) + classifier.
            return l * 8 + v * 8 + (3 * 64 + 24 + 64 + 8) + (16 * 8 + 16 + 8 * 16 + 8) + 4 * 8 + (2 * 8 + 2);
        }
    }

    [Test]
    public void Train_prints_the_parameter_count_of_the_PyTorch_module()
    {
        var r = Run("train", "--arch", Arch, "--loss", "ce", "--data", Data, "--steps", "1", "--batch", "20",
            "--hessian-batch", "40", "-k", "2", "--out", Path.Combine(_dir, "run"));
        r.Code.Should().Be(0, r.Stderr);
        r.Stdout.Should().Contain($"{Arch}: {PyTorchParameterCount} parameters");
    }

    [Test]
    public void Train_on_spam_lines_runs_and_lowers_the_loss()
    {
        string run = Path.Combine(_dir, "run");
        var r = Run("train", "--arch", Arch, "--loss", "ce", "--data", Data, "--test-data", "spam-test", "--steps", "8", "--batch", "20",
            "--lr", "0.2", "--hessian-batch", "40", "-k", "2", "--optimizer", "bulk", "--out", run);
        r.Code.Should().Be(0, r.Stderr);
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "summary.json")));
        var rows = File.ReadAllLines(Path.Combine(run, "metrics.csv"));
        rows.Length.Should().BeGreaterThan(2);
        summary.RootElement.GetProperty("parameters").GetInt32().Should().Be(TransformerClassifier.Parse(Arch).ParameterCount);
        double final = summary.RootElement.GetProperty("train_loss").GetDouble();
        final.Should().BeLessThan(Math.Log(2), "eight steps from a loss near log 2 on 40 lines");
    }

    [Test]
    public void Hvp_file_equals_central_differences_of_the_gradient()
    {
        string theta = Path.Combine(_dir, "theta.npy");
        Run("init", "--arch", Arch, "--seed", "4", "--out", theta).Code.Should().Be(0);
        var r = Run("hvp", "--arch", Arch, "--loss", "ce", "--data", Data, "--theta", theta, "--out", _dir);
        r.Code.Should().Be(0, r.Stderr);
        var hv = Npy.ReadVector(Path.Combine(_dir, "hv.npy"));
        var v = Npy.ReadVector(Path.Combine(_dir, "v.npy"));
        var objective = new Objective(TransformerClassifier.Parse(Arch), LossKind.CrossEntropy, DataSpec.Parse(Data));
        var grad = new double[objective.ParameterCount];
        var expected = Checks.Directional(x => { objective.LossAndGradient(x, grad); return (double[])grad.Clone(); }, Npy.ReadVector(theta), v, 1e-4);
        Checks.RelativeError(hv, expected).Should().BeLessThan(1e-6);
    }

    [Test]
    public void Export_data_writes_token_ids_and_mask_that_read_back_as_the_dataset()
    {
        var r = Run("export-data", "--data", "spam:25", "--out", _dir);
        r.Code.Should().Be(0, r.Stderr);
        var ids = Npy.Read(Path.Combine(_dir, "ids.npy"));
        var mask = Npy.Read(Path.Combine(_dir, "mask.npy"));
        var data = SpamSubjects.Train(25);
        ids.Shape.Should().Equal(25, SpamSubjects.SequenceLength);
        ids.Int64!.Select(x => (double)x).Should().Equal(data.X.Data);
        mask.Int64!.Should().Equal(data.X.Data.Select(x => x == 0 ? 0L : 1L));
        var vocab = File.ReadAllLines(Path.Combine(_dir, "vocab.txt"));
        vocab.Take(2).Should().Equal("<pad>", "<unk>");
        // The first line's ids spell its tokens.
        var tokens = SpamSubjects.Tokenize(SpamSubjects.Text(0));
        for (int t = 0; t < Math.Min(tokens.Count, SpamSubjects.SequenceLength); t++) vocab[(int)ids.Int64![t]].Should().Be(tokens[t]);
    }

    [Test]
    public void A_width_not_divisible_by_the_heads_is_one_error_line_naming_arch()
    {
        var r = Run("grad", "--arch", "spam-e6-t4-2", "--loss", "ce", "--data", Data, "--out", _dir);
        r.Code.Should().NotBe(0);
        r.Stderr.Trim().Split('\n').Should().HaveCount(1);
        r.Stderr.Should().Contain("--arch").And.Contain("t4").And.Contain("divide");
    }
}

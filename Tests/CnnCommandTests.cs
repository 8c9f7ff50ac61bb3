using Curvature.Core;
using Curvature.Models;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>The `init`, `grad`, `hvp`, `ggnvp` and `fvp` commands on a convolutional architecture string, run as a child process.</summary>
public class CnnCommandTests
{
    const string Arch = "1x14x14-c4k3-m2-c3k3s2p1-a2-10";
    const string Data = "fashion14:30";
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-cnn-cli-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    static (int code, string stderr) Run(params string[] args)
    {
        var r = CliProcess.Run(args);
        return (r.Code, r.Stderr);
    }

    static Objective Objective(LossKind loss) => new(Sequential.Parse(Arch, Activation.Tanh), loss, DataSpec.Parse(Data));

    [Test]
    public void Init_of_a_cnn_writes_the_seeded_initialization_of_the_parsed_network()
    {
        string file = Path.Combine(_dir, "theta.npy");
        Run("init", "--arch", Arch, "--seed", "7", "--out", file).code.Should().Be(0);
        var net = Sequential.Parse(Arch, Activation.Tanh);
        Npy.ReadVector(file).Should().Equal(net.Initialize(7));
        // 14 → 12 (k3) → 6 (m2) → 3 (k3 s2 p1) → 1 (a2): 4·9 + 4 + 3·4·9 + 3 + 3·10 + 10.
        net.ParameterCount.Should().Be(191);
    }

    [Test]
    public void Gradient_file_of_a_cnn_matches_central_differences_of_the_loss()
    {
        var objective = Objective(LossKind.CrossEntropy);
        string theta = Path.Combine(_dir, "theta.npy");
        Run("init", "--arch", Arch, "--seed", "3", "--out", theta).code.Should().Be(0);
        var (code, err) = Run("grad", "--arch", Arch, "--loss", "ce", "--data", Data, "--theta", theta, "--out", _dir);
        code.Should().Be(0, err);
        var g = Npy.ReadVector(Path.Combine(_dir, "grad.npy"));
        var t = Npy.ReadVector(theta);
        g.Length.Should().Be(objective.ParameterCount);
        const double h = 1e-6;
        for (int i = 0; i < t.Length; i += 3)
        {
            var plus = (double[])t.Clone(); plus[i] += h;
            var minus = (double[])t.Clone(); minus[i] -= h;
            double fd = (objective.Loss(plus) - objective.Loss(minus)) / (2 * h);
            g[i].Should().BeApproximately(fd, 1e-7 * Math.Max(1, Math.Abs(fd)), $"coordinate {i}");
        }
    }

    [Test]
    public void Hessian_product_file_of_a_cnn_matches_differences_of_the_gradient_and_equals_G_plus_F()
    {
        var objective = Objective(LossKind.MeanSquaredError);
        string theta = Path.Combine(_dir, "theta.npy");
        Run("init", "--arch", Arch, "--seed", "3", "--out", theta).code.Should().Be(0);
        foreach (var cmd in new[] { "hvp", "ggnvp", "fvp" })
        {
            var (code, err) = Run(cmd, "--arch", Arch, "--loss", "mse", "--data", Data, "--theta", theta, "--seed", "11", "--out", _dir);
            code.Should().Be(0, err);
        }
        var t = Npy.ReadVector(theta);
        var v = Npy.ReadVector(Path.Combine(_dir, "v.npy"));
        var hv = Npy.ReadVector(Path.Combine(_dir, "hv.npy"));
        var gv = Npy.ReadVector(Path.Combine(_dir, "gv.npy"));
        var fv = Npy.ReadVector(Path.Combine(_dir, "fv.npy"));
        const double h = 1e-5;
        var gp = new double[t.Length];
        var gm = new double[t.Length];
        objective.LossAndGradient(t.Select((x, i) => x + h * v[i]).ToArray(), gp);
        objective.LossAndGradient(t.Select((x, i) => x - h * v[i]).ToArray(), gm);
        double scale = hv.Max(Math.Abs);
        for (int i = 0; i < t.Length; i++)
        {
            hv[i].Should().BeApproximately((gp[i] - gm[i]) / (2 * h), 1e-6 * scale);
            hv[i].Should().BeApproximately(gv[i] + fv[i], 1e-12 * scale);
        }
    }

    [Test]
    public void A_pool_that_does_not_fit_is_a_one_line_error_naming_the_token()
    {
        var (code, stderr) = Run("grad", "--arch", "1x14x14-c4k3-m2-m7-10", "--data", Data, "--out", _dir);
        code.Should().NotBe(0);
        stderr.TrimEnd().Split('\n').Should().ContainSingle().Which.Should().Contain("'m7'").And.Contain("pooling kernel of at most 6");
    }

    [Test]
    public void An_unknown_token_error_keeps_the_grammar_text_with_its_brackets()
    {
        var (code, stderr) = Run("init", "--arch", "1x14x14-x4-10", "--out", Path.Combine(_dir, "t.npy"));
        code.Should().NotBe(0);
        stderr.TrimEnd().Split('\n').Should().ContainSingle().Which.Should().Contain("'x4'").And.Contain("cN[kK][sS][pP]");
    }

    [TestCase("init")]
    [TestCase("hvp")]
    [TestCase("compare")]
    [TestCase("train")]
    public void Help_that_shows_the_cnn_grammar_renders(string command)
    {
        var (code, stderr) = Run(command, "--help");
        code.Should().Be(0, stderr);
    }
}

using Curvature.Core;
using Curvature.Models;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>The `init`, `grad`, `hvp`, `ggnvp` and `fvp` commands that export θ and products as .npy.</summary>
public class CheckCommandTests
{
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-check-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    static (int code, string stderr) Run(params string[] args)
    {
        var r = CliProcess.Run(args);
        return (r.Code, r.Stderr);
    }

    [Test]
    public void Init_writes_the_seeded_PyTorch_default_initialization()
    {
        string file = Path.Combine(_dir, "theta.npy");
        Run("init", "--arch", "4-6-3", "--act", "tanh", "--seed", "7", "--out", file).code.Should().Be(0);
        var theta = Npy.ReadVector(file);
        theta.Should().Equal(Mlp.Parse("4-6-3", Activation.Tanh).Initialize(7));
        // First layer bound is 1/√4, second 1/√6.
        theta.Take(30).Should().OnlyContain(x => Math.Abs(x) <= 0.5);
        theta.Skip(30).Should().OnlyContain(x => Math.Abs(x) <= 1 / Math.Sqrt(6));
    }

    [Test]
    public void Gradient_file_matches_central_differences_of_the_loss()
    {
        var objective = new Objective(Mlp.Parse("3-4-2", Activation.Tanh), LossKind.CrossEntropy, DataSpec.Parse("gmm:20:3:2:5"));
        string theta = Path.Combine(_dir, "theta.npy");
        Run("init", "--arch", "3-4-2", "--seed", "3", "--out", theta).code.Should().Be(0);
        Run("grad", "--arch", "3-4-2", "--loss", "ce", "--data", "gmm:20:3:2:5", "--theta", theta, "--out", _dir).code.Should().Be(0);
        var g = Npy.ReadVector(Path.Combine(_dir, "grad.npy"));
        var t = Npy.ReadVector(theta);
        const double h = 1e-6;
        for (int i = 0; i < t.Length; i++)
        {
            var plus = (double[])t.Clone(); plus[i] += h;
            var minus = (double[])t.Clone(); minus[i] -= h;
            double fd = (objective.Loss(plus) - objective.Loss(minus)) / (2 * h);
            g[i].Should().BeApproximately(fd, 1e-7 * Math.Max(1, Math.Abs(fd)));
        }
    }

    [Test]
    public void Per_example_gradient_file_holds_each_examples_one_example_gradient_and_the_library_matrix()
    {
        const string arch = "1x5x5-c2k3-m2-3", data = "gmm:13:25:3:4";
        var objective = new Objective(Sequential.Parse(arch, Activation.Tanh), LossKind.CrossEntropy, DataSpec.Parse(data));
        var theta = objective.Model.Initialize(6);
        string thetaFile = Path.Combine(_dir, "theta.npy"), file = Path.Combine(_dir, "sub", "g.npy");
        Npy.Write(thetaFile, theta);
        var (code, stderr) = Run("grad", "--arch", arch, "--act", "tanh", "--loss", "ce", "--data", data, "--theta", thetaFile, "--chunk", "5",
            "--per-example", file, "--out", _dir);
        code.Should().Be(0, stderr);
        var g = Npy.ReadMatrix(file);
        g.Shape.Should().Be($"13x{objective.ParameterCount}");
        var one = new double[objective.ParameterCount];
        for (int i = 0; i < 13; i++)
        {
            objective.LossAndGradient(theta, one, [i]);
            Checks.RelativeError(g.Row(i), one).Should().BeLessThan(1e-12, $"row {i} is example {i}'s gradient");
        }
        g.Data.Should().Equal(objective.PerExampleGradients(theta).Data, "the CLI writes the library's matrix");
        var mean = Npy.ReadVector(Path.Combine(_dir, "grad.npy"));
        for (int k = 0; k < mean.Length; k++)
            Enumerable.Range(0, 13).Sum(i => g[i, k]).Should().BeApproximately(13 * mean[k], 1e-12, "the rows average to the mean gradient");
    }

    [Test]
    public void Per_example_gradients_above_the_bound_are_refused_before_allocating_naming_the_size()
    {
        // 784-200-200-10 has 199,210 parameters: 400 examples are 79,684,000 numbers, above 2^26.
        var r = CliProcess.Run(["grad", "--arch", "784-200-200-10", "--data", "gmm:400:784:10:1", "--per-example", Path.Combine(_dir, "big.npy"), "--out", _dir]);
        r.Code.Should().NotBe(0);
        r.Stderr.Trim().Split('\n').Should().ContainSingle();
        r.Stderr.Should().Contain("--per-example").And.Contain("400 examples × 199210 parameters = 79684000").And.Contain("67108864");
        File.Exists(Path.Combine(_dir, "big.npy")).Should().BeFalse();
        Run("hvp", "--arch", "3-4-2", "--data", "gmm:20:3:2:5", "--per-example", Path.Combine(_dir, "h.npy"), "--out", _dir).code
            .Should().NotBe(0, "only grad writes per-example gradients");
    }

    [Test]
    public void Hessian_product_file_matches_differences_of_the_gradient_and_equals_G_plus_F()
    {
        const string arch = "3-4-2", data = "gmm:20:3:2:5";
        var objective = new Objective(Mlp.Parse(arch, Activation.Tanh), LossKind.MeanSquaredError, DataSpec.Parse(data));
        string theta = Path.Combine(_dir, "theta.npy");
        Run("init", "--arch", arch, "--seed", "3", "--out", theta).code.Should().Be(0);
        foreach (var cmd in new[] { "hvp", "ggnvp", "fvp" })
            Run(cmd, "--arch", arch, "--loss", "mse", "--data", data, "--theta", theta, "--seed", "11", "--out", _dir).code.Should().Be(0);
        var t = Npy.ReadVector(theta);
        var v = Npy.ReadVector(Path.Combine(_dir, "v.npy"));
        var hv = Npy.ReadVector(Path.Combine(_dir, "hv.npy"));
        var gv = Npy.ReadVector(Path.Combine(_dir, "gv.npy"));
        var fv = Npy.ReadVector(Path.Combine(_dir, "fv.npy"));

        // H·v ≈ (∇L(θ + hv) − ∇L(θ − hv)) / 2h: an independent route through the gradient only.
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
    public void A_direction_of_the_wrong_length_is_a_one_line_error()
    {
        string v = Path.Combine(_dir, "v.npy");
        Npy.Write(v, new double[5]);
        var (code, stderr) = Run("hvp", "--arch", "3-4-2", "--data", "gmm:20:3:2:5", "--v", v, "--out", _dir);
        code.Should().NotBe(0);
        stderr.TrimEnd().Split('\n').Should().ContainSingle().Which.Should().Contain("'-v'").And.Contain("5").And.Contain("26");
    }

    [Test]
    public void A_missing_theta_file_is_a_one_line_error()
    {
        var (code, stderr) = Run("grad", "--arch", "3-4-2", "--data", "gmm:20:3:2:5", "--theta", Path.Combine(_dir, "nope.npy"), "--out", _dir);
        code.Should().NotBe(0);
        stderr.TrimEnd().Split('\n').Should().ContainSingle().Which.Should().Contain("nope.npy");
    }
}

using Curvature.Core;
using Curvature.Experiments;
using Curvature.Models;
using FluentAssertions;
using MathNet.Numerics.LinearAlgebra;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>
/// H, G and F of a small MLP with mse loss built without the engine's curvature code, on the
/// public <see cref="Checks"/> differences: H by central differences of the gradient, G =
/// (1/N) Σᵢ JᵢᵀJᵢ with the output Jacobians Jᵢ by central differences of the network's
/// outputs (∇²_z of ½‖z − y‖² is I), F = H − G.
/// </summary>
internal static class FiniteDifferenceCurvature
{
    public static (Matrix<double> H, Matrix<double> G, Matrix<double> F) Build(Objective objective, double[] theta)
    {
        int n = theta.Length;
        var h = Checks.Hessian(objective, theta);
        var hess = Matrix<double>.Build.Dense(n, n, (i, j) => h[i, j]);

        var x = objective.Data.X;
        int rows = x.Rows, outputs = objective.Model.OutputWidth;
        var jac = Matrix<double>.Build.Dense(rows * outputs, n);
        var e = new double[n];
        for (int i = 0; i < n; i++)
        {
            e[i] = 1;
            var column = Checks.Directional(t => objective.Model.Predict(t, x).Data, theta, e);
            e[i] = 0;
            for (int r = 0; r < rows * outputs; r++) jac[r, i] = column[r];
        }
        var g = jac.TransposeThisAndMultiply(jac) / rows;
        return (hess, g, hess - g);
    }

    /// <summary>Eigenvalues, largest first.</summary>
    public static double[] Eigenvalues(Matrix<double> a) =>
        Checks.Eigenvalues(Curvature.Core.Matrix.FromRows(a.ToArray())).Reverse().ToArray();
}

public class SpectrumCommandTests
{
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-spectrum-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    internal static (Objective Objective, double[] Theta, string File) TinyTheta(string dir, ulong seed = 5)
    {
        var model = Mlp.Parse("4-8-3", "tanh");
        var objective = new Objective(model, LossKind.MeanSquaredError, DataSpec.Parse("gmm:90:4:3:1"));
        var theta = model.Initialize(seed);
        // Move away from the initialization so F is not negligible: a few plain gradient steps.
        var g = new double[theta.Length];
        for (int s = 0; s < 30; s++)
        {
            objective.LossAndGradient(theta, g);
            for (int i = 0; i < theta.Length; i++) theta[i] -= 0.5 * g[i];
        }
        string file = Path.Combine(dir, "theta.npy");
        Npy.Write(file, theta, theta.Length);
        return (objective, theta, file);
    }

    [TestCase("h")]
    [TestCase("g")]
    [TestCase("f")]
    public void Top_k_eigenvalues_of_each_operator_match_the_dense_finite_difference_matrix(string op)
    {
        var (objective, theta, file) = TinyTheta(_dir);
        string outDir = Path.Combine(_dir, op);
        var (code, err) = CompareCommandTests.Run(["spectrum", "--theta", file, "--hessian-batch", "0", "--arch", "4-8-3", "--act", "tanh", "--loss", "mse",
            "--data", "gmm:90:4:3:1", "--operator", op, "--k", "4", "--density-steps", "67", "--out", outDir]);
        err.Should().BeEmpty();
        code.Should().Be(0);

        var (h, g, f) = FiniteDifferenceCurvature.Build(objective, theta);
        var dense = FiniteDifferenceCurvature.Eigenvalues(op switch { "h" => h, "g" => g, _ => f });
        var table = CsvTable.Load(Path.Combine(outDir, "eigenvalues.csv"));
        var values = table.Column("eigenvalue");
        values.Should().HaveCount(4);
        for (int j = 0; j < 4; j++)
            values[j].Should().BeApproximately(dense[j], 1e-6 * Math.Max(1, Math.Abs(dense[0])), $"λ{j + 1} of {op}");
        table.Column("converged").Should().OnlyContain(c => c == 1);
        Npy.ReadMatrix(Path.Combine(outDir, "eigenvectors.npy")).Shape.Should().Be("4x67");
    }

    [Test]
    public void Spectral_density_integrates_to_one_and_spans_the_dense_spectrum()
    {
        var (objective, theta, file) = TinyTheta(_dir);
        string outDir = Path.Combine(_dir, "d");
        CompareCommandTests.Run(["spectrum", "--theta", file, "--hessian-batch", "0", "--arch", "4-8-3", "--data", "gmm:90:4:3:1", "--k", "2",
            "--density-steps", "67", "--density-probes", "4", "--out", outDir]).Code.Should().Be(0);

        var dense = FiniteDifferenceCurvature.Eigenvalues(FiniteDifferenceCurvature.Build(objective, theta).H);
        var d = CsvTable.Load(Path.Combine(outDir, "density.csv"));
        var grid = d.Column("lambda");
        var phi = d.Column("density");
        double integral = 0;
        for (int i = 1; i < grid.Length; i++) integral += 0.5 * (phi[i] + phi[i - 1]) * (grid[i] - grid[i - 1]);
        integral.Should().BeApproximately(1.0, 1e-3, "φ is a smoothed probability density of the eigenvalues");
        // With as many Lanczos steps as parameters the extreme Ritz values are the extreme eigenvalues.
        using var summary = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "summary.json")));
        summary.RootElement.GetProperty("highest_node").GetDouble().Should().BeApproximately(dense[0], 1e-6);
        summary.RootElement.GetProperty("lowest_node").GetDouble().Should().BeApproximately(dense[^1], 1e-6);
        // The eigensolver's own cost is reported apart from the density's.
        var root = summary.RootElement;
        root.GetProperty("eigen_matvecs").GetInt32().Should().Be(root.GetProperty("lanczos_matvecs").GetInt32()).And.BePositive();
        // The certificate travels with the values: distinct top eigenvalues, so the set is certified and says why.
        root.GetProperty("certified").GetBoolean().Should().BeTrue(root.GetProperty("certificate").GetString());
        root.GetProperty("certificate").GetString().Should().Contain("block width");
        File.ReadAllText(Path.Combine(outDir, "report.md")).Should().Contain("The set is certified: " + root.GetProperty("certificate").GetString());
        root.GetProperty("eigen_seconds").GetDouble().Should().BePositive()
            .And.BeLessThan(root.GetProperty("seconds").GetDouble() - root.GetProperty("density_seconds").GetDouble() + 1e-9);
        File.ReadAllText(Path.Combine(outDir, "report.md")).Should().Contain("](topk.png)").And.Contain("](density.png)");
        PlotTests.IsPng(Path.Combine(outDir, "density.png")).Should().BeTrue();
    }

    [Test]
    public void Spectrum_reads_theta_and_the_model_from_a_compare_run_checkpoint()
    {
        string c = Path.Combine(_dir, "c");
        CompareCommandTests.Run(["compare", .. CompareCommandTests.Tiny, "--optimizers", "sgd", "--points", "0", "--out", c]).Code.Should().Be(0);
        string outDir = Path.Combine(_dir, "s");
        var (code, err) = CompareCommandTests.Run(["spectrum", "--checkpoint", Path.Combine(c, "sgd", "checkpoint.bin"), "--k", "2", "--out", outDir]);
        err.Should().BeEmpty();
        code.Should().Be(0);
        string report = File.ReadAllText(Path.Combine(outDir, "report.md"));
        report.Should().Contain("4-8-3").And.Contain("(step 20)").And.Contain("2/η = 20");
    }
}

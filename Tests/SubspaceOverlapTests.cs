using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Experiments;
using Curvature.Models;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.CurvatureKindTests;
using static Curvature.Tests.PerExampleGradientTests;

namespace Curvature.Tests;

/// <summary>H's dominant subspace against G, EF, Σ and K-FAC, and the noise share, as compare reports them (docs/curvature.md §12).</summary>
public class SubspaceOverlapTests
{
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-overlaps-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    /// <summary>‖UᵀV‖²_F / k of two sets of k rows, by a dense product.</summary>
    static double DenseOverlap(double[] u, double[] v, int k, int p)
    {
        var a = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(k, p, (i, j) => u[i * p + j]);
        var b = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(k, p, (i, j) => v[i * p + j]);
        double f = (a * b.Transpose()).FrobeniusNorm();
        return f * f / k;
    }

    /// <summary>tr(UᵀΣU) / tr Σ with Σ dense.</summary>
    static double DenseNoiseShare(Matrix sigma, double[] u, int k)
    {
        int p = sigma.Rows;
        double inside = 0, trace = 0;
        for (int i = 0; i < p; i++) trace += sigma[i, i];
        for (int j = 0; j < k; j++)
            for (int r = 0; r < p; r++)
                for (int c = 0; c < p; c++) inside += u[j * p + r] * sigma[r, c] * u[j * p + c];
        return inside / trace;
    }

    [Test]
    public void Each_overlap_and_the_noise_share_equal_those_of_the_dense_matrices()
    {
        var obj = Problem("mlp", LossKind.CrossEntropy, n: 20);
        var theta = obj.Model.Initialize(41);
        int k = 2, p = obj.ParameterCount;
        int[] batch = [1, 3, 4, 6, 8, 9, 12, 15, 17, 19];
        var (_, u) = DenseTop(obj.DenseMatrix(CurvatureKind.Hessian, theta, batch), k);
        var row = SubspaceOverlaps.Measure(obj, 7, theta, batch, u, k, seed: 3, tolerance: 1e-11);

        var stacked = OneExampleGradients(obj, theta, batch);
        var sigma = OuterProducts(stacked, centered: true);
        row.Step.Should().Be(7);
        row.G.Should().BeApproximately(DenseOverlap(u, DenseTop(obj.DenseMatrix(CurvatureKind.GaussNewton, theta, batch), k).Vectors, k, p), 1e-7);
        row.EmpiricalFisher.Should().BeApproximately(DenseOverlap(u, DenseTop(OuterProducts(stacked, centered: false), k).Vectors, k, p), 1e-7);
        row.Covariance.Should().BeApproximately(DenseOverlap(u, DenseTop(sigma, k).Vectors, k, p), 1e-7);
        row.Kfac.Should().BeApproximately(DenseOverlap(u, DenseTop(KroneckerMatrix(obj.KroneckerFactors(theta, batch), p), k).Vectors, k, p), 1e-9);
        row.NoiseShare.Should().BeApproximately(DenseNoiseShare(sigma, u, k), 1e-10);
        double trace = Enumerable.Range(0, p).Sum(i => sigma[i, i]);
        row.CovarianceTrace.Should().BeApproximately(trace, 1e-10 * trace);
    }

    [Test]
    public void Overlap_of_a_subspace_with_itself_is_one_and_with_an_orthogonal_one_zero()
    {
        var obj = Problem("mlp", LossKind.MeanSquaredError, n: 15);
        var theta = obj.Model.Initialize(42);
        int k = 2, p = obj.ParameterCount;
        var (_, vectors) = DenseTop(obj.DenseMatrix(CurvatureKind.GaussNewton, theta), 2 * k);
        var own = vectors.AsSpan(0, k * p).ToArray();
        var next = vectors.AsSpan(k * p, k * p).ToArray();   // eigenvectors 3 and 4: orthogonal to G's top-2
        SubspaceOverlaps.Measure(obj, 0, theta, null, own, k, 1, 1e-11).G.Should().BeApproximately(1.0, 1e-8);
        SubspaceOverlaps.Measure(obj, 0, theta, null, next, k, 1, 1e-11).G.Should().BeApproximately(0.0, 1e-8);
    }

    [Test]
    public void Kfac_column_is_nan_exactly_when_kfac_does_not_cover_the_network()
    {
        // A CNN: K-FAC covers its convolutions only where Objective.KroneckerFactors has conv layers.
        var obj = Problem("cnn", LossKind.CrossEntropy);
        var theta = obj.Model.Initialize(43);
        int p = obj.ParameterCount;
        var u = new double[2 * p];
        u[0] = u[p + 1] = 1;   // e₀, e₁: any orthonormal pair
        var row = SubspaceOverlaps.Measure(obj, 0, theta, null, u, 2, 1, 1e-8);
        bool covered;
        try { obj.KfacOperator(theta); covered = true; }
        catch (InvalidOperationException) { covered = false; }
        if (covered) row.Kfac.Should().BeInRange(0, 1 + 1e-9);
        else row.Kfac.Should().Be(double.NaN);
        row.G.Should().BeInRange(0, 1 + 1e-9);
        row.NoiseShare.Should().BeInRange(0, 1 + 1e-9);
    }

    [Test]
    public void Compare_writes_the_overlap_table_whose_noise_share_is_that_of_the_dense_covariance_at_the_final_theta()
    {
        string outDir = Path.Combine(_dir, "c");
        var (code, err) = CompareCommandTests.Run(["compare", .. CompareCommandTests.Tiny, "--optimizers", "sgd", "--points", "2", "--density-probes", "1",
            "--density-steps", "8", "--out", outDir]);
        code.Should().Be(0, err);
        var table = CsvTable.Load(Path.Combine(outDir, "overlaps.csv"));
        table.Column("step").Should().Equal(0, 20);
        foreach (var column in new[] { "overlap_g", "overlap_ef", "overlap_cov", "overlap_kfac", "noise_share" })
            table.Column(column).Should().OnlyContain(v => v >= 0 && v <= 1 + 1e-9, column);

        var obj = new Objective(Mlp.Parse("4-8-3", Activation.Tanh), LossKind.MeanSquaredError, DataSpec.Parse("gmm:90:4:3:1"));
        var theta = Npy.ReadVector(Path.Combine(outDir, "sgd", "theta.npy"));
        var (_, u) = DenseTop(obj.DenseMatrix(CurvatureKind.Hessian, theta), 2);
        var sigma = OuterProducts(OneExampleGradients(obj, theta), centered: true);
        table.Column("noise_share")[1].Should().BeApproximately(DenseNoiseShare(sigma, u, 2), 1e-6, "U_H from the analysis solve at tolerance 1e-6");
        string report = File.ReadAllText(Path.Combine(outDir, "report.md"));
        report.Should().Contain("## H's dominant subspace against G, EF, Σ and K-FAC").And.Contain("](overlaps.png)");
        PlotTests.IsPng(Path.Combine(outDir, "overlaps.png")).Should().BeTrue();

        string off = Path.Combine(_dir, "off");
        CompareCommandTests.Run(["compare", .. CompareCommandTests.Tiny, "--optimizers", "sgd", "--points", "2", "--density-probes", "1",
            "--density-steps", "8", "--no-overlaps", "--out", off]).Code.Should().Be(0);
        File.Exists(Path.Combine(off, "overlaps.csv")).Should().BeFalse();
        File.ReadAllText(Path.Combine(off, "report.md")).Should().NotContain("noise share");
        using var config = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(off, "config.json")));
        config.RootElement.GetProperty("analysis").GetProperty("overlaps").GetBoolean().Should().BeFalse();
    }

    [Test]
    public void Compare_over_seeds_reports_the_mean_and_sample_std_of_each_seeds_overlaps()
    {
        string outDir = Path.Combine(_dir, "seeds");
        var (code, err) = CompareCommandTests.Run(["compare", .. CompareCommandTests.Tiny, "--optimizers", "sgd", "--points", "2", "--density-probes", "1",
            "--density-steps", "8", "--seeds", "0,1", "--out", outDir]);
        code.Should().Be(0, err);
        var table = CsvTable.Load(Path.Combine(outDir, "overlaps_seeds.csv"));
        var seeds = new[] { "seed=0", "seed=1" }.Select(d => CsvTable.Load(Path.Combine(outDir, d, "overlaps.csv"))).ToList();
        foreach (var column in new[] { "overlap_g", "overlap_cov", "noise_share" })
            for (int row = 0; row < 2; row++)
            {
                double a = seeds[0].Column(column)[row], b = seeds[1].Column(column)[row];
                table.Column(column + "_mean")[row].Should().BeApproximately((a + b) / 2, 1e-12, column);
                table.Column(column + "_std")[row].Should().BeApproximately(Math.Abs(a - b) / Math.Sqrt(2), 1e-12, "the sample std of two values is |a − b|/√2");
            }
        File.ReadAllText(Path.Combine(outDir, "report.md")).Should().Contain("## H's dominant subspace against G, EF, Σ and K-FAC (reference run)");
    }
}

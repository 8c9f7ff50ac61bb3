using System.Text.Json;
using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Experiments;
using Curvature.Models;
using Curvature.Optimizers;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.PerExampleGradientTests;

namespace Curvature.Tests;

/// <summary>
/// The curvature kinds beyond H, G and F — ef, cov, fisher, kfac — chosen by name wherever a
/// curvature is chosen: the objective's operator, the tracker, spectrum and train (docs/curvature.md §11).
/// </summary>
public class CurvatureKindTests
{
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-kinds-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    /// <summary>(1/n) Σᵢ (gᵢ − c)(gᵢ − c)ᵀ over the rows of the stacked per-example gradients, c = ḡ when centered, else 0.</summary>
    internal static Matrix OuterProducts(Matrix g, bool centered) =>
        new(g.Cols, g.Cols, FisherOperatorTests.OuterProducts(g, centered ? FisherOperatorTests.Mean(g) : null));

    /// <summary>The block-diagonal Kronecker matrix written entry by entry from K-FAC's factors: K[(o,c),(o',c')] = B[o,o']A[c,c'].</summary>
    internal static Matrix KroneckerMatrix(Kfac kfac, int p)
    {
        var k = new Matrix(p, p);
        foreach (var l in kfac.Layers)
            for (int r = 0; r < l.Outputs; r++)
                for (int c = 0; c < l.FactorInputs; c++)
                    for (int r2 = 0; r2 < l.Outputs; r2++)
                        for (int c2 = 0; c2 < l.FactorInputs; c2++)
                            k[l.ThetaIndex(r, c), l.ThetaIndex(r2, c2)] = l.B[r, r2] * l.A[c, c2];
        return k;
    }

    [TestCase(CurvatureKind.EmpiricalFisher, LossKind.CrossEntropy)]
    [TestCase(CurvatureKind.GradientCovariance, LossKind.MeanSquaredError)]
    public void Curvature_operator_by_kind_is_the_outer_product_of_the_stacked_per_example_gradients(CurvatureKind kind, LossKind loss)
    {
        var obj = Problem("mlp", loss);
        var theta = obj.Model.Initialize(31);
        int[] batch = [0, 2, 3, 7, 9];
        var reference = OuterProducts(OneExampleGradients(obj, theta, batch), kind == CurvatureKind.GradientCovariance);
        Checks.RelativeError(obj.DenseMatrix(kind, theta, batch).Data, reference.Data).Should().BeLessThan(1e-10);
    }

    [TestCase(LossKind.CrossEntropy)]
    [TestCase(LossKind.MeanSquaredError)]
    public void Curvature_kind_fisher_is_the_Gauss_Newton_matrix_for_ce_and_mse(LossKind loss)
    {
        var obj = Problem("cnn", loss);
        var theta = obj.Model.Initialize(32);
        Checks.RelativeError(obj.DenseMatrix(CurvatureKind.Fisher, theta).Data, obj.DenseMatrix(CurvatureKind.GaussNewton, theta).Data)
            .Should().BeLessThan(1e-12);
    }

    [Test]
    public void Kfac_operator_is_the_block_diagonal_B_kron_A_and_its_top_k_are_eigenpairs_of_it()
    {
        var obj = Problem("mlp", LossKind.CrossEntropy);
        var theta = obj.Model.Initialize(33);
        var op = obj.KfacOperator(theta);
        var dense = KroneckerMatrix(op.Factors, obj.ParameterCount);
        Checks.RelativeError(obj.DenseMatrix(CurvatureKind.Kfac, theta).Data, dense.Data).Should().BeLessThan(1e-12);
        var exact = Checks.Eigenvalues(dense).Reverse().Take(4).ToArray();
        var top = op.TopK(4);
        for (int j = 0; j < 4; j++) top.Values[j].Should().BeApproximately(exact[j], 1e-12 * exact[0]);
        top.Residuals.Should().OnlyContain(r => r < 1e-12 * exact[0]);
    }

    [Test]
    public void Kfac_refuses_a_network_whose_parameters_it_does_not_cover()
    {
        var obj = new Objective(Architecture.Parse("spam-e8-t2f16-2", Activation.Tanh), LossKind.CrossEntropy, DataSpec.Parse("spam:8"));
        var act = () => obj.KfacOperator(obj.Model.Initialize(1));
        act.Should().Throw<InvalidOperationException>();
    }

    [Test]
    public void Tracker_of_the_gradient_covariance_spans_the_top_k_eigenvectors_of_the_dense_covariance_on_its_batch()
    {
        var obj = Problem("mlp", LossKind.CrossEntropy, n: 30);
        var theta = obj.Model.Initialize(34);
        var tracker = new SubspaceTracker(obj, new TrackerOptions { Kind = CurvatureKind.GradientCovariance, K = 3, HessianBatch = 12, Seed = 5, Tolerance = 1e-10 });
        tracker.Refresh(theta);
        var batch = tracker.HessianBatch!.ToArray();
        var sigma = OuterProducts(OneExampleGradients(obj, theta, batch), centered: true);
        var (values, vectors) = DenseTop(sigma, 3);
        for (int j = 0; j < 3; j++) tracker.Eigenvalues[j].Should().BeApproximately(values[j], 1e-8 * values[0]);
        Kfac.Overlap(tracker.Projector.Basis, vectors, 3, obj.ParameterCount).Should().BeApproximately(1.0, 1e-8);
    }

    [Test]
    public void Tracker_of_kfac_installs_the_factors_top_k_without_an_eigensolver()
    {
        var obj = Problem("mlp", LossKind.MeanSquaredError, n: 20);
        var theta = obj.Model.Initialize(35);
        var tracker = new SubspaceTracker(obj, new TrackerOptions { Kind = CurvatureKind.Kfac, K = 4, HessianBatch = 0, Seed = 5 });
        tracker.Refresh(theta);
        var (values, vectors) = DenseTop(KroneckerMatrix(obj.KroneckerFactors(theta), obj.ParameterCount), 4);
        for (int j = 0; j < 4; j++) tracker.Eigenvalues[j].Should().BeApproximately(values[j], 1e-12 * values[0]);
        Kfac.Overlap(tracker.Projector.Basis, vectors, 4, obj.ParameterCount).Should().BeApproximately(1.0, 1e-10);
        tracker.LastMatvecs.Should().Be(4, "one product per pair, for its residual");
    }

    [Test]
    public void Tracker_refuses_the_functional_Hessian_naming_the_accepted_kinds()
    {
        var obj = Problem("mlp", LossKind.CrossEntropy);
        var act = () => new SubspaceTracker(obj, new TrackerOptions { Kind = CurvatureKind.FunctionalHessian, K = 2, HessianBatch = 0 });
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'curvature'*h, g, ef, cov, fisher or kfac*");
    }

    /// <summary>The k largest eigenvalues and their eigenvectors (rows) of a dense symmetric matrix, by the dense solver.</summary>
    internal static (double[] Values, double[] Vectors) DenseTop(Matrix a, int k)
    {
        int p = a.Rows;
        var evd = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(p, p, (i, j) => a[i, j]).Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric);
        var order = Enumerable.Range(0, p).OrderByDescending(i => evd.EigenValues[i].Real).Take(k).ToArray();
        var vectors = new double[k * p];
        for (int j = 0; j < k; j++)
            for (int i = 0; i < p; i++) vectors[j * p + i] = evd.EigenVectors[i, order[j]];
        return (order.Select(i => evd.EigenValues[i].Real).ToArray(), vectors);
    }

    [TestCase("cov")]
    [TestCase("ef")]
    [TestCase("fisher")]
    [TestCase("kfac")]
    public void Spectrum_of_each_kind_matches_the_dense_matrix_built_from_its_definition(string kind)
    {
        var (objective, theta, file) = SpectrumCommandTests.TinyTheta(_dir);
        string outDir = Path.Combine(_dir, kind);
        var (code, err) = CompareCommandTests.Run(["spectrum", "--theta", file, "--hessian-batch", "0", "--arch", "4-8-3", "--act", "tanh", "--loss", "mse",
            "--data", "gmm:90:4:3:1", "--curvature", kind, "--k", "4", "--density-steps", "40", "--out", outDir]);
        err.Should().BeEmpty();
        code.Should().Be(0);
        var dense = kind switch
        {
            "cov" => OuterProducts(OneExampleGradients(objective, theta), centered: true),
            "ef" => OuterProducts(OneExampleGradients(objective, theta), centered: false),
            // The true Fisher of mse is G; G here by finite differences of the outputs (Jᵀ J / n).
            "fisher" => Matrix.FromRows(FiniteDifferenceCurvature.Build(objective, theta).G.ToArray()),
            _ => KroneckerMatrix(objective.KroneckerFactors(theta), objective.ParameterCount),
        };
        var exact = Checks.Eigenvalues(dense).Reverse().ToArray();
        var values = CsvTable.Load(Path.Combine(outDir, "eigenvalues.csv")).Column("eigenvalue");
        double tol = kind == "fisher" ? 1e-6 : 1e-8;
        for (int j = 0; j < 4; j++) values[j].Should().BeApproximately(exact[j], tol * exact[0], $"λ{j + 1} of {kind}");
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "config.json")));
        config.RootElement.GetProperty("operator").GetString().Should().Be(kind);
    }

    [Test]
    public void Spectrum_with_kfac_on_a_network_it_does_not_cover_fails_in_one_line_naming_the_option()
    {
        var r = CliProcess.Run(["spectrum", "--arch", "spam-e8-t2f16-2", "--loss", "ce", "--data", "spam:20", "--theta", WriteSpamTheta(), "--curvature", "kfac",
            "--k", "2", "--out", Path.Combine(_dir, "s")]);
        r.Code.Should().NotBe(0);
        r.Stderr.Trim().Split('\n').Should().ContainSingle();
        r.Stderr.Should().Contain("--curvature").And.Contain("kfac").And.Contain("h, g, ef, cov or fisher");
    }

    string WriteSpamTheta()
    {
        string file = Path.Combine(_dir, "spam-theta.npy");
        var theta = Architecture.Parse("spam-e8-t2f16-2", Activation.Tanh).Initialize(1);
        Npy.Write(file, theta, theta.Length);
        return file;
    }

    [Test]
    public void Bulk_sgd_against_the_gradient_covariance_runs_and_its_config_records_cov()
    {
        string Train(string curvature)
        {
            string outDir = Path.Combine(_dir, curvature);
            var (code, err) = CompareCommandTests.Run(["train", "--arch", "4-8-3", "--act", "tanh", "--loss", "ce", "--data", "gmm:60:4:3:1", "--test-data", "gmm:30:4:3:2",
                "--lr", "0.1", "--batch", "10", "--steps", "10", "--k", "2", "--refresh", "5", "--eval-every", "5", "--seed", "3", "--hessian-batch", "0",
                "--optimizer", "bulk", "--curvature", curvature, "--save-theta", "--quiet", "--out", outDir]);
            code.Should().Be(0, err);
            using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "config.json")));
            config.RootElement.GetProperty("run").GetProperty("curvature").GetString().Should().Be(curvature);
            return outDir;
        }

        string cov = Train("cov"), h = Train("h");
        File.ReadAllBytes(Path.Combine(cov, "theta.npy")).Should().NotEqual(File.ReadAllBytes(Path.Combine(h, "theta.npy")),
            "removing Σ's top-2 subspace is another step than removing H's");
    }

    [Test]
    public void Help_of_train_and_spectrum_lists_every_curvature_kind()
    {
        foreach (var command in new[] { "train", "spectrum" })
        {
            var r = CliProcess.Run([command, "--help"]);
            r.Code.Should().Be(0);
            var line = r.Stdout.Split('\n').SkipWhile(l => !l.Contains("--curvature")).Take(8);
            string text = string.Join(" ", line);
            foreach (var name in CliNames.All<CurvatureKind>()) text.Should().Contain(name + " (", command);
        }
    }
}

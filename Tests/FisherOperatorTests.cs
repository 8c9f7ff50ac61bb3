using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using Curvature.Spectral;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.AutodiffTestSupport;
using static Curvature.Tests.PerExampleGradientTests;

namespace Curvature.Tests;

/// <summary>Empirical Fisher, gradient covariance and the Fisher (docs/curvature.md §7).</summary>
public class FisherOperatorTests
{
    /// <summary>The dense matrix of an operator, column j = A·eⱼ, through one ApplyBlock.</summary>
    internal static double[] Dense(ILinearOperator op)
    {
        int p = op.Size;
        var identity = new double[p * p];
        for (int j = 0; j < p; j++) identity[j * p + j] = 1;
        var a = new double[p * p];
        op.ApplyBlock(identity, a, p);
        return a;
    }

    /// <summary>(1/n) Σᵢ wᵢ (gᵢ − c)(gᵢ − c)ᵀ over the rows of <paramref name="g"/>.</summary>
    internal static double[] OuterProducts(Matrix g, double[]? center = null, double[]? weights = null, double? divisor = null)
    {
        int p = g.Cols;
        var a = new double[p * p];
        for (int i = 0; i < g.Rows; i++)
        {
            var row = g.Row(i).ToArray();
            if (center is not null) for (int k = 0; k < p; k++) row[k] -= center[k];
            double w = (weights?[i] ?? 1.0) / (divisor ?? g.Rows);
            for (int r = 0; r < p; r++)
                for (int c = 0; c < p; c++) a[r * p + c] += w * row[r] * row[c];
        }
        return a;
    }

    internal static double[] Mean(Matrix g)
    {
        var m = new double[g.Cols];
        for (int i = 0; i < g.Rows; i++)
            for (int k = 0; k < g.Cols; k++) m[k] += g[i, k] / g.Rows;
        return m;
    }

    [TestCase("mlp", LossKind.CrossEntropy)]
    [TestCase("cnn", LossKind.MeanSquaredError)]
    [TestCase("cnn-max", LossKind.CrossEntropy)]
    [TestCase("transformer", LossKind.CrossEntropy)]
    public void Empirical_Fisher_equals_the_mean_outer_product_of_the_one_example_gradients(string kind, LossKind loss)
    {
        var obj = Problem(kind, loss);
        var theta = obj.Model.Initialize(8);
        var reference = OuterProducts(OneExampleGradients(obj, theta));
        Checks.RelativeError(Dense(obj.EmpiricalFisher(theta)), reference).Should().BeLessThan(1e-10);
    }

    [TestCase("mlp", LossKind.MeanSquaredError)]
    [TestCase("cnn", LossKind.CrossEntropy)]
    [TestCase("transformer", LossKind.CrossEntropy)]
    public void Gradient_covariance_equals_the_centered_outer_product_of_the_one_example_gradients(string kind, LossKind loss)
    {
        var obj = Problem(kind, loss);
        var theta = obj.Model.Initialize(9);
        var g = OneExampleGradients(obj, theta);
        var reference = OuterProducts(g, Mean(g));
        var cov = obj.GradientCovariance(theta);
        Checks.RelativeError(Dense(cov), reference).Should().BeLessThan(1e-10);
        Checks.RelativeError(cov.MeanGradient, Mean(g)).Should().BeLessThan(1e-12);
    }

    [Test]
    public void Operators_on_a_subset_use_only_those_examples()
    {
        var obj = Problem("mlp", LossKind.CrossEntropy);
        var theta = obj.Model.Initialize(10);
        int[] subset = [1, 4, 7, 8, 10];
        var reference = OuterProducts(OneExampleGradients(obj, theta, subset));
        Checks.RelativeError(Dense(obj.EmpiricalFisher(theta, subset)), reference).Should().BeLessThan(1e-10);
    }

    [Test]
    public void Exact_Fisher_of_cross_entropy_is_G_the_expectation_over_labels_drawn_from_softmax()
    {
        // F = (1/n) Σᵢ Σ_y pᵢ(y) gᵢ,y gᵢ,yᵀ, every label enumerated with its model probability.
        var obj = Problem("mlp", LossKind.CrossEntropy);
        var theta = obj.Model.Initialize(11);
        var data = obj.Data;
        var z = obj.Model.Predict(theta, data.X);
        int p = obj.ParameterCount, n = data.Count, classes = data.Classes;
        var reference = new double[p * p];
        for (int y = 0; y < classes; y++)
        {
            var relabeled = new Objective(obj.Model, LossKind.CrossEntropy, new Dataset(data.X, Enumerable.Repeat(y, n).ToArray(), null, classes, "all-" + y));
            var weights = Enumerable.Range(0, n).Select(i => Softmax(z.Row(i))[y]).ToArray();
            var term = OuterProducts(OneExampleGradients(relabeled, theta), weights: weights);
            for (int k = 0; k < reference.Length; k++) reference[k] += term[k];
        }
        var g = obj.DenseMatrix(CurvatureKind.GaussNewton, theta).Data;
        Checks.RelativeError(g, reference).Should().BeLessThan(1e-10, "E_y[∇ℓ∇ℓᵀ] = diag p − ppᵀ = ∇²ℓ");
        Checks.RelativeError(Dense(obj.Fisher(theta)), reference).Should().BeLessThan(1e-10);
    }

    [Test]
    public void Exact_Fisher_of_mse_is_G_since_unit_noise_has_identity_second_moment()
    {
        // Residuals z − t = e_c for c = 1…C have second moment Σ_c e_c e_cᵀ = I = E[εεᵀ]:
        // (1/n) Σᵢ Σ_c gᵢ,c gᵢ,cᵀ with targets t = zᵢ − e_c is the Fisher of the unit Gaussian.
        var obj = Problem("cnn", LossKind.MeanSquaredError);
        var theta = obj.Model.Initialize(12);
        var data = obj.Data;
        var z = obj.Model.Predict(theta, data.X);
        int p = obj.ParameterCount, classes = data.Classes;
        var reference = new double[p * p];
        for (int c = 0; c < classes; c++)
        {
            var t = new Matrix(z.Rows, z.Cols);
            z.Data.CopyTo(t.Data, 0);
            for (int i = 0; i < z.Rows; i++) t[i, c] -= 1;
            var shifted = new Objective(obj.Model, LossKind.MeanSquaredError, new Dataset(data.X, null, t, classes, "shifted"));
            var term = OuterProducts(OneExampleGradients(shifted, theta));
            for (int k = 0; k < reference.Length; k++) reference[k] += term[k];
        }
        Checks.RelativeError(Dense(obj.Fisher(theta)), reference).Should().BeLessThan(1e-10);
    }

    [TestCase(LossKind.CrossEntropy)]
    [TestCase(LossKind.MeanSquaredError)]
    public void Monte_Carlo_Fisher_approaches_G_as_one_over_root_samples(LossKind loss)
    {
        var obj = Problem("mlp", loss);
        var theta = obj.Model.Initialize(13);
        var g = obj.DenseMatrix(CurvatureKind.GaussNewton, theta).Data;
        double few = Checks.RelativeError(Dense(obj.MonteCarloFisher(theta, 8, 21)), g);
        double many = Checks.RelativeError(Dense(obj.MonteCarloFisher(theta, 512, 21)), g);
        // The error of an average of S draws falls as 1/√S: 64× the draws, 1/8 the error.
        many.Should().BeLessThan(0.3 * few);
        many.Should().BeLessThan(0.1);
    }

    [Test]
    public void Monte_Carlo_Fisher_is_a_fixed_matrix_with_the_same_bits_on_one_and_two_threads()
    {
        var one = Problem("cnn", LossKind.CrossEntropy, n: 70, chunk: 16);
        var two = new Objective(one.Model, one.LossKind, one.Data, new ObjectiveOptions { ChunkSize = 16, Threads = 2 });
        var theta = one.Model.Initialize(14);
        var v = new double[one.ParameterCount];
        new Rng(3).FillGaussian(v);
        var a = new double[v.Length]; var b = new double[v.Length]; var c = new double[v.Length];
        var op = one.MonteCarloFisher(theta, 3, 5);
        op.Apply(v, a);
        op.Apply(v, c);
        two.MonteCarloFisher(theta, 3, 5).Apply(v, b);
        b.Should().Equal(a);
        c.Should().Equal(a);
        var other = new double[v.Length];
        one.MonteCarloFisher(theta, 3, 6).Apply(v, other);
        other.Should().NotEqual(a, "another seed draws other labels");
    }

    [TestCase(0)]
    [TestCase(10_001)]
    public void Monte_Carlo_Fisher_refuses_a_sample_count_outside_its_range_by_name(int samples)
    {
        var obj = Problem("mlp", LossKind.CrossEntropy);
        var act = () => obj.MonteCarloFisher(obj.Model.Initialize(1), samples, 1);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage($"*'samples' was {samples}*[1, 10000]*");
    }

    [Test]
    public void Operators_refuse_a_theta_of_the_wrong_length_by_name()
    {
        var obj = Problem("mlp", LossKind.CrossEntropy);
        var act = () => obj.EmpiricalFisher(new double[3]);
        act.Should().Throw<ArgumentException>().WithMessage("*'theta' has length 3*");
    }

    [Test]
    public void Lanczos_finds_the_top_eigenvalues_of_the_gradient_covariance()
    {
        var obj = Problem("mlp", LossKind.CrossEntropy);
        var theta = obj.Model.Initialize(15);
        var cov = obj.GradientCovariance(theta);
        var dense = Dense(cov);
        int p = obj.ParameterCount;
        var evd = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(p, p, dense).Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric);
        var exact = evd.EigenValues.Select(e => e.Real).OrderByDescending(e => e).Take(3).ToArray();
        var top = Lanczos.TopK(cov, 3, new EigenOptions { Seed = 1, Tolerance = 1e-10 });
        top.Values.OrderByDescending(e => e).ToArray().Should().BeEquivalentTo(exact, o => o.Using<double>(x => x.Subject.Should().BeApproximately(x.Expectation, 1e-8 * exact[0])).WhenTypeIs<double>());
    }

    static double[] Softmax(ReadOnlySpan<double> z)
    {
        double max = z.ToArray().Max();
        var e = z.ToArray().Select(v => Math.Exp(v - max)).ToArray();
        double s = e.Sum();
        return e.Select(v => v / s).ToArray();
    }


    [Test]
    public void Worked_example_line_through_two_points_has_EF_mean_g_g_transpose_rank_one_Sigma_and_Fisher_equal_to_G()
    {
        // docs/curvature.md §7: g₁ = (1, 0, 1), g₂ = (0, 4, 2); Λ = 1, Jᵢ = (xᵢ, 1).
        var (obj, theta, j, r) = TwoPointLine();
        var ef = new double[9];
        var sigma = new double[9];
        var g = new double[9];
        var d = new double[3];
        for (int a = 0; a < 3; a++) d[a] = r[0] * j[0][a] - r[1] * j[1][a];
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
            {
                ef[a * 3 + b] = 0.5 * (r[0] * r[0] * j[0][a] * j[0][b] + r[1] * r[1] * j[1][a] * j[1][b]);
                sigma[a * 3 + b] = 0.25 * d[a] * d[b];
                g[a * 3 + b] = 0.5 * (j[0][a] * j[0][b] + j[1][a] * j[1][b]);
            }
        ef.Should().Equal(0.5, 0, 0.5, 0, 8, 4, 0.5, 4, 2.5);
        sigma.Should().Equal(0.25, -1, -0.25, -1, 4, 1, -0.25, 1, 0.25);
        g.Should().Equal(0.5, 0, 0.5, 0, 2, 1, 0.5, 1, 1);

        static void Same(Matrix actual, double[] expected, string what) =>
            actual.Data.Should().Equal(expected, (a, b) => Math.Abs(a - b) < 1e-13, what);
        Same(Checks.Dense(obj.EmpiricalFisher(theta)), ef, "EF = ½(g₁g₁ᵀ + g₂g₂ᵀ)");
        Same(Checks.Dense(obj.GradientCovariance(theta)), sigma, "Σ = ¼(g₁ − g₂)(g₁ − g₂)ᵀ for n = 2");
        Same(Checks.Dense(obj.Fisher(theta)), g, "Fisher = G = ½Σ JᵢᵀJᵢ");
        Checks.Eigenvalues(Checks.Dense(obj.GradientCovariance(theta))).Take(2)
            .Should().OnlyContain(l => Math.Abs(l) < 1e-13, "two examples give a rank-one covariance");
    }
}

using Curvature.Autodiff;
using Curvature.Models;
using Curvature.Spectral;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.AutodiffTestSupport;
using static Curvature.Tests.PerExampleGradientTests;

namespace Curvature.Tests;

/// <summary>Exact diag(G) and Hutchinson diagonals of H and F (docs/curvature.md §8).</summary>
public class CurvatureDiagonalTests
{
    [TestCase("mlp", LossKind.CrossEntropy)]
    [TestCase("cnn", LossKind.MeanSquaredError)]
    [TestCase("cnn-max", LossKind.TorchMeanSquaredError)]
    [TestCase("cnn", LossKind.CrossEntropy)]
    [TestCase("transformer", LossKind.CrossEntropy)]
    public void Gauss_Newton_diagonal_by_per_output_backpropagation_equals_the_diagonal_of_dense_G(string kind, LossKind loss)
    {
        var obj = Problem(kind, loss);
        var theta = obj.Model.Initialize(16);
        var g = obj.DenseMatrix(CurvatureKind.GaussNewton, theta);
        var expected = Enumerable.Range(0, obj.ParameterCount).Select(a => g[a, a]).ToArray();
        Checks.RelativeError(obj.GaussNewtonDiagonal(theta), expected).Should().BeLessThan(1e-10);
    }

    [Test]
    public void Gauss_Newton_diagonal_of_a_subset_uses_only_those_examples()
    {
        var obj = Problem("mlp", LossKind.CrossEntropy);
        var theta = obj.Model.Initialize(17);
        int[] subset = [0, 3, 4, 9];
        var g = obj.DenseMatrix(CurvatureKind.GaussNewton, theta, subset);
        var expected = Enumerable.Range(0, obj.ParameterCount).Select(a => g[a, a]).ToArray();
        Checks.RelativeError(obj.GaussNewtonDiagonal(theta, subset), expected).Should().BeLessThan(1e-10);
    }

    [TestCase("mlp", CurvatureKind.Hessian)]
    [TestCase("mlp", CurvatureKind.FunctionalHessian)]
    [TestCase("cnn", CurvatureKind.Hessian)]
    [TestCase("cnn", CurvatureKind.FunctionalHessian)]
    public void Hutchinson_diagonal_lies_within_five_standard_errors_of_the_dense_diagonal(string kind, CurvatureKind curvature)
    {
        var obj = Problem(kind, LossKind.CrossEntropy);
        var theta = obj.Model.Initialize(18);
        var dense = obj.DenseMatrix(curvature, theta);
        int p = obj.ParameterCount;
        const int samples = 400;
        var estimate = HutchinsonDiagonal.Estimate(obj.CurvatureOperator(curvature, theta), samples, seed: 31);
        double scale = Enumerable.Range(0, p).Max(a => Math.Abs(dense[a, a]));
        var ratios = new List<double>();
        for (int a = 0; a < p; a++)
        {
            // Entry a of z∘Az is A_aa + Σ_{b≠a} z_a z_b A_ab: variance Σ_{b≠a} A_ab², by which the stated error is judged too.
            double variance = Enumerable.Range(0, p).Where(b => b != a).Sum(b => dense[a, b] * dense[a, b]);
            Math.Abs(estimate.Mean[a] - dense[a, a]).Should().BeLessThanOrEqualTo(5 * estimate.StandardError[a] + 1e-12 * scale, $"entry {a}");
            if (variance > 1e-20 * scale * scale) ratios.Add(estimate.StandardError[a] * estimate.StandardError[a] * samples / variance);
        }
        ratios.Average().Should().BeInRange(0.8, 1.25, "the stated standard error matches the estimator's exact spread");
    }


    [Test]
    public void Worked_example_line_through_two_points_has_diag_G_one_half_two_one()
    {
        // docs/curvature.md §8: diag G = ½Σᵢ (xᵢ, 1)∘(xᵢ, 1) = ½((1, 0, 1) + (0, 4, 1)).
        var (obj, theta, j, _) = TwoPointLine();
        var expected = Enumerable.Range(0, 3).Select(a => 0.5 * (j[0][a] * j[0][a] + j[1][a] * j[1][a])).ToArray();
        expected.Should().Equal(0.5, 2, 1);
        obj.GaussNewtonDiagonal(theta).Should().Equal(expected, (a, b) => Math.Abs(a - b) < 1e-14);
    }
}

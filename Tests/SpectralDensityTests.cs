using Curvature.Core;
using Curvature.Spectral;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.SpectralFixtures;

namespace Curvature.Tests;

public class SpectralDensityTests
{
    static double Trapezoid(double[] x, double[] y)
    {
        double s = 0;
        for (int i = 1; i < x.Length; i++) s += 0.5 * (x[i] - x[i - 1]) * (y[i] + y[i - 1]);
        return s;
    }

    /// <summary>(1/n) Σ_i N(t; λ_i, σ²): the Gaussian-smoothed histogram of the dense eigenvalues.</summary>
    static double[] SmoothedHistogram(double[] eigenvalues, double[] grid, double sigma)
        => grid.Select(t => eigenvalues.Sum(l => Math.Exp(-0.5 * (t - l) * (t - l) / (sigma * sigma)))
                            / (eigenvalues.Length * sigma * Math.Sqrt(2 * Math.PI))).ToArray();

    static (MathNet.Numerics.LinearAlgebra.Matrix<double> A, double[] Grid) Problem()
    {
        // A bulk near zero plus a few outliers, the shape of a trained network's Hessian.
        var d = Linspace(-0.5, 1.5, 300);
        d[0] = 6; d[1] = 5; d[2] = 4.5;
        return (Similarity(d, 3), Linspace(-2, 8, 501));
    }

    [Test]
    public void Slq_density_integrates_to_one_and_its_weights_sum_to_one_per_probe()
    {
        var (a, grid) = Problem();
        var r = SpectralDensity.Slq(Operator(a), 40, 6, grid, 0.1, 1);
        Trapezoid(grid, r.Density).Should().BeApproximately(1.0, 1e-6);
        r.Probes.Should().Be(6);
        r.Matvecs.Should().Be(6 * 40);
        foreach (var w in r.Weights) w.Sum().Should().BeApproximately(1.0, 1e-12);
        double lo = DenseEigenvalues(a).Min(), hi = DenseEigenvalues(a).Max();
        foreach (var nodes in r.Nodes) nodes.Should().AllSatisfy(x => x.Should().BeInRange(lo - 1e-10, hi + 1e-10));
    }

    [Test]
    public void Slq_density_matches_the_smoothed_histogram_of_the_dense_eigenvalues()
    {
        var (a, grid) = Problem();
        const double sigma = 0.15;
        var r = SpectralDensity.Slq(Operator(a), 60, 20, grid, sigma, 2);
        var expected = SmoothedHistogram(DenseEigenvalues(a), grid, sigma);
        var diff = r.Density.Zip(expected, (x, y) => Math.Abs(x - y)).ToArray();
        Trapezoid(grid, diff).Should().BeLessThan(0.05, "L1 distance between the SLQ and the dense densities");
    }

    [Test]
    public void Slq_trace_of_a_polynomial_is_exact_in_expectation_and_tr_of_one_is_n()
    {
        // Gauss quadrature with m nodes is exact for degree 2m−1, so vᵀA²v is reproduced
        // exactly per probe and tr(A²) = ‖A‖_F² is estimated with Hutchinson's error only.
        var (a, grid) = Problem();
        var r = SpectralDensity.Slq(Operator(a), 10, 200, grid, 0.1, 3);
        r.EstimateTrace(_ => 1.0).Should().BeApproximately(300, 1e-9);
        double frob = a.FrobeniusNorm();
        r.EstimateTrace(x => x * x).Should().BeApproximately(frob * frob, 0.05 * frob * frob);
    }

    [Test]
    public void An_invariant_start_ends_the_probe_early_with_an_exact_rule()
    {
        // Only two distinct eigenvalues: every probe's Krylov space is invariant after two steps.
        var d = Enumerable.Range(0, 40).Select(i => i % 2 == 0 ? 1.0 : 3.0).ToArray();
        var r = SpectralDensity.Slq(new DiagonalOperator(d), 10, 3, Linspace(0, 4, 81), 0.2, 4);
        foreach (var nodes in r.Nodes)
        {
            nodes.Should().HaveCount(2);
            nodes[0].Should().BeApproximately(1.0, 1e-12);
            nodes[1].Should().BeApproximately(3.0, 1e-12);
        }
        r.EstimateTrace(x => x).Should().BeApproximately(80, 1e-9, "Rademacher probes weigh both halves equally exactly");
    }

    [Test]
    public void Same_seed_gives_the_same_bits_on_one_and_two_BLAS_threads()
    {
        var (a, grid) = Problem();
        var op = Operator(a);
        DensityResult one, two;
        using (Blas.UseThreads(1)) one = SpectralDensity.Slq(op, 20, 3, grid, 0.1, 5);
        using (Blas.UseThreads(2)) two = SpectralDensity.Slq(op, 20, 3, grid, 0.1, 5);
        one.Density.Should().Equal(two.Density);
        SpectralDensity.Slq(op, 20, 3, grid, 0.1, 6).Density.Should().NotEqual(one.Density);
    }

    [Test]
    public void Invalid_arguments_throw_with_clear_messages()
    {
        var op = new DiagonalOperator(Linspace(0, 1, 6));
        var grid = Linspace(0, 1, 5);
        FluentActions.Invoking(() => SpectralDensity.Slq(op, 0, 2, grid, 0.1, 0)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'lanczosSteps' was 0*[1, 6]*");
        FluentActions.Invoking(() => SpectralDensity.Slq(op, 3, 0, grid, 0.1, 0)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'probes' was 0*");
        FluentActions.Invoking(() => SpectralDensity.Slq(op, 3, 2, grid, 0, 0)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'sigma' was 0*");
        FluentActions.Invoking(() => SpectralDensity.Slq(op, 3, 2, Array.Empty<double>(), 0.1, 0)).Should().Throw<ArgumentException>().WithMessage("*'grid' is empty*");
    }
}

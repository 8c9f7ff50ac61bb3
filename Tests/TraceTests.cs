using Curvature.Core;
using Curvature.Spectral;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.SpectralFixtures;

namespace Curvature.Tests;

public class TraceTests
{
    /// <summary>A rank-r PSD part with large eigenvalues plus a small dense symmetric noise, and its exact trace.</summary>
    static (ILinearOperator Op, double Trace) LowRankPlusNoise(int n, int r, ulong seed)
    {
        var d = new double[n];
        for (int i = 0; i < r; i++) d[i] = 50.0 / (1 + i);
        var noise = Linspace(-0.2, 0.2, n);
        var a = Similarity(d, seed) + Similarity(noise, seed + 1);
        return (Operator(a), a.Trace());
    }

    [TestCase(1UL)]
    [TestCase(2UL)]
    [TestCase(3UL)]
    public void Hutchinson_is_within_three_standard_errors_of_the_true_trace(ulong seed)
    {
        var a = Wishart(150, 200, seed);
        var est = Hutchinson.Estimate(Operator(a), 200, seed);
        est.Samples.Should().Be(200);
        est.Matvecs.Should().Be(200);
        est.StandardError.Should().BePositive();
        Math.Abs(est.Mean - a.Trace()).Should().BeLessThan(3 * est.StandardError);
    }

    [Test]
    public void Hutchinson_standard_error_matches_the_closed_form_variance_of_Rademacher_probes()
    {
        // Var(zᵀAz) = 2 Σ_{i≠j} a_ij² for Rademacher z.
        var a = Wishart(60, 80, 4);
        double offDiag = 0;
        for (int i = 0; i < 60; i++)
            for (int j = 0; j < 60; j++) if (i != j) offDiag += a[i, j] * a[i, j];
        int samples = 4000;
        var est = Hutchinson.Estimate(Operator(a), samples, 5);
        double expected = Math.Sqrt(2 * offDiag / samples);
        est.StandardError.Should().BeApproximately(expected, 0.1 * expected);
    }

    [Test]
    public void Hutch_plus_plus_is_within_three_standard_errors_and_exact_on_a_low_rank_matrix()
    {
        var (op, trace) = LowRankPlusNoise(120, 5, 7);
        var est = Hutchinson.HutchPlusPlus(op, 60, 8);
        est.Matvecs.Should().Be(60);
        Math.Abs(est.Mean - trace).Should().BeLessThan(3 * est.StandardError);

        // Rank 4 < sketch size 10: the sketch captures A exactly, the remainder is zero.
        var d = new double[80];
        d[0] = 3; d[1] = -2; d[2] = 1; d[3] = 7;
        var exact = Hutchinson.HutchPlusPlus(Operator(Similarity(d, 9)), 30, 10);
        exact.Mean.Should().BeApproximately(9.0, 1e-10);
    }

    [Test]
    public void Hutch_plus_plus_has_smaller_error_than_Hutchinson_on_low_rank_plus_noise_at_equal_cost()
    {
        var (op, trace) = LowRankPlusNoise(150, 8, 11);
        double hutch = 0, plus = 0;
        const int seeds = 30, budget = 45;
        for (ulong s = 0; s < seeds; s++)
        {
            double e1 = Hutchinson.Estimate(op, budget, 100 + s).Mean - trace;
            double e2 = Hutchinson.HutchPlusPlus(op, budget, 100 + s).Mean - trace;
            hutch += e1 * e1;
            plus += e2 * e2;
        }
        plus.Should().BeLessThan(0.1 * hutch);
    }

    [Test]
    public void Same_seed_gives_the_same_bits_on_one_and_two_BLAS_threads()
    {
        var op = Operator(Wishart(90, 100, 12));
        TraceEstimate a, b, c, d;
        using (Blas.UseThreads(1)) { a = Hutchinson.Estimate(op, 20, 3); c = Hutchinson.HutchPlusPlus(op, 21, 3); }
        using (Blas.UseThreads(2)) { b = Hutchinson.Estimate(op, 20, 3); d = Hutchinson.HutchPlusPlus(op, 21, 3); }
        a.Should().Be(b);
        c.Should().Be(d);
        Hutchinson.Estimate(op, 20, 4).Mean.Should().NotBe(a.Mean);
    }

    [Test]
    public void Invalid_arguments_throw_with_clear_messages()
    {
        var op = new DiagonalOperator(Linspace(0, 1, 6));
        FluentActions.Invoking(() => Hutchinson.Estimate(op, 1, 0)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'samples' was 1*at least 2*");
        FluentActions.Invoking(() => Hutchinson.HutchPlusPlus(op, 3, 0)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'matvecs' was 3*at least 4*");
        FluentActions.Invoking(() => Hutchinson.Estimate(null!, 5, 0)).Should().Throw<ArgumentNullException>();
    }
}

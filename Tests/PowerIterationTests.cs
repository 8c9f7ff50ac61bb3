using Curvature.Spectral;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.SpectralFixtures;

namespace Curvature.Tests;

public class PowerIterationTests
{
    // Well separated spectra: power iteration converges at the ratio of neighbouring eigenvalues.
    static double[] Spectrum()
    {
        var d = Linspace(-1, 1, 80);
        d[0] = 8; d[1] = -6; d[2] = 4; d[3] = -3; d[4] = 2.5; d[5] = -2.2;
        return d;
    }

    [TestCase(Which.LargestMagnitude)]
    [TestCase(Which.LargestAlgebraic)]
    [TestCase(Which.SmallestAlgebraic)]
    public void Deflated_power_iteration_matches_the_dense_eigenvalues(Which which)
    {
        var a = Similarity(Spectrum(), 3);
        var r = PowerIteration.TopK(Operator(a), 3, new EigenOptions { Which = which, MaxIterations = 5000 });
        r.AllConverged.Should().BeTrue();
        var expected = Expected(DenseEigenvalues(a), 3, which);
        for (int i = 0; i < 3; i++) r.Values[i].Should().BeApproximately(expected[i], 1e-10);
        OrthonormalityError(r).Should().BeLessThan(1e-12);
        for (int i = 0; i < 3; i++)
            r.Residuals[i].Should().BeApproximately(TrueResidual(a, r.Vector(i), r.Values[i]), 1e-12 * 8);
    }

    [Test]
    public void Power_iteration_needs_more_products_than_Lanczos_for_the_same_pairs()
    {
        var op = Operator(Similarity(Spectrum(), 4));
        var power = PowerIteration.TopK(op, 2, new EigenOptions { Which = Which.LargestMagnitude, MaxIterations = 5000 });
        var lanczos = Lanczos.TopK(op, 2, new EigenOptions { Which = Which.LargestMagnitude });
        power.AllConverged.Should().BeTrue();
        power.Matvecs.Should().BeGreaterThan(lanczos.Matvecs);
    }

    [Test]
    public void An_exhausted_iteration_budget_flags_pairs_unconverged()
    {
        var a = Similarity(Spectrum(), 5);
        var r = PowerIteration.TopK(Operator(a), 2, new EigenOptions { Which = Which.LargestMagnitude, MaxIterations = 3 });
        r.AllConverged.Should().BeFalse();
        r.Matvecs.Should().Be(6);
        for (int i = 0; i < 2; i++)
        {
            double trueRes = TrueResidual(a, r.Vector(i), r.Values[i]);
            r.Residuals[i].Should().BeApproximately(trueRes, 1e-12 * 8);
            r.Converged[i].Should().Be(trueRes <= 1e-8 * Math.Abs(r.Values[i]));
        }
    }

    [Test]
    public void Same_seed_gives_the_same_bits()
    {
        var op = Operator(Similarity(Spectrum(), 6));
        var a = PowerIteration.TopK(op, 2, new EigenOptions { Which = Which.LargestMagnitude, Seed = 9 });
        var b = PowerIteration.TopK(op, 2, new EigenOptions { Which = Which.LargestMagnitude, Seed = 9 });
        a.Vectors.Should().Equal(b.Vectors);
        a.Values.Should().Equal(b.Values);
    }

    [Test]
    public void Invalid_arguments_throw_with_clear_messages()
    {
        var op = new DiagonalOperator(Linspace(0, 1, 6));
        FluentActions.Invoking(() => PowerIteration.TopK(op, 6)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'k' was 6*");
        FluentActions.Invoking(() => PowerIteration.TopK(op, 1, new EigenOptions { Which = Which.LargestMagnitude, Tolerance = -1 })).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'options.Tolerance' was -1*");
        FluentActions.Invoking(() => PowerIteration.TopK(op, 1, new EigenOptions { Which = Which.LargestMagnitude, MaxIterations = 0 })).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'options.MaxIterations' was 0*");
    }
}

using Curvature.Spectral;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.SpectralFixtures;

namespace Curvature.Tests;

/// <summary>
/// Warm starts of block Lanczos: a start block wider than the block is applied whole in the
/// first step, and on a perturbed spectrum without a gap after the k-th value (the situation
/// of a network's Hessian after one SGD step) the warm solve still finds the dense pairs.
/// </summary>
public class BlockLanczosWarmStartTests
{
    const int N = 500, K = 10;

    // Top of the spectrum a continuum: λ_i = exp(−i/15) for i < 80 (λ₁₀/λ₁₁ = 1.07), the rest in [−0.05, 0.02].
    static double[] Spectrum()
    {
        var d = Linspace(-0.05, 0.02, N);
        for (int i = 0; i < 80; i++) d[i] = Math.Exp(-i / 15.0);
        return d;
    }

    static (MathNet.Numerics.LinearAlgebra.Matrix<double> a, MathNet.Numerics.LinearAlgebra.Matrix<double> moved) Operators()
    {
        var a = Similarity(Spectrum(), 51);
        // ‖E‖₂ = 5·10⁻³: the top eigenvalues move by up to 0.5 %, as after one SGD step at the initialization.
        var moved = a + Similarity(Linspace(-5e-3, 5e-3, N), 53);
        return (a, moved);
    }

    static void ShouldBeTheDenseTopK(EigenResult r, MathNet.Numerics.LinearAlgebra.Matrix<double> a, double tol)
    {
        var expected = Expected(DenseEigenvalues(a), K, Which.LargestAlgebraic);
        r.AllConverged.Should().BeTrue(r.Certificate);
        OrthonormalityError(r).Should().BeLessThan(1e-12);
        for (int i = 0; i < K; i++)
        {
            r.Values[i].Should().BeApproximately(expected[i], 1e-9, $"eigenvalue {i}");
            TrueResidual(a, r.Vector(i), r.Values[i]).Should().BeLessThanOrEqualTo(tol * Math.Abs(r.Values[i]) * (1 + 1e-6) + 1e-14);
        }
    }

    [Test]
    public void A_wide_start_block_is_applied_whole_in_the_first_step()
    {
        var (a, _) = Operators();
        var evd = a.Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric);
        // 14 exact eigenvectors with the default block of 6: one block product of 14 converges the top 10.
        var start = new double[14 * N];
        for (int i = 0; i < 14; i++)
            for (int t = 0; t < N; t++) start[i * N + t] = evd.EigenVectors[t, N - 1 - i];
        var r = BlockLanczos.TopK(Operator(a), K, new EigenOptions { Tolerance = 1e-8, StartBlock = start });
        ShouldBeTheDenseTopK(r, a, 1e-8);
        r.Matvecs.Should().Be(14);
    }

    [Test]
    public void On_a_spectrum_without_a_gap_a_warm_start_from_nearby_eigenvectors_converges_to_the_dense_pairs()
    {
        var (a, moved) = Operators();
        var options = new EigenOptions { Tolerance = 1e-6 };
        var before = BlockLanczos.TopK(Operator(a), K, options);
        ShouldBeTheDenseTopK(before, a, 1e-6);
        // Compared at the block width a warm start runs with: what the start itself saves. (A cold
        // solve at its own narrower default needs fewer products here: docs/spectral.md, "Block size".)
        var cold = BlockLanczos.TopK(Operator(moved), K, options with { BlockSize = BlockLanczos.DefaultWarmBlockSize(K, moved.RowCount) });
        var warm = BlockLanczos.TopK(Operator(moved), K, options with { StartBlock = before.Vectors });
        ShouldBeTheDenseTopK(cold, moved, 1e-6);
        ShouldBeTheDenseTopK(warm, moved, 1e-6);
        // The counts are documented in docs/spectral.md ("Warm start"): without a gap the saving is small.
        TestContext.Out.WriteLine($"cold {cold.Matvecs}, warm {warm.Matvecs}");
        warm.Matvecs.Should().BeLessThanOrEqualTo(cold.Matvecs, "a warm start is never worse than a cold one here");
    }
}

using Curvature.Core;
using Curvature.Spectral;
using FluentAssertions;
using MathNet.Numerics.LinearAlgebra;
using NUnit.Framework;
using static Curvature.Tests.SpectralFixtures;

namespace Curvature.Tests;

/// <summary>
/// The gap-certified warm refresh (docs/spectral.md, "Warm refresh with a gap certificate"):
/// along a sequence of slowly rotating operators with a gap it certifies every set from few
/// products; without a gap, or when an eigenvalue crosses into the set, it never certifies a
/// wrong set. Every figure is checked against MathNet's dense eigensolver.
/// </summary>
public class WarmRefreshTests
{
    const int N = 300, K = 10;

    /// <summary>
    /// Q₀·G(φ)·diag(d)·G(φ)ᵀ·Q₀ᵀ with G(φ) the product of the Givens rotations in the planes
    /// (i, N/2 + i) by the angles φ·(1 + i/N): the eigenvectors turn by about φ per step.
    /// </summary>
    static Matrix<double> Rotated(double[] d, double phi, ulong seed)
    {
        var q = RandomOrthogonal(N, seed);
        var g = Matrix<double>.Build.DenseIdentity(N);
        for (int i = 0; i < N / 2; i++)
        {
            double a = phi * (1 + (double)i / N), c = Math.Cos(a), s = Math.Sin(a);
            g[i, i] = c; g[i, N / 2 + i] = -s; g[N / 2 + i, i] = s; g[N / 2 + i, N / 2 + i] = c;
        }
        var qg = q * g;
        var a2 = qg * Matrix<double>.Build.DenseOfDiagonalArray(d) * qg.Transpose();
        return 0.5 * (a2 + a2.Transpose());
    }

    // Top 10 = 10 − 0.5i (10 … 5.5), the rest spread over [−1, 3], drifting slowly with the step j.
    static double[] GappedSpectrum(int j)
    {
        var d = Linspace(-1, 3, N);
        for (int i = 0; i < K; i++) d[N - 1 - i] = 10 - 0.5 * i + 0.02 * j * Math.Sin(i);
        return d;
    }

    static void ShouldBeTheDenseTopK(EigenResult r, Matrix<double> a, double tol)
    {
        var expected = Expected(DenseEigenvalues(a), K, Which.LargestAlgebraic);
        OrthonormalityError(r).Should().BeLessThan(1e-12);
        for (int i = 0; i < K; i++)
        {
            double res = TrueResidual(a, r.Vector(i), r.Values[i]);
            res.Should().BeLessThanOrEqualTo(tol * Math.Abs(r.Values[i]) * (1 + 1e-6) + 1e-13, $"the dense residual of pair {i}");
            // Kato–Temple with the dense gap: a converged pair's value is within r²/gap of its eigenvalue.
            r.Values[i].Should().BeApproximately(expected[i], 1e-8 + 2 * res, $"eigenvalue {i}");
        }
    }

    /// <summary>
    /// What a gap certificate states, checked densely: the set is the top k, and the (k+1)-th
    /// eigenvalue lies below θ_k − ‖R‖_F (no eigenvalue missed above the set).
    /// </summary>
    static void ShouldHoldWhereGapCertified(WarmRefreshResult w, Matrix<double> a, double tol)
    {
        if (!w.GapCertified) return;
        ShouldBeTheDenseTopK(w.Result, a, tol);
        double next = Expected(DenseEigenvalues(a), K + 1, Which.LargestAlgebraic)[K];
        next.Should().BeLessThan(w.Result.Values[K - 1] - w.ResidualNorm, "no eigenvalue outside the set lies above it");
    }

    static double[] Start(EigenResult r, double[]? guard)
        => guard is null ? r.Vectors.AsSpan(0, K * N).ToArray() : [.. r.Vectors.AsSpan(0, K * N), .. guard];

    [Test]
    public void Warm_refreshes_along_slowly_rotating_operators_with_a_gap_certify_every_set_from_few_products()
    {
        const double tol = 1e-4;
        var a0 = Rotated(GappedSpectrum(0), 0, 7);
        // The cold reference at the block width of block Lanczos's own warm start (its narrower cold
        // default is cheaper on this fixture: docs/spectral.md, "Block size").
        var previous = BlockLanczos.TopK(Operator(a0), K, new EigenOptions { Tolerance = tol, Seed = 1, BlockSize = BlockLanczos.DefaultWarmBlockSize(K, a0.RowCount) });
        double[]? guard = null;
        int coldProducts = previous.Matvecs;
        for (int j = 1; j <= 8; j++)
        {
            var a = Rotated(GappedSpectrum(j), 0.01 * j, 7);
            var op = new CountingOperator(Operator(a));
            var w = WarmRefresh.TopK(op, K, new EigenOptions { Tolerance = tol, Seed = (ulong)j, StartBlock = Start(previous, guard) });
            w.Result.Matvecs.Should().Be(op.Count, "the count is every product the operator saw");
            ShouldBeTheDenseTopK(w.Result, a, tol);
            ShouldHoldWhereGapCertified(w, a, tol);
            w.Result.AllConverged.Should().BeTrue(w.Result.Certificate);
            if (j > 1)
            {
                // From the second refresh on the guard has been through a refresh: the gap decides alone.
                w.GapCertified.Should().BeTrue(w.Result.Certificate);
                w.Result.Matvecs.Should().BeLessThanOrEqualTo(coldProducts / 2, "a warm refresh with a gap costs a fraction of a cold solve");
                w.BlockWidths[0].Should().Be(K + WarmRefresh.DefaultGuard(K));
            }
            previous = w.Result;
            guard = w.Guard;
        }
    }

    [Test]
    public void The_first_Rayleigh_Ritz_step_is_the_dense_one_on_the_start_block_and_every_unconverged_residual_joins_the_next_product()
    {
        const double tol = 1e-4;
        var previous = BlockLanczos.TopK(Operator(Rotated(GappedSpectrum(0), 0, 7)), K, new EigenOptions { Tolerance = tol, Seed = 1 });
        var first = WarmRefresh.TopK(Operator(Rotated(GappedSpectrum(1), 0.01, 7)), K, new EigenOptions { Tolerance = tol, Seed = 1, StartBlock = previous.Vectors });
        var a = Rotated(GappedSpectrum(2), 0.02, 7);
        var start = Start(first.Result, first.Guard);
        var w = WarmRefresh.TopK(Operator(a), K, new EigenOptions { Tolerance = tol, Seed = 2, StartBlock = start });

        // The dense route: S's rows are orthonormal (the k vectors, then the guard orthogonal to them),
        // so the Ritz pairs are the eigenpairs of SᵀAS, largest first.
        int p = start.Length / N;
        var s = Matrix<double>.Build.Dense(N, p, (i, j) => start[j * N + i]);
        var evd = (s.Transpose() * a * s).Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric);
        w.FirstValues.Should().HaveCount(p);
        for (int i = 0; i < p; i++)
        {
            int col = p - 1 - i;
            w.FirstValues[i].Should().BeApproximately(evd.EigenValues[col].Real, 1e-10, $"Ritz value {i}");
            var y = s * evd.EigenVectors.Column(col);
            w.FirstResiduals[i].Should().BeApproximately(TrueResidual(a, y.ToArray(), evd.EigenValues[col].Real), 1e-9, $"residual {i}");
        }
        int unconverged = Enumerable.Range(0, K).Count(i => w.FirstResiduals[i] > tol * Math.Abs(w.FirstValues[i]));
        unconverged.Should().BeGreaterThan(BlockLanczos.DefaultWarmBlockSize(K, N), "the operator moved: more residuals than a block Lanczos block are unconverged");
        w.BlockWidths.Should().HaveCount(1 + w.Expansions, "gap-certified: the start block, then one product per expansion");
        w.GapCertified.Should().BeTrue(w.Result.Certificate);
        w.BlockWidths[1].Should().Be(unconverged, "every unconverged residual joins the first expansion");
        w.BlockWidths.Sum().Should().Be(w.Result.Matvecs);
    }

    [Test]
    public void Without_a_gap_a_warm_refresh_never_certifies_a_wrong_set()
    {
        const double tol = 1e-6;
        // λ_i = exp(−i/15) for the top 80 (λ₁₀/λ₁₁ = 1.07), the rest in [−0.05, 0.02].
        var d = Linspace(-0.05, 0.02, N);
        for (int i = 0; i < 80; i++) d[N - 1 - i] = Math.Exp(-i / 15.0);
        var previous = BlockLanczos.TopK(Operator(Rotated(d, 0, 9)), K, new EigenOptions { Tolerance = tol, Seed = 1 });
        double[]? guard = null;
        int gapCertified = 0;
        for (int j = 1; j <= 6; j++)
        {
            var a = Rotated(d, 0.02 * j, 9);
            var w = WarmRefresh.TopK(Operator(a), K, new EigenOptions { Tolerance = tol, Seed = (ulong)j, StartBlock = Start(previous, guard) });
            if (w.Result.AllConverged) ShouldBeTheDenseTopK(w.Result, a, tol);
            ShouldHoldWhereGapCertified(w, a, tol);
            if (w.GapCertified) gapCertified++;
            previous = w.Result;
            guard = w.Guard;
        }
        gapCertified.Should().Be(0, "a relative gap of 7 % minus the residuals is below the required 10 %");
    }

    [Test]
    public void An_eigenvalue_crossing_into_the_set_is_found_or_the_set_is_not_certified()
    {
        // The eigenvectors stand still, so the previous basis stays exactly invariant; the 11th
        // eigenvalue rises from 4 through the 10th (5.5) to 7, where it belongs to the top 10.
        const double tol = 1e-6;
        double[] Spectrum(int j)
        {
            var s = GappedSpectrum(0);
            s[N - 1 - K] = 4 + 0.5 * j;
            return s;
        }
        var previous = BlockLanczos.TopK(Operator(Rotated(Spectrum(0), 0, 11)), K, new EigenOptions { Tolerance = tol, Seed = 1 });
        double[]? guard = null;
        for (int j = 1; j <= 6; j++)
        {
            var a = Rotated(Spectrum(j), 0, 11);
            var w = WarmRefresh.TopK(Operator(a), K, new EigenOptions { Tolerance = tol, Seed = (ulong)j, StartBlock = Start(previous, guard) });
            if (w.Result.AllConverged) ShouldBeTheDenseTopK(w.Result, a, tol);
            ShouldHoldWhereGapCertified(w, a, tol);
            previous = w.Result;
            guard = w.Guard;
        }
        previous.Values.Should().Contain(v => Math.Abs(v - 7) < 1e-8, "the risen eigenvalue is in the final set");
    }

    [Test]
    public void Same_seed_gives_the_same_bits_on_one_and_two_BLAS_threads()
    {
        var a0 = Rotated(GappedSpectrum(0), 0, 7);
        var a1 = Rotated(GappedSpectrum(1), 0.01, 7);
        var previous = BlockLanczos.TopK(Operator(a0), K, new EigenOptions { Tolerance = 1e-6, Seed = 1 });
        var options = new EigenOptions { Tolerance = 1e-8, Seed = 3, StartBlock = previous.Vectors };
        WarmRefreshResult one, two;
        using (Blas.UseThreads(1)) one = WarmRefresh.TopK(Operator(a1), K, options);
        using (Blas.UseThreads(2)) two = WarmRefresh.TopK(Operator(a1), K, options);
        two.Result.Values.Should().Equal(one.Result.Values);
        two.Result.Vectors.Should().Equal(one.Result.Vectors);
        two.Guard.Should().Equal(one.Guard);
        two.Result.Matvecs.Should().Be(one.Result.Matvecs);
    }

    [Test]
    public void A_workspace_reused_across_certified_refreshes_and_fallbacks_gives_the_bits_of_fresh_buffers()
    {
        // Refreshes with a fallback (large trial space) and gap-certified ones (small) alternate on one
        // workspace; each must equal the same refresh on fresh buffers, so no stale row is ever read.
        var workspace = new WarmRefreshWorkspace();
        var previous = BlockLanczos.TopK(Operator(Rotated(GappedSpectrum(0), 0, 7)), K, new EigenOptions { Tolerance = 1e-6, Seed = 1 });
        double[]? guard = null;
        int fellBack = 0, certified = 0;
        for (int j = 1; j <= 5; j++)
        {
            // Odd steps turn by 0.3 rad (a start that far off does not converge in the warm iteration), even steps by 0.01.
            var a = Rotated(GappedSpectrum(j), j % 2 == 1 ? 0.3 * j : 0.3 * (j - 1) + 0.01, 7);
            var options = new EigenOptions { Tolerance = 1e-6, Seed = (ulong)j, StartBlock = Start(previous, guard) };
            var fresh = WarmRefresh.TopK(Operator(a), K, options);
            var reused = WarmRefresh.TopK(Operator(a), K, options, workspace: workspace);
            reused.Result.Values.Should().Equal(fresh.Result.Values);
            reused.Result.Vectors.Should().Equal(fresh.Result.Vectors);
            reused.Result.Residuals.Should().Equal(fresh.Result.Residuals);
            reused.Guard.Should().Equal(fresh.Guard);
            reused.BlockWidths.Should().Equal(fresh.BlockWidths);
            if (fresh.GapCertified) certified++; else fellBack++;
            previous = fresh.Result;
            guard = fresh.Guard;
        }
        fellBack.Should().BeGreaterThan(0, "a large turn leaves the warm step unconverged");
        certified.Should().BeGreaterThan(0, "a small turn after a refresh is gap-certified");
    }

    [Test]
    public void Invalid_arguments_throw_with_messages_naming_argument_value_and_expectation()
    {
        var op = Operator(Rotated(GappedSpectrum(0), 0, 7));
        var start = new double[K * N];
        start[0] = 1;
        FluentActions.Invoking(() => WarmRefresh.TopK(op, K, new EigenOptions()))
            .Should().Throw<ArgumentException>().WithMessage("*options.StartBlock*null*previous k vectors*");
        FluentActions.Invoking(() => WarmRefresh.TopK(op, K, new EigenOptions { StartBlock = start, Which = Which.LargestMagnitude }))
            .Should().Throw<ArgumentException>().WithMessage("*options.Which*LargestMagnitude*LargestAlgebraic or SmallestAlgebraic*");
        FluentActions.Invoking(() => WarmRefresh.TopK(op, K, new EigenOptions { StartBlock = start, BlockSize = K }))
            .Should().Throw<ArgumentException>().WithMessage("*options.BlockSize*10*k + guard*");
        FluentActions.Invoking(() => WarmRefresh.TopK(op, K, new EigenOptions { StartBlock = new double[13 * N], MaxMatvecs = 5 }))
            .Should().Throw<ArgumentException>();
        FluentActions.Invoking(() => WarmRefresh.TopK(op, K, new EigenOptions { StartBlock = [.. start, .. start, .. new double[N]] }))
            .Should().Throw<ArgumentException>().WithMessage("*options.StartBlock*21 rows*at most k + guard = 12*");
    }
}

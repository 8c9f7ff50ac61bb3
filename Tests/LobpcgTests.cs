using Curvature.Core;
using Curvature.Spectral;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.SpectralFixtures;

namespace Curvature.Tests;

public class LobpcgTests
{
    const double EigTol = 1e-10;

    static void ShouldMatchDense(EigenResult r, MathNet.Numerics.LinearAlgebra.Matrix<double> a, int k, Which which)
    {
        var expected = Expected(DenseEigenvalues(a), k, which);
        r.Count.Should().Be(k);
        r.AllConverged.Should().BeTrue();
        for (int i = 0; i < k; i++)
            r.Values[i].Should().BeApproximately(expected[i], EigTol, $"eigenvalue {i} ({which})");
        OrthonormalityError(r).Should().BeLessThan(1e-12);
        double norm = a.L2Norm();
        for (int i = 0; i < k; i++)
            r.Residuals[i].Should().BeApproximately(TrueResidual(a, r.Vector(i), r.Values[i]), 1e-12 * norm);
    }

    [Test]
    public void Top_k_of_a_diagonal_operator_are_its_k_largest_entries()
    {
        var d = Shuffled(Linspace(-2, 7, 300), 3);
        var r = Lobpcg.TopK(new DiagonalOperator(d), 6);
        ShouldMatchDense(r, Diagonal(d), 6, Which.LargestAlgebraic);
    }

    [TestCase(Which.LargestAlgebraic)]
    [TestCase(Which.SmallestAlgebraic)]
    [TestCase(Which.LargestMagnitude)]
    public void Top_k_of_a_random_orthogonal_similarity_with_negative_eigenvalues_match_the_dense_solution(Which which)
    {
        var d = Linspace(-3.5, 2.5, 120);
        var a = Similarity(d, 11);
        var r = Lobpcg.TopK(Operator(a), 5, new EigenOptions { Which = which });
        ShouldMatchDense(r, a, 5, which);
    }

    [Test]
    public void Clustered_top_eigenvalues_are_resolved_to_dense_accuracy()
    {
        var d = Linspace(-1, 4, 150);
        for (int i = 0; i < 6; i++) d[i] = 5 - 1e-3 * i;
        var a = Similarity(d, 5);
        var r = Lobpcg.TopK(Operator(a), 6);
        ShouldMatchDense(r, a, 6, Which.LargestAlgebraic);
    }

    [Test]
    public void Repeated_top_eigenvalue_is_found_with_its_multiplicity()
    {
        var d = Linspace(-1, 4, 150);
        d[0] = d[1] = d[2] = 5.0;
        var a = Similarity(d, 31);
        var r = Lobpcg.TopK(Operator(a), 4);
        ShouldMatchDense(r, a, 4, Which.LargestAlgebraic);
    }

    [Test]
    public void Wishart_matrix_top_eigenvalues_match_the_dense_solution()
    {
        var a = Wishart(100, 300, 9);
        var r = Lobpcg.TopK(Operator(a), 8);
        ShouldMatchDense(r, a, 8, Which.LargestAlgebraic);
    }

    [Test]
    public void Smallest_eigenvalues_of_a_singular_Wishart_matrix_are_zero_with_multiplicity()
    {
        // XᵀX/m with m < n has n − m zero eigenvalues: a large repeated eigenvalue at zero,
        // where only the absolute floor of the convergence test makes convergence possible.
        var a = Wishart(60, 40, 13);
        var r = Lobpcg.TopK(Operator(a), 5, new EigenOptions { Which = Which.SmallestAlgebraic });
        r.AllConverged.Should().BeTrue();
        r.Values.Should().AllSatisfy(v => v.Should().BeApproximately(0, EigTol));
        OrthonormalityError(r).Should().BeLessThan(1e-12);
        for (int i = 0; i < 5; i++) TrueResidual(a, r.Vector(i), 0).Should().BeLessThan(1e-10);
    }

    [Test]
    public void Warm_start_from_exact_eigenvectors_converges_with_the_first_block_product()
    {
        var d = Linspace(-1, 4, 100);
        var a = Similarity(d, 37);
        var evd = a.Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric);
        int k = 4;
        var warm = new double[k * 100];
        for (int i = 0; i < k; i++)
            for (int t = 0; t < 100; t++) warm[i * 100 + t] = evd.EigenVectors[t, 99 - i];
        var r = Lobpcg.TopK(Operator(a), k, new EigenOptions { StartBlock = warm, BlockSize = k });
        r.Matvecs.Should().Be(k);
        r.Iterations.Should().Be(0);
        ShouldMatchDense(r, a, k, Which.LargestAlgebraic);
    }

    [Test]
    public void Warm_start_from_the_eigenvectors_of_a_nearby_operator_needs_fewer_products_than_a_cold_start()
    {
        var d = Linspace(-1, 4, 200);
        for (int i = 0; i < 5; i++) d[i] = 6 - 0.3 * i;
        var a = Similarity(d, 41);
        var evd = a.Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric);
        var noise = Similarity(Linspace(-1e-3, 1e-3, 200), 43);
        var moved = a + noise;
        int k = 5;
        var warm = new double[k * 200];
        for (int i = 0; i < k; i++)
            for (int t = 0; t < 200; t++) warm[i * 200 + t] = evd.EigenVectors[t, 199 - i];
        var cold = Lobpcg.TopK(Operator(moved), k);
        var hot = Lobpcg.TopK(Operator(moved), k, new EigenOptions { StartBlock = warm });
        ShouldMatchDense(hot, moved, k, Which.LargestAlgebraic);
        hot.Matvecs.Should().BeLessThan(cold.Matvecs / 2);
    }

    [Test]
    public void Soft_locking_applies_no_products_to_converged_pairs()
    {
        // Widely separated top eigenvalues converge at different iterations; a locked pair
        // stops costing products, so the total stays below block size times iterations.
        var d = Linspace(-1, 1, 200);
        for (int i = 0; i < 5; i++) d[i] = 100.0 / (1 + i);
        var counting = new CountingOperator(new DiagonalOperator(d));
        var r = Lobpcg.TopK(counting, 5, new EigenOptions { BlockSize = 5 });
        r.AllConverged.Should().BeTrue();
        r.Matvecs.Should().Be(counting.Count);
        r.Matvecs.Should().BeLessThan(5 * (r.Iterations + 1));
    }

    [Test]
    public void A_tiny_iteration_budget_returns_pairs_flagged_unconverged_with_true_residuals()
    {
        var d = Linspace(-1, 4, 200);
        for (int i = 0; i < 6; i++) d[i] = 5 - 1e-3 * i;
        var a = Similarity(d, 29);
        var r = Lobpcg.TopK(Operator(a), 6, new EigenOptions { MaxIterations = 2 });
        r.AllConverged.Should().BeFalse();
        r.Iterations.Should().Be(2);
        double norm = a.L2Norm();
        for (int i = 0; i < 6; i++)
        {
            double trueRes = TrueResidual(a, r.Vector(i), r.Values[i]);
            r.Residuals[i].Should().BeApproximately(trueRes, 1e-12 * norm);
            r.Converged[i].Should().Be(trueRes <= 1e-8 * Math.Abs(r.Values[i]), $"pair {i} has residual {trueRes}");
        }
        OrthonormalityError(r).Should().BeLessThan(1e-12);
    }

    [Test]
    public void A_matvec_budget_is_respected_and_the_count_is_exact()
    {
        var counting = new CountingOperator(Operator(Wishart(80, 100, 3)));
        var r = Lobpcg.TopK(counting, 4, new EigenOptions { MaxMatvecs = 20, Tolerance = 1e-14 });
        counting.Count.Should().BeLessThanOrEqualTo(20);
        r.Matvecs.Should().Be(counting.Count);
        r.AllConverged.Should().BeFalse();
    }

    [Test]
    public void Same_seed_gives_the_same_bits_on_one_and_two_BLAS_threads()
    {
        var op = Operator(Wishart(120, 150, 12));
        EigenResult one, two, again;
        using (Blas.UseThreads(1)) one = Lobpcg.TopK(op, 4, new EigenOptions { Seed = 3 });
        using (Blas.UseThreads(2)) two = Lobpcg.TopK(op, 4, new EigenOptions { Seed = 3 });
        again = Lobpcg.TopK(op, 4, new EigenOptions { Seed = 3 });
        one.Values.Should().Equal(two.Values);
        one.Vectors.Should().Equal(two.Vectors);
        one.Vectors.Should().Equal(again.Vectors);
        var other = Lobpcg.TopK(op, 4, new EigenOptions { Seed = 4 });
        other.Vectors.Should().NotEqual(one.Vectors);
        for (int i = 0; i < 4; i++) other.Values[i].Should().BeApproximately(one.Values[i], EigTol);
    }

    [Test]
    public void Invalid_arguments_throw_with_messages_naming_argument_value_and_expectation()
    {
        var op = new DiagonalOperator(Linspace(0, 1, 10));
        FluentActions.Invoking(() => Lobpcg.TopK(op, 0)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'k' was 0*expected 1 <= k < n = 10*");
        FluentActions.Invoking(() => Lobpcg.TopK(op, 10)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'k' was 10*");
        FluentActions.Invoking(() => Lobpcg.TopK(op, 2, new EigenOptions { Tolerance = 0 })).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'options.Tolerance' was 0*positive*");
        FluentActions.Invoking(() => Lobpcg.TopK(op, 2, new EigenOptions { StartBlock = new double[15] })).Should().Throw<ArgumentException>()
            .WithMessage("*'options.StartBlock' has length 15*m x n = m x 10*");
        FluentActions.Invoking(() => Lobpcg.TopK(op, 2, new EigenOptions { StartBlock = Enumerable.Repeat(1.0, 50).ToArray() })).Should().Throw<ArgumentException>()
            .WithMessage("*'options.StartBlock' has length 50*1 <= m <= k + guard = 4*");
        FluentActions.Invoking(() => Lobpcg.TopK(op, 2, new EigenOptions { MaxMatvecs = 3 })).Should().Throw<ArgumentOutOfRangeException>()
            .WithMessage("*'options.MaxMatvecs' was 3*at least the block size k + guard = 4*");
        FluentActions.Invoking(() => Lobpcg.TopK(op, 2, new EigenOptions { MaxIterations = -1 })).Should().Throw<ArgumentOutOfRangeException>()
            .WithMessage("*'options.MaxIterations' was -1*");
    }

    [Test]
    public void Cholesky_QR_orthonormalizes_a_well_conditioned_block_and_keeps_its_span()
    {
        int r = 6, n = 300;
        var b = new double[r * n];
        new Rng(7UL).FillGaussian(b);
        var original = (double[])b.Clone();
        var ws = new BlockWorkspace(n, r);
        BlockOps.Orthonormalize(b, r, n, ws).Should().Be(r);
        ws.SvqbFallbacks.Should().Be(0);
        GramDeviation(b, r, n).Should().BeLessThan(1e-14);
        SpanResidual(original, r, b, r, n).Should().BeLessThan(1e-12);
    }

    [Test]
    public void Nearly_dependent_rows_fall_back_to_SVQB_and_come_out_orthonormal()
    {
        int r = 5, n = 200;
        var b = new double[r * n];
        var rng = new Rng(8UL);
        rng.FillGaussian(b.AsSpan(0, 4 * n));
        // Row 4 = row 0 + 5e-7 noise: cond(BBᵀ) ≈ 1e13, beyond what Cholesky-QR is trusted with.
        for (int t = 0; t < n; t++) b[4 * n + t] = b[t] + 5e-7 * rng.NextGaussian();
        var original = (double[])b.Clone();
        var ws = new BlockWorkspace(n, r);
        int rank = BlockOps.Orthonormalize(b, r, n, ws);
        ws.SvqbFallbacks.Should().BeGreaterThan(0);
        rank.Should().Be(5);
        GramDeviation(b, rank, n).Should().BeLessThan(1e-13);
        SpanResidual(original, r, b, rank, n).Should().BeLessThan(1e-10);
    }

    [Test]
    public void A_rank_deficient_block_drops_the_dependent_rows()
    {
        int r = 5, n = 100;
        var b = new double[r * n];
        var rng = new Rng(9UL);
        rng.FillGaussian(b.AsSpan(0, 3 * n));
        for (int t = 0; t < n; t++)
        {
            b[3 * n + t] = 2 * b[t] - b[n + t];
            b[4 * n + t] = b[2 * n + t] + 0.5 * b[n + t];
        }
        var original = (double[])b.Clone();
        var ws = new BlockWorkspace(n, r);
        int rank = BlockOps.Orthonormalize(b, r, n, ws);
        rank.Should().Be(3);
        GramDeviation(b, rank, n).Should().BeLessThan(1e-13);
        SpanResidual(original, r, b, rank, n).Should().BeLessThan(1e-10);
    }

    static double GramDeviation(double[] b, int r, int n)
    {
        double dev = 0;
        for (int i = 0; i < r; i++)
            for (int j = 0; j < r; j++)
            {
                double d = 0;
                for (int t = 0; t < n; t++) d += b[i * n + t] * b[j * n + t];
                dev = Math.Max(dev, Math.Abs(d - (i == j ? 1 : 0)));
            }
        return dev;
    }

    /// <summary>max over original rows x of ‖x − QQᵀx‖/‖x‖: zero when the rows lie in span(Q).</summary>
    static double SpanResidual(double[] original, int r, double[] q, int qRows, int n)
    {
        double worst = 0;
        for (int i = 0; i < r; i++)
        {
            var x = original.AsSpan(i * n, n).ToArray();
            double nx = Math.Sqrt(x.Sum(v => v * v));
            for (int j = 0; j < qRows; j++)
            {
                double c = 0;
                for (int t = 0; t < n; t++) c += q[j * n + t] * x[t];
                for (int t = 0; t < n; t++) x[t] -= c * q[j * n + t];
            }
            worst = Math.Max(worst, Math.Sqrt(x.Sum(v => v * v)) / nx);
        }
        return worst;
    }
}

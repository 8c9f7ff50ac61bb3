using Curvature.Core;
using Curvature.Spectral;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.SpectralFixtures;

namespace Curvature.Tests;

public class LanczosTests
{
    const double EigTol = 1e-10;

    static void ShouldMatchDense(EigenResult r, MathNet.Numerics.LinearAlgebra.Matrix<double> a, int k, Which which, double tol = 1e-8)
    {
        var expected = Expected(DenseEigenvalues(a), k, which);
        r.Count.Should().Be(k);
        r.AllConverged.Should().BeTrue();
        for (int i = 0; i < k; i++)
            r.Values[i].Should().BeApproximately(expected[i], EigTol, $"eigenvalue {i} ({which})");
        OrthonormalityError(r).Should().BeLessThan(1e-12);
        for (int i = 0; i < k; i++)
        {
            double trueRes = TrueResidual(a, r.Vector(i), r.Values[i]);
            trueRes.Should().BeLessThanOrEqualTo(tol * Math.Max(Math.Abs(r.Values[i]), 1e-5 * a.L2Norm()) * (1 + 1e-6) + 1e-14);
        }
    }

    [Test]
    public void Top_k_of_a_diagonal_operator_are_its_k_largest_entries()
    {
        var d = Shuffled(Linspace(-2, 7, 300), 3);
        var r = Lanczos.TopK(new DiagonalOperator(d), 6);
        ShouldMatchDense(r, Diagonal(d), 6, Which.LargestAlgebraic);
        r.Values.Should().Equal(d.OrderByDescending(x => x).Take(6), (x, y) => Math.Abs(x - y) < EigTol);
    }

    [TestCase(Which.LargestAlgebraic)]
    [TestCase(Which.SmallestAlgebraic)]
    [TestCase(Which.LargestMagnitude)]
    public void Top_k_of_a_random_orthogonal_similarity_with_negative_eigenvalues_match_the_dense_solution(Which which)
    {
        var d = Linspace(-3.5, 2.5, 120);
        var a = Similarity(d, 11);
        var r = Lanczos.TopK(Operator(a), 5, new EigenOptions { Which = which });
        ShouldMatchDense(r, a, 5, which);
    }

    [Test]
    public void Clustered_top_eigenvalues_are_resolved_to_dense_accuracy()
    {
        var d = Linspace(-1, 4, 150);
        for (int i = 0; i < 6; i++) d[i] = 5 - 1e-3 * i;
        var a = Similarity(d, 5);
        var r = Lanczos.TopK(Operator(a), 6);
        ShouldMatchDense(r, a, 6, Which.LargestAlgebraic);
    }

    [Test]
    public void Wishart_matrix_top_eigenvalues_match_the_dense_solution()
    {
        var a = Wishart(100, 300, 9);
        var r = Lanczos.TopK(Operator(a), 8);
        ShouldMatchDense(r, a, 8, Which.LargestAlgebraic);
    }

    [Test]
    public void Repeated_eigenvalues_in_an_invariant_subspace_are_found_with_their_multiplicity()
    {
        // Three distinct values: the Krylov space of any start vector is invariant after three
        // steps, and the recurrence must continue from fresh directions to find the copies.
        var d = Enumerable.Range(0, 60).Select(i => (double)(i % 3)).ToArray();
        var r = Lanczos.TopK(new DiagonalOperator(d), 5);
        ShouldMatchDense(r, Diagonal(d), 5, Which.LargestAlgebraic);
        r.Values.Should().AllSatisfy(v => v.Should().BeApproximately(2.0, EigTol));
    }

    [Test]
    public void Thick_restart_with_a_small_basis_converges_to_the_dense_eigenvalues()
    {
        var d = Linspace(-1, 4, 200);
        for (int i = 0; i < 4; i++) d[i] = 4.5 + 0.2 * i;
        var a = Similarity(d, 17);
        var r = Lanczos.TopK(Operator(a), 4, new EigenOptions { MaxBasisSize = 8, KeepOnRestart = 5 });
        r.Iterations.Should().BeGreaterThan(1, "the basis of 8 must have been restarted");
        ShouldMatchDense(r, a, 4, Which.LargestAlgebraic);
    }

    [Test]
    public void Reported_residuals_equal_residuals_recomputed_from_the_dense_matrix()
    {
        var a = Wishart(80, 120, 21);
        var r = Lanczos.TopK(Operator(a), 5, new EigenOptions { Tolerance = 1e-6 });
        double norm = a.L2Norm();
        for (int i = 0; i < r.Count; i++)
            r.Residuals[i].Should().BeApproximately(TrueResidual(a, r.Vector(i), r.Values[i]), 1e-13 * norm);
    }

    [Test]
    public void Residual_bound_beta_times_last_Ritz_component_equals_the_true_residual_also_after_a_restart()
    {
        var d = Linspace(-1, 3, 90);
        var a = Similarity(d, 23);
        var op = Operator(a);
        var start = new double[90];
        new Rng(1UL).FillGaussian(start);
        var proc = new LanczosProcess(op, 12, new Rng(2UL));
        proc.Start(start);
        var t = new double[144];
        var theta = new double[12];
        var order = new int[12];
        for (int cycle = 0; cycle < 2; cycle++)
        {
            while (proc.M < 12) proc.Step();
            proc.Decompose(t, theta);
            int m = proc.M;
            for (int col = 0; col < m; col++)
            {
                var coef = new double[m];
                for (int j = 0; j < m; j++) coef[j] = t[j * m + col];
                var y = new double[90];
                var ay = new double[90];
                proc.Combine(coef, 1, y, ay);
                // The bound must agree with the residual of A itself, computed densely.
                proc.ResidualBound(t.AsSpan(0, m * m), col).Should().BeApproximately(TrueResidual(a, y, theta[col]), 1e-12);
            }
            BlockOps.SortByWhich(theta.AsSpan(0, m), Which.LargestAlgebraic, order);
            proc.Restart(4, t.AsSpan(0, m * m), theta, order);
        }
    }

    [Test]
    public void A_tiny_matvec_budget_returns_pairs_flagged_unconverged_with_true_residuals()
    {
        var d = Linspace(-1, 4, 200);
        for (int i = 0; i < 6; i++) d[i] = 5 - 1e-3 * i;
        var a = Similarity(d, 29);
        var counting = new CountingOperator(Operator(a));
        var r = Lanczos.TopK(counting, 6, new EigenOptions { MaxMatvecs = 8 });
        counting.Count.Should().BeLessThanOrEqualTo(8);
        r.Matvecs.Should().Be(counting.Count);
        r.AllConverged.Should().BeFalse();
        r.Count.Should().Be(6);
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
    public void Reported_matvecs_equal_the_products_the_operator_performed()
    {
        var counting = new CountingOperator(Operator(Wishart(60, 90, 4)));
        var r = Lanczos.TopK(counting, 3);
        r.Matvecs.Should().Be(counting.Count).And.BeGreaterThan(0);
    }

    [Test]
    public void A_start_vector_that_is_an_eigenvector_of_a_lower_eigenvalue_still_yields_the_top_pair()
    {
        // The start spans an invariant subspace at once; the probe of its complement must
        // find the larger eigenvalues the start vector cannot reach.
        var d = Linspace(0, 5, 50);
        var start = new double[50];
        start[20] = 3.0;
        var r = Lanczos.TopK(new DiagonalOperator(d), 2, new EigenOptions { StartBlock = start });
        ShouldMatchDense(r, Diagonal(d), 2, Which.LargestAlgebraic);
    }

    [Test]
    public void Repeated_top_eigenvalue_without_an_invariant_subspace_is_found_with_its_multiplicity_when_probing()
    {
        var d = Linspace(-1, 4, 150);
        d[0] = d[1] = d[2] = 5.0;
        var a = Similarity(d, 31);
        var r = Lanczos.TopK(Operator(a), 4, new EigenOptions { ProbeComplement = true });
        ShouldMatchDense(r, a, 4, Which.LargestAlgebraic);
    }

    [Test]
    public void Same_seed_gives_the_same_bits_and_another_seed_the_same_eigenvalues()
    {
        var op = Operator(Wishart(70, 100, 8));
        var a = Lanczos.TopK(op, 4, new EigenOptions { Seed = 5 });
        var b = Lanczos.TopK(op, 4, new EigenOptions { Seed = 5 });
        var c = Lanczos.TopK(op, 4, new EigenOptions { Seed = 6 });
        a.Values.Should().Equal(b.Values);
        a.Vectors.Should().Equal(b.Vectors);
        a.Residuals.Should().Equal(b.Residuals);
        a.Matvecs.Should().Be(b.Matvecs);
        c.Vectors.Should().NotEqual(a.Vectors);
        for (int i = 0; i < 4; i++) c.Values[i].Should().BeApproximately(a.Values[i], EigTol);
    }

    [Test]
    public void Same_seed_gives_the_same_bits_on_one_and_two_BLAS_threads()
    {
        var op = Operator(Wishart(120, 150, 12));
        EigenResult one, two;
        using (Blas.UseThreads(1)) one = Lanczos.TopK(op, 4, new EigenOptions { Seed = 3 });
        using (Blas.UseThreads(2)) two = Lanczos.TopK(op, 4, new EigenOptions { Seed = 3 });
        one.Values.Should().Equal(two.Values);
        one.Vectors.Should().Equal(two.Vectors);
    }

    [Test]
    public void Invalid_arguments_throw_with_messages_naming_argument_value_and_expectation()
    {
        var op = new DiagonalOperator(Linspace(0, 1, 10));
        FluentActions.Invoking(() => Lanczos.TopK(op, 0)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'k' was 0*expected 1 <= k < n = 10*");
        FluentActions.Invoking(() => Lanczos.TopK(op, 10)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'k' was 10*");
        FluentActions.Invoking(() => Lanczos.TopK(op, 2, new EigenOptions { Tolerance = 0 })).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'options.Tolerance' was 0*positive*");
        FluentActions.Invoking(() => Lanczos.TopK(op, 2, new EigenOptions { Tolerance = -1e-3 })).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'options.Tolerance' was -0.001*");
        FluentActions.Invoking(() => Lanczos.TopK(op, 4, new EigenOptions { MaxBasisSize = 5 })).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'options.MaxBasisSize' was 5*at least k + 2 = 6*");
        FluentActions.Invoking(() => Lanczos.TopK(op, 4, new EigenOptions { MaxMatvecs = 3 })).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'options.MaxMatvecs' was 3*at least k = 4*");
        FluentActions.Invoking(() => Lanczos.TopK(op, 2, new EigenOptions { StartBlock = new double[9] })).Should().Throw<ArgumentException>().WithMessage("*'options.StartBlock' has length 9*m x n = m x 10*");
        FluentActions.Invoking(() => Lanczos.TopK(op, 2, new EigenOptions { StartBlock = new double[10] })).Should().Throw<ArgumentException>().WithMessage("*'options.StartBlock' is all zeros*");
        FluentActions.Invoking(() => Lanczos.TopK(null!, 2)).Should().Throw<ArgumentNullException>().WithMessage("*'op'*");
    }
}

using Curvature.Core;
using Curvature.Spectral;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.SpectralFixtures;

namespace Curvature.Tests;

public class BlockLanczosTests
{
    const double EigTol = 1e-10;

    static void ShouldMatchDense(EigenResult r, MathNet.Numerics.LinearAlgebra.Matrix<double> a, int k, Which which, double tol = 1e-8)
    {
        var expected = Expected(DenseEigenvalues(a), k, which);
        r.Count.Should().Be(k);
        r.AllConverged.Should().BeTrue(r.Certificate);
        for (int i = 0; i < k; i++)
            r.Values[i].Should().BeApproximately(expected[i], EigTol, $"eigenvalue {i} ({which})");
        OrthonormalityError(r).Should().BeLessThan(1e-12);
        for (int i = 0; i < k; i++)
        {
            double trueRes = TrueResidual(a, r.Vector(i), r.Values[i]);
            r.Residuals[i].Should().BeApproximately(trueRes, 1e-10 * Math.Max(1, a.L2Norm()), "reported residuals are the true ones");
            trueRes.Should().BeLessThanOrEqualTo(tol * Math.Max(Math.Abs(r.Values[i]), 1e-5 * a.L2Norm()) * (1 + 1e-6) + 1e-14);
        }
    }

    [TestCase(Which.LargestAlgebraic)]
    [TestCase(Which.SmallestAlgebraic)]
    [TestCase(Which.LargestMagnitude)]
    public void Top_k_of_a_random_orthogonal_similarity_with_negative_eigenvalues_match_the_dense_solution(Which which)
    {
        var d = Linspace(-3, 2, 200);
        d[0] = 4.5; d[1] = -4.2; d[2] = 3.9; d[3] = -3.7;
        var a = Similarity(d, 17);
        var r = BlockLanczos.TopK(Operator(a), 5, new EigenOptions { Which = which });
        ShouldMatchDense(r, a, 5, which);
    }

    [Test]
    public void Thick_restart_with_a_small_basis_converges_to_the_dense_eigenvalues()
    {
        var a = Similarity(Linspace(-1, 3, 300), 5);
        var r = BlockLanczos.TopK(Operator(a), 4, new EigenOptions { BlockSize = 2, MaxBasisSize = 10, KeepOnRestart = 6 });
        ShouldMatchDense(r, a, 4, Which.LargestAlgebraic);
        r.Iterations.Should().BeGreaterThan(3, "a basis of 10 with blocks of 2 must restart several times");
    }

    [Test]
    public void A_multiplicity_equal_to_the_block_size_is_found_in_full_and_one_below_it_is_certified()
    {
        foreach (int multiplicity in new[] { 5, 6 })
        {
            var d = Linspace(-1, 4, 250);
            for (int i = 0; i < multiplicity; i++) d[i] = 5.0;
            var a = Similarity(d, 23);
            var r = BlockLanczos.TopK(Operator(a), 8, new EigenOptions { BlockSize = 6, Tolerance = 1e-10 });
            var expected = Expected(DenseEigenvalues(a), 8, Which.LargestAlgebraic);
            for (int i = 0; i < 8; i++) r.Values[i].Should().BeApproximately(expected[i], 1e-8, $"multiplicity {multiplicity}, value {i}");
            r.Converged.Should().AllSatisfy(c => c.Should().BeTrue());
            // Six copies in a width-6 block space cannot exclude a seventh; five can exclude a sixth.
            r.Certified.Should().Be(multiplicity < 6, r.Certificate);
        }
    }

    [Test]
    public void With_the_default_block_a_cluster_that_fills_it_widens_the_block_until_every_copy_is_found_and_certified()
    {
        // k = 7 at 1e-10 gives a first block of 2; a 5-fold top eigenvalue fills it (rounding lets it
        // hold more than two copies), so the solver must solve again with a block wider than the copies found.
        BlockLanczos.DefaultBlockSize(7, 250, 1e-10).Should().Be(2);
        var d = Linspace(-1, 4, 250);
        for (int i = 0; i < 5; i++) d[i] = 5.0;
        var a = Similarity(d, 29);
        var op = new BlockCountingOperator(Operator(a));
        var r = BlockLanczos.TopK(op, 7, new EigenOptions { Tolerance = 1e-10 });
        var expected = Expected(DenseEigenvalues(a), 7, Which.LargestAlgebraic);
        for (int i = 0; i < 7; i++) r.Values[i].Should().BeApproximately(expected[i], 1e-8, $"value {i}");
        r.Values.Count(v => Math.Abs(v - 5) < 1e-8).Should().Be(5, "every copy of the 5-fold eigenvalue is in the set");
        r.Certified.Should().BeTrue(r.Certificate);
        r.Certificate.Should().Contain("widened (2 → ");
        r.Matvecs.Should().Be(op.Vectors, "the count covers every solve");

        // An explicit block size is the caller's choice: no widening, and the set is not certified.
        var fixedWidth = BlockLanczos.TopK(Operator(a), 7, new EigenOptions { Tolerance = 1e-10, BlockSize = 2 });
        fixedWidth.Certificate.Should().NotContain("widened");
        fixedWidth.Certified.Should().BeFalse(fixedWidth.Certificate);
    }

    [Test]
    public void At_a_loose_tolerance_two_close_neighbours_fill_a_block_of_two_but_not_the_default_first_block()
    {
        // λ₁ = 1 and λ₂ = 0.99 lie within one cluster band at tolerance 1e-2 (2·tol·|θ| plus residuals):
        // a block of 2 cannot rule out a third copy, so the default starts one row wider there.
        var d = Linspace(-0.5, 0.5, 300);
        d[0] = 1.0; d[1] = 0.99;
        for (int i = 2; i < 10; i++) d[i] = 0.9 - 0.04 * i;
        var a = Similarity(d, 47);
        BlockLanczos.DefaultBlockSize(10, 300, 1e-2).Should().Be(3);
        var narrow = BlockLanczos.TopK(Operator(a), 10, new EigenOptions { Tolerance = 1e-2, BlockSize = 2 });
        narrow.Certified.Should().BeFalse(narrow.Certificate);
        var r = BlockLanczos.TopK(Operator(a), 10, new EigenOptions { Tolerance = 1e-2 });
        r.Certified.Should().BeTrue(r.Certificate);
        r.Certificate.Should().NotContain("widened");
        var expected = Expected(DenseEigenvalues(a), 10, Which.LargestAlgebraic);
        for (int i = 0; i < 10; i++) r.Values[i].Should().BeApproximately(expected[i], 2e-2 * expected[i], $"value {i}");
    }

    [Test]
    public void Distinct_top_eigenvalues_are_certified_by_the_first_default_block_without_widening()
    {
        var d = Linspace(-1, 4, 250);
        var a = Similarity(d, 31);
        var r = BlockLanczos.TopK(Operator(a), 10, new EigenOptions { Tolerance = 1e-10 });
        ShouldMatchDense(r, a, 10, Which.LargestAlgebraic, 1e-10);
        r.Certified.Should().BeTrue(r.Certificate);
        r.Certificate.Should().NotContain("widened");
    }

    [Test]
    public void A_multiplicity_beyond_the_block_size_is_found_or_the_set_is_not_certified()
    {
        // Block width 2 against a 5-fold eigenvalue inside the top 7: a block Krylov space of
        // width 2 holds at most 2 independent copies in exact arithmetic.
        var d = Linspace(-1, 4, 250);
        for (int i = 0; i < 5; i++) d[i] = 5.0;
        var a = Similarity(d, 29);
        var r = BlockLanczos.TopK(Operator(a), 7, new EigenOptions { BlockSize = 2, Tolerance = 1e-10 });
        var expected = Expected(DenseEigenvalues(a), 7, Which.LargestAlgebraic);
        bool allFound = Enumerable.Range(0, 7).All(i => Math.Abs(r.Values[i] - expected[i]) <= 1e-8);
        if (!allFound) r.AllConverged.Should().BeFalse("a set missing a copy must not be flagged converged");
        if (r.Values.Count(v => Math.Abs(v - 5) < 1e-6) >= 2 && r.Values[6] < 5 - 1e-6)
            r.Certified.Should().BeFalse("two or more copies inside the set with block width 2 cannot rule out a third");
    }

    [Test]
    public void A_start_block_of_exact_eigenvectors_converges_with_the_first_block_product()
    {
        var d = Linspace(-1, 3, 120);
        d[0] = 6; d[1] = 5.5; d[2] = 5;
        var a = Similarity(d, 37);
        var evd = a.Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric);
        int k = 3;
        var warm = new double[k * 120];
        for (int i = 0; i < k; i++)
            for (int t = 0; t < 120; t++) warm[i * 120 + t] = evd.EigenVectors[t, 119 - i];
        var r = BlockLanczos.TopK(Operator(a), k, new EigenOptions { StartBlock = warm, BlockSize = k });
        ShouldMatchDense(r, a, k, Which.LargestAlgebraic);
        r.Matvecs.Should().Be(k);
    }

    [Test]
    public void Warm_start_from_the_eigenvectors_of_a_slightly_perturbed_operator_needs_far_fewer_products_than_a_cold_start()
    {
        var d = Linspace(-1, 4, 400);
        for (int i = 0; i < 10; i++) d[i] = 9 - 0.4 * i;
        var a = Similarity(d, 41);
        var evd = a.Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric);
        var moved = a + Similarity(Linspace(-1e-4, 1e-4, 400), 43);
        int k = 10;
        var warm = new double[k * 400];
        for (int i = 0; i < k; i++)
            for (int t = 0; t < 400; t++) warm[i * 400 + t] = evd.EigenVectors[t, 399 - i];
        var options = new EigenOptions { Tolerance = 1e-6 };
        // At the block width a warm start runs with, so that the count measures the start alone.
        var cold = BlockLanczos.TopK(Operator(moved), k, options with { BlockSize = BlockLanczos.DefaultWarmBlockSize(k, 400) });
        var hot = BlockLanczos.TopK(Operator(moved), k, options with { StartBlock = warm });
        ShouldMatchDense(cold, moved, k, Which.LargestAlgebraic, 1e-6);
        ShouldMatchDense(hot, moved, k, Which.LargestAlgebraic, 1e-6);
        // A Krylov method removes the outside component geometrically, so a warm start saves
        // log(‖E‖/gap)/log(tol) of the work: far fewer when ‖E‖ is small against the tolerance.
        hot.Matvecs.Should().BeLessThanOrEqualTo((int)(0.4 * cold.Matvecs), $"cold needed {cold.Matvecs}");
    }

    [Test]
    public void A_tiny_matvec_budget_returns_pairs_flagged_unconverged_with_true_residuals()
    {
        var d = Linspace(0, 1, 300);
        for (int i = 0; i < 4; i++) d[i] = 1 + 1e-3 * i;
        var a = Similarity(d, 3);
        var counting = new CountingOperator(Operator(a));
        var r = BlockLanczos.TopK(counting, 4, new EigenOptions { MaxMatvecs = 12, Tolerance = 1e-12 });
        r.Matvecs.Should().Be(counting.Count).And.BeLessThanOrEqualTo(12);
        r.AllConverged.Should().BeFalse();
        for (int i = 0; i < 4; i++)
        {
            double trueRes = TrueResidual(a, r.Vector(i), r.Values[i]);
            r.Residuals[i].Should().BeApproximately(trueRes, 1e-12);
            r.Converged[i].Should().Be(trueRes <= 1e-12 * Math.Abs(r.Values[i]));
        }
    }

    [Test]
    public void Products_are_applied_in_blocks_and_counted_one_per_vector()
    {
        var a = Similarity(Linspace(-1, 3, 150), 7);
        var counting = new BlockCountingOperator(Operator(a));
        var r = BlockLanczos.TopK(counting, 6);
        r.AllConverged.Should().BeTrue();
        r.Matvecs.Should().Be(counting.Vectors);
        counting.SingleApplies.Should().Be(0, "every product goes through ApplyBlock");
        counting.Blocks.Should().BeLessThan(counting.Vectors);
    }

    [Test]
    public void Same_seed_gives_the_same_bits_on_one_and_two_BLAS_threads()
    {
        var op = Operator(Wishart(160, 200, 12));
        EigenResult one, two, again;
        using (Blas.UseThreads(1)) one = BlockLanczos.TopK(op, 6, new EigenOptions { Seed = 3 });
        using (Blas.UseThreads(2)) two = BlockLanczos.TopK(op, 6, new EigenOptions { Seed = 3 });
        again = BlockLanczos.TopK(op, 6, new EigenOptions { Seed = 3 });
        one.Values.Should().Equal(two.Values);
        one.Vectors.Should().Equal(two.Vectors);
        one.Residuals.Should().Equal(two.Residuals);
        again.Vectors.Should().Equal(one.Vectors);
        var other = BlockLanczos.TopK(op, 6, new EigenOptions { Seed = 4 });
        other.Vectors.Should().NotEqual(one.Vectors);
    }

    [Test]
    public void The_dispatch_runs_each_solver_and_names_round_trip()
    {
        var d = Linspace(-1, 2, 120);
        d[0] = 4; d[1] = 3.5; d[2] = 3;
        var a = Similarity(d, 11);
        foreach (var solver in Enum.GetValues<EigenSolver>())
        {
            var r = Eigensolver.TopK(Operator(a), 3, solver, new EigenOptions { Tolerance = 1e-10, MaxIterations = 5000 });
            ShouldMatchDense(r, a, 3, Which.LargestAlgebraic, 1e-10);
            Eigensolver.Parse(Eigensolver.Name(solver)).Should().Be(solver);
        }
        Eigensolver.Default.Should().Be(EigenSolver.BlockLanczos);
        FluentActions.Invoking(() => Eigensolver.Parse("arpack", "--solver")).Should().Throw<ArgumentException>()
            .WithMessage("*'solver' was 'arpack'*block-lanczos, lanczos, lobpcg or power*");
    }

    [Test]
    public void Invalid_arguments_throw_with_messages_naming_argument_value_and_expectation()
    {
        var op = new DiagonalOperator(Linspace(0, 1, 30));
        FluentActions.Invoking(() => BlockLanczos.TopK(op, 0)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'k' was 0*");
        FluentActions.Invoking(() => BlockLanczos.TopK(op, 2, new EigenOptions { Tolerance = double.NaN })).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'options.Tolerance' was NaN*");
        FluentActions.Invoking(() => BlockLanczos.TopK(op, 2, new EigenOptions { BlockSize = 0 })).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'options.BlockSize' was 0*[1, 30]*");
        FluentActions.Invoking(() => BlockLanczos.TopK(op, 4, new EigenOptions { BlockSize = 3, MaxBasisSize = 5 })).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'options.MaxBasisSize' was 5*at least k + block size = 7*");
        FluentActions.Invoking(() => BlockLanczos.TopK(op, 4, new EigenOptions { BlockSize = 3, MaxMatvecs = 5 })).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'options.MaxMatvecs' was 5*at least 6*");
        FluentActions.Invoking(() => BlockLanczos.TopK(op, 2, new EigenOptions { StartBlock = new double[31] })).Should().Throw<ArgumentException>().WithMessage("*'options.StartBlock' has length 31*m x 30*");
        FluentActions.Invoking(() => BlockLanczos.TopK(op, 2, new EigenOptions { StartBlock = new double[30] })).Should().Throw<ArgumentException>().WithMessage("*'options.StartBlock' is all zeros*");
        FluentActions.Invoking(() => BlockLanczos.TopK(op, 2, new EigenOptions { MaxMatvecs = 0 })).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'options.MaxMatvecs' was 0*");
    }

    /// <summary>Counts block calls, vectors, and single applications separately.</summary>
    sealed class BlockCountingOperator(ILinearOperator inner) : ILinearOperator
    {
        public int Blocks { get; private set; }
        public int Vectors { get; private set; }
        public int SingleApplies { get; private set; }
        public int Size => inner.Size;
        public void Apply(ReadOnlySpan<double> x, Span<double> y) { SingleApplies++; Vectors++; inner.Apply(x, y); }
        public void ApplyBlock(ReadOnlySpan<double> x, Span<double> y, int count) { Blocks++; Vectors += count; inner.ApplyBlock(x, y, count); }
    }
}

public class BlockLanczosGramSchmidtTests
{
    [Test]
    public void A_local_pass_then_one_full_pass_keeps_the_basis_orthonormal_to_rounding_and_the_second_full_pass_is_mostly_skipped()
    {
        // A spread spectrum with a converging top end: the regime where Paige's loss of
        // orthogonality would show without full reorthogonalization.
        var d = SpectralFixtures.Linspace(-1, 1, 400);
        d[0] = 5; d[1] = 4; d[2] = 3.5;
        var a = SpectralFixtures.Similarity(d, 5);
        var op = SpectralFixtures.Operator(a);
        int n = 400, b = 4, steps = 30;
        var proc = new BlockLanczosProcess(op, b * steps, b, b, new Rng(3));
        proc.Start([], 0, b);
        for (int s = 0; s < steps; s++) proc.Step();

        int rows = proc.M + proc.P;
        var v = proc.Basis.ToArray();
        double worst = 0;
        for (int i = 0; i < rows; i++)
            for (int j = 0; j <= i; j++)
            {
                double dot = 0;
                for (int c = 0; c < n; c++) dot += v[i * n + c] * v[j * n + c];
                worst = Math.Max(worst, Math.Abs(dot - (i == j ? 1 : 0)));
            }
        worst.Should().BeLessThan(1e-13, "‖VVᵀ − I‖_max over the 120 basis rows and the pending block");
        proc.SecondPassesSkipped.Should().BeGreaterThan(steps / 2, "after the local pass the full pass rarely cancels more than 1 − 1/√2");
    }
}

public class BlockLanczosBasisReuseTests
{
    [Test]
    public void A_solve_that_reuses_basis_arrays_full_of_NaN_gives_the_bits_of_a_solve_on_fresh_arrays()
    {
        var d = SpectralFixtures.Linspace(-2, 1, 300);
        d[0] = 3; d[1] = 3; d[2] = 2.5;
        var op = SpectralFixtures.Operator(SpectralFixtures.Similarity(d, 11));
        var options = new EigenOptions { Seed = 4 };

        EigenResult fresh = null!;
        var t = new Thread(() => fresh = BlockLanczos.TopK(op, 6, options));
        t.Start();
        t.Join();

        EigenResult reused = null!;
        var u = new Thread(() =>
        {
            // Oversized arrays of NaN in this thread's cache: any row read before it is written would show.
            var v = new double[400 * 300];
            var av = new double[400 * 300];
            Array.Fill(v, double.NaN);
            Array.Fill(av, double.NaN);
            BlockLanczosProcess.BasisCache.Give(v, av);
            reused = BlockLanczos.TopK(op, 6, options);
        });
        u.Start();
        u.Join();

        reused.Values.Should().Equal(fresh.Values);
        reused.Vectors.ToArray().Should().Equal(fresh.Vectors.ToArray());
        reused.Matvecs.Should().Be(fresh.Matvecs);
        reused.AllConverged.Should().BeTrue(reused.Certificate);
    }
}

using Curvature.Spectral;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.SpectralFixtures;

namespace Curvature.Tests;

/// <summary>
/// No wrong set flagged converged: dense matrices whose top 10 contain an eigenvalue of
/// multiplicity 2 to 8, k = 10, default options of every solver. Either every copy is found
/// (each of the 10 values within 1e-8 of MathNet's) or the result is not flagged converged.
/// </summary>
public class RepeatedEigenvalueTests
{
    static readonly EigenSolver[] Solvers = Enum.GetValues<EigenSolver>();

    /// <summary>Eigenvalue 5 with multiplicity m, then distinct values 4.4, 4.0, … to fill the top 10; the rest in [−4, 1].</summary>
    static double[] Spectrum(int n, int multiplicity)
    {
        var d = Linspace(-4, 1, n);
        for (int i = 0; i < multiplicity; i++) d[i] = 5;
        for (int i = multiplicity; i < 10; i++) d[i] = 4.4 - 0.35 * (i - multiplicity);
        return d;
    }

    static void FoundOrNotFlagged(EigenResult r, MathNet.Numerics.LinearAlgebra.Matrix<double> a, string what)
    {
        var expected = Expected(DenseEigenvalues(a), 10, Which.LargestAlgebraic);
        int wrong = Enumerable.Range(0, 10).Count(i => Math.Abs(r.Values[i] - expected[i]) > 1e-8);
        if (wrong > 0)
            r.AllConverged.Should().BeFalse($"{what}: {wrong} values differ from the dense ones, so the set must not be flagged converged ({r.Certificate})");
        for (int i = 0; i < 10; i++)
            if (r.Converged[i])
                TrueResidual(a, r.Vector(i), r.Values[i]).Should().BeLessThan(1e-8 * Math.Abs(r.Values[i]) + 1e-12);
    }

    [Test]
    public void Every_solver_finds_every_copy_of_a_multiplicity_2_to_8_or_does_not_flag_the_set_converged(
        [Values(2, 3, 4, 5, 6, 7, 8)] int multiplicity)
    {
        var a = Similarity(Spectrum(200, multiplicity), (ulong)(100 + multiplicity));
        foreach (var solver in Solvers)
            foreach (ulong seed in new ulong[] { 1, 2 })
            {
                var r = Eigensolver.TopK(Operator(a), 10, solver, new EigenOptions { Tolerance = 1e-10, Seed = seed });
                FoundOrNotFlagged(r, a, $"{solver}, multiplicity {multiplicity}, seed {seed}");
            }
    }

    [Test]
    public void Block_lanczos_with_the_default_block_finds_and_certifies_every_copy_of_a_multiplicity_widening_its_block_when_the_copies_fill_it(
        [Values(2, 4, 5)] int multiplicity)
    {
        var a = Similarity(Spectrum(200, multiplicity), (ulong)(200 + multiplicity));
        int b = BlockLanczos.DefaultBlockSize(10, 200, 1e-10);
        var r = BlockLanczos.TopK(Operator(a), 10, new EigenOptions { Tolerance = 1e-10, Seed = 3 });
        var expected = Expected(DenseEigenvalues(a), 10, Which.LargestAlgebraic);
        r.AllConverged.Should().BeTrue(r.Certificate);
        r.Certified.Should().BeTrue(r.Certificate);
        // A multiplicity the first block can hold is certified by it; a larger one only after widening.
        if (multiplicity >= b) r.Certificate.Should().Contain("widened");
        else r.Certificate.Should().NotContain("widened");
        for (int i = 0; i < 10; i++) r.Values[i].Should().BeApproximately(expected[i], 1e-8);
    }

    /// <summary>The case of issue 12: 5 (×4), 3 (×6) and 390 eigenvalues in [−4, 1], n = 400.</summary>
    internal static MathNet.Numerics.LinearAlgebra.Matrix<double> FourFivesSixThrees()
    {
        var d = Linspace(-4, 1, 400);
        for (int i = 0; i < 4; i++) d[i] = 5;
        for (int i = 4; i < 10; i++) d[i] = 3;
        return Similarity(d, 12);
    }

    [TestCase(EigenSolver.BlockLanczos)]
    [TestCase(EigenSolver.Lanczos)]
    public void Four_fives_and_six_threes_are_all_found_and_flagged_converged(EigenSolver solver)
    {
        var a = FourFivesSixThrees();
        foreach (ulong seed in new ulong[] { 1, 2, 3 })
        {
            var r = Eigensolver.TopK(Operator(a), 10, solver, new EigenOptions { Tolerance = 1e-10, Seed = seed });
            r.AllConverged.Should().BeTrue($"seed {seed}: {r.Certificate}");
            for (int i = 0; i < 4; i++) r.Values[i].Should().BeApproximately(5, 1e-8, $"seed {seed}");
            for (int i = 4; i < 10; i++) r.Values[i].Should().BeApproximately(3, 1e-8, $"seed {seed}");
            OrthonormalityError(r).Should().BeLessThan(1e-12);
        }
    }

    [TestCase(EigenSolver.Lobpcg)]
    [TestCase(EigenSolver.Power)]
    public void Four_fives_and_six_threes_are_found_or_not_flagged_converged(EigenSolver solver)
    {
        var a = FourFivesSixThrees();
        var r = Eigensolver.TopK(Operator(a), 10, solver, new EigenOptions { Tolerance = 1e-10, Seed = 1 });
        FoundOrNotFlagged(r, a, solver.ToString());
    }

    [Test]
    public void Lanczos_without_the_complement_probe_does_not_certify_its_set()
    {
        var a = FourFivesSixThrees();
        var r = Lanczos.TopK(Operator(a), 10, new EigenOptions { Tolerance = 1e-10, Seed = 1, ProbeComplement = false });
        r.Certified.Should().BeFalse();
        r.AllConverged.Should().BeFalse();
        r.Certificate.Should().Contain("ProbeComplement");
    }

    [Test]
    public void A_k_th_value_with_more_copies_than_the_set_holds_is_not_certified_as_having_all_its_copies()
    {
        // G of a softmax network is singular: shifting every logit by one function of the input
        // leaves ce unchanged, so each of the last layer's 8 + 1 inputs gives a null direction (9).
        var data = Curvature.Models.DataSpec.Parse("gmm:64:4:3:7");
        var model = Curvature.Models.Mlp.Parse("4-8-3", "tanh");
        var objective = new Curvature.Models.Objective(model, Curvature.Models.LossKind.CrossEntropy, data);
        var theta = model.Initialize(0);
        var dense = AutodiffTestSupport.ToMathNet(objective.DenseMatrix(Curvature.Autodiff.CurvatureKind.GaussNewton, theta));
        var all = DenseEigenvalues(dense);
        double scale = all.Max(Math.Abs);
        int nullity = all.Count(v => Math.Abs(v) < 1e-10 * scale);
        nullity.Should().Be(9, "the dense G has a 9-dimensional null space");

        var r = Eigensolver.TopK(objective.CurvatureOperator(Curvature.Autodiff.CurvatureKind.GaussNewton, theta), 3,
            options: new EigenOptions { Which = Which.SmallestAlgebraic, Seed = 1 });
        r.Values.Should().OnlyContain(v => Math.Abs(v) < 1e-8 * scale, "the three smallest eigenvalues of G are zero");
        r.AllConverged.Should().BeTrue("the values are the three smallest");
        r.Certificate.Should().NotContain("every copy of each");
        r.Certificate.Should().Contain("appears 3 times in the set").And.Contain("cannot be counted");
    }
}

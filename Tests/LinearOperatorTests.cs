using Curvature.Core;
using Curvature.Spectral;
using FluentAssertions;
using MathNet.Numerics.LinearAlgebra;
using NUnit.Framework;
using static Curvature.Tests.SpectralFixtures;

namespace Curvature.Tests;

public class LinearOperatorTests
{
    static double[] Random(int len, ulong seed)
    {
        var x = new double[len];
        new Rng(seed).FillGaussian(x);
        return x;
    }

    static void ShouldEqual(double[] actual, Vector<double> expected, double tol)
    {
        actual.Length.Should().Be(expected.Count);
        for (int i = 0; i < actual.Length; i++) actual[i].Should().BeApproximately(expected[i], tol);
    }

    [Test]
    public void Dense_operator_applies_the_matrix_to_a_vector_and_to_a_block()
    {
        var a = Wishart(40, 50, 1);
        var op = Operator(a);
        var x = Random(3 * 40, 2);
        var y = new double[40];
        op.Apply(x.AsSpan(0, 40), y);
        ShouldEqual(y, a * Vector<double>.Build.DenseOfArray(x[..40]), 1e-12);
        var yb = new double[3 * 40];
        op.ApplyBlock(x, yb, 3);
        for (int j = 0; j < 3; j++)
            ShouldEqual(yb[(j * 40)..((j + 1) * 40)], a * Vector<double>.Build.DenseOfArray(x[(j * 40)..((j + 1) * 40)]), 1e-12);
    }

    [Test]
    public void Dense_operator_rejects_a_non_symmetric_or_non_square_matrix()
    {
        var m = Matrix.Identity(4);
        m[1, 3] = 0.5;
        FluentActions.Invoking(() => new DenseOperator(m)).Should().Throw<ArgumentException>()
            .WithMessage("*'matrix' is not symmetric: entry (1,3) = 0.5 but (3,1) = 0*");
        FluentActions.Invoking(() => new DenseOperator(new Matrix(3, 4))).Should().Throw<ArgumentException>()
            .WithMessage("*'matrix' is 3x4; expected a square matrix*");
    }

    [Test]
    public void Diagonal_operator_scales_each_coordinate()
    {
        var d = Random(30, 3);
        var op = new DiagonalOperator(d);
        var x = Random(2 * 30, 4);
        var y = new double[2 * 30];
        op.ApplyBlock(x, y, 2);
        for (int i = 0; i < 60; i++) y[i].Should().Be(d[i % 30] * x[i]);
    }

    [Test]
    public void Low_rank_operator_equals_U_transpose_diag_s_U()
    {
        int n = 25, r = 3;
        var u = Random(r * n, 5);
        var s = new[] { 2.0, -0.5, 1e-3 };
        var op = new LowRankOperator(u, s, n);
        var um = Matrix<double>.Build.Dense(r, n, (i, j) => u[i * n + j]);
        var dense = um.Transpose() * Matrix<double>.Build.DenseOfDiagonalArray(s) * um;
        var x = Random(2 * n, 6);
        var y = new double[2 * n];
        op.ApplyBlock(x, y, 2);
        for (int j = 0; j < 2; j++)
            ShouldEqual(y[(j * n)..((j + 1) * n)], dense * Vector<double>.Build.DenseOfArray(x[(j * n)..((j + 1) * n)]), 1e-12);
    }

    [Test]
    public void Sum_difference_scale_and_shift_combine_like_the_dense_matrices()
    {
        var a = Wishart(20, 30, 7);
        var b = Similarity(Linspace(-1, 1, 20), 8);
        var opA = Operator(a);
        var opB = Operator(b);
        var x = Random(20, 9);
        var xv = Vector<double>.Build.DenseOfArray(x);
        var y = new double[20];
        LinearOperator.Sum(opA, opB).Apply(x, y);
        ShouldEqual(y, (a + b) * xv, 1e-12);
        new DifferenceOperator(opA, opB).Apply(x, y);
        ShouldEqual(y, (a - b) * xv, 1e-12);
        LinearOperator.Scale(-2.5, opA).Apply(x, y);
        ShouldEqual(y, -2.5 * (a * xv), 1e-12);
        LinearOperator.Shift(opA, 0.75).Apply(x, y);
        ShouldEqual(y, a * xv + 0.75 * xv, 1e-12);
        new LinearCombinationOperator(2, opA, -3, opB).Apply(x, y);
        ShouldEqual(y, 2 * (a * xv) - 3 * (b * xv), 1e-12);
    }

    [Test]
    public void Product_and_projection_equal_AB_and_P_perp_A_P_perp_of_the_dense_matrices()
    {
        const int n = 20, k = 3;
        var a = Wishart(n, 30, 7);
        var b = Similarity(Linspace(-1, 1, n), 8);
        // U: k orthonormal rows from a QR of a random block (an independent route to P⊥ = I − UᵀU).
        var q = Matrix<double>.Build.DenseOfColumnMajor(n, k, Random(n * k, 10)).QR().Q.SubMatrix(0, n, 0, k);
        var u = new double[k * n];
        for (int i = 0; i < k; i++) for (int j = 0; j < n; j++) u[i * n + j] = q[j, i];
        var perp = Matrix<double>.Build.DenseIdentity(n) - q * q.Transpose();
        var x = Random(2 * n, 11);
        var y = new double[2 * n];
        LinearOperator.Product(Operator(a), Operator(b)).ApplyBlock(x, y, 2);
        for (int j = 0; j < 2; j++) ShouldEqual(y[(j * n)..((j + 1) * n)], a * b * Vector<double>.Build.DenseOfArray(x[(j * n)..((j + 1) * n)]), 1e-10);
        LinearOperator.Project(Operator(a), u, k).ApplyBlock(x, y, 2);
        for (int j = 0; j < 2; j++) ShouldEqual(y[(j * n)..((j + 1) * n)], perp * a * perp * Vector<double>.Build.DenseOfArray(x[(j * n)..((j + 1) * n)]), 1e-10);
        // The deflated trace: tr(P⊥AP⊥) = tr A − tr(UAUᵀ).
        var dense = LinearOperator.ToDense(LinearOperator.Project(Operator(a), u, k));
        Enumerable.Range(0, n).Sum(i => dense[i, i]).Should().BeApproximately(a.Trace() - (q.Transpose() * a * q).Trace(), 1e-9);
    }

    [Test]
    public void To_dense_recovers_the_matrix_of_an_operator()
    {
        var a = Wishart(15, 20, 10);
        var dense = LinearOperator.ToDense(LinearOperator.Sum(Operator(a), new DiagonalOperator(Linspace(1, 2, 15))));
        var expected = a + Matrix<double>.Build.DenseOfDiagonalArray(Linspace(1, 2, 15));
        for (int i = 0; i < 15; i++)
            for (int j = 0; j < 15; j++) dense[i, j].Should().BeApproximately(expected[i, j], 1e-12);
    }

    [Test]
    public void Mismatched_sizes_and_short_buffers_throw_naming_both_shapes()
    {
        var a = new DiagonalOperator(new double[] { 1, 2, 3 });
        var b = new DiagonalOperator(new double[] { 1, 2 });
        FluentActions.Invoking(() => LinearOperator.Sum(a, b)).Should().Throw<ArgumentException>()
            .WithMessage("*'a' (size 3) and 'b' (size 2) must have the same size*");
        FluentActions.Invoking(() => a.ApplyBlock(new double[5], new double[6], 2)).Should().Throw<ArgumentException>()
            .WithMessage("*'x' has length 5; expected 2x3 = 6*");
        FluentActions.Invoking(() => new LowRankOperator(new double[7], new double[] { 1, 2 }, 4)).Should().Throw<ArgumentException>()
            .WithMessage("*'rows' has length 7; expected 2x4 = 8*");
        FluentActions.Invoking(() => new DiagonalOperator(new[] { 1.0, double.NaN })).Should().Throw<ArgumentException>()
            .WithMessage("*'diagonal' has NaN at index 1*");
    }
}

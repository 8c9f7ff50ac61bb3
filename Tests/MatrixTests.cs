using Curvature.Core;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

public class MatrixTests
{
    static Matrix RandomMatrix(Rng rng, int rows, int cols)
    {
        var m = new Matrix(rows, cols);
        rng.FillGaussian(m.Data);
        return m;
    }

    static MathNet.Numerics.LinearAlgebra.Matrix<double> ToMathNet(Matrix m) =>
        MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(m.Rows, m.Cols, (i, j) => m[i, j]);

    [Test]
    public void Matrix_is_row_major_over_one_contiguous_array()
    {
        var m = Matrix.FromRows(new double[,] { { 1, 2, 3 }, { 4, 5, 6 } });
        m.Data.Should().Equal(1.0, 2, 3, 4, 5, 6);
        m.Row(1).ToArray().Should().Equal(4.0, 5, 6);
        m.RowRange(1, 1).ToArray().Should().Equal(4.0, 5, 6);
        m.Column(2).Data.Should().Equal(3.0, 6);
        m.Transposed().Data.Should().Equal(1.0, 4, 2, 5, 3, 6);
        m.Shape.Should().Be("2x3");
    }

    [Test]
    public void Views_write_through_to_the_matrix_and_the_vector()
    {
        var m = new Matrix(3, 2);
        m.RowRange(1, 2).Fill(7);
        m.Data.Should().Equal(0.0, 0, 7, 7, 7, 7);
        var v = new Vec(4);
        v.Slice(1, 2).Fill(3);
        v.Data.Should().Equal(0.0, 3, 3, 0);
    }

    [Test]
    public void Matrix_product_and_matrix_vector_product_equal_mathnet()
    {
        var rng = new Rng(3UL);
        var a = RandomMatrix(rng, 37, 19);
        var b = RandomMatrix(rng, 19, 23);
        var x = new Vec(19);
        rng.FillGaussian(x);
        var ab = ToMathNet(a) * ToMathNet(b);
        var c = a * b;
        for (int i = 0; i < c.Rows; i++)
            for (int j = 0; j < c.Cols; j++)
                c[i, j].Should().BeApproximately(ab[i, j], 1e-12 * (1 + Math.Abs(ab[i, j])));
        var ax = ToMathNet(a) * MathNet.Numerics.LinearAlgebra.Vector<double>.Build.DenseOfArray(x.Data);
        var y = a * x;
        for (int i = 0; i < y.Length; i++) y[i].Should().BeApproximately(ax[i], 1e-12 * (1 + Math.Abs(ax[i])));
    }

    [Test]
    public void Gemm_on_matrices_with_transposes_equals_mathnet()
    {
        var rng = new Rng(4UL);
        var a = RandomMatrix(rng, 12, 30); // used as Aᵀ: 30×12
        var b = RandomMatrix(rng, 9, 12);  // used as Bᵀ: 12×9
        var c = RandomMatrix(rng, 30, 9);
        var expected = 2 * ToMathNet(a).Transpose() * ToMathNet(b).Transpose() - 0.5 * ToMathNet(c);
        Blas.Gemm(2, a, Transpose.Yes, b, Transpose.Yes, -0.5, c);
        for (int i = 0; i < c.Rows; i++)
            for (int j = 0; j < c.Cols; j++)
                c[i, j].Should().BeApproximately(expected[i, j], 1e-12 * (1 + Math.Abs(expected[i, j])));
    }

    [Test]
    public void Gemm_on_matrices_of_mismatched_shapes_throws_naming_both_shapes()
    {
        var a = new Matrix(2, 3);
        var b = new Matrix(4, 5);
        var c = new Matrix(2, 5);
        var act = () => Blas.Gemm(1, a, Transpose.No, b, Transpose.No, 0, c);
        act.Should().Throw<ArgumentException>().Where(e => e.Message.Contains("A 2x3") && e.Message.Contains("B 4x5"));
        var product = () => a * b;
        product.Should().Throw<ArgumentException>().Where(e => e.Message.Contains("2x3") && e.Message.Contains("4x5"));
        var wrongC = () => Blas.Gemm(1, a, Transpose.No, new Matrix(3, 5), Transpose.No, 0, new Matrix(5, 2));
        wrongC.Should().Throw<ArgumentException>().Where(e => e.Message.Contains("C is 5x2") && e.Message.Contains("expected C 2x5"));
    }

    [Test]
    public void Gemv_on_a_matrix_and_vectors_of_mismatched_shapes_throws_naming_both_shapes()
    {
        var a = new Matrix(2, 3);
        var act = () => Blas.Gemv(1, a, Transpose.No, new Vec(2), 0, new Vec(2));
        act.Should().Throw<ArgumentException>().Where(e => e.Message.Contains("A 2x3") && e.Message.Contains("x has length 2"));
        var product = () => a * new Vec(4);
        product.Should().Throw<ArgumentException>().Where(e => e.Message.Contains("2x3") && e.Message.Contains("length 4"));
        var dot = () => new Vec(3).Dot(new Vec(4));
        dot.Should().Throw<ArgumentException>().Where(e => e.Message.Contains("length 3") && e.Message.Contains("length 4"));
    }

    [Test]
    public void Vector_dot_and_norm_equal_their_definitions()
    {
        var x = new Vec([3.0, 4.0, 12.0]);
        var y = new Vec([1.0, -2.0, 0.5]);
        x.Dot(y).Should().Be(3 - 8 + 6);
        x.Norm().Should().Be(13);
        x.Clone().Data.Should().Equal(x.Data).And.NotBeSameAs(x.Data);
    }

    [Test]
    public void Constructors_reject_negative_sizes_and_data_of_the_wrong_length()
    {
        var neg = () => new Matrix(-1, 2);
        neg.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.Message.Contains("was -1"));
        var wrong = () => new Matrix(2, 3, new double[5]);
        wrong.Should().Throw<ArgumentException>().Where(e => e.Message.Contains("length 5") && e.Message.Contains("2x3 = 6"));
        var vneg = () => new Vec(-3);
        vneg.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.Message.Contains("was -3"));
        Action range = () => new Matrix(2, 2).RowRange(1, 2).Clear();
        range.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.Message.Contains("[1, 3)") && e.Message.Contains("2x2"));
    }
}

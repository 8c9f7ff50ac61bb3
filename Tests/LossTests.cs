using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.AutodiffTestSupport;

namespace Curvature.Tests;

/// <summary>The two losses, their values and their Hessians with respect to the outputs.</summary>
public class LossTests
{
    static readonly int[] Labels = [2, 0, 1, 2];

    static double[,] Logits()
    {
        var rng = new Rng(21);
        var z = new double[4, 3];
        for (int r = 0; r < 4; r++) for (int c = 0; c < 3; c++) z[r, c] = 2 * rng.NextGaussian();
        return z;
    }

    [Test]
    public void Cross_entropy_is_the_mean_negative_log_softmax_of_the_label()
    {
        var z = Logits();
        double expected = 0;
        for (int r = 0; r < 4; r++)
        {
            double s = 0;
            for (int c = 0; c < 3; c++) s += Math.Exp(z[r, c]);
            expected += -Math.Log(Math.Exp(z[r, Labels[r]]) / s);
        }
        expected /= 4;
        var tape = new Tape();
        tape.Begin();
        var loss = LossNames.Record(tape, LossKind.CrossEntropy, tape.Constant(Matrix.FromRows(z)), Labels, 0, null, 0, 0.25);
        loss.Scalar.Should().BeApproximately(expected, 1e-14);
    }

    [Test]
    public void Cross_entropy_of_equal_logits_is_log_of_the_class_count()
    {
        var tape = new Tape();
        tape.Begin();
        var loss = tape.SoftmaxCrossEntropy(tape.Constant(new double[12], 0, 4, 3), Labels);
        loss.Scalar.Should().BeApproximately(Math.Log(3), 1e-15);
    }

    [Test]
    public void Mse_against_labels_is_the_mean_half_squared_distance_to_the_one_hot_vector()
    {
        var z = Logits();
        double expected = 0;
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 3; c++)
            {
                double d = z[r, c] - (c == Labels[r] ? 1 : 0);
                expected += 0.5 * d * d;
            }
        expected /= 4;
        var tape = new Tape();
        tape.Begin();
        var loss = LossNames.Record(tape, LossKind.MeanSquaredError, tape.Constant(Matrix.FromRows(z)), Labels, 0, null, 0, 0.25);
        loss.Scalar.Should().BeApproximately(expected, 1e-14);
    }

    [Test]
    public void Mse_against_real_targets_uses_the_targets()
    {
        var z = Logits();
        var t = new double[12];
        new Rng(22).FillGaussian(t);
        double expected = 0;
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 3; c++)
            {
                double d = z[r, c] - t[r * 3 + c];
                expected += 0.5 * d * d;
            }
        expected /= 4;
        var tape = new Tape();
        tape.Begin();
        var loss = LossNames.Record(tape, LossKind.MeanSquaredError, tape.Constant(Matrix.FromRows(z)), Labels, 0, t, 0, 0.25);
        loss.Scalar.Should().BeApproximately(expected, 1e-14);
    }

    /// <summary>The loss as a function of the logits themselves (θ = z, 4×3).</summary>
    static TapeFunction OnLogits(LossKind kind) =>
        (t, th) => LossNames.Record(t, kind, t.Reshape(th, 4, 3), Labels, 0, null, 0, 0.25);

    [Test]
    public void Hessian_of_cross_entropy_in_the_logits_is_diag_p_minus_p_p_transpose_over_n()
    {
        var z = Logits();
        var theta = new double[12];
        for (int r = 0; r < 4; r++) for (int c = 0; c < 3; c++) theta[r * 3 + c] = z[r, c];
        var v = Gaussian(new Rng(23), 12);
        var hv = new Tape().HessianVectorProduct(OnLogits(LossKind.CrossEntropy), theta, v).Product;
        for (int r = 0; r < 4; r++)
        {
            var p = new double[3];
            double s = 0;
            for (int c = 0; c < 3; c++) s += p[c] = Math.Exp(z[r, c]);
            for (int c = 0; c < 3; c++) p[c] /= s;
            double pv = 0;
            for (int c = 0; c < 3; c++) pv += p[c] * v[r * 3 + c];
            for (int c = 0; c < 3; c++)
                hv[r * 3 + c].Should().BeApproximately((p[c] * v[r * 3 + c] - p[c] * pv) / 4, 1e-15);
        }
    }

    [Test]
    public void Hessian_of_mse_in_the_outputs_is_the_identity_over_n()
    {
        var theta = Gaussian(new Rng(24), 12);
        var v = Gaussian(new Rng(25), 12);
        var hv = new Tape().HessianVectorProduct(OnLogits(LossKind.MeanSquaredError), theta, v).Product;
        for (int i = 0; i < 12; i++) hv[i].Should().BeApproximately(v[i] / 4, 1e-16);
    }

    [Test]
    public void Loss_names_parse_and_unknown_names_are_rejected()
    {
        LossNames.Parse("ce").Should().Be(LossKind.CrossEntropy);
        LossNames.Parse("MSE").Should().Be(LossKind.MeanSquaredError);
        LossKind.CrossEntropy.Name().Should().Be("ce");
        var act = () => LossNames.Parse("hinge");
        act.Should().Throw<ArgumentException>().WithMessage("*'hinge'*ce, mse or torch-mse*");
    }

    [Test]
    public void Worked_example_cross_entropy_at_logits_0_0_ln2_has_gradient_p_minus_e_y_and_Hessian_diag_p_minus_p_p_transpose()
    {
        // docs/curvature.md §2: p = softmax(0, 0, ln 2) = (1/4, 1/4, 1/2), label 0.
        static Tensor Loss(Tape t, Tensor z) => t.SoftmaxCrossEntropy(z, [0]);
        double[] z = [0, 0, Math.Log(2)];
        var gradient = new Tape().Gradient(Loss, z).Gradient;
        gradient.Should().Equal([-0.75, 0.25, 0.5], (a, b) => Math.Abs(a - b) < 1e-15);
        var expected = new double[,] { { 3.0 / 16, -1.0 / 16, -1.0 / 8 }, { -1.0 / 16, 3.0 / 16, -1.0 / 8 }, { -1.0 / 8, -1.0 / 8, 1.0 / 4 } };
        for (int j = 0; j < 3; j++)
        {
            var e = new double[3];
            e[j] = 1;
            var column = new Tape().HessianVectorProduct(Loss, z, e).Product;
            for (int i = 0; i < 3; i++) column[i].Should().BeApproximately(expected[i, j], 1e-15, $"Λ[{i},{j}]");
        }
    }


    [Test]
    public void Worked_example_mse_of_rows_2_0_and_half_1_against_labels_0_1_is_five_sixteenths_with_gradient_rho_over_2()
    {
        // docs/autodiff.md §5 "Mean squared error": two rows, s = 1/2, ρ = z − onehot(y).
        double[] z = [2, 0, 0.5, 1];
        int[] labels = [0, 1];
        static Tensor Loss(Tape t, Tensor p) => t.MeanSquaredError(t.Reshape(p, 2, 2), [0, 1]);
        double s = 0.5, l = 0;
        var rho = new double[4];
        for (int r = 0; r < 2; r++)
            for (int c = 0; c < 2; c++)
            {
                rho[r * 2 + c] = z[r * 2 + c] - (c == labels[r] ? 1 : 0);
                l += 0.5 * s * rho[r * 2 + c] * rho[r * 2 + c];
            }
        l.Should().Be(0.3125, "the doc's L = ½·½·(1² + 0.5²)");
        double[] v = [1, -2, 3, 0.5];
        var result = new Tape().HessianVectorProduct(Loss, z, v);
        result.Loss.Should().BeApproximately(l, 1e-15);
        result.Gradient.Should().Equal(rho.Select(x => s * x), (a, b) => Math.Abs(a - b) < 1e-15);
        result.Gradient.Should().Equal([0.5, 0, 0.25, 0], (a, b) => Math.Abs(a - b) < 1e-15);
        result.Product.Should().Equal(v.Select(x => s * x), (a, b) => Math.Abs(a - b) < 1e-15);
    }
}

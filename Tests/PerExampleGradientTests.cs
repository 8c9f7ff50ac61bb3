using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.AutodiffTestSupport;

namespace Curvature.Tests;

/// <summary>Per-example gradients from one sweep (docs/curvature.md §6).</summary>
public class PerExampleGradientTests
{
    /// <summary>
    /// Small problems for dense references: an MLP, two CNNs (stride, padding, both poolings) and
    /// a two-layer Transformer (362 parameters, six sequences of four tokens with padding and a
    /// repeated token; <paramref name="n"/> does not apply), P ≤ 2,000.
    /// </summary>
    internal static Objective Problem(string kind, LossKind loss, int n = 11, int chunk = 4)
    {
        var options = new ObjectiveOptions { ChunkSize = chunk, MaxBlock = 8 };
        return kind switch
        {
            "mlp" => new Objective(Mlp.Parse("4-6-5-3", Activation.Tanh), loss, ObjectiveTests.Classification(n, 4, 3, 7), options),
            "cnn" => new Objective(Sequential.Parse("2x7x7-c3k3s2p1-a2-c2k2p1-m2-3", Activation.Tanh), loss, Images(n, 2, 7, 7, 3, 5), options),
            "cnn-max" => new Objective(Sequential.Parse("1x6x6-c2-m2-4-3", Activation.Softplus), loss, Images(n, 1, 6, 6, 3, 9), options),
            "transformer" => new Objective(TransformerClassifier.Parse("tok7x4-e4-t2f6x2-2"), loss, TransformerModelTests.TinyData(), options),
            _ => throw new ArgumentException(kind),
        };
    }

    internal static Dataset Images(int n, int c, int h, int w, int classes, ulong seed)
    {
        var rng = new Rng(seed);
        var x = new Matrix(n, c * h * w);
        rng.FillGaussian(x.Data);
        var labels = Enumerable.Range(0, n).Select(_ => rng.NextInt(classes)).ToArray();
        return new Dataset(x, labels, null, classes, $"random-images:{n}");
    }

    /// <summary>Row i of the stacked per-example gradients, computed independently as the gradient of example i's one-example loss.</summary>
    internal static Matrix OneExampleGradients(Objective obj, double[] theta, int[]? examples = null)
    {
        var rows = examples ?? Enumerable.Range(0, obj.ExampleCount).ToArray();
        var g = new Matrix(rows.Length, obj.ParameterCount);
        for (int i = 0; i < rows.Length; i++) obj.LossAndGradient(theta, g.Row(i), [rows[i]]);
        return g;
    }

    [TestCase("mlp", LossKind.CrossEntropy)]
    [TestCase("mlp", LossKind.MeanSquaredError)]
    [TestCase("cnn", LossKind.CrossEntropy)]
    [TestCase("cnn-max", LossKind.TorchMeanSquaredError)]
    [TestCase("transformer", LossKind.CrossEntropy)]
    [TestCase("transformer", LossKind.MeanSquaredError)]
    public void Per_example_gradients_average_to_the_mean_gradient(string kind, LossKind loss)
    {
        var obj = Problem(kind, loss);
        var theta = obj.Model.Initialize(3);
        var g = obj.PerExampleGradients(theta);
        var mean = new double[obj.ParameterCount];
        obj.LossAndGradient(theta, mean);
        var average = new double[obj.ParameterCount];
        for (int i = 0; i < g.Rows; i++)
            for (int a = 0; a < average.Length; a++) average[a] += g[i, a] / g.Rows;
        Checks.RelativeError(average, mean).Should().BeLessThan(1e-12);
    }

    [TestCase("mlp", LossKind.CrossEntropy)]
    [TestCase("cnn", LossKind.MeanSquaredError)]
    [TestCase("cnn-max", LossKind.CrossEntropy)]
    [TestCase("transformer", LossKind.CrossEntropy)]
    public void Each_per_example_gradient_is_the_gradient_of_its_one_example_loss(string kind, LossKind loss)
    {
        var obj = Problem(kind, loss);
        var theta = obj.Model.Initialize(4);
        var g = obj.PerExampleGradients(theta);
        var reference = OneExampleGradients(obj, theta);
        for (int i = 0; i < g.Rows; i++)
            Checks.RelativeError(g.Row(i), reference.Row(i)).Should().BeLessThan(1e-12, $"example {i}");
    }

    [TestCase("mlp")]
    [TestCase("cnn")]
    [TestCase("transformer")]
    public void Per_example_gradients_written_over_a_destination_full_of_NaN_are_the_one_example_gradients(string kind)
    {
        // Dense networks store each row once without clearing it first (their ops tile θ); the others clear.
        // Either way nothing of what the destination held may survive.
        var obj = Problem(kind, LossKind.CrossEntropy);
        var theta = obj.Model.Initialize(6);
        var g = new Matrix(obj.ExampleCount, obj.ParameterCount);
        Array.Fill(g.Data, double.NaN);
        obj.PerExampleGradients(theta, g);
        var reference = OneExampleGradients(obj, theta);
        Checks.RelativeError(g.Data, reference.Data).Should().BeLessThan(1e-12);
    }

    [Test]
    public void Per_example_gradients_of_a_subset_are_the_rows_of_those_examples()
    {
        var obj = Problem("cnn", LossKind.CrossEntropy);
        var theta = obj.Model.Initialize(5);
        int[] subset = [9, 2, 5, 6, 0];
        var g = obj.PerExampleGradients(theta, subset);
        var reference = OneExampleGradients(obj, theta, subset);
        Checks.RelativeError(g.Data, reference.Data).Should().BeLessThan(1e-12);
    }

    [TestCase("mlp")]
    [TestCase("cnn")]
    [TestCase("transformer")]
    public void Per_example_norms_equal_the_norms_of_the_one_example_gradients(string kind)
    {
        var obj = Problem(kind, LossKind.CrossEntropy);
        var theta = obj.Model.Initialize(6);
        var norms = obj.PerExampleGradientNorms(theta);
        var reference = OneExampleGradients(obj, theta);
        var expected = Enumerable.Range(0, reference.Rows).Select(i => Math.Sqrt(reference.Row(i).ToArray().Sum(v => v * v))).ToArray();
        Checks.RelativeError(norms, expected).Should().BeLessThan(1e-12);
    }

    /// <summary>Records Σ_r ‖(tanh(x_r W1ᵀ) + b) W2‖² (matmul with θ transposed and not, and bias_add; W2 is W1 when shared) and sweeps it backward.</summary>
    static (Tape Tape, Tensor Theta) MatMulNetwork(double[] theta, double[] x, int rows, bool share = false)
    {
        var tape = new Tape();
        tape.Begin();
        var p = tape.Parameter(theta);
        var w1 = tape.Slice(p, 0, 4, 3);
        var b = tape.Slice(p, 12, 1, 4);
        var w2 = share ? tape.Slice(p, 0, 4, 3) : tape.Slice(p, 16, 4, 2);
        var h = tape.BiasAdd(tape.Tanh(tape.MatMul(tape.Constant(x, 0, rows, 3), w1, transposeB: true)), b);
        var z = tape.MatMul(h, w2);
        tape.Backward(tape.Sum(tape.Mul(z, z)));
        return (tape, p);
    }

    /// <summary>The rows of <see cref="MatMulNetwork"/>'s per-example adjoints.</summary>
    static double[] Rows(Tape tape, Tensor theta, int rows)
    {
        var formed = new double[rows * theta.Size];
        tape.PerExampleAdjoints(theta, 0, rows, formed, 0);
        return formed;
    }

    [Test]
    public void Tape_rows_of_matmul_and_bias_add_networks_are_the_gradients_of_one_row_tapes_and_their_norms_have_closed_forms()
    {
        var rng = new Rng(4);
        var theta = new double[24]; rng.FillGaussian(theta);
        const int rows = 5;
        var x = new double[rows * 3]; rng.FillGaussian(x);
        var (tape, p) = MatMulNetwork(theta, x, rows);
        var perRow = Rows(tape, p, rows);
        var norms = new double[rows];
        tape.TryPerExampleSquaredNorms(p, norms).Should().BeTrue();
        for (int r = 0; r < rows; r++)
        {
            var single = MatMulNetwork(theta, x[(r * 3)..(r * 3 + 3)], 1).Theta.Adjoint.ToArray();
            Checks.RelativeError(perRow.AsSpan(r * 24, 24), single).Should().BeLessThan(1e-13, $"row {r}");
            norms[r].Should().BeApproximately(single.Sum(v => v * v), 1e-12 * norms[r]);
        }
    }

    [TestCase(false)]
    [TestCase(true)]
    public void Tape_dots_weighted_sums_and_squared_sums_equal_those_of_the_formed_rows(bool share)
    {
        var rng = new Rng(6);
        var theta = new double[24]; rng.FillGaussian(theta);
        const int rows = 5, k = 2;
        var x = new double[rows * 3]; rng.FillGaussian(x);
        var v = new double[k * 24]; rng.FillGaussian(v);
        var w = new double[rows * k]; rng.FillGaussian(w);
        var (tape, p) = MatMulNetwork(theta, x, rows, share);
        var formed = Rows(tape, p, rows);
        var dots = new double[rows * k];
        tape.PerExampleDots(p, v, k, dots);
        var sums = new double[k * 24];
        tape.PerExampleWeightedSums(p, w, k, sums);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < k; j++)
            {
                double expected = Enumerable.Range(0, 24).Sum(a => formed[r * 24 + a] * v[j * 24 + a]);
                dots[r * k + j].Should().BeApproximately(expected, 1e-12 * (1 + Math.Abs(expected)));
            }
        var expectedSums = new double[k * 24];
        for (int j = 0; j < k; j++)
            for (int a = 0; a < 24; a++) expectedSums[j * 24 + a] = Enumerable.Range(0, rows).Sum(r => w[r * k + j] * formed[r * 24 + a]);
        Checks.RelativeError(sums, expectedSums).Should().BeLessThan(1e-13);
        // Squares of the rows, summed: in closed form unless the two products share W1.
        var squares = new double[24];
        tape.TryPerExampleSquaredSums(p, squares).Should().Be(!share);
        if (!share)
        {
            var expectedSquares = Enumerable.Range(0, 24).Select(a => Enumerable.Range(0, rows).Sum(r => formed[r * 24 + a] * formed[r * 24 + a])).ToArray();
            Checks.RelativeError(squares, expectedSquares).Should().BeLessThan(1e-13);
        }
    }

    [Test]
    public void Closed_form_norms_are_declined_when_two_ops_share_parameters()
    {
        var rng = new Rng(5);
        var theta = new double[24]; rng.FillGaussian(theta);
        var x = new double[4 * 3]; rng.FillGaussian(x);
        // W1 (4×3) is also the right operand of the second product; its rows still sum to the adjoint.
        var (tape, p) = MatMulNetwork(theta, x, 4, share: true);
        var perRow = Rows(tape, p, 4);
        tape.TryPerExampleSquaredNorms(p, new double[4]).Should().BeFalse();
        var sum = new double[24];
        for (int r = 0; r < 4; r++)
            for (int a = 0; a < 24; a++) sum[a] += perRow[r * 24 + a];
        Checks.RelativeError(sum, p.Adjoint.ToArray()).Should().BeLessThan(1e-13);
    }

    [Test]
    public void An_op_without_a_per_example_rule_that_reads_theta_is_refused_by_name()
    {
        var tape = new Tape();
        tape.Begin();
        var theta = tape.Parameter([0.1, 0.2, 0.3, 0.4]);
        var loss = tape.Sum(tape.Tanh(tape.Slice(theta, 0, 2, 2)));
        tape.Backward(loss);
        var act = () => tape.PerExampleRows(theta);
        act.Should().Throw<NotSupportedException>().WithMessage("*'tanh'*");
    }

    [Test]
    public void Per_example_gradients_of_a_transformer_subset_are_the_rows_of_those_sequences()
    {
        var obj = Problem("transformer", LossKind.CrossEntropy);
        var theta = obj.Model.Initialize(7);
        int[] subset = [5, 2, 3];
        var g = obj.PerExampleGradients(theta, subset);
        var reference = OneExampleGradients(obj, theta, subset);
        Checks.RelativeError(g.Data, reference.Data).Should().BeLessThan(1e-12);
        // The embedding rows of tokens the subset never uses receive nothing (token 1 appears only in sequences 1 and 4).
        int embedding = obj.Model.Blocks.Single(b => b.Name == "embedding.weight").Offset;
        for (int i = 0; i < subset.Length; i++)
            for (int c = 0; c < 4; c++) g[i, embedding + 1 * 4 + c].Should().Be(0.0);
    }

    [Test]
    public void Per_example_gradients_and_norms_on_a_spam_architecture_are_those_of_the_one_example_losses()
    {
        var obj = new Objective(TransformerClassifier.Parse("spam-e8-t2f16x1-2"), LossKind.CrossEntropy, SpamSubjects.Train(6),
            new ObjectiveOptions { ChunkSize = 4 });
        var theta = obj.Model.Initialize(8);
        var reference = OneExampleGradients(obj, theta);
        Checks.RelativeError(obj.PerExampleGradients(theta).Data, reference.Data).Should().BeLessThan(1e-12);
        var expected = Enumerable.Range(0, reference.Rows).Select(i => Math.Sqrt(reference.Row(i).ToArray().Sum(v => v * v))).ToArray();
        Checks.RelativeError(obj.PerExampleGradientNorms(theta), expected).Should().BeLessThan(1e-12);
    }

    [Test]
    public void An_op_whose_rules_expect_one_row_per_example_is_refused_when_it_sees_several()
    {
        // matmul on 4 rows pooled into 2 examples: matmul's per-example rules split by row, not by example.
        var tape = new Tape();
        tape.Begin();
        var theta = tape.Parameter([0.1, 0.2, 0.3, 0.4, -0.2, 0.5, 0.7, -0.1, 0.3, 0.2]);
        var h = tape.MatMul(tape.Constant([1, 2, 3, 4, 5, 6, 7, 8], 4, 2), tape.Slice(theta, 0, 2, 2));
        var pooled = tape.MaskedMeanPool(h, tape.Constant([1, 1, 1, 1], 2, 2));
        var z = tape.Linear(pooled, tape.Slice(theta, 4, 2, 2), tape.Slice(theta, 8, 1, 2));
        tape.MarkNetworkOutput(z);
        tape.Backward(tape.Sum(tape.Mul(z, z)));
        var act = () => tape.PerExampleRows(theta);
        act.Should().Throw<NotSupportedException>().WithMessage("*'matmul'*2 rows per example*");
    }

    [Test]
    public void A_destination_of_the_wrong_shape_is_refused_naming_the_expected_shape()
    {
        var obj = Problem("mlp", LossKind.CrossEntropy);
        var act = () => obj.PerExampleGradients(obj.Model.Initialize(1), new Matrix(3, obj.ParameterCount), [0, 1]);
        act.Should().Throw<ArgumentException>().WithMessage($"*'destination' is 3x{obj.ParameterCount}; expected 2x{obj.ParameterCount}*");
    }

    [Test]
    public void Materializing_more_than_the_stated_bound_is_refused()
    {
        var data = ObjectiveTests.Classification(70_000, 4, 3, 1);
        var obj = new Objective(Mlp.Parse("4-1000-3", Activation.Tanh), LossKind.CrossEntropy, data);
        var act = () => obj.PerExampleGradients(obj.Model.Initialize(1));
        act.Should().Throw<InvalidOperationException>().WithMessage("*at most 67108864*PerExampleGradientNorms*");
    }


    /// <summary>
    /// docs/curvature.md §4–9's worked example: the line z = w₁x₁ + w₂x₂ + b (θ = (w₁, w₂, b),
    /// a 2-1 MLP), mse, x₁ = (1, 0) with target 1 and x₂ = (0, 2) with target 0, at θ = (2, 1, 0),
    /// one example per chunk. Returns the hand-derived ∂z/∂θ = (x, 1) and residuals r = z − t.
    /// </summary>
    internal static (Objective Objective, double[] Theta, double[][] Jacobians, double[] Residuals) TwoPointLine()
    {
        var x = Matrix.FromRows(new double[,] { { 1, 0 }, { 0, 2 } });
        var t = Matrix.FromRows(new double[,] { { 1 }, { 0 } });
        var obj = new Objective(Mlp.Parse("2-1", Activation.Tanh), LossKind.MeanSquaredError, new Dataset(x, null, t, 1, "two-points"),
            new ObjectiveOptions { ChunkSize = 1 });
        double[] theta = [2, 1, 0];
        var jacobians = new double[2][];
        var residuals = new double[2];
        for (int i = 0; i < 2; i++)
        {
            jacobians[i] = [x[i, 0], x[i, 1], 1];
            residuals[i] = theta[0] * x[i, 0] + theta[1] * x[i, 1] + theta[2] - t[i, 0];
        }
        return (obj, theta, jacobians, residuals);
    }

    [Test]
    public void Worked_example_line_through_two_points_has_per_example_gradients_residual_times_x_and_1()
    {
        // gᵢ = rᵢ(xᵢ, 1): r = (1, 2), g₁ = (1, 0, 1), g₂ = (0, 4, 2), ‖gᵢ‖ = (√2, √20).
        var (obj, theta, j, r) = TwoPointLine();
        r.Should().Equal(1, 2);
        var expected = new[] { j[0].Select(v => r[0] * v).ToArray(), j[1].Select(v => r[1] * v).ToArray() };
        expected[0].Should().Equal(1, 0, 1);
        expected[1].Should().Equal(0, 4, 2);
        var g = obj.PerExampleGradients(theta);
        for (int i = 0; i < 2; i++) g.Row(i).ToArray().Should().Equal(expected[i], (a, b) => Math.Abs(a - b) < 1e-14, $"g{i + 1}");
        obj.PerExampleGradientNorms(theta).Should().Equal([Math.Sqrt(2), Math.Sqrt(20)], (a, b) => Math.Abs(a - b) < 1e-14);
    }
}

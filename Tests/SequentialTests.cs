using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.AutodiffTestSupport;

namespace Curvature.Tests;

/// <summary>
/// A layer that exists only in the tests: y = x ∘ (s ∘ s) per example, with one gain s
/// per feature (parameter "weight", shape [D]), composed from existing tape ops (square,
/// an outer product with a column of ones to repeat the row, elementwise product). The
/// objective knows nothing of it.
/// </summary>
sealed class SquaredGain(int features) : ILayer
{
    static readonly double[] Ones = Enumerable.Repeat(1.0, 4096).ToArray();

    public FeatureShape InputShape => FeatureShape.Flat(features);
    public FeatureShape OutputShape => FeatureShape.Flat(features);
    public IReadOnlyList<ParameterBlock> Parameters { get; } = [new ParameterBlock("weight", [features], 0)];
    public int ParameterCount => features;

    public void Initialize(Rng rng, Span<double> parameters) => rng.FillUniform(parameters, 0.5, 1.5);

    public Tensor Forward(Tape tape, Tensor theta, int offset, Tensor input)
    {
        var s = tape.Slice(theta, offset, 1, features);
        var gains = tape.MatMul(tape.Constant(Ones, 0, input.Rows, 1), tape.Square(s));
        return tape.Mul(input, gains);
    }

    public override string ToString() => $"SquaredGain({features})";
}

/// <summary>Sequential networks: PyTorch's layout and names, the architecture parser, and layers plugged in from outside.</summary>
public class SequentialTests
{
    [Test]
    public void Blocks_of_an_mlp_are_the_state_dict_of_the_equivalent_nn_Sequential()
    {
        // nn.Sequential(Linear(784,200), Tanh(), Linear(200,200), Tanh(), Linear(200,10)).
        var net = Sequential.Parse("784-200-200-10", Activation.Tanh);
        net.Should().BeOfType<Mlp>();
        net.Layers.Select(l => l.ToString()).Should().Equal(
            "Linear(784, 200)", "Tanh()", "Linear(200, 200)", "Tanh()", "Linear(200, 10)");
        net.Blocks.Select(b => b.ToString()).Should().Equal(
            "0.weight [200, 784]", "0.bias [200]", "2.weight [200, 200]", "2.bias [200]", "4.weight [10, 200]", "4.bias [10]");
        int offset = 0;
        foreach (var b in net.Blocks)
        {
            b.Offset.Should().Be(offset, "blocks tile θ in order without gaps");
            offset += b.Count;
        }
        offset.Should().Be(net.ParameterCount).And.Be(199210);
    }

    [Test]
    public void An_image_input_is_flattened_before_the_first_dense_layer_and_shifts_the_module_indices()
    {
        // nn.Sequential(Flatten(), Linear(48,5), ReLU(), Linear(5,3)).
        var net = Sequential.Parse("3x4x4-5-3", Activation.Relu);
        net.Should().NotBeOfType<Mlp>();
        net.InputShape.Should().Be(FeatureShape.Image(3, 4, 4));
        net.InputWidth.Should().Be(48);
        net.Layers.Select(l => l.ToString()).Should().Equal("Flatten()", "Linear(48, 5)", "ReLU()", "Linear(5, 3)");
        net.Blocks.Select(b => b.Name).Should().Equal("1.weight", "1.bias", "3.weight", "3.bias");
        net.Spec.Should().Be("3x4x4-5-3");
        // Flattening records nothing: the outputs are those of the MLP 48-5-3 on the same θ.
        var theta = net.Initialize(5);
        var x = new Matrix(2, 48);
        new Rng(6).FillGaussian(x.Data);
        net.Predict(theta, x).Data.Should().Equal(Mlp.Parse("48-5-3", Activation.Relu).Predict(theta, x).Data);
    }

    [Test]
    public void Initialization_draws_each_layer_in_order_from_one_stream_uniform_within_one_over_root_fan_in()
    {
        // Rebuilt from the documented rule: one Rng(seed), per dense layer weight then bias
        // uniform on [−1/√in, 1/√in).
        var net = Mlp.Parse("6-4-3", Activation.Tanh);
        var rng = new Rng(21);
        var expected = new double[net.ParameterCount];
        rng.FillUniform(expected.AsSpan(0, 28), -1 / Math.Sqrt(6), 1 / Math.Sqrt(6));
        rng.FillUniform(expected.AsSpan(28, 15), -1 / Math.Sqrt(4), 1 / Math.Sqrt(4));
        net.Initialize(21).Should().Equal(expected);
    }

    [Test]
    public void A_hand_built_Sequential_equals_the_parsed_one_bit_for_bit()
    {
        var parsed = Mlp.Parse("5-7-2", Activation.Gelu);
        var built = new Sequential([new Dense(5, 7), new ActivationLayer(Activation.Gelu, FeatureShape.Flat(7)), new Dense(7, 2)]);
        built.Blocks.Select(b => (b.Name, b.Offset, b.Count)).Should().Equal(parsed.Blocks.Select(b => (b.Name, b.Offset, b.Count)));
        var theta = parsed.Initialize(3);
        built.Initialize(3).Should().Equal(theta);
        var x = new Matrix(3, 5);
        new Rng(4).FillGaussian(x.Data);
        built.Predict(theta, x).Data.Should().Equal(parsed.Predict(theta, x).Data);
    }

    [TestCase("1x28x28-c16k9k5-10", "c16k9k5", "cN[kK][sS][pP]")]
    [TestCase("1x28x28-c16s2k5-10", "c16s2k5", "cN[kK][sS][pP]")]
    [TestCase("1x28x28-c0k5-10", "c0k5", "channel count N in [1,")]
    [TestCase("1x28x28-c4k0-10", "c4k0", "kernel K in [1,")]
    [TestCase("1x28x28-c4k3s0-10", "c4k3s0", "stride S in [1,")]
    [TestCase("1x5x5-c4k7-10", "c4k7", "kernel of at most 5")]
    [TestCase("1x5x5-c4k8p1-10", "c4k8p1", "kernel of at most 7")]
    [TestCase("1x5x5-m2-m3-10", "m3", "pooling kernel of at most 2")]
    [TestCase("1x5x5-a6-10", "a6", "pooling kernel of at most 5")]
    [TestCase("1x5x5-m0-10", "m0", "kernel K in [1,")]
    [TestCase("784-c4-10", "c4", "an image input")]
    [TestCase("1x5x5-10-m2-10", "m2", "an image input")]
    [TestCase("1x5x5-c4-m2", "m2", "integer output count as the last token")]
    [TestCase("1x5x5-x4-10", "x4", "cN[kK][sS][pP]")]
    public void Bad_convolution_and_pooling_tokens_are_rejected_naming_the_token_and_what_was_expected(string arch, string token, string expected)
    {
        var act = () => Sequential.Parse(arch, Activation.Tanh);
        act.Should().Throw<ArgumentException>().WithMessage($"*'{arch}'*'{token}'*")
            .And.Message.Should().Contain(expected);
    }

    [TestCase("784-relu-10", "'relu'")]
    [TestCase("3x4-10", "'3x4'")]
    [TestCase("1x0x5-10", "'0'")]
    [TestCase("784-200-m2", "'m2'")]
    [TestCase("784", "'784'")]
    public void Malformed_architectures_are_rejected_quoting_the_string(string arch, string detail)
    {
        var act = () => Sequential.Parse(arch, Activation.Tanh);
        act.Should().Throw<ArgumentException>().WithMessage($"*'{arch}'*").And.Message.Should().Contain(detail.Trim('\''));
    }

    [Test]
    public void Layers_whose_shapes_do_not_chain_are_rejected_naming_both_shapes()
    {
        var act = () => new Sequential([new Dense(4, 3), new Dense(5, 2)]);
        act.Should().Throw<ArgumentException>().WithMessage("*Linear(5, 2)*5*3*");
        var flat = () => new Flatten(FeatureShape.Flat(4));
        flat.Should().Throw<ArgumentException>().WithMessage("*'shape' was 4*image*");
    }

    static (Objective obj, Sequential net) GainNetwork(LossKind loss)
    {
        // nn.Sequential(Linear(3,4), Tanh(), SquaredGain(4), Linear(4,3)).
        var net = new Sequential([new Dense(3, 4), new ActivationLayer(Activation.Tanh, FeatureShape.Flat(4)), new SquaredGain(4), new Dense(4, 3)]);
        var data = ObjectiveTests.Classification(9, 3, 3, 41);
        return (new Objective(net, loss, data, new ObjectiveOptions { ChunkSize = 4, Threads = 2 }), net);
    }

    [Test]
    public void A_layer_defined_in_the_tests_gets_named_blocks_and_a_seeded_initialization()
    {
        var (_, net) = GainNetwork(LossKind.CrossEntropy);
        net.Blocks.Select(b => b.ToString()).Should().Equal("0.weight [4, 3]", "0.bias [4]", "2.weight [4]", "3.weight [3, 4]", "3.bias [3]");
        var theta = net.Initialize(8);
        net.Block("2.weight").Of(theta).ToArray().Should().OnlyContain(v => v >= 0.5 && v < 1.5);
        net.Initialize(8).Should().Equal(theta);
    }

    [TestCase(LossKind.CrossEntropy)]
    [TestCase(LossKind.MeanSquaredError)]
    public void Hessian_vector_products_through_a_layer_defined_in_the_tests_match_finite_differences_of_the_gradient(LossKind loss)
    {
        var (obj, net) = GainNetwork(loss);
        var theta = net.Initialize(9);
        int n = obj.ParameterCount;
        double[] Grad(double[] x) { var g = new double[n]; obj.LossAndGradient(x, g); return g; }

        var fdGradient = Checks.Gradient(x => obj.Loss(x), theta, 1e-3);
        Checks.RelativeError(Grad(theta), fdGradient).Should().BeLessThan(1e-8);

        var rng = new Rng(10);
        for (int trial = 0; trial < 3; trial++)
        {
            var v = Gaussian(rng, n);
            var hv = new double[n];
            obj.HessianVectorProduct(theta, v, hv);
            Checks.RelativeError(hv, Checks.Directional(Grad, theta, v, 1e-3)).Should().BeLessThan(1e-7);
        }
        // The whole Hessian, column by column (the block sweep), against the same route.
        var h = obj.DenseMatrix(CurvatureKind.Hessian, theta);
        var e = new double[n];
        for (int j = 0; j < n; j++)
        {
            e[j] = 1;
            var col = Checks.Directional(Grad, theta, e, 1e-3);
            e[j] = 0;
            for (int i = 0; i < n; i++) h[i, j].Should().BeApproximately(col[i], 1e-7 * (1 + Math.Abs(col[i])));
        }
    }
}

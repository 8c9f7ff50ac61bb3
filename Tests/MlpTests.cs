using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

public class MlpTests
{
    [Test]
    public void Spec_784_200_200_10_has_the_parameter_count_of_three_linear_layers()
    {
        var mlp = Mlp.Parse("784-200-200-10", Activation.Tanh);
        mlp.ParameterCount.Should().Be(784 * 200 + 200 + 200 * 200 + 200 + 200 * 10 + 10);
        mlp.Widths.Should().Equal(784, 200, 200, 10);
        mlp.InputWidth.Should().Be(784);
        mlp.OutputWidth.Should().Be(10);
        mlp.Spec.Should().Be("784-200-200-10");
        mlp.Block("2.weight").Shape.Should().Equal(200, 200);
        mlp.Block("2.weight").Offset.Should().Be(784 * 200 + 200);
        mlp.Block("2.bias").Offset.Should().Be(784 * 200 + 200 + 200 * 200);
    }

    [TestCase("784-x-10")]
    [TestCase("784")]
    [TestCase("784--10")]
    [TestCase("784-0-10")]
    [TestCase("")]
    public void Malformed_spec_is_rejected_naming_the_value(string spec)
    {
        var act = () => Mlp.Parse(spec, Activation.Tanh);
        act.Should().Throw<ArgumentException>().WithMessage($"*'{spec}'*expected*");
    }

    [Test]
    public void Unknown_activation_name_is_rejected_naming_the_value()
    {
        var act = () => ActivationNames.Parse("swish");
        act.Should().Throw<ArgumentException>().WithMessage("*'swish'*tanh, relu, gelu or softplus*");
        ActivationNames.Parse("GELU").Should().Be(Activation.Gelu);
    }

    [Test]
    public void Outputs_of_a_2_3_2_network_follow_the_documented_flat_layout()
    {
        // θ = [W1 (3x2 row-major), b1 (3), W2 (2x3 row-major), b2 (2)]: 6 + 3 + 6 + 2 = 17.
        var mlp = Mlp.Parse("2-3-2", Activation.Tanh);
        mlp.ParameterCount.Should().Be(17);
        var theta = Enumerable.Range(0, 17).Select(i => 0.1 * (i - 8) + 0.03 * i * i / 17).ToArray();
        var x = Matrix.FromRows(new[,] { { 0.5, -1.25 }, { 2.0, 0.75 } });
        var outputs = mlp.Predict(theta, x);
        for (int r = 0; r < 2; r++)
        {
            var h = new double[3];
            for (int o = 0; o < 3; o++)
                h[o] = Math.Tanh(theta[o * 2 + 0] * x[r, 0] + theta[o * 2 + 1] * x[r, 1] + theta[6 + o]);
            for (int o = 0; o < 2; o++)
            {
                double z = theta[15 + o];
                for (int i = 0; i < 3; i++) z += theta[9 + o * 3 + i] * h[i];
                outputs[r, o].Should().BeApproximately(z, 1e-15);
            }
        }
    }

    [TestCase(Activation.Tanh)]
    [TestCase(Activation.Relu)]
    [TestCase(Activation.Gelu)]
    [TestCase(Activation.Softplus)]
    public void Hidden_activation_is_the_named_function(Activation activation)
    {
        // A 1-1-1 network with unit weights and zero biases outputs σ(x).
        var mlp = new Mlp([1, 1, 1], activation);
        double[] theta = [1, 0, 1, 0];
        Func<double, double> sigma = activation switch
        {
            Activation.Tanh => Math.Tanh,
            Activation.Relu => v => Math.Max(v, 0),
            Activation.Gelu => v => 0.5 * v * (1 + MathNet.Numerics.SpecialFunctions.Erf(v / Math.Sqrt(2))),
            _ => v => Math.Log(1 + Math.Exp(v)),
        };
        foreach (double v in new[] { -2.5, -0.3, 0.7, 3.0 })
            mlp.Predict(theta, Matrix.FromRows(new[,] { { v } }))[0, 0].Should().BeApproximately(sigma(v), 1e-14);
    }

    [Test]
    public void Initialization_is_seeded_and_uniform_within_one_over_root_fan_in()
    {
        var mlp = Mlp.Parse("50-20-5", Activation.Tanh);
        var a = mlp.Initialize(7);
        var b = mlp.Initialize(7);
        var c = mlp.Initialize(8);
        a.Should().Equal(b);
        a.Should().NotEqual(c);
        foreach (var (inputs, offset, count) in new[] { (50, 0, 50 * 20 + 20), (20, 50 * 20 + 20, 20 * 5 + 5) })
        {
            double bound = 1 / Math.Sqrt(inputs);
            var values = a.AsSpan(offset, count).ToArray();
            values.Should().OnlyContain(v => v >= -bound && v < bound);
            values.Max().Should().BeGreaterThan(0.9 * bound);
            values.Min().Should().BeLessThan(-0.9 * bound);
            Math.Abs(values.Average()).Should().BeLessThan(0.1 * bound);
        }
    }

    [Test]
    public void Forward_rejects_an_input_of_the_wrong_width_naming_both_shapes()
    {
        var mlp = Mlp.Parse("4-3", Activation.Tanh);
        var act = () => mlp.Predict(new double[15], new Matrix(2, 5));
        act.Should().Throw<ArgumentException>().WithMessage("*2x5*4*");
    }

    [Test]
    public void Gradient_of_the_network_loss_on_the_tape_matches_finite_differences()
    {
        var mlp = Mlp.Parse("3-4-2", Activation.Gelu);
        var rng = new Rng(3);
        var x = new Matrix(5, 3);
        rng.FillGaussian(x.Data);
        int[] labels = [0, 1, 1, 0, 1];
        TapeFunction f = (t, th) => t.SoftmaxCrossEntropy(mlp.Forward(t, th, t.Constant(x)), labels);
        var theta = mlp.Initialize(4);
        var g = new Tape().Gradient(f, theta).Gradient;
        var fd = Checks.Gradient(th => AutodiffTestSupport.Evaluate(f, th)[0], theta, 1e-3);
        Checks.RelativeError(g, fd).Should().BeLessThan(1e-8);
    }
}

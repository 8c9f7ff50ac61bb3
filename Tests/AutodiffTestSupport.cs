using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using FluentAssertions;

namespace Curvature.Tests;

/// <summary>Seeded samples and tape evaluation shared by the autodiff, model and objective tests (finite differences are the public <see cref="Checks"/>).</summary>
internal static class AutodiffTestSupport
{
    public static double[] Gaussian(Rng rng, int n)
    {
        var x = new double[n];
        rng.FillGaussian(x);
        return x;
    }

    public static double[] Uniform(Rng rng, int n, double lo, double hi)
    {
        var x = new double[n];
        rng.FillUniform(x, lo, hi);
        return x;
    }

    /// <summary>The values of f(θ) recorded without tangents.</summary>
    public static double[] Evaluate(TapeFunction f, double[] theta)
    {
        var tape = new Tape();
        tape.Begin();
        var y = f(tape, tape.Parameter((double[])theta.Clone()));
        return y.Value.ToArray();
    }

    public static MathNet.Numerics.LinearAlgebra.Matrix<double> ToMathNet(Matrix m) =>
        MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(m.Rows, m.Cols, (i, j) => m[i, j]);
}

/// <summary>One op under test: input shapes, how to sample them, which are constants, and the graph.</summary>
public sealed class OpCase(string name, (int Rows, int Cols)[] inputs, Func<Rng, int, double> sample,
    Func<Tape, Tensor[], Tensor> build, double step = 1e-3, bool[]? constant = null)
{
    public string Name { get; } = name;
    public (int Rows, int Cols)[] Inputs { get; } = inputs;
    public Func<Rng, int, double> Sample { get; } = sample;
    public Func<Tape, Tensor[], Tensor> Build { get; } = build;
    public double Step { get; } = step;
    public bool[] ConstantInput { get; } = constant ?? new bool[inputs.Length];
    public override string ToString() => Name;
}

/// <summary>The op's inputs (θ windows or constants), the output tensor, and the quadratic read-out L.</summary>
internal sealed class OpHarness
{
    readonly OpCase _c;
    readonly double[][] _constants;
    readonly int[] _offsets;
    public double[] Theta { get; }
    readonly double[] _w = [], _cw = [];

    public OpHarness(OpCase c, ulong seed)
    {
        _c = c;
        var rng = new Rng(seed);
        _offsets = new int[c.Inputs.Length];
        _constants = new double[c.Inputs.Length][];
        var theta = new List<double>();
        for (int i = 0; i < c.Inputs.Length; i++)
        {
            int n = c.Inputs[i].Rows * c.Inputs[i].Cols;
            var values = new double[n];
            for (int k = 0; k < n; k++) values[k] = c.Sample(rng, i);
            if (c.ConstantInput[i]) _constants[i] = values;
            else
            {
                _offsets[i] = theta.Count;
                theta.AddRange(values);
            }
        }
        Theta = [.. theta];
        var y = AutodiffTestSupport.Evaluate(Output, Theta);
        _w = AutodiffTestSupport.Gaussian(rng, y.Length);
        _cw = AutodiffTestSupport.Uniform(rng, y.Length, 0.5, 1.5);
    }

    public Tensor Output(Tape t, Tensor theta)
    {
        var inputs = new Tensor[_c.Inputs.Length];
        for (int i = 0; i < inputs.Length; i++)
        {
            var (r, k) = _c.Inputs[i];
            inputs[i] = _c.ConstantInput[i] ? t.Constant(_constants[i], 0, r, k) : t.Slice(theta, _offsets[i], r, k);
        }
        return _c.Build(t, inputs);
    }

    /// <summary>L = Σ (w∘y + ½ c∘y²): both ȳ = w + c∘y and its tangent ȳ̇ = c∘ẏ are non-zero.</summary>
    public Tensor Loss(Tape t, Tensor theta)
    {
        var y = Output(t, theta);
        var w = t.Constant(_w, 0, y.Rows, y.Cols);
        var c = t.Constant(_cw, 0, y.Rows, y.Cols);
        return t.Sum(t.Add(t.Mul(w, y), t.Scale(t.Mul(c, t.Square(y)), 0.5)));
    }
}

/// <summary>
/// The three finite-difference checks of an op's derivative rules (see AutodiffOpTests):
/// backward against the gradient of L, tangent (three directions at once) against the
/// directional derivatives of the output, backward tangent (three directions) against the
/// directional derivatives of ∇L — each expected value by the public <see cref="Checks"/>.
/// </summary>
internal static class OpChecks
{
    public static void Gradient(OpCase c, double tolerance)
    {
        var h = new OpHarness(c, 11);
        var result = new Tape().Gradient(h.Loss, h.Theta);
        var expected = Checks.Gradient(x => AutodiffTestSupport.Evaluate(h.Loss, x)[0], h.Theta, c.Step);
        double.IsFinite(result.Loss).Should().BeTrue();
        Checks.RelativeError(result.Gradient, expected).Should().BeLessThan(tolerance);
    }

    public static void Tangent(OpCase c, double tolerance)
    {
        var h = new OpHarness(c, 12);
        var rng = new Rng(99);
        var v = new Matrix(3, h.Theta.Length);
        rng.FillGaussian(v.Data);
        var jvp = new Tape().Jvp(h.Output, h.Theta, v);
        for (int j = 0; j < v.Rows; j++)
        {
            var expected = Checks.Directional(x => AutodiffTestSupport.Evaluate(h.Output, x), h.Theta, v.Row(j), c.Step);
            Checks.RelativeError(jvp.Tangents.Row(j), expected).Should().BeLessThan(tolerance, $"direction {j}");
        }
    }

    public static void BackwardTangent(OpCase c, double tolerance)
    {
        var h = new OpHarness(c, 13);
        var rng = new Rng(98);
        var v = new Matrix(3, h.Theta.Length);
        rng.FillGaussian(v.Data);
        var block = new Tape().HessianBlockProduct(h.Loss, h.Theta, v);
        var gradTape = new Tape();
        for (int j = 0; j < v.Rows; j++)
        {
            var expected = Checks.HessianVectorProduct(x => gradTape.Gradient(h.Loss, x).Gradient, h.Theta, v.Row(j), c.Step);
            Checks.RelativeError(block.Products.Row(j), expected).Should().BeLessThan(tolerance, $"direction {j}");
        }
    }
}

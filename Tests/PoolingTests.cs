using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>
/// Max and average pooling (kernel = stride, no padding, floor mode) and flatten: forward
/// values against direct loops, the three derivative rules against central finite
/// differences, and max pooling's tie rule (the first maximum in row-major order, as
/// PyTorch) on windows with exact ties.
/// </summary>
public class PoolingTests
{
    const double Tolerance = 1e-6;

    /// <summary>
    /// Distinct values 0.02 apart (plus noise below 0.004), so no finite-difference step
    /// (at most 2h·|v| ≈ 0.008 per entry) can change which entry of a window is the maximum.
    /// Any 1009 consecutive draws are distinct.
    /// </summary>
    static Func<Rng, int, double> Distinct()
    {
        long counter = 0;
        return (r, _) => 0.02 * (++counter * 7919 % 1009) - 10 + 0.004 * r.NextDouble();
    }

    public sealed record Geometry(string Name, int Batch, int C, int H, int W, int K)
    {
        public Pool2dGeometry Pool => new(new ImageShape(C, H, W), K);
        public override string ToString() => Name;
    }

    public static IEnumerable<Geometry> Geometries()
    {
        yield return new("k2_even", 2, 2, 4, 6, 2);
        yield return new("k2_odd_sizes_floor", 2, 3, 5, 7, 2);
        yield return new("k3_floor", 2, 2, 7, 8, 3);
        yield return new("kernel_as_large_as_the_input", 2, 2, 3, 3, 3);
        yield return new("k1_identity", 2, 2, 3, 2, 1);
    }

    public static IEnumerable<OpCase> Cases()
    {
        foreach (var g in Geometries())
        {
            var pool = g.Pool;
            yield return new OpCase("max_pool2d_" + g.Name, [(g.Batch, pool.Input.Size)], Distinct(), (t, x) => t.MaxPool2d(x[0], pool));
            yield return new OpCase("avg_pool2d_" + g.Name, [(g.Batch, pool.Input.Size)], (r, _) => r.NextGaussian(), (t, x) => t.AvgPool2d(x[0], pool));
        }
        // Pooling inside a small network: the pooled tensor feeds an elementwise activation,
        // is flattened and feeds a dense layer, so ȳ and ȳ̇ reaching the pooling carry curvature.
        var p = new Pool2dGeometry(new ImageShape(2, 5, 4), 2);
        yield return new OpCase("max_pool2d_square_flatten_linear", [(2, p.Input.Size), (3, p.Output.Size), (1, 3)], Distinct(),
            (t, x) => t.Linear(t.Flatten(t.Square(t.MaxPool2d(x[0], p)), p.Output), x[1], x[2]));
        var c = new Conv2dGeometry(new ImageShape(1, 6, 7), 2, 3, 1, 1);
        var a = new Pool2dGeometry(c.Output, 2);
        yield return new OpCase("conv2d_tanh_avg_pool2d_flatten_linear", [(2, c.Input.Size), (2, c.PatchSize), (1, 2), (3, a.Output.Size), (1, 3)],
            (r, _) => 0.7 * r.NextGaussian(),
            (t, x) => t.Linear(t.Flatten(t.AvgPool2d(t.Tanh(t.Conv2d(x[0], x[1], x[2], c)), a), a.Output), x[3], x[4]),
            constant: [true, false, false, false, false]);
    }

    /// <summary>
    /// PyTorch's rule, written out: scan the window row by row, left to right, and keep the
    /// first position whose value equals the window's maximum. Returns (values, argmax).
    /// </summary>
    static (double[] Values, int[] Argmax) ReferenceMax(Geometry g, double[] x)
    {
        int ho = g.H / g.K, wo = g.W / g.K;
        var y = new double[g.Batch * g.C * ho * wo];
        var arg = new int[y.Length];
        for (int b = 0; b < g.Batch; b++)
            for (int c = 0; c < g.C; c++)
                for (int i = 0; i < ho; i++)
                    for (int j = 0; j < wo; j++)
                    {
                        int Index(int ki, int kj) => ((b * g.C + c) * g.H + i * g.K + ki) * g.W + j * g.K + kj;
                        double max = double.NegativeInfinity;
                        for (int ki = 0; ki < g.K; ki++)
                            for (int kj = 0; kj < g.K; kj++) max = Math.Max(max, x[Index(ki, kj)]);
                        int first = -1;
                        for (int ki = 0; ki < g.K && first < 0; ki++)
                            for (int kj = 0; kj < g.K && first < 0; kj++)
                                if (x[Index(ki, kj)] == max) first = Index(ki, kj);
                        int o = ((b * g.C + c) * ho + i) * wo + j;
                        y[o] = max;
                        arg[o] = first;
                    }
        return (y, arg);
    }

    static double[] ReferenceAverage(Geometry g, double[] x)
    {
        int ho = g.H / g.K, wo = g.W / g.K;
        var y = new double[g.Batch * g.C * ho * wo];
        for (int b = 0; b < g.Batch; b++)
            for (int c = 0; c < g.C; c++)
                for (int i = 0; i < ho; i++)
                    for (int j = 0; j < wo; j++)
                    {
                        double s = 0;
                        for (int ki = 0; ki < g.K; ki++)
                            for (int kj = 0; kj < g.K; kj++) s += x[((b * g.C + c) * g.H + i * g.K + ki) * g.W + j * g.K + kj];
                        y[((b * g.C + c) * ho + i) * wo + j] = s / (g.K * g.K);
                    }
        return y;
    }

    [TestCaseSource(nameof(Geometries))]
    public void Max_pooling_takes_the_window_maximum_and_average_pooling_its_mean(Geometry g)
    {
        var pool = g.Pool;
        var x = AutodiffTestSupport.Gaussian(new Rng(4), g.Batch * pool.Input.Size);
        var tape = new Tape();
        tape.Begin();
        var input = tape.Constant(x, 0, g.Batch, pool.Input.Size);
        var max = tape.MaxPool2d(input, pool);
        var avg = tape.AvgPool2d(input, pool);
        max.Cols.Should().Be(pool.Output.Size);
        max.Value.ToArray().Should().Equal(ReferenceMax(g, x).Values);
        Checks.RelativeError(avg.Value, ReferenceAverage(g, x)).Should().BeLessThan(1e-15);
    }

    [TestCaseSource(nameof(Cases))]
    public void Gradient_matches_central_finite_differences_of_the_loss(OpCase c) => OpChecks.Gradient(c, Tolerance);

    [TestCaseSource(nameof(Cases))]
    public void Tangent_matches_finite_differences_of_the_forward_value(OpCase c) => OpChecks.Tangent(c, Tolerance);

    [TestCaseSource(nameof(Cases))]
    public void Backward_tangent_matches_finite_differences_of_the_gradient(OpCase c) => OpChecks.BackwardTangent(c, Tolerance);

    [Test]
    public void Tied_maxima_route_every_derivative_through_the_first_maximum_in_row_major_order()
    {
        // Entries are small integers, so most 2×2 and 3×3 windows hold tied maxima
        // (including windows where the tie is across rows, e.g. top-right and bottom-left).
        var g = new Geometry("ties", 2, 2, 7, 6, 2);
        var pool = g.Pool;
        var rng = new Rng(8);
        var x = new double[g.Batch * pool.Input.Size];
        for (int i = 0; i < x.Length; i++) x[i] = rng.NextInt(3);
        x[1] = 2; x[6] = 2; x[0] = 1; x[7] = 1;   // first window: tie between (0,1) and (1,0)
        var (values, argmax) = ReferenceMax(g, x);
        int ties = 0;
        for (int o = 0; o < values.Length; o++)
        {
            int b = o / pool.Output.Size, rest = o % pool.Output.Size, c = rest / pool.Output.Plane;
            int i = rest % pool.Output.Plane / pool.Output.Width, j = rest % pool.Output.Width, count = 0;
            for (int ki = 0; ki < 2; ki++)
                for (int kj = 0; kj < 2; kj++)
                    if (x[((b * g.C + c) * g.H + 2 * i + ki) * g.W + 2 * j + kj] == values[o]) count++;
            if (count > 1) ties++;
        }
        ties.Should().BeGreaterThan(values.Length / 3, "the test needs many tied windows");
        argmax[0].Should().Be(1);

        // θ = x; L = Σ (o + 1)·y_o + ½ Σ y_o², so ȳ_o = o + 1 + y_o and ȳ̇ = ẏ.
        var weights = Enumerable.Range(1, values.Length).Select(v => (double)v).ToArray();
        Tensor Output(Tape t, Tensor theta) => t.MaxPool2d(t.Reshape(theta, g.Batch, pool.Input.Size), pool);
        Tensor Loss(Tape t, Tensor theta)
        {
            var y = Output(t, theta);
            return t.Add(t.Sum(t.Mul(t.Constant(weights, 0, y.Rows, y.Cols), y)), t.Scale(t.Sum(t.Square(y)), 0.5));
        }
        var v = new Matrix(2, x.Length);
        rng.FillGaussian(v.Data);

        var expectedGradient = new double[x.Length];
        for (int o = 0; o < values.Length; o++) expectedGradient[argmax[o]] += weights[o] + values[o];
        new Tape().Gradient(Loss, x).Gradient.Should().Equal(expectedGradient);

        var jvp = new Tape().Jvp(Output, x, v);
        var hv = new Tape().HessianBlockProduct(Loss, x, v);
        for (int j = 0; j < v.Rows; j++)
        {
            var expectedTangent = argmax.Select(a => v[j, a]).ToArray();
            jvp.Tangents.Row(j).ToArray().Should().Equal(expectedTangent);
            var expectedHv = new double[x.Length];
            for (int o = 0; o < values.Length; o++) expectedHv[argmax[o]] += v[j, argmax[o]];
            hv.Products.Row(j).ToArray().Should().Equal(expectedHv);
        }
    }

    [Test]
    public void A_NaN_in_a_window_is_its_maximum()
    {
        var pool = new Pool2dGeometry(new ImageShape(1, 2, 2), 2);
        var tape = new Tape();
        tape.Begin();
        var y = tape.MaxPool2d(tape.Constant([1.0, double.NaN, 3.0, 2.0], 1, 4), pool);
        double.IsNaN(y.Value[0]).Should().BeTrue();
    }

    [Test]
    public void Flatten_keeps_the_row_major_C_H_W_entries_and_records_nothing()
    {
        var shape = new ImageShape(2, 3, 4);
        var tape = new Tape();
        tape.Begin();
        var x = tape.Constant(Enumerable.Range(0, 48).Select(i => (double)i).ToArray(), 2, 24);
        int before = tape.Count;
        var f = tape.Flatten(x, shape);
        f.Should().BeSameAs(x);
        tape.Count.Should().Be(before);
        var act = () => tape.Flatten(x, new ImageShape(2, 3, 3));
        act.Should().Throw<ArgumentException>().WithMessage("*'x' is 2x24*batch x 18*2x3x3*");
    }

    [Test]
    public void A_pooling_kernel_larger_than_the_input_is_rejected_naming_kernel_and_input()
    {
        var act = () => new Pool2dGeometry(new ImageShape(3, 4, 5), 5);
        act.Should().Throw<ArgumentException>().WithMessage("*'kernel' was 5*at most*3x4x5*").Which.ParamName.Should().Be("kernel");
        var zero = () => new Pool2dGeometry(new ImageShape(3, 4, 5), 0);
        zero.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'kernel' was 0*");
        var shape = () => new ImageShape(1, 0, 3);
        shape.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'height' was 0*");
    }

    [Test]
    public void Pooling_an_input_of_the_wrong_width_is_rejected_naming_x()
    {
        var pool = new Pool2dGeometry(new ImageShape(2, 4, 4), 2);
        var tape = new Tape();
        tape.Begin();
        var x = tape.Constant(new double[30], 0, 2, 15);
        ((Action)(() => tape.MaxPool2d(x, pool))).Should().Throw<ArgumentException>().WithMessage("*MaxPool2d*'x' is 2x15*batch x 32*");
        ((Action)(() => tape.AvgPool2d(x, pool))).Should().Throw<ArgumentException>().WithMessage("*AvgPool2d*'x' is 2x15*batch x 32*");
    }


    [Test]
    public void Worked_example_2x2_pooling_of_a_2x4_image_routes_half_squared_loss_derivatives_by_the_hand_computed_selection_and_means()
    {
        // docs/autodiff.md §5 "Max pooling" and "Average pooling": L = ½Σy², v = 1.
        double[] x = [1, 3, 0, -1, 2, 0, 5, 4];
        var ones = Enumerable.Repeat(1.0, 8).ToArray();
        var geometry = new Pool2dGeometry(new ImageShape(1, 2, 4), 2);
        Tensor Max(Tape t, Tensor p) => t.Scale(t.Sum(t.Square(t.MaxPool2d(t.Reshape(p, 1, 8), geometry))), 0.5);
        Tensor Avg(Tape t, Tensor p) => t.Scale(t.Sum(t.Square(t.AvgPool2d(t.Reshape(p, 1, 8), geometry))), 0.5);

        // Window w covers columns 2w, 2w + 1 of both rows.
        static IEnumerable<int> Window(int w) => [2 * w, 2 * w + 1, 4 + 2 * w, 5 + 2 * w];
        var argmax = new int[2];
        var mean = new double[2];
        for (int w = 0; w < 2; w++)
        {
            argmax[w] = Window(w).First(i => x[i] == Window(w).Max(k => x[k]));
            mean[w] = Window(w).Average(i => x[i]);
        }
        argmax.Should().Equal(1, 6);
        mean.Should().Equal(1.5, 2);

        var max = new Tape().HessianVectorProduct(Max, x, ones);
        max.Loss.Should().Be(0.5 * (9 + 25), "y = (3, 5)");
        var maxGradient = new double[8];
        var maxHv = new double[8];
        for (int w = 0; w < 2; w++) { maxGradient[argmax[w]] = x[argmax[w]]; maxHv[argmax[w]] = 1; }
        max.Gradient.Should().Equal(maxGradient);
        max.Gradient.Should().Equal(0, 3, 0, 0, 0, 0, 5, 0);
        max.Product.Should().Equal(maxHv, "SᵀS·1 has a 1 at each window's maximum");

        var avg = new Tape().HessianVectorProduct(Avg, x, ones);
        avg.Loss.Should().BeApproximately(0.5 * (1.5 * 1.5 + 2 * 2), 1e-15);
        avg.Loss.Should().Be(3.125);
        var avgGradient = new double[8];
        for (int w = 0; w < 2; w++) foreach (int i in Window(w)) avgGradient[i] = mean[w] / 4;
        avg.Gradient.Should().Equal(avgGradient, (a, b) => Math.Abs(a - b) < 1e-15);
        avg.Gradient.Should().Equal([0.375, 0.375, 0.5, 0.5, 0.375, 0.375, 0.5, 0.5], (a, b) => Math.Abs(a - b) < 1e-15);
        avg.Product.Should().Equal(Enumerable.Repeat(0.25, 8), (a, b) => Math.Abs(a - b) < 1e-15, "AᵀA·1 = Aᵀ(1, 1) = 1/4 everywhere");
    }
}

using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>
/// 2-D convolution (<see cref="Tape.Conv2d"/>): the forward value against a direct
/// seven-loop reference, and the tangent, backward and backward-tangent rules against
/// central finite differences (the harness of AutodiffOpTests: θ holds x, W and b; three
/// directions at once), over strides, padding, kernels as large as the (padded) input,
/// 1×1 kernels, sizes that floor, several channels and batches of two.
/// </summary>
public class ConvolutionTests
{
    const double Tolerance = 1e-6;

    /// <summary>One convolution: batch, input image, output channels, kernel, stride, padding.</summary>
    public sealed record Geometry(string Name, int Batch, int C, int H, int W, int N, int K, int S, int P, bool Bias = true, bool ConstantInput = false)
    {
        public Conv2dGeometry Conv => new(new ImageShape(C, H, W), N, K, S, P);
        public override string ToString() => Name;
    }

    public static IEnumerable<Geometry> Geometries()
    {
        yield return new("k3_two_channels", 2, 2, 5, 6, 3, 3, 1, 0);
        yield return new("k3_stride2_padding1", 2, 2, 7, 6, 2, 3, 2, 1);
        yield return new("kernel_as_large_as_the_input", 2, 3, 4, 4, 2, 4, 1, 0);
        yield return new("kernel_larger_than_the_input_within_padding", 1, 2, 3, 3, 2, 4, 1, 1);
        yield return new("k1_stride2_odd_sizes_floor", 2, 3, 6, 5, 2, 1, 2, 0);
        yield return new("k3_stride3_padding1_floors", 2, 1, 8, 7, 2, 3, 3, 1);
        yield return new("k2_stride2_padding2", 2, 2, 3, 4, 2, 2, 2, 2);
        yield return new("no_bias", 2, 2, 5, 5, 2, 3, 1, 1, Bias: false);
        yield return new("constant_input", 3, 2, 5, 4, 3, 3, 1, 1, ConstantInput: true);
    }

    static OpCase Case(Geometry g)
    {
        var conv = g.Conv;
        (int, int)[] inputs = g.Bias
            ? [(g.Batch, conv.Input.Size), (g.N, conv.PatchSize), (1, g.N)]
            : [(g.Batch, conv.Input.Size), (g.N, conv.PatchSize)];
        bool[] constant = g.Bias ? [g.ConstantInput, false, false] : [g.ConstantInput, false];
        return new OpCase("conv2d_" + g.Name, inputs, (r, _) => r.NextGaussian(),
            (t, x) => t.Conv2d(x[0], x[1], g.Bias ? x[2] : null, conv), constant: constant);
    }

    public static IEnumerable<OpCase> Cases()
    {
        foreach (var g in Geometries()) yield return Case(g);
        // Two convolutions with an activation between them: the second's input carries
        // tangents and curvature from the first, as in a network.
        var c1 = new Conv2dGeometry(new ImageShape(2, 6, 5), 3, 3, 1, 1);
        var c2 = new Conv2dGeometry(c1.Output, 2, 3, 2, 0);
        yield return new OpCase("conv2d_tanh_conv2d", [(2, c1.Input.Size), (3, c1.PatchSize), (1, 3), (2, c2.PatchSize), (1, 2)],
            (r, _) => 0.7 * r.NextGaussian(),
            (t, x) => t.Conv2d(t.Tanh(t.Conv2d(x[0], x[1], x[2], c1)), x[3], x[4], c2), constant: [true, false, false, false, false]);
    }

    /// <summary>y[b, o, i, j] = bias[o] + Σ_{c, ki, kj} w[o, c, ki, kj]·x[b, c, i·S − P + ki, j·S − P + kj], zero outside the image.</summary>
    static double[] Reference(Geometry g, double[] x, double[] w, double[]? bias)
    {
        int ho = (g.H + 2 * g.P - g.K) / g.S + 1, wo = (g.W + 2 * g.P - g.K) / g.S + 1;
        var y = new double[g.Batch * g.N * ho * wo];
        for (int b = 0; b < g.Batch; b++)
            for (int o = 0; o < g.N; o++)
                for (int i = 0; i < ho; i++)
                    for (int j = 0; j < wo; j++)
                    {
                        double s = bias is null ? 0 : bias[o];
                        for (int c = 0; c < g.C; c++)
                            for (int ki = 0; ki < g.K; ki++)
                                for (int kj = 0; kj < g.K; kj++)
                                {
                                    int r = i * g.S - g.P + ki, q = j * g.S - g.P + kj;
                                    if (r < 0 || r >= g.H || q < 0 || q >= g.W) continue;
                                    s += w[((o * g.C + c) * g.K + ki) * g.K + kj] * x[((b * g.C + c) * g.H + r) * g.W + q];
                                }
                        y[((b * g.N + o) * ho + i) * wo + j] = s;
                    }
        return y;
    }

    [TestCaseSource(nameof(Geometries))]
    public void Forward_equals_the_direct_sum_over_kernel_and_channels(Geometry g)
    {
        var conv = g.Conv;
        var rng = new Rng(3);
        var x = AutodiffTestSupport.Gaussian(rng, g.Batch * conv.Input.Size);
        var w = AutodiffTestSupport.Gaussian(rng, conv.WeightCount);
        var bias = g.Bias ? AutodiffTestSupport.Gaussian(rng, g.N) : null;
        var tape = new Tape();
        tape.Begin();
        var y = tape.Conv2d(tape.Constant(x, 0, g.Batch, conv.Input.Size), tape.Constant(w, 0, g.N, conv.PatchSize),
            bias is null ? null : tape.Constant(bias, 0, 1, g.N), conv);
        y.Rows.Should().Be(g.Batch);
        y.Cols.Should().Be(conv.Output.Size);
        Checks.RelativeError(y.Value, Reference(g, x, w, bias)).Should().BeLessThan(1e-14);
    }

    [TestCaseSource(nameof(Cases))]
    public void Gradient_matches_central_finite_differences_of_the_loss(OpCase c) => OpChecks.Gradient(c, Tolerance);

    [TestCaseSource(nameof(Cases))]
    public void Tangent_matches_finite_differences_of_the_forward_value(OpCase c) => OpChecks.Tangent(c, Tolerance);

    [TestCaseSource(nameof(Cases))]
    public void Backward_tangent_matches_finite_differences_of_the_gradient(OpCase c) => OpChecks.BackwardTangent(c, Tolerance);

    [Test]
    public void Output_size_is_the_floor_of_padded_input_minus_kernel_over_stride_plus_one()
    {
        var g = new Conv2dGeometry(new ImageShape(1, 28, 28), 16, 5);
        g.Output.Should().Be(new ImageShape(16, 24, 24));
        g.PatchSize.Should().Be(25);
        g.WeightCount.Should().Be(400);
        new Conv2dGeometry(new ImageShape(3, 7, 8), 4, 3, 2, 1).Output.Should().Be(new ImageShape(4, 4, 4));
        new Conv2dGeometry(new ImageShape(3, 6, 5), 4, 1, 2).Output.Should().Be(new ImageShape(4, 3, 3));
    }

    [Test]
    public void A_kernel_larger_than_the_padded_input_is_rejected_naming_kernel_value_and_padded_size()
    {
        var act = () => new Conv2dGeometry(new ImageShape(1, 4, 6), 2, 5, 1, 0);
        act.Should().Throw<ArgumentException>().WithMessage("*'kernel' was 5*at most the padded input 4x6*")
            .Which.ParamName.Should().Be("kernel");
    }

    [TestCase(0, 3, 1, 0, "outChannels")]
    [TestCase(2, 0, 1, 0, "kernel")]
    [TestCase(2, 3, 0, 0, "stride")]
    [TestCase(2, 3, 1, -1, "padding")]
    public void Non_positive_sizes_and_negative_padding_are_rejected_by_name(int outChannels, int kernel, int stride, int padding, string name)
    {
        var act = () => new Conv2dGeometry(new ImageShape(1, 5, 5), outChannels, kernel, stride, padding);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage($"*'{name}' was*").Which.ParamName.Should().Be(name);
    }

    [Test]
    public void Shapes_that_do_not_match_the_geometry_are_rejected_naming_the_argument()
    {
        var g = new Conv2dGeometry(new ImageShape(2, 5, 5), 3, 3);
        var tape = new Tape();
        tape.Begin();
        var x = tape.Constant(new double[2 * 50], 0, 2, 50);
        var w = tape.Constant(new double[3 * 18], 0, 3, 18);
        var b = tape.Constant(new double[3], 0, 1, 3);
        var badX = tape.Constant(new double[2 * 49], 0, 2, 49);
        var badW = tape.Constant(new double[3 * 9], 0, 3, 9);
        var badB = tape.Constant(new double[2], 0, 1, 2);
        ((Action)(() => tape.Conv2d(badX, w, b, g))).Should().Throw<ArgumentException>().WithMessage("*'x' is 2x49*batch x 50*2x5x5*");
        ((Action)(() => tape.Conv2d(x, badW, b, g))).Should().Throw<ArgumentException>().WithMessage("*'weight' is 3x9*3x18*");
        ((Action)(() => tape.Conv2d(x, w, badB, g))).Should().Throw<ArgumentException>().WithMessage("*'bias' is 1x2*1x3*");
    }

    [Test]
    public void Forward_issues_one_GEMM_of_N_by_CKK_by_group_HoWo_for_a_group_of_images()
    {
        var g = new Conv2dGeometry(new ImageShape(2, 9, 8), 4, 3, 2, 1);
        int batch = 3;
        var tape = new Tape();
        tape.Begin();
        var x = tape.Constant(new double[batch * g.Input.Size], 0, batch, g.Input.Size);
        var w = tape.Constant(new double[g.WeightCount], 0, g.OutChannels, g.PatchSize);
        using var gemms = CountingBlas.Start();
        tape.Conv2d(x, w, null, g);
        gemms.Calls.Should().Be(1, "the three small images form one group, side by side in one patch matrix");
        gemms.Flops.Should().Be(2 * batch * g.MultiplyAddsPerImage);
        g.MultiplyAddsPerImage.Should().Be(4L * 18 * (5 * 4));
    }

    [Test]
    public void A_warm_tape_allocates_nothing_for_a_small_CNN_gradient_and_Hessian_block()
    {
        // 1x8x8 → conv(3, k3, p1) → tanh → maxpool 2 → conv(4, k3, s2, p1) → tanh → avgpool 2 → flatten → linear 3 → cross-entropy.
        var c1 = new Conv2dGeometry(new ImageShape(1, 8, 8), 3, 3, 1, 1);
        var p1 = new Pool2dGeometry(c1.Output, 2);
        var c2 = new Conv2dGeometry(p1.Output, 4, 3, 2, 1);
        var p2 = new Pool2dGeometry(c2.Output, 2);
        int batch = 5, dense = p2.Output.Size;
        int o1 = 0, o2 = o1 + c1.WeightCount + 3, o3 = o2 + c2.WeightCount + 4, size = o3 + 3 * dense + 3;
        var rng = new Rng(21);
        var x = AutodiffTestSupport.Gaussian(rng, batch * c1.Input.Size);
        int[] labels = [0, 2, 1, 1, 0];
        TapeFunction f = (t, th) =>
        {
            var h = t.Constant(x, 0, batch, c1.Input.Size);
            h = t.MaxPool2d(t.Tanh(t.Conv2d(h, t.Slice(th, o1, 3, c1.PatchSize), t.Slice(th, o1 + c1.WeightCount, 1, 3), c1)), p1);
            h = t.AvgPool2d(t.Tanh(t.Conv2d(h, t.Slice(th, o2, 4, c2.PatchSize), t.Slice(th, o2 + c2.WeightCount, 1, 4), c2)), p2);
            var z = t.Linear(t.Flatten(h, p2.Output), t.Slice(th, o3, 3, dense), t.Slice(th, o3 + 3 * dense, 1, 3));
            t.MarkNetworkOutput(z);
            return t.SoftmaxCrossEntropy(z, labels);
        };
        var theta = AutodiffTestSupport.Gaussian(rng, size);
        var vectors = AutodiffTestSupport.Gaussian(rng, 3 * size);
        var gradient = new double[size];
        var products = new double[3 * size];
        var tape = new Tape();
        void Step()
        {
            tape.Gradient(f, theta, gradient);
            tape.HessianVectorProduct(f, theta, vectors.AsSpan(0, size), gradient, products.AsSpan(0, size));
            tape.HessianBlockProduct(f, theta, vectors, 3, gradient, products, CurvatureKind.GaussNewton);
        }
        Step();
        Step();
        using var gemms = CountingBlas.Start();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 3; i++) Step();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        gemms.Calls.Should().BeGreaterThan(0);
        gemms.FacadeAllocatedBytes.Should().Be(0, "the BLAS facade reuses its buffers");
        allocated.Should().Be(0, "the tape reuses its nodes, im2col buffers and argmax indices");
    }

    [Test]
    public void GEMM_work_of_two_convolutions_is_2c1_plus_3c2_per_gradient_and_2c1_plus_6c2_more_per_direction()
    {
        // Layer 1 reads data (no tangent, no adjoint), layer 2 reads layer 1's activations;
        // c_l = batch·N·(C·K·K)·(Ho·Wo) multiply–adds. docs/autodiff.md derives the counts.
        var c1 = new Conv2dGeometry(new ImageShape(2, 7, 6), 3, 3, 1, 1);
        var c2 = new Conv2dGeometry(c1.Output, 4, 3, 2, 0);
        int batch = 3, m = 3;
        long mac1 = batch * c1.MultiplyAddsPerImage, mac2 = batch * c2.MultiplyAddsPerImage;
        int size = c1.WeightCount + 3 + c2.WeightCount + 4;
        var rng = new Rng(22);
        var x = AutodiffTestSupport.Gaussian(rng, batch * c1.Input.Size);
        TapeFunction f = (t, th) =>
        {
            var h = t.Tanh(t.Conv2d(t.Constant(x, 0, batch, c1.Input.Size), t.Slice(th, 0, 3, c1.PatchSize), t.Slice(th, c1.WeightCount, 1, 3), c1));
            int o = c1.WeightCount + 3;
            return t.Sum(t.Square(t.Conv2d(h, t.Slice(th, o, 4, c2.PatchSize), t.Slice(th, o + c2.WeightCount, 1, 4), c2)));
        };
        var theta = AutodiffTestSupport.Gaussian(rng, size);
        var tape = new Tape();
        using var gemms = CountingBlas.Start();
        tape.Gradient(f, theta);
        gemms.Flops.Should().Be(2 * (2 * mac1 + 3 * mac2));
        gemms.Reset();
        tape.HessianVectorProduct(f, theta, AutodiffTestSupport.Gaussian(rng, size));
        gemms.Flops.Should().Be(2 * (4 * mac1 + 9 * mac2));
        gemms.Reset();
        var v = new Matrix(m, size);
        rng.FillGaussian(v.Data);
        tape.HessianBlockProduct(f, theta, v);
        gemms.Flops.Should().Be(2 * ((2 + 2 * m) * mac1 + (3 + 6 * m) * mac2));
    }


    [Test]
    public void Worked_example_2x2_kernel_on_a_3x3_image_gives_the_hand_computed_output_adjoints_and_mixed_second_derivatives()
    {
        // docs/autodiff.md §5 "2-D convolution": θ = (x 3×3, W 2×2, b), L = ΣY, stride 1, no padding.
        double[] x = [1, 2, 0, 0, 1, 3, 2, 1, 1];
        double[] w = [1, -1, 0, 2];
        const double bias = 0.5;
        var geometry = new Conv2dGeometry(new ImageShape(1, 3, 3), 1, 2);
        Tensor Loss(Tape t, Tensor p) => t.Sum(t.Conv2d(t.Slice(p, 0, 1, 9), t.Slice(p, 9, 1, 4), t.Slice(p, 13, 1, 1), geometry));
        double[] theta = [.. x, .. w, bias];

        // The direct sums: Y[i,j] = b + Σ w[k,l]·x[i+k, j+l]; ∂L/∂x[p,q] = Σ of the w that touch (p,q); ∂L/∂w[k,l] = Σ_{i,j} x[i+k, j+l].
        var y = new double[4];
        var xBar = new double[9];
        var wBar = new double[4];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++)
            {
                y[i * 2 + j] = bias;
                for (int k = 0; k < 2; k++)
                    for (int l = 0; l < 2; l++)
                    {
                        y[i * 2 + j] += w[k * 2 + l] * x[(i + k) * 3 + j + l];
                        xBar[(i + k) * 3 + j + l] += w[k * 2 + l];
                        wBar[k * 2 + l] += x[(i + k) * 3 + j + l];
                    }
            }
        y.Should().Equal(1.5, 8.5, 1.5, 0.5);
        xBar.Should().Equal(1, 0, -1, 1, 2, 1, 0, 2, 2);
        wBar.Should().Equal(4, 6, 4, 6);

        var moveW00 = new double[14];
        moveW00[9] = 1;
        var r = new Tape().HessianVectorProduct(Loss, theta, moveW00);
        r.Loss.Should().BeApproximately(y.Sum(), 1e-14);
        r.Gradient.Should().Equal([.. xBar, .. wBar, 4.0], (a, b) => Math.Abs(a - b) < 1e-14);
        // ∂²L/∂x[p,q]∂w₀₀ = 1 where (p,q) is the top-left of a window: p, q < 2.
        r.Product.Should().Equal([1.0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0], (a, b) => Math.Abs(a - b) < 1e-14);

        var moveCentre = new double[14];
        moveCentre[4] = 1;
        // The centre pixel sits once under each kernel entry: ∂²L/∂w[k,l]∂x₁₁ = 1 for all four.
        new Tape().HessianVectorProduct(Loss, theta, moveCentre).Product
            .Should().Equal([0.0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0], (a, b) => Math.Abs(a - b) < 1e-14);
    }
}

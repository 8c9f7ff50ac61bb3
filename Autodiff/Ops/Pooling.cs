using static Curvature.Autodiff.Kernels;

namespace Curvature.Autodiff;

public sealed partial class Tape
{
    /// <summary>
    /// Max pooling with kernel = stride = K, no padding, floor mode (PyTorch's
    /// <c>nn.MaxPool2d(K)</c>) on a batch×(C·H·W) tensor of images; returns batch×(C·Ho·Wo).
    /// A tie goes to the first maximum of the window in row-major order, as PyTorch; a NaN
    /// counts as the maximum (the last NaN of the window, as PyTorch's kernel). Derivatives flow through that one entry.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="x"/> is not a batch of images of the geometry's input shape.</exception>
    public Tensor MaxPool2d(Tensor x, Pool2dGeometry geometry) => Pool(MaxPool2dOp.Instance, x, geometry, "MaxPool2d");

    /// <summary>
    /// Average pooling with kernel = stride = K, no padding, floor mode (PyTorch's
    /// <c>nn.AvgPool2d(K)</c>) on a batch×(C·H·W) tensor of images; returns batch×(C·Ho·Wo).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="x"/> is not a batch of images of the geometry's input shape.</exception>
    public Tensor AvgPool2d(Tensor x, Pool2dGeometry geometry) => Pool(AvgPool2dOp.Instance, x, geometry, "AvgPool2d");

    /// <summary>
    /// Flattens a batch of images in (C, H, W) order (PyTorch's <c>nn.Flatten()</c>). Images
    /// are already stored one per row in that order, so this checks the shape and returns
    /// <paramref name="x"/> itself: no op is recorded and nothing is copied.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="x"/> is not a batch of images of <paramref name="shape"/>.</exception>
    public Tensor Flatten(Tensor x, ImageShape shape)
    {
        Check(x, nameof(x));
        ArgumentNullException.ThrowIfNull(shape);
        shape.CheckBatch(x, "Flatten", nameof(x));
        return x;
    }

    Tensor Pool(Op<Pool2dState> op, Tensor x, Pool2dGeometry geometry, string name)
    {
        Check(x, nameof(x));
        ArgumentNullException.ThrowIfNull(geometry);
        geometry.Input.CheckBatch(x, name, nameof(x));
        var y = Node(op, out var s, x.Rows, geometry.Output.Size, x);
        s.Geometry = geometry;
        return Run(y);
    }
}

/// <summary>
/// y = S(x): each output takes the entry a(i) of its window chosen by the forward sweep
/// (the first maximum in row-major order). Given the primal, S is a fixed 0/1 selection
/// matrix, so every derivative rule uses the same a(i) and the op has no curvature term.
/// Forward: yᵢ = max over window i = x_{a(i)}. Tangent: ẏᵢ = ẋ_{a(i)}.
/// Backward: x̄_{a(i)} += ȳᵢ (other entries get nothing). Backward tangent: x̄̇_{a(i)} += ȳ̇ᵢ.
/// The argmax, an index into the whole batch's value, is kept in <see cref="Pool2dState.Argmax"/>.
/// </summary>
internal sealed class MaxPool2dOp : Op<Pool2dState>
{
    public static readonly MaxPool2dOp Instance = new();
    public override string Name => "max_pool2d";

    public override void Forward(Tensor y, Pool2dState s)
    {
        var g = s.Geometry;
        var x = y.A!.Value;
        var v = y.ValueMut;
        var arg = Tensor.Grow(ref s.Argmax, y.Size);
        int K = g.Kernel, H = g.Input.Height, W = g.Input.Width, Ho = g.Output.Height, Wo = g.Output.Width;
        int i = 0;
        for (int b = 0; b < y.Rows; b++)
            for (int c = 0; c < g.Input.Channels; c++)
            {
                int plane = b * g.Input.Size + c * H * W;
                for (int oh = 0; oh < Ho; oh++)
                    for (int ow = 0; ow < Wo; ow++, i++)
                    {
                        int best = plane + oh * K * W + ow * K;
                        double max = x[best];
                        for (int ki = 0; ki < K; ki++)
                        {
                            int rowStart = plane + (oh * K + ki) * W + ow * K;
                            for (int kj = 0; kj < K; kj++)
                            {
                                double e = x[rowStart + kj];
                                // Strictly greater keeps the first of tied maxima; a NaN wins, as in PyTorch's kernel.
                                if (e > max || double.IsNaN(e))
                                {
                                    max = e;
                                    best = rowStart + kj;
                                }
                            }
                        }
                        v[i] = max;
                        arg[i] = best;
                    }
            }
    }

    public override void Tangent(Tensor y, Pool2dState s)
    {
        var x = y.A!;
        var arg = Tensor.Grow(ref s.Argmax, y.Size);
        for (int j = 0; j < y.Tape.TangentCount; j++)
        {
            var src = x.TangentMut(j);
            var dst = y.TangentMut(j);
            for (int i = 0; i < dst.Length; i++) dst[i] = src[arg[i]];
        }
    }

    /// <summary>dst (+)= Sᵀ src: each output's value added to its argmax; untouched entries zeroed first when overwriting.</summary>
    static void Scatter(ReadOnlySpan<double> src, int[] arg, Span<double> dst, bool accumulate)
    {
        if (!accumulate) dst.Clear();
        for (int i = 0; i < src.Length; i++) dst[arg[i]] += src[i];
    }

    public override void Backward(Tensor y, Pool2dState s)
    {
        var x = y.A!;
        if (!x.RequiresGrad) return;
        bool acc = x.BeginAdjoint();
        Scatter(y.AdjointMut, Tensor.Grow(ref s.Argmax, y.Size), x.AdjointMut, acc);
    }

    public override void BackwardTangent(Tensor y, Pool2dState s, bool curvature)
    {
        var x = y.A!;
        if (!y.AdjointTangentTouched || !x.RequiresGrad) return;
        bool acc = x.BeginAdjointTangent();
        var arg = Tensor.Grow(ref s.Argmax, y.Size);
        for (int j = 0; j < y.Tape.TangentCount; j++) Scatter(y.AdjointTangentMut(j), arg, x.AdjointTangentMut(j), acc);
    }
}

/// <summary>
/// y = A x: each output is the mean of its K×K window, a fixed linear map with no curvature term.
/// Forward: yᵢ = (1/K²) Σ_{window i} x. Tangent: ẏ = Aẋ.
/// Backward: x̄ += Aᵀȳ (each window entry gets ȳᵢ/K²; entries outside every window nothing).
/// Backward tangent: x̄̇ += Aᵀȳ̇.
/// </summary>
internal sealed class AvgPool2dOp : Op<Pool2dState>
{
    public static readonly AvgPool2dOp Instance = new();
    public override string Name => "avg_pool2d";

    /// <summary>dst = A src for a batch of images.</summary>
    static void Average(Pool2dGeometry g, int batch, ReadOnlySpan<double> src, Span<double> dst)
    {
        int K = g.Kernel, H = g.Input.Height, W = g.Input.Width, Ho = g.Output.Height, Wo = g.Output.Width;
        double scale = 1.0 / (K * K);
        int i = 0;
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < g.Input.Channels; c++)
            {
                var plane = src.Slice(b * g.Input.Size + c * H * W, H * W);
                for (int oh = 0; oh < Ho; oh++)
                    for (int ow = 0; ow < Wo; ow++, i++)
                    {
                        double s = 0;
                        for (int ki = 0; ki < K; ki++) s += Sum(plane.Slice((oh * K + ki) * W + ow * K, K));
                        dst[i] = scale * s;
                    }
            }
    }

    /// <summary>dst (+)= Aᵀ src; entries outside every window are zeroed when overwriting.</summary>
    static void Spread(Pool2dGeometry g, int batch, ReadOnlySpan<double> src, Span<double> dst, bool accumulate)
    {
        int K = g.Kernel, H = g.Input.Height, W = g.Input.Width, Ho = g.Output.Height, Wo = g.Output.Width;
        double scale = 1.0 / (K * K);
        if (!accumulate) dst.Clear();
        int i = 0;
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < g.Input.Channels; c++)
            {
                var plane = dst.Slice(b * g.Input.Size + c * H * W, H * W);
                for (int oh = 0; oh < Ho; oh++)
                    for (int ow = 0; ow < Wo; ow++, i++)
                    {
                        double share = scale * src[i];
                        for (int ki = 0; ki < K; ki++)
                        {
                            var row = plane.Slice((oh * K + ki) * W + ow * K, K);
                            for (int kj = 0; kj < K; kj++) row[kj] += share;
                        }
                    }
            }
    }

    public override void Forward(Tensor y, Pool2dState s) => Average(s.Geometry, y.Rows, y.A!.Value, y.ValueMut);

    public override void Tangent(Tensor y, Pool2dState s)
    {
        var g = s.Geometry;
        for (int j = 0; j < y.Tape.TangentCount; j++) Average(g, y.Rows, y.A!.TangentMut(j), y.TangentMut(j));
    }

    public override void Backward(Tensor y, Pool2dState s)
    {
        var x = y.A!;
        if (!x.RequiresGrad) return;
        bool acc = x.BeginAdjoint();
        Spread(s.Geometry, y.Rows, y.AdjointMut, x.AdjointMut, acc);
    }

    public override void BackwardTangent(Tensor y, Pool2dState s, bool curvature)
    {
        var x = y.A!;
        if (!y.AdjointTangentTouched || !x.RequiresGrad) return;
        bool acc = x.BeginAdjointTangent();
        var g = s.Geometry;
        for (int j = 0; j < y.Tape.TangentCount; j++) Spread(g, y.Rows, y.AdjointTangentMut(j), x.AdjointTangentMut(j), acc);
    }
}

/// <summary>A pooling node's geometry and, for max pooling, the argmax of each window.</summary>
internal sealed class Pool2dState : OpState
{
    public Pool2dGeometry Geometry = null!;
    public int[] Argmax = [];
}

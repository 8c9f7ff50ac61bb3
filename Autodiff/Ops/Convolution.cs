using static Curvature.Autodiff.Kernels;

namespace Curvature.Autodiff;

public sealed partial class Tape
{
    /// <summary>
    /// 2-D convolution with zero padding and stride (PyTorch's <c>F.conv2d(x, w, b, stride, padding)</c>):
    /// <paramref name="x"/> is batch×(C·H·W), one image per row in (C, H, W) order;
    /// <paramref name="weight"/> is N×(C·K·K), the [N, C, K, K] weight row-major (a
    /// <see cref="Slice"/> of θ); <paramref name="bias"/> is 1×N or null. Returns the
    /// batch×(N·Ho·Wo) output, each row an image in (N, Ho, Wo) order. Each image is one
    /// GEMM W·im2col(x) through the BLAS facade.
    /// </summary>
    /// <exception cref="ArgumentException">A shape does not match <paramref name="geometry"/>.</exception>
    public Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, Conv2dGeometry geometry)
    {
        Check(x, nameof(x));
        Check(weight, nameof(weight));
        ArgumentNullException.ThrowIfNull(geometry);
        geometry.Input.CheckBatch(x, "Conv2d", nameof(x));
        if (weight.Rows != geometry.OutChannels || weight.Cols != geometry.PatchSize)
            throw new ArgumentException($"Conv2d: argument 'weight' is {weight.Shape}; expected {geometry.OutChannels}x{geometry.PatchSize} (out channels x in·kH·kW for {geometry}).", nameof(weight));
        if (bias is not null)
        {
            Check(bias, nameof(bias));
            if (bias.Rows != 1 || bias.Cols != geometry.OutChannels)
                throw new ArgumentException($"Conv2d: argument 'bias' is {bias.Shape}; expected 1x{geometry.OutChannels}.", nameof(bias));
        }
        var y = Node(Conv2dOp.Instance, x.Rows, geometry.Output.Size, x, weight, bias);
        y.Geometry = geometry;
        return Run(y);
    }
}

/// <summary>
/// Y_b = W·U(x_b) + b1ᵀ for every image b, where U = im2col maps a C×H×W image to its
/// (C·K·K)×(Ho·Wo) patch matrix (zero outside the image) and Y_b is the N×(Ho·Wo) output
/// image. U is linear, so this is a bilinear map of (x, W) plus the bias.
/// Forward: Y_b = W U(x_b) + b1ᵀ.
/// Tangent: Ẏ_b = W U(ẋ_b) + Ẇ U(x_b) + ḃ1ᵀ.
/// Backward: W̄ += Σ_b Ȳ_b U(x_b)ᵀ; x̄_b += Uᵀ(Wᵀ Ȳ_b) (col2im); b̄ += Σ_b Ȳ_b 1.
/// Backward tangent: W̄̇ += Σ_b Ȳ̇_b U(x_b)ᵀ + [Ȳ_b U(ẋ_b)ᵀ];
/// x̄̇_b += Uᵀ(Wᵀ Ȳ̇_b + [Ẇᵀ Ȳ_b]); b̄̇ += Σ_b Ȳ̇_b 1.
/// U(x_b) is rebuilt per image when needed instead of kept for the whole batch: one image's
/// patch matrix stays in cache, and the batch's would cost K²× the input's memory.
/// Aux0 holds U(x_b), Aux1 U(ẋ_b) or the patch adjoint.
/// </summary>
internal sealed class Conv2dOp : Op
{
    public static readonly Conv2dOp Instance = new();
    public override string Name => "conv2d";

    static Conv2dGeometry Geo(Tensor y) => (Conv2dGeometry)y.Geometry!;

    static Mat Patches(Tensor y, double[] buffer) { var g = Geo(y); return new(buffer, 0, g.PatchSize, g.Output.Plane); }

    /// <summary>The N×(Ho·Wo) image b of a batch tensor's storage window starting at <paramref name="offset"/>.</summary>
    static Mat Image(Conv2dGeometry g, double[] array, int offset, int b) => new(array, offset + b * g.Output.Size, g.OutChannels, g.Output.Plane);

    public override void Forward(Tensor y)
    {
        var x = y.A!; var w = y.B!; var bias = y.C;
        var g = Geo(y);
        var cols = y.Aux0Buffer(g.PatchSize * g.Output.Plane);
        for (int b = 0; b < y.Rows; b++)
        {
            var yb = Image(g, y.ValueArray, y.ValueOffset, b);
            if (bias is not null) FillChannels(bias.Value, g, y.ValueMut.Slice(b * g.Output.Size, g.Output.Size));
            Im2Col(g, x.Value.Slice(b * g.Input.Size, g.Input.Size), cols);
            Gemm(ValueMat(w), false, Patches(y, cols), false, bias is null ? 0.0 : 1.0, yb);
        }
    }

    public override void Tangent(Tensor y)
    {
        var x = y.A!; var w = y.B!; var bias = y.C;
        var g = Geo(y);
        int m = y.Tape.TangentCount;
        int n = g.PatchSize * g.Output.Plane;
        var cols = y.Aux0Buffer(n);
        var tcols = y.Aux1Buffer(n);
        bool hasBias = bias is not null && bias.HasTangent;
        for (int b = 0; b < y.Rows; b++)
        {
            if (hasBias)
                for (int j = 0; j < m; j++) FillChannels(bias!.TangentMut(j), g, y.TangentMut(j).Slice(b * g.Output.Size, g.Output.Size));
            if (w.HasTangent)
            {
                Im2Col(g, x.Value.Slice(b * g.Input.Size, g.Input.Size), cols);
                for (int j = 0; j < m; j++)
                    Gemm(TangentMat(w, j), false, Patches(y, cols), false, hasBias ? 1.0 : 0.0, Image(g, y.TangentArray, y.TangentOffset + j * y.TangentStride, b));
            }
            if (x.HasTangent)
                for (int j = 0; j < m; j++)
                {
                    Im2Col(g, x.TangentMut(j).Slice(b * g.Input.Size, g.Input.Size), tcols);
                    Gemm(ValueMat(w), false, Patches(y, tcols), false, hasBias || w.HasTangent ? 1.0 : 0.0, Image(g, y.TangentArray, y.TangentOffset + j * y.TangentStride, b));
                }
        }
    }

    public override void Backward(Tensor y)
    {
        var x = y.A!; var w = y.B!; var bias = y.C;
        var g = Geo(y);
        int n = g.PatchSize * g.Output.Plane;
        var cols = y.Aux0Buffer(n);
        var dcols = y.Aux1Buffer(n);
        bool accW = w.RequiresGrad && w.BeginAdjoint();
        bool accB = bias is not null && bias.RequiresGrad && bias.BeginAdjoint();
        bool accX = x.RequiresGrad && x.BeginAdjoint();
        for (int b = 0; b < y.Rows; b++)
        {
            var yBar = Image(g, y.AdjointArray, y.AdjointOffset, b);
            if (w.RequiresGrad)
            {
                Im2Col(g, x.Value.Slice(b * g.Input.Size, g.Input.Size), cols);
                Gemm(yBar, false, Patches(y, cols), true, accW || b > 0 ? 1.0 : 0.0, AdjointMat(w));
            }
            if (bias is not null && bias.RequiresGrad)
                PutChannelSums(y.AdjointMut.Slice(b * g.Output.Size, g.Output.Size), g, bias.AdjointMut, accB || b > 0);
            if (x.RequiresGrad)
            {
                Gemm(ValueMat(w), true, yBar, false, 0.0, Patches(y, dcols));
                Col2Im(g, dcols, x.AdjointMut.Slice(b * g.Input.Size, g.Input.Size), accX);
            }
        }
    }

    public override void BackwardTangent(Tensor y, bool curvature)
    {
        var x = y.A!; var w = y.B!; var bias = y.C;
        var g = Geo(y);
        int m = y.Tape.TangentCount;
        int n = g.PatchSize * g.Output.Plane;
        bool linear = y.AdjointTangentTouched;
        bool haveYBar = curvature && y.AdjointTouched;
        bool curvW = haveYBar && x.HasTangent;   // W̄̇ += Ȳ U(ẋ)ᵀ
        bool curvX = haveYBar && w.HasTangent;   // x̄̇ += Uᵀ(Ẇᵀ Ȳ)
        bool doW = w.RequiresGrad && (linear || curvW);
        bool doX = x.RequiresGrad && (linear || curvX);
        bool doB = bias is not null && bias.RequiresGrad && linear;
        if (!(doW || doX || doB)) return;
        var cols = y.Aux0Buffer(n);
        var scratch = y.Aux1Buffer(n);
        bool accW = doW && w.BeginAdjointTangent();
        bool accX = doX && x.BeginAdjointTangent();
        bool accB = doB && bias!.BeginAdjointTangent();
        for (int b = 0; b < y.Rows; b++)
        {
            var yBar = Image(g, y.AdjointArray, y.AdjointOffset, b);
            if (doW && linear) Im2Col(g, x.Value.Slice(b * g.Input.Size, g.Input.Size), cols);
            for (int j = 0; j < m; j++)
            {
                var yBarDot = Image(g, y.AdjointTangentArray, y.AdjointTangentOffset + j * y.AdjointTangentStride, b);
                if (doW)
                {
                    bool acc = accW || b > 0;
                    if (linear) { Gemm(yBarDot, false, Patches(y, cols), true, acc ? 1.0 : 0.0, AdjointTangentMat(w, j)); acc = true; }
                    if (curvW)
                    {
                        Im2Col(g, x.TangentMut(j).Slice(b * g.Input.Size, g.Input.Size), scratch);
                        Gemm(yBar, false, Patches(y, scratch), true, acc ? 1.0 : 0.0, AdjointTangentMat(w, j));
                    }
                }
                if (doB) PutChannelSums(y.AdjointTangentMut(j).Slice(b * g.Output.Size, g.Output.Size), g, bias!.AdjointTangentMut(j), accB || b > 0);
                if (doX)
                {
                    bool written = false;
                    if (linear) { Gemm(ValueMat(w), true, yBarDot, false, 0.0, Patches(y, scratch)); written = true; }
                    if (curvX) Gemm(TangentMat(w, j), true, yBar, false, written ? 1.0 : 0.0, Patches(y, scratch));
                    Col2Im(g, scratch, x.AdjointTangentMut(j).Slice(b * g.Input.Size, g.Input.Size), accX);
                }
            }
        }
    }

    /// <summary>Each channel plane of the N×(Ho·Wo) image <paramref name="dst"/> ← the channel's entry of the 1×N row <paramref name="row"/>.</summary>
    static void FillChannels(ReadOnlySpan<double> row, Conv2dGeometry g, Span<double> dst)
    {
        int plane = g.Output.Plane;
        for (int o = 0; o < g.OutChannels; o++) dst.Slice(o * plane, plane).Fill(row[o]);
    }

    /// <summary>dst[o] (+)= Σ over channel o's plane of the N×(Ho·Wo) image <paramref name="image"/>.</summary>
    static void PutChannelSums(ReadOnlySpan<double> image, Conv2dGeometry g, Span<double> dst, bool accumulate)
    {
        int plane = g.Output.Plane;
        for (int o = 0; o < g.OutChannels; o++)
        {
            double s = Sum(image.Slice(o * plane, plane));
            if (accumulate) dst[o] += s;
            else dst[o] = s;
        }
    }

    /// <summary>
    /// For kernel offset <paramref name="k"/> along one axis, the output positions [lo, hi)
    /// whose input coordinate o·S − P + k lies inside [0, size).
    /// </summary>
    static (int Lo, int Hi) Inside(int k, int size, int outSize, int stride, int padding)
    {
        int first = padding - k;                          // o·S ≥ P − k
        int lo = first <= 0 ? 0 : (first + stride - 1) / stride;
        int last = size - 1 + padding - k;                // o·S ≤ size − 1 + P − k
        int hi = last < 0 ? 0 : Math.Min(outSize, last / stride + 1);
        return (lo, Math.Max(lo, hi));
    }

    /// <summary>
    /// im2col: the (C·K·K)×(Ho·Wo) patch matrix of one C×H×W image; row (c, ki, kj), column
    /// (oh, ow) holds x[c, oh·S − P + ki, ow·S − P + kj], or 0 in the padding. Each output
    /// row segment is one span copy when the stride is 1.
    /// </summary>
    internal static void Im2Col(Conv2dGeometry g, ReadOnlySpan<double> image, double[] colsArray)
    {
        int K = g.Kernel, S = g.Stride, P = g.Padding;
        int H = g.Input.Height, W = g.Input.Width, Ho = g.Output.Height, Wo = g.Output.Width;
        var cols = colsArray.AsSpan(0, g.PatchSize * Ho * Wo);
        int row = 0;
        for (int c = 0; c < g.Input.Channels; c++)
        {
            var channel = image.Slice(c * H * W, H * W);
            for (int ki = 0; ki < K; ki++)
            {
                var (ohLo, ohHi) = Inside(ki, H, Ho, S, P);
                for (int kj = 0; kj < K; kj++, row++)
                {
                    var dst = cols.Slice(row * Ho * Wo, Ho * Wo);
                    var (owLo, owHi) = Inside(kj, W, Wo, S, P);
                    dst[..(ohLo * Wo)].Clear();
                    dst[(ohHi * Wo)..].Clear();
                    for (int oh = ohLo; oh < ohHi; oh++)
                    {
                        var seg = dst.Slice(oh * Wo, Wo);
                        var src = channel.Slice((oh * S - P + ki) * W, W);
                        seg[..owLo].Clear();
                        seg[owHi..].Clear();
                        if (S == 1) src.Slice(owLo - P + kj, owHi - owLo).CopyTo(seg[owLo..owHi]);
                        else for (int ow = owLo; ow < owHi; ow++) seg[ow] = src[ow * S - P + kj];
                    }
                }
            }
        }
    }

    /// <summary>
    /// col2im, the adjoint of <see cref="Im2Col"/>: image (+)= Uᵀ(cols), each patch entry
    /// added back to the pixel it was read from (padding entries are dropped). Overwrites
    /// (after zeroing) unless <paramref name="accumulate"/>.
    /// </summary>
    internal static void Col2Im(Conv2dGeometry g, double[] colsArray, Span<double> image, bool accumulate)
    {
        int K = g.Kernel, S = g.Stride, P = g.Padding;
        int H = g.Input.Height, W = g.Input.Width, Ho = g.Output.Height, Wo = g.Output.Width;
        var cols = colsArray.AsSpan(0, g.PatchSize * Ho * Wo);
        if (!accumulate) image.Clear();
        int row = 0;
        for (int c = 0; c < g.Input.Channels; c++)
        {
            var channel = image.Slice(c * H * W, H * W);
            for (int ki = 0; ki < K; ki++)
            {
                var (ohLo, ohHi) = Inside(ki, H, Ho, S, P);
                for (int kj = 0; kj < K; kj++, row++)
                {
                    var src = cols.Slice(row * Ho * Wo, Ho * Wo);
                    var (owLo, owHi) = Inside(kj, W, Wo, S, P);
                    for (int oh = ohLo; oh < ohHi; oh++)
                    {
                        var seg = src.Slice(oh * Wo, Wo);
                        var dst = channel.Slice((oh * S - P + ki) * W, W);
                        if (S == 1) Put(seg[owLo..owHi], dst.Slice(owLo - P + kj, owHi - owLo), true);
                        else for (int ow = owLo; ow < owHi; ow++) dst[ow * S - P + kj] += seg[ow];
                    }
                }
            }
        }
    }
}

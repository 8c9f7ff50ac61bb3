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
        var y = Node(Conv2dOp.Instance, out var s, x.Rows, geometry.Output.Size, x, weight, bias);
        s.Geometry = geometry;
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
/// Images are processed in groups of G: the G patch matrices sit side by side in one
/// (C·K·K)×(G·Ho·Wo) buffer, so each product is one GEMM per group with G·Ho·Wo columns
/// (or inner dimension) instead of G thin GEMMs; the N×(G·Ho·Wo) outputs and output
/// adjoints are copied between the group buffer and the per-image rows. G keeps the
/// group's patch matrix near 2 MB (cache-sized) and is rebuilt per group rather than
/// kept for the batch, which would cost K²× the input's memory.
/// <see cref="Conv2dState.Patches"/> holds U(x) of a group; <see cref="Conv2dState.Scratch"/>
/// holds, one after another, a second patch buffer (U(ẋ) or the patch adjoint) and two
/// N×(G·Ho·Wo) output buffers.
/// </summary>
internal sealed class Conv2dOp : Op<Conv2dState>, IPerExampleOp
{
    public static readonly Conv2dOp Instance = new();
    public override string Name => "conv2d";

    /// <summary>Entries of a group's patch matrix aimed at (2 MB of doubles).</summary>
    const int GroupEntries = 1 << 18;

    /// <summary>Images per group for this geometry: at least 1, at most the batch and 64, and a group's patch and output matrices stay within <see cref="GroupEntries"/> unless one image alone exceeds it.</summary>
    static int GroupSize(Conv2dGeometry g, int rows)
    {
        int byPatches = GroupEntries / Math.Max(1, g.PatchSize * g.Output.Plane);
        int byOutputs = GroupEntries / Math.Max(1, g.OutChannels * g.Output.Plane);
        return Math.Clamp(Math.Min(byPatches, byOutputs), 1, Math.Max(1, Math.Min(rows, 64)));
    }

    /// <summary>The buffers of one sweep: patches, then (in one scratch array) second patches and two output-group buffers.</summary>
    readonly record struct Buffers(double[] Cols, double[] Aux, int PatchLength, int OutLength)
    {
        public Mat Patches(int width) => new(Cols, 0, PatchRows, width);
        public Mat Scratch(int width) => new(Aux, 0, PatchRows, width);
        public Mat Out1(int n, int width) => new(Aux, PatchLength, n, width);
        public Mat Out2(int n, int width) => new(Aux, PatchLength + OutLength, n, width);
        public int PatchRows { get; init; }
    }

    static Buffers Allocate(Conv2dState s, Conv2dGeometry g, int group)
    {
        int patch = g.PatchSize * g.Output.Plane * group, outs = g.OutChannels * g.Output.Plane * group;
        return new Buffers(Tensor.Grow(ref s.Patches, patch), Tensor.Grow(ref s.Scratch, patch + 2 * outs), patch, outs) { PatchRows = g.PatchSize };
    }

    /// <summary>im2col of images [b0, b0 + count) of <paramref name="batch"/> side by side into <paramref name="dst"/> (ld = count·Ho·Wo).</summary>
    static void GroupIm2Col(Conv2dGeometry g, ReadOnlySpan<double> batch, int b0, int count, Mat dst)
    {
        for (int i = 0; i < count; i++)
            Im2Col(g, batch.Slice((b0 + i) * g.Input.Size, g.Input.Size), dst.Array, dst.Offset + i * g.Output.Plane, dst.Cols);
    }

    /// <summary>col2im of the group's patch adjoints back into images [b0, b0 + count) of <paramref name="batch"/>.</summary>
    static void GroupCol2Im(Conv2dGeometry g, Mat src, Span<double> batch, int b0, int count, bool accumulate)
    {
        for (int i = 0; i < count; i++)
            Col2Im(g, src.Array, src.Offset + i * g.Output.Plane, src.Cols, batch.Slice((b0 + i) * g.Input.Size, g.Input.Size), accumulate);
    }

    /// <summary>Gathers the N×(Ho·Wo) images [b0, b0 + count) of a batch tensor's storage into the N×(count·Ho·Wo) group matrix.</summary>
    static void Gather(Conv2dGeometry g, ReadOnlySpan<double> batch, int b0, int count, Mat dst)
    {
        int plane = g.Output.Plane;
        for (int i = 0; i < count; i++)
        {
            var image = batch.Slice((b0 + i) * g.Output.Size, g.Output.Size);
            for (int o = 0; o < g.OutChannels; o++)
                image.Slice(o * plane, plane).CopyTo(dst.Array.AsSpan(dst.Offset + o * dst.Cols + i * plane, plane));
        }
    }

    /// <summary>Scatters the group matrix back to images [b0, b0 + count), adding the channel's entry of <paramref name="bias"/> when given.</summary>
    static void Scatter(Conv2dGeometry g, Mat src, ReadOnlySpan<double> bias, bool hasBias, Span<double> batch, int b0, int count)
    {
        int plane = g.Output.Plane;
        for (int i = 0; i < count; i++)
        {
            var image = batch.Slice((b0 + i) * g.Output.Size, g.Output.Size);
            for (int o = 0; o < g.OutChannels; o++)
            {
                var from = src.Array.AsSpan(src.Offset + o * src.Cols + i * plane, plane);
                var to = image.Slice(o * plane, plane);
                if (hasBias) PutConstant(bias[o], to, false);
                Put(from, to, hasBias);
            }
        }
    }

    public override void Forward(Tensor y, Conv2dState s)
    {
        var x = y.A!; var w = y.B!; var bias = y.C;
        var g = s.Geometry;
        int group = GroupSize(g, y.Rows);
        var buf = Allocate(s, g, group);
        for (int b0 = 0; b0 < y.Rows; b0 += group)
        {
            int count = Math.Min(group, y.Rows - b0), width = count * g.Output.Plane;
            var cols = buf.Patches(width);
            var outs = buf.Out1(g.OutChannels, width);
            GroupIm2Col(g, x.Value, b0, count, cols);
            Gemm(ValueMat(w), false, cols, false, 0.0, outs);
            Scatter(g, outs, bias is null ? default : bias.Value, bias is not null, y.ValueMut, b0, count);
        }
    }

    public override void Tangent(Tensor y, Conv2dState s)
    {
        var x = y.A!; var w = y.B!; var bias = y.C;
        var g = s.Geometry;
        int m = y.Tape.TangentCount;
        int group = GroupSize(g, y.Rows);
        var buf = Allocate(s, g, group);
        bool hasBias = bias is not null && bias.HasTangent;
        for (int b0 = 0; b0 < y.Rows; b0 += group)
        {
            int count = Math.Min(group, y.Rows - b0), width = count * g.Output.Plane;
            var cols = buf.Patches(width);
            var tcols = buf.Scratch(width);
            var outs = buf.Out1(g.OutChannels, width);
            if (w.HasTangent) GroupIm2Col(g, x.Value, b0, count, cols);
            for (int j = 0; j < m; j++)
            {
                bool written = false;
                if (w.HasTangent) { Gemm(TangentMat(w, j), false, cols, false, 0.0, outs); written = true; }
                if (x.HasTangent)
                {
                    GroupIm2Col(g, x.TangentMut(j), b0, count, tcols);
                    Gemm(ValueMat(w), false, tcols, false, written ? 1.0 : 0.0, outs);
                    written = true;
                }
                if (!written) outs.Array.AsSpan(outs.Offset, g.OutChannels * width).Clear();
                Scatter(g, outs, hasBias ? bias!.TangentMut(j) : default, hasBias, y.TangentMut(j), b0, count);
            }
        }
    }

    public override void Backward(Tensor y, Conv2dState s)
    {
        var x = y.A!; var w = y.B!; var bias = y.C;
        var g = s.Geometry;
        int group = GroupSize(g, y.Rows);
        var buf = Allocate(s, g, group);
        bool accW = w.RequiresGrad && w.BeginAdjoint();
        bool accB = bias is not null && bias.RequiresGrad && bias.BeginAdjoint();
        bool accX = x.RequiresGrad && x.BeginAdjoint();
        for (int b0 = 0; b0 < y.Rows; b0 += group)
        {
            int count = Math.Min(group, y.Rows - b0), width = count * g.Output.Plane;
            var yBar = buf.Out1(g.OutChannels, width);
            Gather(g, y.AdjointMut, b0, count, yBar);
            if (w.RequiresGrad)
            {
                var cols = buf.Patches(width);
                GroupIm2Col(g, x.Value, b0, count, cols);
                Gemm(yBar, false, cols, true, accW || b0 > 0 ? 1.0 : 0.0, AdjointMat(w));
            }
            if (bias is not null && bias.RequiresGrad)
                for (int b = b0; b < b0 + count; b++)
                    PutChannelSums(y.AdjointMut.Slice(b * g.Output.Size, g.Output.Size), g, bias.AdjointMut, accB || b > 0);
            if (x.RequiresGrad)
            {
                var dcols = buf.Scratch(width);
                Gemm(ValueMat(w), true, yBar, false, 0.0, dcols);
                GroupCol2Im(g, dcols, x.AdjointMut, b0, count, accX);
            }
        }
    }

    public override void BackwardTangent(Tensor y, Conv2dState s, bool curvature)
    {
        var x = y.A!; var w = y.B!; var bias = y.C;
        var g = s.Geometry;
        int m = y.Tape.TangentCount;
        bool linear = y.AdjointTangentTouched;
        bool haveYBar = curvature && y.AdjointTouched;
        bool curvW = haveYBar && x.HasTangent;   // W̄̇ += Ȳ U(ẋ)ᵀ
        bool curvX = haveYBar && w.HasTangent;   // x̄̇ += Uᵀ(Ẇᵀ Ȳ)
        bool doW = w.RequiresGrad && (linear || curvW);
        bool doX = x.RequiresGrad && (linear || curvX);
        bool doB = bias is not null && bias.RequiresGrad && linear;
        if (!(doW || doX || doB)) return;
        int group = GroupSize(g, y.Rows);
        var buf = Allocate(s, g, group);
        bool accW = doW && w.BeginAdjointTangent();
        bool accX = doX && x.BeginAdjointTangent();
        bool accB = doB && bias!.BeginAdjointTangent();
        for (int b0 = 0; b0 < y.Rows; b0 += group)
        {
            int count = Math.Min(group, y.Rows - b0), width = count * g.Output.Plane;
            var cols = buf.Patches(width);
            var scratch = buf.Scratch(width);
            var yBar = buf.Out1(g.OutChannels, width);
            var yBarDot = buf.Out2(g.OutChannels, width);
            if (doW && linear) GroupIm2Col(g, x.Value, b0, count, cols);
            if (curvW || curvX) Gather(g, y.AdjointMut, b0, count, yBar);
            for (int j = 0; j < m; j++)
            {
                if (linear && (doW || doX)) Gather(g, y.AdjointTangentMut(j), b0, count, yBarDot);
                if (doW)
                {
                    bool acc = accW || b0 > 0;
                    if (linear) { Gemm(yBarDot, false, cols, true, acc ? 1.0 : 0.0, AdjointTangentMat(w, j)); acc = true; }
                    if (curvW)
                    {
                        GroupIm2Col(g, x.TangentMut(j), b0, count, scratch);
                        Gemm(yBar, false, scratch, true, acc ? 1.0 : 0.0, AdjointTangentMat(w, j));
                    }
                }
                if (doB)
                    for (int b = b0; b < b0 + count; b++)
                        PutChannelSums(y.AdjointTangentMut(j).Slice(b * g.Output.Size, g.Output.Size), g, bias!.AdjointTangentMut(j), accB || b > 0);
                if (doX)
                {
                    bool written = false;
                    if (linear) { Gemm(ValueMat(w), true, yBarDot, false, 0.0, scratch); written = true; }
                    if (curvX) Gemm(TangentMat(w, j), true, yBar, false, written ? 1.0 : 0.0, scratch);
                    GroupCol2Im(g, scratch, x.AdjointTangentMut(j), b0, count, accX);
                }
            }
        }
    }

    /// <summary>
    /// One convolution node seen example by example: which of its operands are θ's, and for
    /// image r its patches U(x_r) (when the weight is θ's), its adjoint Ȳ_r and the channel
    /// sums of Ȳ_r (when the bias is θ's). The node's pooled buffers hold the patches and a
    /// scratch of <c>extra</c> numbers followed by the channel sums.
    /// </summary>
    readonly struct ImageParts
    {
        public readonly Conv2dGeometry G;
        public readonly bool HasW, HasB;
        public readonly int AtW, AtB;
        public readonly double[] Scratch;
        readonly Tensor _x, _y;
        readonly double[] _patches;
        readonly int _extra;

        public ImageParts(Tensor y, in PerExampleTarget t, int extra)
        {
            _x = y.A!;
            _y = y;
            var s = (Conv2dState)y.State!;
            G = s.Geometry;
            if (t.Locate(_x, out _))
                throw new NotSupportedException($"Per-example gradients: conv2d (node #{y.Index}) reads θ as its input; expected images, one per row.");
            HasW = t.Locate(y.B, out AtW);
            HasB = t.Locate(y.C, out AtB);
            _patches = Tensor.Grow(ref s.Patches, G.PatchSize * G.Output.Plane);
            _extra = extra;
            Scratch = Tensor.Grow(ref s.Scratch, extra + G.OutChannels);
        }

        public Mat Patches => new(_patches, 0, G.PatchSize, G.Output.Plane);
        public int Weights => G.OutChannels * G.PatchSize;
        public Span<double> Adjoint(int r) => _y.AdjointMut.Slice(r * G.Output.Size, G.Output.Size);
        public Mat AdjointMat(int r) => new(_y.AdjointArray, _y.AdjointOffset + r * G.Output.Size, G.OutChannels, G.Output.Plane);
        public Span<double> Channels => Scratch.AsSpan(_extra, G.OutChannels);

        /// <summary>Prepares image r: its patches when the weight is θ's, its channel sums when the bias is.</summary>
        public void Load(int r)
        {
            if (HasW) Im2Col(G, _x.Value.Slice(r * G.Input.Size, G.Input.Size), _patches, 0, G.Output.Plane);
            if (HasB) PutChannelSums(Adjoint(r), G, Channels, false);
        }

        /// <summary>Ȳ_r U(x_r)ᵀ, image r's weight part (after <see cref="Load"/>), in the first N·C·K·K scratch entries.</summary>
        public Span<double> WeightPart(int r)
        {
            Gemm(AdjointMat(r), false, Patches, true, 0.0, new Mat(Scratch, 0, G.OutChannels, G.PatchSize));
            return Scratch.AsSpan(0, Weights);
        }
    }

    /// <summary>
    /// Per example r: W̄_r = Ȳ_r U(x_r)ᵀ (one N×(Ho·Wo) by (Ho·Wo)×(C·K·K) GEMM) and
    /// b̄_r[o] = Σ over channel o's plane of Ȳ_r; summed over r they are the backward rule's W̄ and b̄.
    /// </summary>
    public void PerExampleBackward(Tensor y, in PerExampleTarget t)
    {
        var parts = new ImageParts(y, t, 0);
        var g = parts.G;
        for (int r = t.FirstRow; r < t.FirstRow + t.Count; r++)
        {
            parts.Load(r);
            if (parts.HasW) Gemm(parts.AdjointMat(r), false, parts.Patches, true, 1.0, t.Block(r, parts.AtW, g.OutChannels, g.PatchSize));
            if (parts.HasB) Put(parts.Channels, t.Row(r, parts.AtB, g.OutChannels), true);
        }
    }

    /// <summary>
    /// ‖Ȳ_r U(x_r)ᵀ‖² + Σ_o (channel sum o of Ȳ_r)²: the weight part is formed one image at a
    /// time in the node's scratch (N×C·K·K numbers), since a product of two matrices has no
    /// cheaper norm.
    /// </summary>
    public void PerExampleSquaredNorms(Tensor y, in PerExampleTarget t, Span<double> sums)
    {
        var parts = new ImageParts(y, t, y.B!.Size);
        for (int r = t.FirstRow; r < t.FirstRow + t.Count; r++)
        {
            parts.Load(r);
            double sum = 0;
            if (parts.HasW)
            {
                var part = parts.WeightPart(r);
                sum += Dot(part, part);
            }
            if (parts.HasB) sum += Dot(parts.Channels, parts.Channels);
            sums[r - t.FirstRow] += sum;
        }
    }

    /// <summary>Σ_r (Ȳ_r U(x_r)ᵀ)∘(Ȳ_r U(x_r)ᵀ) and Σ_r (channel sums)²: each image's weight part formed in the node's scratch, then squared.</summary>
    public void PerExampleSquaredSums(Tensor y, in PerExampleTarget t, double[] sums)
    {
        var parts = new ImageParts(y, t, y.B!.Size);
        for (int r = t.FirstRow; r < t.FirstRow + t.Count; r++)
        {
            parts.Load(r);
            if (parts.HasW)
            {
                var part = parts.WeightPart(r);
                PutMul(part, part, sums.AsSpan(parts.AtW, parts.Weights), true);
            }
            if (parts.HasB) PutMul(parts.Channels, parts.Channels, sums.AsSpan(parts.AtB, parts.G.OutChannels), true);
        }
    }

    /// <summary>
    /// (Ȳ_r U(x_r)ᵀ)·V_W + (channel sums of Ȳ_r)·v_b = Σ Ȳ_r ∘ (V_W U(x_r)) + …: per image one
    /// im2col and one N×(C·K·K) by (C·K·K)×(Ho·Wo) GEMM per vector.
    /// </summary>
    public void PerExampleDots(Tensor y, in PerExampleTarget t, double[] v, int k, Span<double> dots)
    {
        var parts = new ImageParts(y, t, y.Cols);
        var g = parts.G;
        for (int r = t.FirstRow; r < t.FirstRow + t.Count; r++)
        {
            parts.Load(r);
            for (int j = 0; j < k; j++)
            {
                double d = 0;
                if (parts.HasW)
                {
                    Gemm(new Mat(v, j * t.Stride + parts.AtW, g.OutChannels, g.PatchSize), false, parts.Patches, false, 0.0, new Mat(parts.Scratch, 0, g.OutChannels, g.Output.Plane));
                    d += Dot(parts.Adjoint(r), parts.Scratch.AsSpan(0, g.Output.Size));
                }
                if (parts.HasB) d += Dot(parts.Channels, v.AsSpan(j * t.Stride + parts.AtB, g.OutChannels));
                dots[(r - t.FirstRow) * k + j] += d;
            }
        }
    }

    /// <summary>Σ_r w_r Ȳ_r U(x_r)ᵀ and Σ_r w_r (channel sums of Ȳ_r): the backward rule with each image's adjoint scaled.</summary>
    public void PerExampleWeightedSums(Tensor y, in PerExampleTarget t, ReadOnlySpan<double> weights, int k, double[] sums)
    {
        var parts = new ImageParts(y, t, y.Cols);
        var g = parts.G;
        for (int r = t.FirstRow; r < t.FirstRow + t.Count; r++)
        {
            parts.Load(r);
            for (int j = 0; j < k; j++)
            {
                double w = weights[(r - t.FirstRow) * k + j];
                if (parts.HasW)
                {
                    PutScaled(w, parts.Adjoint(r), parts.Scratch.AsSpan(0, g.Output.Size), false);
                    Gemm(new Mat(parts.Scratch, 0, g.OutChannels, g.Output.Plane), false, parts.Patches, true, 1.0, new Mat(sums, j * t.Stride + parts.AtW, g.OutChannels, g.PatchSize));
                }
                if (parts.HasB) PutScaled(w, parts.Channels, sums.AsSpan(j * t.Stride + parts.AtB, g.OutChannels), true);
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
    /// im2col: the (C·K·K)×(Ho·Wo) patch matrix of one C×H×W image, written at
    /// <paramref name="offset"/> with rows <paramref name="ld"/> apart; row (c, ki, kj), column
    /// (oh, ow) holds x[c, oh·S − P + ki, ow·S − P + kj], or 0 in the padding. Each output
    /// row segment is one span copy when the stride is 1.
    /// </summary>
    internal static void Im2Col(Conv2dGeometry g, ReadOnlySpan<double> image, double[] colsArray, int offset, int ld)
    {
        int K = g.Kernel, S = g.Stride, P = g.Padding;
        int H = g.Input.Height, W = g.Input.Width, Ho = g.Output.Height, Wo = g.Output.Width;
        int row = 0;
        for (int c = 0; c < g.Input.Channels; c++)
        {
            var channel = image.Slice(c * H * W, H * W);
            for (int ki = 0; ki < K; ki++)
            {
                var (ohLo, ohHi) = Inside(ki, H, Ho, S, P);
                for (int kj = 0; kj < K; kj++, row++)
                {
                    var dst = colsArray.AsSpan(offset + row * ld, Ho * Wo);
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
    /// added back to the pixel it was read from (padding entries are dropped); the patch
    /// matrix is read at <paramref name="offset"/> with rows <paramref name="ld"/> apart. Overwrites
    /// (after zeroing) unless <paramref name="accumulate"/>.
    /// </summary>
    internal static void Col2Im(Conv2dGeometry g, double[] colsArray, int offset, int ld, Span<double> image, bool accumulate)
    {
        int K = g.Kernel, S = g.Stride, P = g.Padding;
        int H = g.Input.Height, W = g.Input.Width, Ho = g.Output.Height, Wo = g.Output.Width;
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
                    var src = colsArray.AsSpan(offset + row * ld, Ho * Wo);
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

/// <summary>A convolution node's geometry and its pooled group buffers.</summary>
internal sealed class Conv2dState : OpState
{
    public Conv2dGeometry Geometry = null!;
    public double[] Patches = [], Scratch = [];
}

namespace Curvature.Autodiff;

public sealed partial class Tape
{
    /// <summary>Row-wise log-softmax: yᵣ = zᵣ − log Σ_c exp(z_rc), computed without overflow.</summary>
    public Tensor LogSoftmax(Tensor z)
    {
        Check(z, nameof(z));
        return Run(Node(LogSoftmaxOp.Instance, out _, z.Rows, z.Cols, z));
    }

    /// <summary>
    /// Softmax along <paramref name="axis"/>: along each row (axis 1, PyTorch's
    /// <c>softmax(z, dim=-1)</c> on a 2-D tensor) or down each column (axis 0). With a
    /// <paramref name="mask"/> (axis 1 only) an entry whose mask is 0 gets probability 0, as
    /// if its logit were −∞ (PyTorch's key padding mask): row r of z reads row
    /// r / <paramref name="rowsPerMaskRow"/> of the constant mask, which has z's width.
    /// </summary>
    /// <exception cref="ArgumentException">The axis is not 0 or 1, the mask's shape does not match or it is combined with axis 0, or a mask row masks every entry.</exception>
    public Tensor Softmax(Tensor z, int axis = 1, Tensor? mask = null, int rowsPerMaskRow = 1)
    {
        Check(z, nameof(z));
        if (axis is not (0 or 1))
            throw new ArgumentException($"Softmax: argument 'axis' was {axis}; expected 0 (down each column) or 1 (along each row).", nameof(axis));
        if (mask is not null)
        {
            if (axis != 1)
                throw new ArgumentException("Softmax: argument 'mask' needs axis 1 (a mask row per group of rows); got axis 0.", nameof(mask));
            Check(mask, nameof(mask));
            CheckConstant(mask, "Softmax", nameof(mask));
            Core.Guard.Positive(rowsPerMaskRow, nameof(rowsPerMaskRow));
            long maskRows = (z.Rows + (long)rowsPerMaskRow - 1) / rowsPerMaskRow;
            if (mask.Rows != maskRows || mask.Cols != z.Cols)
                throw new ArgumentException($"Softmax: argument 'mask' is {mask.Shape}; expected {maskRows}x{z.Cols} (one row per {rowsPerMaskRow} rows of z, which is {z.Shape}).", nameof(mask));
            var mv = mask.Value;
            for (int k = 0; k < maskRows; k++)
            {
                bool any = false;
                for (int c = 0; c < z.Cols; c++) any |= mv[k * z.Cols + c] != 0;
                if (!any)
                    throw new ArgumentException($"Softmax: argument 'mask' row {k} masks all {z.Cols} entries; expected at least one unmasked entry (an empty sequence).", nameof(mask));
            }
        }
        var y = Node(SoftmaxOp.Instance, out var s, z.Rows, z.Cols, z);
        s.Axis = axis;
        s.Mask = mask;
        s.RowsPerMaskRow = rowsPerMaskRow;
        return Run(y);
    }

    /// <summary>
    /// Softmax cross-entropy with integer labels, L = scale·Σᵣ [log Σ_c exp(z_rc) − z_{r,yᵣ}]
    /// (1×1), where yᵣ = labels[labelOffset + r]. The scale defaults to 1/rows, the mean
    /// over examples; a chunk of a larger set passes 1/N so chunk losses add up.
    /// </summary>
    public Tensor SoftmaxCrossEntropy(Tensor logits, int[] labels, int labelOffset = 0, double? scale = null)
    {
        Check(logits, nameof(logits));
        return LabelledLoss(SoftmaxCrossEntropyOp.Instance, logits, labels, labelOffset, scale);
    }

    /// <summary>Records a 1×1 loss node over the rows of z with integer labels and a scale (default 1/rows).</summary>
    Tensor LabelledLoss(Op<LossState> op, Tensor z, int[] labels, int labelOffset, double? scale)
    {
        CheckLabels(labels, labelOffset, z.Rows, z.Cols);
        var y = Node(op, out var s, 1, 1, z);
        s.Labels = labels;
        s.LabelOffset = labelOffset;
        s.Scale = LossScale(scale, z.Rows);
        return Run(y);
    }

    internal static void CheckLabels(int[] labels, int offset, int rows, int classes)
    {
        Core.Guard.NotNull(labels);
        if (offset < 0 || offset + rows > labels.Length)
            throw new ArgumentException($"Argument 'labels' has length {labels.Length}; {rows} rows starting at offset {offset} need {offset + rows}.", nameof(labels));
        for (int r = 0; r < rows; r++)
        {
            int c = labels[offset + r];
            if ((uint)c >= (uint)classes)
                throw new ArgumentException($"Argument 'labels' has {c} at index {offset + r}; expected a class in [0, {classes}).", nameof(labels));
        }
    }

    internal static double LossScale(double? scale, int rows)
    {
        double s = scale ?? 1.0 / rows;
        Core.Guard.Finite(s, "scale");
        return s;
    }
}

/// <summary>
/// Row-wise y = z − lse(z) with p = softmax(z) = exp(y) kept from the forward sweep.
/// Forward: yᵣ = zᵣ − lse(zᵣ).
/// Tangent: ẏᵣ = żᵣ − (pᵣᵀżᵣ)·1.
/// Backward: z̄ᵣ += ȳᵣ − pᵣ(1ᵀȳᵣ).
/// Backward tangent: z̄̇ᵣ += ȳ̇ᵣ − pᵣ(1ᵀȳ̇ᵣ) − [ṗᵣ(1ᵀȳᵣ)], with ṗᵣ = pᵣ∘ẏᵣ.
/// </summary>
internal sealed class LogSoftmaxOp : Op<LossState>
{
    public static readonly LogSoftmaxOp Instance = new();
    public override string Name => "log_softmax";

    public override void Forward(Tensor y, LossState s)
    {
        int rows = y.Rows, cols = y.Cols;
        var z = y.A!.Value;
        var v = y.ValueMut;
        var p = Tensor.Grow(ref s.Cache, y.Size).AsSpan(0, y.Size);
        for (int r = 0; r < rows; r++)
        {
            var zr = z.Slice(r * cols, cols);
            double lse = LogSumExp(zr);
            for (int c = 0; c < cols; c++)
            {
                double yc = zr[c] - lse;
                v[r * cols + c] = yc;
                p[r * cols + c] = Math.Exp(yc);
            }
        }
    }

    /// <summary>log Σ exp(zᵢ) = max + log Σ exp(zᵢ − max): no term exceeds 1, so nothing overflows.</summary>
    internal static double LogSumExp(ReadOnlySpan<double> z)
    {
        double max = double.NegativeInfinity;
        foreach (double v in z) if (v > max) max = v;
        if (double.IsNegativeInfinity(max) || double.IsNaN(max)) return max;
        double s = 0;
        foreach (double v in z) s += Math.Exp(v - max);
        return max + Math.Log(s);
    }

    public override void Tangent(Tensor y, LossState s)
    {
        int rows = y.Rows, cols = y.Cols;
        var p = s.Cache.AsSpan(0, y.Size);
        for (int j = 0; j < y.Tape.TangentCount; j++)
        {
            var zd = y.A!.TangentMut(j);
            var yd = y.TangentMut(j);
            for (int r = 0; r < rows; r++)
            {
                double dot = 0;
                for (int c = 0; c < cols; c++) dot += p[r * cols + c] * zd[r * cols + c];
                for (int c = 0; c < cols; c++) yd[r * cols + c] = zd[r * cols + c] - dot;
            }
        }
    }

    public override void Backward(Tensor y, LossState s)
    {
        var z = y.A!;
        if (!z.RequiresGrad) return;
        bool acc = z.BeginAdjoint();
        Pullback(y.AdjointMut, s.Cache.AsSpan(0, y.Size), y.Rows, y.Cols, z.AdjointMut, acc);
    }

    /// <summary>dst (+)= ḡ − p(1ᵀḡ) row by row.</summary>
    static void Pullback(ReadOnlySpan<double> g, ReadOnlySpan<double> p, int rows, int cols, Span<double> dst, bool acc)
    {
        for (int r = 0; r < rows; r++)
        {
            double s = 0;
            for (int c = 0; c < cols; c++) s += g[r * cols + c];
            for (int c = 0; c < cols; c++)
            {
                double v = g[r * cols + c] - p[r * cols + c] * s;
                if (acc) dst[r * cols + c] += v;
                else dst[r * cols + c] = v;
            }
        }
    }

    public override void BackwardTangent(Tensor y, LossState s, bool curvature)
    {
        var z = y.A!;
        bool linear = y.AdjointTangentTouched;
        bool curv = curvature && y.AdjointTouched && z.HasTangent;
        if (!z.RequiresGrad || !(linear || curv)) return;
        int rows = y.Rows, cols = y.Cols;
        var p = s.Cache.AsSpan(0, y.Size);
        bool acc = z.BeginAdjointTangent();
        for (int j = 0; j < y.Tape.TangentCount; j++)
        {
            var dst = z.AdjointTangentMut(j);
            bool accJ = acc;
            if (linear)
            {
                Pullback(y.AdjointTangentMut(j), p, rows, cols, dst, accJ);
                accJ = true;
            }
            if (curv)
            {
                var yBar = y.AdjointMut;
                var yd = y.TangentMut(j);
                for (int r = 0; r < rows; r++)
                {
                    double sum = 0;
                    for (int c = 0; c < cols; c++) sum += yBar[r * cols + c];
                    for (int c = 0; c < cols; c++)
                    {
                        double v = -p[r * cols + c] * yd[r * cols + c] * sum;
                        if (accJ) dst[r * cols + c] += v;
                        else dst[r * cols + c] = v;
                    }
                }
            }
        }
    }
}

/// <summary>
/// L = s Σᵣ [lse(zᵣ) − z_{r,yᵣ}] with integer labels yᵣ; p = softmax(z), eᵣ the one-hot of yᵣ.
/// Forward: L as above, via the overflow-free log-sum-exp.
/// Tangent: L̇ = s Σᵣ (pᵣ − eᵣ)ᵀżᵣ.
/// Backward: z̄ᵣ += L̄ s (pᵣ − eᵣ).
/// Backward tangent: z̄̇ᵣ += L̄̇ s (pᵣ − eᵣ) + [L̄ s ṗᵣ], ṗᵣ = (diag pᵣ − pᵣpᵣᵀ)żᵣ = pᵣ∘(żᵣ − pᵣᵀżᵣ).
/// </summary>
internal sealed class SoftmaxCrossEntropyOp : Op<LossState>
{
    public static readonly SoftmaxCrossEntropyOp Instance = new();
    public override string Name => "softmax_cross_entropy";

    public override void Forward(Tensor y, LossState s)
    {
        var zt = y.A!;
        int rows = zt.Rows, cols = zt.Cols;
        var z = zt.Value;
        var p = Tensor.Grow(ref s.Cache, zt.Size).AsSpan(0, zt.Size);
        var labels = s.Labels!;
        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            var zr = z.Slice(r * cols, cols);
            double lse = LogSoftmaxOp.LogSumExp(zr);
            for (int c = 0; c < cols; c++) p[r * cols + c] = Math.Exp(zr[c] - lse);
            total += lse - zr[labels[s.LabelOffset + r]];
        }
        y.ValueMut[0] = s.Scale * total;
    }

    public override void Tangent(Tensor y, LossState s)
    {
        var zt = y.A!;
        int rows = zt.Rows, cols = zt.Cols;
        var p = s.Cache.AsSpan(0, zt.Size);
        var labels = s.Labels!;
        for (int j = 0; j < y.Tape.TangentCount; j++)
        {
            var zd = zt.TangentMut(j);
            double total = 0;
            for (int r = 0; r < rows; r++)
            {
                double dot = 0;
                for (int c = 0; c < cols; c++) dot += p[r * cols + c] * zd[r * cols + c];
                total += dot - zd[r * cols + labels[s.LabelOffset + r]];
            }
            y.TangentMut(j)[0] = s.Scale * total;
        }
    }

    public override void Backward(Tensor y, LossState s)
    {
        var zt = y.A!;
        if (!zt.RequiresGrad) return;
        bool acc = zt.BeginAdjoint();
        PutResidual(y, s, s.Scale * y.AdjointMut[0], zt.AdjointMut, acc);
    }

    /// <summary>dst (+)= w·(p − e) over all rows.</summary>
    static void PutResidual(Tensor y, LossState s, double w, Span<double> dst, bool acc)
    {
        int rows = y.A!.Rows, cols = y.A.Cols;
        var p = s.Cache.AsSpan(0, rows * cols);
        var labels = s.Labels!;
        Kernels.PutScaled(w, p, dst, acc);
        for (int r = 0; r < rows; r++) dst[r * cols + labels[s.LabelOffset + r]] -= w;
    }

    public override void BackwardTangent(Tensor y, LossState s, bool curvature)
    {
        var zt = y.A!;
        bool linear = y.AdjointTangentTouched;
        bool curv = curvature && y.AdjointTouched && zt.HasTangent;
        if (!zt.RequiresGrad || !(linear || curv)) return;
        int rows = zt.Rows, cols = zt.Cols;
        var p = s.Cache.AsSpan(0, zt.Size);
        bool acc = zt.BeginAdjointTangent();
        double w = s.Scale * (y.AdjointTouched ? y.AdjointMut[0] : 0.0);
        for (int j = 0; j < y.Tape.TangentCount; j++)
        {
            var dst = zt.AdjointTangentMut(j);
            bool accJ = acc;
            if (linear)
            {
                PutResidual(y, s, s.Scale * y.AdjointTangentMut(j)[0], dst, accJ);
                accJ = true;
            }
            if (curv)
            {
                var zd = zt.TangentMut(j);
                for (int r = 0; r < rows; r++)
                {
                    double dot = 0;
                    for (int c = 0; c < cols; c++) dot += p[r * cols + c] * zd[r * cols + c];
                    for (int c = 0; c < cols; c++)
                    {
                        double v = w * p[r * cols + c] * (zd[r * cols + c] - dot);
                        if (accJ) dst[r * cols + c] += v;
                        else dst[r * cols + c] = v;
                    }
                }
            }
        }
    }
}

/// <summary>
/// State of the softmax-based ops and losses: the probabilities (or, for the squared
/// error, the residual) kept from the forward sweep, and a loss's labels and scale.
/// </summary>
internal sealed class LossState : OpState
{
    public double[] Cache = [];
    public int[]? Labels;
    public int LabelOffset;
    public double Scale;

    public override void Recorded()
    {
        Labels = null;
        LabelOffset = 0;
        Scale = 0;
    }
}

/// <summary>
/// p = softmax(z) along each line (a row for axis 1, a column for axis 0); masked entries
/// have p = 0 and receive no derivative. With ⟨u, w⟩ the sum over a line:
/// Forward: p = exp(z − max)/Σ exp(z − max) over the unmasked entries.
/// Tangent: ṗ = p∘(ż − ⟨p, ż⟩).
/// Backward: z̄ += p∘(p̄ − ⟨p, p̄⟩).
/// Backward tangent: z̄̇ += p∘(p̄̇ − ⟨p, p̄̇⟩) + [ṗ∘(p̄ − ⟨p, p̄⟩) − p⟨ṗ, p̄⟩].
/// </summary>
internal sealed class SoftmaxOp : Op<SoftmaxState>
{
    public static readonly SoftmaxOp Instance = new();
    public override string Name => "softmax";

    /// <summary>Number of lines, their length, the stride between a line's entries, and where line i starts.</summary>
    static (int Lines, int Length, int Step) Shape(Tensor y, SoftmaxState s) =>
        s.Axis == 1 ? (y.Rows, y.Cols, 1) : (y.Cols, y.Rows, y.Cols);

    static int Start(Tensor y, SoftmaxState s, int line) => s.Axis == 1 ? line * y.Cols : line;

    static bool Masked(SoftmaxState s, int cols, int row, int c) =>
        s.Mask is not null && s.Mask.Value[(row / s.RowsPerMaskRow) * cols + c] == 0;

    public override void Forward(Tensor y, SoftmaxState s)
    {
        if (s.Axis == 1)
        {
            ForwardRows(y, s);
            return;
        }
        var (lines, length, step) = Shape(y, s);
        var z = y.A!.Value;
        var p = y.ValueMut;
        for (int i = 0; i < lines; i++)
        {
            int o = Start(y, s, i);
            double max = double.NegativeInfinity;
            for (int k = 0; k < length; k++)
                if (!Masked(s, y.Cols, i, k) && z[o + k * step] > max) max = z[o + k * step];
            double sum = 0;
            for (int k = 0; k < length; k++)
            {
                double e = Masked(s, y.Cols, i, k) ? 0.0 : Math.Exp(z[o + k * step] - max);
                p[o + k * step] = e;
                sum += e;
            }
            for (int k = 0; k < length; k++) p[o + k * step] /= sum;
        }
    }

    /// <summary>
    /// The forward rule along rows, in three passes over the contiguous value: z − max (−∞ where
    /// masked) row by row, then every exp at once in SIMD (<see cref="FastMath.Exp"/>, e^{−∞} = 0),
    /// then each row divided by its sum, added in column order. The attention scores of Song's
    /// Transformer are 4.6 million entries a layer, so the scalar exp and a mask lookup per
    /// entry cost as much as the layer's GEMMs.
    /// </summary>
    static void ForwardRows(Tensor y, SoftmaxState s)
    {
        int rows = y.Rows, cols = y.Cols;
        var z = y.A!.Value;
        var p = y.ValueMut;
        var mask = s.Mask is null ? default : s.Mask.Value;
        for (int r = 0; r < rows; r++)
        {
            var zr = z.Slice(r * cols, cols);
            var pr = p.Slice(r * cols, cols);
            if (s.Mask is null)
            {
                double max = double.NegativeInfinity;
                foreach (double v in zr) if (v > max) max = v;
                for (int c = 0; c < cols; c++) pr[c] = zr[c] - max;
            }
            else
            {
                var mr = mask.Slice(r / s.RowsPerMaskRow * cols, cols);
                double max = double.NegativeInfinity;
                for (int c = 0; c < cols; c++) if (mr[c] != 0 && zr[c] > max) max = zr[c];
                for (int c = 0; c < cols; c++) pr[c] = mr[c] != 0 ? zr[c] - max : double.NegativeInfinity;
            }
        }
        FastMath.Exp(p, p);
        for (int r = 0; r < rows; r++)
        {
            var pr = p.Slice(r * cols, cols);
            double sum = 0;
            foreach (double e in pr) sum += e;
            for (int c = 0; c < cols; c++) pr[c] /= sum;
        }
    }

    /// <summary>dst (+)= p∘(u − ⟨p, u⟩) line by line (zero where p is 0, so masked entries get nothing).</summary>
    static void Pullback(Tensor y, SoftmaxState s, ReadOnlySpan<double> p, ReadOnlySpan<double> u, Span<double> dst, bool accumulate)
    {
        var (lines, length, step) = Shape(y, s);
        for (int i = 0; i < lines; i++)
        {
            int o = Start(y, s, i);
            double dot = 0;
            for (int k = 0; k < length; k++) dot += p[o + k * step] * u[o + k * step];
            for (int k = 0; k < length; k++)
            {
                int e = o + k * step;
                double v = p[e] * (u[e] - dot);
                if (accumulate) dst[e] += v;
                else dst[e] = v;
            }
        }
    }

    public override void Tangent(Tensor y, SoftmaxState s)
    {
        for (int j = 0; j < y.Tape.TangentCount; j++) Pullback(y, s, y.Value, y.A!.TangentMut(j), y.TangentMut(j), false);
    }

    public override void Backward(Tensor y, SoftmaxState s)
    {
        var z = y.A!;
        if (!z.RequiresGrad) return;
        bool acc = z.BeginAdjoint();
        Pullback(y, s, y.Value, y.AdjointMut, z.AdjointMut, acc);
    }

    public override void BackwardTangent(Tensor y, SoftmaxState s, bool curvature)
    {
        var z = y.A!;
        bool linear = y.AdjointTangentTouched;
        bool curv = curvature && y.AdjointTouched && z.HasTangent;
        if (!z.RequiresGrad || !(linear || curv)) return;
        bool acc = z.BeginAdjointTangent();
        var (lines, length, step) = Shape(y, s);
        var p = y.Value;
        var pBar = curv ? y.AdjointMut : default;
        for (int j = 0; j < y.Tape.TangentCount; j++)
        {
            var dst = z.AdjointTangentMut(j);
            bool accJ = acc;
            if (linear) { Pullback(y, s, p, y.AdjointTangentMut(j), dst, accJ); accJ = true; }
            if (!curv) continue;
            var pd = y.TangentMut(j);
            for (int i = 0; i < lines; i++)
            {
                int o = Start(y, s, i);
                double dot = 0, dotD = 0;
                for (int k = 0; k < length; k++) { int e = o + k * step; dot += p[e] * pBar[e]; dotD += pd[e] * pBar[e]; }
                for (int k = 0; k < length; k++)
                {
                    int e = o + k * step;
                    double v = pd[e] * (pBar[e] - dot) - p[e] * dotD;
                    if (accJ) dst[e] += v;
                    else dst[e] = v;
                }
            }
        }
    }
}

/// <summary>The softmax's axis and optional constant mask tensor.</summary>
internal sealed class SoftmaxState : OpState
{
    public int Axis = 1;
    public Tensor? Mask;
    public int RowsPerMaskRow = 1;

    public override void Recorded() => Mask = null;
}

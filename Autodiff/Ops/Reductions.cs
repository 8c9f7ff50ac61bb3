using static Curvature.Autodiff.Kernels;

namespace Curvature.Autodiff;

public sealed partial class Tape
{
    /// <summary>s = Σᵢ xᵢ (1×1).</summary>
    public Tensor Sum(Tensor x)
    {
        Check(x, nameof(x));
        var y = Node(SumOp.Instance, out var s, 1, 1, x);
        s.Alpha = 1.0;
        return Run(y);
    }

    /// <summary>s = (1/n) Σᵢ xᵢ over all n entries (1×1).</summary>
    public Tensor Mean(Tensor x)
    {
        Check(x, nameof(x));
        var y = Node(SumOp.Instance, out var s, 1, 1, x);
        s.Alpha = 1.0 / x.Size;
        return Run(y);
    }

    /// <summary>
    /// Masked mean pooling over each sequence: for the constant B×T <paramref name="mask"/>
    /// and B sequences of T rows stored one after another in <paramref name="x"/>
    /// ((B·T)×d), row b of the B×d result is Σ_t m_bt x_bt / Σ_t m_bt (m = 1 for a token, 0
    /// for padding; PyTorch: <c>(x * m[..., None]).sum(1) / m.sum(1, keepdim=True)</c>).
    /// </summary>
    /// <exception cref="ArgumentException">The shapes do not match, a weight is negative or not finite, or a sequence has no weight.</exception>
    public Tensor MaskedMeanPool(Tensor x, Tensor mask)
    {
        Check(x, nameof(x));
        Check(mask, nameof(mask));
        CheckConstant(mask, "MaskedMeanPool", nameof(mask));
        if ((long)mask.Rows * mask.Cols != x.Rows)
            throw new ArgumentException($"MaskedMeanPool: argument 'mask' is {mask.Shape}; expected B x T with B·T = {x.Rows}, the rows of the input {x.Shape}.", nameof(mask));
        var mv = mask.Value;
        int seqLen = mask.Cols;
        for (int b = 0; b < mask.Rows; b++)
        {
            double total = 0;
            for (int t = 0; t < seqLen; t++)
            {
                double w = mv[b * seqLen + t];
                if (!(w >= 0) || !double.IsFinite(w))
                    throw new ArgumentException($"MaskedMeanPool: argument 'mask' has {w} at ({b}, {t}); expected a finite weight ≥ 0.", nameof(mask));
                total += w;
            }
            if (!(total > 0))
                throw new ArgumentException($"MaskedMeanPool: argument 'mask' gives sequence {b} no weight; expected at least one token.", nameof(mask));
        }
        return Run(Node(MaskedMeanPoolOp.Instance, mask.Rows, x.Cols, x, mask));
    }

    /// <summary>The same entries in row-major order, viewed as rows×cols (a copy on the tape).</summary>
    public Tensor Reshape(Tensor x, int rows, int cols)
    {
        Check(x, nameof(x));
        Core.Guard.Positive(rows);
        Core.Guard.Positive(cols);
        if ((long)rows * cols != x.Size)
            throw new ArgumentException($"Reshape of {x.Shape} to {rows}x{cols}: expected the same number of entries ({x.Size}).", nameof(rows));
        return Run(Node(ReshapeOp.Instance, rows, cols, x));
    }
}

/// <summary>
/// s = α Σᵢ xᵢ (α = 1 for sum, 1/n for mean). Linear, so no curvature term.
/// Forward: s = α1ᵀx. Tangent: ṡ = α1ᵀẋ. Backward: x̄ += αs̄·1. Backward tangent: x̄̇ += αṡ̄·1.
/// </summary>
internal sealed class SumOp : Op<ScaleState>
{
    public static readonly SumOp Instance = new();
    public override string Name => "sum";

    public override void Forward(Tensor y, ScaleState s) => y.ValueMut[0] = s.Alpha * Sum(y.A!.Value);

    public override void Tangent(Tensor y, ScaleState s)
    {
        for (int j = 0; j < y.Tape.TangentCount; j++) y.TangentMut(j)[0] = s.Alpha * Sum(y.A!.TangentMut(j));
    }

    public override void Backward(Tensor y, ScaleState s)
    {
        var x = y.A!;
        if (x.RequiresGrad) { bool acc = x.BeginAdjoint(); PutConstant(s.Alpha * y.AdjointMut[0], x.AdjointMut, acc); }
    }

    public override void BackwardTangent(Tensor y, ScaleState s, bool curvature)
    {
        var x = y.A!;
        if (!y.AdjointTangentTouched || !x.RequiresGrad) return;
        bool acc = x.BeginAdjointTangent();
        for (int j = 0; j < y.Tape.TangentCount; j++) PutConstant(s.Alpha * y.AdjointTangentMut(j)[0], x.AdjointTangentMut(j), acc);
    }
}

/// <summary>
/// Y = reshape(X): the identity on the row-major entries, so every rule is a copy.
/// Forward: Y = X. Tangent: Ẏ = Ẋ. Backward: X̄ += Ȳ. Backward tangent: X̄̇ += Ȳ̇.
/// </summary>
internal sealed class ReshapeOp : Op
{
    public static readonly ReshapeOp Instance = new();
    public override string Name => "reshape";

    public override void Forward(Tensor y) => y.A!.Value.CopyTo(y.ValueMut);

    public override void Tangent(Tensor y)
    {
        for (int j = 0; j < y.Tape.TangentCount; j++) y.A!.TangentMut(j).CopyTo(y.TangentMut(j));
    }

    public override void Backward(Tensor y)
    {
        var x = y.A!;
        if (x.RequiresGrad) { bool acc = x.BeginAdjoint(); Put(y.AdjointMut, x.AdjointMut, acc); }
    }

    public override void BackwardTangent(Tensor y, bool curvature)
    {
        var x = y.A!;
        if (!y.AdjointTangentTouched || !x.RequiresGrad) return;
        bool acc = x.BeginAdjointTangent();
        for (int j = 0; j < y.Tape.TangentCount; j++) Put(y.AdjointTangentMut(j), x.AdjointTangentMut(j), acc);
    }
}

/// <summary>
/// y_b = Σ_t w_bt x_bt with w_bt = m_bt / Σ_t m_bt: a fixed linear map, so no curvature term.
/// Forward: y_b = Σ_t w_bt x_bt. Tangent: ẏ_b = Σ_t w_bt ẋ_bt.
/// Backward: x̄_bt += w_bt ȳ_b (0 at padding). Backward tangent: x̄̇_bt += w_bt ȳ̇_b.
/// </summary>
internal sealed class MaskedMeanPoolOp : Op
{
    public static readonly MaskedMeanPoolOp Instance = new();
    public override string Name => "masked_mean_pool";

    /// <summary>1 / Σ_t m_bt for sequence b of the mask.</summary>
    static double InverseTotal(ReadOnlySpan<double> mask, int b, int seqLen) => 1.0 / Sum(mask.Slice(b * seqLen, seqLen));

    static void Pool(ReadOnlySpan<double> mask, int seqLen, int batch, int d, ReadOnlySpan<double> x, Span<double> y)
    {
        for (int b = 0; b < batch; b++)
        {
            var yb = y.Slice(b * d, d);
            yb.Clear();
            double inv = InverseTotal(mask, b, seqLen);
            for (int t = 0; t < seqLen; t++)
            {
                double w = mask[b * seqLen + t] * inv;
                if (w != 0) PutScaled(w, x.Slice((b * seqLen + t) * d, d), yb, true);
            }
        }
    }

    static void Spread(ReadOnlySpan<double> mask, int seqLen, int batch, int d, ReadOnlySpan<double> yBar, Span<double> xBar, bool accumulate)
    {
        for (int b = 0; b < batch; b++)
        {
            double inv = InverseTotal(mask, b, seqLen);
            for (int t = 0; t < seqLen; t++)
                PutScaled(mask[b * seqLen + t] * inv, yBar.Slice(b * d, d), xBar.Slice((b * seqLen + t) * d, d), accumulate);
        }
    }

    public override void Forward(Tensor y) => Pool(y.B!.Value, y.B.Cols, y.Rows, y.Cols, y.A!.Value, y.ValueMut);

    public override void Tangent(Tensor y)
    {
        for (int j = 0; j < y.Tape.TangentCount; j++) Pool(y.B!.Value, y.B.Cols, y.Rows, y.Cols, y.A!.TangentMut(j), y.TangentMut(j));
    }

    public override void Backward(Tensor y)
    {
        var x = y.A!;
        if (!x.RequiresGrad) return;
        bool acc = x.BeginAdjoint();
        Spread(y.B!.Value, y.B.Cols, y.Rows, y.Cols, y.AdjointMut, x.AdjointMut, acc);
    }

    public override void BackwardTangent(Tensor y, bool curvature)
    {
        var x = y.A!;
        if (!y.AdjointTangentTouched || !x.RequiresGrad) return;
        bool acc = x.BeginAdjointTangent();
        for (int j = 0; j < y.Tape.TangentCount; j++) Spread(y.B!.Value, y.B.Cols, y.Rows, y.Cols, y.AdjointTangentMut(j), x.AdjointTangentMut(j), acc);
    }
}

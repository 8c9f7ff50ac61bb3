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

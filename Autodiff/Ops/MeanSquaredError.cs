using static Curvature.Autodiff.Kernels;

namespace Curvature.Autodiff;

public sealed partial class Tape
{
    /// <summary>
    /// L = scale·Σᵣ ½‖zᵣ − tᵣ‖² (1×1) against constant real targets t of z's shape. The
    /// scale defaults to 1/rows: the mean over examples of ½‖zᵣ − tᵣ‖².
    /// </summary>
    public Tensor MeanSquaredError(Tensor z, Tensor targets, double? scale = null)
    {
        Check(z, nameof(z));
        Check(targets, nameof(targets));
        if (targets.Rows != z.Rows || targets.Cols != z.Cols)
            throw new ArgumentException($"MeanSquaredError shape mismatch: outputs are {z.Shape} and targets are {targets.Shape}; expected equal shapes.", nameof(targets));
        if (targets.RequiresGrad)
            throw new ArgumentException($"Argument 'targets' ({targets}) depends on θ; expected constant targets (build ½‖z − t‖² from Sub and Square to differentiate through t).", nameof(targets));
        var y = Node(MeanSquaredErrorOp.Instance, out var s, 1, 1, z, targets);
        s.Scale = LossScale(scale, z.Rows);
        return Run(y);
    }

    /// <summary>As <see cref="MeanSquaredError(Tensor, Tensor, double?)"/> against one-hot targets of integer labels.</summary>
    public Tensor MeanSquaredError(Tensor z, int[] labels, int labelOffset = 0, double? scale = null)
    {
        Check(z, nameof(z));
        return LabelledLoss(MeanSquaredErrorOp.Instance, z, labels, labelOffset, scale);
    }
}

/// <summary>
/// L = s Σᵣ ½‖zᵣ − tᵣ‖² with constant targets t (given, or one-hot labels); ρ = z − t is
/// kept from the forward sweep.
/// Forward: L = (s/2)‖ρ‖². Tangent: L̇ = s ρᵀż.
/// Backward: z̄ += L̄ s ρ. Backward tangent: z̄̇ += L̄̇ s ρ + [L̄ s ż] (the loss Hessian is s·I).
/// </summary>
internal sealed class MeanSquaredErrorOp : Op<LossState>
{
    public static readonly MeanSquaredErrorOp Instance = new();
    public override string Name => "mse";

    public override void Forward(Tensor y, LossState s)
    {
        var z = y.A!;
        int n = z.Size;
        var rho = Tensor.Grow(ref s.Cache, n).AsSpan(0, n);
        if (y.B is not null) PutDifference(z.Value, y.B.Value, rho, false);
        else
        {
            z.Value.CopyTo(rho);
            for (int r = 0; r < z.Rows; r++) rho[r * z.Cols + s.Labels![s.LabelOffset + r]] -= 1.0;
        }
        y.ValueMut[0] = 0.5 * s.Scale * Dot(rho, rho);
    }

    public override void Tangent(Tensor y, LossState s)
    {
        var z = y.A!;
        var rho = s.Cache.AsSpan(0, z.Size);
        for (int j = 0; j < y.Tape.TangentCount; j++)
        {
            y.TangentMut(j)[0] = s.Scale * Dot(rho, z.TangentMut(j));
        }
    }

    public override void Backward(Tensor y, LossState s)
    {
        var z = y.A!;
        if (!z.RequiresGrad) return;
        bool acc = z.BeginAdjoint();
        PutScaled(s.Scale * y.AdjointMut[0], s.Cache.AsSpan(0, z.Size), z.AdjointMut, acc);
    }

    public override void BackwardTangent(Tensor y, LossState s, bool curvature)
    {
        var z = y.A!;
        bool linear = y.AdjointTangentTouched;
        bool curv = curvature && y.AdjointTouched && z.HasTangent;
        if (!z.RequiresGrad || !(linear || curv)) return;
        var rho = s.Cache.AsSpan(0, z.Size);
        bool acc = z.BeginAdjointTangent();
        double w = s.Scale * (y.AdjointTouched ? y.AdjointMut[0] : 0.0);
        for (int j = 0; j < y.Tape.TangentCount; j++)
        {
            var dst = z.AdjointTangentMut(j);
            bool accJ = acc;
            if (linear)
            {
                PutScaled(s.Scale * y.AdjointTangentMut(j)[0], rho, dst, accJ);
                accJ = true;
            }
            if (curv) PutScaled(w, z.TangentMut(j), dst, accJ);
        }
    }
}

using static Curvature.Autodiff.Kernels;
using static Curvature.Autodiff.PerExampleScratch;

namespace Curvature.Autodiff;

public sealed partial class Tape
{
    /// <summary>Y = X + 1·bᵀ: the 1×cols row b added to every row of X.</summary>
    public Tensor BiasAdd(Tensor x, Tensor b)
    {
        Check(x, nameof(x));
        Check(b, nameof(b));
        if (b.Rows != 1 || b.Cols != x.Cols)
            throw new ArgumentException($"BiasAdd shape mismatch: input is {x.Shape} and bias is {b.Shape}; expected bias 1x{x.Cols}.", nameof(b));
        return Run(Node(BiasAddOp.Instance, x.Rows, x.Cols, x, b));
    }

    /// <summary>
    /// Learned positional embedding: Y = X + 1⊗P, the T×d block <paramref name="positions"/>
    /// added to every block of T consecutive rows of <paramref name="x"/> ((B·T)×d, sequences
    /// stored one after another), as PyTorch's <c>x + pos[:, :T]</c> with <c>pos</c> of shape [1, T, d].
    /// </summary>
    public Tensor AddPositional(Tensor x, Tensor positions)
    {
        Check(x, nameof(x));
        Check(positions, nameof(positions));
        if (positions.Cols != x.Cols || x.Rows % positions.Rows != 0)
            throw new ArgumentException($"AddPositional shape mismatch: input is {x.Shape} and positions are {positions.Shape}; expected positions T x {x.Cols} with T dividing {x.Rows}.", nameof(positions));
        return Run(Node(BiasAddOp.Instance, x.Rows, x.Cols, x, positions));
    }

    /// <summary>A + B (same shapes).</summary>
    public Tensor Add(Tensor a, Tensor b) => Binary(AddOp.Instance, a, b);

    /// <summary>A − B (same shapes).</summary>
    public Tensor Sub(Tensor a, Tensor b) => Binary(SubOp.Instance, a, b);

    /// <summary>A ∘ B, the elementwise product (same shapes).</summary>
    public Tensor Mul(Tensor a, Tensor b) => Binary(MulOp.Instance, a, b);

    /// <summary>α·X.</summary>
    public Tensor Scale(Tensor x, double alpha)
    {
        Check(x, nameof(x));
        Core.Guard.Finite(alpha);
        var y = Node(ScaleOp.Instance, out var s, x.Rows, x.Cols, x);
        s.Alpha = alpha;
        return Run(y);
    }

    Tensor Binary(Op op, Tensor a, Tensor b)
    {
        Check(a, nameof(a));
        Check(b, nameof(b));
        if (a.Rows != b.Rows || a.Cols != b.Cols)
            throw new ArgumentException($"{op.Name} shape mismatch: A is {a.Shape} and B is {b.Shape}; expected equal shapes.", nameof(b));
        return Run(Node(op, a.Rows, a.Cols, a, b));
    }
}

/// <summary>
/// Y = X + 1⊗b: the R×cols block b added to every block of R consecutive rows of X (R = 1
/// is the bias add, R = T the positional embedding). Linear, so no curvature term.
/// Forward: Y = X + 1⊗b. Tangent: Ẏ = Ẋ + 1⊗ḃ.
/// Backward: X̄ += Ȳ; b̄ += Σ_k Ȳ_k (sum of the row blocks; column sums when R = 1).
/// Backward tangent: X̄̇ += Ȳ̇; b̄̇ += Σ_k Ȳ̇_k.
/// </summary>
internal sealed class BiasAddOp : Op, IPerExampleOp, IFormedPerExampleOp
{
    /// <summary>Each example's outer product (or bias row) fills its θ operand's entries of that row once.</summary>
    public bool WritesEveryEntryOnce => true;

    public static readonly BiasAddOp Instance = new();
    public override string Name => "bias_add";

    public override void Forward(Tensor y)
    {
        y.A!.Value.CopyTo(y.ValueMut);
        Broadcast(y.B!.Value, y.Rows, y.Cols, y.ValueMut, true);
    }

    /// <summary>dst (+)= 1⊗b, b repeated down the rows.</summary>
    static void Broadcast(ReadOnlySpan<double> b, int rows, int cols, Span<double> dst, bool accumulate)
    {
        if (b.Length == cols) { PutBroadcastRows(b, rows, cols, dst, accumulate); return; }
        for (int k = 0; k < dst.Length; k += b.Length) Put(b, dst.Slice(k, b.Length), accumulate);
    }

    /// <summary>dst (+)= Σ_k src_k over the row blocks of dst's size.</summary>
    static void BlockSums(ReadOnlySpan<double> src, int rows, int cols, Span<double> dst, bool accumulate)
    {
        if (dst.Length == cols) { PutColumnSums(src, rows, cols, dst, accumulate); return; }
        for (int k = 0; k < src.Length; k += dst.Length) Put(src.Slice(k, dst.Length), dst, accumulate || k > 0);
    }

    public override void Tangent(Tensor y)
    {
        var x = y.A!; var b = y.B!;
        for (int j = 0; j < y.Tape.TangentCount; j++)
        {
            var t = y.TangentMut(j);
            if (x.HasTangent) x.TangentMut(j).CopyTo(t);
            if (b.HasTangent) Broadcast(b.TangentMut(j), y.Rows, y.Cols, t, x.HasTangent);
        }
    }

    public override void Backward(Tensor y)
    {
        var x = y.A!; var b = y.B!;
        if (x.RequiresGrad) { bool acc = x.BeginAdjoint(); Put(y.AdjointMut, x.AdjointMut, acc); }
        if (b.RequiresGrad)
        {
            bool acc = b.BeginAdjoint();
            BlockSums(y.AdjointMut, y.Rows, y.Cols, b.AdjointMut, acc);
        }
    }

    public override void BackwardTangent(Tensor y, bool curvature)
    {
        if (!y.AdjointTangentTouched) return;
        var x = y.A!; var b = y.B!;
        int m = y.Tape.TangentCount;
        if (x.RequiresGrad)
        {
            bool acc = x.BeginAdjointTangent();
            for (int j = 0; j < m; j++) Put(y.AdjointTangentMut(j), x.AdjointTangentMut(j), acc);
        }
        if (b.RequiresGrad)
        {
            bool acc = b.BeginAdjointTangent();
            for (int j = 0; j < m; j++) BlockSums(y.AdjointTangentMut(j), y.Rows, y.Cols, b.AdjointTangentMut(j), acc);
        }
    }
    /// <summary>Example r may own g rows (a Transformer's tokens), and b may have R rows (positions).</summary>
    public bool GroupsRows => true;

    /// <summary>Whether the one-row closed forms below apply: one row per example and a 1×cols bias.</summary>
    static bool RowWise(Tensor y, in PerExampleTarget t) => t.Group(y) == 1 && y.B!.Rows == 1;

    /// <summary>
    /// Example r's b̄_r with g rows per example and an R×cols b: row ρ of the batch adds ȳ_ρ to
    /// row ρ mod R of b̄ (the block sums of the backward rule, restricted to the example's rows;
    /// for positions R = g = L, b̄_r = Ȳ_r).
    /// </summary>
    public void Form(Tensor y, in PerExampleTarget t, int r, double[] part, int atB, int atC)
    {
        var b = y.B!;
        int g = t.Group(y), cols = y.Cols, blockRows = b.Rows;
        var dst = part.AsSpan(atB, b.Size);
        dst.Clear();
        for (int row = r * g; row < (r + 1) * g; row++)
            Put(y.AdjointMut.Slice(row * cols, cols), dst.Slice(row % blockRows * cols, cols), true);
    }

    /// <summary>Per example r: b̄_r = ȳ_r (the column sum of the backward rule, split by row); else <see cref="Form"/>.</summary>
    public void PerExampleBackward(Tensor y, in PerExampleTarget t)
    {
        if (t.Locate(y.A, out _) || !t.Locate(y.B, out int at))
            throw new NotSupportedException($"Per-example gradients: bias_add (node #{y.Index}) needs θ as the bias and data as the input.");
        if (!RowWise(y, t)) { FormedPerExample.Backward(this, y, t); return; }
        int cols = y.Cols;
        for (int r = t.FirstRow; r < t.FirstRow + t.Count; r++) Put(y.AdjointMut.Slice(r * cols, cols), t.Row(r, at, cols), !t.Overwrite);
    }

    /// <summary>‖b̄_r‖² = ‖ȳ_r‖².</summary>
    public void PerExampleSquaredNorms(Tensor y, in PerExampleTarget t, Span<double> sums)
    {
        if (!RowWise(y, t)) { FormedPerExample.SquaredNorms(this, y, t, sums); return; }
        int cols = y.Cols;
        for (int r = t.FirstRow; r < t.FirstRow + t.Count; r++)
        {
            var yr = y.AdjointMut.Slice(r * cols, cols);
            sums[r - t.FirstRow] += Dot(yr, yr);
        }
    }

    /// <summary>b̄_r·v_b = ȳ_r·v_b.</summary>
    public void PerExampleDots(Tensor y, in PerExampleTarget t, double[] v, int k, Span<double> dots)
    {
        if (!RowWise(y, t)) { FormedPerExample.Dots(this, y, t, v, k, dots); return; }
        t.Locate(y.B, out int at);
        int cols = y.Cols;
        for (int r = 0; r < t.Count; r++)
            for (int j = 0; j < k; j++)
                dots[r * k + j] += Dot(y.AdjointMut.Slice((t.FirstRow + r) * cols, cols), v.AsSpan(j * t.Stride + at, cols));
    }

    /// <summary>Σ_r w_r ȳ_r: the column sums of the rows scaled by their weights.</summary>
    public void PerExampleWeightedSums(Tensor y, in PerExampleTarget t, ReadOnlySpan<double> weights, int k, double[] sums)
    {
        if (!RowWise(y, t)) { FormedPerExample.WeightedSums(this, y, t, weights, k, sums); return; }
        t.Locate(y.B, out int at);
        int cols = y.Cols, rows = t.Count;
        var scratch = PerExampleScratch.Get(rows * cols);
        for (int j = 0; j < k; j++)
        {
            ScaleRows(y.AdjointMut.Slice(t.FirstRow * cols, rows * cols), weights, k, j, cols, scratch);
            PutColumnSums(scratch.AsSpan(0, rows * cols), rows, cols, sums.AsSpan(j * t.Stride + at, cols), true);
        }
    }

    /// <summary>Σ_r ȳ_r∘ȳ_r: the column sums of the squared adjoint.</summary>
    public void PerExampleSquaredSums(Tensor y, in PerExampleTarget t, double[] sums)
    {
        if (!RowWise(y, t)) { FormedPerExample.SquaredSums(this, y, t, sums); return; }
        t.Locate(y.B, out int at);
        int cols = y.Cols, rows = t.Count;
        var scratch = PerExampleScratch.Get(rows * cols);
        Squares(y.AdjointMut.Slice(t.FirstRow * cols, rows * cols), scratch);
        PutColumnSums(scratch.AsSpan(0, rows * cols), rows, cols, sums.AsSpan(at, cols), true);
    }
}

/// <summary>
/// Y = A + s·B with s = +1 (add) or −1 (sub). Linear, so no curvature term.
/// Forward: Y = A + sB. Tangent: Ẏ = Ȧ + sḂ.
/// Backward: Ā += Ȳ; B̄ += sȲ. Backward tangent: Ā̇ += Ȳ̇; B̄̇ += sȲ̇.
/// </summary>
internal abstract class SignedSumOp(double sign) : Op
{
    public override void Forward(Tensor y) => Combine(y.A!.Value, y.B!.Value, y.ValueMut);

    public override void Tangent(Tensor y)
    {
        var a = y.A!; var b = y.B!;
        for (int j = 0; j < y.Tape.TangentCount; j++)
        {
            var t = y.TangentMut(j);
            if (a.HasTangent && b.HasTangent) Combine(a.TangentMut(j), b.TangentMut(j), t);
            else if (a.HasTangent) a.TangentMut(j).CopyTo(t);
            else PutScaled(sign, b.TangentMut(j), t, false);
        }
    }

    public override void Backward(Tensor y)
    {
        var a = y.A!; var b = y.B!;
        if (a.RequiresGrad) { bool acc = a.BeginAdjoint(); Put(y.AdjointMut, a.AdjointMut, acc); }
        if (b.RequiresGrad)
        {
            bool acc = b.BeginAdjoint();
            PutScaled(sign, y.AdjointMut, b.AdjointMut, acc);
        }
    }

    public override void BackwardTangent(Tensor y, bool curvature)
    {
        if (!y.AdjointTangentTouched) return;
        var a = y.A!; var b = y.B!;
        int m = y.Tape.TangentCount;
        if (a.RequiresGrad)
        {
            bool acc = a.BeginAdjointTangent();
            for (int j = 0; j < m; j++) Put(y.AdjointTangentMut(j), a.AdjointTangentMut(j), acc);
        }
        if (b.RequiresGrad)
        {
            bool acc = b.BeginAdjointTangent();
            for (int j = 0; j < m; j++) PutScaled(sign, y.AdjointTangentMut(j), b.AdjointTangentMut(j), acc);
        }
    }

    void Combine(ReadOnlySpan<double> a, ReadOnlySpan<double> b, Span<double> dst)
    {
        if (sign > 0) { a.CopyTo(dst); Put(b, dst, true); }
        else PutDifference(a, b, dst, false);
    }
}

internal sealed class AddOp() : SignedSumOp(1.0)
{
    public static readonly AddOp Instance = new();
    public override string Name => "add";
}

internal sealed class SubOp() : SignedSumOp(-1.0)
{
    public static readonly SubOp Instance = new();
    public override string Name => "sub";
}

/// <summary>
/// Y = A ∘ B (elementwise).
/// Forward: Y = A∘B. Tangent: Ẏ = Ȧ∘B + A∘Ḃ.
/// Backward: Ā += Ȳ∘B; B̄ += Ȳ∘A.
/// Backward tangent: Ā̇ += Ȳ̇∘B + [Ȳ∘Ḃ]; B̄̇ += Ȳ̇∘A + [Ȳ∘Ȧ].
/// </summary>
internal sealed class MulOp : Op
{
    public static readonly MulOp Instance = new();
    public override string Name => "mul";

    public override void Forward(Tensor y) => PutMul(y.A!.Value, y.B!.Value, y.ValueMut, false);

    public override void Tangent(Tensor y)
    {
        var a = y.A!; var b = y.B!;
        for (int j = 0; j < y.Tape.TangentCount; j++)
        {
            var t = y.TangentMut(j);
            if (a.HasTangent && b.HasTangent) PutMulMul(a.TangentMut(j), b.Value, a.Value, b.TangentMut(j), t, false);
            else if (a.HasTangent) PutMul(a.TangentMut(j), b.Value, t, false);
            else PutMul(a.Value, b.TangentMut(j), t, false);
        }
    }

    public override void Backward(Tensor y)
    {
        var a = y.A!; var b = y.B!;
        if (a.RequiresGrad) { bool acc = a.BeginAdjoint(); PutMul(y.AdjointMut, b.Value, a.AdjointMut, acc); }
        if (b.RequiresGrad) { bool acc = b.BeginAdjoint(); PutMul(y.AdjointMut, a.Value, b.AdjointMut, acc); }
    }

    public override void BackwardTangent(Tensor y, bool curvature)
    {
        var a = y.A!; var b = y.B!;
        int m = y.Tape.TangentCount;
        bool linear = y.AdjointTangentTouched;
        bool haveYBar = curvature && y.AdjointTouched;
        Side(a, b, m, linear, haveYBar && b.HasTangent, y);
        Side(b, a, m, linear, haveYBar && a.HasTangent, y);
    }

    /// <summary>x̄̇ += Ȳ̇∘other + [Ȳ∘(other)˙].</summary>
    static void Side(Tensor x, Tensor other, int m, bool linear, bool curv, Tensor y)
    {
        if (!x.RequiresGrad || !(linear || curv)) return;
        bool acc = x.BeginAdjointTangent();
        for (int j = 0; j < m; j++)
        {
            var dst = x.AdjointTangentMut(j);
            if (linear && curv) PutMulMul(y.AdjointTangentMut(j), other.Value, y.AdjointMut, other.TangentMut(j), dst, acc);
            else if (linear) PutMul(y.AdjointTangentMut(j), other.Value, dst, acc);
            else PutMul(y.AdjointMut, other.TangentMut(j), dst, acc);
        }
    }
}

/// <summary>
/// Y = αX. Linear, so no curvature term.
/// Forward: Y = αX. Tangent: Ẏ = αẊ. Backward: X̄ += αȲ. Backward tangent: X̄̇ += αȲ̇.
/// </summary>
internal sealed class ScaleOp : Op<ScaleState>
{
    public static readonly ScaleOp Instance = new();
    public override string Name => "scale";

    public override void Forward(Tensor y, ScaleState s) => PutScaled(s.Alpha, y.A!.Value, y.ValueMut, false);

    public override void Tangent(Tensor y, ScaleState s)
    {
        for (int j = 0; j < y.Tape.TangentCount; j++) PutScaled(s.Alpha, y.A!.TangentMut(j), y.TangentMut(j), false);
    }

    public override void Backward(Tensor y, ScaleState s)
    {
        var x = y.A!;
        if (x.RequiresGrad) { bool acc = x.BeginAdjoint(); PutScaled(s.Alpha, y.AdjointMut, x.AdjointMut, acc); }
    }

    public override void BackwardTangent(Tensor y, ScaleState s, bool curvature)
    {
        var x = y.A!;
        if (!y.AdjointTangentTouched || !x.RequiresGrad) return;
        bool acc = x.BeginAdjointTangent();
        for (int j = 0; j < y.Tape.TangentCount; j++) PutScaled(s.Alpha, y.AdjointTangentMut(j), x.AdjointTangentMut(j), acc);
    }
}

/// <summary>The constant factor α of <see cref="ScaleOp"/> and <see cref="SumOp"/>.</summary>
internal sealed class ScaleState : OpState
{
    public double Alpha;
}

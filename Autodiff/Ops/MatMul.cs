using static Curvature.Autodiff.Kernels;
using static Curvature.Autodiff.PerExampleScratch;

namespace Curvature.Autodiff;

public sealed partial class Tape
{
    /// <summary>C = op(A)·op(B), where op(X) = Xᵀ when the flag is set.</summary>
    public Tensor MatMul(Tensor a, Tensor b, bool transposeA = false, bool transposeB = false)
    {
        Check(a, nameof(a));
        Check(b, nameof(b));
        int m = transposeA ? a.Cols : a.Rows, k = transposeA ? a.Rows : a.Cols;
        int kb = transposeB ? b.Cols : b.Rows, n = transposeB ? b.Rows : b.Cols;
        if (k != kb)
            throw new ArgumentException($"MatMul shape mismatch: op(A) is {m}x{k} (A {a.Shape}, transposed={transposeA}) and op(B) is {kb}x{n} (B {b.Shape}, transposed={transposeB}); expected equal inner dimensions.", nameof(b));
        var y = Node(MatMulOp.Instance, out var s, m, n, a, b);
        s.TransposeA = transposeA;
        s.TransposeB = transposeB;
        return Run(y);
    }

    /// <summary>
    /// The dense layer Y = X·Wᵀ + 1·bᵀ (PyTorch's nn.Linear): X is batch×in, W is out×in,
    /// b is 1×out (or null for no bias). Fused so the bias costs no extra pass.
    /// </summary>
    public Tensor Linear(Tensor x, Tensor w, Tensor? b)
    {
        Check(x, nameof(x));
        Check(w, nameof(w));
        if (x.Cols != w.Cols)
            throw new ArgumentException($"Linear shape mismatch: input is {x.Shape} and weight is {w.Shape}; expected weight out x {x.Cols}.", nameof(w));
        if (b is not null)
        {
            Check(b, nameof(b));
            if (b.Rows != 1 || b.Cols != w.Rows)
                throw new ArgumentException($"Linear shape mismatch: weight is {w.Shape} and bias is {b.Shape}; expected bias 1x{w.Rows}.", nameof(b));
        }
        var y = Node(LinearOp.Instance, x.Rows, w.Rows, x, w, b);
        return Run(y);
    }
}

/// <summary>
/// C = op(A)·op(B).
/// Forward: C = op(A) op(B).
/// Tangent: Ċ = op(Ȧ) op(B) + op(A) op(Ḃ).
/// Backward: Ā += C̄ op(B)ᵀ (or op(B) C̄ᵀ when A is transposed); B̄ += op(A)ᵀ C̄ (or C̄ᵀ op(A)).
/// Backward tangent: Ā̇ += C̄̇ op(B)ᵀ + [C̄ op(Ḃ)ᵀ]; B̄̇ += op(A)ᵀ C̄̇ + [op(Ȧ)ᵀ C̄]
/// (bracketed terms are the curvature of the bilinear map).
/// </summary>
internal sealed class MatMulOp : Op<MatMulState>, IPerExampleOp
{
    /// <summary>Each example's outer product (or bias row) fills its θ operand's entries of that row once.</summary>
    public bool WritesEveryEntryOnce => true;

    public static readonly MatMulOp Instance = new();
    public override string Name => "matmul";

    public override void Forward(Tensor y, MatMulState s)
    {
        bool tA = s.TransposeA, tB = s.TransposeB;
        Gemm(ValueMat(y.A!), tA, ValueMat(y.B!), tB, 0.0, ValueMat(y));
    }

    public override void Tangent(Tensor y, MatMulState s)
    {
        var a = y.A!; var b = y.B!;
        bool tA = s.TransposeA, tB = s.TransposeB;
        int m = y.Tape.TangentCount;
        bool written = false;
        if (a.HasTangent)
        {
            // Stacking the m tangents as (m·rows)×cols turns m products into one GEMM.
            if (!tA && a.TangentsContiguous) Gemm(StackedTangents(a, m), false, ValueMat(b), tB, 0.0, StackedTangents(y, m));
            else for (int j = 0; j < m; j++) Gemm(TangentMat(a, j), tA, ValueMat(b), tB, 0.0, TangentMat(y, j));
            written = true;
        }
        if (b.HasTangent)
            for (int j = 0; j < m; j++) Gemm(ValueMat(a), tA, TangentMat(b, j), tB, written ? 1.0 : 0.0, TangentMat(y, j));
    }

    public override void Backward(Tensor y, MatMulState s)
    {
        var a = y.A!; var b = y.B!;
        bool tA = s.TransposeA, tB = s.TransposeB;
        if (a.RequiresGrad)
        {
            double beta = a.BeginAdjoint() ? 1.0 : 0.0;
            AdjointOfA(AdjointMat(y), ValueMat(b), tA, tB, beta, AdjointMat(a));
        }
        if (b.RequiresGrad)
        {
            double beta = b.BeginAdjoint() ? 1.0 : 0.0;
            AdjointOfB(ValueMat(a), AdjointMat(y), tA, tB, beta, AdjointMat(b));
        }
    }

    public override void BackwardTangent(Tensor y, MatMulState s, bool curvature)
    {
        var a = y.A!; var b = y.B!;
        bool tA = s.TransposeA, tB = s.TransposeB;
        int m = y.Tape.TangentCount;
        bool linear = y.AdjointTangentTouched;
        if (a.RequiresGrad)
        {
            bool curv = curvature && y.AdjointTouched && b.HasTangent;
            if (linear || curv)
            {
                bool acc = a.BeginAdjointTangent();
                if (linear)
                {
                    if (!tA && y.AdjointTangentsContiguous && a.AdjointTangentsContiguous)
                        AdjointOfA(StackedAdjointTangents(y, m), ValueMat(b), false, tB, acc ? 1.0 : 0.0, StackedAdjointTangents(a, m));
                    else
                        for (int j = 0; j < m; j++) AdjointOfA(AdjointTangentMat(y, j), ValueMat(b), tA, tB, acc ? 1.0 : 0.0, AdjointTangentMat(a, j));
                    acc = true;
                }
                if (curv)
                    for (int j = 0; j < m; j++) AdjointOfA(AdjointMat(y), TangentMat(b, j), tA, tB, acc ? 1.0 : 0.0, AdjointTangentMat(a, j));
            }
        }
        if (b.RequiresGrad)
        {
            bool curv = curvature && y.AdjointTouched && a.HasTangent;
            if (linear || curv)
            {
                bool acc = b.BeginAdjointTangent();
                if (linear)
                {
                    for (int j = 0; j < m; j++) AdjointOfB(ValueMat(a), AdjointTangentMat(y, j), tA, tB, acc ? 1.0 : 0.0, AdjointTangentMat(b, j));
                    acc = true;
                }
                if (curv)
                    for (int j = 0; j < m; j++) AdjointOfB(TangentMat(a, j), AdjointMat(y), tA, tB, acc ? 1.0 : 0.0, AdjointTangentMat(b, j));
            }
        }
    }

    /// <summary>
    /// Per example r, when B is θ's and A holds one example per row: C_r = A_r op(B), so
    /// B̄_r = A_rᵀ C̄_r (or C̄_rᵀ A_r when B enters transposed), an outer product.
    /// </summary>
    public void PerExampleBackward(Tensor y, in PerExampleTarget t)
    {
        var a = y.A!; var b = y.B!;
        var s = (MatMulState)y.State!;
        if (t.Locate(a, out _) || s.TransposeA || !t.Locate(b, out int at))
            throw new NotSupportedException($"Per-example gradients: matmul (node #{y.Index}) needs θ as its right operand and one example per row of an untransposed left operand.");
        int k = a.Cols, n = y.Cols;
        var yBar = y.AdjointMut; var av = a.Value;
        for (int r = t.FirstRow; r < t.FirstRow + t.Count; r++)
        {
            var ar = av.Slice(r * k, k); var yr = yBar.Slice(r * n, n);
            if (s.TransposeB) for (int c = 0; c < n; c++) PutScaled(yr[c], ar, t.Row(r, at + c * k, k), !t.Overwrite);
            else for (int i = 0; i < k; i++) PutScaled(ar[i], yr, t.Row(r, at + i * n, n), !t.Overwrite);
        }
    }

    /// <summary>B̄_r is the outer product of A_r and C̄_r: ‖B̄_r‖² = ‖A_r‖²‖C̄_r‖².</summary>
    public void PerExampleSquaredNorms(Tensor y, in PerExampleTarget t, Span<double> sums)
    {
        var a = y.A!;
        int k = a.Cols, n = y.Cols;
        for (int r = t.FirstRow; r < t.FirstRow + t.Count; r++)
        {
            var ar = a.Value.Slice(r * k, k); var yr = y.AdjointMut.Slice(r * n, n);
            sums[r - t.FirstRow] += Dot(ar, ar) * Dot(yr, yr);
        }
    }

    /// <summary>B̄_r·V_B = c̄_r·(A op(V_B))_r: one GEMM per vector.</summary>
    public void PerExampleDots(Tensor y, in PerExampleTarget t, double[] v, int k, Span<double> dots)
    {
        var (b, s) = (y.B!, (MatMulState)y.State!);
        t.Locate(b, out int at);
        int n = y.Cols, rows = t.Count, p = t.Stride;
        var (aRows, scratch) = (t.Rows(y.A!), PerExampleScratch.Get(rows * n));
        for (int j = 0; j < k; j++)
        {
            Gemm(aRows, false, new Mat(v, j * p + at, b.Rows, b.Cols), s.TransposeB, 0.0, new Mat(scratch, 0, rows, n));
            for (int r = 0; r < rows; r++)
                dots[r * k + j] += Dot(y.AdjointMut.Slice((t.FirstRow + r) * n, n), scratch.AsSpan(r * n, n));
        }
    }

    /// <summary>Σ_r w_r B̄_r = Aᵀ diag(w) C̄ (or its transpose when B enters transposed).</summary>
    public void PerExampleWeightedSums(Tensor y, in PerExampleTarget t, ReadOnlySpan<double> weights, int k, double[] sums)
    {
        var (b, s) = (y.B!, (MatMulState)y.State!);
        t.Locate(b, out int at);
        int n = y.Cols, rows = t.Count, p = t.Stride;
        var (aRows, scratch) = (t.Rows(y.A!), PerExampleScratch.Get(rows * n));
        var scaled = new Mat(scratch, 0, rows, n);
        for (int j = 0; j < k; j++)
        {
            ScaleRows(y.AdjointMut.Slice(t.FirstRow * n, rows * n), weights, k, j, n, scratch);
            var dst = new Mat(sums, j * p + at, b.Rows, b.Cols);
            if (s.TransposeB) Gemm(scaled, true, aRows, false, 1.0, dst);
            else Gemm(aRows, true, scaled, false, 1.0, dst);
        }
    }

    /// <summary>Σ_r B̄_r∘B̄_r = (A∘A)ᵀ(C̄∘C̄), or its transpose when B enters transposed.</summary>
    public void PerExampleSquaredSums(Tensor y, in PerExampleTarget t, double[] sums)
    {
        var a = y.A!; var b = y.B!;
        var s = (MatMulState)y.State!;
        t.Locate(b, out int at);
        int inner = a.Cols, n = y.Cols, rows = t.Count;
        var scratch = PerExampleScratch.Get(rows * (n + inner));
        Squares(y.AdjointMut.Slice(t.FirstRow * n, rows * n), scratch);
        PutMul(a.Value.Slice(t.FirstRow * inner, rows * inner), a.Value.Slice(t.FirstRow * inner, rows * inner), scratch.AsSpan(rows * n, rows * inner), false);
        var yy = new Mat(scratch, 0, rows, n);
        var aa = new Mat(scratch, rows * n, rows, inner);
        var dst = new Mat(sums, at, b.Rows, b.Cols);
        if (s.TransposeB) Gemm(yy, true, aa, false, 1.0, dst);
        else Gemm(aa, true, yy, false, 1.0, dst);
    }

    /// <summary>Ā ← C̄·op(B)ᵀ + β·Ā, or op(B)·C̄ᵀ + β·Ā when A enters transposed. C̄ may be m stacked blocks when A is not transposed.</summary>
    static void AdjointOfA(Mat cBar, Mat b, bool tA, bool tB, double beta, Mat aBar)
    {
        if (!tA) Gemm(cBar, false, b, !tB, beta, aBar);
        else Gemm(b, tB, cBar, true, beta, aBar);
    }

    /// <summary>B̄ ← op(A)ᵀ·C̄ + β·B̄, or C̄ᵀ·op(A) + β·B̄ when B enters transposed.</summary>
    static void AdjointOfB(Mat a, Mat cBar, bool tA, bool tB, double beta, Mat bBar)
    {
        if (!tB) Gemm(a, !tA, cBar, false, beta, bBar);
        else Gemm(cBar, true, a, tA, beta, bBar);
    }
}

/// <summary>Which operands of <see cref="MatMulOp"/> enter transposed.</summary>
internal sealed class MatMulState : OpState
{
    public bool TransposeA, TransposeB;

}

/// <summary>
/// Y = X Wᵀ + 1bᵀ (X batch×in, W out×in, b 1×out).
/// Forward: Y = X Wᵀ + 1bᵀ.
/// Tangent: Ẏ = Ẋ Wᵀ + X Ẇᵀ + 1ḃᵀ.
/// Backward: X̄ += Ȳ W; W̄ += Ȳᵀ X; b̄ += 1ᵀȲ.
/// Backward tangent: X̄̇ += Ȳ̇ W + [Ȳ Ẇ]; W̄̇ += Ȳ̇ᵀ X + [Ȳᵀ Ẋ]; b̄̇ += 1ᵀȲ̇.
/// </summary>
internal sealed class LinearOp : Op, IPerExampleOp, IFormedPerExampleOp
{
    /// <summary>Each example's outer product (or bias row) fills its θ operand's entries of that row once.</summary>
    public bool WritesEveryEntryOnce => true;

    public static readonly LinearOp Instance = new();
    public override string Name => "linear";

    public override void Forward(Tensor y)
    {
        var x = y.A!; var w = y.B!; var b = y.C;
        if (b is not null) PutBroadcastRows(b.Value, y.Rows, y.Cols, y.ValueMut, false);
        Gemm(ValueMat(x), false, ValueMat(w), true, b is null ? 0.0 : 1.0, ValueMat(y));
    }

    public override void Tangent(Tensor y)
    {
        var x = y.A!; var w = y.B!; var b = y.C;
        int m = y.Tape.TangentCount;
        bool written = false;
        if (b is not null && b.HasTangent)
        {
            for (int j = 0; j < m; j++) PutBroadcastRows(b.TangentMut(j), y.Rows, y.Cols, y.TangentMut(j), false);
            written = true;
        }
        if (x.HasTangent)
        {
            double beta = written ? 1.0 : 0.0;
            if (x.TangentsContiguous) Gemm(StackedTangents(x, m), false, ValueMat(w), true, beta, StackedTangents(y, m));
            else for (int j = 0; j < m; j++) Gemm(TangentMat(x, j), false, ValueMat(w), true, beta, TangentMat(y, j));
            written = true;
        }
        if (w.HasTangent)
            for (int j = 0; j < m; j++) Gemm(ValueMat(x), false, TangentMat(w, j), true, written ? 1.0 : 0.0, TangentMat(y, j));
    }

    public override void Backward(Tensor y)
    {
        var x = y.A!; var w = y.B!; var b = y.C;
        if (w.RequiresGrad)
            Gemm(AdjointMat(y), true, ValueMat(x), false, w.BeginAdjoint() ? 1.0 : 0.0, AdjointMat(w));
        if (b is not null && b.RequiresGrad)
        {
            bool acc = b.BeginAdjoint();
            PutColumnSums(y.AdjointMut, y.Rows, y.Cols, b.AdjointMut, acc);
        }
        if (x.RequiresGrad)
            Gemm(AdjointMat(y), false, ValueMat(w), false, x.BeginAdjoint() ? 1.0 : 0.0, AdjointMat(x));
    }

    public override void BackwardTangent(Tensor y, bool curvature)
    {
        var x = y.A!; var w = y.B!; var b = y.C;
        int m = y.Tape.TangentCount;
        bool linear = y.AdjointTangentTouched;
        bool haveYBar = curvature && y.AdjointTouched;
        if (w.RequiresGrad)
        {
            bool curv = haveYBar && x.HasTangent;
            if (linear || curv)
            {
                bool acc = w.BeginAdjointTangent();
                for (int j = 0; j < m; j++)
                {
                    bool accJ = acc;
                    if (linear) { Gemm(AdjointTangentMat(y, j), true, ValueMat(x), false, accJ ? 1.0 : 0.0, AdjointTangentMat(w, j)); accJ = true; }
                    if (curv) Gemm(AdjointMat(y), true, TangentMat(x, j), false, accJ ? 1.0 : 0.0, AdjointTangentMat(w, j));
                }
            }
        }
        if (b is not null && b.RequiresGrad && linear)
        {
            bool acc = b.BeginAdjointTangent();
            for (int j = 0; j < m; j++) PutColumnSums(y.AdjointTangentMut(j), y.Rows, y.Cols, b.AdjointTangentMut(j), acc);
        }
        if (x.RequiresGrad)
        {
            bool curv = haveYBar && w.HasTangent;
            if (linear || curv)
            {
                bool acc = x.BeginAdjointTangent();
                if (linear)
                {
                    double beta = acc ? 1.0 : 0.0;
                    if (y.AdjointTangentsContiguous && x.AdjointTangentsContiguous)
                        Gemm(StackedAdjointTangents(y, m), false, ValueMat(w), false, beta, StackedAdjointTangents(x, m));
                    else
                        for (int j = 0; j < m; j++) Gemm(AdjointTangentMat(y, j), false, ValueMat(w), false, beta, AdjointTangentMat(x, j));
                    acc = true;
                }
                if (curv)
                    for (int j = 0; j < m; j++) Gemm(AdjointMat(y), false, TangentMat(w, j), false, acc ? 1.0 : 0.0, AdjointTangentMat(x, j));
            }
        }
    }

    /// <summary>Example r may own g rows (a Transformer's tokens): its W̄_r and b̄_r sum over them.</summary>
    public bool GroupsRows => true;

    /// <summary>
    /// Example r with g rows Ȳ_r, X_r (g×out, g×in): W̄_r = Ȳ_rᵀX_r (one GEMM) and b̄_r = 1ᵀȲ_r,
    /// the backward rule restricted to the example's rows. Used when g > 1, where the outer-product
    /// closed forms below no longer hold (‖Ȳ_rᵀX_r‖² has cross terms between rows).
    /// </summary>
    public void Form(Tensor y, in PerExampleTarget t, int r, double[] part, int atB, int atC)
    {
        var x = y.A!;
        int g = t.Group(y), outs = y.Cols, ins = x.Cols;
        if (atB >= 0)
            Gemm(new Mat(y.AdjointArray, y.AdjointOffset + r * g * outs, g, outs), true, new Mat(x.ValueArray, x.ValueOffset + r * g * ins, g, ins), false, 0.0, new Mat(part, atB, outs, ins));
        if (atC >= 0) PutColumnSums(y.AdjointMut.Slice(r * g * outs, g * outs), g, outs, part.AsSpan(atC, outs), false);
    }

    /// <summary>Per example r: W̄_r = ȳ_r x_rᵀ (an outer product) and b̄_r = ȳ_r; together over r they are the backward rule's W̄ and b̄. With g rows per example, <see cref="Form"/>.</summary>
    public void PerExampleBackward(Tensor y, in PerExampleTarget t)
    {
        var x = y.A!; var w = y.B!; var b = y.C;
        if (t.Locate(x, out _))
            throw new NotSupportedException($"Per-example gradients: linear (node #{y.Index}) reads θ as its input; expected data with one example per row.");
        if (t.Group(y) > 1) { FormedPerExample.Backward(this, y, t); return; }
        bool hasW = t.Locate(w, out int atW), hasB = t.Locate(b, out int atB);
        int outs = y.Cols, ins = x.Cols;
        var yBar = y.AdjointMut; var xv = x.Value;
        for (int r = t.FirstRow; r < t.FirstRow + t.Count; r++)
        {
            var yr = yBar.Slice(r * outs, outs);
            if (hasW)
            {
                var xr = xv.Slice(r * ins, ins);
                for (int o = 0; o < outs; o++) PutScaled(yr[o], xr, t.Row(r, atW + o * ins, ins), !t.Overwrite);
            }
            if (hasB) Put(yr, t.Row(r, atB, outs), !t.Overwrite);
        }
    }

    /// <summary>‖ȳ_r x_rᵀ‖² + ‖ȳ_r‖² = ‖ȳ_r‖²(‖x_r‖² + 1) (each term only for the operands that are θ's).</summary>
    public void PerExampleSquaredNorms(Tensor y, in PerExampleTarget t, Span<double> sums)
    {
        if (t.Group(y) > 1) { FormedPerExample.SquaredNorms(this, y, t, sums); return; }
        var x = y.A!;
        bool hasW = t.Locate(y.B, out _), hasB = t.Locate(y.C, out _);
        int outs = y.Cols, ins = x.Cols;
        for (int r = t.FirstRow; r < t.FirstRow + t.Count; r++)
        {
            var yr = y.AdjointMut.Slice(r * outs, outs);
            double factor = (hasW ? Dot(x.Value.Slice(r * ins, ins), x.Value.Slice(r * ins, ins)) : 0) + (hasB ? 1 : 0);
            sums[r - t.FirstRow] += Dot(yr, yr) * factor;
        }
    }

    /// <summary>
    /// (ȳ_r x_rᵀ)·V_W + ȳ_r·v_b = ȳ_r·(X V_Wᵀ)_r + ȳ_r·v_b: one GEMM X V_Wᵀ per vector. With g rows
    /// per example, (Ȳ_rᵀX_r)·V_W = Σ_{s∈r} ȳ_s·(X V_Wᵀ)_s: the same products, summed over the example's rows.
    /// </summary>
    public void PerExampleDots(Tensor y, in PerExampleTarget t, double[] v, int k, Span<double> dots)
    {
        var (hasW, atW, hasB, atB) = t.WeightAndBias(y);
        int g = t.Group(y), outs = y.Cols, ins = y.A!.Cols, rows = t.Count * g, p = t.Stride;
        var (xs, scratch) = (t.Rows(y.A!), PerExampleScratch.Get(rows * outs));
        for (int j = 0; j < k; j++)
        {
            if (hasW) Gemm(xs, false, new Mat(v, j * p + atW, outs, ins), true, 0.0, new Mat(scratch, 0, rows, outs));
            for (int r = 0; r < rows; r++)
            {
                var yr = y.AdjointMut.Slice((t.FirstRow * g + r) * outs, outs);
                double d = 0;
                if (hasW) d += Dot(yr, scratch.AsSpan(r * outs, outs));
                if (hasB) d += Dot(yr, v.AsSpan(j * p + atB, outs));
                dots[r / g * k + j] += d;
            }
        }
    }

    /// <summary>Σ_r w_r ȳ_r x_rᵀ = (diag(w) Ȳ)ᵀ X and Σ_r w_r ȳ_r: the backward rule with rows scaled (with g rows per example, each row by its example's weight).</summary>
    public void PerExampleWeightedSums(Tensor y, in PerExampleTarget t, ReadOnlySpan<double> weights, int k, double[] sums)
    {
        var (hasW, atW, hasB, atB) = t.WeightAndBias(y);
        int g = t.Group(y), outs = y.Cols, ins = y.A!.Cols, rows = t.Count * g, p = t.Stride;
        var (xs, scratch) = (t.Rows(y.A!), PerExampleScratch.Get(rows * outs));
        for (int j = 0; j < k; j++)
        {
            ScaleRows(y.AdjointMut.Slice(t.FirstRow * g * outs, rows * outs), weights, k, j, outs, scratch, g);
            if (hasW) Gemm(new Mat(scratch, 0, rows, outs), true, xs, false, 1.0, new Mat(sums, j * p + atW, outs, ins));
            if (hasB) PutColumnSums(scratch.AsSpan(0, rows * outs), rows, outs, sums.AsSpan(j * p + atB, outs), true);
        }
    }

    /// <summary>Σ_r (ȳ_r x_rᵀ)∘(ȳ_r x_rᵀ) = (Ȳ∘Ȳ)ᵀ(X∘X) and Σ_r ȳ_r∘ȳ_r: one GEMM on the squares.</summary>
    public void PerExampleSquaredSums(Tensor y, in PerExampleTarget t, double[] sums)
    {
        if (t.Group(y) > 1) { FormedPerExample.SquaredSums(this, y, t, sums); return; }
        var x = y.A!;
        var (hasW, atW, hasB, atB) = t.WeightAndBias(y);
        int outs = y.Cols, ins = x.Cols, rows = t.Count;
        var scratch = PerExampleScratch.Get(rows * (outs + ins));
        Squares(y.AdjointMut.Slice(t.FirstRow * outs, rows * outs), scratch);
        if (hasW)
        {
            var squaredX = scratch.AsSpan(rows * outs, rows * ins);
            PutMul(x.Value.Slice(t.FirstRow * ins, rows * ins), x.Value.Slice(t.FirstRow * ins, rows * ins), squaredX, false);
            Gemm(new Mat(scratch, 0, rows, outs), true, new Mat(scratch, rows * outs, rows, ins), false, 1.0, new Mat(sums, atW, outs, ins));
        }
        if (hasB) PutColumnSums(scratch.AsSpan(0, rows * outs), rows, outs, sums.AsSpan(atB, outs), true);
    }
}

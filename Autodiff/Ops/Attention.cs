using Curvature.Core;

namespace Curvature.Autodiff;

public sealed partial class Tape
{
    /// <summary>
    /// Multi-head scaled dot-product self-attention (PyTorch's <c>nn.MultiheadAttention</c>
    /// with <c>batch_first=True</c>, query = key = value = x, no dropout) on B sequences of
    /// <paramref name="seqLen"/> tokens stored one after another in <paramref name="x"/>
    /// ((B·T)×d). <paramref name="inWeight"/> (3d×d) and <paramref name="inBias"/> (1×3d) are
    /// <c>in_proj_weight</c> and <c>in_proj_bias</c> (rows of Q, then K, then V);
    /// <paramref name="outWeight"/> (d×d) and <paramref name="outBias"/> (1×d) are
    /// <c>out_proj</c>. Each head h sees columns [h·d/H, (h + 1)·d/H) of Q, K and V and
    /// computes softmax(Q_h K_hᵀ/√(d/H)) V_h; the heads are concatenated and projected.
    /// A key whose entry in the constant B×T <paramref name="keyMask"/> is 0 is ignored, as
    /// PyTorch's <c>key_padding_mask</c> (True there); see <see cref="TokenMask"/>. Recorded as its parts: the in-projection
    /// (<see cref="Linear"/>), <see cref="AttentionScores"/>, the masked <see cref="Softmax"/>,
    /// <see cref="AttentionMix"/> and the out-projection, so its four rules are theirs.
    /// </summary>
    /// <exception cref="ArgumentException">d is not divisible by the number of heads, a shape does not match, or a sequence is fully masked.</exception>
    public Tensor SelfAttention(Tensor x, Tensor inWeight, Tensor? inBias, Tensor outWeight, Tensor? outBias, int heads, int seqLen,
        Tensor? keyMask = null)
    {
        Check(x, nameof(x));
        int d = x.Cols;
        CheckHeads(d, heads, seqLen, x.Rows);
        if (inWeight.Rows != 3 * d || inWeight.Cols != d)
            throw new ArgumentException($"SelfAttention: argument 'inWeight' is {inWeight.Shape}; expected {3 * d}x{d} (Q, K, V projections stacked).", nameof(inWeight));
        if (outWeight.Rows != d || outWeight.Cols != d)
            throw new ArgumentException($"SelfAttention: argument 'outWeight' is {outWeight.Shape}; expected {d}x{d}.", nameof(outWeight));
        int w = d / heads;
        var qkv = Linear(x, inWeight, inBias);
        var scores = AttentionScores(qkv, 0, qkv, d, heads, seqLen, w, 1.0 / Math.Sqrt(w));
        var p = Softmax(scores, 1, keyMask, heads * seqLen);
        var o = AttentionMix(p, qkv, 2 * d, heads, seqLen, w);
        return Linear(o, outWeight, outBias);
    }

    static void CheckHeads(int d, int heads, int seqLen, int rows)
    {
        Guard.Positive(heads, nameof(heads));
        Guard.Positive(seqLen, nameof(seqLen));
        if (d % heads != 0)
            throw new ArgumentException($"Argument 'heads' was {heads}; the width d = {d} is not divisible by it (expected a number of heads that divides d).", nameof(heads));
        if (rows % seqLen != 0)
            throw new ArgumentException($"Argument 'seqLen' was {seqLen}; the input has {rows} rows, which is not a whole number of sequences.", nameof(seqLen));
    }

    /// <summary>
    /// Batched matrix product for heads: for each sequence b and head h, the T×T block
    /// S_bh = scale·Q_bh K_bhᵀ, where Q_bh is rows [b·T, (b + 1)·T) and columns
    /// [qColumn + h·w, qColumn + (h + 1)·w) of <paramref name="q"/>, and likewise K_bh of
    /// <paramref name="k"/> (q and k may be the same tensor). Returns the (B·H·T)×T blocks
    /// stacked in (b, h) order.
    /// </summary>
    public Tensor AttentionScores(Tensor q, int qColumn, Tensor k, int kColumn, int heads, int seqLen, int headWidth, double scale)
    {
        Check(q, nameof(q));
        Check(k, nameof(k));
        Guard.Positive(headWidth, nameof(headWidth));
        Guard.Finite(scale, nameof(scale));
        CheckHeadWindow(q, qColumn, heads, seqLen, headWidth, nameof(q));
        CheckHeadWindow(k, kColumn, heads, seqLen, headWidth, nameof(k));
        if (q.Rows != k.Rows)
            throw new ArgumentException($"AttentionScores: 'q' is {q.Shape} and 'k' is {k.Shape}; expected the same number of rows.", nameof(k));
        int batch = q.Rows / seqLen;
        var y = Node(HeadProductOp.Instance, out var s, batch * heads * seqLen, seqLen, q, k);
        s.Set(batch, heads, seqLen, HeadLayout.Heads(qColumn, q.Cols, headWidth), HeadLayout.Heads(kColumn, k.Cols, headWidth),
            HeadLayout.Stacked(seqLen), transposeB: true, m: seqLen, n: seqLen, k: headWidth, alpha: scale);
        return Run(y);
    }

    /// <summary>
    /// Batched matrix product for heads: for each sequence b and head h, O_bh = P_bh V_bh,
    /// where P_bh is the T×T block (b, h) of <paramref name="p"/> ((B·H·T)×T, as
    /// <see cref="AttentionScores"/> stacks them) and V_bh the rows [b·T, (b + 1)·T) and
    /// columns [vColumn + h·w, vColumn + (h + 1)·w) of <paramref name="v"/>. Returns the
    /// (B·T)×(H·w) heads side by side (PyTorch's concatenation of heads).
    /// </summary>
    public Tensor AttentionMix(Tensor p, Tensor v, int vColumn, int heads, int seqLen, int headWidth)
    {
        Check(p, nameof(p));
        Check(v, nameof(v));
        Guard.Positive(headWidth, nameof(headWidth));
        CheckHeadWindow(v, vColumn, heads, seqLen, headWidth, nameof(v));
        int batch = v.Rows / seqLen;
        if (p.Rows != batch * heads * seqLen || p.Cols != seqLen)
            throw new ArgumentException($"AttentionMix: argument 'p' is {p.Shape}; expected {batch * heads * seqLen}x{seqLen} ({batch} sequences x {heads} heads of {seqLen}x{seqLen}).", nameof(p));
        var y = Node(HeadProductOp.Instance, out var s, v.Rows, heads * headWidth, p, v);
        s.Set(batch, heads, seqLen, HeadLayout.Stacked(seqLen), HeadLayout.Heads(vColumn, v.Cols, headWidth),
            HeadLayout.Heads(0, heads * headWidth, headWidth), transposeB: false, m: seqLen, n: headWidth, k: seqLen, alpha: 1.0);
        return Run(y);
    }

    static void CheckHeadWindow(Tensor t, int column, int heads, int seqLen, int width, string name)
    {
        Guard.Positive(heads, nameof(heads));
        Guard.Positive(seqLen, nameof(seqLen));
        if (column < 0 || column + (long)heads * width > t.Cols)
            throw new ArgumentException($"Argument '{name}' is {t.Shape}; {heads} heads of width {width} from column {column} need {column + (long)heads * width} columns.", name);
        if (t.Rows % seqLen != 0)
            throw new ArgumentException($"Argument '{name}' is {t.Shape}; expected a whole number of sequences of length {seqLen}.", name);
    }
}

/// <summary>
/// Where block i = b·H + h of a head-batched operand lives: in the head's column window of
/// a (B·T)×ld tensor (<see cref="Heads"/>), or as the i-th T×T block of a stacked
/// (B·H·T)×T tensor (<see cref="Stacked"/>).
/// </summary>
internal readonly record struct HeadLayout(bool IsStacked, int Column, int Ld, int Width)
{
    public static HeadLayout Heads(int column, int ld, int width) => new(false, column, ld, width);
    public static HeadLayout Stacked(int seqLen) => new(true, 0, seqLen, seqLen);

    /// <summary>Offset of block (b, h) from the tensor's start.</summary>
    public int Offset(int b, int h, int heads, int seqLen) =>
        IsStacked ? (b * heads + h) * seqLen * seqLen : b * seqLen * Ld + Column + h * Width;

    /// <summary>Whether the blocks tile the whole tensor (else a first adjoint write must zero it).</summary>
    public bool CoversAll(int heads) => IsStacked || (Column == 0 && heads * Width == Ld);
}

/// <summary>
/// C_i = α·A_i·op(B_i) for every block i = (b, h), op(B) = Bᵀ or B; each block is one GEMM
/// through the BLAS facade on a strided window, so heads are never copied out.
/// Forward: C_i = αA_i op(B_i). Tangent: Ċ_i = α(Ȧ_i op(B_i) + A_i op(Ḃ_i)).
/// Backward: Ā_i += αC̄_i op(B_i)ᵀ; B̄_i += α(A_iᵀC̄_i), or α(C̄_iᵀA_i) when B enters transposed.
/// Backward tangent: Ā̇_i += α(C̄̇_i op(B_i)ᵀ + [C̄_i op(Ḃ_i)ᵀ]); B̄̇_i likewise with (C̄̇_i, A_i) + [(C̄_i, Ȧ_i)].
/// </summary>
internal sealed class HeadProductOp : Op<HeadProductState>
{
    public static readonly HeadProductOp Instance = new();
    public override string Name => "head_product";

    /// <summary>Z_i ← α·op(X_i)·op(Y_i) + β·Z_i for every block i, each operand in its layout over a storage array at an offset.</summary>
    static void Blockwise(HeadProductState s, Transpose tx, Transpose ty, int m, int n, int k,
        HeadLayout lx, double[] x, int xOff, HeadLayout ly, double[] y, int yOff, double beta, HeadLayout lz, double[] z, int zOff)
    {
        for (int bi = 0; bi < s.Batch; bi++)
            for (int h = 0; h < s.Heads; h++)
                Blas.Gemm(tx, ty, m, n, k, s.Alpha,
                    x.AsSpan(xOff + lx.Offset(bi, h, s.Heads, s.SeqLen)), lx.Ld,
                    y.AsSpan(yOff + ly.Offset(bi, h, s.Heads, s.SeqLen)), ly.Ld,
                    beta, z.AsSpan(zOff + lz.Offset(bi, h, s.Heads, s.SeqLen)), lz.Ld);
    }

    /// <summary>C ← α·A·op(B) + β·C blockwise.</summary>
    static void Product(HeadProductState s, double[] a, int aOff, double[] b, int bOff, double beta, double[] c, int cOff) =>
        Blockwise(s, Transpose.No, s.TransposeB ? Transpose.Yes : Transpose.No, s.M, s.N, s.K, s.A, a, aOff, s.B, b, bOff, beta, s.C, c, cOff);

    /// <summary>Ā (+)= α·C̄·op(B)ᵀ blockwise.</summary>
    static void AdjointOfA(HeadProductState s, double[] cBar, int cOff, double[] b, int bOff, double beta, double[] aBar, int aOff) =>
        Blockwise(s, Transpose.No, s.TransposeB ? Transpose.No : Transpose.Yes, s.M, s.K, s.N, s.C, cBar, cOff, s.B, b, bOff, beta, s.A, aBar, aOff);

    /// <summary>B̄ (+)= α·Aᵀ·C̄ (or α·C̄ᵀ·A when B enters transposed) blockwise.</summary>
    static void AdjointOfB(HeadProductState s, double[] a, int aOff, double[] cBar, int cOff, double beta, double[] bBar, int bOff)
    {
        if (s.TransposeB) Blockwise(s, Transpose.Yes, Transpose.No, s.N, s.K, s.M, s.C, cBar, cOff, s.A, a, aOff, beta, s.B, bBar, bOff);
        else Blockwise(s, Transpose.Yes, Transpose.No, s.K, s.N, s.M, s.A, a, aOff, s.C, cBar, cOff, beta, s.B, bBar, bOff);
    }

    public override void Forward(Tensor y, HeadProductState s) =>
        Product(s, y.A!.ValueArray, y.A.ValueOffset, y.B!.ValueArray, y.B.ValueOffset, 0.0, y.ValueArray, y.ValueOffset);

    public override void Tangent(Tensor y, HeadProductState s)
    {
        var a = y.A!; var b = y.B!;
        for (int j = 0; j < y.Tape.TangentCount; j++)
        {
            int yOff = y.TangentOffset + j * y.TangentStride;
            double beta = 0.0;
            if (a.HasTangent)
            {
                Product(s, a.TangentArray, a.TangentOffset + j * a.TangentStride, b.ValueArray, b.ValueOffset, 0.0, y.TangentArray, yOff);
                beta = 1.0;
            }
            if (b.HasTangent)
                Product(s, a.ValueArray, a.ValueOffset, b.TangentArray, b.TangentOffset + j * b.TangentStride, beta, y.TangentArray, yOff);
        }
    }

    /// <summary>
    /// Claims an operand's adjoint (or its m adjoint tangents); when its blocks do not tile
    /// it, a first write zeroes it so the rest reads 0. Returns whether to accumulate.
    /// </summary>
    static bool Claim(Tensor x, HeadLayout layout, int heads, bool tangents)
    {
        bool acc = tangents ? x.BeginAdjointTangent() : x.BeginAdjoint();
        if (acc || layout.CoversAll(heads)) return acc;
        if (!tangents) x.AdjointMut.Clear();
        else for (int j = 0; j < x.Tape.TangentCount; j++) x.AdjointTangentMut(j).Clear();
        return true;
    }

    public override void Backward(Tensor y, HeadProductState s)
    {
        var a = y.A!; var b = y.B!;
        if (a.RequiresGrad)
        {
            double beta = Claim(a, s.A, s.Heads, tangents: false) ? 1.0 : 0.0;
            AdjointOfA(s, y.AdjointArray, y.AdjointOffset, b.ValueArray, b.ValueOffset, beta, a.AdjointArray, a.AdjointOffset);
        }
        if (b.RequiresGrad)
        {
            double beta = Claim(b, s.B, s.Heads, tangents: false) ? 1.0 : 0.0;
            AdjointOfB(s, a.ValueArray, a.ValueOffset, y.AdjointArray, y.AdjointOffset, beta, b.AdjointArray, b.AdjointOffset);
        }
    }

    public override void BackwardTangent(Tensor y, HeadProductState s, bool curvature)
    {
        var a = y.A!; var b = y.B!;
        int m = y.Tape.TangentCount;
        bool linear = y.AdjointTangentTouched;
        bool haveYBar = curvature && y.AdjointTouched;
        bool curvA = haveYBar && b.HasTangent, curvB = haveYBar && a.HasTangent;
        if (a.RequiresGrad && (linear || curvA))
        {
            bool acc = Claim(a, s.A, s.Heads, tangents: true);
            for (int j = 0; j < m; j++)
            {
                int aOff = a.AdjointTangentOffset + j * a.AdjointTangentStride;
                double beta = acc ? 1.0 : 0.0;
                if (linear)
                {
                    AdjointOfA(s, y.AdjointTangentArray, y.AdjointTangentOffset + j * y.AdjointTangentStride, b.ValueArray, b.ValueOffset, beta, a.AdjointTangentArray, aOff);
                    beta = 1.0;
                }
                if (curvA)
                    AdjointOfA(s, y.AdjointArray, y.AdjointOffset, b.TangentArray, b.TangentOffset + j * b.TangentStride, beta, a.AdjointTangentArray, aOff);
            }
        }
        if (b.RequiresGrad && (linear || curvB))
        {
            bool acc = Claim(b, s.B, s.Heads, tangents: true);
            for (int j = 0; j < m; j++)
            {
                int bOff = b.AdjointTangentOffset + j * b.AdjointTangentStride;
                double beta = acc ? 1.0 : 0.0;
                if (linear)
                {
                    AdjointOfB(s, a.ValueArray, a.ValueOffset, y.AdjointTangentArray, y.AdjointTangentOffset + j * y.AdjointTangentStride, beta, b.AdjointTangentArray, bOff);
                    beta = 1.0;
                }
                if (curvB)
                    AdjointOfB(s, a.TangentArray, a.TangentOffset + j * a.TangentStride, y.AdjointArray, y.AdjointOffset, beta, b.AdjointTangentArray, bOff);
            }
        }
    }
}

/// <summary>The block structure of a <see cref="HeadProductOp"/>: B sequences × H heads, each block m×k times k×n.</summary>
internal sealed class HeadProductState : OpState
{
    public int Batch, Heads, SeqLen, M, N, K;
    public HeadLayout A, B, C;
    public bool TransposeB;
    public double Alpha;

    public void Set(int batch, int heads, int seqLen, HeadLayout a, HeadLayout b, HeadLayout c, bool transposeB, int m, int n, int k, double alpha)
    {
        Batch = batch; Heads = heads; SeqLen = seqLen;
        A = a; B = b; C = c;
        TransposeB = transposeB;
        M = m; N = n; K = k;
        Alpha = alpha;
    }
}

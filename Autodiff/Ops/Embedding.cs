using static Curvature.Autodiff.Kernels;

namespace Curvature.Autodiff;

public sealed partial class Tape
{
    /// <summary>
    /// Token embedding (PyTorch's <c>nn.Embedding</c>): for the constant B×T tensor of token
    /// ids <paramref name="ids"/> (whole numbers stored as doubles, one sequence per row),
    /// row b·T + t of the (B·T)×d result is row ids[b, t] of <paramref name="table"/> (V×d,
    /// a <see cref="Slice"/> of θ). The gradient and the H·v rows of the table are non-zero
    /// only at ids used.
    /// </summary>
    /// <exception cref="ArgumentException">An id is not a whole number in [0, V), or <paramref name="ids"/> depends on θ.</exception>
    public Tensor Embedding(Tensor table, Tensor ids)
    {
        Check(table, nameof(table));
        Check(ids, nameof(ids));
        CheckConstant(ids, "Embedding", nameof(ids));
        var v = ids.Value;
        for (int i = 0; i < v.Length; i++)
            if (!(v[i] >= 0 && v[i] < table.Rows) || v[i] != Math.Floor(v[i]))
                throw new ArgumentException($"Embedding: argument 'ids' has {v[i]} at index {i}; expected a token id in [0, {table.Rows}) (the table is {table.Shape}).", nameof(ids));
        return Run(Node(EmbeddingOp.Instance, ids.Size, table.Cols, table, ids));
    }

    /// <summary>
    /// The constant B×T mask of a batch of token ids: 1 where the id is not
    /// <paramref name="padId"/>, 0 where it is (PyTorch's <c>(ids != pad)</c>; its negation is
    /// the <c>src_key_padding_mask</c>).
    /// </summary>
    public Tensor TokenMask(Tensor ids, int padId)
    {
        Check(ids, nameof(ids));
        CheckConstant(ids, "TokenMask", nameof(ids));
        var mask = NextNode(NodeKind.Constant, ids.Rows, ids.Cols);
        mask.UseOwnValue();
        var v = ids.Value;
        var m = mask.ValueMut;
        for (int i = 0; i < v.Length; i++) m[i] = v[i] == padId ? 0.0 : 1.0;
        return mask;
    }

    /// <summary>Throws unless <paramref name="t"/> is data (no adjoint flows into it).</summary>
    static void CheckConstant(Tensor t, string op, string name)
    {
        if (t.RequiresGrad)
            throw new ArgumentException($"{op}: argument '{name}' ({t}) depends on θ; expected constant data.", name);
    }
}

/// <summary>
/// Y = S·E, where E is the V×d table and S the count×V selection matrix with one 1 per row,
/// at column id(r). Linear in E, so no curvature term; every rule is a gather or a scatter.
/// Forward: Y_r = E_{id(r)}. Tangent: Ẏ_r = Ė_{id(r)}.
/// Backward: Ē_{id(r)} += Ȳ_r (Ē = SᵀȲ: rows of unused ids receive nothing).
/// Backward tangent: Ė̄_{id(r)} += Ȳ̇_r.
/// The table's adjoint is zeroed when this op writes it first (other rows must read 0);
/// the arithmetic touches only the rows used.
/// </summary>
internal sealed class EmbeddingOp : Op, IPerExampleOp
{
    public static readonly EmbeddingOp Instance = new();
    public override string Name => "embedding";

    static void Gather(ReadOnlySpan<double> ids, ReadOnlySpan<double> table, int cols, Span<double> dst)
    {
        for (int r = 0; r < ids.Length; r++)
            table.Slice((int)ids[r] * cols, cols).CopyTo(dst.Slice(r * cols, cols));
    }

    static void Scatter(ReadOnlySpan<double> ids, ReadOnlySpan<double> src, int cols, Span<double> table, bool accumulate)
    {
        if (!accumulate) table.Clear();
        for (int r = 0; r < ids.Length; r++)
            Put(src.Slice(r * cols, cols), table.Slice((int)ids[r] * cols, cols), true);
    }

    public override void Forward(Tensor y) => Gather(y.B!.Value, y.A!.Value, y.Cols, y.ValueMut);

    public override void Tangent(Tensor y)
    {
        for (int j = 0; j < y.Tape.TangentCount; j++) Gather(y.B!.Value, y.A!.TangentMut(j), y.Cols, y.TangentMut(j));
    }

    public override void Backward(Tensor y)
    {
        var e = y.A!;
        if (!e.RequiresGrad) return;
        bool acc = e.BeginAdjoint();
        Scatter(y.B!.Value, y.AdjointMut, y.Cols, e.AdjointMut, acc);
    }

    public override void BackwardTangent(Tensor y, bool curvature)
    {
        var e = y.A!;
        if (!y.AdjointTangentTouched || !e.RequiresGrad) return;
        bool acc = e.BeginAdjointTangent();
        for (int j = 0; j < y.Tape.TangentCount; j++) Scatter(y.B!.Value, y.AdjointTangentMut(j), y.Cols, e.AdjointTangentMut(j), acc);
    }

    /// <summary>Example r owns g rows, one per token (g = L, the ids of a sequence).</summary>
    public bool GroupsRows => true;

    /// <summary>Where the table starts in θ, and example r's rows [first, first + g).</summary>
    static (int At, int First, int G) Example(Tensor y, in PerExampleTarget t, int r)
    {
        if (!t.Locate(y.A, out int at))
            throw new NotSupportedException($"Per-example gradients: embedding (node #{y.Index}) needs θ as its table.");
        int g = t.Group(y);
        return (at, r * g, g);
    }

    /// <summary>Per example r: Ē_r = S_rᵀȲ_r, the scatter of the example's rows to the rows of their ids.</summary>
    public void PerExampleBackward(Tensor y, in PerExampleTarget t)
    {
        var ids = y.B!.Value;
        int d = y.Cols;
        for (int r = t.FirstRow; r < t.FirstRow + t.Count; r++)
        {
            var (at, first, g) = Example(y, t, r);
            for (int row = first; row < first + g; row++) Put(y.AdjointMut.Slice(row * d, d), t.Row(r, at + (int)ids[row] * d, d), true);
        }
    }

    /// <summary>
    /// ‖S_rᵀȲ_r‖² = Σ_{s,u∈r, id(s) = id(u)} ȳ_s·ȳ_u: rows of a repeated token add up before
    /// squaring, rows of distinct tokens land in distinct table rows. O(g²) id comparisons, no V×d row.
    /// </summary>
    public void PerExampleSquaredNorms(Tensor y, in PerExampleTarget t, Span<double> sums)
    {
        var ids = y.B!.Value;
        int d = y.Cols;
        for (int r = t.FirstRow; r < t.FirstRow + t.Count; r++)
        {
            var (_, first, g) = Example(y, t, r);
            double sum = 0;
            for (int s = first; s < first + g; s++)
            {
                var ys = y.AdjointMut.Slice(s * d, d);
                sum += Dot(ys, ys);
                for (int u = s + 1; u < first + g; u++)
                    if (ids[u] == ids[s]) sum += 2 * Dot(ys, y.AdjointMut.Slice(u * d, d));
            }
            sums[r - t.FirstRow] += sum;
        }
    }

    /// <summary>(S_rᵀȲ_r)·V_E = Σ_{s∈r} ȳ_s·(V_E)_{id(s)}: a gather of V's rows.</summary>
    public void PerExampleDots(Tensor y, in PerExampleTarget t, double[] v, int k, Span<double> dots)
    {
        var ids = y.B!.Value;
        int d = y.Cols;
        for (int r = t.FirstRow; r < t.FirstRow + t.Count; r++)
        {
            var (at, first, g) = Example(y, t, r);
            for (int j = 0; j < k; j++)
            {
                double sum = 0;
                for (int s = first; s < first + g; s++) sum += Dot(y.AdjointMut.Slice(s * d, d), v.AsSpan(j * t.Stride + at + (int)ids[s] * d, d));
                dots[(r - t.FirstRow) * k + j] += sum;
            }
        }
    }

    /// <summary>Σ_r w_r S_rᵀȲ_r: the backward scatter with each example's rows scaled by its weight.</summary>
    public void PerExampleWeightedSums(Tensor y, in PerExampleTarget t, ReadOnlySpan<double> weights, int k, double[] sums)
    {
        var ids = y.B!.Value;
        int d = y.Cols;
        for (int r = t.FirstRow; r < t.FirstRow + t.Count; r++)
        {
            var (at, first, g) = Example(y, t, r);
            for (int j = 0; j < k; j++)
            {
                double w = weights[(r - t.FirstRow) * k + j];
                for (int s = first; s < first + g; s++) PutScaled(w, y.AdjointMut.Slice(s * d, d), sums.AsSpan(j * t.Stride + at + (int)ids[s] * d, d), true);
            }
        }
    }

    /// <summary>
    /// Σ_r (S_rᵀȲ_r)∘(S_rᵀȲ_r): per example and distinct id, the sum of its rows (formed in a
    /// d-row scratch at the id's first occurrence), squared into the id's table row.
    /// </summary>
    public void PerExampleSquaredSums(Tensor y, in PerExampleTarget t, double[] sums)
    {
        var ids = y.B!.Value;
        int d = y.Cols;
        var row = PerExampleScratch.Get(d).AsSpan(0, d);
        for (int r = t.FirstRow; r < t.FirstRow + t.Count; r++)
        {
            var (at, first, g) = Example(y, t, r);
            for (int s = first; s < first + g; s++)
            {
                bool seen = false;
                for (int u = first; u < s && !seen; u++) seen = ids[u] == ids[s];
                if (seen) continue;
                y.AdjointMut.Slice(s * d, d).CopyTo(row);
                for (int u = s + 1; u < first + g; u++)
                    if (ids[u] == ids[s]) Put(y.AdjointMut.Slice(u * d, d), row, true);
                PutMul(row, row, sums.AsSpan(at + (int)ids[s] * d, d), true);
            }
        }
    }
}

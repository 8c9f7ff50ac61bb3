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
internal sealed class EmbeddingOp : Op
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
}

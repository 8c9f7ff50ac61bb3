using static Curvature.Autodiff.Kernels;

namespace Curvature.Autodiff;

public sealed partial class Tape
{
    /// <summary>
    /// Token embedding (PyTorch's <c>nn.Embedding</c>): row r of the result is row
    /// ids[offset + r] of <paramref name="table"/> (V×d, a <see cref="Slice"/> of θ), for
    /// <paramref name="count"/> ids. The ids are not copied and must not change until the
    /// sweep ends. The gradient and the H·v rows of the table are non-zero only at ids used.
    /// </summary>
    /// <exception cref="ArgumentException">An id lies outside [0, V) or the window lies outside <paramref name="ids"/>.</exception>
    public Tensor Embedding(Tensor table, int[] ids, int offset, int count)
    {
        Check(table, nameof(table));
        ArgumentNullException.ThrowIfNull(ids);
        Core.Guard.Positive(count);
        if (offset < 0 || offset + (long)count > ids.Length)
            throw new ArgumentException($"Embedding: argument 'ids' has length {ids.Length}; {count} ids starting at offset {offset} need {offset + (long)count}.", nameof(ids));
        for (int r = 0; r < count; r++)
            if ((uint)ids[offset + r] >= (uint)table.Rows)
                throw new ArgumentException($"Embedding: argument 'ids' has {ids[offset + r]} at index {offset + r}; expected a token id in [0, {table.Rows}) (the table is {table.Shape}).", nameof(ids));
        var y = Node(EmbeddingOp.Instance, out var s, count, table.Cols, table);
        s.Ids = ids;
        s.Offset = offset;
        return Run(y);
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
internal sealed class EmbeddingOp : Op<EmbeddingState>
{
    public static readonly EmbeddingOp Instance = new();
    public override string Name => "embedding";

    static void Gather(EmbeddingState s, ReadOnlySpan<double> table, int cols, Span<double> dst)
    {
        for (int r = 0; r < dst.Length / cols; r++)
            table.Slice(s.Ids[s.Offset + r] * cols, cols).CopyTo(dst.Slice(r * cols, cols));
    }

    static void Scatter(EmbeddingState s, ReadOnlySpan<double> src, int cols, Span<double> table, bool accumulate)
    {
        if (!accumulate) table.Clear();
        for (int r = 0; r < src.Length / cols; r++)
            Put(src.Slice(r * cols, cols), table.Slice(s.Ids[s.Offset + r] * cols, cols), true);
    }

    public override void Forward(Tensor y, EmbeddingState s) => Gather(s, y.A!.Value, y.Cols, y.ValueMut);

    public override void Tangent(Tensor y, EmbeddingState s)
    {
        for (int j = 0; j < y.Tape.TangentCount; j++) Gather(s, y.A!.TangentMut(j), y.Cols, y.TangentMut(j));
    }

    public override void Backward(Tensor y, EmbeddingState s)
    {
        var e = y.A!;
        if (!e.RequiresGrad) return;
        bool acc = e.BeginAdjoint();
        Scatter(s, y.AdjointMut, y.Cols, e.AdjointMut, acc);
    }

    public override void BackwardTangent(Tensor y, EmbeddingState s, bool curvature)
    {
        var e = y.A!;
        if (!y.AdjointTangentTouched || !e.RequiresGrad) return;
        bool acc = e.BeginAdjointTangent();
        for (int j = 0; j < y.Tape.TangentCount; j++) Scatter(s, y.AdjointTangentMut(j), y.Cols, e.AdjointTangentMut(j), acc);
    }
}

/// <summary>The token ids an <see cref="EmbeddingOp"/> node reads (not copied).</summary>
internal sealed class EmbeddingState : OpState
{
    public int[] Ids = [];
    public int Offset;
}

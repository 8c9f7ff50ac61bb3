using static Curvature.Autodiff.Kernels;

namespace Curvature.Autodiff;

/// <summary>
/// Where an op writes per-example contributions to θ's adjoint: row r of the batch goes to
/// <c>Array[Offset + (r − FirstRow)·Stride …]</c>, a row of θ's length, for rows
/// [FirstRow, FirstRow + Count). Contributions are added (the caller zeroes the rows first).
/// </summary>
internal readonly record struct PerExampleTarget(Tensor Parameter, double[] Array, int Offset, int Stride, int FirstRow, int Count)
{
    /// <summary>
    /// Whether <paramref name="operand"/> is θ or a view of it, and if so where its entries
    /// start inside θ.
    /// </summary>
    public bool Locate(Tensor? operand, out int at)
    {
        at = 0;
        if (operand is null) return false;
        if (ReferenceEquals(operand, Parameter)) return true;
        if (operand.Kind != NodeKind.ParameterView || !ReferenceEquals(operand.A, Parameter)) return false;
        at = operand.ValueOffset - Parameter.ValueOffset;
        return true;
    }

    /// <summary>The block of <paramref name="rows"/>×<paramref name="cols"/> entries at θ-offset <paramref name="at"/> of batch row <paramref name="r"/>.</summary>
    public Mat Block(int r, int at, int rows, int cols) => new(Array, Offset + (r - FirstRow) * Stride + at, rows, cols);

    /// <summary>The target's rows of <paramref name="x"/> (one example per row) as a matrix.</summary>
    public Mat Rows(Tensor x) => new(x.ValueArray, x.ValueOffset + FirstRow * x.Cols, Count, x.Cols);

    /// <summary>Whether y's second and third operands (a weight and a bias) are θ's, and where they start.</summary>
    public (bool HasW, int AtW, bool HasB, int AtB) WeightAndBias(Tensor y)
    {
        bool hasW = Locate(y.B, out int atW), hasB = Locate(y.C, out int atB);
        return (hasW, atW, hasB, atB);
    }

    /// <summary>The <paramref name="length"/> entries at θ-offset <paramref name="at"/> of batch row <paramref name="r"/>.</summary>
    public Span<double> Row(int r, int at, int length) => Array.AsSpan(Offset + (r - FirstRow) * Stride + at, length);
}

/// <summary>
/// An op that consumes θ (a weight or bias) and can split its contribution to θ's adjoint
/// by batch row. For a loss that sums over rows, row r's contribution is the gradient of
/// row r's own loss, because every op before the loss acts on rows independently: the
/// adjoint ȳ_r of a row-wise network depends on example r alone. Each op states the rule
/// beside its other four (see docs/curvature.md §6).
/// </summary>
internal interface IPerExampleOp
{
    /// <summary>Adds the per-row contributions of node <paramref name="y"/> to θ's adjoint into <paramref name="target"/>.</summary>
    void PerExampleBackward(Tensor y, in PerExampleTarget target);

    /// <summary>
    /// Adds ‖row r's contribution‖² (over the θ entries this node writes) to
    /// <c>sums[r − target.FirstRow]</c> for the target's rows, without forming the
    /// contributions where a closed form exists (‖ȳ xᵀ‖² = ‖ȳ‖²‖x‖² for an outer product).
    /// </summary>
    void PerExampleSquaredNorms(Tensor y, in PerExampleTarget target, Span<double> sums);

    /// <summary>
    /// For k vectors V (rows of θ's length in <paramref name="v"/>): adds row r's contribution
    /// · v_j to <c>dots[(r − FirstRow)·k + j]</c>, by products with V instead of forming the rows.
    /// </summary>
    void PerExampleDots(Tensor y, in PerExampleTarget target, double[] v, int k, Span<double> dots);

    /// <summary>
    /// For k weight columns (<c>weights[(r − FirstRow)·k + j]</c>): adds Σ_r w_rj · (row r's
    /// contribution) to row j of <paramref name="sums"/> (k rows of θ's length), the backward
    /// rule with each row's adjoint scaled by its weight.
    /// </summary>
    void PerExampleWeightedSums(Tensor y, in PerExampleTarget target, ReadOnlySpan<double> weights, int k, double[] sums);

    /// <summary>
    /// Adds Σ_r (row r's contribution)∘(row r's contribution) over the target's rows into
    /// <paramref name="sums"/> (θ's length), in closed form where one exists
    /// (Σ_r (ȳ_r x_rᵀ)∘(ȳ_r x_rᵀ) = (Ȳ∘Ȳ)ᵀ(X∘X)).
    /// </summary>
    void PerExampleSquaredSums(Tensor y, in PerExampleTarget target, double[] sums);
}

/// <summary>A per-thread scratch array for the per-example rules of stateless ops, and their row scaling.</summary>
internal static class PerExampleScratch
{
    /// <summary>dst row r ← weights[r·k + j] · src row r, for the rows of width <paramref name="cols"/> in <paramref name="src"/>.</summary>
    public static void ScaleRows(ReadOnlySpan<double> src, ReadOnlySpan<double> weights, int k, int j, int cols, double[] dst)
    {
        int rows = src.Length / cols;
        for (int r = 0; r < rows; r++) Kernels.PutScaled(weights[r * k + j], src.Slice(r * cols, cols), dst.AsSpan(r * cols, cols), false);
    }

    [ThreadStatic] static double[]? t_buffer;

    /// <summary>dst ← src∘src.</summary>
    public static void Squares(ReadOnlySpan<double> src, double[] dst) => Kernels.PutMul(src, src, dst, false);

    /// <summary>At least <paramref name="length"/> doubles, kept for the thread's next call.</summary>
    public static double[] Get(int length)
    {
        var b = t_buffer;
        if (b is null || b.Length < length) t_buffer = b = new double[length];
        return b;
    }
}

public sealed partial class Tape
{
    /// <summary>
    /// After <see cref="Backward"/>: the rows of the batch, i.e. the rows of every node that
    /// consumes <paramref name="parameter"/> (one per example). Throws when an op that
    /// consumes θ has no per-example rule or the consumers disagree on the batch size.
    /// </summary>
    /// <exception cref="NotSupportedException">An op consuming θ has no per-example rule.</exception>
    /// <exception cref="InvalidOperationException">Consumers of θ have different row counts, or none was reached by the backward sweep.</exception>
    public int PerExampleRows(Tensor parameter)
    {
        Check(parameter, nameof(parameter));
        if (parameter.Kind != NodeKind.Parameter)
            throw new ArgumentException($"Argument 'parameter' is {parameter}; expected a tensor made by Parameter(...).", nameof(parameter));
        var probe = new PerExampleTarget(parameter, [], 0, 0, 0, 0);
        int rows = -1;
        for (int i = 0; i < _count; i++)
        {
            var y = _nodes[i];
            if (y.Kind != NodeKind.Computed || !ConsumesParameter(y, probe)) continue;
            if (y.Op is not IPerExampleOp)
                throw new NotSupportedException($"Per-example gradients: op '{y.Op!.Name}' (node #{y.Index}, {y.Shape}) consumes θ but has no per-example rule; expected linear, matmul, bias_add or conv2d.");
            if (rows < 0) rows = y.Rows;
            else if (rows != y.Rows)
                throw new InvalidOperationException($"Per-example gradients: the ops consuming θ see batches of {rows} and {y.Rows} rows (node #{y.Index}); expected one row per example throughout.");
        }
        if (rows < 0)
            throw new InvalidOperationException("Per-example gradients: no op of this recording consumes θ.");
        return rows;
    }

    /// <summary>Whether the ops consuming θ read pairwise disjoint parts of it.</summary>
    bool ConsumersDisjoint(in PerExampleTarget target)
    {
        var ranges = new List<(int Start, int End)>();
        for (int i = 0; i < _count; i++)
        {
            var y = _nodes[i];
            if (y.Kind != NodeKind.Computed || !ConsumesParameter(y, target)) continue;
            foreach (var operand in (ReadOnlySpan<Tensor?>)[y.A, y.B, y.C])
                if (target.Locate(operand, out int at)) ranges.Add((at, at + operand!.Size));
        }
        ranges.Sort();
        for (int i = 1; i < ranges.Count; i++)
            if (ranges[i].Start < ranges[i - 1].End) return false;
        return true;
    }

    /// <summary>
    /// After <see cref="Backward"/>: adds Σ_r (row r's contribution to θ's adjoint)² entry by
    /// entry into <paramref name="sums"/> (θ's length), in closed form per op (docs/curvature.md
    /// §8). Returns false, adding nothing, when two ops consuming θ share entries (then the
    /// squares of the parts are not the square of the sum; form the rows instead).
    /// </summary>
    public bool TryPerExampleSquaredSums(Tensor parameter, double[] sums)
    {
        int rows = PerExampleRows(parameter);
        Core.Guard.NotNull(sums);
        AtLeast(sums.Length, parameter.Size, nameof(sums));
        var target = new PerExampleTarget(parameter, sums, 0, parameter.Size, 0, rows);
        if (!ConsumersDisjoint(target)) return false;
        for (int i = 0; i < _count; i++)
        {
            var y = _nodes[i];
            if (y.Kind != NodeKind.Computed || !y.AdjointTouched || !ConsumesParameter(y, target)) continue;
            ((IPerExampleOp)y.Op!).PerExampleSquaredSums(y, target, sums);
        }
        return true;
    }

    static void AtLeast(int length, long needed, string name)
    {
        if (length < needed)
            throw new ArgumentException($"Argument '{name}' has length {length}; expected at least {needed}.", name);
    }

    static bool ConsumesParameter(Tensor y, in PerExampleTarget probe) =>
        probe.Locate(y.A, out _) || probe.Locate(y.B, out _) || probe.Locate(y.C, out _);

    /// <summary>
    /// After <see cref="Backward"/>: writes, for batch rows [<paramref name="firstRow"/>,
    /// firstRow + <paramref name="count"/>), each row's contribution to θ's adjoint as one
    /// row of θ's length into <paramref name="destination"/> (count rows, <paramref name="offset"/>
    /// first, rows θ's length apart), overwriting. The rows sum to θ's adjoint. Costs one
    /// outer product (or, for a convolution, one GEMM) per row and consumer; no sweep is repeated.
    /// </summary>
    public void PerExampleAdjoints(Tensor parameter, int firstRow, int count, double[] destination, int offset)
    {
        int rows = PerExampleRows(parameter);
        Core.Guard.NotNull(destination);
        if (firstRow < 0 || count < 1 || firstRow + count > rows)
            throw new ArgumentOutOfRangeException(nameof(count), $"Rows [{firstRow}, {firstRow + count}) lie outside the batch of {rows} rows.");
        int p = parameter.Size;
        if (offset < 0 || offset + (long)count * p > destination.Length)
            throw new ArgumentException($"Argument 'destination' has length {destination.Length}; {count} rows of {p} at offset {offset} need {offset + (long)count * p}.", nameof(destination));
        destination.AsSpan(offset, count * p).Clear();
        var target = new PerExampleTarget(parameter, destination, offset, p, firstRow, count);
        for (int i = 0; i < _count; i++)
        {
            var y = _nodes[i];
            if (y.Kind != NodeKind.Computed || !y.AdjointTouched || !ConsumesParameter(y, target)) continue;
            ((IPerExampleOp)y.Op!).PerExampleBackward(y, target);
        }
    }

    /// <summary>
    /// After <see cref="Backward"/>: ‖each row's contribution to θ's adjoint‖² for all rows
    /// of the batch into <paramref name="destination"/>, without forming the contributions
    /// (docs/curvature.md §6). Valid when the ops consuming θ read disjoint parts of it (the
    /// squares of separate parts add up); returns false, writing nothing, when two of them
    /// share entries (then form the rows with <see cref="PerExampleAdjoints"/>).
    /// </summary>
    public bool TryPerExampleSquaredNorms(Tensor parameter, Span<double> destination)
    {
        int rows = PerExampleRows(parameter);
        Core.Guard.Length<double>(destination, rows, nameof(destination));
        var target = new PerExampleTarget(parameter, [], 0, 0, 0, rows);
        if (!ConsumersDisjoint(target)) return false;
        destination[..rows].Clear();
        for (int i = 0; i < _count; i++)
        {
            var y = _nodes[i];
            if (y.Kind != NodeKind.Computed || !y.AdjointTouched || !ConsumesParameter(y, target)) continue;
            ((IPerExampleOp)y.Op!).PerExampleSquaredNorms(y, target, destination);
        }
        return true;
    }

    /// <summary>
    /// After <see cref="Backward"/>: dᵣⱼ = (row r's contribution to θ's adjoint)·vⱼ for all
    /// rows of the batch and the <paramref name="count"/> vectors stored as rows of
    /// <paramref name="vectors"/>, into <paramref name="dots"/> (rows×count, overwritten), by
    /// one product with V per parameter op (docs/curvature.md §7).
    /// </summary>
    public void PerExampleDots(Tensor parameter, double[] vectors, int count, Span<double> dots)
    {
        int rows = PerExampleRows(parameter);
        Core.Guard.NotNull(vectors);
        Core.Guard.Positive(count);
        AtLeast(vectors.Length, count * parameter.Size, nameof(vectors));
        AtLeast(dots.Length, rows * count, nameof(dots));
        dots[..(rows * count)].Clear();
        var target = new PerExampleTarget(parameter, [], 0, parameter.Size, 0, rows);
        for (int i = 0; i < _count; i++)
        {
            var y = _nodes[i];
            if (y.Kind != NodeKind.Computed || !y.AdjointTouched || !ConsumesParameter(y, target)) continue;
            ((IPerExampleOp)y.Op!).PerExampleDots(y, target, vectors, count, dots);
        }
    }

    /// <summary>
    /// After <see cref="Backward"/>: adds Σ_r w_rj (row r's contribution to θ's adjoint) to row
    /// j of <paramref name="sums"/> (count rows of θ's length) for weights w (rows×count in
    /// <paramref name="weights"/>), by one product per parameter op (docs/curvature.md §7).
    /// </summary>
    public void PerExampleWeightedSums(Tensor parameter, ReadOnlySpan<double> weights, int count, double[] sums)
    {
        int rows = PerExampleRows(parameter);
        Core.Guard.NotNull(sums);
        Core.Guard.Positive(count);
        AtLeast(weights.Length, rows * count, nameof(weights));
        AtLeast(sums.Length, count * parameter.Size, nameof(sums));
        var target = new PerExampleTarget(parameter, sums, 0, parameter.Size, 0, rows);
        for (int i = 0; i < _count; i++)
        {
            var y = _nodes[i];
            if (y.Kind != NodeKind.Computed || !y.AdjointTouched || !ConsumesParameter(y, target)) continue;
            ((IPerExampleOp)y.Op!).PerExampleWeightedSums(y, target, weights, count, sums);
        }
    }

    /// <summary>
    /// The dense layer (<see cref="Linear"/>) of this recording whose weight is the view of
    /// <paramref name="parameter"/> starting at <paramref name="weightOffset"/>: its input X
    /// (batch×in) and its output Y (batch×out, whose <see cref="Tensor.Adjoint"/> after a
    /// backward sweep holds each row's output gradient); null when no dense layer has that weight.
    /// </summary>
    public (Tensor Input, Tensor Output)? DenseLayer(Tensor parameter, int weightOffset)
    {
        Check(parameter, nameof(parameter));
        var probe = new PerExampleTarget(parameter, [], 0, 0, 0, 0);
        for (int i = 0; i < _count; i++)
        {
            var y = _nodes[i];
            if (y.Kind == NodeKind.Computed && y.Op is LinearOp && probe.Locate(y.B, out int at) && at == weightOffset)
                return (y.A!, y);
        }
        return null;
    }

    /// <summary>
    /// Records Σ_r w_rᵀ z_r for constant weights W (rows×cols like <paramref name="z"/>, copied):
    /// its gradient in z is W, so a backward sweep from it gives Σ_r J_rᵀ w_r.
    /// </summary>
    public Tensor WeightedSum(Tensor z, ReadOnlySpan<double> weights)
    {
        Check(z, nameof(z));
        return Sum(Mul(z, Constant(weights, z.Rows, z.Cols)));
    }
}

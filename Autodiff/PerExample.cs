using static Curvature.Autodiff.Kernels;

namespace Curvature.Autodiff;

/// <summary>
/// Where an op writes per-example contributions to θ's adjoint: example r of the batch goes to
/// <c>Array[Offset + (r − FirstRow)·Stride …]</c>, a row of θ's length, for examples
/// [FirstRow, FirstRow + Count) of the <paramref name="Examples"/> in the batch. A node with
/// g·Examples rows holds g consecutive rows per example (a Transformer's tokens: g = L).
/// Contributions are added (the caller zeroes the rows first).
/// </summary>
internal readonly record struct PerExampleTarget(Tensor Parameter, double[] Array, int Offset, int Stride, int FirstRow, int Count, int Examples)
{
    /// <summary>
    /// True when the target's rows were not cleared because the consuming ops together write every entry
    /// of them exactly once (<see cref="IPerExampleOp.WritesEveryEntryOnce"/>): <see cref="IPerExampleOp.PerExampleBackward"/>
    /// then stores instead of adding, which saves the clearing pass and the read of each row.
    /// </summary>
    public bool Overwrite { get; init; }

    /// <summary>Rows of <paramref name="y"/> per example (1 for row-wise networks, L for a Transformer's token rows).</summary>
    public int Group(Tensor y) => y.Rows / Examples;

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

    /// <summary>The target's examples' rows of <paramref name="x"/> (<see cref="Group"/> rows per example) as a matrix.</summary>
    public Mat Rows(Tensor x)
    {
        int g = Group(x);
        return new(x.ValueArray, x.ValueOffset + FirstRow * g * x.Cols, Count * g, x.Cols);
    }

    /// <summary>Whether y's second and third operands (a weight and a bias) are θ's, and where they start.</summary>
    public (bool HasW, int AtW, bool HasB, int AtB) WeightAndBias(Tensor y)
    {
        bool hasW = Locate(y.B, out int atW), hasB = Locate(y.C, out int atB);
        return (hasW, atW, hasB, atB);
    }

    /// <summary>The <paramref name="length"/> entries at θ-offset <paramref name="at"/> of batch row <paramref name="r"/>.</summary>
    public Span<double> Row(int r, int at, int length) => Array.AsSpan(Offset + (r - FirstRow) * Stride + at, length);

    /// <summary>
    /// dots[(r − FirstRow)·k + j] += part·v_j over the θ entries at <paramref name="at"/>, for
    /// example r's formed contribution <paramref name="part"/> and the k vectors of <paramref name="v"/>.
    /// </summary>
    public void DotPart(int r, int at, ReadOnlySpan<double> part, double[] v, int k, Span<double> dots)
    {
        for (int j = 0; j < k; j++) dots[(r - FirstRow) * k + j] += Dot(part, v.AsSpan(j * Stride + at, part.Length));
    }

    /// <summary>Row j of <paramref name="sums"/> += w_rj·part at θ-offset <paramref name="at"/>, for example r's formed contribution.</summary>
    public void WeighPart(int r, int at, ReadOnlySpan<double> part, ReadOnlySpan<double> weights, int k, double[] sums)
    {
        for (int j = 0; j < k; j++) PutScaled(weights[(r - FirstRow) * k + j], part, sums.AsSpan(j * Stride + at, part.Length), true);
    }
}

/// <summary>
/// An op that consumes θ (a weight or bias) and can split its contribution to θ's adjoint
/// by example ("row r" below: example r, which owns g consecutive rows of a node with g rows
/// per example, see <see cref="PerExampleTarget.Group"/>). For a loss that sums over
/// examples, example r's contribution is the gradient of its own loss, because every op
/// before the loss mixes rows only within an example (row-wise networks; attention within a
/// sequence): the adjoint of example r's rows depends on example r alone. Each op states the
/// rule beside its other four (see docs/curvature.md §6).
/// </summary>
internal interface IPerExampleOp
{
    /// <summary>Adds the per-row contributions of node <paramref name="y"/> to θ's adjoint into <paramref name="target"/>.</summary>
    void PerExampleBackward(Tensor y, in PerExampleTarget target);

    /// <summary>
    /// Whether <see cref="PerExampleBackward"/> writes every entry of each θ operand of y once per target
    /// row (so with <see cref="PerExampleTarget.Overwrite"/> it may store rather than add). Ops that write
    /// only some entries (an embedding's used rows) keep false.
    /// </summary>
    bool WritesEveryEntryOnce => false;

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

    /// <summary>
    /// Whether the rules accept a node with several rows per example (<see cref="PerExampleTarget.Group"/>
    /// above 1), summing each example's rows; ops whose rules assume one row per example keep false.
    /// </summary>
    bool GroupsRows => false;
}

/// <summary>
/// A per-example op whose rules form each example's contribution densely, one example at a
/// time, where no cheaper closed form exists (several rows per example, LayerNorm's γ and β):
/// <see cref="Form"/> writes it, and <see cref="FormedPerExample"/> turns it into the five rules.
/// </summary>
internal interface IFormedPerExampleOp
{
    /// <summary>
    /// Writes (overwrites) example r's contribution to y's second operand at
    /// <c>part[atB …]</c> and to its third at <c>part[atC …]</c> (an offset of −1: that operand
    /// is not θ's; skip it).
    /// </summary>
    void Form(Tensor y, in PerExampleTarget t, int r, double[] part, int atB, int atC);
}

/// <summary>The five per-example rules from an op's formed per-example contributions (<see cref="IFormedPerExampleOp"/>).</summary>
internal static class FormedPerExample
{
    /// <summary>Which of y's second and third operands are θ's, where they start in θ and in the part buffer.</summary>
    readonly record struct Layout(bool HasB, int ThetaB, int LengthB, bool HasC, int ThetaC, int LengthC)
    {
        public int PartB => HasB ? 0 : -1;
        public int PartC => HasC ? LengthB : -1;
        public int Length => LengthB + LengthC;

        public static Layout Of(Tensor y, in PerExampleTarget t)
        {
            bool hasB = t.Locate(y.B, out int atB), hasC = t.Locate(y.C, out int atC);
            return new(hasB, atB, hasB ? y.B!.Size : 0, hasC, atC, hasC ? y.C!.Size : 0);
        }
    }

    static double[] Form(IFormedPerExampleOp op, Tensor y, in PerExampleTarget t, in Layout l, int r)
    {
        var part = PerExampleScratch.Get(l.Length);
        op.Form(y, t, r, part, l.PartB, l.PartC);
        return part;
    }

    /// <summary>Adds each example's formed contribution into its row of the target.</summary>
    public static void Backward(IFormedPerExampleOp op, Tensor y, in PerExampleTarget t)
    {
        var l = Layout.Of(y, t);
        for (int r = t.FirstRow; r < t.FirstRow + t.Count; r++)
        {
            var part = Form(op, y, t, l, r);
            if (l.HasB) Put(part.AsSpan(0, l.LengthB), t.Row(r, l.ThetaB, l.LengthB), !t.Overwrite);
            if (l.HasC) Put(part.AsSpan(l.LengthB, l.LengthC), t.Row(r, l.ThetaC, l.LengthC), !t.Overwrite);
        }
    }

    /// <summary>Adds ‖example r's contribution‖² to sums[r − FirstRow].</summary>
    public static void SquaredNorms(IFormedPerExampleOp op, Tensor y, in PerExampleTarget t, Span<double> sums)
    {
        var l = Layout.Of(y, t);
        for (int r = t.FirstRow; r < t.FirstRow + t.Count; r++)
        {
            var part = Form(op, y, t, l, r).AsSpan(0, l.Length);
            sums[r - t.FirstRow] += Dot(part, part);
        }
    }

    /// <summary>Adds example r's contribution · v_j to dots[(r − FirstRow)·k + j].</summary>
    public static void Dots(IFormedPerExampleOp op, Tensor y, in PerExampleTarget t, double[] v, int k, Span<double> dots)
    {
        var l = Layout.Of(y, t);
        for (int r = t.FirstRow; r < t.FirstRow + t.Count; r++)
        {
            var part = Form(op, y, t, l, r);
            if (l.HasB) t.DotPart(r, l.ThetaB, part.AsSpan(0, l.LengthB), v, k, dots);
            if (l.HasC) t.DotPart(r, l.ThetaC, part.AsSpan(l.LengthB, l.LengthC), v, k, dots);
        }
    }

    /// <summary>Adds Σ_r w_rj·(example r's contribution) to row j of sums.</summary>
    public static void WeightedSums(IFormedPerExampleOp op, Tensor y, in PerExampleTarget t, ReadOnlySpan<double> weights, int k, double[] sums)
    {
        var l = Layout.Of(y, t);
        for (int r = t.FirstRow; r < t.FirstRow + t.Count; r++)
        {
            var part = Form(op, y, t, l, r);
            if (l.HasB) t.WeighPart(r, l.ThetaB, part.AsSpan(0, l.LengthB), weights, k, sums);
            if (l.HasC) t.WeighPart(r, l.ThetaC, part.AsSpan(l.LengthB, l.LengthC), weights, k, sums);
        }
    }

    /// <summary>Adds Σ_r (example r's contribution)∘(example r's contribution) into sums.</summary>
    public static void SquaredSums(IFormedPerExampleOp op, Tensor y, in PerExampleTarget t, double[] sums)
    {
        var l = Layout.Of(y, t);
        for (int r = t.FirstRow; r < t.FirstRow + t.Count; r++)
        {
            var part = Form(op, y, t, l, r);
            if (l.HasB) PutMul(part.AsSpan(0, l.LengthB), part.AsSpan(0, l.LengthB), sums.AsSpan(l.ThetaB, l.LengthB), true);
            if (l.HasC) PutMul(part.AsSpan(l.LengthB, l.LengthC), part.AsSpan(l.LengthB, l.LengthC), sums.AsSpan(l.ThetaC, l.LengthC), true);
        }
    }
}

/// <summary>A per-thread scratch array for the per-example rules of stateless ops, and their row scaling.</summary>
internal static class PerExampleScratch
{
    /// <summary>
    /// dst row r ← weights[⌊r/g⌋·k + j] · src row r, for the rows of width <paramref name="cols"/>
    /// in <paramref name="src"/>, g = <paramref name="group"/> rows per example.
    /// </summary>
    public static void ScaleRows(ReadOnlySpan<double> src, ReadOnlySpan<double> weights, int k, int j, int cols, double[] dst, int group = 1)
    {
        int rows = src.Length / cols;
        for (int r = 0; r < rows; r++) Kernels.PutScaled(weights[r / group * k + j], src.Slice(r * cols, cols), dst.AsSpan(r * cols, cols), false);
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
    /// After <see cref="Backward"/>: the examples of the batch, the rows of the network output
    /// when one is marked (<see cref="MarkNetworkOutput"/>), else the fewest rows of a node
    /// consuming <paramref name="parameter"/>. Every consumer holds a whole number g of
    /// consecutive rows per example (g = 1 for dense and convolutional networks, g = L for a
    /// Transformer's token rows). Throws when an op that consumes θ has no per-example rule,
    /// or has several rows per example and rules for one row only, or the row counts do not divide.
    /// </summary>
    /// <exception cref="NotSupportedException">An op consuming θ has no per-example rule, or none for several rows per example.</exception>
    /// <exception cref="InvalidOperationException">A consumer's rows are not a whole number of rows per example, or no consumer was reached by the backward sweep.</exception>
    public int PerExampleRows(Tensor parameter)
    {
        Check(parameter, nameof(parameter));
        if (parameter.Kind != NodeKind.Parameter)
            throw new ArgumentException($"Argument 'parameter' is {parameter}; expected a tensor made by Parameter(...).", nameof(parameter));
        var probe = new PerExampleTarget(parameter, [], 0, 0, 0, 0, 0);
        int fewest = int.MaxValue;
        for (int i = 0; i < _count; i++)
        {
            var y = _nodes[i];
            if (y.Kind != NodeKind.Computed || !ConsumesParameter(y, probe)) continue;
            if (y.Op is not IPerExampleOp)
                throw new NotSupportedException($"Per-example gradients: op '{y.Op!.Name}' (node #{y.Index}, {y.Shape}) consumes θ but has no per-example rule; expected linear, matmul, bias_add, conv2d, embedding or layer_norm.");
            fewest = Math.Min(fewest, y.Rows);
        }
        if (fewest == int.MaxValue)
            throw new InvalidOperationException("Per-example gradients: no op of this recording consumes θ.");
        int examples = _split >= 0 ? _nodes[_split].Rows : fewest;
        for (int i = 0; i < _count; i++)
        {
            var y = _nodes[i];
            if (y.Kind != NodeKind.Computed || !ConsumesParameter(y, probe)) continue;
            if (examples == 0 || y.Rows % examples != 0)
                throw new InvalidOperationException($"Per-example gradients: op '{y.Op!.Name}' (node #{y.Index}) sees {y.Rows} rows, not a whole number of rows for each of the {examples} examples; expected one or g consecutive rows per example throughout.");
            if (y.Rows != examples && !((IPerExampleOp)y.Op!).GroupsRows)
                throw new NotSupportedException($"Per-example gradients: op '{y.Op!.Name}' (node #{y.Index}) sees {y.Rows / examples} rows per example; its rules expect one row per example.");
        }
        return examples;
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
        var target = new PerExampleTarget(parameter, sums, 0, parameter.Size, 0, rows, rows);
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
    /// After <see cref="Backward"/>: writes, for examples [<paramref name="firstRow"/>,
    /// firstRow + <paramref name="count"/>) of the batch (see <see cref="PerExampleRows"/>), each
    /// example's contribution to θ's adjoint as one row of θ's length into
    /// <paramref name="destination"/> (count rows, <paramref name="offset"/> first, rows θ's
    /// length apart), overwriting. The rows sum to θ's adjoint. Costs one outer product (or, for
    /// a convolution or an example of several rows, one GEMM) per example and consumer; no sweep is repeated.
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
        var target = new PerExampleTarget(parameter, destination, offset, p, firstRow, count, rows);
        // The n×P write is memory-bound: when the consumers tile θ and each writes its part of a row once,
        // the rows are stored once instead of cleared, read and written (docs/curvature.md §6).
        bool overwrite = ConsumersTileAndOverwrite(target);
        if (!overwrite) destination.AsSpan(offset, count * p).Clear();
        target = target with { Overwrite = overwrite };
        for (int i = 0; i < _count; i++)
        {
            var y = _nodes[i];
            if (y.Kind != NodeKind.Computed || !ConsumesParameter(y, target)) continue;
            if (y.AdjointTouched) ((IPerExampleOp)y.Op!).PerExampleBackward(y, target);
            else if (overwrite) ClearOperandRows(y, target);
        }
    }

    /// <summary>Whether the ops consuming θ read disjoint parts that cover all of it, and each writes its parts whole.</summary>
    bool ConsumersTileAndOverwrite(in PerExampleTarget target)
    {
        if (!ConsumersDisjoint(target)) return false;
        long covered = 0;
        for (int i = 0; i < _count; i++)
        {
            var y = _nodes[i];
            if (y.Kind != NodeKind.Computed || !ConsumesParameter(y, target)) continue;
            if (y.Op is not IPerExampleOp { WritesEveryEntryOnce: true }) return false;
            foreach (var operand in (ReadOnlySpan<Tensor?>)[y.A, y.B, y.C])
                if (target.Locate(operand, out _)) covered += operand!.Size;
        }
        return covered == target.Parameter.Size;
    }

    /// <summary>Zeros the target rows' entries of y's θ operands (a consumer the backward sweep never reached).</summary>
    static void ClearOperandRows(Tensor y, in PerExampleTarget target)
    {
        foreach (var operand in (ReadOnlySpan<Tensor?>)[y.A, y.B, y.C])
            if (target.Locate(operand, out int at))
                for (int r = target.FirstRow; r < target.FirstRow + target.Count; r++) target.Row(r, at, operand!.Size).Clear();
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
        var target = new PerExampleTarget(parameter, [], 0, 0, 0, rows, rows);
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
        var target = new PerExampleTarget(parameter, [], 0, parameter.Size, 0, rows, rows);
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
        var target = new PerExampleTarget(parameter, sums, 0, parameter.Size, 0, rows, rows);
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
    public (Tensor Input, Tensor Output)? DenseLayer(Tensor parameter, int weightOffset) =>
        WeightConsumer<LinearOp>(parameter, weightOffset) is { } y ? (y.A!, y) : null;

    /// <summary>The first node of op <typeparamref name="TOp"/> whose second operand is the view of θ at <paramref name="weightOffset"/>.</summary>
    Tensor? WeightConsumer<TOp>(Tensor parameter, int weightOffset) where TOp : Op
    {
        Check(parameter, nameof(parameter));
        var probe = new PerExampleTarget(parameter, [], 0, 0, 0, 0, 0);
        for (int i = 0; i < _count; i++)
        {
            var y = _nodes[i];
            if (y.Kind == NodeKind.Computed && y.Op is TOp && probe.Locate(y.B, out int at) && at == weightOffset) return y;
        }
        return null;
    }

    /// <summary>
    /// The convolution (<see cref="Conv2d"/>) of this recording whose weight is the view of
    /// <paramref name="parameter"/> starting at <paramref name="weightOffset"/>: its input X
    /// (batch×(C·H·W)), its output Y (batch×(N·Ho·Wo), whose <see cref="Tensor.Adjoint"/> after a
    /// backward sweep holds each image's output gradient) and its geometry; null when no
    /// convolution has that weight.
    /// </summary>
    public (Tensor Input, Tensor Output, Conv2dGeometry Geometry)? ConvolutionLayer(Tensor parameter, int weightOffset) =>
        WeightConsumer<Conv2dOp>(parameter, weightOffset) is { } y ? (y.A!, y, ((Conv2dState)y.State!).Geometry) : null;

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

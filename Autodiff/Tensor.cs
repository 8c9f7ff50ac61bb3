using System.Globalization;

namespace Curvature.Autodiff;

/// <summary>What a node on the tape is.</summary>
internal enum NodeKind
{
    /// <summary>Data the function does not depend on θ through (inputs, targets).</summary>
    Constant,

    /// <summary>The differentiation variable θ (a 1×P row).</summary>
    Parameter,

    /// <summary>A rows×cols window onto θ sharing its value, tangent and adjoint storage.</summary>
    ParameterView,

    /// <summary>The output of an op.</summary>
    Computed,
}

/// <summary>
/// A 2-D tensor (rows×cols, row-major; a scalar is 1×1) recorded on a <see cref="Tape"/>.
/// Besides its value it carries, when the sweep asks for them, m forward tangents
/// (directional derivatives along m directions), its adjoint ∂L/∂x, and m tangents of the
/// adjoint (the directional derivatives of ∂L/∂x, whose sum over the parameter gives H·v).
/// Tensors are pooled by their position on the tape: one is only valid until the tape
/// starts its next recording.
/// </summary>
public sealed class Tensor
{
    internal Tensor(Tape tape, int index)
    {
        Tape = tape;
        Index = index;
    }

    /// <summary>The tape this tensor was recorded on.</summary>
    public Tape Tape { get; }

    /// <summary>Position on the tape.</summary>
    internal int Index { get; }

    /// <summary>Rows (for a batch: one per example).</summary>
    public int Rows { get; private set; }
    /// <summary>Columns (for a batch: the features of one example, e.g. C·H·W for images).</summary>
    public int Cols { get; private set; }
    /// <summary>Entries, rows·cols.</summary>
    public int Size => Rows * Cols;
    /// <summary>"rowsxcols", as error messages spell shapes.</summary>
    public string Shape => string.Create(CultureInfo.InvariantCulture, $"{Rows}x{Cols}");

    internal NodeKind Kind;
    internal long Generation;

    // Storage windows: each points either at pooled buffers this node owns or, for the
    // parameter, its views and constants, at arrays supplied by the caller.
    internal double[] ValueArray = [];
    internal int ValueOffset;
    internal double[] TangentArray = [];
    internal int TangentOffset, TangentStride;
    internal double[] AdjointArray = [];
    internal int AdjointOffset;
    internal double[] AdjointTangentArray = [];
    internal int AdjointTangentOffset, AdjointTangentStride;

    // Pooled buffers, grown on demand and kept for the next recording at this position.
    double[] _ownValue = [], _ownTangent = [], _ownAdjoint = [], _ownAdjointTangent = [];
    OpState? _pooledState;

    // What produced this node.
    internal Op? Op;
    internal Tensor? A, B, C;

    /// <summary>The producing op's typed state (see <see cref="Op{TState}"/>), or null for ops without state.</summary>
    internal OpState? State;

    /// <summary>The value depends on θ (so an adjoint may flow into it).</summary>
    internal bool RequiresGrad;

    /// <summary>The tangents are non-zero and stored; false means all tangents are zero.</summary>
    internal bool HasTangent;

    /// <summary>The adjoint has been written in this backward sweep; false means it is zero.</summary>
    internal bool AdjointTouched;

    /// <summary>The adjoint tangents have been written in this sweep; false means they are zero.</summary>
    internal bool AdjointTangentTouched;

    // Parameter bookkeeping: views in recording order, whether they tile θ without
    // overlap (then adjoints can be written without zeroing θ's adjoint first), and
    // whether an op consumed the parameter itself.
    internal readonly List<Tensor> Views = [];
    internal int ViewsEnd;
    internal bool ViewsDisjoint;
    internal bool UsedDirectly;

    internal void Reset(NodeKind kind, int rows, int cols, long generation)
    {
        Kind = kind;
        Rows = rows;
        Cols = cols;
        Generation = generation;
        Op = null;
        A = B = C = null;
        State = null;
        RequiresGrad = HasTangent = AdjointTouched = AdjointTangentTouched = false;
        Views.Clear();
        ViewsEnd = 0;
        ViewsDisjoint = true;
        UsedDirectly = false;
        ValueArray = TangentArray = AdjointArray = AdjointTangentArray = [];
        ValueOffset = TangentOffset = TangentStride = AdjointOffset = AdjointTangentOffset = AdjointTangentStride = 0;
    }

    internal static double[] Grow(ref double[] buffer, int length)
    {
        if (buffer.Length < length) buffer = new double[length];
        return buffer;
    }

    internal void UseOwnValue()
    {
        ValueArray = Grow(ref _ownValue, Size);
        ValueOffset = 0;
    }

    internal void UseOwnTangent(int count)
    {
        TangentArray = Grow(ref _ownTangent, count * Size);
        TangentOffset = 0;
        TangentStride = Size;
    }

    internal void UseOwnAdjoint()
    {
        AdjointArray = Grow(ref _ownAdjoint, Size);
        AdjointOffset = 0;
    }

    internal void UseOwnAdjointTangent(int count)
    {
        AdjointTangentArray = Grow(ref _ownAdjointTangent, count * Size);
        AdjointTangentOffset = 0;
        AdjointTangentStride = Size;
    }

    /// <summary>The value, row-major.</summary>
    public ReadOnlySpan<double> Value => ValueArray.AsSpan(ValueOffset, Size);

    /// <summary>The value of a 1×1 tensor.</summary>
    public double Scalar
    {
        get
        {
            if (Size != 1)
                throw new InvalidOperationException($"Tensor of shape {Shape} is not a scalar; expected 1x1.");
            return ValueArray[ValueOffset];
        }
    }

    internal Span<double> ValueMut => ValueArray.AsSpan(ValueOffset, Size);

    /// <summary>Whether the tensor carries forward tangents in the current recording.</summary>
    public bool HasTangents => HasTangent;

    /// <summary>Tangent along direction <paramref name="j"/> (valid when <see cref="HasTangents"/>).</summary>
    public ReadOnlySpan<double> Tangent(int j)
    {
        if (!HasTangent)
            throw new InvalidOperationException($"Tensor #{Index} ({Shape}) carries no tangents: the recording has none or the tensor does not depend on θ.");
        CheckDirection(j);
        return TangentArray.AsSpan(TangentOffset + j * TangentStride, Size);
    }

    internal Span<double> TangentMut(int j) => TangentArray.AsSpan(TangentOffset + j * TangentStride, Size);

    /// <summary>All m tangents as one (m·rows)×cols block, when they are stored contiguously.</summary>
    internal bool TangentsContiguous => TangentStride == Size;

    /// <summary>The adjoint ∂L/∂x after <see cref="Tape.Backward"/>.</summary>
    public ReadOnlySpan<double> Adjoint
    {
        get
        {
            if (!AdjointTouched)
                throw new InvalidOperationException($"Tensor #{Index} ({Shape}) has no adjoint: the backward sweep did not reach it.");
            return AdjointArray.AsSpan(AdjointOffset, Size);
        }
    }

    internal Span<double> AdjointMut => AdjointArray.AsSpan(AdjointOffset, Size);

    /// <summary>The tangent of the adjoint along direction <paramref name="j"/> after a second-order sweep.</summary>
    public ReadOnlySpan<double> AdjointTangent(int j)
    {
        if (!AdjointTangentTouched)
            throw new InvalidOperationException($"Tensor #{Index} ({Shape}) has no adjoint tangents: the backward sweep did not reach it.");
        CheckDirection(j);
        return AdjointTangentArray.AsSpan(AdjointTangentOffset + j * AdjointTangentStride, Size);
    }

    internal Span<double> AdjointTangentMut(int j) => AdjointTangentArray.AsSpan(AdjointTangentOffset + j * AdjointTangentStride, Size);

    internal bool AdjointTangentsContiguous => AdjointTangentStride == Size;

    /// <summary>
    /// Claims the adjoint for writing: returns true when it already holds contributions
    /// (add to it), false when this is the first (overwrite it, no zeroing needed).
    /// </summary>
    internal bool BeginAdjoint()
    {
        if (AdjointTouched) return true;
        if (Kind == NodeKind.Computed && Tape.Recycling)
        {
            AdjointArray = Tape.AcquireAdjoint(Size);
            AdjointOffset = 0;
        }
        else if (Kind == NodeKind.Computed) UseOwnAdjoint();
        AdjointTouched = true;
        return false;
    }

    /// <summary>As <see cref="BeginAdjoint"/> for the m adjoint tangents; the caller writes all m.</summary>
    internal bool BeginAdjointTangent()
    {
        if (AdjointTangentTouched) return true;
        if (Kind == NodeKind.Computed && Tape.Recycling)
        {
            AdjointTangentArray = Tape.AcquireAdjoint(Tape.TangentCount * Size);
            AdjointTangentOffset = 0;
            AdjointTangentStride = Size;
        }
        else if (Kind == NodeKind.Computed) UseOwnAdjointTangent(Tape.TangentCount);
        AdjointTangentTouched = true;
        return false;
    }

    void CheckDirection(int j)
    {
        if (j < 0 || j >= Tape.TangentCount)
            throw new ArgumentOutOfRangeException(nameof(j), $"Argument 'j' was {j}; expected a direction in [0, {Tape.TangentCount}).");
    }

    /// <summary>
    /// Attaches a <typeparamref name="TState"/> to this node: the one pooled at this tape
    /// position when the previous recording put the same kind of op here (no allocation in
    /// steady state), a new one otherwise.
    /// </summary>
    internal TState AttachState<TState>() where TState : OpState, new()
    {
        if (_pooledState is not TState s)
        {
            s = new TState();
            _pooledState = s;
        }
        s.Recorded();
        State = s;
        return s;
    }

    /// <summary>An int buffer grown to at least <paramref name="length"/> (kept for the next recording).</summary>
    internal static int[] Grow(ref int[] buffer, int length)
    {
        if (buffer.Length < length) buffer = new int[length];
        return buffer;
    }

    /// <summary>Records <see cref="Tape.Add"/>.</summary>
    public static Tensor operator +(Tensor a, Tensor b) => a.Tape.Add(a, b);
    /// <summary>Records <see cref="Tape.Sub"/>.</summary>
    public static Tensor operator -(Tensor a, Tensor b) => a.Tape.Sub(a, b);
    /// <summary>Records the elementwise product <see cref="Tape.Mul"/>.</summary>
    public static Tensor operator *(Tensor a, Tensor b) => a.Tape.Mul(a, b);
    /// <summary>Records <see cref="Tape.Scale"/>.</summary>
    public static Tensor operator *(double alpha, Tensor a) => a.Tape.Scale(a, alpha);

    /// <summary>Position, shape and producing op, for messages and debugging.</summary>
    public override string ToString() => $"Tensor #{Index} {Shape} ({Op?.Name ?? Kind.ToString()})";
}

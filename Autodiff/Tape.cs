using Curvature.Core;

namespace Curvature.Autodiff;

/// <summary>
/// Which curvature matrix: the three a backward sweep with tangents produces (H, G, F; the
/// tape's modes) and the ones built from per-example gradients or Kronecker factors
/// (empirical Fisher, gradient covariance, Fisher, K-FAC), which the objective's operators
/// provide and the tape refuses as a mode.
/// </summary>
public enum CurvatureKind
{
    /// <summary>The Hessian H: every op keeps its curvature term.</summary>
    [CliName("h", "hessian", Meaning = "Hessian")]
    Hessian,

    /// <summary>
    /// The Gauss–Newton matrix G = Jᵀ(∇²ℓ)J: only ops recorded after the network output
    /// (the loss) keep their curvature term. Needs <see cref="Tape.MarkNetworkOutput"/>.
    /// </summary>
    [CliName("g", "gn", "ggn", "gauss-newton", Meaning = "Gauss–Newton")]
    GaussNewton,

    /// <summary>
    /// The functional Hessian F = H − G = Σ_c (∂ℓ/∂z_c)∇²z_c: only ops up to the network
    /// output keep their curvature term. Needs <see cref="Tape.MarkNetworkOutput"/>.
    /// </summary>
    [CliName("f", "functional", "functional-hessian", Meaning = "functional Hessian")]
    FunctionalHessian,

    /// <summary>The empirical Fisher EF = (1/n) Σᵢ gᵢgᵢᵀ of the per-example gradients gᵢ (not a tape mode).</summary>
    [CliName("ef", "empirical-fisher", Meaning = "empirical Fisher")]
    EmpiricalFisher,

    /// <summary>The gradient covariance Σ = EF − ḡḡᵀ (not a tape mode).</summary>
    [CliName("cov", "covariance", "gradient-covariance", Meaning = "gradient covariance")]
    GradientCovariance,

    /// <summary>The Fisher of the model's predictive distribution, exactly; it equals G for ce, mse and torch-mse (not a tape mode).</summary>
    [CliName("fisher", Meaning = "true Fisher")]
    Fisher,

    /// <summary>K-FAC's layer-wise Kronecker approximation B ⊗ A of G (not a tape mode).</summary>
    [CliName("kfac", "k-fac", Meaning = "K-FAC")]
    Kfac,
}

/// <summary>Builds a scalar (or, for <see cref="Tape.Jvp(TapeFunction, ReadOnlySpan{double}, ReadOnlySpan{double}, int)"/>, any) output from θ on a tape.</summary>
public delegate Tensor TapeFunction(Tape tape, Tensor theta);

/// <summary>
/// Records ops as a function runs (each op computes its value, and its tangents when the
/// recording carries any, immediately), then replays them backward. Nodes and their
/// buffers are pooled by position: recording the same graph again reuses every buffer, so
/// a steady-state step allocates nothing. A tape is not thread-safe; use one per thread.
/// </summary>
public sealed partial class Tape
{
    readonly List<Tensor> _nodes = [];
    readonly List<Tensor> _parameters = [];
    int _count;
    long _generation;
    int _split = -1;

    /// <summary>Number of tangent directions m carried by the current recording (0: none).</summary>
    public int TangentCount { get; private set; }

    /// <summary>Number of nodes recorded so far.</summary>
    public int Count => _count;

    /// <summary>Numbers held by the values of every node recorded since <see cref="Begin"/> (parameters and constants included).</summary>
    public long ValueCount
    {
        get
        {
            long sum = 0;
            for (int i = 0; i < _count; i++) sum += _nodes[i].Size;
            return sum;
        }
    }

    /// <summary>Starts a new recording carrying <paramref name="tangentCount"/> tangent directions.</summary>
    public void Begin(int tangentCount = 0)
    {
        Guard.NonNegative(tangentCount);
        _generation++;
        _count = 0;
        _split = -1;
        _parameters.Clear();
        TangentCount = tangentCount;
    }

    Tensor NextNode(NodeKind kind, int rows, int cols)
    {
        if (_count == _nodes.Count) _nodes.Add(new Tensor(this, _count));
        var t = _nodes[_count++];
        t.Reset(kind, rows, cols, _generation);
        return t;
    }

    /// <summary>Throws unless <paramref name="t"/> belongs to this tape's current recording.</summary>
    internal void Check(Tensor t, string name)
    {
        if (t is null)
            throw new ArgumentNullException(name, $"Argument '{name}' was null; expected a tensor.");
        if (!ReferenceEquals(t.Tape, this) || t.Generation != _generation || t.Index >= _count)
            throw new ArgumentException($"Argument '{name}' ({t.Shape}) was recorded on another tape or in an earlier recording; expected a tensor of the current recording.", name);
    }

    /// <summary>
    /// Declares θ: a 1×<paramref name="length"/> row over <paramref name="values"/> (not
    /// copied; it must not change until the sweep ends). When the recording carries m
    /// tangents, direction j of θ's tangent starts at tangentOffset + j·tangentStride of
    /// <paramref name="tangents"/> (stride defaults to the length: one direction per row).
    /// </summary>
    public Tensor Parameter(double[] values, int offset, int length, double[]? tangents = null, int tangentOffset = 0, int tangentStride = -1)
    {
        Guard.NotNull(values);
        Guard.Positive(length);
        if (offset < 0 || offset + length > values.Length)
            throw new ArgumentException($"Parameter window [{offset}, {offset + length}) lies outside 'values' of length {values.Length}.", nameof(values));
        int m = TangentCount;
        if (tangentStride < 0) tangentStride = length;
        if (m > 0)
        {
            if (tangents is null)
                throw new ArgumentNullException(nameof(tangents), $"Argument 'tangents' was null; the recording carries {m} tangent directions, so θ needs {m} tangents of length {length}.");
            if (tangentStride < length || tangentOffset < 0 || tangentOffset + (long)(m - 1) * tangentStride + length > tangents.Length)
                throw new ArgumentException($"Argument 'tangents' has length {tangents.Length}; {m} directions of length {length} at offset {tangentOffset} with stride {tangentStride} need {tangentOffset + (long)(m - 1) * tangentStride + length}.", nameof(tangents));
        }
        var p = NextNode(NodeKind.Parameter, 1, length);
        p.ValueArray = values;
        p.ValueOffset = offset;
        p.RequiresGrad = true;
        if (m > 0)
        {
            p.TangentArray = tangents!;
            p.TangentOffset = tangentOffset;
            p.TangentStride = tangentStride;
            p.HasTangent = true;
            p.UseOwnAdjointTangent(m);
        }
        p.UseOwnAdjoint();
        _parameters.Add(p);
        return p;
    }

    /// <summary>Declares θ over a whole array.</summary>
    public Tensor Parameter(double[] values, double[]? tangents = null) => Parameter(values, 0, values.Length, tangents);

    /// <summary>
    /// A rows×cols window of θ starting at <paramref name="offset"/> (row-major), sharing θ's
    /// value, tangents and adjoints: how a model cuts weights and biases out of the flat θ.
    /// </summary>
    public Tensor Slice(Tensor parameter, int offset, int rows, int cols)
    {
        Check(parameter, nameof(parameter));
        if (parameter.Kind != NodeKind.Parameter)
            throw new ArgumentException($"Argument 'parameter' is {parameter}; expected a tensor made by Parameter(...).", nameof(parameter));
        Guard.Positive(rows);
        Guard.Positive(cols);
        int size = rows * cols;
        if (offset < 0 || offset + size > parameter.Size)
            throw new ArgumentException($"Slice [{offset}, {offset + size}) of shape {rows}x{cols} lies outside the parameter of length {parameter.Size}.", nameof(offset));
        var v = NextNode(NodeKind.ParameterView, rows, cols);
        v.A = parameter;
        v.ValueArray = parameter.ValueArray;
        v.ValueOffset = parameter.ValueOffset + offset;
        v.RequiresGrad = true;
        v.HasTangent = parameter.HasTangent;
        if (v.HasTangent)
        {
            v.TangentArray = parameter.TangentArray;
            v.TangentOffset = parameter.TangentOffset + offset;
            v.TangentStride = parameter.TangentStride;
            v.AdjointTangentArray = parameter.AdjointTangentArray;
            v.AdjointTangentOffset = parameter.AdjointTangentOffset + offset;
            v.AdjointTangentStride = parameter.AdjointTangentStride;
        }
        v.AdjointArray = parameter.AdjointArray;
        v.AdjointOffset = parameter.AdjointOffset + offset;
        if (offset < parameter.ViewsEnd) parameter.ViewsDisjoint = false;
        parameter.ViewsEnd = Math.Max(parameter.ViewsEnd, offset + size);
        parameter.Views.Add(v);
        return v;
    }

    /// <summary>A constant rows×cols window over <paramref name="data"/> (not copied).</summary>
    public Tensor Constant(double[] data, int offset, int rows, int cols)
    {
        Guard.NotNull(data);
        Guard.Positive(rows);
        Guard.Positive(cols);
        if (offset < 0 || offset + (long)rows * cols > data.Length)
            throw new ArgumentException($"Constant window of shape {rows}x{cols} at offset {offset} lies outside 'data' of length {data.Length}.", nameof(data));
        var c = NextNode(NodeKind.Constant, rows, cols);
        c.ValueArray = data;
        c.ValueOffset = offset;
        return c;
    }

    /// <summary>A constant over a whole matrix (not copied).</summary>
    public Tensor Constant(Matrix matrix)
    {
        Guard.NotNull(matrix);
        return Constant(matrix.Data, 0, matrix.Rows, matrix.Cols);
    }

    /// <summary>A constant copied into the tape's own storage.</summary>
    public Tensor Constant(ReadOnlySpan<double> values, int rows, int cols)
    {
        Guard.Positive(rows);
        Guard.Positive(cols);
        Guard.Length(values, rows * cols, nameof(values));
        var c = NextNode(NodeKind.Constant, rows, cols);
        c.UseOwnValue();
        values.CopyTo(c.ValueMut);
        return c;
    }

    /// <summary>A 1×1 constant.</summary>
    public Tensor Constant(double value)
    {
        var c = NextNode(NodeKind.Constant, 1, 1);
        c.UseOwnValue();
        c.ValueMut[0] = value;
        return c;
    }

    /// <summary>
    /// Marks <paramref name="z"/> as the network output: ops recorded after it form the
    /// loss ℓ(z), whose curvature the Gauss–Newton sweep keeps and the functional-Hessian
    /// sweep drops.
    /// </summary>
    public void MarkNetworkOutput(Tensor z)
    {
        Check(z, nameof(z));
        _split = z.Index;
    }

    /// <summary>Records the output node of <paramref name="op"/> (value and tangents are computed by <see cref="Run"/>).</summary>
    internal Tensor Node(Op op, int rows, int cols, Tensor a, Tensor? b = null, Tensor? c = null)
    {
        var y = NextNode(NodeKind.Computed, rows, cols);
        y.Op = op;
        y.A = a;
        y.B = b;
        y.C = c;
        y.RequiresGrad = a.RequiresGrad || (b?.RequiresGrad ?? false) || (c?.RequiresGrad ?? false);
        y.HasTangent = a.HasTangent || (b?.HasTangent ?? false) || (c?.HasTangent ?? false);
        if (a.Kind == NodeKind.Parameter) a.UsedDirectly = true;
        if (b?.Kind == NodeKind.Parameter) b.UsedDirectly = true;
        if (c?.Kind == NodeKind.Parameter) c.UsedDirectly = true;
        y.UseOwnValue();
        return y;
    }

    /// <summary>As <see cref="Node"/> for an op with typed state; <paramref name="state"/> is the node's (pooled) state, for the caller to fill before <see cref="Run"/>.</summary>
    internal Tensor Node<TState>(Op<TState> op, out TState state, int rows, int cols, Tensor a, Tensor? b = null, Tensor? c = null) where TState : OpState, new()
    {
        var y = Node(op, rows, cols, a, b, c);
        state = y.AttachState<TState>();
        return y;
    }

    /// <summary>Runs the forward and tangent rules of a freshly recorded node.</summary>
    internal static Tensor Run(Tensor y)
    {
        y.Op!.Forward(y);
        if (y.HasTangent)
        {
            y.UseOwnTangent(y.Tape.TangentCount);
            y.Op.Tangent(y);
        }
        return y;
    }

    /// <summary>
    /// The backward sweep from the scalar <paramref name="output"/> (seed ∂L/∂L = 1). When
    /// the recording carries tangents it also propagates the adjoint tangents, so θ's
    /// adjoint tangents become H·v (or G·v, F·v per <paramref name="mode"/>) for each
    /// direction v. With <paramref name="gradient"/> false a Gauss–Newton sweep skips the
    /// network's own adjoints (they only feed the curvature terms it drops).
    /// Afterwards each parameter's <see cref="Tensor.Adjoint"/> and
    /// <see cref="Tensor.AdjointTangent"/> hold the results. With
    /// <paramref name="keepIntermediateAdjoints"/> false the adjoints of computed nodes live
    /// only while the sweep needs them: a node's adjoint buffers go back to the tape as soon
    /// as its rules have run and serve the next node that needs one, so the sweep holds the
    /// largest set of adjoints alive at one time instead of one per node (the bits do not
    /// change: every first write overwrites); only θ's adjoints can be read afterwards.
    /// </summary>
    public void Backward(Tensor output, CurvatureKind mode = CurvatureKind.Hessian, bool gradient = true, bool keepIntermediateAdjoints = true)
    {
        Check(output, nameof(output));
        if (output.Size != 1)
            throw new ArgumentException($"Argument 'output' has shape {output.Shape}; expected a 1x1 scalar to differentiate.", nameof(output));
        if (mode is not (CurvatureKind.Hessian or CurvatureKind.GaussNewton or CurvatureKind.FunctionalHessian))
            throw new ArgumentOutOfRangeException(nameof(mode), $"Argument 'mode' was {mode}; expected Hessian, GaussNewton or FunctionalHessian.");
        if (mode != CurvatureKind.Hessian && _split < 0)
            throw new InvalidOperationException($"Curvature mode {mode} needs the network output: call MarkNetworkOutput(z) while recording.");
        int m = TangentCount;
        if (output.Kind == NodeKind.Parameter) output.UsedDirectly = true;
        Recycling = !keepIntermediateAdjoints;
        try
        {
            foreach (var p in _parameters) PrepareParameter(p, m);
            for (int i = 0; i < _count; i++)
            {
                var t = _nodes[i];
                if (t.Kind != NodeKind.Computed) continue;
                t.AdjointTouched = t.AdjointTangentTouched = false;
                t.State?.BackwardStarted();
            }

            if (output.RequiresGrad)
            {
                bool acc = output.BeginAdjoint();
                if (acc) output.AdjointMut[0] += 1.0;
                else output.AdjointMut[0] = 1.0;
                for (int i = output.Index; i >= 0; i--)
                {
                    var y = _nodes[i];
                    if (y.Kind != NodeKind.Computed || !y.RequiresGrad) continue;
                    bool lossSide = i > _split;
                    bool curvature = mode switch
                    {
                        CurvatureKind.GaussNewton => lossSide,
                        CurvatureKind.FunctionalHessian => !lossSide,
                        _ => true,
                    };
                    bool primal = gradient || mode != CurvatureKind.GaussNewton || lossSide;
                    if (primal && y.AdjointTouched) y.Op!.Backward(y);
                    if (m > 0 && (y.AdjointTangentTouched || (curvature && y.AdjointTouched))) y.Op!.BackwardTangent(y, curvature);
                    if (Recycling) ReleaseAdjoints(y);
                }
            }
        }
        finally { Recycling = false; }

        foreach (var p in _parameters) FinishParameter(p, m);
    }

    /// <summary>Whether computed nodes claim their adjoints from <see cref="AcquireAdjoint"/> (a sweep with keepIntermediateAdjoints false).</summary>
    internal bool Recycling { get; private set; }

    // Adjoint buffers handed back by nodes whose rules have run, for the next claims of the sweep.
    readonly List<double[]> _spareAdjoints = [];

    /// <summary>
    /// The smallest spare buffer of at least <paramref name="length"/> doubles; when none is
    /// large enough, a new one, and the largest spare is dropped so that the tape never keeps
    /// more buffers than were alive at once. The same sweep makes the same requests, so once
    /// warm it allocates nothing.
    /// </summary>
    internal double[] AcquireAdjoint(int length)
    {
        int best = -1, largest = -1;
        for (int i = 0; i < _spareAdjoints.Count; i++)
        {
            int size = _spareAdjoints[i].Length;
            if (size >= length && (best < 0 || size < _spareAdjoints[best].Length)) best = i;
            if (largest < 0 || size > _spareAdjoints[largest].Length) largest = i;
        }
        int take = best >= 0 ? best : largest;
        double[]? buffer = null;
        if (take >= 0)
        {
            buffer = _spareAdjoints[take];
            _spareAdjoints[take] = _spareAdjoints[^1];
            _spareAdjoints.RemoveAt(_spareAdjoints.Count - 1);
        }
        return best >= 0 ? buffer! : new double[length];
    }

    /// <summary>Hands a computed node's adjoint buffers back once its rules have run; its adjoints read as not reached afterwards.</summary>
    void ReleaseAdjoints(Tensor y)
    {
        if (y.AdjointTouched && y.AdjointArray.Length > 0) _spareAdjoints.Add(y.AdjointArray);
        if (y.AdjointTangentTouched && y.AdjointTangentArray.Length > 0) _spareAdjoints.Add(y.AdjointTangentArray);
        y.AdjointArray = y.AdjointTangentArray = [];
        y.AdjointTouched = y.AdjointTangentTouched = false;
    }

    /// <summary>
    /// When the parameter's views tile it without overlap and no op reads the parameter
    /// itself, each view's first adjoint contribution may overwrite (no zeroing pass over
    /// θ's adjoint, which for m tangents is m·P numbers); otherwise everything accumulates
    /// into zeroed storage.
    /// </summary>
    static void PrepareParameter(Tensor p, int m)
    {
        bool firstWrite = p.ViewsDisjoint && !p.UsedDirectly;
        if (firstWrite)
        {
            p.AdjointTouched = p.AdjointTangentTouched = false;
            foreach (var v in p.Views) v.AdjointTouched = v.AdjointTangentTouched = false;
            return;
        }
        p.AdjointMut.Clear();
        for (int j = 0; j < m; j++) p.AdjointTangentMut(j).Clear();
        p.AdjointTouched = true;
        p.AdjointTangentTouched = m > 0;
        foreach (var v in p.Views)
        {
            v.AdjointTouched = true;
            v.AdjointTangentTouched = m > 0;
        }
    }

    /// <summary>Zeroes the parts of θ's adjoints that no view wrote (gaps and unreached views).</summary>
    static void FinishParameter(Tensor p, int m)
    {
        if (p.AdjointTouched && (m == 0 || p.AdjointTangentTouched)) return;
        int pos = 0;
        foreach (var v in p.Views)
        {
            int start = v.ValueOffset - p.ValueOffset, size = v.Size;
            ZeroRange(p, m, pos, start - pos, adjoint: true, tangents: true);
            ZeroRange(p, m, start, size, adjoint: !v.AdjointTouched, tangents: !v.AdjointTangentTouched);
            pos = start + size;
        }
        ZeroRange(p, m, pos, p.Size - pos, adjoint: true, tangents: true);
        p.AdjointTouched = true;
        p.AdjointTangentTouched = m > 0;
    }

    static void ZeroRange(Tensor p, int m, int start, int length, bool adjoint, bool tangents)
    {
        if (length <= 0) return;
        if (adjoint) p.AdjointMut.Slice(start, length).Clear();
        if (tangents)
            for (int j = 0; j < m; j++) p.AdjointTangentMut(j).Slice(start, length).Clear();
    }
}

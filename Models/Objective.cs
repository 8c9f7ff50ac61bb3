using System.Numerics;
using System.Runtime.InteropServices;
using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Spectral;

namespace Curvature.Models;

/// <summary>
/// A model, a loss and a dataset: the mean loss L(θ) = (1/N) Σᵢ ℓ(f(xᵢ; θ), yᵢ), its
/// gradient, and products with its Hessian H, Gauss–Newton matrix G and functional
/// Hessian F = H − G, over all examples or a given subset. Examples are processed in
/// chunks (<see cref="ObjectiveOptions.ChunkCount(int, int, long)"/>); each chunk's partial sums are added
/// in chunk order, so the bits of every result are independent of the thread count.
/// Buffers are pooled: once warm, a call with the same shapes allocates nothing. One call
/// at a time per object (it parallelizes internally); distinct objectives share no mutable
/// state and may be used from different threads at once. The network is any
/// <see cref="INetwork"/>; the chunks run on a <see cref="ChunkPool"/> and gather example
/// subsets with an <see cref="ExampleGather"/>.
/// </summary>
public sealed partial class Objective : IObjective, IChunkJob
{
    /// <summary>The largest network <see cref="DenseMatrix"/> materializes.</summary>
    public const int MaxDenseParameters = 5000;

    readonly ChunkPool _pool;
    readonly Lane[] _lanes;
    readonly double[]? _targets;
    double[] _theta = [];
    double[] _vectors = [];

    // The job the workers run, set before each wave.
    Work _work;
    CurvatureKind _mode;
    bool _wantGradient;
    int _count;
    int[]? _examples;
    int _total;
    int _chunks;

    IExampleJob? _job;

    enum Work { Loss, Evaluate, Gradient, Curvature, Job }

    /// <summary>The mean <paramref name="loss"/> of <paramref name="model"/> over <paramref name="data"/>.</summary>
    /// <exception cref="ArgumentException">When the data's features or classes do not match the network's input and output widths, or <c>ce</c> is asked of data without labels.</exception>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="loss"/> is not defined or an option is not positive.</exception>
    public Objective(INetwork model, LossKind loss, Dataset data, ObjectiveOptions? options = null)
    {
        Guard.NotNull(model);
        Guard.NotNull(data);
        if (!Enum.IsDefined(loss))
            throw new ArgumentOutOfRangeException(nameof(loss), $"Argument 'loss' was {loss}; expected {LossNames.Expected}.");
        options ??= ObjectiveOptions.Default;
        options.Validate();
        if (data.Features != model.InputWidth)
            throw new ArgumentException($"Dataset '{data.Name}' has {data.Features} features but the {model.Spec} network takes {model.InputWidth} inputs.", nameof(data));
        if (data.Classes != model.OutputWidth)
            throw new ArgumentException($"Dataset '{data.Name}' has {data.Classes} {(data.Targets is null ? "classes" : "target columns")} but the {model.Spec} network has {model.OutputWidth} outputs.", nameof(data));
        if (loss == LossKind.CrossEntropy && data.Labels is null)
            throw new ArgumentException($"Loss 'ce' needs class labels but dataset '{data.Name}' has only real-valued targets.", nameof(data));
        Model = model;
        LossKind = loss;
        Data = data;
        Options = options;
        _targets = loss != LossKind.CrossEntropy ? data.Targets?.Data : null;
        _pool = new ChunkPool(options.Threads);
        _lanes = new Lane[options.Threads];
        for (int i = 0; i < _lanes.Length; i++) _lanes[i] = new Lane();
    }

    /// <summary>The network f(x; θ).</summary>
    public INetwork Model { get; }

    long _valuesPerExample = -1;

    /// <summary>
    /// Numbers the network's forward pass records per example, which sizes a block product's chunks
    /// (<see cref="ObjectiveOptions.CurvatureChunkRows"/>): the values recorded for two examples less
    /// those for one (θ and its views do not grow with the batch), the data's first example at θ = 0.
    /// Measured once, from the architecture alone.
    /// </summary>
    public long ValuesPerExample
    {
        get
        {
            if (_valuesPerExample >= 0) return _valuesPerExample;
            int width = Model.InputWidth;
            var rows = new double[2 * width];
            Data.X.Data.AsSpan(0, width).CopyTo(rows);
            Data.X.Data.AsSpan(0, width).CopyTo(rows.AsSpan(width));
            long Recorded(int n)
            {
                var tape = new Tape();
                tape.Begin();
                Model.Forward(tape, tape.Parameter(new double[ParameterCount]), tape.Constant(rows.AsSpan(0, n * width), n, width));
                return tape.ValueCount;
            }
            return _valuesPerExample = Recorded(2) - Recorded(1);
        }
    }

    /// <summary>The per-example loss ℓ.</summary>
    public LossKind LossKind { get; }

    /// <summary>The examples the mean runs over.</summary>
    public Dataset Data { get; }

    /// <summary>Chunking and threading (they never change the bits of a result for a given chunking).</summary>
    public ObjectiveOptions Options { get; }

    /// <inheritdoc/>
    public int ParameterCount => Model.ParameterCount;

    /// <inheritdoc/>
    public int ExampleCount => Data.Count;

    /// <summary>Mean loss over <paramref name="examples"/> (all when null).</summary>
    public double Loss(ReadOnlySpan<double> theta, int[]? examples = null)
    {
        Prepare(theta, examples);
        return Run(Work.Loss, CurvatureKind.Hessian, false, 0, default, default).Loss;
    }

    /// <inheritdoc/>
    public double LossAndGradient(ReadOnlySpan<double> theta, Span<double> gradient, int[]? examples = null)
    {
        Guard.Length<double>(gradient, ParameterCount, nameof(gradient));
        Prepare(theta, examples);
        return Run(Work.Gradient, CurvatureKind.Hessian, true, 0, gradient, default).Loss;
    }

    /// <inheritdoc/>
    public Evaluation Evaluate(ReadOnlySpan<double> theta) => Evaluate(theta, null);

    /// <summary>Mean loss and accuracy (argmax of the outputs against the labels; NaN without labels).</summary>
    public Evaluation Evaluate(ReadOnlySpan<double> theta, int[]? examples)
    {
        Prepare(theta, examples);
        var r = Run(Work.Evaluate, CurvatureKind.Hessian, false, 0, default, default);
        double accuracy = Data.Labels is null ? double.NaN : (double)r.Correct / _total;
        return new Evaluation(r.Loss, accuracy);
    }

    /// <summary>H·v of the mean loss; returns the mean loss.</summary>
    public double HessianVectorProduct(ReadOnlySpan<double> theta, ReadOnlySpan<double> v, Span<double> product, int[]? examples = null)
        => CurvatureProduct(CurvatureKind.Hessian, theta, v, product, default, examples);

    /// <summary>G·v, the Gauss–Newton product Jᵀ(∇²ℓ)J·v; returns the mean loss.</summary>
    public double GaussNewtonVectorProduct(ReadOnlySpan<double> theta, ReadOnlySpan<double> v, Span<double> product, int[]? examples = null)
        => CurvatureProduct(CurvatureKind.GaussNewton, theta, v, product, default, examples);

    /// <summary>F·v = (H − G)·v = Σ_c (∂ℓ/∂z_c)∇²z_c·v; returns the mean loss.</summary>
    public double FunctionalHessianVectorProduct(ReadOnlySpan<double> theta, ReadOnlySpan<double> v, Span<double> product, int[]? examples = null)
        => CurvatureProduct(CurvatureKind.FunctionalHessian, theta, v, product, default, examples);

    /// <summary>
    /// The product of the chosen curvature matrix with v, and optionally the gradient from
    /// the same sweep (pass an empty span to skip it); returns the mean loss.
    /// </summary>
    public double CurvatureProduct(CurvatureKind kind, ReadOnlySpan<double> theta, ReadOnlySpan<double> v, Span<double> product,
        Span<double> gradient, int[]? examples = null)
    {
        Guard.Length(v, ParameterCount, nameof(v));
        return CurvatureBlockProduct(kind, theta, v, 1, product, gradient, examples);
    }

    /// <summary>
    /// Products with a block of <paramref name="count"/> vectors stored one per row
    /// (count×P), through the multi-tangent sweep (one primal sweep per
    /// <see cref="ObjectiveOptions.MaxBlock"/> vectors); optionally the gradient too.
    /// Returns the mean loss.
    /// </summary>
    public double CurvatureBlockProduct(CurvatureKind kind, ReadOnlySpan<double> theta, ReadOnlySpan<double> vectors, int count,
        Span<double> products, Span<double> gradient, int[]? examples = null)
    {
        CheckKind(kind);
        Guard.Positive(count);
        int n = ParameterCount;
        Guard.Length(vectors, count * n, nameof(vectors));
        Guard.Length<double>(products, count * n, nameof(products));
        if (!gradient.IsEmpty) Guard.Length<double>(gradient, n, nameof(gradient));
        Prepare(theta, examples);
        double loss = 0;
        for (int start = 0; start < count; start += Options.MaxBlock)
        {
            int m = Math.Min(Options.MaxBlock, count - start);
            Grow(ref _vectors, m * n);
            vectors.Slice(start * n, m * n).CopyTo(_vectors);
            var wantGradient = start == 0 ? gradient : default;
            loss = Run(Work.Curvature, kind, !wantGradient.IsEmpty, m, wantGradient, products.Slice(start * n, m * n)).Loss;
        }
        return loss;
    }

    /// <summary>Products with a block of vectors, one per row (count×P), without the gradient; returns the mean loss.</summary>
    public double CurvatureBlockProduct(CurvatureKind kind, ReadOnlySpan<double> theta, ReadOnlySpan<double> vectors, int count,
        Span<double> products, int[]? examples = null)
        => CurvatureBlockProduct(kind, theta, vectors, count, products, default, examples);

    /// <inheritdoc/>
    /// <remarks>
    /// H, G and F are products through the tape; the empirical Fisher, the gradient covariance,
    /// the Fisher (= G) and K-FAC come from <see cref="EmpiricalFisher"/>, <see cref="GradientCovariance"/>,
    /// <see cref="Fisher"/> and <see cref="KfacOperator"/>.
    /// </remarks>
    public ILinearOperator CurvatureOperator(CurvatureKind kind, ReadOnlySpan<double> theta, int[]? examples = null)
    {
        switch (kind)
        {
            case CurvatureKind.EmpiricalFisher: return EmpiricalFisher(theta, examples);
            case CurvatureKind.GradientCovariance: return GradientCovariance(theta, examples);
            case CurvatureKind.Fisher: return Fisher(theta, examples);
            case CurvatureKind.Kfac: return KfacOperator(theta, examples);
        }
        CheckKind(kind);
        CheckTheta(theta);
        if (examples is not null) CheckExamples(examples);
        return new CurvatureMatrixOperator(this, kind, theta.ToArray(), examples is null ? null : (int[])examples.Clone());
    }

    /// <summary>
    /// The curvature matrix itself, column j = K·eⱼ, for networks of at most
    /// <see cref="MaxDenseParameters"/> parameters (for tests and teaching).
    /// </summary>
    public Matrix DenseMatrix(CurvatureKind kind, ReadOnlySpan<double> theta, int[]? examples = null)
    {
        int n = ParameterCount;
        if (n > MaxDenseParameters)
            throw new InvalidOperationException($"DenseMatrix needs a network of at most {MaxDenseParameters} parameters; the {Model.Spec} network has {n}.");
        if (!IsTapeKind(kind)) return Checks.Dense(CurvatureOperator(kind, theta, examples), MaxDenseParameters);
        var result = new Matrix(n, n);
        int block = Math.Min(n, Options.MaxBlock);
        var basis = new double[block * n];
        var columns = new double[block * n];
        for (int start = 0; start < n; start += block)
        {
            int m = Math.Min(block, n - start);
            Array.Clear(basis);
            for (int j = 0; j < m; j++) basis[j * n + start + j] = 1.0;
            CurvatureBlockProduct(kind, theta, basis.AsSpan(0, m * n), m, columns.AsSpan(0, m * n), default, examples);
            for (int j = 0; j < m; j++)
                for (int i = 0; i < n; i++)
                    result[i, start + j] = columns[j * n + i];
        }
        return result;
    }

    static bool IsTapeKind(CurvatureKind kind) => kind is CurvatureKind.Hessian or CurvatureKind.GaussNewton or CurvatureKind.FunctionalHessian;

    static void CheckKind(CurvatureKind kind)
    {
        if (!IsTapeKind(kind))
            throw new ArgumentOutOfRangeException(nameof(kind), $"Argument 'kind' was {kind}; expected Hessian, GaussNewton or FunctionalHessian (a product through the tape; the other kinds through CurvatureOperator).");
    }

    internal void CheckTheta(ReadOnlySpan<double> theta)
    {
        if (theta.Length != ParameterCount)
            throw new ArgumentException($"Argument 'theta' has length {theta.Length}; expected {ParameterCount} parameters for the {Model.Spec} network.", nameof(theta));
        Guard.AllFinite(theta, nameof(theta));
    }

    internal void CheckExamples(int[] examples)
    {
        if (examples.Length == 0)
            throw new ArgumentException("Argument 'examples' is empty; expected at least one example index.", nameof(examples));
        int n = Data.Count;
        for (int i = 0; i < examples.Length; i++)
            if ((uint)examples[i] >= (uint)n)
                throw new ArgumentException($"Argument 'examples' has {examples[i]} at index {i}; expected an example index in [0, {n}).", nameof(examples));
    }

    /// <summary>Validates and copies θ; records the example subset.</summary>
    void Prepare(ReadOnlySpan<double> theta, int[]? examples)
    {
        CheckTheta(theta);
        if (examples is not null) CheckExamples(examples);
        Grow(ref _theta, theta.Length);
        theta.CopyTo(_theta);
        _examples = examples;
        _total = examples?.Length ?? Data.Count;
    }

    readonly record struct Totals(double Loss, long Correct);

    /// <summary>
    /// Runs the current job over all chunks in waves of one chunk per lane, then adds the
    /// lanes' partial results into the outputs in chunk order, so the bits depend neither on
    /// <see cref="ObjectiveOptions.Threads"/> nor on the caller's BLAS thread count.
    /// </summary>
    Totals Run(Work work, CurvatureKind mode, bool wantGradient, int count, Span<double> gradient, Span<double> products)
    {
        _work = work;
        _mode = mode;
        _wantGradient = wantGradient;
        _count = count;
        // A curvature sweep of a large network takes fewer rows per chunk, so its memory is bounded by a
        // budget, not by the chunk or the block (ObjectiveOptions.CurvatureChunkRows).
        int chunks = _chunks = work == Work.Curvature ? Options.ChunkCount(_total, count, ValuesPerExample) : Options.ChunkCount(_total);
        double loss = 0;
        long correct = 0;
        int n = ParameterCount;
        for (int wave = 0; wave < chunks;)
        {
            int active = _pool.RunWave(this, wave, chunks);
            for (int w = 0; w < active; w++)
            {
                var lane = _lanes[w];
                bool first = wave + w == 0;
                loss += lane.Loss;
                correct += lane.Correct;
                var p = lane.Parameter!;
                if (work == Work.Job)
                {
                    _job!.Reduce(w, wave + w);
                    continue;
                }
                if (wantGradient) AddInto(p.Adjoint, gradient, first);
                for (int j = 0; j < count; j++) AddInto(p.AdjointTangent(j), products.Slice(j * n, n), first);
            }
            wave += active;
        }
        return new Totals(loss, correct);
    }

    static void Grow<T>(ref T[] buffer, int length)
    {
        if (buffer.Length < length) buffer = new T[length];
    }

    /// <summary>dst = src for the first chunk, dst += src after.</summary>
    static void AddInto(ReadOnlySpan<double> src, Span<double> dst, bool first)
    {
        if (first) { src.CopyTo(dst); return; }
        var vs = MemoryMarshal.Cast<double, Vector<double>>(src);
        var vd = MemoryMarshal.Cast<double, Vector<double>>(dst[..src.Length]);
        for (int i = 0; i < vs.Length; i++) vd[i] += vs[i];
        for (int i = vs.Length * Vector<double>.Count; i < src.Length; i++) dst[i] += src[i];
    }

    /// <summary>Records and sweeps one chunk on one lane (called by the pool, possibly on a pool thread).</summary>
    void IChunkJob.RunChunk(int laneIndex, int chunk)
    {
        var lane = _lanes[laneIndex];
        // Balanced boundaries: chunk k holds examples [⌊kN/K⌋, ⌊(k+1)N/K⌋).
        int start = (int)((long)chunk * _total / _chunks);
        int rows = (int)((long)(chunk + 1) * _total / _chunks) - start;
        int m = _work == Work.Curvature ? _count : 0;
        var tape = lane.Tape;
        tape.Begin(m);
        var theta = m > 0
            ? tape.Parameter(_theta, 0, ParameterCount, _vectors, 0, ParameterCount)
            : tape.Parameter(_theta, 0, ParameterCount);
        lane.Parameter = theta;

        var g = lane.Gather;
        g.Load(Data, _targets, _examples, start, rows);
        var x = tape.Constant(g.X, g.XOffset, rows, Data.Features);
        var z = Model.Forward(tape, theta, x);
        tape.MarkNetworkOutput(z);
        if (_work == Work.Job)
        {
            _job!.Chunk(laneIndex, new ExampleChunk(tape, theta, z, g, start, rows, _examples));
            return;
        }
        var loss = RecordLoss(tape, z, g, 1.0 / _total);
        lane.Loss = loss.Scalar;
        lane.Correct = _work == Work.Evaluate && g.Labels is not null ? CountCorrect(z, g.Labels, g.LabelOffset) : 0;
        // Only θ's adjoints are read afterwards: the sweep may recycle the others.
        if (_work == Work.Gradient) tape.Backward(loss, keepIntermediateAdjoints: false);
        else if (_work == Work.Curvature) tape.Backward(loss, _mode, _wantGradient, keepIntermediateAdjoints: false);
    }

    /// <summary>Records scale·Σᵣ ℓ(zᵣ, yᵣ) of the chunk's rows against the data's labels or targets.</summary>
    internal Tensor RecordLoss(Tape tape, Tensor z, ExampleGather g, double scale) =>
        LossNames.Record(tape, LossKind, z, g.Labels, g.LabelOffset, g.Targets, g.TargetOffset, scale);

    /// <summary>
    /// Runs <paramref name="job"/> over the chunks of <paramref name="examples"/> (all when
    /// null): each chunk's network output is recorded (and marked) on a lane's tape and
    /// handed to <see cref="IExampleJob.Chunk"/>; after each wave <see cref="IExampleJob.Reduce"/>
    /// is called per lane in chunk order, so results do not depend on the thread count.
    /// </summary>
    internal void RunJob(IExampleJob job, ReadOnlySpan<double> theta, int[]? examples)
    {
        Prepare(theta, examples);
        _job = job;
        try { Run(Work.Job, CurvatureKind.Hessian, false, 0, default, default); }
        finally { _job = null; }
    }

    /// <summary>Examples in the current call (after <see cref="RunJob"/> has prepared it, the subset's size or N).</summary>
    internal int JobExampleCount => _total;

    static long CountCorrect(Tensor z, int[] labels, int offset)
    {
        var v = z.Value;
        int cols = z.Cols;
        long correct = 0;
        for (int r = 0; r < z.Rows; r++)
        {
            var row = v.Slice(r * cols, cols);
            int best = 0;
            for (int k = 1; k < cols; k++) if (row[k] > row[best]) best = k;
            if (best == labels[offset + r]) correct++;
        }
        return correct;
    }

    /// <summary>One lane's tape, gather buffers and last chunk's results, reused for every chunk it runs.</summary>
    sealed class Lane
    {
        public readonly Tape Tape = new();
        public readonly ExampleGather Gather = new();
        public double Loss;
        public long Correct;
        public Tensor? Parameter;
    }
}

/// <summary>The curvature matrix of an objective at a fixed θ, as a matrix-free operator.</summary>
public sealed class CurvatureMatrixOperator : ILinearOperator
{
    readonly Objective _objective;
    readonly double[] _theta;
    readonly int[]? _examples;

    internal CurvatureMatrixOperator(Objective objective, CurvatureKind kind, double[] theta, int[]? examples)
    {
        _objective = objective;
        Kind = kind;
        _theta = theta;
        _examples = examples;
    }

    /// <summary>Which matrix: H, G or F.</summary>
    public CurvatureKind Kind { get; }

    /// <summary>P, the length of θ.</summary>
    public int Size => _objective.ParameterCount;

    /// <summary>The point θ the operator was built at.</summary>
    public ReadOnlySpan<double> Theta => _theta;

    /// <summary>y ← K·x.</summary>
    public void Apply(ReadOnlySpan<double> x, Span<double> y)
    {
        Guard.Length(x, Size, nameof(x));
        Guard.Length<double>(y, Size, nameof(y));
        _objective.CurvatureBlockProduct(Kind, _theta, x, 1, y, default, _examples);
    }

    /// <summary>Y ← K·X for the rows of X through the multi-tangent sweep.</summary>
    public void ApplyBlock(ReadOnlySpan<double> x, Span<double> y, int count)
    {
        Guard.Positive(count);
        Guard.Length(x, count * Size, nameof(x));
        Guard.Length<double>(y, count * Size, nameof(y));
        _objective.CurvatureBlockProduct(Kind, _theta, x, count, y, default, _examples);
    }
}

/// <summary>One chunk of examples with its network output recorded and marked on a lane's tape.</summary>
internal readonly record struct ExampleChunk(Tape Tape, Tensor Theta, Tensor Z, ExampleGather Gather, int Start, int Rows, int[]? Subset)
{
    /// <summary>The dataset row of the chunk's row <paramref name="r"/>.</summary>
    public int Example(int r) => Subset is null ? Start + r : Subset[Start + r];
}

/// <summary>Work run per chunk of examples by <see cref="Objective.RunJob"/>.</summary>
internal interface IExampleJob
{
    /// <summary>Processes one chunk on lane <paramref name="lane"/> (possibly on a pool thread).</summary>
    void Chunk(int lane, in ExampleChunk chunk);

    /// <summary>Folds lane <paramref name="lane"/>'s result of chunk <paramref name="chunk"/> into the total (calling thread, chunk order).</summary>
    void Reduce(int lane, int chunk);
}

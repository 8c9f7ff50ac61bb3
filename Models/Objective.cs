using System.Numerics;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Spectral;

namespace Curvature.Models;

/// <summary>
/// A model, a loss and a dataset: the mean loss L(θ) = (1/N) Σᵢ ℓ(f(xᵢ; θ), yᵢ), its
/// gradient, and products with its Hessian H, Gauss–Newton matrix G and functional
/// Hessian F = H − G, over all examples or a given subset. Examples are processed in
/// chunks (<see cref="ObjectiveOptions.ChunkCount"/>); each chunk's partial sums are added
/// in chunk order, so the bits of every result are independent of the thread count.
/// Buffers are pooled: once warm, a call with the same shapes allocates nothing. One call
/// at a time (the object is not thread-safe; it parallelizes internally).
/// </summary>
public sealed class Objective : IObjective
{
    /// <summary>The largest network <see cref="DenseMatrix"/> materializes.</summary>
    public const int MaxDenseParameters = 5000;

    readonly Worker[] _workers;
    readonly CountdownEvent _pending = new(0);
    readonly double[]? _targets;
    double[] _theta = [];
    double[] _vectors = [];

    // The job the workers run, set before each wave.
    Work _work;
    CurvatureMode _mode;
    bool _wantGradient;
    int _count;
    int[]? _examples;
    int _total;
    int _chunks;

    enum Work { Loss, Evaluate, Gradient, Curvature }

    public Objective(Mlp model, LossKind loss, Dataset data, ObjectiveOptions? options = null)
    {
        Guard.NotNull(model);
        Guard.NotNull(data);
        if (!Enum.IsDefined(loss))
            throw new ArgumentOutOfRangeException(nameof(loss), $"Argument 'loss' was {loss}; expected ce or mse.");
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
        _targets = loss == LossKind.MeanSquaredError ? data.Targets?.Data : null;
        _workers = new Worker[options.Threads];
        for (int i = 0; i < _workers.Length; i++) _workers[i] = new Worker(this);
    }

    public Mlp Model { get; }
    public LossKind LossKind { get; }
    public Dataset Data { get; }
    public ObjectiveOptions Options { get; }
    public int ParameterCount => Model.ParameterCount;
    public int ExampleCount => Data.Count;

    /// <summary>Mean loss over <paramref name="examples"/> (all when null).</summary>
    public double Loss(ReadOnlySpan<double> theta, int[]? examples = null)
    {
        Prepare(theta, examples);
        return Run(Work.Loss, CurvatureMode.Hessian, false, 0, default, default).Loss;
    }

    /// <inheritdoc/>
    public double LossAndGradient(ReadOnlySpan<double> theta, Span<double> gradient, int[]? examples = null)
    {
        Guard.Length<double>(gradient, ParameterCount, nameof(gradient));
        Prepare(theta, examples);
        return Run(Work.Gradient, CurvatureMode.Hessian, true, 0, gradient, default).Loss;
    }

    /// <inheritdoc/>
    public Evaluation Evaluate(ReadOnlySpan<double> theta) => Evaluate(theta, null);

    /// <summary>Mean loss and accuracy (argmax of the outputs against the labels; NaN without labels).</summary>
    public Evaluation Evaluate(ReadOnlySpan<double> theta, int[]? examples)
    {
        Prepare(theta, examples);
        var r = Run(Work.Evaluate, CurvatureMode.Hessian, false, 0, default, default);
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
        var mode = Mode(kind);
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
            loss = Run(Work.Curvature, mode, !wantGradient.IsEmpty, m, wantGradient, products.Slice(start * n, m * n)).Loss;
        }
        return loss;
    }

    public double CurvatureBlockProduct(CurvatureKind kind, ReadOnlySpan<double> theta, ReadOnlySpan<double> vectors, int count,
        Span<double> products, int[]? examples = null)
        => CurvatureBlockProduct(kind, theta, vectors, count, products, default, examples);

    /// <inheritdoc/>
    public ILinearOperator CurvatureOperator(CurvatureKind kind, ReadOnlySpan<double> theta, int[]? examples = null)
    {
        Mode(kind);
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

    static CurvatureMode Mode(CurvatureKind kind) => kind switch
    {
        CurvatureKind.Hessian => CurvatureMode.Hessian,
        CurvatureKind.GaussNewton => CurvatureMode.GaussNewton,
        CurvatureKind.FunctionalHessian => CurvatureMode.FunctionalHessian,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), $"Argument 'kind' was {kind}; expected Hessian, GaussNewton or FunctionalHessian."),
    };

    void CheckTheta(ReadOnlySpan<double> theta)
    {
        if (theta.Length != ParameterCount)
            throw new ArgumentException($"Argument 'theta' has length {theta.Length}; expected {ParameterCount} parameters for the {Model.Spec} network.", nameof(theta));
        Guard.AllFinite(theta, nameof(theta));
    }

    void CheckExamples(int[] examples)
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
    /// Runs the current job over all chunks in waves of one chunk per worker, then adds the
    /// workers' partial results into the outputs in chunk order. The BLAS runs on one
    /// thread throughout: OpenBLAS picks different kernels (different rounding) for small
    /// GEMMs depending on its thread count, so only the chunk level may vary with
    /// <see cref="ObjectiveOptions.Threads"/> if the bits are not to.
    /// </summary>
    Totals Run(Work work, CurvatureMode mode, bool wantGradient, int count, Span<double> gradient, Span<double> products)
    {
        _work = work;
        _mode = mode;
        _wantGradient = wantGradient;
        _count = count;
        int chunks = _chunks = Options.ChunkCount(_total);
        int lanes = Math.Min(Options.Threads, chunks);
        int previousBlasThreads = Blas.Threads;
        if (previousBlasThreads != 1) Blas.Backend.SetThreads(1);
        double loss = 0;
        long correct = 0;
        int n = ParameterCount;
        try
        {
            for (int wave = 0; wave < chunks; wave += lanes)
            {
                int active = Math.Min(lanes, chunks - wave);
                for (int w = 0; w < active; w++) _workers[w].Chunk = wave + w;
                if (active == 1) _workers[0].RunChunk();
                else
                {
                    _pending.Reset(active - 1);
                    for (int w = 1; w < active; w++) ThreadPool.UnsafeQueueUserWorkItem(_workers[w], preferLocal: false);
                    // Even when this lane fails, the others must finish before the next call reuses them.
                    try { _workers[0].RunChunk(); }
                    finally { _pending.Wait(); }
                    for (int w = 1; w < active; w++)
                    {
                        var error = _workers[w].Error;
                        if (error is not null)
                        {
                            _workers[w].Error = null;
                            ExceptionDispatchInfo.Capture(error).Throw();
                        }
                    }
                }
                for (int w = 0; w < active; w++)
                {
                    var worker = _workers[w];
                    bool first = worker.Chunk == 0;
                    loss += worker.Loss;
                    correct += worker.Correct;
                    var p = worker.Parameter!;
                    if (wantGradient) AddInto(p.Adjoint, gradient, first);
                    for (int j = 0; j < count; j++) AddInto(p.AdjointTangent(j), products.Slice(j * n, n), first);
                }
            }
        }
        finally
        {
            if (previousBlasThreads != 1) Blas.Backend.SetThreads(previousBlasThreads);
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

    /// <summary>One lane: a tape and gather buffers, reused for every chunk it runs.</summary>
    sealed class Worker(Objective owner) : IThreadPoolWorkItem
    {
        readonly Tape _tape = new();
        double[] _x = [];
        double[] _targets = [];
        int[] _labels = [];

        public int Chunk;
        public double Loss;
        public long Correct;
        public Tensor? Parameter;
        public Exception? Error;

        public void Execute()
        {
            Error = null;
            try { RunChunk(); }
            catch (Exception e) { Error = e; }
            finally { owner._pending.Signal(); }
        }

        public void RunChunk()
        {
            var o = owner;
            var data = o.Data;
            int d = data.Features, c = data.Classes;
            // Balanced boundaries: chunk k holds examples [⌊kN/K⌋, ⌊(k+1)N/K⌋).
            int start = (int)((long)Chunk * o._total / o._chunks);
            int rows = (int)((long)(Chunk + 1) * o._total / o._chunks) - start;
            int m = o._work == Work.Curvature ? o._count : 0;
            var tape = _tape;
            tape.Begin(m);
            var theta = m > 0
                ? tape.Parameter(o._theta, 0, o.ParameterCount, o._vectors, 0, o.ParameterCount)
                : tape.Parameter(o._theta, 0, o.ParameterCount);
            Parameter = theta;

            // Whole-dataset chunks read the data in place; subsets are gathered.
            Tensor x;
            int[]? labels = data.Labels;
            int labelOffset = start;
            double[]? targets = o._targets;
            int targetOffset = start;
            var subset = o._examples;
            if (subset is null) x = tape.Constant(data.X.Data, start * d, rows, d);
            else
            {
                Grow(ref _x, rows * d);
                for (int r = 0; r < rows; r++) data.X.Data.AsSpan(subset[start + r] * d, d).CopyTo(_x.AsSpan(r * d, d));
                x = tape.Constant(_x, 0, rows, d);
                if (labels is not null)
                {
                    Grow(ref _labels, rows);
                    for (int r = 0; r < rows; r++) _labels[r] = labels[subset[start + r]];
                    labels = _labels;
                    labelOffset = 0;
                }
                if (targets is not null)
                {
                    Grow(ref _targets, rows * c);
                    for (int r = 0; r < rows; r++) targets.AsSpan(subset[start + r] * c, c).CopyTo(_targets.AsSpan(r * c, c));
                    targets = _targets;
                    targetOffset = 0;
                }
            }

            var z = o.Model.Forward(tape, theta, x);
            tape.MarkNetworkOutput(z);
            var loss = LossNames.Record(tape, o.LossKind, z, labels, labelOffset, targets, targetOffset, 1.0 / o._total);
            Loss = loss.Scalar;
            Correct = o._work == Work.Evaluate && labels is not null ? CountCorrect(z, labels, labelOffset) : 0;
            if (o._work == Work.Gradient) tape.Backward(loss);
            else if (o._work == Work.Curvature) tape.Backward(loss, o._mode, o._wantGradient);
        }

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

    public CurvatureKind Kind { get; }
    public int Size => _objective.ParameterCount;

    /// <summary>The point θ the operator was built at.</summary>
    public ReadOnlySpan<double> Theta => _theta;

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

using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Spectral;

namespace Curvature.Models;

public sealed partial class Objective
{
    /// <summary>
    /// The empirical Fisher EF = (1/n) Σᵢ gᵢgᵢᵀ over <paramref name="examples"/> (all when
    /// null) at θ (copied), gᵢ the per-example gradients, as a matrix-free operator
    /// (docs/curvature.md §7).
    /// </summary>
    public GradientOuterProductOperator EmpiricalFisher(ReadOnlySpan<double> theta, int[]? examples = null)
        => new(this, theta, examples, samples: 0, seed: 0, center: false);

    /// <summary>
    /// The gradient covariance Σ = EF − ḡḡᵀ = (1/n) Σᵢ (gᵢ − ḡ)(gᵢ − ḡ)ᵀ (the 1/n, not
    /// 1/(n−1), convention), ḡ the mean gradient, as a matrix-free operator.
    /// </summary>
    public GradientOuterProductOperator GradientCovariance(ReadOnlySpan<double> theta, int[]? examples = null)
        => new(this, theta, examples, samples: 0, seed: 0, center: true);

    /// <summary>
    /// The Fisher information of the model's predictive distribution, exactly: for
    /// cross-entropy (a categorical over softmax(z)) and for mse (a unit-variance Gaussian
    /// around z; torch-mse a Gaussian of variance C/2) E_y[∇ℓ∇ℓᵀ] = ∇²_zℓ, so the Fisher is
    /// the Gauss–Newton matrix G and this returns G's operator (docs/curvature.md §7).
    /// </summary>
    public ILinearOperator Fisher(ReadOnlySpan<double> theta, int[]? examples = null)
        => CurvatureOperator(CurvatureKind.GaussNewton, theta, examples);

    /// <summary>
    /// The Monte-Carlo Fisher (1/(nS)) Σᵢ Σₛ gᵢₛgᵢₛᵀ with gᵢₛ the gradient of example i's loss
    /// against a target drawn from the model: a label from softmax(zᵢ) for ce, zᵢ + ε with
    /// ε ~ N(0, σ²I) for mse (σ² = 1) and torch-mse (σ² = C/2). Draw s of example i comes
    /// from its own stream seeded by (<paramref name="seed"/>, i, s), so the operator is a
    /// fixed matrix independent of chunking and threads; it is an unbiased estimate of G.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="samples"/> lies outside [1, 10 000].</exception>
    public GradientOuterProductOperator MonteCarloFisher(ReadOnlySpan<double> theta, int samples, ulong seed, int[]? examples = null)
    {
        if (samples < 1 || samples > MaxFisherSamples)
            throw new ArgumentOutOfRangeException(nameof(samples), $"Argument 'samples' was {samples}; expected an integer in [1, {MaxFisherSamples}] (label draws per example).");
        return new(this, theta, examples, samples, seed, center: false);
    }

    /// <summary>Most label draws per example of <see cref="MonteCarloFisher"/>.</summary>
    public const int MaxFisherSamples = 10_000;
}

/// <summary>
/// A sum of per-example gradient outer products as a matrix-free operator:
/// the empirical Fisher, the gradient covariance or the Monte-Carlo Fisher (see the
/// <see cref="Objective"/> methods that make them). A product with a block of k vectors V
/// costs per chunk one forward and one backward sweep per label draw, then per parameter
/// op one product with V giving the directional derivatives dᵢⱼ = gᵢ·vⱼ and one backward
/// rule with each example's adjoint weighted by dᵢⱼ/n giving Σᵢ gᵢdᵢⱼ/n (docs/curvature.md
/// §7): the per-example gradients themselves are never formed. Partial sums are added in chunk order, so the bits
/// do not depend on the thread count.
/// </summary>
public sealed class GradientOuterProductOperator : ILinearOperator, IExampleJob
{
    readonly Objective _objective;
    readonly double[] _theta;
    readonly int[]? _examples;
    readonly double[] _meanGradient = [];
    readonly Lane[] _lanes;
    double[] _v = [], _result = [];
    int _k;
    double _scale;

    internal GradientOuterProductOperator(Objective objective, ReadOnlySpan<double> theta, int[]? examples, int samples, ulong seed, bool center)
    {
        _objective = objective;
        _theta = theta.ToArray();
        _examples = examples is null ? null : (int[])examples.Clone();
        Samples = samples;
        Seed = seed;
        Centered = center;
        _lanes = new Lane[objective.Options.Threads];
        for (int i = 0; i < _lanes.Length; i++) _lanes[i] = new Lane();
        objective.CheckTheta(theta);
        if (examples is not null) objective.CheckExamples(examples);
        if (center)
        {
            _meanGradient = new double[objective.ParameterCount];
            objective.LossAndGradient(_theta, _meanGradient, _examples);
        }
    }

    /// <summary>Label draws per example (0: the data's own labels, i.e. the empirical Fisher or covariance).</summary>
    public int Samples { get; }

    /// <summary>The seed of the label draws (unused without them).</summary>
    public ulong Seed { get; }

    /// <summary>Whether the mean gradient's outer product is subtracted (the covariance Σ).</summary>
    public bool Centered { get; }

    /// <inheritdoc/>
    public int Size => _objective.ParameterCount;

    /// <summary>The mean gradient ḡ the covariance subtracts (empty unless <see cref="Centered"/>).</summary>
    public ReadOnlySpan<double> MeanGradient => _meanGradient;

    /// <inheritdoc/>
    public void Apply(ReadOnlySpan<double> x, Span<double> y) => ApplyBlock(x, y, 1);

    /// <inheritdoc/>
    public void ApplyBlock(ReadOnlySpan<double> x, Span<double> y, int count)
    {
        Guard.Positive(count);
        int p = Size;
        Guard.Length(x, count * p, nameof(x));
        Guard.Length<double>(y, count * p, nameof(y));
        // Reductions here and in Reduce run on one BLAS thread: their bits must not follow the caller's thread count.
        using var serial = Blas.UseThreads(1);
        int n = _examples?.Length ?? _objective.ExampleCount;
        _scale = 1.0 / ((double)n * Math.Max(1, Samples));
        for (int start = 0; start < count; start += _objective.Options.MaxBlock)
        {
            _k = Math.Min(_objective.Options.MaxBlock, count - start);
            if (_v.Length < _k * p) _v = new double[_k * p];
            if (_result.Length < _k * p) _result = new double[_k * p];
            x.Slice(start * p, _k * p).CopyTo(_v);
            _objective.RunJob(this, _theta, _examples);
            var dst = y.Slice(start * p, _k * p);
            _result.AsSpan(0, _k * p).CopyTo(dst);
            if (Centered)
                for (int j = 0; j < _k; j++)
                    Blas.Axpy(-Blas.Dot(_meanGradient, _v.AsSpan(j * p, p)), _meanGradient, dst.Slice(j * p, p));
        }
    }

    void IExampleJob.Chunk(int laneIndex, in ExampleChunk c)
    {
        var lane = _lanes[laneIndex];
        int p = Size, k = _k, rows = c.Rows;
        if (lane.Sum.Length < k * p) lane.Sum = new double[k * p];
        lane.Sum.AsSpan(0, k * p).Clear();
        if (lane.Dots.Length < rows * k) lane.Dots = new double[rows * k];
        var dots = lane.Dots.AsSpan(0, rows * k);
        for (int s = 0; s < Math.Max(1, Samples); s++)
        {
            var loss = Samples == 0 ? _objective.RecordLoss(c.Tape, c.Z, c.Gather, 1.0) : RecordSampledLoss(lane, c, s);
            c.Tape.Backward(loss);
            // dᵢⱼ = gᵢ·vⱼ, then Y_j += scale·Σᵢ dᵢⱼ gᵢ: one product with V and one weighted backward rule per parameter op.
            c.Tape.PerExampleDots(c.Theta, _v, k, dots);
            foreach (ref double d in dots) d *= _scale;
            c.Tape.PerExampleWeightedSums(c.Theta, dots, k, lane.Sum);
        }
    }

    void IExampleJob.Reduce(int laneIndex, int chunk)
    {
        var sum = _lanes[laneIndex].Sum.AsSpan(0, _k * Size);
        var dst = _result.AsSpan(0, _k * Size);
        if (chunk == 0) sum.CopyTo(dst);
        else Blas.Axpy(1.0, sum, dst);
    }

    /// <summary>Records Σᵣ ℓ(zᵣ, ŷᵣₛ) against targets drawn from the model (see <see cref="Objective.MonteCarloFisher"/>).</summary>
    Tensor RecordSampledLoss(Lane lane, in ExampleChunk c, int s)
    {
        var z = c.Z.Value;
        int cols = c.Z.Cols, rows = c.Rows;
        var kind = _objective.LossKind;
        if (kind == LossKind.CrossEntropy)
        {
            if (lane.Labels.Length < rows) lane.Labels = new int[rows];
            for (int r = 0; r < rows; r++) lane.Labels[r] = DrawLabel(z.Slice(r * cols, cols), Stream(c.Example(r), s));
            return LossNames.Record(c.Tape, kind, c.Z, lane.Labels, 0, null, 0, 1.0);
        }
        double sigma = kind == LossKind.TorchMeanSquaredError ? Math.Sqrt(cols / 2.0) : 1.0;
        if (lane.Targets.Length < rows * cols) lane.Targets = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            var rng = Stream(c.Example(r), s);
            for (int j = 0; j < cols; j++) lane.Targets[r * cols + j] = z[r * cols + j] + sigma * rng.NextGaussian();
        }
        return LossNames.Record(c.Tape, kind, c.Z, null, 0, lane.Targets, 0, 1.0);
    }

    /// <summary>The stream of draw <paramref name="s"/> of dataset row <paramref name="example"/>.</summary>
    Rng Stream(int example, int s) =>
        new(Seed ^ unchecked((ulong)(example + 1) * 0x9E3779B97F4A7C15UL) ^ unchecked((ulong)(s + 1) * 0xC2B2AE3D27D4EB4FUL));

    /// <summary>A class drawn from softmax(<paramref name="z"/>) by inverting its distribution function.</summary>
    static int DrawLabel(ReadOnlySpan<double> z, Rng rng)
    {
        double max = double.NegativeInfinity;
        foreach (double v in z) max = Math.Max(max, v);
        double total = 0;
        foreach (double v in z) total += Math.Exp(v - max);
        double u = rng.NextDouble() * total, cumulative = 0;
        for (int c = 0; c < z.Length; c++)
        {
            cumulative += Math.Exp(z[c] - max);
            if (u < cumulative) return c;
        }
        return z.Length - 1;
    }

    sealed class Lane
    {
        public double[] Sum = [], Dots = [], Targets = [];
        public int[] Labels = [];
    }
}

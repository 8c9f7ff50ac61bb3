using System.Globalization;
using Curvature.Core;
using Curvature.Models;
using Curvature.Spectral;

namespace Curvature.Optimizers;

/// <summary>The eigensolver a tracker refreshes its basis with.</summary>
public enum EigenSolverKind
{
    Lanczos,
    Lobpcg,
}

/// <summary>How the dominant subspace is found and how often it is refreshed.</summary>
public sealed record TrackerOptions
{
    /// <summary>The curvature matrix whose top-k eigenvectors span the dominant subspace.</summary>
    public CurvatureKind Kind { get; init; } = CurvatureKind.Hessian;

    /// <summary>k, the dimension of the dominant subspace.</summary>
    public int K { get; init; } = 10;

    /// <summary>T: the basis is recomputed at every step count divisible by T.</summary>
    public int RefreshEvery { get; init; } = 1;

    /// <summary>Size of the fixed example batch the curvature is measured on (drawn once from the seed); null means all examples.</summary>
    public int? HessianBatch { get; init; }

    public EigenSolverKind Solver { get; init; } = EigenSolverKind.Lanczos;

    /// <summary>Start each refresh from the previous basis (LOBPCG's block, Lanczos' start vector).</summary>
    public bool WarmStart { get; init; } = true;

    /// <summary>Residual tolerance passed to the solver.</summary>
    public double Tolerance { get; init; } = 1e-6;

    /// <summary>Matvec budget of one refresh (either solver); null keeps the solver's default.</summary>
    public int? MaxMatvecs { get; init; }

    /// <summary>Iteration budget of one LOBPCG refresh; null keeps the solver's default.</summary>
    public int? MaxIterations { get; init; }

    /// <summary>Seed for the Hessian batch and the solvers' random starts.</summary>
    public ulong Seed { get; init; }

    /// <summary>Throws an ArgumentException naming the first option that does not fit a problem of this size.</summary>
    public void Validate(int parameterCount, int exampleCount)
    {
        if (K < 1 || K >= parameterCount)
            throw new ArgumentOutOfRangeException("k", $"Option 'k' was {K}; expected an integer in [1, {parameterCount - 1}] (below the parameter count {parameterCount}).");
        Guard.Positive(RefreshEvery, "refresh");
        if (HessianBatch is int m && (m < 1 || m > exampleCount))
            throw new ArgumentOutOfRangeException("hessian-batch", $"Option 'hessian-batch' was {m}; expected an integer in [1, {exampleCount}] (the number of training examples).");
        Guard.Positive(Tolerance, "tolerance");
        if (MaxMatvecs is int mv) Guard.Positive(mv, "max-matvecs");
        if (MaxIterations is int it) Guard.Positive(it, "max-iterations");
        if (!Enum.IsDefined(Kind) || Kind == CurvatureKind.FunctionalHessian)
            throw new ArgumentOutOfRangeException("curvature", $"Option 'curvature' was {Kind}; expected Hessian or GaussNewton.");
        if (!Enum.IsDefined(Solver))
            throw new ArgumentOutOfRangeException("solver", $"Option 'solver' was {Solver}; expected lanczos or lobpcg.");
    }
}

/// <summary>Everything a tracker needs to continue exactly where it stopped.</summary>
public sealed record TrackerState(
    int K, int Dimension, double[] Basis, double[] Eigenvalues, double[] Residuals, int Converged,
    int Refreshes, long Matvecs, int LastMatvecs, int[]? HessianBatch);

/// <summary>
/// Keeps an orthonormal basis of the top-k eigenvectors of the loss curvature (H or G, on all
/// examples or one fixed batch), recomputed every T steps, warm-started from the previous one,
/// with a running count of the curvature-vector products (matvecs) spent.
/// </summary>
public sealed class SubspaceTracker
{
    readonly IObjective _objective;
    readonly TrackerOptions _o;
    readonly int _n;
    readonly int[]? _batch;
    readonly double[] _eigenvalues;
    readonly double[] _residuals;

    public SubspaceTracker(IObjective objective, TrackerOptions options)
    {
        Guard.NotNull(objective);
        Guard.NotNull(options);
        options.Validate(objective.ParameterCount, objective.ExampleCount);
        _objective = objective;
        _o = options;
        _n = objective.ParameterCount;
        _batch = DrawBatch(options, objective.ExampleCount);
        _eigenvalues = new double[options.K];
        _residuals = new double[options.K];
        _eigenvalues.AsSpan().Fill(double.NaN);
        _residuals.AsSpan().Fill(double.NaN);
        Projector = new SubspaceProjector(_n);
    }

    /// <summary>m distinct example indices, drawn once from the seed and sorted; null when the batch is every example.</summary>
    static int[]? DrawBatch(TrackerOptions o, int exampleCount)
    {
        if (o.HessianBatch is not int m || m == exampleCount) return null;
        var all = new int[exampleCount];
        for (int i = 0; i < exampleCount; i++) all[i] = i;
        new Rng(o.Seed ^ 0x4845535349414EUL).Shuffle(all.AsSpan());
        var batch = all[..m];
        Array.Sort(batch);
        return batch;
    }

    public TrackerOptions Options => _o;

    /// <summary>The projector onto the current basis (rank 0 before the first refresh).</summary>
    public SubspaceProjector Projector { get; }

    /// <summary>Whether a basis has been computed.</summary>
    public bool HasBasis => Refreshes > 0;

    /// <summary>The current eigenvalues, largest first (NaN before the first refresh).</summary>
    public ReadOnlySpan<double> Eigenvalues => _eigenvalues;

    /// <summary>The solver's residual norms for the current eigenpairs.</summary>
    public ReadOnlySpan<double> Residuals => _residuals;

    /// <summary>How many of the current eigenpairs met the tolerance.</summary>
    public int Converged { get; private set; }

    /// <summary>The example indices the curvature is measured on; null means all.</summary>
    public IReadOnlyList<int>? HessianBatch => _batch;

    /// <summary>Refreshes done so far.</summary>
    public int Refreshes { get; private set; }

    /// <summary>Curvature-vector products (HVPs or GVPs) spent over all refreshes.</summary>
    public long Matvecs { get; private set; }

    /// <summary>Matvecs of the most recent refresh.</summary>
    public int LastMatvecs { get; private set; }

    /// <summary>Whether the basis is due to be recomputed at step count <paramref name="step"/>.</summary>
    public bool IsDue(long step) => !HasBasis || step % _o.RefreshEvery == 0;

    /// <summary>Recomputes the top-k eigenpairs of the curvature at θ and installs them as the basis.</summary>
    public void Refresh(ReadOnlySpan<double> theta)
    {
        Guard.Length(theta, _n, nameof(theta));
        var op = _objective.CurvatureOperator(_o.Kind, theta, _batch);
        // A different seed per refresh keeps cold starts from repeating one random vector.
        ulong seed = unchecked(_o.Seed + 0x9E3779B97F4A7C15UL * (ulong)(Refreshes + 1));
        bool warm = _o.WarmStart && HasBasis;
        EigenResult r;
        try
        {
            r = _o.Solver == EigenSolverKind.Lobpcg
                ? Lobpcg.TopK(op, _o.K, LobpcgOptionsFor(warm, seed))
                : Lanczos.TopK(op, _o.K, LanczosOptionsFor(warm, seed));
        }
        finally
        {
            (op as IDisposable)?.Dispose();
        }
        if (r.Count != _o.K || r.Size != _n)
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                $"The {_o.Solver} solver returned {r.Count} eigenpairs of size {r.Size}; expected {_o.K} of size {_n}."));
        Projector.SetBasis(r.Vectors.AsSpan(0, _o.K * _n), _o.K);
        r.Values.AsSpan(0, _o.K).CopyTo(_eigenvalues);
        r.Residuals.AsSpan(0, _o.K).CopyTo(_residuals);
        Converged = r.Converged.Count(c => c);
        LastMatvecs = r.Matvecs;
        Matvecs += r.Matvecs;
        Refreshes++;
    }

    EigenOptions LobpcgOptionsFor(bool warm, ulong seed) => new()
    {
        Which = Which.LargestAlgebraic,
        Tolerance = _o.Tolerance,
        Seed = seed,
        StartBlock = warm ? Projector.Basis.ToArray() : null,
        MaxIterations = _o.MaxIterations,
        MaxMatvecs = _o.MaxMatvecs ?? EigenOptions.DefaultMaxMatvecs,
    };

    EigenOptions LanczosOptionsFor(bool warm, ulong seed) => new()
    {
        Which = Which.LargestAlgebraic,
        Tolerance = _o.Tolerance,
        Seed = seed,
        StartBlock = warm ? SumOfBasis() : null,
        MaxMatvecs = _o.MaxMatvecs ?? EigenOptions.DefaultMaxMatvecs,
    };

    /// <summary>
    /// Σ_j u_j: a Krylov space started from it contains every previous eigenvector's direction
    /// with equal weight, so the new top-k (near the old ones) are found in few steps.
    /// </summary>
    double[] SumOfBasis()
    {
        var s = new double[_n];
        var u = Projector.Basis;
        for (int j = 0; j < _o.K; j++) Blas.Axpy(1.0, u.Slice(j * _n, _n), s);
        return s;
    }

    /// <summary>A copy of the tracker's state.</summary>
    public TrackerState State => new(_o.K, _n, Projector.Basis.ToArray(), (double[])_eigenvalues.Clone(), (double[])_residuals.Clone(),
        Converged, Refreshes, Matvecs, LastMatvecs, _batch is null ? null : (int[])_batch.Clone());

    /// <summary>Restores a state saved from a tracker with the same options on the same problem.</summary>
    public void Restore(TrackerState s)
    {
        Guard.NotNull(s);
        if (s.K != _o.K || s.Dimension != _n)
            throw new ArgumentException($"Argument 's' holds a k={s.K} basis in dimension {s.Dimension}; expected k={_o.K} in dimension {_n}.", nameof(s));
        if (!(s.HessianBatch ?? []).AsSpan().SequenceEqual(_batch ?? []))
            throw new ArgumentException("Argument 's' was measured on a different Hessian batch; expected the batch these options draw.", nameof(s));
        if (s.Refreshes > 0) Projector.SetBasis(s.Basis, s.K);
        s.Eigenvalues.CopyTo(_eigenvalues, 0);
        s.Residuals.CopyTo(_residuals, 0);
        Converged = s.Converged;
        Refreshes = s.Refreshes;
        Matvecs = s.Matvecs;
        LastMatvecs = s.LastMatvecs;
    }
}

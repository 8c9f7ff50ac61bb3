using System.Globalization;
using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using Curvature.Spectral;

namespace Curvature.Optimizers;

/// <summary>Which k-dimensional subspace U the projected rules use.</summary>
public enum SubspaceKind
{
    /// <summary>The top-k eigenvectors of the curvature (the dominant subspace).</summary>
    [CliName("top")]
    Top,

    /// <summary>A control: a seeded random orthonormal k-basis, drawn anew at every refresh.</summary>
    [CliName("random")]
    Random,

    /// <summary>A control: one seeded random orthonormal k-basis, drawn at the first refresh and kept.</summary>
    [CliName("random-fixed")]
    RandomFixed,
}

/// <summary>How the dominant subspace is found and how often it is refreshed.</summary>
public sealed record TrackerOptions
{
    /// <summary>The top-k eigenspace, or a random control subspace of the same dimension.</summary>
    public SubspaceKind Subspace { get; init; } = SubspaceKind.Top;

    /// <summary>The curvature matrix whose top-k eigenvectors span the dominant subspace.</summary>
    public CurvatureKind Kind { get; init; } = CurvatureKind.Hessian;

    /// <summary>k, the dimension of the dominant subspace.</summary>
    public int K { get; init; } = 10;

    /// <summary>T: the basis is recomputed at every step count divisible by T.</summary>
    public int RefreshEvery { get; init; } = 10;

    /// <summary>Size of the fixed example batch the curvature is measured on (drawn once from the seed by <see cref="CurvatureBatch.Draw"/>); 0 means all examples.</summary>
    public int HessianBatch { get; init; } = DefaultHessianBatch;

    /// <summary>The default <see cref="HessianBatch"/> (a run on fewer examples measures them all).</summary>
    public const int DefaultHessianBatch = 500;

    /// <summary>The top-k solver of each refresh.</summary>
    public EigenSolver Solver { get; init; } = Eigensolver.Default;

    /// <summary>Start each refresh from the previous basis (the block solvers' start block, Lanczos' start vector: the sum of the rows).</summary>
    public bool WarmStart { get; init; } = true;

    /// <summary>
    /// Warm refreshes by <see cref="WarmRefresh.TopK"/> (Rayleigh–Ritz on the previous basis and
    /// guard rows, certified by the gap to the guard; block Lanczos when the gap cannot certify)
    /// when <see cref="Solver"/> is block Lanczos and <see cref="WarmStart"/> is on. Default true.
    /// </summary>
    public bool GapCertifiedRefresh { get; init; } = true;

    /// <summary>Guard rows of the gap-certified refresh; null: <see cref="WarmRefresh.DefaultGuard"/>(k).</summary>
    public int? Guard { get; init; }

    /// <summary>Residual tolerance passed to the solver.</summary>
    public double Tolerance { get; init; } = 1e-4;

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
            throw new ArgumentOutOfRangeException("k", $"Option 'k' was {K}; expected an integer in [1, {parameterCount - 1}] (below the network's {parameterCount} parameters).");
        Core.Guard.Positive(RefreshEvery, "refresh");
        if (HessianBatch < 0 || HessianBatch > exampleCount)
            throw new ArgumentOutOfRangeException("hessian-batch", $"Option 'hessian-batch' was {HessianBatch}; expected an integer in [0, {exampleCount}] (at most the {exampleCount} training examples; 0: all).");
        Core.Guard.Positive(Tolerance, "tolerance");
        if (MaxMatvecs is int mv) Core.Guard.Positive(mv, "max-matvecs");
        if (MaxIterations is int it) Core.Guard.Positive(it, "max-iterations");
        if (Guard is int g && (g < 1 || K + g >= parameterCount))
            throw new ArgumentOutOfRangeException("guard", $"Option 'guard' was {g}; expected an integer in [1, {parameterCount - K - 1}] (k + guard below the parameter count {parameterCount}).");
        if (!Enum.IsDefined(Kind) || Kind == CurvatureKind.FunctionalHessian)
            throw new ArgumentOutOfRangeException("curvature", $"Option 'curvature' was {Kind}; expected h, g, ef, cov, fisher or kfac (F is indefinite: its top-k is no dominant subspace).");
        if (!Enum.IsDefined(Subspace))
            throw new ArgumentOutOfRangeException("subspace", $"Option 'subspace' was {Subspace}; expected top, random or random-fixed.");
        if (!Enum.IsDefined(Solver))
            throw new ArgumentOutOfRangeException("solver", $"Option 'solver' was {Solver}; expected block-lanczos, lanczos, lobpcg or power.");
    }
}

/// <summary>
/// Everything a tracker needs to continue exactly where it stopped. <see cref="Basis"/> holds the
/// k basis rows followed by the guard rows of the gap-certified refresh (none before the first
/// warm refresh or without it). <see cref="LastOverlap"/> and <see cref="LastGap"/> are the
/// most recent refresh's <see cref="SubspaceTracker.LastOverlap"/> and <see cref="SubspaceTracker.LastGap"/>
/// (NaN when unknown: checkpoints of format 4 and older).
/// </summary>
public sealed record TrackerState(
    int K, int Dimension, double[] Basis, double[] Eigenvalues, double[] Residuals, int Converged,
    int Refreshes, long Matvecs, int LastMatvecs, int[]? HessianBatch, double LastOverlap = double.NaN, double LastGap = double.NaN);

/// <summary>
/// Keeps an orthonormal basis of the top-k eigenvectors of the loss curvature (H, G, the empirical
/// Fisher, the gradient covariance or K-FAC, on all examples or one fixed batch), recomputed every T steps, warm-started from the previous one,
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
    readonly double[] _previous;
    double[]? _guard;
    // Reused by every warm refresh: a steady-state refresh then allocates only its results.
    readonly WarmRefreshWorkspace _workspace = new();
    double[]? _start;

    /// <summary>A tracker of the curvature of <paramref name="objective"/>; the Hessian batch is drawn here, once.</summary>
    public SubspaceTracker(IObjective objective, TrackerOptions options)
    {
        Guard.NotNull(objective);
        Guard.NotNull(options);
        options.Validate(objective.ParameterCount, objective.ExampleCount);
        _objective = objective;
        _o = options;
        _n = objective.ParameterCount;
        _batch = CurvatureBatch.Draw(options.Seed, objective.ExampleCount, options.HessianBatch == 0 ? null : options.HessianBatch);
        _eigenvalues = new double[options.K];
        _residuals = new double[options.K];
        _eigenvalues.AsSpan().Fill(double.NaN);
        _residuals.AsSpan().Fill(double.NaN);
        _previous = new double[options.K * _n];
        Projector = new SubspaceProjector(_n);
    }

    /// <summary>The tracker's options.</summary>
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

    /// <summary>Whether the most recent refresh's set is certified (<see cref="EigenResult.Certified"/>).</summary>
    public bool LastCertified { get; private set; }

    /// <summary>Whether the most recent refresh was certified by the warm gap certificate (no block Lanczos run).</summary>
    public bool LastGapCertified { get; private set; }

    /// <summary>The widths of the most recent refresh's block products (the fallback solve as one entry of its total).</summary>
    public IReadOnlyList<int> LastBlockWidths { get; private set; } = [];

    /// <summary>
    /// ‖U_prevᵀU‖²_F / k for the bases before and after the most recent refresh (both orthonormal,
    /// so it lies in [0, 1]: the mean squared cosine of the principal angles); NaN after the first.
    /// </summary>
    public double LastOverlap { get; private set; } = double.NaN;

    /// <summary>
    /// λ_k/θ_{k+1} of the most recent refresh, θ_{k+1} the top Ritz value of its guard rows, when the
    /// warm gap certificate decided it (the guard's Ritz value is then separated from λ_k by the
    /// certified gap); NaN otherwise.
    /// </summary>
    public double LastGap { get; private set; } = double.NaN;

    /// <summary>The most recent warm refresh's full outcome (its first Rayleigh–Ritz step, products, gap), or null when the most recent refresh was not one.</summary>
    public WarmRefreshResult? LastWarmRefresh { get; private set; }

    /// <summary>Refreshes (since construction or restore) that the warm gap certificate decided without block Lanczos.</summary>
    public int GapCertifiedRefreshes { get; private set; }

    /// <summary>Whether the basis is due to be recomputed at step count <paramref name="step"/>.</summary>
    public bool IsDue(long step) => !HasBasis || step % _o.RefreshEvery == 0;

    /// <summary>
    /// Recomputes the top-k eigenpairs of the curvature at θ and installs them as the basis (a random
    /// control subspace instead: see <see cref="TrackerOptions.Subspace"/>).
    /// </summary>
    public void Refresh(ReadOnlySpan<double> theta)
    {
        Guard.Length(theta, _n, nameof(theta));
        var op = _objective.CurvatureOperator(_o.Kind, theta, _batch);
        // A different seed per refresh keeps cold starts from repeating one random vector.
        ulong seed = unchecked(_o.Seed + 0x9E3779B97F4A7C15UL * (ulong)(Refreshes + 1));
        if (_o.Subspace != SubspaceKind.Top)
        {
            RefreshRandom(op, seed);
            return;
        }
        if (op is KfacOperator kfac)
        {
            // K-FAC's eigenpairs come from its factors: no solver, no warm start.
            Install(kfac.TopK(_o.K), warm: false, seed, solved: false);
            return;
        }
        bool warm = _o.WarmStart && HasBasis;
        // The block solvers start from the previous basis; Lanczos from the sum of its rows, whose Krylov space holds every previous direction.
        var r = warm && UsesGapCertifiedRefresh
            ? WarmRefreshOn(op, seed)
            : Eigensolver.TopK(op, _o.K, _o.Solver, new EigenOptions
            {
                Tolerance = _o.Tolerance,
                Seed = seed,
                StartBlock = warm ? Projector.Basis.ToArray() : null,
                MaxMatvecs = _o.MaxMatvecs ?? EigenOptions.DefaultMaxMatvecs,
                MaxIterations = _o.MaxIterations,
            });
        Install(r, warm, seed, solved: true);
    }

    /// <summary>Installs the solver's (or K-FAC's) top-k as the basis and counts the refresh.</summary>
    void Install(EigenResult r, bool warm, ulong seed, bool solved)
    {
        if (r.Count != _o.K || r.Size != _n)
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                $"The {_o.Solver} solver returned {r.Count} eigenpairs of size {r.Size}; expected {_o.K} of size {_n}."));
        SetBasis(r.Vectors.AsSpan(0, _o.K * _n));
        r.Values.AsSpan(0, _o.K).CopyTo(_eigenvalues);
        r.Residuals.AsSpan(0, _o.K).CopyTo(_residuals);
        Converged = r.Converged.Count(c => c);
        LastCertified = r.Certified;
        if (!(warm && UsesGapCertifiedRefresh))
        {
            LastGapCertified = false;
            LastWarmRefresh = null;
            LastBlockWidths = [r.Matvecs];
            // The cold solve's guard: random rows in the complement, trusted after one warm refresh.
            if (solved && UsesGapCertifiedRefresh && _o.WarmStart)
                _guard = WarmRefresh.RandomGuard(r.Vectors.AsSpan(0, _o.K * _n).ToArray(), _o.K, GuardRows, seed ^ 0x4755415244UL);
        }
        if (!LastGapCertified) LastGap = double.NaN;
        LastMatvecs = r.Matvecs;
        Matvecs += r.Matvecs;
        Refreshes++;
    }

    /// <summary>
    /// The random control: k seeded Gaussian vectors orthonormalized by Gram–Schmidt (twice, for
    /// orthogonality to rounding), kept by random-fixed after the first draw; the "eigenvalues" are
    /// the Rayleigh quotients uᵢᵀAuᵢ of the rows, largest first (k matvecs), the curvature along U.
    /// </summary>
    void RefreshRandom(ILinearOperator op, ulong seed)
    {
        int k = _o.K;
        if (_o.Subspace == SubspaceKind.Random || !HasBasis)
        {
            var rows = new double[k * _n];
            new Rng(seed).FillGaussian(rows);
            for (int j = 0; j < k; j++)
            {
                var row = rows.AsSpan(j * _n, _n);
                for (int pass = 0; pass < 2; pass++)
                    for (int i = 0; i < j; i++) Blas.Axpy(-Blas.Dot(rows.AsSpan(i * _n, _n), row), rows.AsSpan(i * _n, _n), row);
                Blas.Scal(1 / Blas.Nrm2(row), row);
            }
            SetBasis(rows);
        }
        else LastOverlap = 1.0;
        LastGap = double.NaN;
        LastWarmRefresh = null;
        var basis = Projector.Basis;
        var image = new double[_n];
        for (int j = 0; j < k; j++)
        {
            op.Apply(basis.Slice(j * _n, _n), image);
            _eigenvalues[j] = Blas.Dot(basis.Slice(j * _n, _n), image);
        }
        Array.Sort(_eigenvalues, (a, b) => b.CompareTo(a));
        _residuals.AsSpan().Fill(double.NaN);
        Converged = 0;
        LastMatvecs = k;
        Matvecs += k;
        Refreshes++;
    }

    /// <summary>Installs the k rows as the basis and records their overlap with the basis they replace.</summary>
    void SetBasis(ReadOnlySpan<double> rows)
    {
        int k = _o.K;
        bool had = HasBasis;
        if (had) Projector.Basis.CopyTo(_previous);
        Projector.SetBasis(rows, k);
        LastOverlap = had ? Kfac.Overlap(_previous, Projector.Basis, k, _n) : double.NaN;
    }

    bool UsesGapCertifiedRefresh => _o.GapCertifiedRefresh && _o.Solver == EigenSolver.BlockLanczos && _o.K + 1 < _n;

    int GuardRows => Math.Min(_n - 1 - _o.K, _o.Guard ?? WarmRefresh.DefaultGuard(_o.K));

    /// <summary>The warm refresh from the basis and guard rows; keeps the new guard rows for the next one.</summary>
    EigenResult WarmRefreshOn(ILinearOperator op, ulong seed)
    {
        int g = GuardRows;
        int rows = _o.K + (_guard is null ? 0 : g);
        // The start block's length says how many rows it holds: kept only while that count holds.
        var start = _start is { } kept && kept.Length == rows * _n ? kept : _start = new double[rows * _n];
        Projector.Basis.CopyTo(start);
        _guard?.CopyTo(start.AsSpan(_o.K * _n));
        var w = WarmRefresh.TopK(op, _o.K, new EigenOptions
        {
            Which = Which.LargestAlgebraic,
            Tolerance = _o.Tolerance,
            Seed = seed,
            MaxMatvecs = _o.MaxMatvecs ?? EigenOptions.DefaultMaxMatvecs,
            StartBlock = start,
            BlockSize = _o.K + g,
        }, guardIsNew: Refreshes <= 1, _workspace);
        _guard = w.Guard;
        LastWarmRefresh = w;
        LastGapCertified = w.GapCertified;
        LastGap = w.GapCertified && w.GuardValues.Length > 0 ? w.Result.Values[_o.K - 1] / w.GuardValues[0] : double.NaN;
        LastBlockWidths = w.BlockWidths;
        if (w.GapCertified) GapCertifiedRefreshes++;
        return w.Result;
    }

    /// <summary>A copy of the tracker's state.</summary>
    public TrackerState State => new(_o.K, _n, [.. Projector.Basis, .. _guard ?? []], (double[])_eigenvalues.Clone(), (double[])_residuals.Clone(),
        Converged, Refreshes, Matvecs, LastMatvecs, _batch is null ? null : (int[])_batch.Clone(), LastOverlap, LastGap);

    /// <summary>Restores a state saved from a tracker with the same options on the same problem.</summary>
    public void Restore(TrackerState s)
    {
        Guard.NotNull(s);
        if (s.K != _o.K || s.Dimension != _n)
            throw new ArgumentException($"Argument 's' holds a k={s.K} basis in dimension {s.Dimension}; expected k={_o.K} in dimension {_n}.", nameof(s));
        if (!(s.HessianBatch ?? []).AsSpan().SequenceEqual(_batch ?? []))
            throw new ArgumentException("Argument 's' was measured on a different Hessian batch; expected the batch these options draw.", nameof(s));
        if (s.Basis.Length % _n != 0 || (s.Refreshes > 0 && s.Basis.Length < s.K * _n))
            throw new ArgumentException($"Argument 's' holds a basis of {s.Basis.Length} numbers; expected k×n = {s.K}x{_n} followed by whole guard rows.", nameof(s));
        if (s.Refreshes > 0) Projector.SetBasis(s.Basis.AsSpan(0, s.K * _n), s.K);
        _guard = s.Basis.Length > s.K * _n ? s.Basis[(s.K * _n)..] : null;
        s.Eigenvalues.CopyTo(_eigenvalues, 0);
        s.Residuals.CopyTo(_residuals, 0);
        Converged = s.Converged;
        Refreshes = s.Refreshes;
        Matvecs = s.Matvecs;
        LastMatvecs = s.LastMatvecs;
        LastOverlap = s.LastOverlap;
        LastGap = s.LastGap;
    }
}

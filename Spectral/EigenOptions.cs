using System.Globalization;
using Curvature.Core;

namespace Curvature.Spectral;

/// <summary>The top-k eigensolvers behind <see cref="Eigensolver.TopK"/>.</summary>
public enum EigenSolver
{
    /// <summary>Block Lanczos with thick restart (<see cref="Spectral.BlockLanczos"/>): the default; finds multiplicities up to the block size.</summary>
    [CliName("block-lanczos", "blocklanczos")]
    BlockLanczos,

    /// <summary>Single-vector thick-restart Lanczos (<see cref="Spectral.Lanczos"/>), probing the complement of the converged set by default.</summary>
    [CliName("lanczos")]
    Lanczos,

    /// <summary>LOBPCG without preconditioner (<see cref="Spectral.Lobpcg"/>).</summary>
    [CliName("lobpcg")]
    Lobpcg,

    /// <summary>Power iteration with deflation (<see cref="PowerIteration"/>): the slow baseline.</summary>
    [CliName("power")]
    Power,
}

/// <summary>
/// One set of options for every top-k solver. The shared vocabulary (which end, tolerance,
/// operator-application budget, start block, seed) means the same thing for each solver;
/// the solver-specific knobs are optional and ignored by solvers they do not concern.
/// </summary>
public sealed record EigenOptions
{
    /// <summary>Default operator-application budget.</summary>
    public const int DefaultMaxMatvecs = 20_000;

    /// <summary>Which end of the spectrum; default the algebraically largest eigenvalues.</summary>
    public Which Which { get; init; } = Which.LargestAlgebraic;

    /// <summary>A pair converges when ‖Av − λv‖ ≤ Tolerance·max(|λ|, ε^{1/3}·‖A‖_est) (positive, finite).</summary>
    public double Tolerance { get; init; } = 1e-8;

    /// <summary>
    /// Budget of operator applications, a block of b vectors counting b. When it runs out the
    /// best pairs are returned with their true residuals, flagged by the same test.
    /// </summary>
    public int MaxMatvecs { get; init; } = DefaultMaxMatvecs;

    /// <summary>
    /// Start block / warm start: m×n row-major, one start vector per row, finite and not all
    /// zero (typically the previous eigenvectors of a slightly changed operator). Block
    /// Lanczos and LOBPCG start from its span (missing rows random); single-vector Lanczos and
    /// power iteration start from the sum of its rows. Null: random start from <see cref="Seed"/>.
    /// </summary>
    public double[]? StartBlock { get; init; }

    /// <summary>Seed of every random vector the solver draws; same seed, same bits.</summary>
    public ulong Seed { get; init; }

    /// <summary>
    /// Block width. Block Lanczos: vectors per block (default <see cref="BlockLanczos.DefaultBlockSize"/>);
    /// LOBPCG: the iterated block k + guard (default k + max(2, k/5)). Ignored by the single-vector solvers.
    /// </summary>
    public int? BlockSize { get; init; }

    /// <summary>Lanczos and block Lanczos: basis vectors kept before a thick restart (defaults in docs/spectral.md).</summary>
    public int? MaxBasisSize { get; init; }

    /// <summary>Lanczos and block Lanczos: Ritz vectors kept at a thick restart.</summary>
    public int? KeepOnRestart { get; init; }

    /// <summary>
    /// Single-vector Lanczos: after convergence, probe the complement of the converged vectors
    /// with a fresh random Krylov sequence (default true). Without it a missed copy of a
    /// repeated eigenvalue cannot be ruled out and the result says so (<see cref="EigenResult.Certified"/> false).
    /// </summary>
    public bool ProbeComplement { get; init; } = true;

    /// <summary>LOBPCG: Rayleigh–Ritz updates (default 500). Power iteration: steps per pair (default 1000).</summary>
    public int? MaxIterations { get; init; }

    /// <summary>Checks the shared options against k and n; throws naming the option, the value and the expectation.</summary>
    internal void Validate(int k, int n)
    {
        BlockOps.CheckK(k, n);
        BlockOps.CheckWhich(Which, "options.Which");
        Guard.Positive(Tolerance, "options.Tolerance");
        if (MaxMatvecs < 1)
            throw new ArgumentOutOfRangeException("options.MaxMatvecs", string.Create(CultureInfo.InvariantCulture,
                $"Argument 'options.MaxMatvecs' was {MaxMatvecs}; expected a positive operator-application budget."));
        if (MaxIterations is int it && it < 0)
            throw new ArgumentOutOfRangeException("options.MaxIterations", string.Create(CultureInfo.InvariantCulture,
                $"Argument 'options.MaxIterations' was {it}; expected a non-negative integer."));
        if (BlockSize is int b && (b < 1 || b > n))
            throw new ArgumentOutOfRangeException("options.BlockSize", string.Create(CultureInfo.InvariantCulture,
                $"Argument 'options.BlockSize' was {b}; expected an integer in [1, n] = [1, {n}]."));
        if (StartBlock is { } s)
        {
            if (s.Length == 0 || s.Length % n != 0)
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                    $"Argument 'options.StartBlock' has length {s.Length}; expected m x n = m x {n} with m >= 1 (one start vector per row)."),
                    "options.StartBlock");
            Guard.AllFinite(s, "options.StartBlock");
            bool nonZero = false;
            foreach (double v in s) nonZero |= v != 0;
            if (!nonZero)
                throw new ArgumentException("Argument 'options.StartBlock' is all zeros; expected at least one non-zero start vector.", "options.StartBlock");
        }
    }

    /// <summary>The sum of the start block's rows (a single start vector carrying every row's direction), or null.</summary>
    internal double[]? StartVectorSum(int n)
    {
        if (StartBlock is not { } s) return null;
        var v = new double[n];
        int m = s.Length / n;
        for (int r = 0; r < m; r++) Blas.Axpy(1.0, s.AsSpan(r * n, n), v);
        if (!(Blas.Nrm2(v) > 0)) v = s.AsSpan(0, n).ToArray();
        return v;
    }
}

/// <summary>One dispatch over the top-k solvers, all taking <see cref="EigenOptions"/> and returning <see cref="EigenResult"/>.</summary>
public static class Eigensolver
{
    /// <summary>The solver used when none is named.</summary>
    public const EigenSolver Default = EigenSolver.BlockLanczos;

    /// <summary>The k extreme eigenpairs of the symmetric operator <paramref name="op"/> by the chosen solver.</summary>
    /// <param name="op">Symmetric operator of size n ≥ 2.</param>
    /// <param name="k">Number of pairs, 1 ≤ k &lt; n.</param>
    /// <param name="solver">The solver.</param>
    /// <param name="options">Options (null: defaults).</param>
    /// <exception cref="ArgumentException">An argument or option is out of range; the message names it.</exception>
    public static EigenResult TopK(ILinearOperator op, int k, EigenSolver solver = Default, EigenOptions? options = null) => solver switch
    {
        EigenSolver.BlockLanczos => BlockLanczos.TopK(op, k, options),
        EigenSolver.Lanczos => Lanczos.TopK(op, k, options),
        EigenSolver.Lobpcg => Lobpcg.TopK(op, k, options),
        EigenSolver.Power => PowerIteration.TopK(op, k, options),
        _ => throw new ArgumentOutOfRangeException(nameof(solver),
            $"Argument 'solver' was {(int)solver}; expected BlockLanczos, Lanczos, Lobpcg or Power."),
    };

    /// <summary>Parses a solver's command-line name: block-lanczos, lanczos, lobpcg or power (case-insensitive).</summary>
    /// <exception cref="ArgumentException">Unknown name; the message names <paramref name="argument"/> and the value.</exception>
    public static EigenSolver Parse(string name, string argument = "solver") => CliNames.Parse<EigenSolver>(name, argument.TrimStart('-'));

    /// <summary>The command-line name of a solver (inverse of <see cref="Parse"/>).</summary>
    public static string Name(EigenSolver solver) => CliNames.Name(solver);
}

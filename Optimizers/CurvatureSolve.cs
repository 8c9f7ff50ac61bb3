using Curvature.Core;
using Curvature.Models;
using Curvature.Spectral;

namespace Curvature.Optimizers;

/// <summary>
/// The fixed example batch the curvature is measured on. The one draw used by the tracker
/// (train, compare, sweep) and by spectrum and decompose, so a given seed and batch size
/// measure the same examples everywhere.
/// </summary>
public static class HessianBatchDraw
{
    /// <summary>
    /// <paramref name="size"/> distinct example indices out of <paramref name="exampleCount"/>,
    /// drawn by <see cref="CurvatureBatch.Draw"/> from <paramref name="seed"/> (a tracker seed,
    /// <see cref="RunSpec.TrackerSeed"/>) and sorted; null (every example) when <paramref name="size"/> is 0 or the whole set.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">size is negative or above exampleCount.</exception>
    public static int[]? Draw(int exampleCount, int size, ulong seed)
    {
        Guard.Positive(exampleCount);
        if (size < 0 || size > exampleCount)
            throw new ArgumentOutOfRangeException("hessian-batch", $"Option '--hessian-batch' was {size}; expected an integer in [0, {exampleCount}] (0: every training example).");
        return CurvatureBatch.Draw(seed, exampleCount, size == 0 ? null : size);
    }
}

/// <summary>What a top-k eigensolve is asked for: the solver, its tolerance, budgets, seed and warm start.</summary>
public sealed record TopKRequest
{
    /// <summary>The solver.</summary>
    public EigenSolverKind Solver { get; init; } = EigenSolverKind.Lanczos;

    /// <summary>Residual tolerance.</summary>
    public double Tolerance { get; init; } = 1e-4;

    /// <summary>Seed of the random start.</summary>
    public ulong Seed { get; init; }

    /// <summary>Operator-application budget; null keeps the solver's default.</summary>
    public int? MaxMatvecs { get; init; }

    /// <summary>Iteration budget (LOBPCG); null keeps the solver's default.</summary>
    public int? MaxIterations { get; init; }

    /// <summary>
    /// Previous eigenvectors (k rows of length n) to start from, or null for a random start.
    /// LOBPCG starts from the block; Lanczos from their sum, whose Krylov space holds every
    /// previous direction with equal weight.
    /// </summary>
    public ReadOnlyMemory<double>? WarmStart { get; init; }
}

/// <summary>
/// The one place Curvature's training and experiments call a top-k eigensolver (largest
/// algebraic eigenvalues): the tracker, spectrum, decompose and compare's analysis.
/// </summary>
public static class TopK
{
    /// <summary>The <paramref name="k"/> algebraically largest eigenpairs of <paramref name="op"/>.</summary>
    public static EigenResult Solve(ILinearOperator op, int k, TopKRequest request)
    {
        Guard.NotNull(op);
        Guard.NotNull(request);
        if (request.WarmStart is { } start && start.Length != k * op.Size)
            throw new ArgumentException($"Argument 'request' has a warm start of {start.Length} values; expected k·n = {k}·{op.Size}.", nameof(request));
        if (request.Solver == EigenSolverKind.Lobpcg)
            return Lobpcg.TopK(op, k, new LobpcgOptions
            {
                Which = Which.LargestAlgebraic,
                Tolerance = request.Tolerance,
                Seed = request.Seed,
                WarmStart = request.WarmStart?.ToArray(),
                MaxIterations = request.MaxIterations ?? new LobpcgOptions().MaxIterations,
                MaxMatvecs = request.MaxMatvecs,
            });
        return Lanczos.TopK(op, k, new LanczosOptions
        {
            Which = Which.LargestAlgebraic,
            Tolerance = request.Tolerance,
            Seed = request.Seed,
            StartVector = request.WarmStart is { } w ? new ReadOnlyMemory<double>(SumOfRows(w.Span, k, op.Size)) : (ReadOnlyMemory<double>?)null,
            MaxMatvecs = request.MaxMatvecs ?? new LanczosOptions().MaxMatvecs,
        });
    }

    static double[] SumOfRows(ReadOnlySpan<double> rows, int k, int n)
    {
        var s = new double[n];
        for (int j = 0; j < k; j++) Blas.Axpy(1.0, rows.Slice(j * n, n), s);
        return s;
    }
}

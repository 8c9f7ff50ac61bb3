using Curvature.Core;

namespace Curvature.Spectral;

/// <summary>Options for <see cref="PowerIteration.TopK"/>.</summary>
public sealed record PowerIterationOptions
{
    /// <summary>
    /// LargestMagnitude is plain power iteration. LargestAlgebraic and SmallestAlgebraic
    /// run it on A + ρI and ρI − A, with ρ ≥ spectral radius estimated by a first power run.
    /// </summary>
    public Which Which { get; init; } = Which.LargestMagnitude;

    /// <summary>A pair converges when ‖Av − λv‖ ≤ Tolerance·max(|λ|, ε^{1/3}·‖A‖_est).</summary>
    public double Tolerance { get; init; } = 1e-8;

    /// <summary>Power steps allowed per eigenpair (and for the spectral-radius estimate).</summary>
    public int MaxIterations { get; init; } = 1000;

    public ulong Seed { get; init; }
}

/// <summary>
/// Power iteration with deflation (the PyHessian scheme): pair j iterates v ← A·v with v
/// kept orthogonal to the j pairs already found. The baseline the Krylov solvers are
/// compared against; it needs many more products.
/// </summary>
public static class PowerIteration
{
    public static EigenResult TopK(ILinearOperator op, int k, PowerIterationOptions? options = null)
    {
        Guard.NotNull(op);
        options ??= new PowerIterationOptions();
        int n = op.Size;
        BlockOps.CheckK(k, n);
        BlockOps.CheckWhich(options.Which, "options.Which");
        Guard.Positive(options.Tolerance, "options.Tolerance");
        Guard.Positive(options.MaxIterations, "options.MaxIterations");
        using var serial = SerialBlas.Enter();
        var rng = new Rng(options.Seed);
        var ws = new BlockWorkspace(n, k);
        var v = new double[n];
        var w = new double[n];
        var found = new double[k * n];
        var values = new double[k];
        var residuals = new double[k];
        var converged = new bool[k];
        int matvecs = 0, steps = 0;
        double normEstimate = 0;

        double alpha = 1, sigma = 0;
        if (options.Which != Which.LargestMagnitude)
        {
            // ρ bounds the spectrum so A + ρI (or ρI − A) is positive semidefinite up to the
            // estimate's error, and its dominant pairs are A's algebraically largest (smallest).
            // A residual of 1e-3·|μ| puts μ within 0.1% of a dominant eigenvalue; the 1% margin covers it.
            Run(serial, op, 1, 1, 0, Math.Max(options.Tolerance, 1e-3), options.MaxIterations, rng, ws, v, w, found, values, residuals, converged, ref matvecs, ref steps, ref normEstimate);
            double rho = 1.01 * Math.Abs(values[0]) + double.Epsilon;
            alpha = options.Which == Which.LargestAlgebraic ? 1 : -1;
            sigma = rho;
            Array.Clear(found);
        }
        Run(serial, op, k, alpha, sigma, options.Tolerance, options.MaxIterations, rng, ws, v, w, found, values, residuals, converged, ref matvecs, ref steps, ref normEstimate);
        return BlockOps.Package(options.Which, values, found, residuals, converged, n, matvecs, steps);
    }

    /// <summary>Finds <paramref name="count"/> dominant pairs of B = αA + σI (α = ±1) and reports them for A.</summary>
    static void Run(in SerialBlas serial, ILinearOperator op, int count, double alpha, double sigma, double tol, int maxIterations, Rng rng, BlockWorkspace ws,
        double[] v, double[] w, double[] found, double[] values, double[] residuals, bool[] converged,
        ref int matvecs, ref int steps, ref double normEstimate)
    {
        int n = op.Size;
        for (int j = 0; j < count; j++)
        {
            rng.FillGaussian(v);
            Deflate(v, found, j, n, ws);
            double lambdaA = 0, res = double.PositiveInfinity;
            bool ok = false;
            for (int it = 0; it < maxIterations; it++)
            {
                serial.Apply(op, v, w);
                matvecs++;
                steps++;
                double av = Blas.Nrm2(w);
                if (!double.IsFinite(av))
                    throw new InvalidOperationException($"The operator returned a non-finite product in power iteration step {it} of pair {j}; expected finite values.");
                normEstimate = Math.Max(normEstimate, av);
                lambdaA = Blas.Dot(v, w);
                // Residual of A itself: ‖Av − λv‖ (deflation only steers v, it never enters the residual).
                Blas.Axpy(-lambdaA, v, w);
                res = Blas.Nrm2(w);
                ok = res <= tol * Math.Max(Math.Abs(lambdaA), BlockOps.ScaleFloor(normEstimate));
                if (ok || it == maxIterations - 1) break;
                // w ← B·v = α(Av) + σv, rebuilt from the residual: Av = w + λv.
                Blas.Axpy(lambdaA, v, w);
                if (alpha != 1) Blas.Scal(alpha, w);
                if (sigma != 0) Blas.Axpy(sigma, v, w);
                Deflate(w, found, j, n, ws);
                double nrm = Blas.Nrm2(w);
                if (!(nrm > 0))
                {
                    // v hit the null space of B: any direction orthogonal to the found ones will do.
                    rng.FillGaussian(w);
                    Deflate(w, found, j, n, ws);
                    nrm = Blas.Nrm2(w);
                }
                for (int i = 0; i < n; i++) v[i] = w[i] / nrm;
            }
            v.CopyTo(found.AsSpan(j * n, n));
            values[j] = lambdaA;
            residuals[j] = res;
            converged[j] = ok;
        }
    }

    static void Deflate(Span<double> x, double[] found, int rows, int n, BlockWorkspace ws)
    {
        for (int round = 0; round < 2; round++)
            BlockOps.ProjectOut(x, 1, found.AsSpan(0, rows * n), rows, n, ws.Coef);
        double nrm = Blas.Nrm2(x);
        if (nrm > 0) Blas.Scal(1.0 / nrm, x);
    }
}

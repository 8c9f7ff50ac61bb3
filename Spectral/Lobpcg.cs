using Curvature.Core;

namespace Curvature.Spectral;

/// <summary>
/// Locally optimal block preconditioned conjugate gradient (no preconditioner) for k
/// extreme eigenpairs: Rayleigh–Ritz on the trial subspace [X, P, W] with soft locking of
/// converged pairs. See docs/spectral.md.
/// </summary>
public static class Lobpcg
{
    /// <summary>Default iterations (Rayleigh–Ritz updates after the first).</summary>
    public const int DefaultMaxIterations = 500;

    /// <summary>The default block for k wanted pairs: k + max(2, k/5) guard vectors, at most n.</summary>
    public static int DefaultBlockSize(int k, int n) => Math.Min(n, k + Math.Max(2, k / 5));

    /// <summary>
    /// The k extreme eigenpairs of <paramref name="op"/>. Uses <see cref="EigenOptions.Which"/>,
    /// <see cref="EigenOptions.Tolerance"/>, <see cref="EigenOptions.MaxMatvecs"/> (≥ the block
    /// size), <see cref="EigenOptions.StartBlock"/> (m ≤ block size rows; missing rows random),
    /// <see cref="EigenOptions.Seed"/>, <see cref="EigenOptions.BlockSize"/> (k ≤ p ≤ n, default
    /// <see cref="DefaultBlockSize"/>) and <see cref="EigenOptions.MaxIterations"/>. The set is
    /// certified unless p or more equal values lie inside it (cluster rule, docs/spectral.md).
    /// </summary>
    /// <exception cref="ArgumentException">An argument or option is out of range; the message names it.</exception>
    public static EigenResult TopK(ILinearOperator op, int k, EigenOptions? options = null)
    {
        Guard.NotNull(op);
        options ??= new EigenOptions();
        int n = op.Size;
        options.Validate(k, n);
        int maxIterations = options.MaxIterations ?? DefaultMaxIterations;
        int p = options.BlockSize ?? DefaultBlockSize(k, n);
        if (p < k)
            throw new ArgumentOutOfRangeException("options.BlockSize",
                $"Argument 'options.BlockSize' was {p}; expected at least k = {k} for LOBPCG (the block holds the k pairs).");
        int maxMatvecs = options.MaxMatvecs;
        if (maxMatvecs < p)
            throw new ArgumentOutOfRangeException("options.MaxMatvecs",
                $"Argument 'options.MaxMatvecs' was {maxMatvecs}; expected at least the block size k + guard = {p} (the first block product).");
        int warmRows = 0;
        if (options.StartBlock is { } warm)
        {
            if (warm.Length / n > p)
                throw new ArgumentException(
                    $"Argument 'options.StartBlock' has length {warm.Length}; expected m x n = m x {n} with 1 <= m <= k + guard = {p} (one start vector per row).",
                    "options.StartBlock");
            warmRows = warm.Length / n;
        }

        double tol = options.Tolerance;
        var which = options.Which;
        var rng = new Rng(options.Seed);
        int sMax = 3 * p;
        var s = new double[sMax * n];
        var aS = new double[sMax * n];
        var ws = new BlockWorkspace(n, sMax);
        var gram = new double[sMax * sMax];
        var ritz = new double[sMax];
        var order = new int[sMax];
        var coef = new double[2 * p * sMax];
        var theta = new double[p];
        var residuals = new double[p];
        var converged = new bool[p];

        // X: the warm rows, then random rows; a rank-deficient start is topped up with fresh random rows.
        BlockOps.OrthonormalStart(s.AsSpan(0, p * n), p, options.StartBlock ?? [], warmRows, n, rng, ws);
        op.ApplyBlock(s.AsSpan(0, p * n), aS.AsSpan(0, p * n), p);
        int matvecs = p;
        int sCount = p;
        double normEstimate = RayleighRitz(s, aS, n, sCount, p, which, gram, ritz, order, coef, theta, ws, out int pRows);

        int iterations = 0;
        while (true)
        {
            // Residuals of all block pairs; the unconverged ones become W (soft locking: converged pairs stay in X but add no W).
            double floor = BlockOps.ScaleFloor(normEstimate);
            int wStart = p + pRows;
            int active = 0;
            for (int i = 0; i < p; i++)
            {
                var w = s.AsSpan((wStart + active) * n, n);
                var xi = s.AsSpan(i * n, n);
                aS.AsSpan(i * n, n).CopyTo(w);
                Blas.Axpy(-theta[i], xi, w);
                residuals[i] = Blas.Nrm2(w);
                converged[i] = residuals[i] <= tol * Math.Max(Math.Abs(theta[i]), floor);
                if (!converged[i]) active++;
            }
            bool done = true;
            for (int i = 0; i < k; i++) done &= converged[i];
            if (done || iterations >= maxIterations || matvecs >= maxMatvecs) break;
            active = Math.Min(active, maxMatvecs - matvecs);

            var wBlock = s.AsSpan(wStart * n, active * n);
            var q = s.AsSpan(0, wStart * n);
            for (int round = 0; round < 2 && active > 0; round++)
            {
                BlockOps.ProjectOut(wBlock, active, q, wStart, n, ws.Coef);
                active = BlockOps.Orthonormalize(wBlock, active, n, ws);
            }
            if (active == 0) break; // every residual lies in span[X, P]: the subspace cannot grow
            op.ApplyBlock(s.AsSpan(wStart * n, active * n), aS.AsSpan(wStart * n, active * n), active);
            matvecs += active;
            sCount = wStart + active;
            normEstimate = RayleighRitz(s, aS, n, sCount, p, which, gram, ritz, order, coef, theta, ws, out pRows);
            iterations++;
        }

        var vectors = s.AsSpan(0, k * n).ToArray();
        var result = BlockOps.Package(which, theta[..k], vectors, residuals[..k], converged[..k], n, matvecs, iterations);
        var (certified, reason) = BlockOps.ClusterRule(result.Values, result.Residuals, p, tol, normEstimate, "lobpcg", out _);
        return BlockOps.Package(which, result.Values, result.Vectors, result.Residuals, result.Converged, n, matvecs, iterations, certified, reason);
    }

    /// <summary>
    /// Rayleigh–Ritz on the orthonormal rows S[0..sCount): eigen-decompose SᵀAS (as the
    /// sCount×sCount matrix S·(AS)ᵀ, symmetrized), pick the p most wanted Ritz pairs as the
    /// new X, and build the new P from the non-X part of their coefficients made orthonormal
    /// and orthogonal to X in coefficient space (so P and AP stay exact and well scaled).
    /// Rows of S and AS become [X; P]. Returns max |θ| over all Ritz values (‖A‖ lower bound).
    /// </summary>
    static double RayleighRitz(double[] s, double[] aS, int n, int sCount, int p, Which which,
        double[] gram, double[] ritz, int[] order, double[] coef, double[] theta, BlockWorkspace ws, out int newPRows)
    {
        int sc = sCount;
        var g = gram.AsSpan(0, sc * sc);
        BlockOps.ProjectedMatrix(s, aS, n, sc, g);
        var lam = ritz.AsSpan(0, sc);
        Blas.SymmetricEigen(sc, g, lam);
        BlockOps.SortByWhich(lam, which, order.AsSpan(0, sc));
        double normEstimate = Math.Max(Math.Abs(lam[0]), Math.Abs(lam[sc - 1]));

        // Coefficient rows: row i < p is Ritz vector order[i]; rows p.. are the P directions.
        var c = coef.AsSpan();
        for (int i = 0; i < p; i++)
        {
            int col = order[i];
            theta[i] = lam[col];
            for (int j = 0; j < sc; j++) c[i * sc + j] = g[j * sc + col];
        }
        int made = 0;
        if (sc > p)
        {
            for (int i = 0; i < p; i++)
            {
                var y = c.Slice((p + made) * sc, sc);
                y[..p].Clear();
                c.Slice(i * sc + p, sc - p).CopyTo(y[p..]);
                for (int round = 0; round < 2; round++)
                    for (int r = 0; r < p + made; r++)
                    {
                        var other = c.Slice(r * sc, sc);
                        double d = 0;
                        for (int j = 0; j < sc; j++) d += other[j] * y[j];
                        for (int j = 0; j < sc; j++) y[j] -= d * other[j];
                    }
                double nrm = 0;
                for (int j = 0; j < sc; j++) nrm += y[j] * y[j];
                nrm = Math.Sqrt(nrm);
                // A direction this small is rounding noise of a Ritz vector that did not move.
                if (nrm <= 1e-10) continue;
                for (int j = 0; j < sc; j++) y[j] /= nrm;
                made++;
            }
        }
        int rows = p + made;
        BlockOps.TransformRows(s.AsSpan(0, sc * n), n, sc, c[..(rows * sc)], rows, ws);
        BlockOps.TransformRows(aS.AsSpan(0, sc * n), n, sc, c[..(rows * sc)], rows, ws);
        newPRows = made;
        return normEstimate;
    }
}

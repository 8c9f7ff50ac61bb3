using System.Globalization;
using Curvature.Core;

namespace Curvature.Spectral;

/// <summary>
/// The outcome of <see cref="WarmRefresh.TopK"/>: the k pairs (with their certificate), the
/// guard rows to carry into the next refresh, and what the refresh spent.
/// </summary>
public sealed class WarmRefreshResult
{
    internal WarmRefreshResult(EigenResult result, double[] guard, int guardRows, double[] guardValues, bool gapCertified,
        double gap, double residualNorm, int[] blockWidths, double[] firstValues, double[] firstResiduals, int expansions)
    {
        FirstValues = firstValues;
        FirstResiduals = firstResiduals;
        Expansions = expansions;
        Result = result;
        Guard = guard;
        GuardRows = guardRows;
        GuardValues = guardValues;
        GapCertified = gapCertified;
        Gap = gap;
        ResidualNorm = residualNorm;
        BlockWidths = blockWidths;
    }

    /// <summary>The k pairs; <see cref="EigenResult.Matvecs"/> counts every product of the refresh, fallback included.</summary>
    public EigenResult Result { get; }

    /// <summary>Guard rows (GuardRows×n, orthonormal and orthogonal to the k vectors): the next refresh's start beyond the k vectors.</summary>
    public double[] Guard { get; }

    /// <summary>The number of guard rows g.</summary>
    public int GuardRows { get; }

    /// <summary>The guard's Ritz values from the warm Rayleigh–Ritz step, most wanted first (NaN when the refresh fell back).</summary>
    public double[] GuardValues { get; }

    /// <summary>True when the warm step converged and its gap certified the set; false when block Lanczos decided it.</summary>
    public bool GapCertified { get; }

    /// <summary>
    /// The certified gap δ = (θ_k − ‖R‖_F) − (θ_{k+1} + r_{k+1}) for LA (mirrored for SA), or NaN
    /// when the warm step did not converge; the set is gap-certified when δ ≥ the required relative gap.
    /// </summary>
    public double Gap { get; }

    /// <summary>‖R‖_F of the k wanted Ritz pairs of the warm step (an upper bound on ‖R‖₂), NaN if it did not converge.</summary>
    public double ResidualNorm { get; }

    /// <summary>The width of every block product in order (the fallback's products as one entry of its total).</summary>
    public int[] BlockWidths { get; }

    /// <summary>The k + g Ritz values of the first Rayleigh–Ritz step (on the start block alone), most wanted first.</summary>
    public double[] FirstValues { get; }

    /// <summary>The residual norms ‖A y_i − θ_i y_i‖ of <see cref="FirstValues"/>' Ritz pairs.</summary>
    public double[] FirstResiduals { get; }

    /// <summary>Expansion steps of the warm iteration (block products after the first, fallback excluded).</summary>
    public int Expansions { get; }
}

/// <summary>
/// A warm refresh of the k extreme eigenpairs of an operator that moved a little since the
/// previous basis was computed: Rayleigh–Ritz on the previous k vectors and g guard vectors
/// (one block product), expanded by the residuals of the unconverged wanted pairs only (block
/// Davidson without preconditioner, soft locking), and certified by the residual norm and the
/// gap to the guard's Ritz values. When that gap cannot certify the set, block Lanczos decides,
/// started from the warm Ritz vectors. See docs/spectral.md, "Warm refresh with a gap certificate".
/// </summary>
public static class WarmRefresh
{
    /// <summary>Default guard rows for k wanted pairs: max(2, k/5), as LOBPCG.</summary>
    public static int DefaultGuard(int k) => Math.Max(2, k / 5);

    /// <summary>Default expansion steps before falling back: 10.</summary>
    public const int DefaultMaxExpansions = 10;

    /// <summary>
    /// The relative gap the certificate requires: δ ≥ 0.1·max(|θ_k|, ε^{1/3}‖A‖). With it the
    /// Davis–Kahan bound ‖sin Θ‖ ≤ ‖R‖/δ is at most 10·√k·tol.
    /// </summary>
    public const double RequiredRelativeGap = 0.1;

    /// <summary>The guard's top Ritz residual may be at most this share of the Ritz gap θ_k − θ_{k+1}.</summary>
    public const double GuardResidualShare = 0.5;

    /// <summary>
    /// Refreshes the k extreme (<see cref="Which.LargestAlgebraic"/> or
    /// <see cref="Which.SmallestAlgebraic"/>) eigenpairs of <paramref name="op"/> from
    /// <see cref="EigenOptions.StartBlock"/> (required: the previous k vectors, then up to g guard
    /// rows; missing rows random). Uses <see cref="EigenOptions.Tolerance"/>,
    /// <see cref="EigenOptions.MaxMatvecs"/> (the whole refresh, fallback included),
    /// <see cref="EigenOptions.Seed"/>, <see cref="EigenOptions.BlockSize"/> (k + g, default
    /// k + <see cref="DefaultGuard"/>) and <see cref="EigenOptions.MaxIterations"/> (expansion
    /// steps, default <see cref="DefaultMaxExpansions"/>).
    /// </summary>
    /// <exception cref="ArgumentException">An argument or option is out of range; the message names it.</exception>
    /// <param name="op">The symmetric operator.</param>
    /// <param name="k">Wanted pairs.</param>
    /// <param name="options">Options; StartBlock required.</param>
    /// <param name="guardIsNew">True when the guard rows have not been through a refresh (random rows after a cold solve): the gap then never certifies.</param>
    /// <param name="workspace">Buffers kept from an earlier call (the tracker passes one per tracker), so that a
    /// refresh in steady state does not allocate its trial space anew; null allocates them for this call.
    /// The results never alias it.</param>
    public static WarmRefreshResult TopK(ILinearOperator op, int k, EigenOptions options, bool guardIsNew = false, WarmRefreshWorkspace? workspace = null)
    {
        Guard.NotNull(op);
        Guard.NotNull(options);
        int n = op.Size;
        options.Validate(k, n);
        if (options.Which is not (Which.LargestAlgebraic or Which.SmallestAlgebraic))
            throw new ArgumentOutOfRangeException("options.Which", $"Argument 'options.Which' was {options.Which}; expected LargestAlgebraic or SmallestAlgebraic (the gap certificate needs one end of the spectrum).");
        if (options.StartBlock is not { } start)
            throw new ArgumentException("Argument 'options.StartBlock' was null; expected the previous k vectors (and guard rows) of a warm refresh.", "options.StartBlock");
        int p = options.BlockSize ?? Math.Min(n - 1, k + DefaultGuard(k));
        if (p <= k || p >= n)
            throw new ArgumentOutOfRangeException("options.BlockSize", string.Create(CultureInfo.InvariantCulture,
                $"Argument 'options.BlockSize' was {p}; expected k + guard in [k + 1, n − 1] = [{k + 1}, {n - 1}]."));
        int startRows = start.Length / n;
        if (startRows > p)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"Argument 'options.StartBlock' has {startRows} rows; expected at most k + guard = {p}."), "options.StartBlock");
        if (options.MaxMatvecs < p)
            throw new ArgumentOutOfRangeException("options.MaxMatvecs", string.Create(CultureInfo.InvariantCulture,
                $"Argument 'options.MaxMatvecs' was {options.MaxMatvecs}; expected at least k + guard = {p} (the first block product)."));
        int maxExpansions = options.MaxIterations ?? DefaultMaxExpansions;

        var which = options.Which;
        double tol = options.Tolerance;
        var rng = new Rng(options.Seed);
        int sMax = Math.Min(n, p + 3 * k);
        workspace ??= new WarmRefreshWorkspace();
        // Every row of these is written before it is read, so reused buffers give the same bits as fresh ones.
        var s = WarmRefreshWorkspace.Rent(ref workspace.S, sMax * n);
        var aS = WarmRefreshWorkspace.Rent(ref workspace.AS, sMax * n);
        var y = WarmRefreshWorkspace.Rent(ref workspace.Y, p * n);
        var ay = WarmRefreshWorkspace.Rent(ref workspace.AY, p * n);
        var ws = new BlockWorkspace(n, sMax);
        var t = new double[sMax * sMax];
        var lam = new double[sMax];
        var order = new int[sMax];
        var theta = new double[p];
        var res = new double[p];
        var converged = new bool[k];
        var widths = new List<int>();
        int matvecs = 0, iterations = 0, sCount = p, r = p;
        bool allConverged = false, guardSettled = false, prospects = false;
        // A guard that has not been through a refresh is random: it knows nothing of the complement yet.
        bool seasoned = startRows == p && !guardIsNew;
        double normEstimate = 0;
        double[] firstValues = [], firstResiduals = [];

        BlockOps.OrthonormalStart(s.AsSpan(0, p * n), p, start, startRows, n, rng, ws);
        op.ApplyBlock(s.AsSpan(0, p * n), aS.AsSpan(0, p * n), p);
        matvecs += p;
        widths.Add(p);
        while (true)
        {
            // Rayleigh–Ritz on all of S: the k wanted pairs, then the guard's.
            BlockOps.ProjectedMatrix(s, aS, n, sCount, t);
            var lamS = lam.AsSpan(0, sCount);
            Blas.SymmetricEigen(sCount, t.AsSpan(0, sCount * sCount), lamS);
            BlockOps.SortByWhich(lamS, which, order.AsSpan(0, sCount));
            normEstimate = Math.Max(normEstimate, Math.Max(Math.Abs(lamS[0]), Math.Abs(lamS[sCount - 1])));
            r = Math.Min(p, sCount);
            var coef = ws.Coef.AsSpan(0, r * sCount);
            for (int i = 0; i < r; i++)
            {
                int col = order[i];
                theta[i] = lam[col];
                for (int j = 0; j < sCount; j++) coef[i * sCount + j] = t[j * sCount + col];
            }
            Blas.Gemm(Transpose.No, Transpose.No, r, n, sCount, 1.0, coef, sCount, s, n, 0.0, y, n);
            Blas.Gemm(Transpose.No, Transpose.No, r, n, sCount, 1.0, coef, sCount, aS, n, 0.0, ay, n);
            // ay ← the true residuals A y − θ y (θ the Rayleigh quotient), from stored products.
            for (int i = 0; i < r; i++)
            {
                var yi = y.AsSpan(i * n, n);
                var ri = ay.AsSpan(i * n, n);
                theta[i] = Blas.Dot(yi, ri);
                Blas.Axpy(-theta[i], yi, ri);
                res[i] = Blas.Nrm2(ri);
            }
            double floor = BlockOps.ScaleFloor(normEstimate);
            int active = 0;
            for (int i = 0; i < k; i++)
            {
                converged[i] = res[i] <= tol * Math.Max(Math.Abs(theta[i]), floor);
                if (!converged[i]) active++;
            }
            allConverged = active == 0;
            if (iterations == 0)
            {
                firstValues = theta[..r];
                firstResiduals = res[..r];
            }
            // The gap test can only pass with a settled guard and a Ritz gap already wide
            // enough; when either fails, block Lanczos decides without further expansions.
            guardSettled = res[k] <= GuardResidualShare * Math.Abs(theta[k - 1] - theta[k]);
            double ritzGap = (which == Which.LargestAlgebraic ? 1 : -1) * (theta[k - 1] - theta[k]) - res[k];
            prospects = seasoned && guardSettled && ritzGap >= RequiredRelativeGap * Math.Max(Math.Abs(theta[k - 1]), floor);
            if (allConverged || !prospects || iterations >= maxExpansions || matvecs + active > options.MaxMatvecs) break;

            // Soft locking: only unconverged wanted pairs add their residual to the trial space.
            if (sCount + active > sMax)
            {
                // Compress S to its p Ritz vectors (images y·A = residual + θ y), then expand.
                y.AsSpan(0, r * n).CopyTo(s);
                for (int i = 0; i < r; i++)
                {
                    var ai = aS.AsSpan(i * n, n);
                    ay.AsSpan(i * n, n).CopyTo(ai);
                    Blas.Axpy(theta[i], y.AsSpan(i * n, n), ai);
                }
                sCount = r;
            }
            // Every unconverged residual joins in one block: on the issue-20 network the count of
            // columns to converge was the same (32) for widths 3 to 10, and a wide block costs
            // less per column (docs/spectral.md, "Expansion width").
            int w = 0;
            for (int i = 0; i < k; i++)
                if (!converged[i]) ay.AsSpan(i * n, n).CopyTo(s.AsSpan((sCount + w++) * n, n));
            var wBlock = s.AsSpan(sCount * n, w * n);
            for (int round = 0; round < 2 && w > 0; round++)
            {
                BlockOps.ProjectOut(wBlock, w, s.AsSpan(0, sCount * n), sCount, n, ws.Coef);
                w = BlockOps.Orthonormalize(wBlock, w, n, ws);
            }
            if (w == 0) break; // the residuals lie in S: it cannot grow
            op.ApplyBlock(s.AsSpan(sCount * n, w * n), aS.AsSpan(sCount * n, w * n), w);
            matvecs += w;
            widths.Add(w);
            sCount += w;
            iterations++;
        }

        double rho = 0;
        for (int i = 0; i < k; i++) rho += res[i] * res[i];
        rho = Math.Sqrt(rho);
        double gap = double.NaN;
        if (allConverged && r > k)
        {
            double sign = which == Which.LargestAlgebraic ? 1 : -1;
            gap = sign * (theta[k - 1] - theta[k]) - rho - res[k];
        }
        double required = RequiredRelativeGap * Math.Max(Math.Abs(theta[k - 1]), BlockOps.ScaleFloor(normEstimate));
        var guardValues = theta.AsSpan(k, r - k).ToArray();
        // The next guard: one power step on the complement, (A − σI)·y_g for the guard's Ritz
        // vectors (their images are stored: no product), projected off the k vectors below.
        // σ = 0 for LA (the Hessian's negative tail is small); σ = ‖A‖_est for SA, so the
        // smallest eigenvalues dominate.
        double sigma = which == Which.LargestAlgebraic ? 0 : normEstimate;
        var images = WarmRefreshWorkspace.Rent(ref workspace.Images, (r - k) * n);
        // The guard's top Ritz vector must be nearly an eigenvector: a mixture holding a component
        // c of an eigenvector above the set has residual ≈ c·√(1 − c²)·(λ − θ), so a residual
        // below half the Ritz gap limits what such a component can hide.
        for (int i = k; i < r; i++)
        {
            var gi = images.AsSpan((i - k) * n, n);
            ay.AsSpan(i * n, n).CopyTo(gi);
            Blas.Axpy(theta[i] - sigma, y.AsSpan(i * n, n), gi);
        }
        if (allConverged && prospects && gap >= required)
        {
            var vectors = y.AsSpan(0, k * n).ToArray();
            string reason = string.Create(CultureInfo.InvariantCulture,
                $"warm refresh: {k} pairs within ‖R‖_F = {rho:G3} of eigenvalues, separated by the gap {gap:G3} (≥ {required:G3}) from the guard's Ritz value {theta[k]:G6} ± {res[k]:G3}; Davis–Kahan angle ≤ {rho / gap:G3}.");
            var result = new EigenResult(which, theta[..k], vectors, res[..k], converged, n, matvecs, iterations, true, reason);
            var guard = FreshGuard(vectors, k, images, r - k, r - k, n, rng);
            return new WarmRefreshResult(result, guard, r - k, guardValues, true, gap, rho, [.. widths], firstValues, firstResiduals, iterations);
        }

        // Block Lanczos decides, started from the warm Ritz vectors; the guard rows are kept for next time.
        string why = !allConverged ? "the warm step did not converge"
            : !seasoned ? "the guard rows are new"
            : !guardSettled ? string.Create(CultureInfo.InvariantCulture, $"the guard's residual {res[k]:G3} exceeds half its Ritz gap")
            : string.Create(CultureInfo.InvariantCulture, $"the gap {gap:G3} to the guard was below {required:G3}");
        int remaining = options.MaxMatvecs - matvecs;
        int b = BlockLanczos.DefaultWarmBlockSize(k, n);
        if (remaining < Math.Max(r, (k + b - 1) / b * b))
        {
            var pairs = new EigenResult(which, theta[..k], y.AsSpan(0, k * n).ToArray(), res[..k], converged, n, matvecs, iterations, false,
                $"warm refresh: {why}, and the operator-application budget left no room for block Lanczos.");
            return new WarmRefreshResult(pairs, FreshGuard(pairs.Vectors, k, images, r - k, r - k, n, rng), r - k, guardValues, false, gap,
                allConverged ? rho : double.NaN, [.. widths], firstValues, firstResiduals, iterations);
        }
        // Block Lanczos continues from the k warm Ritz vectors, whose images are stored, so the
        // failed gap test costs only the guard's products.
        var images0 = new double[k * n];
        for (int i = 0; i < k; i++)
        {
            var ai = images0.AsSpan(i * n, n);
            ay.AsSpan(i * n, n).CopyTo(ai);
            Blas.Axpy(theta[i], y.AsSpan(i * n, n), ai);
        }
        // The power step (A·y_g) of a guard row whose Ritz value competes with the set (within the
        // required gap of θ_k) joins as a start row: an eigenvector rising from the complement,
        // which the guard converges to, then enters the first Rayleigh–Ritz step. Other guard
        // rows stay out: in a continuum wider warm starts cost more (docs/spectral.md).
        int near = 0;
        while (near < r - k && (which == Which.LargestAlgebraic ? 1 : -1) * (theta[k - 1] - theta[k + near]) < required) near++;
        var fallback = BlockLanczos.TopK(op, k, options with
        {
            StartBlock = [.. y.AsSpan(0, k * n), .. images.AsSpan(0, near * n)],
            MaxMatvecs = remaining,
            BlockSize = null,
            MaxIterations = null,
        }, images0);
        widths.Add(fallback.Matvecs);
        var (candidates, candidateRows) = DroppedThenGuard(fallback.Vectors, k, y, images, r - k, n);
        var guardRows = FreshGuard(fallback.Vectors, k, candidates, candidateRows, r - k, n, rng);
        var decided = new EigenResult(which, fallback.Values, fallback.Vectors, fallback.Residuals, fallback.Converged, n,
            matvecs + fallback.Matvecs, iterations + fallback.Iterations, fallback.Certified,
            $"warm refresh fell back to block Lanczos ({why}); {fallback.Certificate}");
        return new WarmRefreshResult(decided, guardRows, r - k, guardValues, false, gap, allConverged ? rho : double.NaN, [.. widths], firstValues, firstResiduals, iterations);
    }

    /// <summary>
    /// g random orthonormal rows orthogonal to the k rows of <paramref name="vectors"/> (k×n),
    /// drawn from <paramref name="seed"/>: the guard after a cold solve, which knows nothing yet
    /// (pass guardIsNew to the next <see cref="TopK"/>).
    /// </summary>
    public static double[] RandomGuard(double[] vectors, int k, int g, ulong seed)
    {
        Guard.NotNull(vectors);
        Guard.Positive(k);
        Guard.Positive(g);
        int n = vectors.Length / k;
        if (vectors.Length != k * n || k + g >= n)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"Argument 'vectors' has length {vectors.Length}; expected k×n with k + g = {k + g} below n."), nameof(vectors));
        return FreshGuard(vectors, k, [], 0, g, n, new Rng(seed));
    }

    /// <summary>
    /// The first g directions of the candidate rows projected off the k vectors, in order,
    /// orthonormalized (random rows where they lack rank).
    /// </summary>
    static double[] FreshGuard(double[] vectors, int k, ReadOnlySpan<double> candidates, int rows, int g, int n, Rng rng)
    {
        int width = Math.Max(rows, g);
        var all = new double[(k + width) * n];
        vectors.AsSpan(0, k * n).CopyTo(all);
        candidates[..(rows * n)].CopyTo(all.AsSpan(k * n));
        var ws = new BlockWorkspace(n, k + width);
        var cand = all.AsSpan(k * n, rows * n);
        for (int round = 0; round < 2 && rows > 0; round++)
            BlockOps.ProjectOut(cand, rows, all.AsSpan(0, k * n), k, n, ws.Coef);
        int rank = rows == 0 ? 0 : Math.Min(g, BlockOps.Orthonormalize(cand, rows, n, ws));
        BlockOps.TopUpRandom(all, k + rank, k + g, n, rng, ws);
        return all.AsSpan(k * n, g * n).ToArray();
    }

    /// <summary>
    /// After a fallback: the warm wanted vectors the new set dropped (overlap² with it below ½,
    /// most wanted first; they are nearly eigenvectors just outside the set), then the power-stepped guard.
    /// </summary>
    static (double[] Rows, int Count) DroppedThenGuard(double[] vectors, int k, double[] y, ReadOnlySpan<double> images, int g, int n)
    {
        var overlap = new double[k * k];
        Blas.Gemm(Transpose.No, Transpose.Yes, k, k, n, 1.0, y, n, vectors, n, 0.0, overlap, k);
        var rows = new double[(k + g) * n];
        int count = 0;
        for (int i = 0; i < k; i++)
        {
            double o = 0;
            for (int j = 0; j < k; j++) o += overlap[i * k + j] * overlap[i * k + j];
            if (o < 0.5) y.AsSpan(i * n, n).CopyTo(rows.AsSpan(count++ * n, n));
        }
        images[..(g * n)].CopyTo(rows.AsSpan(count * n));
        return (rows, count + g);
    }
}

/// <summary>
/// The large buffers of <see cref="WarmRefresh.TopK"/> (the trial space S and its image AS, the Ritz
/// vectors and their images, the guard's images: about (2·(k + g + 3k) + 2·(k + g))·n numbers), kept by
/// a caller that refreshes again and again so that steady-state refreshes allocate only their results.
/// Not thread-safe: one workspace serves one refresh at a time.
/// </summary>
public sealed class WarmRefreshWorkspace
{
    internal double[] S = [], AS = [], Y = [], AY = [], Images = [];

    /// <summary>The buffer, grown (zeroed: a GEMM with β = 0 may still read C) when shorter than <paramref name="length"/>.</summary>
    internal static double[] Rent(ref double[] buffer, int length)
    {
        if (buffer.Length < length) buffer = new double[length];
        return buffer;
    }
}

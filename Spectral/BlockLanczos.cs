using System.Globalization;
using Curvature.Core;

namespace Curvature.Spectral;

/// <summary>
/// Block Lanczos with thick restart and full reorthogonalization for the k extreme
/// eigenpairs of a symmetric operator, applying the operator to whole blocks through
/// <see cref="ILinearOperator.ApplyBlock"/> (one primal sweep per block for a network's
/// curvature operator). Finds every copy of an eigenvalue whose multiplicity is at most the
/// block size. See docs/spectral.md, "Block Lanczos".
/// </summary>
public static class BlockLanczos
{
    /// <summary>The largest default block size.</summary>
    public const int MaxDefaultBlockSize = 16;

    /// <summary>
    /// Tolerances above this start a cold solve one block row wider (<see cref="DefaultBlockSize"/>).
    /// </summary>
    public const double NarrowBlockTolerance = 1e-3;

    /// <summary>
    /// The default (first) block size of a cold solve for k pairs at a residual tolerance:
    /// b = clamp(⌈k/5⌉, 2, 16) up to <see cref="NarrowBlockTolerance"/> and clamp(⌈k/5⌉ + 1, 2, 16)
    /// above it, at most n/3 (2 and 3 for k = 10). Cost model: a block of b curvature products
    /// costs c(b) single products with c(b)/b ≈ 0.5–0.6 from b = 5 on 784-200-200-10, while a wider
    /// block lowers the Krylov degree reached per application; measured for the top 10 there, b = 2
    /// needs 134, 104 and 90 products at tolerances 1e-6, 1e-4 and 1e-3, b = 3 171, 132 and 111, the
    /// old b = 6 276 and 210. At 3e-3 and 1e-2 two neighbours of its crowded top fall within one
    /// cluster band (2·tol·|θ| plus the residuals) and fill a block of 2, which then cannot certify
    /// the set (182 products at 1e-2 with the retry below, against 84 for b = 3; docs/benchmarks.md,
    /// "Block size of a cold solve"). Multiplicities below b are found; when a cluster reaches b and
    /// the caller left <see cref="EigenOptions.BlockSize"/> unset,
    /// <see cref="TopK(ILinearOperator, int, EigenOptions?)"/> solves again with a wider block
    /// (<see cref="WiderBlockSize"/>).
    /// </summary>
    public static int DefaultBlockSize(int k, int n, double tolerance) =>
        Math.Max(1, Math.Min(Math.Clamp((k + 4) / 5 + (tolerance > NarrowBlockTolerance ? 1 : 0), 2, MaxDefaultBlockSize), n / 3));

    /// <summary>
    /// The default block size when <see cref="EigenOptions.StartBlock"/> is given (a warm start):
    /// b = clamp(⌈k/2⌉ + 1, 2, 16), at most n/3, the rule cold solves used before the narrow first
    /// block. A narrow block was not measured to help a warm start (on the gap fixture of
    /// `BlockLanczosTests` the warm start costs 40 products at b = 2 and at b = 6), and keeping the
    /// rule leaves the warm refresh's fallback as it was.
    /// </summary>
    public static int DefaultWarmBlockSize(int k, int n) => Math.Max(1, Math.Min(Math.Clamp((k + 1) / 2 + 1, 2, MaxDefaultBlockSize), n / 3));

    static int FirstBlockSize(int k, int n, EigenOptions options) =>
        options.StartBlock is null ? DefaultBlockSize(k, n, options.Tolerance) : DefaultWarmBlockSize(k, n);

    /// <summary>
    /// The block size of the next solve after <paramref name="cluster"/> copies of one eigenvalue
    /// filled a block of <paramref name="b"/>: max(2b, cluster + 1), at most
    /// <see cref="MaxDefaultBlockSize"/> and n/3 (doubling, so a multiplicity m costs O(log m) solves).
    /// </summary>
    public static int WiderBlockSize(int b, int cluster, int n) => Math.Min(Math.Min(MaxDefaultBlockSize, n / 3), Math.Max(2 * b, cluster + 1));

    /// <summary>
    /// The default basis size for k pairs and block size b: min(k + 14b, 10k) rows but at least
    /// k + 2b, at most n (94 for k = 10, b = 6). A long basis matters: thick restarts keep only
    /// Ritz vectors, and with k + 4b the top 10 on the benchmark network needed 680 products
    /// instead of 390 (b = 10).
    /// </summary>
    public static int DefaultMaxBasisSize(int k, int b, int n) => Math.Min(n, Math.Max(k + 2 * b, Math.Min(k + 14 * b, 10 * k)));

    /// <summary>
    /// The k extreme eigenpairs of <paramref name="op"/>. Uses <see cref="EigenOptions.Which"/>,
    /// <see cref="EigenOptions.Tolerance"/>, <see cref="EigenOptions.MaxMatvecs"/>,
    /// <see cref="EigenOptions.StartBlock"/> (the first block, applied whole in the first step
    /// however wide; missing rows up to b random), <see cref="EigenOptions.Seed"/>,
    /// <see cref="EigenOptions.BlockSize"/> (default <see cref="DefaultBlockSize"/>),
    /// <see cref="EigenOptions.MaxBasisSize"/> (default <see cref="DefaultMaxBasisSize"/>) and
    /// <see cref="EigenOptions.KeepOnRestart"/> (default k + (MaxBasisSize − k − b)/2).
    /// </summary>
    /// <exception cref="ArgumentException">An argument or option is out of range; the message names it.</exception>
    public static EigenResult TopK(ILinearOperator op, int k, EigenOptions? options = null) => TopK(op, k, options, null);

    /// <summary>
    /// As <see cref="TopK(ILinearOperator, int, EigenOptions?)"/>; with <paramref name="startProducts"/>
    /// (m×n) the start block's first m rows are orthonormal and these are their images, so the
    /// first step applies the operator to the remaining start rows only.
    /// </summary>
    internal static EigenResult TopK(ILinearOperator op, int k, EigenOptions? options, double[]? startProducts)
    {
        Guard.NotNull(op);
        options ??= new EigenOptions();
        options.Validate(k, op.Size);
        var (result, cluster) = Solve(op, k, options, startProducts);
        if (options.BlockSize is not null) return result;
        // A cluster filled the default block: more copies may be missing. Solve again from a fresh
        // random block wide enough to hold them (a start from the found vectors would carry no
        // component along a missed copy), as long as the budget allows a first block.
        int b = FirstBlockSize(k, op.Size, options), matvecs = result.Matvecs, iterations = result.Iterations;
        string widened = "";
        while (cluster > 0)
        {
            int wider = WiderBlockSize(b, cluster, op.Size);
            int left = options.MaxMatvecs - matvecs;
            if (wider <= b || left < (k + wider - 1) / wider * wider) break;
            var retry = options with { BlockSize = wider, StartBlock = null, MaxMatvecs = left };
            (result, cluster) = Solve(op, k, retry, null);
            matvecs += result.Matvecs;
            iterations += result.Iterations;
            widened += string.Create(CultureInfo.InvariantCulture, $"{(widened.Length == 0 ? "" : ", ")}{b} → {wider}");
            b = wider;
        }
        if (widened.Length == 0) return result;
        return new EigenResult(result.Which, result.Values, result.Vectors, result.Residuals, result.Converged, result.Size,
            matvecs, iterations, result.Certified, $"block width widened ({widened}) after a cluster filled the block; {result.Certificate}");
    }

    /// <summary>One block Lanczos solve at the options' (or the default) block size; the cluster that filled the block, or 0.</summary>
    static (EigenResult Result, int Cluster) Solve(ILinearOperator op, int k, EigenOptions options, double[]? startProducts)
    {
        int n = op.Size;
        int startRows = options.StartBlock is { } sb ? sb.Length / n : 0;
        int b = options.BlockSize ?? FirstBlockSize(k, n, options);
        int width0 = Math.Max(b, startRows);
        if (width0 >= n)
            throw new ArgumentOutOfRangeException("options.BlockSize", string.Create(CultureInfo.InvariantCulture,
                $"Argument 'options.BlockSize' (or the start block's row count) was {b}; expected less than n = {n}."));
        int blocksForK = (k + b - 1) / b;
        if (options.MaxMatvecs < blocksForK * b)
            throw new ArgumentOutOfRangeException("options.MaxMatvecs", string.Create(CultureInfo.InvariantCulture,
                $"Argument 'options.MaxMatvecs' was {options.MaxMatvecs}; expected at least {blocksForK * b} (enough blocks of {b} for k = {k} Ritz pairs)."));
        int mMax = Math.Min(n, options.MaxBasisSize ?? DefaultMaxBasisSize(k, b, n));
        if (mMax < n && mMax < k + b)
            throw new ArgumentOutOfRangeException("options.MaxBasisSize", string.Create(CultureInfo.InvariantCulture,
                $"Argument 'options.MaxBasisSize' was {options.MaxBasisSize}; expected at least k + block size = {k + b} (the kept Ritz vectors and the pending block)."));
        if (startRows > b && mMax < n && width0 > mMax - b)
            throw new ArgumentOutOfRangeException("options.StartBlock", string.Create(CultureInfo.InvariantCulture,
                $"Argument 'options.StartBlock' has {startRows} rows; expected at most MaxBasisSize - block size = {mMax - b} (the whole start block is applied in the first step)."));
        int keep = options.KeepOnRestart ?? Math.Min(k + Math.Max(0, mMax - k - b) / 2, mMax - b);
        if (mMax < n && (keep < k || keep > mMax - b))
            throw new ArgumentOutOfRangeException("options.KeepOnRestart", string.Create(CultureInfo.InvariantCulture,
                $"Argument 'options.KeepOnRestart' was {keep}; expected an integer in [k, MaxBasisSize - block size] = [{k}, {mMax - b}]."));

        double tol = options.Tolerance;
        var which = options.Which;
        // The facade's results do not depend on the thread count (docs/core.md), so the
        // solver's own GEMMs run at the caller's thread count, like the operator.
        var proc = new BlockLanczosProcess(op, mMax, width0, b, new Rng(options.Seed));
        try
        {
            if (startProducts is null) proc.Start(options.StartBlock ?? [], startRows, width0);
            else proc.StartApplied(options.StartBlock!, startProducts, startProducts.Length / n, startRows - startProducts.Length / n);

            var t = new double[mMax * mMax];
            var theta = new double[mMax];
            var order = new int[mMax];
            var coef = new double[k * mMax];
            var y = new double[k * n];
            var ay = new double[k * n];
            var values = new double[k];
            var residuals = new double[k];
            var converged = new bool[k];
            int iterations = 0;
            bool decomposed = false;

            while (proc.P > 0 && proc.Matvecs + proc.NextWidth <= options.MaxMatvecs)
            {
                if (proc.M + proc.NextWidth > mMax)
                {
                    // The decomposition of the full basis was made right after the step that filled it.
                    proc.Restart(keep, t.AsSpan(0, proc.M * proc.M), theta, order);
                }
                proc.Step();
                iterations++;
                decomposed = false;
                if (proc.M < k) continue;
                RitzPairs.Decompose(proc, which, t, theta, order);
                decomposed = true;
                if (!BoundsPass(proc, k, tol, t, theta, order)) continue;
                // The bound says yes; only the residuals formed from the stored products decide.
                RitzPairs.Finish(proc, k, tol, RitzPairs.NormEstimate(proc, theta), t, order, coef, y, ay, values, residuals, converged);
                if (!Array.TrueForAll(converged, c => c)) continue;
                return Certify(which, y, values, residuals, converged, n, proc, iterations, b, tol, theta);
            }

            if (proc.M < k)
                throw new InvalidOperationException($"Block Lanczos built only {proc.M} basis vectors for k = {k}; the operator's space is too small.");
            if (!decomposed) RitzPairs.Decompose(proc, which, t, theta, order);
            RitzPairs.Finish(proc, k, tol, RitzPairs.NormEstimate(proc, theta), t, order, coef, y, ay, values, residuals, converged);
            if (proc.P == 0) return Certify(which, y, values, residuals, converged, n, proc, iterations, b, tol, theta);
            return (BlockOps.Package(which, values, y, residuals, converged, n, proc.Matvecs, iterations, false,
                "block-lanczos: the operator-application budget ran out before every pair converged."), 0);
        }
        finally
        {
            proc.Release();
        }
    }

    static (EigenResult, int) Certify(Which which, double[] y, double[] values, double[] residuals, bool[] converged, int n,
        BlockLanczosProcess proc, int iterations, int b, double tol, double[] theta)
    {
        var r = BlockOps.Package(which, values, y, residuals, converged, n, proc.Matvecs, iterations);
        if (proc.P == 0)
            return (BlockOps.Package(which, r.Values, r.Vectors, r.Residuals, r.Converged, n, proc.Matvecs, iterations, true,
                "block-lanczos: the basis spans the whole space."), 0);
        var (certified, reason) = BlockOps.ClusterRule(r.Values, r.Residuals, b, tol, RitzPairs.NormEstimate(proc, theta), "block-lanczos", out int cluster);
        return (BlockOps.Package(which, r.Values, r.Vectors, r.Residuals, r.Converged, n, proc.Matvecs, iterations, certified, reason), cluster);
    }

    static bool BoundsPass(BlockLanczosProcess proc, int k, double tol, double[] t, double[] theta, int[] order)
    {
        int m = proc.M;
        double floor = BlockOps.ScaleFloor(RitzPairs.NormEstimate(proc, theta));
        var tm = t.AsSpan(0, m * m);
        for (int i = 0; i < k; i++)
        {
            int col = order[i];
            if (proc.ResidualBound(tm, col) > tol * Math.Max(Math.Abs(theta[col]), floor)) return false;
        }
        return true;
    }
}

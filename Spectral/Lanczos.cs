using System.Globalization;
using Curvature.Core;

namespace Curvature.Spectral;

/// <summary>
/// Thick-restart Lanczos with full reorthogonalization for the k extreme eigenpairs of a
/// symmetric operator. See docs/spectral.md.
/// </summary>
public static class Lanczos
{
    /// <summary>
    /// The k extreme eigenpairs of <paramref name="op"/>. Uses <see cref="EigenOptions.Which"/>,
    /// <see cref="EigenOptions.Tolerance"/>, <see cref="EigenOptions.MaxMatvecs"/> (≥ k),
    /// <see cref="EigenOptions.StartBlock"/> (the sum of its rows starts the sequence),
    /// <see cref="EigenOptions.Seed"/>, <see cref="EigenOptions.MaxBasisSize"/>,
    /// <see cref="EigenOptions.KeepOnRestart"/> and <see cref="EigenOptions.ProbeComplement"/>.
    /// The set is <see cref="EigenResult.Certified"/> only after a probe of the complement.
    /// </summary>
    /// <exception cref="ArgumentException">An argument or option is out of range; the message names it.</exception>
    public static EigenResult TopK(ILinearOperator op, int k, EigenOptions? options = null)
    {
        Guard.NotNull(op);
        options ??= new EigenOptions();
        int n = op.Size;
        options.Validate(k, n);
        if (options.MaxMatvecs < k)
            throw new ArgumentOutOfRangeException("options.MaxMatvecs",
                $"Argument 'options.MaxMatvecs' was {options.MaxMatvecs}; expected at least k = {k} (k Ritz pairs need a Krylov space of dimension k).");
        int mMax = Math.Min(n, options.MaxBasisSize ?? Math.Max(2 * k + 1, 20));
        int minBasis = Math.Min(k + 2, n);
        if (mMax < minBasis)
            throw new ArgumentOutOfRangeException("options.MaxBasisSize", string.Create(CultureInfo.InvariantCulture,
                $"Argument 'options.MaxBasisSize' was {options.MaxBasisSize}; expected at least k + 2 = {k + 2} (the k kept Ritz vectors, the residual vector and one new step)."));
        int keep = options.KeepOnRestart ?? Math.Min(k + (mMax - k) / 2, mMax - 2);
        if (mMax < n && (keep < k || keep > mMax - 2))
            throw new ArgumentOutOfRangeException("options.KeepOnRestart",
                $"Argument 'options.KeepOnRestart' was {keep}; expected an integer in [k, MaxBasisSize - 2] = [{k}, {mMax - 2}].");

        var rng = new Rng(options.Seed);
        var start = options.StartVectorSum(n) ?? new double[n];
        if (options.StartBlock is null) rng.FillGaussian(start);

        var proc = new LanczosProcess(op, mMax, rng);
        proc.Start(start);
        double tol = options.Tolerance;
        var which = options.Which;

        var t = new double[mMax * mMax];
        var theta = new double[mMax];
        var order = new int[mMax];
        var coef = new double[k * mMax];
        var y = new double[k * n];
        var ay = new double[k * n];
        var values = new double[k];
        var residuals = new double[k];
        var converged = new bool[k];
        int cycles = 1;
        bool decomposed = false;
        bool probing = false;
        bool probeRequested = options.ProbeComplement;
        int breakdownsChecked = 0;
        double boundary = 0;

        while (true)
        {
            bool canStep = proc.HasNext && proc.Matvecs < options.MaxMatvecs;
            if (!canStep) break;
            if (proc.M == mMax)
            {
                // The decomposition of the full basis was made right after the step that filled it.
                proc.Restart(keep, t.AsSpan(0, mMax * mMax), theta, order);
                cycles++;
            }
            proc.Step();
            decomposed = false;
            if (proc.M < k) continue;
            RitzPairs.Decompose(proc, which, t, theta, order);
            decomposed = true;
            if (probing)
            {
                double margin = tol * Math.Max(Math.Abs(boundary), BlockOps.ScaleFloor(RitzPairs.NormEstimate(proc, theta)));
                if (Beats(theta[order[k - 1]], boundary, margin, which))
                {
                    // The probe found a better pair: converge again with it, then probe again.
                    probing = false;
                    probeRequested = true;
                }
                else
                {
                    bool settled = proc.LastStepWasInvariant || !proc.HasNext
                        || (proc.M > k && BoundPasses(proc, tol, t, theta, order[k], RitzPairs.NormEstimate(proc, theta)));
                    if (!settled) continue;
                    probing = false;
                    RitzPairs.Finish(proc, k, tol, RitzPairs.NormEstimate(proc, theta), t, order, coef, y, ay, values, residuals, converged);
                    if (Array.TrueForAll(converged, c => c))
                        return Result(which, y, values, residuals, converged, n, proc.Matvecs, cycles, true,
                            "lanczos: a Krylov sequence from a random vector in the complement of the converged set found nothing beyond its k-th value.");
                    continue;
                }
            }
            if (!BoundsPass(proc, k, tol, t, theta, order)) continue;
            // The bound says yes; only the residuals formed from the stored products decide.
            RitzPairs.Finish(proc, k, tol, RitzPairs.NormEstimate(proc, theta), t, order, coef, y, ay, values, residuals, converged);
            if (!Array.TrueForAll(converged, c => c)) continue;
            bool wantProbe = probeRequested || proc.Breakdowns > breakdownsChecked;
            if (wantProbe && proc.HasNext && proc.Matvecs < options.MaxMatvecs)
            {
                // An invariant subspace was met: a single Krylov sequence holds one vector per
                // eigenspace, so copies of a repeated eigenvalue may be missing. Probe the
                // complement of the converged vectors from a fresh random direction.
                breakdownsChecked = proc.Breakdowns;
                probeRequested = false;
                boundary = theta[order[k - 1]];
                proc.Lock(k, t.AsSpan(0, proc.M * proc.M), theta, order);
                probing = true;
                decomposed = false;
                continue;
            }
            return Uncertain(which, y, values, residuals, converged, n, proc, cycles, wantProbe
                ? "lanczos: the operator-application budget ran out before the complement of the converged set was probed."
                : "lanczos: ProbeComplement is off; one Krylov sequence holds one vector per eigenspace, so a missed copy of a repeated eigenvalue cannot be ruled out.");
        }

        if (!decomposed) RitzPairs.Decompose(proc, which, t, theta, order);
        RitzPairs.Finish(proc, k, tol, RitzPairs.NormEstimate(proc, theta), t, order, coef, y, ay, values, residuals, converged);
        return Uncertain(which, y, values, residuals, converged, n, proc, cycles,
            "lanczos: the operator-application budget ran out before the set was checked.");
    }

    /// <summary>A result whose set could not be checked, unless the basis spans the whole space (then nothing can be missing).</summary>
    static EigenResult Uncertain(Which which, double[] y, double[] values, double[] residuals, bool[] converged, int n,
        LanczosProcess proc, int cycles, string reason)
    {
        bool whole = !proc.HasNext && proc.M == n;
        return Result(which, y, values, residuals, converged, n, proc.Matvecs, cycles, whole,
            whole ? "lanczos: the basis spans the whole space." : reason);
    }

    static bool BoundsPass(LanczosProcess proc, int k, double tol, double[] t, double[] theta, int[] order)
    {
        double normEstimate = RitzPairs.NormEstimate(proc, theta);
        for (int i = 0; i < k; i++)
            if (!BoundPasses(proc, tol, t, theta, order[i], normEstimate)) return false;
        return true;
    }

    static bool BoundPasses(LanczosProcess proc, double tol, double[] t, double[] theta, int col, double normEstimate)
    {
        int m = proc.M;
        double floor = BlockOps.ScaleFloor(normEstimate);
        return proc.ResidualBound(t.AsSpan(0, m * m), col) <= tol * Math.Max(Math.Abs(theta[col]), floor);
    }

    /// <summary>Whether Ritz value x is more wanted than the boundary by more than the margin.</summary>
    static bool Beats(double x, double boundary, double margin, Which which) => which switch
    {
        Which.LargestAlgebraic => x > boundary + margin,
        Which.SmallestAlgebraic => x < boundary - margin,
        _ => Math.Abs(x) > Math.Abs(boundary) + margin,
    };

    static EigenResult Result(Which which, double[] y, double[] values, double[] residuals, bool[] converged, int n, int matvecs, int cycles,
        bool certified, string certificate)
        => BlockOps.Package(which, values, y, residuals, converged, n, matvecs, cycles, certified, certificate);
}

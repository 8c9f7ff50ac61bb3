using Curvature.Core;
using Curvature.Spectral;

namespace Curvature.Experiments;

/// <summary>How ‖A‖²_F and tr(A) are obtained.</summary>
public enum NormMethod
{
    /// <summary>Exactly, from the dense matrix built column by column (n operator applications).</summary>
    Dense,

    /// <summary>Hutchinson estimates on the complement of the subspace, the subspace part exact.</summary>
    Hutchinson,
}

/// <summary>
/// How an operator A splits over a subspace with orthonormal basis U (k×n, one vector per
/// row) and its complement, with P = UᵀU = Σ uᵢuᵢᵀ the projector onto span U and P⊥ = I − P:
/// ‖A‖²_F = ‖PAP‖²_F + 2‖P⊥AP‖²_F + ‖P⊥AP⊥‖²_F and tr A = tr(PAP) + tr(P⊥AP⊥).
/// </summary>
public sealed record SubspaceShare(
    double DominantEnergy, double CrossEnergy, double FrobeniusSquared,
    double DominantTrace, double Trace, NormMethod Method, int Probes,
    double FrobeniusSquaredError = 0, double TraceError = 0)
{
    /// <summary>‖UᵀAU‖²_F / ‖A‖²_F: the curvature energy inside the subspace.</summary>
    public double EnergyShare => DominantEnergy / FrobeniusSquared;

    /// <summary>2‖P⊥AU‖²_F / ‖A‖²_F: the energy coupling the subspace and its complement.</summary>
    public double CrossShare => CrossEnergy / FrobeniusSquared;

    /// <summary>‖P⊥AP⊥‖²_F / ‖A‖²_F: the energy in the bulk.</summary>
    public double BulkShare => 1 - EnergyShare - CrossShare;

    /// <summary>Standard error of <see cref="EnergyShare"/> from the sampled ‖A‖²_F (0 when dense), to first order.</summary>
    public double EnergyShareError => EnergyShare * FrobeniusSquaredError / FrobeniusSquared;

    /// <summary>tr(UᵀAU) / tr(A).</summary>
    public double TraceShare => DominantTrace / Trace;
}

/// <summary>
/// Curvature energy ‖UᵀAU‖²_F / ‖A‖²_F and trace share tr(UᵀAU)/tr(A) of a symmetric
/// operator inside a subspace. The subspace terms are exact (k applications of A). The
/// totals are exact from the dense matrix, or estimated by Hutchinson's method applied
/// only where the subspace terms leave off:
///   ‖A‖²_F = ‖AU‖²_F + E‖A P⊥ z‖²,  tr A = tr(UᵀAU) + E[(P⊥z)ᵀ A (P⊥z)],
/// with z Rademacher (E zzᵀ = I, so E (P⊥z)(P⊥z)ᵀ = P⊥). Deflating the exact part keeps
/// the estimator unbiased and removes the variance the dominant directions would add;
/// the derivation is in docs/experiments.md.
/// </summary>
public static class CurvatureEnergy
{
    /// <param name="a">The symmetric operator A (n×n).</param>
    /// <param name="basis">U as k rows of length n, orthonormal.</param>
    /// <param name="k">Number of basis vectors.</param>
    /// <param name="method">Dense (exact) or Hutchinson totals.</param>
    /// <param name="probes">Rademacher probes for Hutchinson (ignored when dense).</param>
    /// <param name="seed">Seed of the probes.</param>
    public static SubspaceShare Measure(ILinearOperator a, ReadOnlySpan<double> basis, int k, NormMethod method, int probes = 64, ulong seed = 0)
    {
        ArgumentNullException.ThrowIfNull(a);
        int n = a.Size;
        Guard.InRange(k, 1, n);
        Guard.Length(basis, k * n, nameof(basis));
        if (method == NormMethod.Hutchinson) Guard.Positive(probes);

        var au = new double[k * n];
        a.ApplyBlock(basis, au, k);
        // M = U (AU)ᵀ = UᵀAU in column convention: Mᵢⱼ = uᵢᵀ A uⱼ.
        var m = new double[k * k];
        Blas.Gemm(Transpose.No, Transpose.Yes, k, k, n, 1.0, basis, n, au, n, 0.0, m, k);
        double inside = 0, insideTrace = 0;
        for (int i = 0; i < k * k; i++) inside += m[i] * m[i];
        for (int i = 0; i < k; i++) insideTrace += m[i * k + i];
        double auSquared = 0;
        for (int i = 0; i < au.Length; i++) auSquared += au[i] * au[i];
        double cross = 2 * Math.Max(0, auSquared - inside);

        double frob, trace, frobError = 0, traceError = 0;
        if (method == NormMethod.Dense)
            (frob, trace) = DenseTotals(a);
        else
        {
            var rest = DeflatedHutchinson(a, basis, k, probes, seed);
            frob = auSquared + rest.Frobenius2;
            trace = insideTrace + rest.Trace;
            frobError = rest.Frobenius2Error;
            traceError = rest.TraceError;
        }
        return new SubspaceShare(inside, cross, frob, insideTrace, trace, method, method == NormMethod.Dense ? 0 : probes, frobError, traceError);
    }

    /// <summary>‖A‖²_F and tr A from A's columns, built in blocks of unit vectors.</summary>
    public static (double Frobenius2, double Trace) DenseTotals(ILinearOperator a)
    {
        int n = a.Size;
        int block = Math.Max(1, Math.Min(n, 64));
        var e = new double[block * n];
        var col = new double[block * n];
        double frob = 0, trace = 0;
        for (int start = 0; start < n; start += block)
        {
            int count = Math.Min(block, n - start);
            Array.Clear(e);
            for (int j = 0; j < count; j++) e[j * n + start + j] = 1.0;
            a.ApplyBlock(e.AsSpan(0, count * n), col.AsSpan(0, count * n), count);
            for (int j = 0; j < count; j++)
            {
                var c = col.AsSpan(j * n, n);
                trace += c[start + j];
                frob += Blas.Dot(c, c);
            }
        }
        return (frob, trace);
    }

    /// <summary>
    /// ‖A P⊥‖²_F = tr(P⊥A²P⊥) and tr(P⊥AP⊥) by Hutchinson on the deflated operators, the same
    /// probes for both (one seed), with their standard errors.
    /// </summary>
    static (double Frobenius2, double Trace, double Frobenius2Error, double TraceError) DeflatedHutchinson(ILinearOperator a, ReadOnlySpan<double> basis, int k, int probes, ulong seed)
    {
        var trace = Hutchinson.Estimate(LinearOperator.Project(a, basis, k), probes, seed);
        var frobenius = Hutchinson.Estimate(LinearOperator.Project(LinearOperator.Product(a, a), basis, k), probes, seed);
        return (frobenius.Mean, trace.Mean, frobenius.StandardError, trace.StandardError);
    }
}

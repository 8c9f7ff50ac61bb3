using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;

namespace Curvature.Experiments;

/// <summary>
/// At one θ of the reference run: how H's dominant subspace sits against the top-k subspaces of
/// G, the empirical Fisher, the gradient covariance Σ and K-FAC, and how much of the minibatch
/// noise Σ it holds (docs/curvature.md §12). A row of overlaps.csv.
/// </summary>
public sealed record OverlapRow
{
    /// <summary>Step of θ.</summary>
    public required long Step { get; init; }
    /// <summary>‖U_Hᵀ U_G‖²_F / k.</summary>
    public required double G { get; init; }
    /// <summary>‖U_Hᵀ U_EF‖²_F / k.</summary>
    public required double EmpiricalFisher { get; init; }
    /// <summary>‖U_Hᵀ U_Σ‖²_F / k.</summary>
    public required double Covariance { get; init; }
    /// <summary>‖U_Hᵀ U_K-FAC‖²_F / k; NaN when K-FAC does not cover the network.</summary>
    public required double Kfac { get; init; }
    /// <summary>tr(U_Hᵀ Σ U_H) / tr Σ: the share of the per-example gradient noise inside H's dominant subspace.</summary>
    public required double NoiseShare { get; init; }
    /// <summary>tr Σ = (1/n) Σᵢ ‖gᵢ‖² − ‖ḡ‖², the total gradient variance on the Hessian batch.</summary>
    public required double CovarianceTrace { get; init; }
    /// <summary>Operator products the row cost (solver products of G, EF, Σ, and the k Σ-products of the noise share).</summary>
    public required long Matvecs { get; init; }

    /// <summary>Columns of overlaps.csv.</summary>
    public static readonly string[] CsvColumns = ["step", "overlap_g", "overlap_ef", "overlap_cov", "overlap_kfac", "noise_share", "cov_trace", "matvecs"];

    /// <summary>The row's values in <see cref="CsvColumns"/> order.</summary>
    public double[] CsvValues() => [Step, G, EmpiricalFisher, Covariance, Kfac, NoiseShare, CovarianceTrace, Matvecs];

    /// <summary>overlaps.csv of <paramref name="rows"/>.</summary>
    public static CsvTable Table(IEnumerable<OverlapRow> rows)
    {
        var t = new CsvTable(CsvColumns);
        foreach (var r in rows) t.AddRow(r.CsvValues());
        return t;
    }
}

/// <summary>Measures <see cref="OverlapRow"/>s: the subspace overlaps with H's top-k and the noise share.</summary>
public static class SubspaceOverlaps
{
    /// <summary>
    /// The overlaps of <paramref name="hVectors"/> (k orthonormal rows, H's top-k) with the top-k of
    /// G, EF, Σ (by the default solver at <paramref name="tolerance"/>) and K-FAC (from its
    /// factors; NaN when it does not cover the network), and the noise share tr(UᵀΣU)/tr Σ,
    /// exact: the numerator by k products with Σ, the denominator from the per-example gradient
    /// norms without materializing them. All on <paramref name="examples"/> (all when null).
    /// </summary>
    public static OverlapRow Measure(Objective objective, long step, ReadOnlySpan<double> theta, int[]? examples,
        ReadOnlySpan<double> hVectors, int k, ulong seed, double tolerance)
    {
        ArgumentNullException.ThrowIfNull(objective);
        int p = objective.ParameterCount;
        Guard.Length(hVectors, k * p, nameof(hVectors));
        long matvecs = 0;
        var overlaps = new double[3];
        CurvatureKind[] kinds = [CurvatureKind.GaussNewton, CurvatureKind.EmpiricalFisher, CurvatureKind.GradientCovariance];
        for (int i = 0; i < kinds.Length; i++)
        {
            var top = CurvatureAnalysis.TopK(objective, kinds[i], theta, examples, k, seed, tolerance);
            matvecs += top.Matvecs;
            overlaps[i] = Kfac.Overlap(hVectors, top.Vectors.AsSpan(0, k * p), k, p);
        }
        double kfac = double.NaN;
        KfacOperator? kfacOperator = null;
        try { kfacOperator = objective.KfacOperator(theta, examples); }
        catch (InvalidOperationException) { }   // K-FAC does not cover this network: its column stays NaN.
        if (kfacOperator is not null) kfac = Kfac.Overlap(hVectors, kfacOperator.TopK(k).Vectors, k, p);

        var (inside, trace) = NoiseShare(objective, theta, examples, hVectors, k);
        matvecs += k;
        return new OverlapRow
        {
            Step = step, G = overlaps[0], EmpiricalFisher = overlaps[1], Covariance = overlaps[2], Kfac = kfac,
            NoiseShare = inside / trace, CovarianceTrace = trace, Matvecs = matvecs,
        };
    }

    /// <summary>
    /// tr(UᵀΣU) by one block product of Σ with the k rows of U, and tr Σ = (1/n) Σᵢ ‖gᵢ‖² − ‖ḡ‖²
    /// from the per-example gradient norms.
    /// </summary>
    public static (double Inside, double Trace) NoiseShare(Objective objective, ReadOnlySpan<double> theta, int[]? examples, ReadOnlySpan<double> u, int k)
    {
        ArgumentNullException.ThrowIfNull(objective);
        int p = objective.ParameterCount;
        Guard.Length(u, k * p, nameof(u));
        var sigma = objective.GradientCovariance(theta, examples);
        var image = new double[k * p];
        sigma.ApplyBlock(u, image, k);
        double inside = 0;
        for (int j = 0; j < k; j++) inside += Blas.Dot(u.Slice(j * p, p), image.AsSpan(j * p, p));
        var norms = objective.PerExampleGradientNorms(theta, examples);
        double trace = 0;
        foreach (double norm in norms) trace += norm * norm;
        trace = trace / norms.Length - Blas.Dot(sigma.MeanGradient, sigma.MeanGradient);
        return (inside, trace);
    }
}

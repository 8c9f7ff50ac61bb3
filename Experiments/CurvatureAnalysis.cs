using Curvature.Autodiff;
using Curvature.Models;
using Curvature.Optimizers;
using Curvature.Spectral;

namespace Curvature.Experiments;

/// <summary>Top-k of H at one θ and how H, G and F split over H's dominant subspace there.</summary>
public sealed record DecompositionPoint(long Step, double[] Eigenvalues, SubspaceShare H, SubspaceShare G, SubspaceShare F, long Matvecs)
{
    /// <summary>The top-k eigenvectors U of H, k rows of length n (row-major); for the per-layer view, not kept in the tables.</summary>
    public double[] Vectors { get; init; } = [];
}

/// <summary>A smoothed spectral density sampled on a grid, with the quadrature it came from.</summary>
public sealed record DensityCurve(double[] Grid, double[] Density, double Sigma, int Probes, int LanczosSteps, int Matvecs, double LowestNode, double HighestNode);

/// <summary>
/// The spectral measurements the experiment commands share: top-k eigenpairs of a curvature
/// operator (Lanczos), the spectral density (stochastic Lanczos quadrature), and the
/// curvature energy of H, G, F inside H's dominant subspace.
/// </summary>
public static class CurvatureAnalysis
{
    /// <summary>The matrix's symbol: H, G, F, EF, Σ, Fisher or K-FAC.</summary>
    public static string Letter(CurvatureKind kind) => kind switch
    {
        CurvatureKind.Hessian => "H",
        CurvatureKind.GaussNewton => "G",
        CurvatureKind.FunctionalHessian => "F",
        CurvatureKind.EmpiricalFisher => "EF",
        CurvatureKind.GradientCovariance => "Σ",
        CurvatureKind.Fisher => "Fisher",
        CurvatureKind.Kfac => "K-FAC",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), $"Argument 'kind' was {kind}; expected a defined curvature kind."),
    };

    /// <summary>
    /// The k algebraically largest eigenpairs of the curvature at θ, by <paramref name="solver"/>;
    /// K-FAC's from its factors (<see cref="KfacOperator.TopK"/>, no solver).
    /// </summary>
    public static EigenResult TopK(IObjective objective, CurvatureKind kind, ReadOnlySpan<double> theta, int[]? examples, int k, ulong seed,
        double tolerance = 1e-6, EigenSolver solver = Eigensolver.Default)
    {
        ArgumentNullException.ThrowIfNull(objective);
        var op = objective.CurvatureOperator(kind, theta, examples);
        return op is KfacOperator kfac ? kfac.TopK(k) : Eigensolver.TopK(op, k, solver, new EigenOptions { Tolerance = tolerance, Seed = seed });
    }

    /// <summary>
    /// U = top-k eigenvectors of H at θ; then the energy and trace shares of H, G and F in
    /// span U (exact inside, totals dense or deflated Hutchinson).
    /// </summary>
    public static DecompositionPoint Decompose(IObjective objective, long step, ReadOnlySpan<double> theta, int[]? examples, int k,
        NormMethod method, int probes, ulong seed, double tolerance = 1e-6)
    {
        ArgumentNullException.ThrowIfNull(objective);
        var top = TopK(objective, CurvatureKind.Hessian, theta, examples, k, seed, tolerance);
        var u = top.Vectors.AsSpan(0, k * objective.ParameterCount);
        long matvecs = top.Matvecs;
        var shares = new SubspaceShare[3];
        var kinds = new[] { CurvatureKind.Hessian, CurvatureKind.GaussNewton, CurvatureKind.FunctionalHessian };
        for (int i = 0; i < 3; i++)
        {
            var op = objective.CurvatureOperator(kinds[i], theta, examples);
            // The same probes for H, G and F, so their totals are compared on equal terms.
            shares[i] = CurvatureEnergy.Measure(op, u, k, method, probes, seed ^ 0xE4E26F1UL);
            matvecs += k + (method == NormMethod.Dense ? objective.ParameterCount : 3 * probes);  // trace: one product per probe; ‖·‖²_F: two
        }
        return new DecompositionPoint(step, top.Values.AsSpan(0, k).ToArray(), shares[0], shares[1], shares[2], matvecs) { Vectors = u.ToArray() };
    }

    /// <summary>
    /// Stochastic Lanczos quadrature of the operator's spectral density. The grid spans the
    /// extreme quadrature nodes (the extreme Ritz values, which converge first) with a margin
    /// of 5% of the range; φ(t) = (1/n) tr g_σ(t − A) is evaluated from the quadrature rule,
    /// with σ = range / <paramref name="resolution"/>.
    /// </summary>
    public static DensityCurve Density(ILinearOperator op, int lanczosSteps, int probes, ulong seed, int gridPoints = 400, double resolution = 200)
    {
        int steps = Math.Min(lanczosSteps, op.Size);
        var rule = SpectralDensity.Slq(op, steps, probes, [0.0], 1.0, seed);
        double lo = rule.Nodes.Min(n => n.Min()), hi = rule.Nodes.Max(n => n.Max());
        double range = Math.Max(hi - lo, 1e-12 * Math.Max(1, Math.Abs(hi)));
        double sigma = range / resolution;
        double start = lo - 0.05 * range, end = hi + 0.05 * range;
        var grid = new double[gridPoints];
        var density = new double[gridPoints];
        double norm = 1 / (sigma * Math.Sqrt(2 * Math.PI) * rule.Size);
        for (int i = 0; i < gridPoints; i++)
        {
            double t = start + (end - start) * i / (gridPoints - 1);
            grid[i] = t;
            density[i] = norm * rule.EstimateTrace(x => Math.Exp(-0.5 * ((t - x) / sigma) * ((t - x) / sigma)));
        }
        return new DensityCurve(grid, density, sigma, probes, steps, rule.Matvecs, lo, hi);
    }
}

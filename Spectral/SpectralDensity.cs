using Curvature.Core;

namespace Curvature.Spectral;

/// <summary>
/// A stochastic Lanczos quadrature estimate of the spectral density
/// φ(t) = (1/n) Σ_i δ(t − λ_i), smoothed by a Gaussian of width σ and sampled on a grid,
/// together with the quadrature rule (nodes θ and weights τ) of every probe.
/// </summary>
public sealed class DensityResult
{
    internal DensityResult(double[] grid, double[] density, double[][] nodes, double[][] weights, double sigma, int size, int matvecs)
    {
        Grid = grid; Density = density; Nodes = nodes; Weights = weights; Sigma = sigma; Size = size; Matvecs = matvecs;
    }

    /// <summary>The points t at which the density is evaluated.</summary>
    public double[] Grid { get; }

    /// <summary>The smoothed density at each grid point.</summary>
    public double[] Density { get; }

    /// <summary>Per probe: the Gauss quadrature nodes (Ritz values of its Lanczos tridiagonal).</summary>
    public double[][] Nodes { get; }

    /// <summary>Per probe: the weights τ_j = (first component of eigenvector j)², summing to 1.</summary>
    public double[][] Weights { get; }

    /// <summary>The Gaussian smoothing width σ (in eigenvalue units).</summary>
    public double Sigma { get; }

    /// <summary>The operator dimension n.</summary>
    public int Size { get; }

    /// <summary>Operator applications spent.</summary>
    public int Matvecs { get; }

    /// <summary>The number of probe vectors N.</summary>
    public int Probes => Nodes.Length;

    /// <summary>tr f(A) ≈ (n/N) Σ_probes Σ_j τ_j f(θ_j).</summary>
    public double EstimateTrace(Func<double, double> f)
    {
        ArgumentNullException.ThrowIfNull(f);
        double sum = 0;
        for (int l = 0; l < Nodes.Length; l++)
            for (int j = 0; j < Nodes[l].Length; j++) sum += Weights[l][j] * f(Nodes[l][j]);
        return Size * sum / Nodes.Length;
    }
}

/// <summary>Stochastic Lanczos quadrature (Lin–Saad–Yang; Ghorbani et al. for Hessians). See docs/spectral.md.</summary>
public static class SpectralDensity
{
    /// <summary>
    /// The smoothed spectral density φ_σ on <paramref name="grid"/> from <paramref name="probes"/>
    /// Rademacher probes, each with <paramref name="lanczosSteps"/> fully reorthogonalized Lanczos steps.
    /// </summary>
    /// <param name="op">Symmetric operator.</param>
    /// <param name="lanczosSteps">Lanczos steps per probe (quadrature nodes), at least 1.</param>
    /// <param name="probes">Number of probes, at least 1.</param>
    /// <param name="grid">Evaluation points.</param>
    /// <param name="sigma">Gaussian width, positive.</param>
    /// <param name="seed">Seed of the probes.</param>
    /// <exception cref="ArgumentException">An argument is out of range; the message names it.</exception>
    public static DensityResult Slq(ILinearOperator op, int lanczosSteps, int probes, ReadOnlySpan<double> grid, double sigma, ulong seed)
    {
        Guard.NotNull(op);
        int n = op.Size;
        Guard.InRange(lanczosSteps, 1, n);
        Guard.Positive(probes);
        Guard.Positive(sigma);
        if (grid.Length == 0)
            throw new ArgumentException("Argument 'grid' is empty; expected at least one point.", nameof(grid));
        Guard.AllFinite(grid, nameof(grid));

        var rng = new Rng(seed);
        var proc = new LanczosProcess(op, lanczosSteps, new Rng(seed ^ 0x5DEECE66DUL));
        var z = new double[n];
        var t = new double[lanczosSteps * lanczosSteps];
        var theta = new double[lanczosSteps];
        var nodes = new double[probes][];
        var weights = new double[probes][];
        int matvecs = 0;
        for (int l = 0; l < probes; l++)
        {
            rng.FillRademacher(z);
            proc.Start(z);
            // An invariant subspace ends the probe early: its quadrature is then exact.
            while (proc.HasNext && proc.M < lanczosSteps) proc.Step(continueOnBreakdown: false);
            int m = proc.M;
            proc.Decompose(t, theta);
            nodes[l] = theta.AsSpan(0, m).ToArray();
            var wts = new double[m];
            for (int j = 0; j < m; j++) wts[j] = t[j] * t[j];
            weights[l] = wts;
        }
        matvecs = proc.Matvecs;

        var g = grid.ToArray();
        var density = new double[g.Length];
        double norm = 1.0 / (sigma * Math.Sqrt(2 * Math.PI) * probes);
        for (int i = 0; i < g.Length; i++)
        {
            double sum = 0;
            for (int l = 0; l < probes; l++)
            {
                var nd = nodes[l];
                var wt = weights[l];
                for (int j = 0; j < nd.Length; j++)
                {
                    double d = (g[i] - nd[j]) / sigma;
                    sum += wt[j] * Math.Exp(-0.5 * d * d);
                }
            }
            density[i] = norm * sum;
        }
        return new DensityResult(g, density, nodes, weights, sigma, n, matvecs);
    }
}

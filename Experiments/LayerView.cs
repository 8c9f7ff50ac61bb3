using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using Curvature.Optimizers;
using Curvature.Spectral;

namespace Curvature.Experiments;

/// <summary>One layer at one step: its share of the dominant eigenvectors and the top eigenvalue of its diagonal block of H.</summary>
/// <param name="Step">Training step of θ.</param>
/// <param name="Layer">Layer name: the blocks' common prefix (e.g. "0" for 0.weight and 0.bias).</param>
/// <param name="Parameters">Parameters in the layer.</param>
/// <param name="EigenvectorShare">(1/k) Σᵢ Σ_{j ∈ layer} U_ij² for the top-k eigenvectors uᵢ of H (unit rows, so the shares of all layers sum to 1).</param>
/// <param name="BlockLambda1">Largest eigenvalue of P_l H P_l restricted to the layer's coordinates (the diagonal block H_ll).</param>
public sealed record LayerRow(long Step, string Layer, int Parameters, double EigenvectorShare, double BlockLambda1);

/// <summary>
/// The per-layer view of the curvature: where the dominant eigenvectors of H live, layer by layer,
/// and how sharp each layer's own block of H is. Derivation in docs/experiments.md.
/// </summary>
public static class LayerView
{
    /// <summary>Columns of layers.csv.</summary>
    public static readonly string[] Columns = ["step", "layer", "parameters", "eigenvector_share", "block_lambda_1"];

    /// <summary>Layers as (name, coordinate indices): blocks grouped by the name before the last '.', in θ order.</summary>
    public static IReadOnlyList<(string Name, int[] Indices)> Layers(IReadOnlyList<ParameterBlock> blocks)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        return blocks.GroupBy(b => b.Name.Contains('.') ? b.Name[..b.Name.LastIndexOf('.')] : b.Name)
            .Select(g => (g.Key, g.SelectMany(b => Enumerable.Range(b.Offset, b.Count)).ToArray())).ToList();
    }

    /// <summary>
    /// The layer rows at θ: shares from the k×n row-major eigenvectors <paramref name="u"/> of H, and for each
    /// layer the top eigenvalue of H's diagonal block by the default eigensolver (tolerance <paramref name="tolerance"/>).
    /// </summary>
    public static IReadOnlyList<LayerRow> Measure(IObjective objective, IReadOnlyList<ParameterBlock> blocks, long step, ReadOnlySpan<double> theta,
        int[]? examples, ReadOnlySpan<double> u, int k, ulong seed, double tolerance)
    {
        ArgumentNullException.ThrowIfNull(objective);
        int n = objective.ParameterCount;
        if (k < 1 || u.Length != k * n)
            throw new ArgumentException($"Argument 'u' has length {u.Length}; expected k×n = {k}×{n}.", nameof(u));
        var rows = new List<LayerRow>();
        var op = objective.CurvatureOperator(CurvatureKind.Hessian, theta, examples);
        foreach (var (name, idx) in Layers(blocks))
        {
            double share = 0;
            for (int i = 0; i < k; i++)
                foreach (int j in idx) share += u[i * n + j] * u[i * n + j];
            double lambda = double.NaN;
            if (idx.Length >= 2)
                lambda = Eigensolver.TopK(new Restricted(op, idx), 1, Eigensolver.Default, new EigenOptions { Tolerance = tolerance, Seed = seed }).Values[0];
            rows.Add(new LayerRow(step, name, idx.Length, share / k, lambda));
        }
        return rows;
    }

    /// <summary>layers.csv; the layer column holds the layer's position in θ order (CSV cells are numbers).</summary>
    public static CsvTable Table(IEnumerable<LayerRow> rows, IReadOnlyList<string> layerNames)
    {
        var t = new CsvTable(Columns);
        foreach (var r in rows) t.AddRow(r.Step, layerNames.ToList().IndexOf(r.Layer), r.Parameters, r.EigenvectorShare, r.BlockLambda1);
        return t;
    }

    /// <summary>P_l H P_l on the layer's coordinates: x ↦ (H E x)[idx], with E the embedding that puts x at idx and zeros elsewhere.</summary>
    sealed class Restricted(ILinearOperator full, int[] idx) : ILinearOperator
    {
        readonly double[] _x = new double[full.Size];
        readonly double[] _y = new double[full.Size];

        public int Size => idx.Length;

        public void Apply(ReadOnlySpan<double> x, Span<double> y)
        {
            Array.Clear(_x);
            for (int i = 0; i < idx.Length; i++) _x[idx[i]] = x[i];
            full.Apply(_x, _y);
            for (int i = 0; i < idx.Length; i++) y[i] = _y[idx[i]];
        }
    }
}

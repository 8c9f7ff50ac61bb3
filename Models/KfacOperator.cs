using Curvature.Core;
using Curvature.Spectral;

namespace Curvature.Models;

public sealed partial class Objective
{
    /// <summary>
    /// K-FAC's approximation of G as an operator: block-diagonal over the layers of
    /// <see cref="KroneckerFactors"/>, each block B ⊗ A (docs/curvature.md §9), built on
    /// <paramref name="examples"/> (all when null) at θ. Its top eigenpairs are the factors'
    /// products (<see cref="Models.KfacOperator.TopK"/>), no solver needed.
    /// </summary>
    /// <exception cref="InvalidOperationException">
    /// K-FAC does not cover the network: a parameter block lies outside every layer
    /// <see cref="KroneckerFactors"/> supports (the message names the blocks), or it has none.
    /// </exception>
    public KfacOperator KfacOperator(ReadOnlySpan<double> theta, int[]? examples = null)
    {
        var factors = KroneckerFactors(theta, examples);
        var covered = new bool[ParameterCount];
        foreach (var layer in factors.Layers)
            for (int o = 0; o < layer.Outputs; o++)
                for (int c = 0; c < layer.FactorInputs; c++) covered[layer.ThetaIndex(o, c)] = true;
        var missing = Model.Blocks.Where(b => !covered.AsSpan(b.Offset, b.Count).Contains(true)).Select(b => b.ToString()).ToArray();
        if (missing.Length > 0 || covered.AsSpan().Contains(false))
            throw new InvalidOperationException($"K-FAC covers the layers {string.Join(", ", factors.Layers.Select(l => l.Name))} of the {Model.Spec} network but not {(missing.Length > 0 ? string.Join(", ", missing) : "all of its parameters")}.");
        return new KfacOperator(factors, ParameterCount);
    }
}

/// <summary>
/// K-FAC's block-diagonal B ⊗ A as a matrix-free operator (see <see cref="Objective.KfacOperator"/>):
/// a layer's block of x, read as the out×(in+1) matrix X = [W, b], maps to B X A; θ outside the
/// layers is never reached (the constructor refuses such networks).
/// </summary>
public sealed class KfacOperator : ILinearOperator
{
    readonly int[][] _index;
    readonly double[][] _x, _t;

    internal KfacOperator(Kfac factors, int size)
    {
        Factors = factors;
        Size = size;
        var layers = factors.Layers;
        _index = new int[layers.Count][];
        _x = new double[layers.Count][];
        _t = new double[layers.Count][];
        for (int l = 0; l < layers.Count; l++)
        {
            var layer = layers[l];
            int o = layer.Outputs, m = layer.FactorInputs;
            _index[l] = new int[o * m];
            for (int r = 0; r < o; r++)
                for (int c = 0; c < m; c++) _index[l][r * m + c] = layer.ThetaIndex(r, c);
            _x[l] = new double[o * m];
            _t[l] = new double[o * m];
        }
    }

    /// <summary>The Kronecker factors of every layer.</summary>
    public Kfac Factors { get; }

    /// <inheritdoc/>
    public int Size { get; }

    /// <inheritdoc/>
    public void Apply(ReadOnlySpan<double> x, Span<double> y)
    {
        Guard.Length(x, Size, nameof(x));
        Guard.Length<double>(y, Size, nameof(y));
        y.Clear();
        var layers = Factors.Layers;
        for (int l = 0; l < layers.Count; l++)
        {
            int o = layers[l].Outputs, m = layers[l].FactorInputs;
            var index = _index[l];
            var xl = _x[l];
            for (int i = 0; i < index.Length; i++) xl[i] = x[index[i]];
            // (B ⊗ A) vec(X) = vec(B X Aᵀ) for row-major vec; A is symmetric.
            Blas.Gemm(Transpose.No, Transpose.No, o, m, m, 1.0, xl, m, layers[l].A.Data, m, 0.0, _t[l], m);
            Blas.Gemm(Transpose.No, Transpose.No, o, m, o, 1.0, layers[l].B.Data, o, _t[l], m, 0.0, xl, m);
            for (int i = 0; i < index.Length; i++) y[index[i]] = xl[i];
        }
    }

    /// <inheritdoc/>
    public void ApplyBlock(ReadOnlySpan<double> x, Span<double> y, int count)
    {
        Guard.Positive(count);
        Guard.Length(x, count * Size, nameof(x));
        Guard.Length<double>(y, count * Size, nameof(y));
        for (int j = 0; j < count; j++) Apply(x.Slice(j * Size, Size), y.Slice(j * Size, Size));
    }

    /// <summary>
    /// The <paramref name="k"/> largest eigenpairs of B ⊗ A from the factors' eigendecompositions
    /// (<see cref="Kfac.TopEigenpairs"/>), with their residuals ‖Kv − λv‖ measured by k products
    /// (rounding only); certified, since every pair of every layer was ranked.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="k"/> lies outside [1, <see cref="Size"/>].</exception>
    public EigenResult TopK(int k)
    {
        var (values, vectors) = Factors.TopEigenpairs(k);
        var residuals = new double[k];
        var image = new double[Size];
        for (int j = 0; j < k; j++)
        {
            var v = vectors.AsSpan(j * Size, Size);
            Apply(v, image);
            Blas.Axpy(-values[j], v, image);
            residuals[j] = Blas.Nrm2(image);
        }
        return new EigenResult(Which.LargestAlgebraic, values, vectors, residuals, Enumerable.Repeat(true, k).ToArray(), Size, k, 1,
            certified: true, certificate: "every Kronecker eigenpair of every layer was ranked");
    }
}

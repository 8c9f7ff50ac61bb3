using Curvature.Core;

namespace Curvature.Optimizers;

/// <summary>
/// Orthogonal projections onto the span of an orthonormal basis U (k×n, one basis vector
/// per row) and onto its complement: P_dom g = Uᵀ(U g), P_bulk g = g − P_dom g, and the
/// alignment χ_k(g) = ‖U g‖ / ‖g‖. The basis is copied into storage the projector owns and
/// every call reuses one coefficient buffer, so projecting allocates nothing.
/// </summary>
public sealed class SubspaceProjector
{
    readonly int _n;
    double[] _basis;
    double[] _coefficients;
    int _k;

    /// <summary>A projector on ℝⁿ whose basis is empty (P_dom = 0) until <see cref="SetBasis"/>.</summary>
    public SubspaceProjector(int dimension)
    {
        Guard.Positive(dimension);
        _n = dimension;
        _basis = [];
        _coefficients = [];
    }

    /// <summary>A projector onto the span of the rows of <paramref name="basis"/> (k×n row-major, orthonormal rows).</summary>
    public SubspaceProjector(ReadOnlySpan<double> basis, int k, int dimension) : this(dimension) => SetBasis(basis, k);

    /// <summary>The dimension n of the space.</summary>
    public int Dimension => _n;

    /// <summary>The number k of basis vectors.</summary>
    public int Rank => _k;

    /// <summary>The basis, k×n row-major.</summary>
    public ReadOnlySpan<double> Basis => _basis.AsSpan(0, _k * _n);

    /// <summary>
    /// Replaces the basis by a copy of <paramref name="basis"/> (k×n row-major). The rows
    /// must be orthonormal: the projection formulas below are only projections then.
    /// Storage is reused when k does not grow.
    /// </summary>
    public void SetBasis(ReadOnlySpan<double> basis, int k)
    {
        Guard.InRange(k, 0, _n);
        if (basis.Length != k * _n)
            throw new ArgumentException($"Argument 'basis' has length {basis.Length}; expected k×n = {k}x{_n} = {k * _n}.", nameof(basis));
        if (_basis.Length < basis.Length) _basis = new double[basis.Length];
        if (_coefficients.Length < k) _coefficients = new double[k];
        basis.CopyTo(_basis);
        _k = k;
    }

    /// <summary>c ← U g, the coordinates of P_dom g in the basis (length k).</summary>
    public void Coefficients(ReadOnlySpan<double> g, Span<double> c)
    {
        CheckVector(g, nameof(g));
        Guard.AtLeast<double>(c, _k, nameof(c));
        Blas.Gemv(Transpose.No, _k, _n, 1.0, _basis.AsSpan(0, _k * _n), _n, g, 0.0, c);
    }

    /// <summary>dom ← P_dom g = Uᵀ(U g).</summary>
    public void ProjectDominant(ReadOnlySpan<double> g, Span<double> dom)
    {
        CheckVector(g, nameof(g));
        CheckVector(dom, nameof(dom));
        if (_k == 0) { dom.Clear(); return; }
        var c = _coefficients.AsSpan(0, _k);
        Blas.Gemv(Transpose.No, _k, _n, 1.0, _basis.AsSpan(0, _k * _n), _n, g, 0.0, c);
        Blas.Gemv(Transpose.Yes, _k, _n, 1.0, _basis.AsSpan(0, _k * _n), _n, c, 0.0, dom);
    }

    /// <summary>bulk ← P_bulk g = g − P_dom g. <paramref name="bulk"/> may not overlap <paramref name="g"/>.</summary>
    public void ProjectBulk(ReadOnlySpan<double> g, Span<double> bulk)
    {
        ProjectDominant(g, bulk);
        for (int i = 0; i < _n; i++) bulk[i] = g[i] - bulk[i];
    }

    /// <summary>Both parts at once: dom ← P_dom g, bulk ← g − dom.</summary>
    public void Split(ReadOnlySpan<double> g, Span<double> dom, Span<double> bulk)
    {
        CheckVector(bulk, nameof(bulk));
        ProjectDominant(g, dom);
        for (int i = 0; i < _n; i++) bulk[i] = g[i] - dom[i];
    }

    /// <summary>‖P_dom g‖ = ‖U g‖ (U has orthonormal rows, so Uᵀ preserves the norm of c).</summary>
    public double DominantNorm(ReadOnlySpan<double> g)
    {
        CheckVector(g, nameof(g));
        if (_k == 0) return 0.0;
        var c = _coefficients.AsSpan(0, _k);
        Blas.Gemv(Transpose.No, _k, _n, 1.0, _basis.AsSpan(0, _k * _n), _n, g, 0.0, c);
        return Blas.Nrm2(c);
    }

    /// <summary>χ_k(g) = ‖U g‖ / ‖g‖ ∈ [0, 1]; 0 for g = 0, which has no direction to align.</summary>
    public double Alignment(ReadOnlySpan<double> g)
    {
        double norm = Blas.Nrm2(g);
        return norm == 0 ? 0.0 : DominantNorm(g) / norm;
    }

    void CheckVector(ReadOnlySpan<double> v, string name)
    {
        if (v.Length != _n)
            throw new ArgumentException($"Argument '{name}' has length {v.Length}; expected the projector's dimension {_n}.", name);
    }
}

using Curvature.Core;

namespace Curvature.Spectral;

/// <summary>
/// The Lanczos recurrence with full reorthogonalization over a basis stored as rows,
/// keeping every product A·v_j so Ritz vectors and their images are linear combinations
/// of stored rows (no extra operator application to check a residual).
///
/// State after <see cref="M"/> steps: V (rows 0..M) orthonormal, AV (rows 0..M−1) with
/// AV_j = A·v_j, and the (M+1)×M Hessenberg matrix G of orthogonalization coefficients
/// such that A·V_M = V_M·G_M + v_M·g_Mᵀ, where g_M (row M of G) is β e_Mᵀ in a plain
/// Lanczos run and the arrow row after a thick restart.
/// </summary>
internal sealed class LanczosProcess : IRitzBasis
{
    static readonly double Eps = Math.Pow(2, -52);

    readonly ILinearOperator _op;
    readonly int _n;
    readonly int _mMax;
    readonly double[] _v;   // (mMax+1)×n
    readonly double[] _av;  // mMax×n
    readonly double[] _g;   // (mMax+1)×mMax, row-major with stride mMax
    readonly double[] _w;
    readonly double[] _c;
    readonly double[] _h;
    readonly Rng _rng;
    readonly BlockWorkspace _ws;
    double _normEstimate;

    /// <param name="op">The symmetric operator.</param>
    /// <param name="maxBasis">Basis rows kept before a restart.</param>
    /// <param name="rng">Source of random continuation vectors.</param>
    public LanczosProcess(ILinearOperator op, int maxBasis, Rng rng)
    {
        _op = op;
        _n = op.Size;
        _mMax = maxBasis;
        _v = new double[(maxBasis + 1) * _n];
        _av = new double[maxBasis * _n];
        _g = new double[(maxBasis + 1) * maxBasis];
        _w = new double[_n];
        _c = new double[maxBasis + 1];
        _h = new double[maxBasis + 1];
        _rng = rng;
        _ws = new BlockWorkspace(_n, maxBasis + 1);
    }

    /// <summary>Number of basis vectors whose products are known.</summary>
    public int M { get; private set; }

    /// <summary>Whether row M of V holds a next basis vector (false once V spans the whole space).</summary>
    public bool HasNext { get; private set; }

    public int MaxBasis => _mMax;

    public int Matvecs { get; private set; }

    /// <summary>Times the recurrence hit an invariant subspace and continued from a random vector.</summary>
    public int Breakdowns { get; private set; }

    /// <summary>Whether the last step found span(V) invariant (β at rounding level, or V spanning ℝⁿ).</summary>
    public bool LastStepWasInvariant { get; private set; }

    /// <summary>Largest ‖A v_j‖ seen: a lower bound on ‖A‖.</summary>
    public double NormEstimate => _normEstimate;

    public ReadOnlySpan<double> Basis => _v;

    public ReadOnlySpan<double> Products => _av;

    /// <summary>Entry (i, j) of the Hessenberg coefficient matrix G.</summary>
    public double G(int i, int j) => _g[i * _mMax + j];

    /// <summary>Starts from <paramref name="start"/> (normalized here).</summary>
    public void Start(ReadOnlySpan<double> start)
    {
        var v0 = _v.AsSpan(0, _n);
        start.CopyTo(v0);
        double nrm = Blas.Nrm2(v0);
        Blas.Scal(1.0 / nrm, v0);
        Array.Clear(_g);
        M = 0;
        HasNext = true;
    }

    /// <summary>
    /// One step: AV_M ← A·v_M, w ← AV_M orthogonalized against v_0..v_M by classical
    /// Gram–Schmidt (two passes, a third when the second still cancels more than 1/√2 of
    /// the norm), G[0..M, M] ← the coefficients, β = ‖w‖, v_{M+1} ← w/β. When β is at
    /// rounding level the Krylov space is invariant: with <paramref name="continueOnBreakdown"/>
    /// the recurrence continues from a random vector orthogonal to V with coupling 0;
    /// otherwise (and when V already spans ℝⁿ) no next vector is produced.
    /// </summary>
    public void Step(bool continueOnBreakdown = true)
    {
        if (!HasNext || M >= _mMax) throw new InvalidOperationException("Lanczos basis is full; restart first.");
        int j = M, n = _n;
        var vj = _v.AsSpan(j * n, n);
        var avj = _av.AsSpan(j * n, n);
        _op.Apply(vj, avj);
        Matvecs++;
        var w = _w.AsSpan();
        avj.CopyTo(w);
        double norm0 = Blas.Nrm2(w);
        if (!double.IsFinite(norm0))
            throw new InvalidOperationException($"The operator returned a non-finite product at Lanczos step {j}; expected finite values.");
        _normEstimate = Math.Max(_normEstimate, norm0);
        LastStepWasInvariant = false;
        var h = _h.AsSpan(0, j + 1);
        h.Clear();
        double beta = OrthogonalizeStep(w, j + 1, h);
        for (int i = 0; i <= j; i++) _g[i * _mMax + j] = h[i];

        M = j + 1;
        var next = _v.AsSpan(M * n, n);
        if (M == n)
        {
            // V spans ℝⁿ: A·V = V·G exactly, nothing couples outward.
            _g[M * _mMax + j] = 0;
            HasNext = false;
            LastStepWasInvariant = true;
            return;
        }
        if (beta > 64 * Eps * Math.Max(_normEstimate, double.Epsilon))
        {
            _g[M * _mMax + j] = beta;
            for (int i = 0; i < n; i++) next[i] = w[i] / beta;
            return;
        }
        _g[M * _mMax + j] = 0;
        LastStepWasInvariant = true;
        if (!continueOnBreakdown)
        {
            HasNext = false;
            return;
        }
        Breakdowns++;
        HasNext = FreshDirection(M, next);
    }

    /// <summary>next ← a random unit vector orthogonal to rows 0..rows of V; false if none exists numerically.</summary>
    bool FreshDirection(int rows, Span<double> next)
    {
        var w = _w.AsSpan();
        for (int attempt = 0; attempt < 3; attempt++)
        {
            _rng.FillGaussian(w);
            double before = Blas.Nrm2(w);
            var scratch = _h.AsSpan(0, rows);
            scratch.Clear();
            double after = Orthogonalize(w, rows, scratch);
            if (after > 1e-8 * before)
            {
                for (int i = 0; i < _n; i++) next[i] = w[i] / after;
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// w ← (I − VVᵀ)w for the product of the newest row: first a local pass against the
    /// last two rows (A·v_j lies in span(v_{j−1}, v_j, v_{j+1}) in exact arithmetic, so this
    /// removes the large components reading two rows only), then full passes until one
    /// cancels less than 1 − 1/√2 of the norm (DGKS). After a thick restart v_j couples to
    /// every kept Ritz vector and a second full pass runs; elsewhere one full pass is enough.
    /// See docs/spectral.md, "Why full reorthogonalization".
    /// </summary>
    double OrthogonalizeStep(Span<double> w, int rows, Span<double> acc)
    {
        const int Local = 2;
        if (rows <= Local) return Orthogonalize(w, rows, acc);
        int n = _n, lo = rows - Local;
        var c = _c.AsSpan(0, Local);
        var near = _v.AsSpan(lo * n, Local * n);
        Blas.Gemv(Transpose.No, Local, n, 1.0, near, n, w, 0.0, c);
        Blas.Gemv(Transpose.Yes, Local, n, -1.0, near, n, c, 1.0, w);
        for (int i = 0; i < Local; i++) acc[lo + i] += c[i];
        return Orthogonalize(w, rows, acc, minPasses: 1);
    }

    /// <summary>
    /// w ← (I − VVᵀ)w over rows 0..rows of V, accumulating VᵀW into acc: at least
    /// <paramref name="minPasses"/> classical Gram–Schmidt passes, then more (three in all at
    /// most) while a pass cancels more than 1 − 1/√2 of the norm; returns ‖w‖.
    /// </summary>
    double Orthogonalize(Span<double> w, int rows, Span<double> acc, int minPasses = 2)
    {
        int n = _n;
        var basis = _v.AsSpan(0, rows * n);
        var c = _c.AsSpan(0, rows);
        double prev = Blas.Nrm2(w);
        double norm = prev;
        for (int pass = 0; pass < 3; pass++)
        {
            Blas.Gemv(Transpose.No, rows, n, 1.0, basis, n, w, 0.0, c);
            Blas.Gemv(Transpose.Yes, rows, n, -1.0, basis, n, c, 1.0, w);
            for (int i = 0; i < rows; i++) acc[i] += c[i];
            norm = Blas.Nrm2(w);
            if (pass >= minPasses - 1 && norm > 0.7071 * prev) break;
            prev = norm;
        }
        return norm;
    }

    /// <summary>
    /// The Rayleigh–Ritz step on span(V_M): t ← eigenvectors (column i, row-major M×M) of
    /// the symmetric part of G_M, theta ← eigenvalues ascending.
    /// </summary>
    public void Decompose(Span<double> t, Span<double> theta)
    {
        int m = M;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++)
                t[i * m + j] = 0.5 * (_g[i * _mMax + j] + _g[j * _mMax + i]);
        Blas.SymmetricEigen(m, t[..(m * m)], theta[..m]);
    }

    /// <summary>
    /// The residual bound of Ritz vector y = V·s (s = column <paramref name="col"/> of t):
    /// A·y − θ·y = v_M·(g_M·s), so ‖A·y − θ·y‖ = |g_M·s| = |β_M s_M| in a plain run.
    /// </summary>
    public double ResidualBound(ReadOnlySpan<double> t, int col)
    {
        if (!HasNext) return 0;
        int m = M;
        double s = 0;
        for (int j = 0; j < m; j++) s += _g[m * _mMax + j] * t[j * m + col];
        return Math.Abs(s);
    }

    /// <summary>y ← C·V and ay ← C·AV for the r×M coefficient block C.</summary>
    public void Combine(ReadOnlySpan<double> coef, int r, Span<double> y, Span<double> ay)
    {
        int m = M, n = _n;
        Blas.Gemm(Transpose.No, Transpose.No, r, n, m, 1.0, coef, m, _v, n, 0.0, y, n);
        Blas.Gemm(Transpose.No, Transpose.No, r, n, m, 1.0, coef, m, _av, n, 0.0, ay, n);
    }

    /// <summary>
    /// Thick restart: keeps the Ritz vectors of columns order[0..keep) of t (and their
    /// images) and the residual vector v_M as the new basis. The new coefficient matrix is
    /// diag(θ) with the arrow row G[keep, i] = g_M·s_i (Wu–Simon), so the recurrence and the
    /// residual bound carry on unchanged.
    /// </summary>
    public void Restart(int keep, ReadOnlySpan<double> t, ReadOnlySpan<double> theta, ReadOnlySpan<int> order)
        => Compress(keep, t, theta, order, fresh: false);

    /// <summary>
    /// Locks the Ritz vectors of columns order[0..keep) and continues from a random vector
    /// orthogonal to them instead of the residual vector: a new Krylov sequence in their
    /// complement, which can reach directions (a repeated eigenvalue's other copies) that
    /// the old sequence could not. The arrow row is the exact coupling v_keep·A·y_i.
    /// </summary>
    public void Lock(int keep, ReadOnlySpan<double> t, ReadOnlySpan<double> theta, ReadOnlySpan<int> order)
        => Compress(keep, t, theta, order, fresh: true);

    void Compress(int keep, ReadOnlySpan<double> t, ReadOnlySpan<double> theta, ReadOnlySpan<int> order, bool fresh)
    {
        int m = M, n = _n;
        var coef = _ws.Coef.AsSpan(0, keep * m);
        var arrow = _c.AsSpan(0, keep);
        for (int i = 0; i < keep; i++)
        {
            int col = order[i];
            double a = 0;
            for (int j = 0; j < m; j++)
            {
                coef[i * m + j] = t[j * m + col];
                a += _g[m * _mMax + j] * t[j * m + col];
            }
            arrow[i] = HasNext ? a : 0;
        }
        BlockOps.TransformRows(_v.AsSpan(0, m * n), n, m, coef, keep, _ws);
        BlockOps.TransformRows(_av.AsSpan(0, m * n), n, m, coef, keep, _ws);
        var next = _v.AsSpan(keep * n, n);
        if (fresh)
        {
            HasNext = FreshDirection(keep, next);
            for (int i = 0; i < keep; i++) arrow[i] = HasNext ? Blas.Dot(next, _av.AsSpan(i * n, n)) : 0;
        }
        else
        {
            _v.AsSpan(m * n, n).CopyTo(next);
        }
        Array.Clear(_g);
        for (int i = 0; i < keep; i++)
        {
            _g[i * _mMax + i] = theta[order[i]];
            _g[keep * _mMax + i] = arrow[i];
        }
        M = keep;
    }
}

using Curvature.Core;

namespace Curvature.Spectral;

/// <summary>
/// The block Lanczos recurrence with full reorthogonalization over a basis stored as rows,
/// keeping every product A·v_j. State: V rows 0..M have products AV; rows M..M+P are the
/// pending rows (orthonormal to the rest, product not yet applied); the first step applies
/// the operator to the whole start block, later steps to the first min(P, b) pending rows,
/// while the relation below stays exact. The coefficient matrix
/// G ((mMax + bMax) × mMax, stride mMax) satisfies A·V_M = V_{M+P}·G[0..M+P, 0..M] up to
/// rounding, so the Ritz pairs of sym(G_M) have residual bound ‖G[M..M+P, 0..M]·s‖.
/// </summary>
internal sealed class BlockLanczosProcess : IRitzBasis
{
    static readonly double Eps = Math.Pow(2, -52);

    readonly ILinearOperator _op;
    readonly int _n;
    readonly int _mMax;
    readonly int _bMax;
    readonly double[] _v;    // (mMax + bMax)×n
    readonly double[] _av;   // mMax×n
    readonly double[] _g;    // (mMax + bMax)×mMax
    readonly double[] _w;    // bMax×n: the new block
    readonly double[] _wr;   // bMax×n: the remainder after Gram–Schmidt
    readonly double[] _c;    // bMax×(mMax + bMax)
    readonly double[] _cAcc; // bMax×(mMax + bMax)
    readonly double[] _r;    // bMax×bMax
    readonly double[] _norms;
    readonly double[] _localNorms;
    readonly double[] _arrow; // bMax×mMax
    readonly Rng _rng;
    readonly BlockWorkspace _ws;
    double _normEstimate;

    readonly int _b;

    public BlockLanczosProcess(ILinearOperator op, int maxBasis, int maxBlock, int blockSize, Rng rng)
    {
        _b = blockSize;
        _op = op;
        _n = op.Size;
        _mMax = maxBasis;
        _bMax = maxBlock;
        (_v, _av) = BasisCache.Take((maxBasis + maxBlock) * _n, maxBasis * _n);
        _g = new double[(maxBasis + maxBlock) * maxBasis];
        _w = new double[maxBlock * _n];
        _wr = new double[maxBlock * _n];
        _c = new double[maxBlock * (maxBasis + maxBlock)];
        _cAcc = new double[maxBlock * (maxBasis + maxBlock)];
        _r = new double[maxBlock * maxBlock];
        _norms = new double[maxBlock];
        _localNorms = new double[maxBlock];
        _arrow = new double[maxBlock * maxBasis];
        _rng = rng;
        _ws = new BlockWorkspace(_n, Math.Max(maxBasis + maxBlock, 2 * maxBlock));
    }

    /// <summary>Hands the basis arrays back to this thread's cache for the next solve; the process is unusable after.</summary>
    public void Release() => BasisCache.Give(_v, _av);

    /// <summary>
    /// The basis and product arrays of the last finished solve on this thread, held weakly.
    /// The subspace tracker solves every T steps with the same sizes; allocating the
    /// (2·MaxBasisSize + b)·n doubles afresh each time (309 MB on the benchmark network) cost
    /// a quarter of a Bulk-SGD loop in page faults and kernel page clearing (docs/benchmarks.md,
    /// "Solver's own time"). Every row is written before it is read, so stale contents are harmless.
    /// </summary>
    internal static class BasisCache
    {
        [ThreadStatic] static WeakReference<double[][]>? _held;

        public static (double[] V, double[] Av) Take(int vLength, int avLength)
        {
            if (_held is not null && _held.TryGetTarget(out var pair) && pair[0].Length >= vLength && pair[1].Length >= avLength)
            {
                _held = null;
                return (pair[0], pair[1]);
            }
            return (new double[vLength], new double[avLength]);
        }

        public static void Give(double[] v, double[] av) => _held = new WeakReference<double[][]>([v, av]);
    }

    /// <summary>Basis rows whose products are known.</summary>
    public int M { get; private set; }

    /// <summary>Pending rows (0 once the basis spans the whole space).</summary>
    public int P { get; private set; }

    /// <summary>
    /// Rows the next step applies the operator to: the whole start block in the first step
    /// (one block product for a warm start however wide, then one Rayleigh–Ritz on all of it),
    /// min(P, b) afterwards.
    /// </summary>
    public int NextWidth => Math.Min(P, M == 0 ? _bMax : _b);

    public int Matvecs { get; private set; }

    /// <summary>Steps whose first Gram–Schmidt pass sufficed (DGKS): for diagnostics.</summary>
    public int SecondPassesSkipped { get; private set; }

    const double DgksRatio = 0.7071067811865476;

    /// <summary>Pending rows replaced by random directions because the Krylov space became invariant there.</summary>
    public int Breakdowns { get; private set; }

    public double NormEstimate => _normEstimate;

    /// <summary>The known rows V[0..M+P) (row-major, n columns): for tests of the recurrence.</summary>
    internal ReadOnlySpan<double> Basis => _v.AsSpan(0, (M + P) * _n);

    /// <summary>Starts from the orthonormalized rows of <paramref name="start"/> (rows × n), topped up with random rows to <paramref name="width"/>.</summary>
    public void Start(ReadOnlySpan<double> start, int rows, int width)
    {
        int n = _n;
        Array.Clear(_g);
        M = 0;
        _preapplied = 0;
        var block = _v.AsSpan(0, width * n);
        start[..(rows * n)].CopyTo(block);
        _rng.FillGaussian(block[(rows * n)..]);
        int rank = BlockOps.Orthonormalize(block, width, n, _ws);
        P = FillRandom(0, rank, width);
    }

    /// <summary>
    /// Starts from <paramref name="rows"/> orthonormal rows whose products are already known
    /// (a warm refresh's Ritz vectors and their images) followed by <paramref name="extra"/>
    /// rows made orthonormal to them: the first step applies the operator to the extra rows
    /// only, so relation (2) holds up to the rounding in the given products.
    /// </summary>
    public void StartApplied(ReadOnlySpan<double> start, ReadOnlySpan<double> products, int rows, int extra)
    {
        int n = _n;
        Array.Clear(_g);
        M = 0;
        start[..(rows * n)].CopyTo(_v);
        products[..(rows * n)].CopyTo(_av);
        var more = _v.AsSpan(rows * n, extra * n);
        start.Slice(rows * n, extra * n).CopyTo(more);
        for (int round = 0; round < 2; round++)
            BlockOps.ProjectOut(more, extra, _v.AsSpan(0, rows * n), rows, n, _ws.Coef);
        int rank = BlockOps.Orthonormalize(more, extra, n, _ws);
        P = FillRandom(rows, rank, extra) + rows;
        _preapplied = rows;
    }

    int _preapplied;

    /// <summary>
    /// Rows [from + rank, from + width) of V ← random directions orthogonal to rows 0..from + rank
    /// (orthonormalized); returns the number of orthonormal rows the block ends with.
    /// </summary>
    int FillRandom(int from, int rank, int width)
    {
        int n = _n;
        for (int attempt = 0; rank < width && attempt < 5; attempt++)
        {
            var fresh = _v.AsSpan((from + rank) * n, (width - rank) * n);
            _rng.FillGaussian(fresh);
            for (int round = 0; round < 2; round++)
                BlockOps.ProjectOut(fresh, width - rank, _v.AsSpan(0, (from + rank) * n), from + rank, n, _ws.Coef);
            rank += BlockOps.Orthonormalize(fresh, width - rank, n, _ws);
        }
        return rank;
    }

    /// <summary>
    /// One block step: AV[M..M+P) ← A·V[M..M+P) (one block product), the products
    /// orthogonalized against V[0..M+P) by two block classical Gram–Schmidt passes (two
    /// GEMMs each), the coefficients stored in G, the remainder orthonormalized into the next
    /// pending block Q and its coupling R = Q·remainderᵀ stored under them. Remainder rows at
    /// rounding level (an invariant subspace) are replaced by random directions with coupling ≈ 0.
    /// </summary>
    public void Step()
    {
        int p = NextWidth;
        if (p == 0 || M + p > _mMax) throw new InvalidOperationException("Block Lanczos basis is full or exhausted; restart first.");
        int n = _n, m = M, known = M + P, pending = P;
        var block = _v.AsSpan(m * n, p * n);
        var prod = _av.AsSpan(m * n, p * n);
        int known0 = m == 0 ? Math.Min(_preapplied, p) : 0;
        _preapplied = 0;
        if (p > known0)
        {
            _op.ApplyBlock(block[(known0 * n)..], prod[(known0 * n)..], p - known0);
            Matvecs += p - known0;
        }

        var w = _w.AsSpan(0, p * n);
        prod.CopyTo(w);
        var norms = _norms.AsSpan(0, p);
        for (int i = 0; i < p; i++)
        {
            norms[i] = Blas.Nrm2(w.Slice(i * n, n));
            if (!double.IsFinite(norms[i]))
                throw new InvalidOperationException($"The operator returned a non-finite product in block Lanczos (basis row {m + i}); expected finite values.");
            _normEstimate = Math.Max(_normEstimate, norms[i]);
        }

        // Block classical Gram–Schmidt in up to three passes, two GEMMs each. A·V_j lies mostly in
        // span(V_{j−1}, V_j) (the block three-term recurrence), so a local pass against the
        // previous block, the block just applied and the pending rows removes the large
        // components while reading only those rows; a full pass against every known row then
        // removes what is left, and a second full pass runs only if that one cancelled more
        // than 1 − 1/√2 of some row's norm (the DGKS criterion, "twice is enough"). The full
        // passes stream the whole basis from memory, which is what the solver's own time is.
        var basis = _v.AsSpan(0, known * n);
        var acc = _cAcc.AsSpan(0, p * known);
        acc.Clear();
        int lo = Math.Max(0, m - _b);
        Pass(w, p, basis, lo, known, acc);
        var local = _localNorms.AsSpan(0, p);
        for (int i = 0; i < p; i++) local[i] = Blas.Nrm2(w.Slice(i * n, n));
        if (lo > 0)
        {
            Pass(w, p, basis, 0, known, acc);
            bool cancelled = false;
            for (int i = 0; i < p && !cancelled; i++)
                cancelled = Blas.Nrm2(w.Slice(i * n, n)) < DgksRatio * local[i];
            if (cancelled) Pass(w, p, basis, 0, known, acc);
            else SecondPassesSkipped++;
        }
        else
        {
            // The local pass covered every known row; the second is the "twice" of CGS2.
            Pass(w, p, basis, 0, known, acc);
        }
        for (int i = 0; i < p; i++)
            for (int l = 0; l < known; l++)
                _g[l * _mMax + m + i] = acc[i * known + l];
        M = m + p;

        int width = Math.Min(p, n - known);
        if (width <= 0)
        {
            // V spans ℝⁿ (no room for new rows): the remaining pending rows carry on.
            P = pending - p;
            return;
        }
        var rem = _wr.AsSpan(0, p * n);
        w.CopyTo(rem);
        double floor = 64 * Eps * Math.Max(_normEstimate, double.Epsilon);
        bool refilled = false, weak = false;
        for (int i = 0; i < p; i++)
        {
            double r = Blas.Nrm2(w.Slice(i * n, n));
            if (r <= floor)
            {
                _rng.FillGaussian(w.Slice(i * n, n));
                refilled = true;
                Breakdowns++;
            }
            else if (r < 1e-4 * norms[i])
            {
                weak = true;
            }
        }
        // The next block lives at rows known..known + width; build it in place of w first.
        var next = _v.AsSpan(known * n, width * n);
        if (width < p)
        {
            // Fewer directions remain than the block is wide: keep the strongest span only.
            weak = true;
        }
        int rank;
        if (refilled || weak)
        {
            for (int round = 0; round < 2; round++)
                BlockOps.ProjectOut(w, p, basis, known, n, _ws.Coef);
        }
        rank = BlockOps.Orthonormalize(w, p, n, _ws);
        if (refilled || weak)
        {
            BlockOps.ProjectOut(w, rank, basis, known, n, _ws.Coef);
            rank = BlockOps.Orthonormalize(w, rank, n, _ws);
        }
        rank = Math.Min(rank, width);
        w[..(rank * n)].CopyTo(next[..(rank * n)]);
        int got = FillRandom(known, rank, width);
        P = pending - p + got;

        // Coupling of the remainder to the new block: R = Q·remainderᵀ (P×p).
        var r2 = _r.AsSpan(0, got * p);
        Blas.Gemm(Transpose.No, Transpose.Yes, got, p, n, 1.0, _v.AsSpan(known * n, got * n), n, rem, n, 0.0, r2, p);
        for (int q = 0; q < got; q++)
            for (int i = 0; i < p; i++)
                _g[(known + q) * _mMax + m + i] = r2[q * p + i];
    }

    /// <summary>
    /// One classical Gram–Schmidt pass of the p rows of w against basis rows [from, to):
    /// c = w·B_{from..to}ᵀ, w ← w − c·B_{from..to}, acc[:, from..to) += c (acc is p × to).
    /// </summary>
    void Pass(Span<double> w, int p, ReadOnlySpan<double> basis, int from, int to, Span<double> acc)
    {
        int n = _n, rows = to - from;
        if (rows <= 0) return;
        var rowsSpan = basis.Slice(from * n, rows * n);
        var c = _c.AsSpan(0, p * rows);
        Blas.Gemm(Transpose.No, Transpose.Yes, p, rows, n, 1.0, w, n, rowsSpan, n, 0.0, c, rows);
        Blas.Gemm(Transpose.No, Transpose.No, p, n, rows, -1.0, c, rows, rowsSpan, n, 1.0, w, n);
        for (int i = 0; i < p; i++)
            for (int l = 0; l < rows; l++)
                acc[i * to + from + l] += c[i * rows + l];
    }

    /// <summary>t ← eigenvectors (column i, M×M row-major) of sym(G_M); theta ← eigenvalues ascending.</summary>
    public void Decompose(Span<double> t, Span<double> theta)
    {
        int m = M;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++)
                t[i * m + j] = 0.5 * (_g[i * _mMax + j] + _g[j * _mMax + i]);
        Blas.SymmetricEigen(m, t[..(m * m)], theta[..m]);
    }

    /// <summary>‖A·y − θ·y‖ for y = V·s (s = column <paramref name="col"/> of t): ‖G[M..M+P, 0..M]·s‖.</summary>
    public double ResidualBound(ReadOnlySpan<double> t, int col)
    {
        int m = M;
        double sum = 0;
        for (int q = 0; q < P; q++)
        {
            double s = 0;
            var row = _g.AsSpan((m + q) * _mMax, m);
            for (int j = 0; j < m; j++) s += row[j] * t[j * m + col];
            sum += s * s;
        }
        return Math.Sqrt(sum);
    }

    /// <summary>y ← C·V_M and ay ← C·AV_M for the r×M coefficient block C.</summary>
    public void Combine(ReadOnlySpan<double> coef, int r, Span<double> y, Span<double> ay)
    {
        int m = M, n = _n;
        Blas.Gemm(Transpose.No, Transpose.No, r, n, m, 1.0, coef, m, _v, n, 0.0, y, n);
        Blas.Gemm(Transpose.No, Transpose.No, r, n, m, 1.0, coef, m, _av, n, 0.0, ay, n);
    }

    /// <summary>
    /// Thick restart: V_M ← the Ritz vectors of columns order[0..keep) of t (and AV alike),
    /// the pending block moved right after them, G ← diag(θ) with arrow rows
    /// G[keep + q, i] = G[M + q, 0..M]·s_i, so relation and residual bound carry on unchanged.
    /// </summary>
    public void Restart(int keep, ReadOnlySpan<double> t, ReadOnlySpan<double> theta, ReadOnlySpan<int> order)
    {
        int m = M, n = _n, p = P;
        var coef = _ws.Coef.AsSpan(0, keep * m);
        var arrow = _arrow.AsSpan(0, p * keep);
        for (int i = 0; i < keep; i++)
        {
            int col = order[i];
            for (int j = 0; j < m; j++) coef[i * m + j] = t[j * m + col];
        }
        for (int q = 0; q < p; q++)
            for (int i = 0; i < keep; i++)
            {
                double a = 0;
                var row = _g.AsSpan((m + q) * _mMax, m);
                for (int j = 0; j < m; j++) a += row[j] * coef[i * m + j];
                arrow[q * keep + i] = a;
            }
        BlockOps.TransformRows(_v.AsSpan(0, m * n), n, m, coef, keep, _ws);
        BlockOps.TransformRows(_av.AsSpan(0, m * n), n, m, coef, keep, _ws);
        _v.AsSpan(m * n, p * n).CopyTo(_v.AsSpan(keep * n, p * n));
        Array.Clear(_g);
        for (int i = 0; i < keep; i++) _g[i * _mMax + i] = theta[order[i]];
        for (int q = 0; q < p; q++)
            for (int i = 0; i < keep; i++)
                _g[(keep + q) * _mMax + i] = arrow[q * keep + i];
        M = keep;
    }
}

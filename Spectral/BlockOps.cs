using Curvature.Core;

namespace Curvature.Spectral;

/// <summary>
/// Scratch memory for the block kernels, sized once per solver call so the iterations
/// themselves allocate nothing.
/// </summary>
internal sealed class BlockWorkspace
{
    internal const int ChunkColumns = 2048;

    public BlockWorkspace(int n, int maxRows)
    {
        N = n;
        MaxRows = maxRows;
        ChunkWidth = Math.Min(n, ChunkColumns);
        Chunk = new double[maxRows * ChunkWidth];
        Gram = new double[maxRows * maxRows];
        Factor = new double[maxRows * maxRows];
        Coef = new double[maxRows * maxRows];
        Eig = new double[maxRows];
        Diag = new double[maxRows];
        Order = new int[maxRows];
    }

    public int N { get; }
    public int MaxRows { get; }
    public int ChunkWidth { get; }
    public double[] Chunk { get; }
    public double[] Gram { get; }
    public double[] Factor { get; }
    public double[] Coef { get; }
    public double[] Eig { get; }
    public double[] Diag { get; }
    public int[] Order { get; }

    /// <summary>Number of orthonormalizations that fell back to SVQB (for tests and diagnostics).</summary>
    public int SvqbFallbacks { get; set; }
}

/// <summary>
/// Row-block kernels shared by the solvers. A block of r vectors of length n is an r×n
/// row-major span; every product of blocks is one GEMM.
/// </summary>
internal static class BlockOps
{
    static readonly double Eps = Math.Pow(2, -52);

    /// <summary>
    /// The absolute floor under the relative convergence test: a pair is converged when
    /// ‖Av − θv‖ ≤ tol·max(|θ|, ε^{1/3}·‖A‖_est). Without it an eigenvalue at (or
    /// numerically at) zero could never converge relatively.
    /// </summary>
    internal static double ScaleFloor(double normEstimate) => Math.Cbrt(Eps) * normEstimate;

    /// <summary>rows[0..rOut) ← coef·rows[0..rIn) in place, one column chunk at a time.</summary>
    internal static void TransformRows(Span<double> rows, int n, int rIn, ReadOnlySpan<double> coef, int rOut, BlockWorkspace ws)
    {
        if (rOut == 0) return;
        int width = ws.ChunkWidth;
        var scratch = ws.Chunk.AsSpan();
        for (int c0 = 0; c0 < n; c0 += width)
        {
            int w = Math.Min(width, n - c0);
            Blas.Gemm(Transpose.No, Transpose.No, rOut, w, rIn, 1.0, coef, rIn, rows[c0..], n, 0.0, scratch, w);
            for (int i = 0; i < rOut; i++)
                scratch.Slice(i * w, w).CopyTo(rows.Slice(i * n + c0, w));
        }
    }

    /// <summary>
    /// x (p×n) ← the first <paramref name="rows"/> rows of <paramref name="start"/>, then random
    /// rows, orthonormalized; a rank-deficient start is topped up with fresh random rows.
    /// </summary>
    internal static void OrthonormalStart(Span<double> x, int p, ReadOnlySpan<double> start, int rows, int n, Rng rng, BlockWorkspace ws)
    {
        start[..(rows * n)].CopyTo(x);
        rng.FillGaussian(x[(rows * n)..(p * n)]);
        int rank = Orthonormalize(x, p, n, ws);
        TopUpRandom(x, rank, p, n, rng, ws);
    }

    /// <summary>
    /// Rows [rank, p) of x ← random directions orthogonal to rows [0, rank), orthonormalized, so
    /// that x holds p orthonormal rows.
    /// </summary>
    /// <exception cref="InvalidOperationException">Five attempts did not reach p rows.</exception>
    internal static void TopUpRandom(Span<double> x, int rank, int p, int n, Rng rng, BlockWorkspace ws)
    {
        for (int attempt = 0; rank < p; attempt++)
        {
            if (attempt == 5) throw new InvalidOperationException($"Could not build {p} orthonormal start vectors in dimension {n}.");
            var fresh = x.Slice(rank * n, (p - rank) * n);
            rng.FillGaussian(fresh);
            for (int round = 0; round < 2; round++)
                ProjectOut(fresh, p - rank, x[..(rank * n)], rank, n, ws.Coef);
            rank += Orthonormalize(fresh, p - rank, n, ws);
        }
    }

    /// <summary>g ← sym(S·(AS)ᵀ) = SᵀAS for the orthonormal rows S[0..sc) and their images (sc×sc).</summary>
    internal static void ProjectedMatrix(ReadOnlySpan<double> s, ReadOnlySpan<double> aS, int n, int sc, Span<double> g)
    {
        Blas.Gemm(Transpose.No, Transpose.Yes, sc, sc, n, 1.0, s, n, aS, n, 0.0, g, sc);
        for (int i = 0; i < sc; i++)
            for (int j = i + 1; j < sc; j++)
            {
                double avg = 0.5 * (g[i * sc + j] + g[j * sc + i]);
                g[i * sc + j] = avg;
                g[j * sc + i] = avg;
            }
    }

    /// <summary>g ← B·Bᵀ (r×r).</summary>
    internal static void Gram(ReadOnlySpan<double> b, int r, int n, Span<double> g)
        => Blas.Gemm(Transpose.No, Transpose.Yes, r, r, n, 1.0, b, n, b, n, 0.0, g, r);

    /// <summary>B ← B − (B·Qᵀ)·Q: removes the components along the orthonormal rows of Q.</summary>
    internal static void ProjectOut(Span<double> b, int r, ReadOnlySpan<double> q, int qRows, int n, Span<double> coef)
    {
        if (r == 0 || qRows == 0) return;
        var c = coef[..(r * qRows)];
        Blas.Gemm(Transpose.No, Transpose.Yes, r, qRows, n, 1.0, b, n, q, n, 0.0, c, qRows);
        Blas.Gemm(Transpose.No, Transpose.No, r, n, qRows, -1.0, c, qRows, q, n, 1.0, b, n);
    }

    /// <summary>
    /// Orthonormalizes the r rows of B in place and returns the rank kept. Cholesky-QR
    /// (B ← L⁻¹B with BBᵀ = LLᵀ) is used while the Gram matrix is safely positive
    /// definite; otherwise SVQB (scaled eigen-decomposition of BBᵀ, dropping directions
    /// whose eigenvalue is below 1e-14 of the largest). Passes repeat until BBᵀ = I to
    /// within a few ulps times √n, at most three times.
    /// </summary>
    internal static int Orthonormalize(Span<double> b, int r, int n, BlockWorkspace ws)
    {
        double target = Math.Max(1e-14, 8 * Eps * Math.Sqrt(n));
        for (int pass = 0; pass < 4 && r > 0; pass++)
        {
            var g = ws.Gram.AsSpan(0, r * r);
            Gram(b, r, n, g);
            if (pass > 0 && MaxDeviationFromIdentity(g, r) <= target) break;
            if (pass == 3) break;
            var l = ws.Factor.AsSpan(0, r * r);
            g.CopyTo(l);
            if (TryCholesky(l, r, out double minPivot, out double maxPivot) && minPivot > 1e-6 * maxPivot)
            {
                InvertLowerInPlace(l, r);
                TransformRows(b, n, r, l, r, ws);
            }
            else
            {
                ws.SvqbFallbacks++;
                r = Svqb(b, r, n, g, ws);
            }
        }
        return r;
    }

    /// <summary>One SVQB step on B with Gram matrix g; returns the number of rows kept.</summary>
    internal static int Svqb(Span<double> b, int r, int n, Span<double> g, BlockWorkspace ws)
    {
        var d = ws.Diag.AsSpan(0, r);
        double maxDiag = 0;
        for (int i = 0; i < r; i++) maxDiag = Math.Max(maxDiag, g[i * r + i]);
        if (!(maxDiag > 0)) return 0;
        for (int i = 0; i < r; i++)
        {
            double gi = g[i * r + i];
            // A row that is zero relative to the others carries no direction: scale it away.
            d[i] = gi > 1e-28 * maxDiag ? 1.0 / Math.Sqrt(gi) : 0.0;
        }
        var m = ws.Factor.AsSpan(0, r * r);
        for (int i = 0; i < r; i++)
            for (int j = 0; j < r; j++)
                m[i * r + j] = d[i] * g[i * r + j] * d[j];
        var lambda = ws.Eig.AsSpan(0, r);
        Blas.SymmetricEigen(r, m, lambda);
        double lmax = lambda[r - 1];
        if (!(lmax > 0)) return 0;
        var coef = ws.Coef.AsSpan();
        int kept = 0;
        for (int j = r - 1; j >= 0; j--)
        {
            if (!(lambda[j] > 1e-14 * lmax)) break;
            double s = 1.0 / Math.Sqrt(lambda[j]);
            for (int i = 0; i < r; i++) coef[kept * r + i] = m[i * r + j] * d[i] * s;
            kept++;
        }
        TransformRows(b, n, r, coef[..(kept * r)], kept, ws);
        return kept;
    }

    internal static double MaxDeviationFromIdentity(ReadOnlySpan<double> g, int r)
    {
        double dev = 0;
        for (int i = 0; i < r; i++)
            for (int j = 0; j < r; j++)
                dev = Math.Max(dev, Math.Abs(g[i * r + j] - (i == j ? 1.0 : 0.0)));
        return dev;
    }

    /// <summary>In-place lower Cholesky factor of the symmetric r×r matrix a; false if not positive definite.</summary>
    internal static bool TryCholesky(Span<double> a, int r, out double minPivot, out double maxPivot)
    {
        minPivot = double.PositiveInfinity;
        maxPivot = 0;
        for (int j = 0; j < r; j++)
        {
            double s = a[j * r + j];
            for (int p = 0; p < j; p++) s -= a[j * r + p] * a[j * r + p];
            if (!(s > 0) || !double.IsFinite(s)) return false;
            double ljj = Math.Sqrt(s);
            a[j * r + j] = ljj;
            minPivot = Math.Min(minPivot, ljj);
            maxPivot = Math.Max(maxPivot, ljj);
            for (int i = j + 1; i < r; i++)
            {
                double t = a[i * r + j];
                for (int p = 0; p < j; p++) t -= a[i * r + p] * a[j * r + p];
                a[i * r + j] = t / ljj;
            }
        }
        for (int i = 0; i < r; i++)
            for (int j = i + 1; j < r; j++) a[i * r + j] = 0;
        return true;
    }

    /// <summary>Replaces the lower-triangular r×r matrix l by its inverse.</summary>
    internal static void InvertLowerInPlace(Span<double> l, int r)
    {
        for (int j = 0; j < r; j++)
        {
            l[j * r + j] = 1.0 / l[j * r + j];
            for (int i = j + 1; i < r; i++)
            {
                double s = 0;
                for (int p = j; p < i; p++) s += l[i * r + p] * l[p * r + j];
                l[i * r + j] = -s / l[i * r + i];
            }
        }
    }

    /// <summary>
    /// Fills <paramref name="order"/> with the indices of <paramref name="values"/> from most
    /// to least wanted: descending for LA, ascending for SA, descending |θ| for LM (ties by
    /// larger θ, then lower index, so the order is deterministic).
    /// </summary>
    internal static void SortByWhich(ReadOnlySpan<double> values, Which which, Span<int> order)
    {
        int s = values.Length;
        for (int i = 0; i < s; i++) order[i] = i;
        for (int i = 1; i < s; i++)
        {
            int cur = order[i];
            int j = i - 1;
            while (j >= 0 && Before(values[cur], cur, values[order[j]], order[j], which))
            {
                order[j + 1] = order[j];
                j--;
            }
            order[j + 1] = cur;
        }
    }

    static bool Before(double a, int ia, double b, int ib, Which which)
    {
        switch (which)
        {
            case Which.LargestAlgebraic:
                if (a != b) return a > b;
                break;
            case Which.SmallestAlgebraic:
                if (a != b) return a < b;
                break;
            default:
                double ma = Math.Abs(a), mb = Math.Abs(b);
                if (ma != mb) return ma > mb;
                if (a != b) return a > b;
                break;
        }
        return ia < ib;
    }

    /// <summary>Sorts finished pairs into the order <see cref="EigenResult"/> promises.</summary>
    internal static EigenResult Package(Which which, double[] values, double[] vectors, double[] residuals, bool[] converged,
        int n, int matvecs, int iterations, bool certified = true, string? certificate = null)
    {
        int k = values.Length;
        var order = new int[k];
        SortByWhich(values, which, order);
        var v = new double[k];
        var vec = new double[k * n];
        var res = new double[k];
        var conv = new bool[k];
        for (int i = 0; i < k; i++)
        {
            int j = order[i];
            v[i] = values[j];
            res[i] = residuals[j];
            conv[i] = converged[j];
            vectors.AsSpan(j * n, n).CopyTo(vec.AsSpan(i * n, n));
        }
        return new EigenResult(which, v, vec, res, conv, n, matvecs, iterations, certified, certificate);
    }

    /// <summary>
    /// The cluster rule of the block solvers: a block Krylov space of width b holds at most b
    /// independent vectors of one eigenspace, so when b or more of the returned values agree
    /// (to their residuals plus 2·tol·scale) and the cluster ends before the k-th value, further
    /// copies, which would push values out of the set, cannot be ruled out. A cluster reaching
    /// the k-th value is harmless for the values (missed copies would tie with it) but its
    /// multiplicity is not known, and the certificate says so. Values must be in
    /// the result's order (as <see cref="Package"/> leaves them); <c>cluster</c> returns the size of
    /// the cluster that reached the width (0 when certified).
    /// </summary>
    internal static (bool Certified, string Reason) ClusterRule(ReadOnlySpan<double> values, ReadOnlySpan<double> residuals,
        int width, double tol, double normEstimate, string solver, out int cluster)
    {
        cluster = 0;
        int k = values.Length;
        double floor = ScaleFloor(normEstimate);
        int start = 0, last = 0;
        for (int i = 1; i <= k; i++)
        {
            bool same = i < k && Math.Abs(values[i] - values[i - 1])
                <= 2 * tol * Math.Max(Math.Max(Math.Abs(values[i]), Math.Abs(values[i - 1])), floor) + residuals[i] + residuals[i - 1];
            if (same) continue;
            int size = i - start;
            if (size >= width && i < k)
            {
                cluster = size;
                return (false, string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"{solver}: {size} copies of {values[start]:G6} found with block width {width}; more copies cannot be ruled out (use a block wider than the multiplicity)."));
            }
            last = size;
            start = i;
        }
        // The cluster at the k-th value is cut by k, not by the spectrum: its copies beyond the set
        // would tie with λ_k, so the values are right but how many copies λ_k has is unknown.
        return (true, string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{solver}: no eigenvalue before the k-th reached the block width {width}, so each of them has all its copies in the set; the k-th value {values[k - 1]:G6} appears {last} time{(last == 1 ? "" : "s")} in the set, and copies of it outside the set cannot be counted (they would tie with it)."));
    }

    internal static void CheckWhich(Which which, string name)
    {
        if (which is not (Which.LargestAlgebraic or Which.LargestMagnitude or Which.SmallestAlgebraic))
            throw new ArgumentOutOfRangeException(name, $"Argument '{name}' was {(int)which}; expected LargestAlgebraic, LargestMagnitude or SmallestAlgebraic.");
    }

    /// <summary>The common k check: 1 ≤ k ≤ n − 1 (k = n is a dense problem, not an iterative one).</summary>
    internal static void CheckK(int k, int n)
    {
        if (n < 2)
            throw new ArgumentException($"Argument 'op' has size {n}; expected an operator of size at least 2.", "op");
        if (k < 1 || k >= n)
            throw new ArgumentOutOfRangeException(nameof(k), $"Argument 'k' was {k}; expected 1 <= k < n = {n} (for all n eigenpairs use a dense solver).");
    }
}

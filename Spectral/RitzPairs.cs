using Curvature.Core;

namespace Curvature.Spectral;

/// <summary>
/// What the Rayleigh–Ritz step needs from a Krylov basis with stored products: its size, an
/// estimate of ‖A‖, the eigendecomposition of the projected matrix, and combinations of the
/// basis rows and of their products. <see cref="LanczosProcess"/> and
/// <see cref="BlockLanczosProcess"/> implement it.
/// </summary>
internal interface IRitzBasis
{
    /// <summary>Basis rows whose products are known.</summary>
    int M { get; }

    /// <summary>The largest ‖A v_j‖ seen: a lower bound on ‖A‖.</summary>
    double NormEstimate { get; }

    /// <summary>t ← eigenvectors (column i, M×M row-major) of the projected matrix; theta ← eigenvalues ascending.</summary>
    void Decompose(Span<double> t, Span<double> theta);

    /// <summary>y ← C·V_M and ay ← C·AV_M for the r×M coefficient block C.</summary>
    void Combine(ReadOnlySpan<double> coef, int r, Span<double> y, Span<double> ay);
}

/// <summary>The Rayleigh–Ritz steps the Lanczos solvers share (docs/spectral.md, "Residual bound, restart, and true residuals").</summary>
internal static class RitzPairs
{
    /// <summary>Decomposes the projected matrix and orders its Ritz values by <paramref name="which"/>.</summary>
    public static void Decompose(IRitzBasis basis, Which which, double[] t, double[] theta, int[] order)
    {
        int m = basis.M;
        basis.Decompose(t, theta);
        BlockOps.SortByWhich(theta.AsSpan(0, m), which, order.AsSpan(0, m));
    }

    /// <summary>A lower bound on ‖A‖: the extreme Ritz values and the largest ‖A v_j‖ seen.</summary>
    public static double NormEstimate(IRitzBasis basis, double[] theta)
    {
        int m = basis.M;
        return Math.Max(basis.NormEstimate, Math.Max(Math.Abs(theta[0]), Math.Abs(theta[m - 1])));
    }

    /// <summary>
    /// Forms the k wanted Ritz pairs (columns order[0..k) of t) and their true residuals
    /// ‖(AV)s − θ·Vs‖ from the stored products, with θ the Rayleigh quotient of each y, and
    /// flags each converged when its residual is at most tol·max(|θ|, ScaleFloor(‖A‖ estimate)).
    /// </summary>
    public static void Finish(IRitzBasis basis, int k, double tol, double normEstimate, double[] t, int[] order, double[] coef,
        double[] y, double[] ay, double[] values, double[] residuals, bool[] converged)
    {
        int m = basis.M, n = y.Length / k;
        for (int i = 0; i < k; i++)
        {
            int col = order[i];
            for (int j = 0; j < m; j++) coef[i * m + j] = t[j * m + col];
        }
        basis.Combine(coef.AsSpan(0, k * m), k, y, ay);
        double normEst = normEstimate;
        for (int i = 0; i < k; i++)
        {
            var yi = y.AsSpan(i * n, n);
            var ayi = ay.AsSpan(i * n, n);
            double rq = Blas.Dot(yi, ayi) / Blas.Dot(yi, yi);
            values[i] = rq;
            Blas.Axpy(-rq, yi, ayi);
            residuals[i] = Blas.Nrm2(ayi);
            normEst = Math.Max(normEst, Math.Abs(rq));
        }
        double floor = BlockOps.ScaleFloor(normEst);
        for (int i = 0; i < k; i++)
            converged[i] = residuals[i] <= tol * Math.Max(Math.Abs(values[i]), floor);
    }
}

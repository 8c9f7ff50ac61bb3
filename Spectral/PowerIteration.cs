using Curvature.Core;

namespace Curvature.Spectral;

/// <summary>
/// Power iteration with deflation (the PyHessian scheme): pair j iterates v ← A·v with v
/// kept orthogonal to the j pairs already found. The baseline the Krylov solvers are
/// compared against; it needs many more products.
/// </summary>
public static class PowerIteration
{
    /// <summary>Default power steps per pair.</summary>
    public const int DefaultMaxIterations = 1000;

    /// <summary>
    /// The k extreme eigenpairs of <paramref name="op"/>. LargestMagnitude is plain power
    /// iteration; LargestAlgebraic and SmallestAlgebraic run it on A + ρI and ρI − A with
    /// ρ ≥ the spectral radius estimated by a first power run. Uses
    /// <see cref="EigenOptions.Which"/>, <see cref="EigenOptions.Tolerance"/>,
    /// <see cref="EigenOptions.MaxMatvecs"/>, <see cref="EigenOptions.StartBlock"/> (the sum of
    /// its rows starts the first pair), <see cref="EigenOptions.Seed"/> and
    /// <see cref="EigenOptions.MaxIterations"/> (steps per pair, default 1000).
    /// </summary>
    /// <exception cref="ArgumentException">An argument or option is out of range; the message names it.</exception>
    public static EigenResult TopK(ILinearOperator op, int k, EigenOptions? options = null)
    {
        Guard.NotNull(op);
        options ??= new EigenOptions();
        int n = op.Size;
        options.Validate(k, n);
        int maxIterations = options.MaxIterations ?? DefaultMaxIterations;
        Guard.Positive(maxIterations, "options.MaxIterations");
        var state = new State(n, k, new Rng(options.Seed), options.StartVectorSum(n), options.MaxMatvecs);

        double alpha = 1, sigma = 0;
        if (options.Which != Which.LargestMagnitude)
        {
            // ρ bounds the spectrum so A + ρI (or ρI − A) is positive semidefinite up to the
            // estimate's error, and its dominant pairs are A's algebraically largest (smallest).
            // A residual of 1e-3·|μ| puts μ within 0.1% of a dominant eigenvalue; the 1% margin covers it.
            double mu = Iterate(op, state, 0, 1, 0, Math.Max(options.Tolerance, 1e-3), maxIterations, out _);
            sigma = 1.01 * Math.Abs(mu) + double.Epsilon;
            alpha = options.Which == Which.LargestAlgebraic ? 1 : -1;
        }
        for (int j = 0; j < k; j++)
            Iterate(op, state, j, alpha, sigma, options.Tolerance, maxIterations, out _);

        // Each pair converged only in the complement of the earlier ones, whose own small
        // errors couple them; Rayleigh–Ritz on the span of all found vectors (with their
        // stored products) removes that coupling before the true residuals are judged.
        var values = new double[k];
        var residuals = new double[k];
        var converged = new bool[k];
        state.RayleighRitz(values);
        double floor = BlockOps.ScaleFloor(Math.Max(state.NormEstimate, values.Max(Math.Abs)));
        for (int j = 0; j < k; j++)
        {
            var yj = state.Found.AsSpan(j * n, n);
            var ayj = state.Products.AsSpan(j * n, n);
            Blas.Axpy(-values[j], yj, ayj);
            residuals[j] = Blas.Nrm2(ayj);
            converged[j] = !state.Starved && residuals[j] <= options.Tolerance * Math.Max(Math.Abs(values[j]), floor);
        }
        // Every pair started from a fresh random vector in the complement of the earlier ones, so
        // a further copy of a found eigenvalue keeps a non-zero component and is reached next.
        return BlockOps.Package(options.Which, values, state.Found, residuals, converged, n, state.Matvecs, state.Steps, true,
            "power: each pair iterated from a fresh random vector in the complement of the pairs found before it.");
    }

    sealed class State(int n, int k, Rng rng, double[]? start, int maxMatvecs)
    {
        public double[]? Start = start;
        public readonly int MaxMatvecs = maxMatvecs;
        /// <summary>A pair got no product because the budget ran out: its stored product is not A·v.</summary>
        public bool Starved;
        public readonly int N = n;
        public readonly int K = k;
        public readonly Rng Rng = rng;
        public readonly double[] V = new double[n];
        public readonly double[] W = new double[n];
        public readonly double[] Found = new double[k * n];
        public readonly double[] Products = new double[k * n];
        public readonly BlockWorkspace Ws = new(n, k);
        public int Matvecs;
        public int Steps;
        public double NormEstimate;

        public void Deflate(Span<double> x, int rows)
        {
            for (int round = 0; round < 2; round++)
                BlockOps.ProjectOut(x, 1, Found.AsSpan(0, rows * N), rows, N, Ws.Coef);
        }

        public void RayleighRitz(double[] values)
        {
            int k = K, n = N;
            var g = Ws.Gram.AsSpan(0, k * k);
            Blas.Gemm(Transpose.No, Transpose.Yes, k, k, n, 1.0, Found, n, Products, n, 0.0, g, k);
            for (int i = 0; i < k; i++)
                for (int j = i + 1; j < k; j++)
                    g[i * k + j] = g[j * k + i] = 0.5 * (g[i * k + j] + g[j * k + i]);
            Blas.SymmetricEigen(k, g, values);
            var coef = Ws.Coef.AsSpan(0, k * k);
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++) coef[i * k + j] = g[j * k + i];
            BlockOps.TransformRows(Found, n, k, coef, k, Ws);
            BlockOps.TransformRows(Products, n, k, coef, k, Ws);
        }
    }

    /// <summary>
    /// Power iteration on B = αA + σI (α = ±1) in the complement of the first
    /// <paramref name="slot"/> found vectors; stores the vector and its A-product in row
    /// <paramref name="slot"/> and returns its Rayleigh quotient for A. Convergence is judged
    /// on the deflated residual (I − YYᵀ)(Av − λv).
    /// </summary>
    static double Iterate(ILinearOperator op, State st, int slot, double alpha, double sigma,
        double tol, int maxIterations, out bool converged)
    {
        int n = st.N;
        var v = st.V.AsSpan();
        var w = st.W.AsSpan();
        var av = st.Products.AsSpan(slot * n, n);
        if (st.Start is { } s0)
        {
            s0.CopyTo(v);
            st.Start = null;
        }
        else
        {
            st.Rng.FillGaussian(v);
        }
        st.Deflate(v, slot);
        Blas.Scal(1.0 / Blas.Nrm2(v), v);
        double lambda = 0;
        converged = false;
        if (st.Matvecs >= st.MaxMatvecs) st.Starved = true;
        for (int it = 0; it < maxIterations && st.Matvecs < st.MaxMatvecs; it++)
        {
            op.Apply(v, av);
            st.Matvecs++;
            st.Steps++;
            double avNorm = Blas.Nrm2(av);
            if (!double.IsFinite(avNorm))
                throw new InvalidOperationException($"The operator returned a non-finite product in power iteration step {it}; expected finite values.");
            st.NormEstimate = Math.Max(st.NormEstimate, avNorm);
            lambda = Blas.Dot(v, av);
            av.CopyTo(w);
            Blas.Axpy(-lambda, v, w);
            st.Deflate(w, slot);
            converged = Blas.Nrm2(w) <= tol * Math.Max(Math.Abs(lambda), BlockOps.ScaleFloor(st.NormEstimate));
            if (converged || it == maxIterations - 1 || st.Matvecs >= st.MaxMatvecs) break;
            // w ← B·v = α·Av + σ·v, kept in the complement of the found vectors.
            av.CopyTo(w);
            if (alpha != 1) Blas.Scal(alpha, w);
            if (sigma != 0) Blas.Axpy(sigma, v, w);
            st.Deflate(w, slot);
            double nrm = Blas.Nrm2(w);
            if (!(nrm > 0))
            {
                // v hit the null space of B: any direction in the complement will do.
                st.Rng.FillGaussian(w);
                st.Deflate(w, slot);
                nrm = Blas.Nrm2(w);
            }
            for (int i = 0; i < n; i++) v[i] = w[i] / nrm;
        }
        v.CopyTo(st.Found.AsSpan(slot * n, n));
        return lambda;
    }
}

using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Curvature.Core;

/// <summary>
/// Pure managed fallback: a cache- and register-blocked SIMD GEMM (see
/// <see cref="ManagedKernel"/>), SIMD level-1/2 kernels and MathNet's symmetric
/// eigensolver. Used when no native library loads, or when CURVATURE_BLAS=managed.
/// Results are the same bits for any thread count.
/// </summary>
public sealed class ManagedBlas : BlasBackend
{
    /// <summary>The fastest kernel this machine supports.</summary>
    public static readonly ManagedBlas Instance = new(
        Avx512F.IsSupported ? ManagedKernel.Avx512 : Avx2.IsSupported && Fma.IsSupported ? ManagedKernel.Avx2Fma : ManagedKernel.Portable);

    /// <summary>The AVX2/FMA kernel, or null where the CPU lacks AVX2 or FMA (tests and benchmarks compare kernels).</summary>
    public static readonly ManagedBlas? Avx2Kernel = Avx2.IsSupported && Fma.IsSupported ? new(ManagedKernel.Avx2Fma) : null;

    /// <summary>The AVX-512 kernel, or null where the CPU lacks AVX-512F.</summary>
    public static readonly ManagedBlas? Avx512Kernel = Avx512F.IsSupported ? new(ManagedKernel.Avx512) : null;

    /// <summary>The <see cref="Vector{T}"/> kernel regardless of the machine, so tests can run it everywhere.</summary>
    public static readonly ManagedBlas Portable = new(ManagedKernel.Portable);

    // Above this many elements of A, y = Ax splits over threads: one contiguous range of rows
    // per thread, each edge a multiple of every SIMD width. Each yᵢ is computed by the same
    // expressions wherever the edges fall, so the bits do not depend on the thread count.
    const long GemvParallelThreshold = 1L << 18;
    const int GemvAlign = 16;

    ManagedBlas(ManagedKernel kernel) => Kernel = kernel;

    /// <summary>The GEMM micro-kernel this instance runs.</summary>
    public ManagedKernel Kernel { get; }

    /// <inheritdoc/>
    public override string Name => "managed";
    /// <inheritdoc/>
    public override string? LibraryPath => null;
    /// <inheritdoc/>
    public override string Config => $"managed {Kernel} GEMM {ManagedGemm.Tile(Kernel).mr}x{ManagedGemm.Tile(Kernel).nr} tile, KC={ManagedGemm.KC} (Vector<double>.Count={Vector<double>.Count})";

    /// <inheritdoc/>
    protected override void GemmCore(Transpose transA, Transpose transB, int m, int n, int k, double alpha,
        ReadOnlySpan<double> a, int lda, ReadOnlySpan<double> b, int ldb, double beta, Span<double> c, int ldc, int threads)
        => ManagedGemm.Run(Kernel, threads, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    /// <inheritdoc/>
    protected override unsafe void GemvCore(Transpose transA, int m, int n, double alpha, ReadOnlySpan<double> a, int lda,
        ReadOnlySpan<double> x, double beta, Span<double> y, int threads)
    {
        int outer = transA == Transpose.No ? m : n;
        // Aᵀx stays on one thread: split by columns of y, every thread streams all rows of A
        // in partial-row pieces, and that measured slower than one thread in every run.
        int panels = transA == Transpose.No && (long)m * n >= GemvParallelThreshold ? Math.Min(threads, outer / GemvAlign) : 1;
        fixed (double* pa = a, px = x, py = y)
        {
            var job = new GemvJob(transA, m, n, alpha, pa, lda, px, beta, py);
            if (panels <= 1)
            {
                job.Run(0, outer);
                return;
            }
            var work = GemvWork.Rent();
            try
            {
                work.Set(job, outer, panels);
                BlasPool.Run(work, panels, threads);
            }
            finally
            {
                GemvWork.Return(work);
            }
        }
    }

    /// <summary>Contiguous row ranges of y = αAx + βy, one per panel; each yᵢ is the same expression wherever the edges fall.</summary>
    sealed class GemvWork : ParallelWork
    {
        [ThreadStatic] static GemvWork? _cached;
        GemvJob _job;
        int _outer, _chunk, _panels;

        public static GemvWork Rent()
        {
            var w = _cached;
            if (w != null) { _cached = null; return w; }
            return new GemvWork();
        }

        public static void Return(GemvWork w)
        {
            w._job = default;
            _cached = w;
        }

        public void Set(GemvJob job, int outer, int panels)
        {
            _job = job;
            _outer = outer;
            _panels = panels;
            _chunk = (outer / panels + GemvAlign - 1) / GemvAlign * GemvAlign;
        }

        protected override void RunPanel(int q) =>
            _job.Run(Math.Min(_outer, q * _chunk), q == _panels - 1 ? _outer : Math.Min(_outer, (q + 1) * _chunk));
    }

    readonly unsafe struct GemvJob(Transpose transA, int m, int n, double alpha, double* a, int lda, double* x, double beta, double* y)
    {
        /// <summary>Rows [lo, hi) of y = αAx + βy, or columns [lo, hi) of y = αAᵀx + βy.</summary>
        public void Run(int lo, int hi)
        {
            if (transA == Transpose.No) RowsNoTrans(lo, hi);
            else ColumnsTrans(lo, hi);
        }

        // Four rows share each load of x; each row keeps its own accumulators.
        void RowsNoTrans(int lo, int hi)
        {
            int w = Vector<double>.Count;
            int i = lo;
            for (; i + 3 < hi; i += 4)
            {
                double* r0 = a + (long)i * lda, r1 = r0 + lda, r2 = r1 + lda, r3 = r2 + lda;
                Vector<double> s0 = default, s1 = default, s2 = default, s3 = default;
                int j = 0;
                for (; j + w <= n; j += w)
                {
                    var xv = Unsafe.ReadUnaligned<Vector<double>>(x + j);
                    s0 += Unsafe.ReadUnaligned<Vector<double>>(r0 + j) * xv;
                    s1 += Unsafe.ReadUnaligned<Vector<double>>(r1 + j) * xv;
                    s2 += Unsafe.ReadUnaligned<Vector<double>>(r2 + j) * xv;
                    s3 += Unsafe.ReadUnaligned<Vector<double>>(r3 + j) * xv;
                }
                double t0 = Vector.Sum(s0), t1 = Vector.Sum(s1), t2 = Vector.Sum(s2), t3 = Vector.Sum(s3);
                for (; j < n; j++)
                {
                    t0 += r0[j] * x[j]; t1 += r1[j] * x[j]; t2 += r2[j] * x[j]; t3 += r3[j] * x[j];
                }
                Store(i, t0); Store(i + 1, t1); Store(i + 2, t2); Store(i + 3, t3);
            }
            for (; i < hi; i++)
            {
                double* r0 = a + (long)i * lda;
                Vector<double> s0 = default;
                int j = 0;
                for (; j + w <= n; j += w)
                    s0 += Unsafe.ReadUnaligned<Vector<double>>(r0 + j) * Unsafe.ReadUnaligned<Vector<double>>(x + j);
                double t0 = Vector.Sum(s0);
                for (; j < n; j++) t0 += r0[j] * x[j];
                Store(i, t0);
            }
        }

        void Store(int i, double s) => y[i] = beta == 0 ? alpha * s : alpha * s + beta * y[i];

        // y[lo:hi] ← β·y + Σ_i (α·x_i)·A[i, lo:hi], four rows of A per pass over y so y
        // is loaded and stored a quarter as often.
        void ColumnsTrans(int lo, int hi)
        {
            int w = Vector<double>.Count;
            double* yl = y + lo;
            int len = hi - lo;
            if (beta == 0) new Span<double>(yl, len).Clear();
            else if (beta != 1) for (int j = 0; j < len; j++) yl[j] *= beta;
            int i = 0;
            for (; i + 3 < m; i += 4)
            {
                double x0 = alpha * x[i], x1 = alpha * x[i + 1], x2 = alpha * x[i + 2], x3 = alpha * x[i + 3];
                double* r0 = a + (long)i * lda + lo, r1 = r0 + lda, r2 = r1 + lda, r3 = r2 + lda;
                var v0 = new Vector<double>(x0); var v1 = new Vector<double>(x1);
                var v2 = new Vector<double>(x2); var v3 = new Vector<double>(x3);
                int j = 0;
                for (; j + w <= len; j += w)
                {
                    var acc = Unsafe.ReadUnaligned<Vector<double>>(yl + j);
                    acc += (v0 * Unsafe.ReadUnaligned<Vector<double>>(r0 + j) + v1 * Unsafe.ReadUnaligned<Vector<double>>(r1 + j))
                         + (v2 * Unsafe.ReadUnaligned<Vector<double>>(r2 + j) + v3 * Unsafe.ReadUnaligned<Vector<double>>(r3 + j));
                    Unsafe.WriteUnaligned(yl + j, acc);
                }
                for (; j < len; j++) yl[j] += (x0 * r0[j] + x1 * r1[j]) + (x2 * r2[j] + x3 * r3[j]);
            }
            for (; i < m; i++)
            {
                double x0 = alpha * x[i];
                double* r0 = a + (long)i * lda + lo;
                var v0 = new Vector<double>(x0);
                int j = 0;
                for (; j + w <= len; j += w)
                    Unsafe.WriteUnaligned(yl + j, Unsafe.ReadUnaligned<Vector<double>>(yl + j) + v0 * Unsafe.ReadUnaligned<Vector<double>>(r0 + j));
                for (; j < len; j++) yl[j] += x0 * r0[j];
            }
        }
    }

    /// <inheritdoc/>
    protected override double DotCore(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        var vx = MemoryMarshal.Cast<double, Vector<double>>(x);
        var vy = MemoryMarshal.Cast<double, Vector<double>>(y);
        Vector<double> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        int v = 0, nv = vx.Length;
        for (; v + 3 < nv; v += 4)
        {
            acc0 += vx[v] * vy[v];
            acc1 += vx[v + 1] * vy[v + 1];
            acc2 += vx[v + 2] * vy[v + 2];
            acc3 += vx[v + 3] * vy[v + 3];
        }
        for (; v < nv; v++) acc0 += vx[v] * vy[v];
        double s = Vector.Sum((acc0 + acc1) + (acc2 + acc3));
        for (int i = nv * Vector<double>.Count; i < x.Length; i++) s += x[i] * y[i];
        return s;
    }

    /// <inheritdoc/>
    protected override void AxpyCore(double alpha, ReadOnlySpan<double> x, Span<double> y)
    {
        var vx = MemoryMarshal.Cast<double, Vector<double>>(x);
        var vy = MemoryMarshal.Cast<double, Vector<double>>(y);
        var va = new Vector<double>(alpha);
        for (int v = 0; v < vx.Length; v++) vy[v] += va * vx[v];
        for (int i = vx.Length * Vector<double>.Count; i < x.Length; i++) y[i] += alpha * x[i];
    }

    /// <inheritdoc/>
    protected override void ScalCore(double alpha, Span<double> x)
    {
        var vx = MemoryMarshal.Cast<double, Vector<double>>(x);
        var va = new Vector<double>(alpha);
        for (int v = 0; v < vx.Length; v++) vx[v] *= va;
        for (int i = vx.Length * Vector<double>.Count; i < x.Length; i++) x[i] *= alpha;
    }

    // Smallest sum of squares the unscaled pass may return: each square that underflowed is
    // off by at most 2^-1075, so together they move the sum by at most n·2^-1075, which is
    // below one rounding (2^-53 of the sum) for any n up to 2^122 (docs/core.md, NRM2).
    static readonly double Nrm2SafeMin = Math.ScaleB(1.0, -900);

    /// <inheritdoc/>
    protected override double Nrm2Core(ReadOnlySpan<double> x)
    {
        // Fast path: plain sum of squares. It is exact to rounding unless a square
        // overflowed (sum = ∞) or the whole sum is so small that underflowed squares matter.
        double s = DotCore(x, x);
        if (double.IsFinite(s) && s >= Nrm2SafeMin) return Math.Sqrt(s);
        return Nrm2Scaled(x);
    }

    /// <summary>
    /// ‖x‖ = 2^e·‖2^−e·x‖ with 2^e the power of two nearest max|xᵢ|: the scaled squares lie
    /// in [0, 4] for the largest and cannot overflow, and the scaling itself is exact.
    /// </summary>
    static double Nrm2Scaled(ReadOnlySpan<double> x)
    {
        double max = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double ax = Math.Abs(x[i]);
            if (double.IsNaN(ax)) return double.NaN;
            if (ax > max) max = ax;
        }
        if (max == 0 || double.IsInfinity(max)) return max;
        int e = Math.ILogB(max);
        double s = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double t = Math.ScaleB(x[i], -e);
            s += t * t;
        }
        return Math.ScaleB(Math.Sqrt(s), e);
    }

    /// <inheritdoc/>
    protected override void SymmetricEigenCore(int n, Span<double> a, Span<double> eigenvalues)
    {
        var m = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(n, n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                m[i, j] = a[i * n + j];
        var evd = m.Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric);
        // MathNet's symmetric path (Householder tridiagonalisation + implicit QL) sorts λ
        // ascending, matching dsyevd; sorting again costs nothing and does not rely on it.
        var order = new int[n];
        var lambda = new double[n];
        for (int j = 0; j < n; j++) { order[j] = j; lambda[j] = evd.EigenValues[j].Real; }
        Array.Sort(lambda, order);
        lambda.CopyTo(eigenvalues);
        var v = evd.EigenVectors;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                a[i * n + j] = v[i, order[j]];
    }
}

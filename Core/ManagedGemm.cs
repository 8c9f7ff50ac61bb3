using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Curvature.Core;

/// <summary>Which micro-kernel the managed GEMM runs.</summary>
public enum ManagedKernel
{
    /// <summary>6×8 register tile on AVX2 + FMA (12 ymm accumulators).</summary>
    Avx2Fma,

    /// <summary>6×8 tile on <see cref="Vector{T}"/>, for machines without AVX2/FMA.</summary>
    Portable,

    /// <summary>12×16 register tile on AVX-512F (24 zmm accumulators), chosen where <c>Avx512F.IsSupported</c>.</summary>
    Avx512,
}

/// <summary>
/// Cache-blocked, register-blocked GEMM in the Goto/BLIS layout: C is swept in NC-wide
/// column blocks; each k-block of KC columns of op(A) / rows of op(B) is packed once
/// (B into NR-wide panels, A into MR-tall panels per MC-row block) so the micro-kernel
/// streams both operands contiguously from L1 (B panel) and L2 (A block).
/// Threads split the MC-row blocks; every element of C is still summed over the same
/// KC-blocks in the same order by the same kernel, so the bits do not depend on the
/// thread count.
/// </summary>
internal static unsafe class ManagedGemm
{
    internal const int MR = 6, NR = 8;

    // The AVX-512 tile: 12 rows × 16 columns = 24 zmm accumulators of 8 doubles.
    internal const int MR512 = 12, NR512 = 16;

    /// <summary>Register tile (rows, columns) of a kernel.</summary>
    internal static (int mr, int nr) Tile(ManagedKernel kernel) => kernel == ManagedKernel.Avx512 ? (MR512, NR512) : (MR, NR);

    // KC fixes the summation split of every C element, so it must never depend on the
    // thread count or on the machine. MC and NC only decide who computes what and when.
    internal const int KC = 256;
    const int MC = 72, NC = 4080;

    // Below this many multiply-adds the packing costs more than it saves.
    const long SmallProblem = 16 * 16 * 16;

    // Below this many multiply-adds one thread beats waking a second one.
    const long ParallelThreshold = 96L * 96 * 96;

    public static void Run(ManagedKernel kernel, int threads, Transpose transA, Transpose transB, int m, int n, int k,
        double alpha, ReadOnlySpan<double> a, int lda, ReadOnlySpan<double> b, int ldb, double beta, Span<double> c, int ldc)
    {
        fixed (double* pa = a, pb = b, pc = c)
        {
            if ((long)m * n * k <= SmallProblem)
            {
                Naive(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
                return;
            }
            var job = Job.Rent();
            try
            {
                job.Set(kernel, transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
                job.Execute((long)m * n * k >= ParallelThreshold ? threads : 1);
            }
            finally
            {
                Job.Return(job);
            }
        }
    }

    static void Naive(Transpose transA, Transpose transB, int m, int n, int k, double alpha,
        double* a, int lda, double* b, int ldb, double beta, double* c, int ldc)
    {
        // op(A)(i,p) and op(B)(p,j) as (row stride, column stride) pairs.
        long ars = transA == Transpose.No ? lda : 1, acs = transA == Transpose.No ? 1 : lda;
        long brs = transB == Transpose.No ? ldb : 1, bcs = transB == Transpose.No ? 1 : ldb;
        for (int i = 0; i < m; i++)
        {
            double* ai = a + i * ars;
            double* ci = c + (long)i * ldc;
            for (int j = 0; j < n; j++)
            {
                double* bj = b + j * bcs;
                double s = 0;
                for (int p = 0; p < k; p++) s += ai[p * acs] * bj[p * brs];
                ci[j] = beta == 0 ? alpha * s : alpha * s + beta * ci[j];
            }
        }
    }

    /// <summary>
    /// Packed buffers that belong to one thread, pinned (never moved by the GC) and aligned
    /// to 64 bytes so each 8-wide row of a B panel is exactly one cache line.
    /// </summary>
    sealed class Workspace
    {
        // One slot for the packed B block (held by the calling thread for the whole call)
        // and one for packed A blocks (held per row block, possibly by the same thread).
        [ThreadStatic] static Workspace? _cachedB;
        [ThreadStatic] static Workspace? _cachedA;

        double[] _array = [];
        double* _aligned;
        int _capacity;

        // A workspace is only cached while no one on this thread holds it, so a nested or
        // re-entrant GEMM on the same thread gets a fresh one instead of clobbering it.
        public static Workspace RentB()
        {
            var w = _cachedB;
            if (w != null) { _cachedB = null; return w; }
            return new Workspace();
        }

        public static void ReturnB(Workspace w) => _cachedB = w;

        public static Workspace RentA()
        {
            var w = _cachedA;
            if (w != null) { _cachedA = null; return w; }
            return new Workspace();
        }

        public static void ReturnA(Workspace w) => _cachedA = w;

        public double* Get(int length)
        {
            if (length > _capacity)
            {
                _array = GC.AllocateUninitializedArray<double>(length + 8, pinned: true);
                fixed (double* p = _array)
                {
                    long misalign = (long)p & 63;
                    _aligned = misalign == 0 ? p : (double*)((byte*)p + (64 - misalign));
                }
                _capacity = length;
            }
            return _aligned;
        }
    }

    sealed class Job : ParallelWork
    {
        [ThreadStatic] static Job? _cached;

        ManagedKernel _kernel;
        int _mr, _nr;
        Transpose _transA, _transB;
        int _m, _n, _k, _lda, _ldb, _ldc;
        double _alpha, _beta;
        double* _a, _b, _c;

        // Current (jc, pc) block, shared read-only by the workers.
        int _jc, _nc, _pc, _kc, _mc;
        double _betaEff;
        double* _bPacked;

        public static Job Rent()
        {
            var j = _cached;
            if (j != null) { _cached = null; return j; }
            return new Job();
        }

        public static void Return(Job j)
        {
            j._a = j._b = j._c = j._bPacked = null;
            _cached = j;
        }

        public void Set(ManagedKernel kernel, Transpose transA, Transpose transB, int m, int n, int k, double alpha,
            double* a, int lda, double* b, int ldb, double beta, double* c, int ldc)
        {
            _kernel = kernel; _transA = transA; _transB = transB;
            (_mr, _nr) = Tile(kernel);
            _m = m; _n = n; _k = k; _alpha = alpha; _beta = beta;
            _a = a; _lda = lda; _b = b; _ldb = ldb; _c = c; _ldc = ldc;
        }

        public void Execute(int threads)
        {
            // Row blocks of at most MC rows, as many per thread and as equal as MR allows
            // (m = 256 on 2 threads: 66+66 | 66+58, not 72+72 | 72+40). MC only moves work
            // between threads, it does not change any element's arithmetic.
            int perThread = (_m + threads * MC - 1) / (threads * MC);
            int mc = Math.Min(MC, RoundUp((_m + threads * perThread - 1) / (threads * perThread), _mr));
            int rowBlocks = (_m + mc - 1) / mc;
            _mc = mc;
            var ws = Workspace.RentB();
            try
            {
                for (int jc = 0; jc < _n; jc += NC)
                {
                    int nc = Math.Min(NC, _n - jc);
                    for (int pc = 0; pc < _k; pc += KC)
                    {
                        int kc = Math.Min(KC, _k - pc);
                        _jc = jc; _nc = nc; _pc = pc; _kc = kc;
                        // The first k-block applies β; later ones accumulate onto what it wrote.
                        _betaEff = pc == 0 ? _beta : 1.0;
                        _bPacked = ws.Get(kc * RoundUp(nc, _nr));
                        PackB(_transB, _b, _ldb, pc, kc, jc, nc, _bPacked, _nr);
                        if (threads > 1 && rowBlocks > 1)
                        {
                            BlasPool.Run(this, rowBlocks, threads);
                        }
                        else
                        {
                            for (int blk = 0; blk < rowBlocks; blk++) RunRowBlock(blk);
                        }
                    }
                }
            }
            finally
            {
                Workspace.ReturnB(ws);
            }
        }

        protected override void RunPanel(int blk) => RunRowBlock(blk);

        void RunRowBlock(int blk)
        {
            int ic = blk * _mc;
            int mcb = Math.Min(_mc, _m - ic);
            int kc = _kc, nc = _nc;
            var ws = Workspace.RentA();
            try
            {
                int MRk = _mr, NRk = _nr;
                double* aPacked = ws.Get(kc * RoundUp(mcb, MRk));
                PackA(_transA, _a, _lda, ic, mcb, _pc, kc, aPacked, MRk);
                double* tile = stackalloc double[MR512 * NR512];
                for (int jr = 0; jr < nc; jr += NRk)
                {
                    int nr = Math.Min(NRk, nc - jr);
                    double* bp = _bPacked + (long)jr * kc;
                    for (int ir = 0; ir < mcb; ir += MRk)
                    {
                        int mr = Math.Min(MRk, mcb - ir);
                        double* ap = aPacked + (long)ir * kc;
                        double* cp = _c + (long)(ic + ir) * _ldc + _jc + jr;
                        if (_kernel == ManagedKernel.Avx512)
                        {
                            if (mr == MRk && nr == NRk)
                            {
                                KernelAvx512(kc, ap, bp, cp, _ldc, _alpha, _betaEff);
                                continue;
                            }
                            KernelAvx512(kc, ap, bp, tile, NRk, 1.0, 0.0);
                        }
                        else if (_kernel == ManagedKernel.Avx2Fma)
                        {
                            if (mr == MRk && nr == NRk)
                            {
                                KernelAvx2(kc, ap, bp, cp, _ldc, _alpha, _betaEff);
                                continue;
                            }
                            KernelAvx2(kc, ap, bp, tile, NRk, 1.0, 0.0);
                        }
                        else
                        {
                            KernelPortable(kc, ap, bp, tile);
                        }
                        Merge(tile, mr, nr, NRk, cp, _ldc, _alpha, _betaEff);
                    }
                }
            }
            finally
            {
                Workspace.ReturnA(ws);
            }
        }
    }

    static int RoundUp(int x, int multiple) => (x + multiple - 1) / multiple * multiple;

    /// <summary>
    /// Packs op(B)[pc:pc+kc, jc:jc+nc] into NR-wide panels: panel q holds, for each p, the
    /// NR values op(B)(pc+p, jc+q·NR .. +NR) contiguously; columns past n are zero.
    /// </summary>
    static void PackB(Transpose transB, double* b, int ldb, int pc, int kc, int jc, int nc, double* dst, int NR)
    {
        for (int j0 = 0; j0 < nc; j0 += NR)
        {
            int nr = Math.Min(NR, nc - j0);
            double* panel = dst + (long)j0 * kc;
            if (transB == Transpose.No)
            {
                double* src = b + (long)pc * ldb + jc + j0;
                if (nr == NR)
                {
                    for (int p = 0; p < kc; p++, src += ldb)
                        for (int c = 0; c < NR; c += 4)
                            Unsafe.WriteUnaligned(panel + p * NR + c, Unsafe.ReadUnaligned<Vector256<double>>(src + c));
                }
                else
                {
                    for (int p = 0; p < kc; p++, src += ldb)
                    {
                        int c = 0;
                        for (; c < nr; c++) panel[p * NR + c] = src[c];
                        for (; c < NR; c++) panel[p * NR + c] = 0;
                    }
                }
            }
            else
            {
                // op(B)(p, j) = B[j, p]: each panel column is a contiguous run of a row of B.
                for (int c = 0; c < NR; c++)
                {
                    if (c < nr)
                    {
                        double* src = b + (long)(jc + j0 + c) * ldb + pc;
                        for (int p = 0; p < kc; p++) panel[p * NR + c] = src[p];
                    }
                    else
                    {
                        for (int p = 0; p < kc; p++) panel[p * NR + c] = 0;
                    }
                }
            }
        }
    }

    /// <summary>
    /// Packs op(A)[ic:ic+mc, pc:pc+kc] into MR-tall panels: panel q holds, for each p, the
    /// MR values op(A)(ic+q·MR .. +MR, pc+p) contiguously; rows past m are zero.
    /// </summary>
    static void PackA(Transpose transA, double* a, int lda, int ic, int mc, int pc, int kc, double* dst, int MR)
    {
        for (int i0 = 0; i0 < mc; i0 += MR)
        {
            int mr = Math.Min(MR, mc - i0);
            double* panel = dst + (long)i0 * kc;
            if (transA == Transpose.No)
            {
                // op(A)(i, p) = A[i, p]: each panel row is a contiguous run of a row of A.
                for (int r = 0; r < MR; r++)
                {
                    if (r < mr)
                    {
                        double* src = a + (long)(ic + i0 + r) * lda + pc;
                        for (int p = 0; p < kc; p++) panel[p * MR + r] = src[p];
                    }
                    else
                    {
                        for (int p = 0; p < kc; p++) panel[p * MR + r] = 0;
                    }
                }
            }
            else
            {
                double* src = a + (long)pc * lda + ic + i0;
                for (int p = 0; p < kc; p++, src += lda)
                {
                    int r = 0;
                    for (; r < mr; r++) panel[p * MR + r] = src[r];
                    for (; r < MR; r++) panel[p * MR + r] = 0;
                }
            }
        }
    }

    /// <summary>
    /// C[0:6, 0:8] ← α·Σ_p a_p b_pᵀ + β·C over one packed A panel (6 per p) and one packed
    /// B panel (8 per p). Twelve accumulators hold the tile; per p: two B loads, six
    /// broadcasts, twelve FMAs = 96 flops. β = 0 stores without reading C.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void KernelAvx2(int kc, double* a, double* b, double* c, int ldc, double alpha, double beta)
    {
        Vector256<double> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<double> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        int p = 0;
        for (; p + 1 < kc; p += 2)
        {
            var b0 = Avx.LoadAlignedVector256(b);
            var b1 = Avx.LoadAlignedVector256(b + 4);
            var av = Vector256.Create(a[0]);
            c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            av = Vector256.Create(a[1]);
            c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
            av = Vector256.Create(a[2]);
            c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
            av = Vector256.Create(a[3]);
            c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31);
            av = Vector256.Create(a[4]);
            c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41);
            av = Vector256.Create(a[5]);
            c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51);

            b0 = Avx.LoadAlignedVector256(b + 8);
            b1 = Avx.LoadAlignedVector256(b + 12);
            av = Vector256.Create(a[6]);
            c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            av = Vector256.Create(a[7]);
            c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
            av = Vector256.Create(a[8]);
            c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
            av = Vector256.Create(a[9]);
            c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31);
            av = Vector256.Create(a[10]);
            c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41);
            av = Vector256.Create(a[11]);
            c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51);
            a += 2 * MR;
            b += 2 * NR;
        }
        if (p < kc)
        {
            var b0 = Avx.LoadAlignedVector256(b);
            var b1 = Avx.LoadAlignedVector256(b + 4);
            var av = Vector256.Create(a[0]);
            c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            av = Vector256.Create(a[1]);
            c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
            av = Vector256.Create(a[2]);
            c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
            av = Vector256.Create(a[3]);
            c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31);
            av = Vector256.Create(a[4]);
            c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41);
            av = Vector256.Create(a[5]);
            c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51);
        }
        StoreRow(c, c00, c01, alpha, beta);
        StoreRow(c + ldc, c10, c11, alpha, beta);
        StoreRow(c + 2 * ldc, c20, c21, alpha, beta);
        StoreRow(c + 3 * ldc, c30, c31, alpha, beta);
        StoreRow(c + 4 * ldc, c40, c41, alpha, beta);
        StoreRow(c + 5 * ldc, c50, c51, alpha, beta);
    }

    // Same arithmetic as Merge (α·acc, then + β·C as a separate rounding), so a full tile
    // and an edge tile treat their elements alike.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreRow(double* c, Vector256<double> lo, Vector256<double> hi, double alpha, double beta)
    {
        var va = Vector256.Create(alpha);
        lo = Avx.Multiply(va, lo);
        hi = Avx.Multiply(va, hi);
        if (beta != 0)
        {
            var vb = Vector256.Create(beta);
            lo = Avx.Add(lo, Avx.Multiply(vb, Avx.LoadVector256(c)));
            hi = Avx.Add(hi, Avx.Multiply(vb, Avx.LoadVector256(c + 4)));
        }
        Avx.Store(c, lo);
        Avx.Store(c + 4, hi);
    }

    /// <summary>
    /// C[0:12, 0:16] ← α·Σ_p a_p b_pᵀ + β·C over one packed A panel (12 per p) and one packed
    /// B panel (16 per p). 24 zmm accumulators hold the tile; per p: two B loads, twelve
    /// broadcasts, 24 FMAs of 8 lanes = 384 flops. Every element is the same FMA chain over
    /// p ascending as in the AVX2 kernel, so the two kernels give the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void KernelAvx512(int kc, double* a, double* b, double* c, int ldc, double alpha, double beta)
    {
        Vector512<double> c000 = default, c001 = default;
        Vector512<double> c010 = default, c011 = default;
        Vector512<double> c020 = default, c021 = default;
        Vector512<double> c030 = default, c031 = default;
        Vector512<double> c040 = default, c041 = default;
        Vector512<double> c050 = default, c051 = default;
        Vector512<double> c060 = default, c061 = default;
        Vector512<double> c070 = default, c071 = default;
        Vector512<double> c080 = default, c081 = default;
        Vector512<double> c090 = default, c091 = default;
        Vector512<double> c100 = default, c101 = default;
        Vector512<double> c110 = default, c111 = default;
        Vector512<double> b0, b1, av;
        int p = 0;
        for (; p + 1 < kc; p += 2)
        {
            b0 = Avx512F.LoadAlignedVector512(b + 0);
            b1 = Avx512F.LoadAlignedVector512(b + 8);
            av = Vector512.Create(a[0]); c000 = Avx512F.FusedMultiplyAdd(av, b0, c000); c001 = Avx512F.FusedMultiplyAdd(av, b1, c001);
            av = Vector512.Create(a[1]); c010 = Avx512F.FusedMultiplyAdd(av, b0, c010); c011 = Avx512F.FusedMultiplyAdd(av, b1, c011);
            av = Vector512.Create(a[2]); c020 = Avx512F.FusedMultiplyAdd(av, b0, c020); c021 = Avx512F.FusedMultiplyAdd(av, b1, c021);
            av = Vector512.Create(a[3]); c030 = Avx512F.FusedMultiplyAdd(av, b0, c030); c031 = Avx512F.FusedMultiplyAdd(av, b1, c031);
            av = Vector512.Create(a[4]); c040 = Avx512F.FusedMultiplyAdd(av, b0, c040); c041 = Avx512F.FusedMultiplyAdd(av, b1, c041);
            av = Vector512.Create(a[5]); c050 = Avx512F.FusedMultiplyAdd(av, b0, c050); c051 = Avx512F.FusedMultiplyAdd(av, b1, c051);
            av = Vector512.Create(a[6]); c060 = Avx512F.FusedMultiplyAdd(av, b0, c060); c061 = Avx512F.FusedMultiplyAdd(av, b1, c061);
            av = Vector512.Create(a[7]); c070 = Avx512F.FusedMultiplyAdd(av, b0, c070); c071 = Avx512F.FusedMultiplyAdd(av, b1, c071);
            av = Vector512.Create(a[8]); c080 = Avx512F.FusedMultiplyAdd(av, b0, c080); c081 = Avx512F.FusedMultiplyAdd(av, b1, c081);
            av = Vector512.Create(a[9]); c090 = Avx512F.FusedMultiplyAdd(av, b0, c090); c091 = Avx512F.FusedMultiplyAdd(av, b1, c091);
            av = Vector512.Create(a[10]); c100 = Avx512F.FusedMultiplyAdd(av, b0, c100); c101 = Avx512F.FusedMultiplyAdd(av, b1, c101);
            av = Vector512.Create(a[11]); c110 = Avx512F.FusedMultiplyAdd(av, b0, c110); c111 = Avx512F.FusedMultiplyAdd(av, b1, c111);
            b0 = Avx512F.LoadAlignedVector512(b + 16);
            b1 = Avx512F.LoadAlignedVector512(b + 24);
            av = Vector512.Create(a[12]); c000 = Avx512F.FusedMultiplyAdd(av, b0, c000); c001 = Avx512F.FusedMultiplyAdd(av, b1, c001);
            av = Vector512.Create(a[13]); c010 = Avx512F.FusedMultiplyAdd(av, b0, c010); c011 = Avx512F.FusedMultiplyAdd(av, b1, c011);
            av = Vector512.Create(a[14]); c020 = Avx512F.FusedMultiplyAdd(av, b0, c020); c021 = Avx512F.FusedMultiplyAdd(av, b1, c021);
            av = Vector512.Create(a[15]); c030 = Avx512F.FusedMultiplyAdd(av, b0, c030); c031 = Avx512F.FusedMultiplyAdd(av, b1, c031);
            av = Vector512.Create(a[16]); c040 = Avx512F.FusedMultiplyAdd(av, b0, c040); c041 = Avx512F.FusedMultiplyAdd(av, b1, c041);
            av = Vector512.Create(a[17]); c050 = Avx512F.FusedMultiplyAdd(av, b0, c050); c051 = Avx512F.FusedMultiplyAdd(av, b1, c051);
            av = Vector512.Create(a[18]); c060 = Avx512F.FusedMultiplyAdd(av, b0, c060); c061 = Avx512F.FusedMultiplyAdd(av, b1, c061);
            av = Vector512.Create(a[19]); c070 = Avx512F.FusedMultiplyAdd(av, b0, c070); c071 = Avx512F.FusedMultiplyAdd(av, b1, c071);
            av = Vector512.Create(a[20]); c080 = Avx512F.FusedMultiplyAdd(av, b0, c080); c081 = Avx512F.FusedMultiplyAdd(av, b1, c081);
            av = Vector512.Create(a[21]); c090 = Avx512F.FusedMultiplyAdd(av, b0, c090); c091 = Avx512F.FusedMultiplyAdd(av, b1, c091);
            av = Vector512.Create(a[22]); c100 = Avx512F.FusedMultiplyAdd(av, b0, c100); c101 = Avx512F.FusedMultiplyAdd(av, b1, c101);
            av = Vector512.Create(a[23]); c110 = Avx512F.FusedMultiplyAdd(av, b0, c110); c111 = Avx512F.FusedMultiplyAdd(av, b1, c111);
            a += 2 * MR512;
            b += 2 * NR512;
        }
        if (p < kc)
        {
            b0 = Avx512F.LoadAlignedVector512(b + 0);
            b1 = Avx512F.LoadAlignedVector512(b + 8);
            av = Vector512.Create(a[0]); c000 = Avx512F.FusedMultiplyAdd(av, b0, c000); c001 = Avx512F.FusedMultiplyAdd(av, b1, c001);
            av = Vector512.Create(a[1]); c010 = Avx512F.FusedMultiplyAdd(av, b0, c010); c011 = Avx512F.FusedMultiplyAdd(av, b1, c011);
            av = Vector512.Create(a[2]); c020 = Avx512F.FusedMultiplyAdd(av, b0, c020); c021 = Avx512F.FusedMultiplyAdd(av, b1, c021);
            av = Vector512.Create(a[3]); c030 = Avx512F.FusedMultiplyAdd(av, b0, c030); c031 = Avx512F.FusedMultiplyAdd(av, b1, c031);
            av = Vector512.Create(a[4]); c040 = Avx512F.FusedMultiplyAdd(av, b0, c040); c041 = Avx512F.FusedMultiplyAdd(av, b1, c041);
            av = Vector512.Create(a[5]); c050 = Avx512F.FusedMultiplyAdd(av, b0, c050); c051 = Avx512F.FusedMultiplyAdd(av, b1, c051);
            av = Vector512.Create(a[6]); c060 = Avx512F.FusedMultiplyAdd(av, b0, c060); c061 = Avx512F.FusedMultiplyAdd(av, b1, c061);
            av = Vector512.Create(a[7]); c070 = Avx512F.FusedMultiplyAdd(av, b0, c070); c071 = Avx512F.FusedMultiplyAdd(av, b1, c071);
            av = Vector512.Create(a[8]); c080 = Avx512F.FusedMultiplyAdd(av, b0, c080); c081 = Avx512F.FusedMultiplyAdd(av, b1, c081);
            av = Vector512.Create(a[9]); c090 = Avx512F.FusedMultiplyAdd(av, b0, c090); c091 = Avx512F.FusedMultiplyAdd(av, b1, c091);
            av = Vector512.Create(a[10]); c100 = Avx512F.FusedMultiplyAdd(av, b0, c100); c101 = Avx512F.FusedMultiplyAdd(av, b1, c101);
            av = Vector512.Create(a[11]); c110 = Avx512F.FusedMultiplyAdd(av, b0, c110); c111 = Avx512F.FusedMultiplyAdd(av, b1, c111);
        }
        StoreRow512(c + 0 * ldc, c000, c001, alpha, beta);
        StoreRow512(c + 1 * ldc, c010, c011, alpha, beta);
        StoreRow512(c + 2 * ldc, c020, c021, alpha, beta);
        StoreRow512(c + 3 * ldc, c030, c031, alpha, beta);
        StoreRow512(c + 4 * ldc, c040, c041, alpha, beta);
        StoreRow512(c + 5 * ldc, c050, c051, alpha, beta);
        StoreRow512(c + 6 * ldc, c060, c061, alpha, beta);
        StoreRow512(c + 7 * ldc, c070, c071, alpha, beta);
        StoreRow512(c + 8 * ldc, c080, c081, alpha, beta);
        StoreRow512(c + 9 * ldc, c090, c091, alpha, beta);
        StoreRow512(c + 10 * ldc, c100, c101, alpha, beta);
        StoreRow512(c + 11 * ldc, c110, c111, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreRow512(double* c, Vector512<double> lo, Vector512<double> hi, double alpha, double beta)
    {
        var va = Vector512.Create(alpha);
        lo = Avx512F.Multiply(va, lo);
        hi = Avx512F.Multiply(va, hi);
        if (beta != 0)
        {
            var vb = Vector512.Create(beta);
            lo = Avx512F.Add(lo, Avx512F.Multiply(vb, Avx512F.LoadVector512(c)));
            hi = Avx512F.Add(hi, Avx512F.Multiply(vb, Avx512F.LoadVector512(c + 8)));
        }
        Avx512F.Store(c, lo);
        Avx512F.Store(c + 8, hi);
    }

    /// <summary>The same 6×8 tile product on <see cref="Vector{T}"/>, written to <paramref name="tile"/>.</summary>
    static void KernelPortable(int kc, double* a, double* b, double* tile)
    {
        int w = Vector<double>.Count, nv = NR / w;
        var acc = stackalloc Vector<double>[MR * (NR / 2)];
        for (int q = 0; q < MR * nv; q++) acc[q] = Vector<double>.Zero;
        for (int p = 0; p < kc; p++, a += MR, b += NR)
        {
            for (int r = 0; r < MR; r++)
            {
                var av = new Vector<double>(a[r]);
                for (int v = 0; v < nv; v++)
                    acc[r * nv + v] += av * Unsafe.ReadUnaligned<Vector<double>>(b + v * w);
            }
        }
        for (int r = 0; r < MR; r++)
            for (int v = 0; v < nv; v++)
                Unsafe.WriteUnaligned(tile + r * NR + v * w, acc[r * nv + v]);
    }

    static void Merge(double* tile, int mr, int nr, int stride, double* c, int ldc, double alpha, double beta)
    {
        for (int r = 0; r < mr; r++)
        {
            double* t = tile + r * stride;
            double* cr = c + (long)r * ldc;
            if (beta == 0)
                for (int j = 0; j < nr; j++) cr[j] = alpha * t[j];
            else
                for (int j = 0; j < nr; j++) cr[j] = alpha * t[j] + beta * cr[j];
        }
    }
}

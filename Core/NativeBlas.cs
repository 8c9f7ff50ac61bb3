using System.Buffers;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Curvature.Core;

/// <summary>
/// Our own P/Invoke binding to a CBLAS + LAPACK shared library. The library name
/// "curvature-native-blas" is virtual: <see cref="NativeBlas.TryLoad"/> installs a
/// resolver that maps it to the first library found by the probe order.
/// </summary>
internal static unsafe partial class CBlas
{
    internal const string Lib = "curvature-native-blas";
    internal const int RowMajor = 101, NoTrans = 111, Trans = 112;

    [LibraryImport(Lib)]
    internal static partial void cblas_dgemm(int order, int transA, int transB, int m, int n, int k,
        double alpha, double* a, int lda, double* b, int ldb, double beta, double* c, int ldc);

    [LibraryImport(Lib)]
    internal static partial void cblas_dgemv(int order, int trans, int m, int n, double alpha,
        double* a, int lda, double* x, int incx, double beta, double* y, int incy);

    [LibraryImport(Lib)]
    internal static partial double cblas_ddot(int n, double* x, int incx, double* y, int incy);

    [LibraryImport(Lib)]
    internal static partial void cblas_daxpy(int n, double alpha, double* x, int incx, double* y, int incy);

    [LibraryImport(Lib)]
    internal static partial void cblas_dscal(int n, double alpha, double* x, int incx);

    [LibraryImport(Lib)]
    internal static partial double cblas_dnrm2(int n, double* x, int incx);

    [LibraryImport(Lib)]
    internal static partial void dsyevd_(byte* jobz, byte* uplo, int* n, double* a, int* lda, double* w,
        double* work, int* lwork, int* iwork, int* liwork, int* info);
}

/// <summary>The native CBLAS/LAPACK backend (OpenBLAS or MKL).</summary>
public sealed unsafe class NativeBlas : BlasBackend
{
    /// <summary>Environment variable: a library path, or "managed" to force the fallback.</summary>
    public const string EnvironmentVariable = "CURVATURE_BLAS";

    /// <summary>
    /// Sonames probed after CURVATURE_BLAS: OpenBLAS first, then MKL. Measured on the AMD
    /// EPYC (Zen 5) this project runs on, MKL 2020.4 was the slower native library (it
    /// accepts only its AUTO and COMPATIBLE reproducibility branches on AMD); figures in
    /// docs/benchmarks.md. Set CURVATURE_BLAS to libmkl_rt.so to use MKL.
    /// </summary>
    public static readonly string[] ProbeOrder = ["libopenblas.so.0", "libopenblas.so", "libmkl_rt.so.2", "libmkl_rt.so"];

    static readonly object Gate = new();
    static IntPtr _handle;
    static string? _loadedPath;
    static bool _resolverInstalled;

    readonly delegate* unmanaged<int, void> _setThreads;
    readonly delegate* unmanaged<int> _getThreads;
    readonly string _config;
    static string? _mklLayer, _mklCbwr;
    readonly string _name;
    readonly string _path;

    NativeBlas(IntPtr handle, string path)
    {
        _path = path;
        if (NativeLibrary.TryGetExport(handle, "openblas_set_num_threads", out var p)) _setThreads = (delegate* unmanaged<int, void>)p;
        else if (NativeLibrary.TryGetExport(handle, "MKL_Set_Num_Threads", out p)) _setThreads = (delegate* unmanaged<int, void>)p;
        if (NativeLibrary.TryGetExport(handle, "openblas_get_num_threads", out p)) _getThreads = (delegate* unmanaged<int>)p;
        else if (NativeLibrary.TryGetExport(handle, "MKL_Get_Max_Threads", out p)) _getThreads = (delegate* unmanaged<int>)p;

        // One thread, once, at load: the facade's own threads split the work over a fixed
        // partition, so nothing ever changes the library's thread count again.
        if (_setThreads != null) _setThreads(1);

        if (NativeLibrary.TryGetExport(handle, "openblas_get_config", out p))
        {
            _name = "openblas";
            _config = Marshal.PtrToStringUTF8(((delegate* unmanaged<IntPtr>)p)()) ?? "";
        }
        else if (NativeLibrary.TryGetExport(handle, "MKL_Get_Version_String", out p))
        {
            _name = "mkl";
            var buf = stackalloc byte[256];
            ((delegate* unmanaged<byte*, int, void>)p)(buf, 256);
            _config = (Marshal.PtrToStringUTF8((IntPtr)buf) ?? "").Trim()
                + $"; threading layer: {_mklLayer}; CBWR: {_mklCbwr}";
        }
        else
        {
            _name = "native";
            _config = "unknown CBLAS";
        }
    }

    /// <summary>MKL's threading layer as set by the binding ("sequential"), or null for other libraries.</summary>
    public string? MklThreadingLayer => _name == "mkl" ? _mklLayer : null;

    /// <summary>MKL's Conditional Numerical Reproducibility branch in force (e.g. "AVX2"), or null for other libraries.</summary>
    public string? MklReproducibility => _name == "mkl" ? _mklCbwr : null;

    /// <inheritdoc/>
    public override string Name => _name;
    /// <inheritdoc/>
    public override string? LibraryPath => _path;
    /// <inheritdoc/>
    public override string Config => _config
        + (Blas.RoutesLargeGemmsToManaged ? $"; GEMMs of at least {Blas.ManagedGemmRouteMin} multiply-adds and {Blas.ManagedGemmRouteMinDimension} in every dimension on the managed AVX-512 kernel" : "");
    /// <summary>Threads the native library itself runs on: 1, pinned at load and re-asserted before every call (the facade threads over panels).</summary>
    public int NativeThreads => _getThreads != null ? _getThreads() : 1;

    /// <summary>
    /// Puts the library back on one thread when someone else changed it: a host or another library in
    /// the process may call openblas_set_num_threads after load, and a threaded kernel sums in another
    /// order (a Bulk-SGD run changed 7,155 of 7,690 parameters). Costs one read of a global when unchanged.
    /// </summary>
    void Pin()
    {
        if (_getThreads != null && _setThreads != null && _getThreads() != 1) _setThreads(1);
    }

    /// <summary>
    /// Loads the first native library that exports the kernels we need, or returns null
    /// (with the reasons) so the caller can fall back to managed code.
    /// </summary>
    public static NativeBlas? TryLoad(out string diagnostics)
    {
        lock (Gate)
        {
            var notes = new List<string>();
            string? env = Environment.GetEnvironmentVariable(EnvironmentVariable);
            if (string.Equals(env, "managed", StringComparison.OrdinalIgnoreCase))
            {
                diagnostics = $"{EnvironmentVariable}=managed";
                return null;
            }
            if (_handle == IntPtr.Zero)
            {
                var candidates = new List<string>();
                if (!string.IsNullOrWhiteSpace(env)) candidates.Add(env);
                candidates.AddRange(ProbeOrder);
                var tried = new HashSet<string>(StringComparer.Ordinal);
                foreach (var name in candidates)
                {
                    if (!NativeLibrary.TryLoad(name, out var h)) { notes.Add($"{name}: not found"); continue; }
                    // The same file under another name (CURVATURE_BLAS and a soname) is tried once.
                    if (!tried.Add(ResolvePath(h, name))) { NativeLibrary.Free(h); continue; }
                    string? why = !NativeLibrary.TryGetExport(h, "cblas_dgemm", out _) || !NativeLibrary.TryGetExport(h, "dsyevd_", out _)
                        ? "lacks cblas_dgemm or dsyevd_"
                        : Start(h);
                    if (why is not null)
                    {
                        // A library that exists but cannot serve is worth one line: the
                        // user installed it (or pointed CURVATURE_BLAS at it) on purpose.
                        notes.Add($"{name}: {why}");
                        Console.Error.WriteLine($"curvature: BLAS library {name} not used: {why}; trying the next backend.");
                        NativeLibrary.Free(h);
                        continue;
                    }
                    _handle = h;
                    _loadedPath = ResolvePath(h, name);
                    break;
                }
                if (_handle == IntPtr.Zero)
                {
                    diagnostics = string.Join("; ", notes);
                    return null;
                }
                if (!_resolverInstalled)
                {
                    NativeLibrary.SetDllImportResolver(typeof(NativeBlas).Assembly, Resolve);
                    _resolverInstalled = true;
                }
            }
            diagnostics = "loaded " + _loadedPath;
            return new NativeBlas(_handle, _loadedPath!);
        }
    }

    // MKL's threading layers (mkl_service.h) and CBWR branches (mkl_cbwr.h).
    const int MklThreadingSequential = 1;
    const int MklCbwrAll = ~0, MklCbwrSuccess = 0;
    static readonly (int code, string name)[] MklBranches =
    [
        (0, "OFF"), (1, "BRANCH_OFF"), (2, "AUTO"), (3, "COMPATIBLE"), (4, "SSE2"), (6, "SSSE3"), (7, "SSE4_1"), (8, "SSE4_2"),
        (9, "AVX"), (10, "AVX2"), (11, "AVX512_MIC"), (12, "AVX512"), (13, "AVX512_MIC_E1"), (14, "AVX512_E1"),
    ];

    /// <summary>
    /// CBWR branches the binding asks MKL for, first accepted wins. AVX2 is one code path
    /// (one set of bits) on every AVX2 machine, but MKL 2020 accepts it on Intel CPUs only;
    /// elsewhere AUTO: the processor's own code path with CNR's fixed cache sizes,
    /// deterministic reductions and static scheduling, so the bits depend on the CPU model
    /// but not on alignment, run or thread count (docs/core.md, docs/benchmarks.md).
    /// A user who sets MKL_CBWR keeps their choice.
    /// </summary>
    static readonly int[] MklCbwrPreference = [10, 2];

    /// <summary>
    /// Prepares a library that exports the kernels: for MKL, its sequential threading layer
    /// and a fixed CBWR branch, both before any other MKL call (MKL's default Intel-OpenMP
    /// layer aborts the process with a symbol lookup error where no OpenMP runtime is
    /// loaded); then one thread, and a small product checked against its exact result.
    /// Returns why the library cannot be used, or null.
    /// </summary>
    static string? Start(IntPtr h)
    {
        if (NativeLibrary.TryGetExport(h, "MKL_Get_Version_String", out _))
        {
            if (!NativeLibrary.TryGetExport(h, "MKL_Set_Threading_Layer", out var setLayer))
                return "MKL without MKL_Set_Threading_Layer (its threading layer cannot be chosen)";
            // The layer is a separate library that MKL opens on demand from its own
            // directory; if it is missing MKL exits the process, so check it is there first.
            string dir = Path.GetDirectoryName(ResolvePath(h, "libmkl_rt.so")) ?? "";
            foreach (var part in new[] { "libmkl_core.so", "libmkl_sequential.so" })
                if (!File.Exists(Path.Combine(dir, part)))
                    return $"MKL's {part} is not next to {Path.Combine(dir, "libmkl_rt.so")} (the sequential threading layer needs it)";
            int layer = ((delegate* unmanaged<int, int>)setLayer)(MklThreadingSequential);
            if (layer != MklThreadingSequential)
                return $"MKL refused the sequential threading layer (MKL_Set_Threading_Layer returned {layer})";
            _mklLayer = "sequential";
            if (!NativeLibrary.TryGetExport(h, "MKL_CBWR_Set", out var cbwrSet) || !NativeLibrary.TryGetExport(h, "MKL_CBWR_Get", out var cbwrGet))
                return "MKL without MKL_CBWR_Set/MKL_CBWR_Get (Conditional Numerical Reproducibility cannot be set)";
            if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("MKL_CBWR")))
            {
                var refused = new List<string>();
                foreach (int code in MklCbwrPreference)
                {
                    int status = ((delegate* unmanaged<int, int>)cbwrSet)(code);
                    if (status == MklCbwrSuccess) break;
                    refused.Add($"{BranchName(code)} ({status})");
                }
                if (refused.Count == MklCbwrPreference.Length)
                    return "MKL refused every CBWR branch tried: " + string.Join(", ", refused);
            }
            int branch = ((delegate* unmanaged<int, int>)cbwrGet)(MklCbwrAll);
            _mklCbwr = BranchName(branch);
            if ((branch & ~0x10000) is 0 or 1)
                return $"MKL's CBWR is {_mklCbwr}: results would depend on memory alignment (set MKL_CBWR to AUTO or a fixed branch)";
        }
        if (NativeLibrary.TryGetExport(h, "openblas_set_num_threads", out var st)) ((delegate* unmanaged<int, void>)st)(1);
        else if (NativeLibrary.TryGetExport(h, "MKL_Set_Num_Threads", out st)) ((delegate* unmanaged<int, void>)st)(1);

        // [1 2 3; 4 5 6]·[1 2; 3 4; 5 6] = [22 28; 49 64], exact in any summation order.
        var gemm = (delegate* unmanaged<int, int, int, int, int, int, double, double*, int, double*, int, double, double*, int, void>)
            NativeLibrary.GetExport(h, "cblas_dgemm");
        double* a = stackalloc double[] { 1, 2, 3, 4, 5, 6 };
        double* b = stackalloc double[] { 1, 2, 3, 4, 5, 6 };
        double* c = stackalloc double[] { double.NaN, double.NaN, double.NaN, double.NaN };
        gemm(CBlas.RowMajor, CBlas.NoTrans, CBlas.NoTrans, 2, 2, 3, 1.0, a, 3, b, 2, 0.0, c, 2);
        if (c[0] != 22 || c[1] != 28 || c[2] != 49 || c[3] != 64)
            return $"cblas_dgemm gave [{c[0]} {c[1]}; {c[2]} {c[3]}] for a product whose exact result is [22 28; 49 64]";
        return null;
    }

    static string BranchName(int code)
    {
        int strict = code & 0x10000;
        foreach (var (c, n) in MklBranches)
            if (c == (code & ~0x10000)) return strict != 0 ? n + ",STRICT" : n;
        return code.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? path) =>
        libraryName == CBlas.Lib ? _handle : IntPtr.Zero;

    // The soname is what we asked for; /proc/self/maps tells which file it resolved to.
    static string ResolvePath(IntPtr handle, string requested)
    {
        try
        {
            string stem = Path.GetFileName(requested);
            int dot = stem.IndexOf(".so", StringComparison.Ordinal);
            if (dot > 0) stem = stem[..dot];
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                int slash = line.IndexOf('/');
                if (slash >= 0 && Path.GetFileName(line[slash..]).StartsWith(stem, StringComparison.Ordinal))
                    return line[slash..];
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return requested;
    }

    static int Op(Transpose t) => t == Transpose.No ? CBlas.NoTrans : CBlas.Trans;

    /// <inheritdoc/>
    protected override void GemmCore(Transpose transA, Transpose transB, int m, int n, int k, double alpha,
        ReadOnlySpan<double> a, int lda, ReadOnlySpan<double> b, int ldb, double beta, Span<double> c, int ldc, int threads)
    {
        Pin();
        int panels = GemmPartition.Panels(m, n, k, out bool rows, out int size);
        fixed (double* pa = a, pb = b, pc = c)
        {
            if (panels == 1)
            {
                CBlas.cblas_dgemm(CBlas.RowMajor, Op(transA), Op(transB), m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
                return;
            }
            var work = NativeGemmWork.Rent();
            try
            {
                work.Set(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, rows, size);
                BlasPool.Run(work, panels, threads);
            }
            finally
            {
                NativeGemmWork.Return(work);
            }
        }
    }

    /// <summary>
    /// One single-threaded cblas_dgemm per panel of rows (or columns) of C. The same
    /// panels are computed by the same calls whatever the thread count, so the bits are too.
    /// </summary>
    sealed class NativeGemmWork : ParallelWork
    {
        [ThreadStatic] static NativeGemmWork? _cached;

        int _transA, _transB, _m, _n, _k, _lda, _ldb, _ldc, _size;
        bool _rows, _aNo, _bNo;
        double _alpha, _beta;
        double* _a, _b, _c;

        public static NativeGemmWork Rent()
        {
            var w = _cached;
            if (w != null) { _cached = null; return w; }
            return new NativeGemmWork();
        }

        public static void Return(NativeGemmWork w)
        {
            w._a = w._b = w._c = null;
            _cached = w;
        }

        public void Set(Transpose transA, Transpose transB, int m, int n, int k, double alpha, double* a, int lda,
            double* b, int ldb, double beta, double* c, int ldc, bool rows, int size)
        {
            _transA = Op(transA); _transB = Op(transB);
            _aNo = transA == Transpose.No; _bNo = transB == Transpose.No;
            _m = m; _n = n; _k = k; _alpha = alpha; _beta = beta;
            _a = a; _lda = lda; _b = b; _ldb = ldb; _c = c; _ldc = ldc;
            _rows = rows; _size = size;
        }

        protected override void RunPanel(int index)
        {
            int lo = index * _size;
            if (_rows)
            {
                // Rows lo.. of C need rows lo.. of op(A): row lo of A, or column lo of Aᵀ.
                int mp = Math.Min(_size, _m - lo);
                double* a = _aNo ? _a + (long)lo * _lda : _a + lo;
                CBlas.cblas_dgemm(CBlas.RowMajor, _transA, _transB, mp, _n, _k, _alpha, a, _lda, _b, _ldb, _beta, _c + (long)lo * _ldc, _ldc);
            }
            else
            {
                // Columns lo.. of C need columns lo.. of op(B): column lo of B, or row lo of Bᵀ.
                int np = Math.Min(_size, _n - lo);
                double* b = _bNo ? _b + lo : _b + (long)lo * _ldb;
                CBlas.cblas_dgemm(CBlas.RowMajor, _transA, _transB, _m, np, _k, _alpha, _a, _lda, b, _ldb, _beta, _c + lo, _ldc);
            }
        }
    }

    /// <inheritdoc/>
    protected override void GemvCore(Transpose transA, int m, int n, double alpha, ReadOnlySpan<double> a, int lda,
        ReadOnlySpan<double> x, double beta, Span<double> y, int threads)
    {
        Pin();
        fixed (double* pa = a, px = x, py = y)
            CBlas.cblas_dgemv(CBlas.RowMajor, Op(transA), m, n, alpha, pa, lda, px, 1, beta, py, 1);
    }

    /// <inheritdoc/>
    protected override double DotCore(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        Pin();
        fixed (double* px = x, py = y) return CBlas.cblas_ddot(x.Length, px, 1, py, 1);
    }

    /// <inheritdoc/>
    protected override void AxpyCore(double alpha, ReadOnlySpan<double> x, Span<double> y)
    {
        Pin();
        fixed (double* px = x, py = y) CBlas.cblas_daxpy(x.Length, alpha, px, 1, py, 1);
    }

    /// <inheritdoc/>
    protected override void ScalCore(double alpha, Span<double> x)
    {
        Pin();
        fixed (double* px = x) CBlas.cblas_dscal(x.Length, alpha, px, 1);
    }

    /// <inheritdoc/>
    protected override double Nrm2Core(ReadOnlySpan<double> x)
    {
        Pin();
        fixed (double* px = x) return CBlas.cblas_dnrm2(x.Length, px, 1);
    }

    /// <inheritdoc/>
    protected override void SymmetricEigenCore(int n, Span<double> a, Span<double> eigenvalues)
    {
        Pin();
        // LAPACK is column-major; a symmetric matrix reads the same either way, and the
        // eigenvectors come back as columns of a column-major array, i.e. rows of ours:
        // one transpose at the end puts them in our columns.
        byte jobz = (byte)'V', uplo = (byte)'L';
        int nn = n, lda = n, info = 0, lwork = -1, liwork = -1, iworkQuery = 0;
        double workQuery = 0;
        fixed (double* pa = a, pw = eigenvalues)
        {
            CBlas.dsyevd_(&jobz, &uplo, &nn, pa, &lda, pw, &workQuery, &lwork, &iworkQuery, &liwork, &info);
            if (info != 0) throw new InvalidOperationException($"dsyevd workspace query failed with info={info}.");
            lwork = Math.Max(1, (int)workQuery);
            liwork = Math.Max(1, iworkQuery);
            // Eigensolvers call this once per Rayleigh–Ritz step: pooled workspace keeps
            // their steady state allocation-free.
            var work = ArrayPool<double>.Shared.Rent(lwork);
            var iwork = ArrayPool<int>.Shared.Rent(liwork);
            try
            {
                fixed (double* pwork = work)
                fixed (int* piwork = iwork)
                    CBlas.dsyevd_(&jobz, &uplo, &nn, pa, &lda, pw, pwork, &lwork, piwork, &liwork, &info);
            }
            finally
            {
                ArrayPool<double>.Shared.Return(work);
                ArrayPool<int>.Shared.Return(iwork);
            }
        }
        if (info != 0) throw new InvalidOperationException($"dsyevd failed to converge (info={info}) on a {n}x{n} matrix.");
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                (a[i * n + j], a[j * n + i]) = (a[j * n + i], a[i * n + j]);
    }
}

namespace Curvature.Core;

/// <summary>
/// The BLAS facade: every hot path calls these, and they forward to the backend chosen
/// once at start-up (native CBLAS when one loads, else managed SIMD code). Tests and
/// benchmarks reach a specific backend through <see cref="Native"/> and <see cref="Managed"/>.
/// </summary>
public static class Blas
{
    static readonly Lazy<(NativeBlas? native, string diagnostics)> NativeProbe = new(() =>
    {
        var native = NativeBlas.TryLoad(out var diagnostics);
        return (native, diagnostics);
    });

    /// <summary>The native backend, or null when none could be loaded.</summary>
    public static NativeBlas? Native => NativeProbe.Value.native;

    /// <summary>Why the native backend was or was not chosen.</summary>
    public static string ProbeDiagnostics => NativeProbe.Value.diagnostics;

    /// <summary>The managed backend (the best SIMD kernel this CPU supports); always available.</summary>
    public static ManagedBlas Managed => ManagedBlas.Instance;

    /// <summary>
    /// The backend the facade forwards to: the calling thread's <see cref="Use"/> scope when
    /// one is open, else the backend chosen at start-up.
    /// </summary>
    public static BlasBackend Backend => _scoped ?? StartupBackend;

    /// <summary>The backend chosen at start-up, ignoring any <see cref="Use"/> scope.</summary>
    internal static BlasBackend StartupBackend => (BlasBackend?)Native ?? Managed;

    [ThreadStatic] static BlasBackend? _scoped;

    /// <summary>
    /// Sends every facade call made from the calling thread to <paramref name="backend"/>
    /// until the returned scope is disposed (on the same thread), for example a
    /// <see cref="CountingBlas"/> that wraps the active backend. Thread-local, so parallel
    /// tests and sweeps do not see each other's decorators; scopes nest.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="backend"/> is null.</exception>
    public static BackendScope Use(BlasBackend backend)
    {
        ArgumentNullException.ThrowIfNull(backend);
        var previous = _scoped;
        _scoped = backend;
        return new BackendScope(previous);
    }

    /// <summary>Restores the calling thread's previous backend when disposed; returned by <see cref="Use"/>.</summary>
    public readonly struct BackendScope : IDisposable
    {
        readonly BlasBackend? _previous;

        internal BackendScope(BlasBackend? previous) => _previous = previous;

        /// <summary>Restores the backend that was in force on this thread before the scope.</summary>
        public void Dispose() => _scoped = _previous;
    }

    /// <summary>The calling thread's scoped backend, or null when none is open (a decorator's inner backend).</summary>
    internal static BlasBackend? Scoped => _scoped;

    /// <summary>
    /// GEMMs of at least this many multiply-adds go to the managed AVX-512 kernel when the
    /// native library was chosen by the probe order (not named in CURVATURE_BLAS) and the CPU
    /// executes AVX-512 at full width (<see cref="FullWidthAvx512"/>): on a Zen 5 it ran about
    /// twice OpenBLAS 0.3.21's AVX2 rate at n = 256 and 1024, while OpenBLAS was ahead at n = 64;
    /// the threshold lies between the two measured sizes (docs/benchmarks.md).
    /// </summary>
    public const long ManagedGemmRouteMin = 128L * 128 * 128;

    /// <summary>
    /// Routed GEMMs must also be at least this wide in every dimension. A skinny product (the
    /// eigensolvers' block Gram–Schmidt, p ≤ 16 rows against a 199 210-column basis) is bound
    /// by memory, not by the micro-kernel, and the managed kernel's packing and 12-row tiles
    /// made it 1.2–1.6× slower than OpenBLAS there (docs/benchmarks.md, "Solver's own time").
    /// </summary>
    public const int ManagedGemmRouteMinDimension = 32;

    static readonly Lazy<bool> RouteLargeGemms = new(() =>
        Native is not null && ManagedBlas.Avx512Kernel is not null && FullWidthAvx512(CpuVendor(), CpuSignature())
        && string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(NativeBlas.EnvironmentVariable)));

    /// <summary>
    /// Whether a CPU, by its CPUID vendor string and leaf-1 signature (EAX), is one where the
    /// managed AVX-512 kernel was measured ahead of OpenBLAS: AMD family 1Ah and later (Zen 5,
    /// 512-bit data paths). On AMD family 19h (Zen 4, AVX-512 split over 256-bit units) the
    /// kernel was level with OpenBLAS on the model's tall products and up to 1.5× slower on its
    /// long-k weight-gradient products and at n = 64 (docs/benchmarks.md, "GEMM routing on a
    /// Zen 4"), so everything stays native; other vendors were not measured and stay native.
    /// The answer depends on the CPU alone, so a machine's bits never depend on timing.
    /// </summary>
    public static bool FullWidthAvx512(string vendor, uint signature)
    {
        if (vendor != "AuthenticAMD") return false;
        uint baseFamily = (signature >> 8) & 0xF;
        uint family = baseFamily == 0xF ? baseFamily + ((signature >> 20) & 0xFF) : baseFamily;
        return family >= 0x1A;
    }

    /// <summary>The CPUID vendor string ("AuthenticAMD", "GenuineIntel"), or "" off x86.</summary>
    public static string CpuVendor()
    {
        if (!System.Runtime.Intrinsics.X86.X86Base.IsSupported) return "";
        var (_, ebx, ecx, edx) = System.Runtime.Intrinsics.X86.X86Base.CpuId(0, 0);
        Span<byte> name = stackalloc byte[12];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(name, ebx);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(name[4..], edx);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(name[8..], ecx);
        return System.Text.Encoding.ASCII.GetString(name);
    }

    /// <summary>CPUID leaf 1's EAX (stepping, model, family), or 0 off x86.</summary>
    public static uint CpuSignature() =>
        System.Runtime.Intrinsics.X86.X86Base.IsSupported ? (uint)System.Runtime.Intrinsics.X86.X86Base.CpuId(1, 0).Eax : 0;

    /// <summary>
    /// True when large GEMMs run on the managed AVX-512 kernel although a native library is
    /// loaded (a <see cref="FullWidthAvx512"/> CPU, library found by the probe order). The choice depends on the
    /// shape only, so the bits do not depend on threads.
    /// </summary>
    public static bool RoutesLargeGemmsToManaged => RouteLargeGemms.Value;

    /// <summary>
    /// The backend that computes a GEMM of this shape through the facade: the calling
    /// thread's <see cref="Use"/> scope when one is open, else <see cref="RoutedGemmBackend"/>.
    /// </summary>
    public static BlasBackend GemmBackend(int m, int n, int k) => _scoped ?? RoutedGemmBackend(m, n, k);

    /// <summary>The start-up backend for a GEMM of this shape, ignoring any <see cref="Use"/> scope.</summary>
    internal static BlasBackend RoutedGemmBackend(int m, int n, int k) =>
        RouteLargeGemms.Value && (long)m * n * k >= ManagedGemmRouteMin
        && Math.Min(m, Math.Min(n, k)) >= ManagedGemmRouteMinDimension ? Managed : StartupBackend;

    /// <summary>C ← α·op(A)·op(B) + β·C on spans with leading dimensions (row-major), through <see cref="GemmBackend"/>.</summary>
    public static void Gemm(Transpose transA, Transpose transB, int m, int n, int k, double alpha,
        ReadOnlySpan<double> a, int lda, ReadOnlySpan<double> b, int ldb, double beta, Span<double> c, int ldc)
        => GemmBackend(m, n, k).Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    /// <summary>C ← α·op(A)·op(B) + β·C on whole matrices, with shapes checked by name.</summary>
    public static void Gemm(double alpha, Matrix a, Transpose transA, Matrix b, Transpose transB, double beta, Matrix c)
    {
        int m = transA == Transpose.No ? a.Rows : a.Cols, k = transA == Transpose.No ? a.Cols : a.Rows;
        int kb = transB == Transpose.No ? b.Rows : b.Cols, n = transB == Transpose.No ? b.Cols : b.Rows;
        if (k != kb || c.Rows != m || c.Cols != n)
            throw new ArgumentException(
                $"Shape mismatch: op(A) is {m}x{k} (A {a.Rows}x{a.Cols}), op(B) is {kb}x{n} (B {b.Rows}x{b.Cols}), C is {c.Rows}x{c.Cols}; expected C {m}x{n} and inner dimensions equal.");
        GemmBackend(m, n, k).Gemm(transA, transB, m, n, k, alpha, a.Data, Math.Max(1, a.Cols), b.Data, Math.Max(1, b.Cols), beta, c.Data, Math.Max(1, c.Cols));
    }

    /// <summary>y ← α·op(A)·x + β·y with A stored m×n (row-major, leading dimension <paramref name="lda"/>); β = 0 never reads y.</summary>
    public static void Gemv(Transpose transA, int m, int n, double alpha, ReadOnlySpan<double> a, int lda,
        ReadOnlySpan<double> x, double beta, Span<double> y)
        => Backend.Gemv(transA, m, n, alpha, a, lda, x, beta, y);

    /// <summary>y ← α·op(A)·x + β·y on a whole matrix and vectors, with shapes checked by name.</summary>
    public static void Gemv(double alpha, Matrix a, Transpose transA, Vec x, double beta, Vec y)
    {
        int rows = transA == Transpose.No ? a.Rows : a.Cols, cols = transA == Transpose.No ? a.Cols : a.Rows;
        if (x.Length != cols || y.Length != rows)
            throw new ArgumentException(
                $"Shape mismatch: op(A) is {rows}x{cols} (A {a.Rows}x{a.Cols}, transpose={transA}), x has length {x.Length}, y has length {y.Length}; expected x of length {cols} and y of length {rows}.");
        Backend.Gemv(transA, a.Rows, a.Cols, alpha, a.Data, Math.Max(1, a.Cols), x.Data, beta, y.Data);
    }

    /// <summary>xᵀy of two vectors of equal length.</summary>
    public static double Dot(ReadOnlySpan<double> x, ReadOnlySpan<double> y) => Backend.Dot(x, y);

    /// <summary>y ← α·x + y on vectors of equal length.</summary>
    public static void Axpy(double alpha, ReadOnlySpan<double> x, Span<double> y) => Backend.Axpy(alpha, x, y);

    /// <summary>x ← α·x.</summary>
    public static void Scal(double alpha, Span<double> x) => Backend.Scal(alpha, x);

    /// <summary>‖x‖₂, without overflow or underflow of the intermediate squares.</summary>
    public static double Nrm2(ReadOnlySpan<double> x) => Backend.Nrm2(x);

    /// <inheritdoc cref="BlasBackend.SymmetricEigen"/>
    public static void SymmetricEigen(int n, Span<double> a, Span<double> eigenvalues) => Backend.SymmetricEigen(n, a, eigenvalues);

    /// <summary>
    /// Default number of threads a facade call may use when the calling thread has no
    /// <see cref="UseThreads"/> scope: the processor count. Results never depend on it.
    /// </summary>
    public static int DefaultThreads => BlasPool.Cores;

    [ThreadStatic] static int _threadOverride;

    /// <summary>
    /// Threads a facade call made from this thread may use: the innermost
    /// <see cref="UseThreads"/> scope on this thread, else <see cref="DefaultThreads"/>.
    /// The work is cut into panels from the problem's shape alone, so the bits of every
    /// result are the same for any value; only speed changes.
    /// </summary>
    public static int Threads => _threadOverride > 0 ? _threadOverride : DefaultThreads;

    /// <summary>
    /// Sets the number of threads facade calls made from the calling thread may use until
    /// the returned scope is disposed (on the same thread). Thread-local: other threads and
    /// other callers are not affected, and no process-wide or native-library state changes.
    /// The native library itself always runs on one thread, pinned when it is loaded.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is not positive.</exception>
    public static ThreadScope UseThreads(int threads)
    {
        Guard.Positive(threads);
        int previous = _threadOverride;
        _threadOverride = threads;
        return new ThreadScope(previous);
    }

    /// <summary>Sets this thread's override and returns the previous effective count (compatibility with <see cref="BlasBackend.SetThreads"/>).</summary>
    internal static int SetThreadOverride(int threads)
    {
        Guard.Positive(threads);
        int previous = Threads;
        _threadOverride = threads;
        return previous;
    }

    /// <summary>Restores the calling thread's thread count when disposed; returned by <see cref="UseThreads"/>.</summary>
    public readonly struct ThreadScope : IDisposable
    {
        readonly int _previous;

        internal ThreadScope(int previous) => _previous = previous;

        /// <summary>Restores the thread count that was in force on this thread before the scope.</summary>
        public void Dispose() => _threadOverride = _previous;
    }
}

using System.Diagnostics;

namespace Curvature.Core;

/// <summary>
/// A BLAS decorator that counts the GEMMs facade calls issue on one thread — calls, floating-
/// point work (2·m·n·k each), time inside them and bytes the backend allocated — and forwards
/// every call unchanged to the backend that was active when it was started, so results keep
/// their bits. <see cref="Start"/> installs it for the calling thread through
/// <see cref="Blas.Use"/>; disposing it restores the previous backend. Counting lives here
/// rather than in the tape's kernels so the hot path pays nothing when nobody counts; it is in
/// Core (not Benchmarks) because tests and the CLI's <c>bench autodiff</c> count GEMMs too and
/// reference no benchmark assembly.
/// </summary>
public sealed class CountingBlas : BlasBackend, IDisposable
{
    readonly BlasBackend? _outer;
    readonly Blas.BackendScope _scope;
    bool _disposed;
    long _calls, _flops, _allocatedBytes, _ticks, _largest;

    CountingBlas()
    {
        _outer = Blas.Scoped;
        _scope = Blas.Use(this);
    }

    /// <summary>
    /// Starts counting the calling thread's facade GEMMs until the returned counter is disposed
    /// (on the same thread). Other threads are not counted and not affected.
    /// </summary>
    public static CountingBlas Start() => new();

    /// <summary>GEMM calls that reached a kernel (non-empty m, n and k, α ≠ 0) since start or the last <see cref="Reset"/>.</summary>
    public long Calls => _calls;

    /// <summary>Floating-point operations of those calls (2·m·n·k each).</summary>
    public long Flops => _flops;

    /// <summary>Multiply-adds m·n·k of the largest of those calls.</summary>
    public long LargestMultiplyAdds => _largest;

    /// <summary>
    /// Bytes the wrapped backend allocated on this thread during those calls, so an allocation
    /// test can tell the caller's own allocations (which must be zero) from the facade's
    /// (which should be zero too, and are reported when they are not).
    /// </summary>
    public long FacadeAllocatedBytes => _allocatedBytes;

    /// <summary>Wall-clock time spent inside those calls.</summary>
    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(0, _ticks);

    /// <summary>Zeroes the counts.</summary>
    public void Reset() => _calls = _flops = _allocatedBytes = _ticks = _largest = 0;

    /// <summary>Stops counting: the calling thread's facade goes back to the backend in force before <see cref="Start"/>.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _scope.Dispose();
    }

    BlasBackend Inner => _outer ?? Blas.StartupBackend;

    /// <summary>The wrapped backend's name, so reports made while counting name the kernels that ran.</summary>
    public override string Name => Inner.Name;

    /// <inheritdoc/>
    public override string? LibraryPath => Inner.LibraryPath;

    /// <inheritdoc/>
    public override string Config => Inner.Config;

    /// <inheritdoc/>
    protected override void GemmCore(Transpose transA, Transpose transB, int m, int n, int k, double alpha,
        ReadOnlySpan<double> a, int lda, ReadOnlySpan<double> b, int ldb, double beta, Span<double> c, int ldc, int threads)
    {
        var inner = _outer ?? Blas.RoutedGemmBackend(m, n, k);
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        long started = Stopwatch.GetTimestamp();
        inner.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        _ticks += Stopwatch.GetTimestamp() - started;
        _allocatedBytes += GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        _calls++;
        _flops += 2L * m * n * k;
        _largest = Math.Max(_largest, (long)m * n * k);
    }

    /// <inheritdoc/>
    protected override void GemvCore(Transpose transA, int m, int n, double alpha, ReadOnlySpan<double> a, int lda,
        ReadOnlySpan<double> x, double beta, Span<double> y, int threads)
        => Inner.Gemv(transA, m, n, alpha, a, lda, x, beta, y);

    /// <inheritdoc/>
    protected override double DotCore(ReadOnlySpan<double> x, ReadOnlySpan<double> y) => Inner.Dot(x, y);

    /// <inheritdoc/>
    protected override void AxpyCore(double alpha, ReadOnlySpan<double> x, Span<double> y) => Inner.Axpy(alpha, x, y);

    /// <inheritdoc/>
    protected override void ScalCore(double alpha, Span<double> x) => Inner.Scal(alpha, x);

    /// <inheritdoc/>
    protected override double Nrm2Core(ReadOnlySpan<double> x) => Inner.Nrm2(x);

    /// <inheritdoc/>
    protected override void SymmetricEigenCore(int n, Span<double> a, Span<double> eigenvalues) => Inner.SymmetricEigen(n, a, eigenvalues);
}

using Curvature.Core;

namespace Curvature.Spectral;

/// <summary>
/// The spectral routines run their own BLAS calls on one thread. OpenBLAS splits long
/// reductions (dgemv with a short output, dgemm, ddot, and the BLAS inside dsyevd)
/// differently for one and two threads, so their results differ in the last bits; the
/// project promises the same bits for the same seed on any thread count. Operator products
/// run at the caller's thread count — an operator decides its own threading.
/// </summary>
internal readonly struct SerialBlas : IDisposable
{
    readonly Blas.ThreadScope _scope;

    SerialBlas(int callerThreads, Blas.ThreadScope scope)
    {
        CallerThreads = callerThreads;
        _scope = scope;
    }

    /// <summary>The thread count in force before the region; operator products use it.</summary>
    public int CallerThreads { get; }

    public static SerialBlas Enter()
    {
        int caller = Math.Max(1, Blas.Threads);
        return new SerialBlas(caller, Blas.UseThreads(1));
    }

    public void Apply(ILinearOperator op, ReadOnlySpan<double> x, Span<double> y)
    {
        using (Blas.UseThreads(CallerThreads)) op.Apply(x, y);
    }

    public void ApplyBlock(ILinearOperator op, ReadOnlySpan<double> x, Span<double> y, int count)
    {
        using (Blas.UseThreads(CallerThreads)) op.ApplyBlock(x, y, count);
    }

    public void Dispose() => _scope.Dispose();
}

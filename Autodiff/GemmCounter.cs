namespace Curvature.Autodiff;

/// <summary>
/// Counts the GEMMs the ops issue on the current thread and their floating-point work
/// (2·m·n·k each), so a sweep's cost can be read off and compared with the count in
/// docs/autodiff.md. Per thread, so parallel sweeps do not disturb each other.
/// </summary>
public static class GemmCounter
{
    [ThreadStatic] static long _calls;
    [ThreadStatic] static long _flops;
    [ThreadStatic] static long _facadeBytes;
    [ThreadStatic] static long _ticks;

    /// <summary>GEMM calls on this thread since the last <see cref="Reset"/>.</summary>
    public static long Calls => _calls;

    /// <summary>Floating-point operations of those calls (2·m·n·k each).</summary>
    public static long Flops => _flops;

    /// <summary>
    /// Bytes the BLAS facade itself allocated on this thread during those calls, so an
    /// allocation test can tell the tape's own allocations (which must be zero) from the
    /// facade's (which should be zero too, and are reported when they are not).
    /// </summary>
    public static long FacadeAllocatedBytes => _facadeBytes;

    /// <summary>Wall-clock time spent inside those calls.</summary>
    public static TimeSpan Elapsed => System.Diagnostics.Stopwatch.GetElapsedTime(0, _ticks);

    /// <summary>Zeroes this thread's counts.</summary>
    public static void Reset()
    {
        _ticks = 0;
        _calls = 0;
        _flops = 0;
        _facadeBytes = 0;
    }

    internal static void Record(int m, int n, int k, long ticks, long allocatedBytes)
    {
        _ticks += ticks;
        _calls++;
        _flops += 2L * m * n * k;
        _facadeBytes += allocatedBytes;
    }
}

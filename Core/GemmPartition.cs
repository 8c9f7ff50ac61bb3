namespace Curvature.Core;

/// <summary>
/// How the facade cuts a GEMM into panels for its threads: a function of the shape
/// (m, n, k) only, never of the thread count, so each element of C is computed by the same
/// call with the same operands on one thread or many. Panels are whole rows of C (when
/// m ≥ n) or whole columns, so the operand that every panel shares is the smaller one.
/// </summary>
internal static class GemmPartition
{
    /// <summary>Below this many multiply-adds a GEMM stays one call on the calling thread.</summary>
    internal const long SplitMin = 96L * 96 * 96;

    /// <summary>Narrowest panel (rows or columns); a multiple of every SIMD width.</summary>
    internal const int MinPanel = 64;

    /// <summary>Most panels: each repacks the shared operand, so few and large.</summary>
    internal const int MaxPanels = 4;

    /// <summary>Inner dimension from which a short C (fewer than 2·MinPanel rows or columns) still splits in two.</summary>
    internal const int LongInner = 8192;

    /// <summary>Narrowest panel of such a long-inner product.</summary>
    internal const int MinLongPanel = 8;

    /// <summary>Least work per panel in multiply-adds (≈ 50 µs on one core): waking a helper costs microseconds.</summary>
    internal const long MinPanelWork = 64L * 64 * 64 * 4;

    /// <summary>
    /// Number of panels for an m×n×k product, whether they are row panels, and the panel
    /// size (the last panel may be smaller).
    /// </summary>
    internal static int Panels(int m, int n, int k, out bool rows, out int size)
    {
        rows = m >= n;
        int d = rows ? m : n;
        size = d;
        long work = (long)m * n * k;
        if (work < SplitMin) return 1;
        long p = Math.Min(Math.Min(MaxPanels, d / MinPanel), work / MinPanelWork);
        // A long inner dimension with a short C (a solver's Gram matrix SᵀW of n-long rows) is
        // worth two panels below MinPanel: each panel still streams k-long rows (docs/core.md).
        if (p <= 1 && k >= LongInner && d >= 2 * MinLongPanel) p = 2;
        if (p <= 1) return 1;
        size = (int)((d + p - 1) / p + 7) / 8 * 8;
        return (d + size - 1) / size;
    }
}

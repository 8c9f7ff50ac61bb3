using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Curvature.Core;

namespace Curvature.Autodiff;

/// <summary>
/// Elementwise SIMD loops shared by the ops. Every "Put" writes dst = expr when
/// <c>accumulate</c> is false and dst += expr when it is true, so the first contribution
/// to an adjoint overwrites stale pool contents instead of needing a zeroing pass.
/// </summary>
internal static class Kernels
{
    static readonly int W = Vector<double>.Count;

    /// <summary>dst (+)= src.</summary>
    public static void Put(ReadOnlySpan<double> src, Span<double> dst, bool accumulate)
    {
        if (!accumulate) { src.CopyTo(dst); return; }
        var vs = MemoryMarshal.Cast<double, Vector<double>>(src);
        var vd = MemoryMarshal.Cast<double, Vector<double>>(dst[..src.Length]);
        for (int i = 0; i < vs.Length; i++) vd[i] += vs[i];
        for (int i = vs.Length * W; i < src.Length; i++) dst[i] += src[i];
    }

    /// <summary>dst (+)= α·src.</summary>
    public static void PutScaled(double alpha, ReadOnlySpan<double> src, Span<double> dst, bool accumulate)
    {
        var vs = MemoryMarshal.Cast<double, Vector<double>>(src);
        var vd = MemoryMarshal.Cast<double, Vector<double>>(dst[..src.Length]);
        var va = new Vector<double>(alpha);
        if (accumulate)
        {
            for (int i = 0; i < vs.Length; i++) vd[i] += va * vs[i];
            for (int i = vs.Length * W; i < src.Length; i++) dst[i] += alpha * src[i];
        }
        else
        {
            for (int i = 0; i < vs.Length; i++) vd[i] = va * vs[i];
            for (int i = vs.Length * W; i < src.Length; i++) dst[i] = alpha * src[i];
        }
    }

    /// <summary>dst (+)= a ∘ b.</summary>
    public static void PutMul(ReadOnlySpan<double> a, ReadOnlySpan<double> b, Span<double> dst, bool accumulate)
    {
        int n = a.Length;
        var va = MemoryMarshal.Cast<double, Vector<double>>(a);
        var vb = MemoryMarshal.Cast<double, Vector<double>>(b[..n]);
        var vd = MemoryMarshal.Cast<double, Vector<double>>(dst[..n]);
        if (accumulate)
        {
            for (int i = 0; i < va.Length; i++) vd[i] += va[i] * vb[i];
            for (int i = va.Length * W; i < n; i++) dst[i] += a[i] * b[i];
        }
        else
        {
            for (int i = 0; i < va.Length; i++) vd[i] = va[i] * vb[i];
            for (int i = va.Length * W; i < n; i++) dst[i] = a[i] * b[i];
        }
    }

    /// <summary>dst (+)= a ∘ b + c ∘ d.</summary>
    public static void PutMulMul(ReadOnlySpan<double> a, ReadOnlySpan<double> b, ReadOnlySpan<double> c, ReadOnlySpan<double> d,
        Span<double> dst, bool accumulate)
    {
        int n = a.Length;
        var va = MemoryMarshal.Cast<double, Vector<double>>(a);
        var vb = MemoryMarshal.Cast<double, Vector<double>>(b[..n]);
        var vc = MemoryMarshal.Cast<double, Vector<double>>(c[..n]);
        var vdd = MemoryMarshal.Cast<double, Vector<double>>(d[..n]);
        var vo = MemoryMarshal.Cast<double, Vector<double>>(dst[..n]);
        if (accumulate)
        {
            for (int i = 0; i < va.Length; i++) vo[i] += va[i] * vb[i] + vc[i] * vdd[i];
            for (int i = va.Length * W; i < n; i++) dst[i] += a[i] * b[i] + c[i] * d[i];
        }
        else
        {
            for (int i = 0; i < va.Length; i++) vo[i] = va[i] * vb[i] + vc[i] * vdd[i];
            for (int i = va.Length * W; i < n; i++) dst[i] = a[i] * b[i] + c[i] * d[i];
        }
    }

    /// <summary>dst (+)= a − b.</summary>
    public static void PutDifference(ReadOnlySpan<double> a, ReadOnlySpan<double> b, Span<double> dst, bool accumulate)
    {
        int n = a.Length;
        var va = MemoryMarshal.Cast<double, Vector<double>>(a);
        var vb = MemoryMarshal.Cast<double, Vector<double>>(b[..n]);
        var vd = MemoryMarshal.Cast<double, Vector<double>>(dst[..n]);
        if (accumulate)
        {
            for (int i = 0; i < va.Length; i++) vd[i] += va[i] - vb[i];
            for (int i = va.Length * W; i < n; i++) dst[i] += a[i] - b[i];
        }
        else
        {
            for (int i = 0; i < va.Length; i++) vd[i] = va[i] - vb[i];
            for (int i = va.Length * W; i < n; i++) dst[i] = a[i] - b[i];
        }
    }

    /// <summary>Sum of all entries, in a fixed order (SIMD lanes, then lanes combined, then the tail).</summary>
    public static double Sum(ReadOnlySpan<double> x)
    {
        var vx = MemoryMarshal.Cast<double, Vector<double>>(x);
        var acc = Vector<double>.Zero;
        for (int i = 0; i < vx.Length; i++) acc += vx[i];
        double s = Vector.Sum(acc);
        for (int i = vx.Length * W; i < x.Length; i++) s += x[i];
        return s;
    }

    /// <summary>Σᵢ aᵢbᵢ in a fixed order (SIMD lanes, then lanes combined, then the tail).</summary>
    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        int n = a.Length;
        var va = MemoryMarshal.Cast<double, Vector<double>>(a);
        var vb = MemoryMarshal.Cast<double, Vector<double>>(b[..n]);
        var acc = Vector<double>.Zero;
        for (int i = 0; i < va.Length; i++) acc += va[i] * vb[i];
        double s = Vector.Sum(acc);
        for (int i = va.Length * W; i < n; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>dst (+)= column sums of the rows×cols matrix x (a 1×cols row).</summary>
    public static void PutColumnSums(ReadOnlySpan<double> x, int rows, int cols, Span<double> dst, bool accumulate)
    {
        var d = dst[..cols];
        if (!accumulate) d.Clear();
        for (int r = 0; r < rows; r++) Put(x.Slice(r * cols, cols), d, true);
    }

    /// <summary>Each row of the rows×cols matrix dst (+)= the 1×cols row b.</summary>
    public static void PutBroadcastRows(ReadOnlySpan<double> b, int rows, int cols, Span<double> dst, bool accumulate)
    {
        for (int r = 0; r < rows; r++) Put(b[..cols], dst.Slice(r * cols, cols), accumulate);
    }

    /// <summary>dst[i] (+)= α for every i.</summary>
    public static void PutConstant(double alpha, Span<double> dst, bool accumulate)
    {
        if (!accumulate) { dst.Fill(alpha); return; }
        for (int i = 0; i < dst.Length; i++) dst[i] += alpha;
    }

    /// <summary>A dense row-major window: rows×cols starting at <c>Offset</c>, rows <c>Cols</c> apart.</summary>
    internal readonly record struct Mat(double[] Array, int Offset, int Rows, int Cols);

    /// <summary>
    /// C ← op(A)·op(B) + β·C through the BLAS facade, where op(X) = Xᵀ when its flag is set
    /// and the shapes are those of the stored windows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Gemm(Mat a, bool transA, Mat b, bool transB, double beta, Mat c)
    {
        int m = transA ? a.Cols : a.Rows, k = transA ? a.Rows : a.Cols;
        int n = transB ? b.Rows : b.Cols;
        Blas.Gemm(transA ? Transpose.Yes : Transpose.No, transB ? Transpose.Yes : Transpose.No, m, n, k, 1.0,
            a.Array.AsSpan(a.Offset), Math.Max(1, a.Cols), b.Array.AsSpan(b.Offset), Math.Max(1, b.Cols),
            beta, c.Array.AsSpan(c.Offset), Math.Max(1, c.Cols));
    }

    public static Mat ValueMat(Tensor t) => new(t.ValueArray, t.ValueOffset, t.Rows, t.Cols);
    public static Mat AdjointMat(Tensor t) => new(t.AdjointArray, t.AdjointOffset, t.Rows, t.Cols);
    public static Mat TangentMat(Tensor t, int j) => new(t.TangentArray, t.TangentOffset + j * t.TangentStride, t.Rows, t.Cols);
    public static Mat AdjointTangentMat(Tensor t, int j) => new(t.AdjointTangentArray, t.AdjointTangentOffset + j * t.AdjointTangentStride, t.Rows, t.Cols);

    /// <summary>All m tangents stacked as one (m·rows)×cols matrix (requires contiguous storage).</summary>
    public static Mat StackedTangents(Tensor t, int m) => new(t.TangentArray, t.TangentOffset, m * t.Rows, t.Cols);
    public static Mat StackedAdjointTangents(Tensor t, int m) => new(t.AdjointTangentArray, t.AdjointTangentOffset, m * t.Rows, t.Cols);
}

using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Curvature.Core;

/// <summary>
/// Pure managed fallback: SIMD kernels for the level-1/2/3 routines and MathNet's
/// symmetric eigensolver. Used when no native library loads, or when
/// CURVATURE_BLAS=managed.
/// </summary>
public sealed class ManagedBlas : BlasBackend
{
    public static readonly ManagedBlas Instance = new();

    ManagedBlas() { }

    public override string Name => "managed";
    public override string? LibraryPath => null;
    public override string Config => $"managed SIMD (Vector<double>.Count={Vector<double>.Count})";
    public override int Threads => 1;
    public override int SetThreads(int threads) { Guard.Positive(threads); return 1; }

    protected override void GemmCore(Transpose transA, Transpose transB, int m, int n, int k, double alpha,
        ReadOnlySpan<double> a, int lda, ReadOnlySpan<double> b, int ldb, double beta, Span<double> c, int ldc)
    {
        // Row i of C accumulates α·A[i,p]·B[p,:]; a transposed B is first copied to k×n so
        // the innermost loop always streams contiguous rows.
        double[]? bPacked = null;
        ReadOnlySpan<double> bRows = b;
        int ldbRows = ldb;
        if (transB == Transpose.Yes)
        {
            bPacked = ArrayPool<double>.Shared.Rent(k * n);
            for (int j = 0; j < n; j++)
                for (int p = 0; p < k; p++)
                    bPacked[p * n + j] = b[j * ldb + p];
            bRows = bPacked;
            ldbRows = n;
        }
        try
        {
            for (int i = 0; i < m; i++)
            {
                var ci = c.Slice(i * ldc, n);
                if (beta == 0) ci.Clear();
                else if (beta != 1) ScalCore(beta, ci);
                for (int p = 0; p < k; p++)
                {
                    double aip = transA == Transpose.No ? a[i * lda + p] : a[p * lda + i];
                    if (aip != 0) AxpyCore(alpha * aip, bRows.Slice(p * ldbRows, n), ci);
                }
            }
        }
        finally
        {
            if (bPacked != null) ArrayPool<double>.Shared.Return(bPacked);
        }
    }

    protected override void GemvCore(Transpose transA, int m, int n, double alpha, ReadOnlySpan<double> a, int lda,
        ReadOnlySpan<double> x, double beta, Span<double> y)
    {
        if (transA == Transpose.No)
        {
            for (int i = 0; i < m; i++)
            {
                double s = DotCore(a.Slice(i * lda, n), x);
                y[i] = beta == 0 ? alpha * s : alpha * s + beta * y[i];
            }
        }
        else
        {
            if (beta == 0) y.Clear();
            else if (beta != 1) ScalCore(beta, y);
            for (int i = 0; i < m; i++)
                if (x[i] != 0) AxpyCore(alpha * x[i], a.Slice(i * lda, n), y);
        }
    }

    protected override double DotCore(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        int w = Vector<double>.Count, i = 0;
        var acc0 = Vector<double>.Zero;
        var acc1 = Vector<double>.Zero;
        var vx = MemoryMarshal.Cast<double, Vector<double>>(x);
        var vy = MemoryMarshal.Cast<double, Vector<double>>(y);
        int nv = vx.Length;
        int v = 0;
        for (; v + 1 < nv; v += 2)
        {
            acc0 += vx[v] * vy[v];
            acc1 += vx[v + 1] * vy[v + 1];
        }
        if (v < nv) acc0 += vx[v] * vy[v];
        double s = Vector.Sum(acc0 + acc1);
        for (i = nv * w; i < x.Length; i++) s += x[i] * y[i];
        return s;
    }

    protected override void AxpyCore(double alpha, ReadOnlySpan<double> x, Span<double> y)
    {
        int w = Vector<double>.Count;
        var vx = MemoryMarshal.Cast<double, Vector<double>>(x);
        var vy = MemoryMarshal.Cast<double, Vector<double>>(y);
        var va = new Vector<double>(alpha);
        for (int v = 0; v < vx.Length; v++) vy[v] += va * vx[v];
        for (int i = vx.Length * w; i < x.Length; i++) y[i] += alpha * x[i];
    }

    protected override void ScalCore(double alpha, Span<double> x)
    {
        int w = Vector<double>.Count;
        var vx = MemoryMarshal.Cast<double, Vector<double>>(x);
        var va = new Vector<double>(alpha);
        for (int v = 0; v < vx.Length; v++) vx[v] *= va;
        for (int i = vx.Length * w; i < x.Length; i++) x[i] *= alpha;
    }

    protected override double Nrm2Core(ReadOnlySpan<double> x)
    {
        // Scale by the largest magnitude so squares neither overflow nor underflow.
        double scale = 0;
        for (int i = 0; i < x.Length; i++) scale = Math.Max(scale, Math.Abs(x[i]));
        if (scale == 0 || !double.IsFinite(scale)) return scale;
        double s = 0, inv = 1 / scale;
        for (int i = 0; i < x.Length; i++) { double t = x[i] * inv; s += t * t; }
        return scale * Math.Sqrt(s);
    }

    protected override void SymmetricEigenCore(int n, Span<double> a, Span<double> eigenvalues)
    {
        var m = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(n, n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                m[i, j] = a[i * n + j];
        var evd = m.Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric);
        // MathNet returns eigenvalues ascending for symmetric input, matching dsyevd.
        for (int j = 0; j < n; j++) eigenvalues[j] = evd.EigenValues[j].Real;
        var v = evd.EigenVectors;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                a[i * n + j] = v[i, j];
    }
}

namespace Curvature.Core;

/// <summary>
/// One implementation of the dense kernels. The public methods check shapes once and
/// handle empty problems, so each backend's core only ever sees well-formed, non-empty
/// calls. All matrices are row-major; a leading dimension is the stride between rows.
/// </summary>
public abstract class BlasBackend
{
    /// <summary>Short name: "openblas", "mkl", "native" or "managed".</summary>
    public abstract string Name { get; }

    /// <summary>Path of the loaded native library, or null for managed code.</summary>
    public abstract string? LibraryPath { get; }

    /// <summary>Version or build-configuration string reported by the library.</summary>
    public abstract string Config { get; }

    /// <summary>
    /// Threads a call from the calling thread may use (<see cref="Blas.Threads"/>): the
    /// facade's own threads over a fixed partition, the same for every backend.
    /// </summary>
    public int Threads => Blas.Threads;

    /// <summary>
    /// Sets the calling thread's thread count for facade calls (as <see cref="Blas.UseThreads"/>
    /// without a scope) and returns the previous effective count. Thread-local: it changes
    /// neither other threads nor the native library, and never the bits of a result.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is not positive.</exception>
    public int SetThreads(int threads) => Blas.SetThreadOverride(threads);

    /// <summary>C ← α·op(A)·op(B) + β·C with op(A) m×k, op(B) k×n, C m×n.</summary>
    public void Gemm(Transpose transA, Transpose transB, int m, int n, int k, double alpha,
        ReadOnlySpan<double> a, int lda, ReadOnlySpan<double> b, int ldb, double beta, Span<double> c, int ldc)
    {
        Guard.NonNegative(m); Guard.NonNegative(n); Guard.NonNegative(k);
        int aRows = transA == Transpose.No ? m : k, aCols = transA == Transpose.No ? k : m;
        int bRows = transB == Transpose.No ? k : n, bCols = transB == Transpose.No ? n : k;
        CheckOperand(a.Length, aRows, aCols, lda, "a", m, n, k, gemm: true);
        CheckOperand(b.Length, bRows, bCols, ldb, "b", m, n, k, gemm: true);
        CheckOperand(c.Length, m, n, ldc, "c", m, n, k, gemm: true);
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0)
        {
            ScaleMatrix(beta, c, m, n, ldc);
            return;
        }
        GemmCore(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, Blas.Threads);
    }

    /// <summary>y ← α·op(A)·x + β·y with A stored m×n.</summary>
    public void Gemv(Transpose transA, int m, int n, double alpha, ReadOnlySpan<double> a, int lda,
        ReadOnlySpan<double> x, double beta, Span<double> y)
    {
        Guard.NonNegative(m); Guard.NonNegative(n);
        CheckOperand(a.Length, m, n, lda, "a", m, n, 0, gemm: false);
        int xLen = transA == Transpose.No ? n : m, yLen = transA == Transpose.No ? m : n;
        if (x.Length < xLen)
            throw new ArgumentException($"Argument 'x' has length {x.Length}; expected {xLen} for op(A) of A {m}x{n} (transpose={transA}).", nameof(x));
        if (y.Length < yLen)
            throw new ArgumentException($"Argument 'y' has length {y.Length}; expected {yLen} for op(A) of A {m}x{n} (transpose={transA}).", nameof(y));
        if (yLen == 0) return;
        if (xLen == 0 || alpha == 0)
        {
            ScaleVector(beta, y[..yLen]);
            return;
        }
        GemvCore(transA, m, n, alpha, a, lda, x[..xLen], beta, y[..yLen], Blas.Threads);
    }

    /// <summary>xᵀy of two vectors of equal length (0 for empty vectors).</summary>
    public double Dot(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        SameLength(x.Length, y.Length, "x", "y");
        return x.Length == 0 ? 0.0 : DotCore(x, y);
    }

    /// <summary>y ← α·x + y.</summary>
    public void Axpy(double alpha, ReadOnlySpan<double> x, Span<double> y)
    {
        SameLength(x.Length, y.Length, "x", "y");
        if (x.Length == 0 || alpha == 0) return;
        AxpyCore(alpha, x, y);
    }

    /// <summary>x ← α·x.</summary>
    public void Scal(double alpha, Span<double> x)
    {
        if (x.Length == 0 || alpha == 1) return;
        ScalCore(alpha, x);
    }

    /// <summary>Euclidean norm, computed without overflow or underflow.</summary>
    public double Nrm2(ReadOnlySpan<double> x) => x.Length == 0 ? 0.0 : Nrm2Core(x);

    /// <summary>
    /// Eigen-decomposition of the symmetric n×n matrix in <paramref name="a"/> (row-major,
    /// only symmetric input is meaningful). On return <paramref name="eigenvalues"/> holds
    /// λ ascending and <paramref name="a"/> holds V row-major with eigenvector j in column j,
    /// so A = V·diag(λ)·Vᵀ.
    /// </summary>
    public void SymmetricEigen(int n, Span<double> a, Span<double> eigenvalues)
    {
        Guard.NonNegative(n);
        if (a.Length < n * n)
            throw new ArgumentException($"Argument 'a' has length {a.Length}; expected {n}x{n} = {n * n}.", nameof(a));
        if (eigenvalues.Length < n)
            throw new ArgumentException($"Argument 'eigenvalues' has length {eigenvalues.Length}; expected {n}.", nameof(eigenvalues));
        if (n == 0) return;
        Guard.AllFinite(a[..(n * n)], nameof(a));
        SymmetricEigenCore(n, a[..(n * n)], eigenvalues[..n]);
    }

    /// <summary>GEMM on a non-empty, checked problem; <paramref name="threads"/> may only change speed, never bits.</summary>
    protected abstract void GemmCore(Transpose transA, Transpose transB, int m, int n, int k, double alpha,
        ReadOnlySpan<double> a, int lda, ReadOnlySpan<double> b, int ldb, double beta, Span<double> c, int ldc, int threads);
    /// <summary>GEMV on a non-empty, checked problem; <paramref name="threads"/> may only change speed, never bits.</summary>
    protected abstract void GemvCore(Transpose transA, int m, int n, double alpha, ReadOnlySpan<double> a, int lda,
        ReadOnlySpan<double> x, double beta, Span<double> y, int threads);
    /// <summary>DOT on a checked, non-empty pair of vectors.</summary>
    protected abstract double DotCore(ReadOnlySpan<double> x, ReadOnlySpan<double> y);
    /// <summary>AXPY on a checked, non-empty pair with α ≠ 0.</summary>
    protected abstract void AxpyCore(double alpha, ReadOnlySpan<double> x, Span<double> y);
    /// <summary>SCAL on a non-empty vector with α ≠ 1.</summary>
    protected abstract void ScalCore(double alpha, Span<double> x);
    /// <summary>NRM2 on a non-empty vector.</summary>
    protected abstract double Nrm2Core(ReadOnlySpan<double> x);
    /// <summary>Symmetric eigen-decomposition on a checked, finite, non-empty n×n matrix (contract of <see cref="SymmetricEigen"/>).</summary>
    protected abstract void SymmetricEigenCore(int n, Span<double> a, Span<double> eigenvalues);

    // The messages are built only when a check fails: these run on every call of every hot
    // path, where formatting the context eagerly cost more than a small GEMM.
    static void CheckOperand(int length, int rows, int cols, int ld, string name, int m, int n, int k, bool gemm)
    {
        if (ld < Math.Max(1, cols))
            throw new ArgumentException($"Argument 'ld{name}' was {ld}; expected at least {Math.Max(1, cols)} for a {rows}x{cols} operand ({Context(m, n, k, gemm)}).", "ld" + name);
        long need = rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * ld + cols;
        if (length < need)
            throw new ArgumentException($"Argument '{name}' has length {length}; a {rows}x{cols} operand with leading dimension {ld} needs {need} ({Context(m, n, k, gemm)}).", name);
    }

    static string Context(int m, int n, int k, bool gemm) => gemm ? $"op(A) {m}x{k}, op(B) {k}x{n}" : $"A {m}x{n}";

    static void SameLength(int lx, int ly, string nx, string ny)
    {
        if (lx != ly)
            throw new ArgumentException($"Arguments '{nx}' (length {lx}) and '{ny}' (length {ly}) must have the same length.", ny);
    }

    static void ScaleMatrix(double beta, Span<double> c, int m, int n, int ldc)
    {
        for (int i = 0; i < m; i++) ScaleVector(beta, c.Slice(i * ldc, n));
    }

    // BLAS convention: β = 0 overwrites C without reading it, so NaN in C does not leak.
    static void ScaleVector(double beta, Span<double> y)
    {
        if (beta == 0) y.Clear();
        else if (beta != 1) for (int i = 0; i < y.Length; i++) y[i] *= beta;
    }
}

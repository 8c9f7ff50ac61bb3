using System.Buffers;
using System.Globalization;
using Curvature.Core;

namespace Curvature.Spectral;

/// <summary>
/// A symmetric dense matrix as an operator: one GEMV per vector, one GEMM per block, both on
/// one BLAS thread so products have the same bits whatever the caller's thread count.
/// </summary>
public sealed class DenseOperator : ILinearOperator
{
    readonly Matrix _a;

    /// <summary>
    /// Wraps <paramref name="matrix"/> (not copied). It must be square and symmetric:
    /// |a_ij − a_ji| ≤ <paramref name="symmetryTolerance"/>·max|a| for every pair.
    /// </summary>
    public DenseOperator(Matrix matrix, double symmetryTolerance = 1e-12)
    {
        Guard.NotNull(matrix);
        Guard.NonNegative(symmetryTolerance);
        if (matrix.Rows != matrix.Cols)
            throw new ArgumentException($"Argument 'matrix' is {matrix.Shape}; expected a square matrix.", nameof(matrix));
        Guard.AllFinite(matrix.Data, nameof(matrix));
        int n = matrix.Rows;
        double scale = 0;
        foreach (double v in matrix.Data) scale = Math.Max(scale, Math.Abs(v));
        double limit = symmetryTolerance * scale;
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
            {
                double d = Math.Abs(matrix[i, j] - matrix[j, i]);
                if (d > limit)
                    throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                        $"Argument 'matrix' is not symmetric: entry ({i},{j}) = {matrix[i, j]:R} but ({j},{i}) = {matrix[j, i]:R}; expected equal within {symmetryTolerance:R}·max|a| = {limit:R}."),
                        nameof(matrix));
            }
        _a = matrix;
    }

    /// <summary>The wrapped matrix.</summary>
    public Matrix Matrix => _a;

    /// <inheritdoc/>
    public int Size => _a.Rows;

    /// <inheritdoc/>
    public void Apply(ReadOnlySpan<double> x, Span<double> y)
    {
        Operators.CheckVectors(Size, x, y, 1);
        using var serial = Blas.UseThreads(1);
        Blas.Gemv(Transpose.No, Size, Size, 1.0, _a.Data, Size, x, 0.0, y);
    }

    /// <inheritdoc/>
    public void ApplyBlock(ReadOnlySpan<double> x, Span<double> y, int count)
    {
        Operators.CheckVectors(Size, x, y, count);
        // Row j of Y is A·x_j, i.e. Y = X·Aᵀ.
        using var serial = Blas.UseThreads(1);
        Blas.Gemm(Transpose.No, Transpose.Yes, count, Size, Size, 1.0, x, Size, _a.Data, Size, 0.0, y, Size);
    }
}

/// <summary>diag(d) as an operator.</summary>
public sealed class DiagonalOperator : ILinearOperator
{
    readonly double[] _d;

    /// <summary>Copies <paramref name="diagonal"/>.</summary>
    public DiagonalOperator(ReadOnlySpan<double> diagonal)
    {
        if (diagonal.Length == 0)
            throw new ArgumentException("Argument 'diagonal' is empty; expected at least one entry.", nameof(diagonal));
        Guard.AllFinite(diagonal, nameof(diagonal));
        _d = diagonal.ToArray();
    }

    /// <summary>The diagonal entries (the eigenvalues).</summary>
    public ReadOnlySpan<double> Diagonal => _d;

    /// <inheritdoc/>
    public int Size => _d.Length;

    /// <inheritdoc/>
    public void Apply(ReadOnlySpan<double> x, Span<double> y)
    {
        Operators.CheckVectors(Size, x, y, 1);
        var d = _d.AsSpan();
        for (int i = 0; i < d.Length; i++) y[i] = d[i] * x[i];
    }

    /// <inheritdoc/>
    public void ApplyBlock(ReadOnlySpan<double> x, Span<double> y, int count)
    {
        Operators.CheckVectors(Size, x, y, count);
        int n = Size;
        var d = _d.AsSpan();
        for (int j = 0; j < count; j++)
        {
            var xj = x.Slice(j * n, n);
            var yj = y.Slice(j * n, n);
            for (int i = 0; i < n; i++) yj[i] = d[i] * xj[i];
        }
    }
}

/// <summary>
/// Uᵀ·diag(s)·U for r rows u_i of U (r×n): a symmetric rank-r operator applied with two
/// GEMVs (or two GEMMs for a block) and never formed densely.
/// </summary>
public sealed class LowRankOperator : ILinearOperator
{
    readonly double[] _u;
    readonly double[] _s;

    /// <summary>Copies <paramref name="rows"/> (r×n row-major) and <paramref name="weights"/> (r).</summary>
    public LowRankOperator(ReadOnlySpan<double> rows, ReadOnlySpan<double> weights, int size)
    {
        Guard.Positive(size);
        int r = weights.Length;
        if (r == 0)
            throw new ArgumentException("Argument 'weights' is empty; expected at least one weight.", nameof(weights));
        if (rows.Length != r * size)
            throw new ArgumentException($"Argument 'rows' has length {rows.Length}; expected {r}x{size} = {r * size} (one row per weight).", nameof(rows));
        Guard.AllFinite(rows, nameof(rows));
        Guard.AllFinite(weights, nameof(weights));
        _u = rows.ToArray();
        _s = weights.ToArray();
        Size = size;
    }

    /// <inheritdoc/>
    public int Size { get; }

    /// <summary>The number of terms r of UᵀSU.</summary>
    public int Rank => _s.Length;

    /// <inheritdoc/>
    public void Apply(ReadOnlySpan<double> x, Span<double> y) => ApplyBlock(x, y, 1);

    /// <inheritdoc/>
    public void ApplyBlock(ReadOnlySpan<double> x, Span<double> y, int count)
    {
        Operators.CheckVectors(Size, x, y, count);
        int n = Size, r = Rank;
        var c = ArrayPool<double>.Shared.Rent(count * r);
        try
        {
            var cs = c.AsSpan(0, count * r);
            using var serial = Blas.UseThreads(1);
            // C = X·Uᵀ (count×r), scaled column-wise by s, then Y = C·U.
            Blas.Gemm(Transpose.No, Transpose.Yes, count, r, n, 1.0, x, n, _u, n, 0.0, cs, r);
            for (int j = 0; j < count; j++)
                for (int i = 0; i < r; i++) cs[j * r + i] *= _s[i];
            Blas.Gemm(Transpose.No, Transpose.No, count, n, r, 1.0, cs, r, _u, n, 0.0, y, n);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(c);
        }
    }
}

/// <summary>α·A + β·B for two operators of the same size.</summary>
public class LinearCombinationOperator : ILinearOperator
{
    readonly ILinearOperator _a, _b;
    readonly double _alpha, _beta;

    /// <summary>α·A + β·B; A and B must have the same size.</summary>
    /// <exception cref="ArgumentException">The sizes differ; the message names both.</exception>
    public LinearCombinationOperator(double alpha, ILinearOperator a, double beta, ILinearOperator b)
    {
        Operators.CheckSameSize(a, b);
        Guard.Finite(alpha); Guard.Finite(beta);
        (_a, _b, _alpha, _beta) = (a, b, alpha, beta);
    }

    /// <inheritdoc/>
    public int Size => _a.Size;

    /// <inheritdoc/>
    public void Apply(ReadOnlySpan<double> x, Span<double> y) => ApplyBlock(x, y, 1);

    /// <inheritdoc/>
    public void ApplyBlock(ReadOnlySpan<double> x, Span<double> y, int count)
    {
        Operators.CheckVectors(Size, x, y, count);
        int len = count * Size;
        var tmp = ArrayPool<double>.Shared.Rent(len);
        try
        {
            var t = tmp.AsSpan(0, len);
            _a.ApplyBlock(x, y[..len], count);
            _b.ApplyBlock(x, t, count);
            if (_alpha != 1) Blas.Scal(_alpha, y[..len]);
            Blas.Axpy(_beta, t, y[..len]);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(tmp);
        }
    }
}

/// <summary>A + B.</summary>
public sealed class SumOperator(ILinearOperator a, ILinearOperator b) : LinearCombinationOperator(1.0, a, 1.0, b);

/// <summary>A − B (e.g. the functional Hessian F = H − G).</summary>
public sealed class DifferenceOperator(ILinearOperator a, ILinearOperator b) : LinearCombinationOperator(1.0, a, -1.0, b);

/// <summary>α·A + σ·I: a scaled and shifted operator (no second product needed).</summary>
public sealed class ScaledOperator : ILinearOperator
{
    readonly ILinearOperator _a;

    /// <summary>scale·A + shift·I.</summary>
    public ScaledOperator(ILinearOperator a, double scale, double shift = 0.0)
    {
        Guard.NotNull(a); Guard.Finite(scale); Guard.Finite(shift);
        (_a, Scale, Shift) = (a, scale, shift);
    }

    /// <summary>The factor on A.</summary>
    public double Scale { get; }

    /// <summary>The multiple of the identity added.</summary>
    public double Shift { get; }

    /// <inheritdoc/>
    public int Size => _a.Size;

    /// <inheritdoc/>
    public void Apply(ReadOnlySpan<double> x, Span<double> y) => ApplyBlock(x, y, 1);

    /// <inheritdoc/>
    public void ApplyBlock(ReadOnlySpan<double> x, Span<double> y, int count)
    {
        Operators.CheckVectors(Size, x, y, count);
        int len = count * Size;
        _a.ApplyBlock(x, y[..len], count);
        if (Scale != 1) Blas.Scal(Scale, y[..len]);
        if (Shift != 0) Blas.Axpy(Shift, x[..len], y[..len]);
    }
}

/// <summary>A·B: B applied first, then A (A·A's quadratic form zᵀA²z is ‖Az‖² for a symmetric A).</summary>
public sealed class ProductOperator : ILinearOperator
{
    readonly ILinearOperator _a, _b;

    /// <summary>A·B; A and B must have the same size.</summary>
    /// <exception cref="ArgumentException">The sizes differ; the message names both.</exception>
    public ProductOperator(ILinearOperator a, ILinearOperator b)
    {
        Operators.CheckSameSize(a, b);
        (_a, _b) = (a, b);
    }

    /// <inheritdoc/>
    public int Size => _a.Size;

    /// <inheritdoc/>
    public void Apply(ReadOnlySpan<double> x, Span<double> y) => ApplyBlock(x, y, 1);

    /// <inheritdoc/>
    public void ApplyBlock(ReadOnlySpan<double> x, Span<double> y, int count)
    {
        Operators.CheckVectors(Size, x, y, count);
        var bx = ArrayPool<double>.Shared.Rent(count * Size);
        _b.ApplyBlock(x, bx.AsSpan(0, count * Size), count);
        _a.ApplyBlock(bx.AsSpan(0, count * Size), y[..(count * Size)], count);
        // Not returned on an exception: the pool only loses a buffer.
        ArrayPool<double>.Shared.Return(bx);
    }
}

/// <summary>
/// P⊥ A P⊥ with P⊥ = I − UᵀU for k orthonormal rows U: A deflated of span U. Its trace is
/// tr A − tr(UAUᵀ) and its quadratic form at z is (P⊥z)ᵀA(P⊥z), so a Hutchinson estimate of it
/// is the deflated estimate of the part of A outside the subspace (docs/experiments.md).
/// </summary>
public sealed class ProjectedOperator : ILinearOperator
{
    readonly ILinearOperator _a;
    readonly double[] _u;
    readonly int _k;

    /// <summary>P⊥ A P⊥ for the <paramref name="k"/> orthonormal rows of <paramref name="u"/> (row-major k×n, copied).</summary>
    public ProjectedOperator(ILinearOperator a, ReadOnlySpan<double> u, int k)
    {
        Guard.NotNull(a);
        Guard.InRange(k, 0, a.Size);
        Guard.Length(u, k * a.Size, nameof(u));
        (_a, _u, _k) = (a, u.ToArray(), k);
    }

    /// <inheritdoc/>
    public int Size => _a.Size;

    /// <inheritdoc/>
    public void Apply(ReadOnlySpan<double> x, Span<double> y) => ApplyBlock(x, y, 1);

    /// <inheritdoc/>
    public void ApplyBlock(ReadOnlySpan<double> x, Span<double> y, int count)
    {
        Operators.CheckVectors(Size, x, y, count);
        int n = Size, len = count * n;
        var tmp = ArrayPool<double>.Shared.Rent(len);
        var coef = ArrayPool<double>.Shared.Rent(Math.Max(1, count * _k));
        try
        {
            var t = tmp.AsSpan(0, len);
            x[..len].CopyTo(t);
            BlockOps.ProjectOut(t, count, _u, _k, n, coef);
            _a.ApplyBlock(t, y[..len], count);
            BlockOps.ProjectOut(y[..len], count, _u, _k, n, coef);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(coef);
            ArrayPool<double>.Shared.Return(tmp);
        }
    }
}

/// <summary>Combinators over <see cref="ILinearOperator"/>.</summary>
public static class LinearOperator
{
    /// <summary>A·B (B applied first).</summary>
    public static ILinearOperator Product(ILinearOperator a, ILinearOperator b) => new ProductOperator(a, b);

    /// <summary>P⊥ A P⊥, P⊥ = I − UᵀU for the <paramref name="k"/> orthonormal rows of <paramref name="u"/>: A deflated of span U.</summary>
    public static ILinearOperator Project(ILinearOperator a, ReadOnlySpan<double> u, int k) => new ProjectedOperator(a, u, k);

    /// <summary>A + B.</summary>
    public static ILinearOperator Sum(ILinearOperator a, ILinearOperator b) => new SumOperator(a, b);

    /// <summary>A − B (e.g. the functional Hessian F = H − G).</summary>
    public static ILinearOperator Difference(ILinearOperator a, ILinearOperator b) => new DifferenceOperator(a, b);

    /// <summary>α·A.</summary>
    public static ILinearOperator Scale(double alpha, ILinearOperator a) => new ScaledOperator(a, alpha);

    /// <summary>A + σ·I.</summary>
    public static ILinearOperator Shift(ILinearOperator a, double sigma) => new ScaledOperator(a, 1.0, sigma);

    /// <summary>The dense n×n matrix of <paramref name="op"/>, column j = A·e_j, built with one block product.</summary>
    public static Matrix ToDense(ILinearOperator op)
    {
        Guard.NotNull(op);
        int n = op.Size;
        var eye = Matrix.Identity(n);
        var m = new Matrix(n, n);
        // Row j of the block result is A·e_j, i.e. column j of A; for symmetric A that is row j too.
        op.ApplyBlock(eye.Data, m.Data, n);
        return m.Transposed();
    }
}

/// <summary>Argument checks shared by the operator implementations.</summary>
static class Operators
{
    internal static void CheckSameSize(ILinearOperator a, ILinearOperator b)
    {
        Guard.NotNull(a); Guard.NotNull(b);
        if (a.Size != b.Size)
            throw new ArgumentException($"Operators 'a' (size {a.Size}) and 'b' (size {b.Size}) must have the same size.", nameof(b));
    }

    internal static void CheckVectors(int n, ReadOnlySpan<double> x, Span<double> y, int count)
    {
        if (count < 0)
            throw new ArgumentOutOfRangeException(nameof(count), $"Argument 'count' was {count}; expected a non-negative integer.");
        long need = (long)count * n;
        if (x.Length < need)
            throw new ArgumentException($"Argument 'x' has length {x.Length}; expected {count}x{n} = {need} for {count} vector(s) of size {n}.", nameof(x));
        if (y.Length < need)
            throw new ArgumentException($"Argument 'y' has length {y.Length}; expected {count}x{n} = {need} for {count} vector(s) of size {n}.", nameof(y));
    }
}

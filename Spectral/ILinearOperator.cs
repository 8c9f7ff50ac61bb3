namespace Curvature.Spectral;

/// <summary>
/// A symmetric linear map on ℝⁿ known only through its action. Blocks of vectors are
/// stored one vector per row: a block of m vectors is an m×n row-major array, so each
/// vector is contiguous and a basis V (m×n) times a vector is one GEMV, VᵀV one GEMM.
/// </summary>
public interface ILinearOperator
{
    /// <summary>The dimension n.</summary>
    int Size { get; }

    /// <summary>y ← A·x, with x and y of length <see cref="Size"/>.</summary>
    void Apply(ReadOnlySpan<double> x, Span<double> y);

    /// <summary>
    /// Y ← A·X for <paramref name="count"/> vectors stored as rows of X and Y
    /// (count×Size row-major). Operators that can share work across vectors (GEMM,
    /// multi-tangent autodiff) override the default loop.
    /// </summary>
    void ApplyBlock(ReadOnlySpan<double> x, Span<double> y, int count)
    {
        int n = Size;
        for (int j = 0; j < count; j++) Apply(x.Slice(j * n, n), y.Slice(j * n, n));
    }
}

namespace Curvature.Spectral;

/// <summary>Which end of the spectrum an eigensolver looks for.</summary>
public enum Which
{
    /// <summary>The k algebraically largest eigenvalues, reported largest first.</summary>
    LargestAlgebraic,

    /// <summary>The k eigenvalues of largest absolute value, reported largest |λ| first.</summary>
    LargestMagnitude,

    /// <summary>The k algebraically smallest eigenvalues, reported smallest first.</summary>
    SmallestAlgebraic,
}

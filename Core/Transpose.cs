namespace Curvature.Core;

/// <summary>Whether a GEMM/GEMV operand is used as stored or transposed.</summary>
public enum Transpose
{
    /// <summary>Use the operand as stored.</summary>
    No,
    /// <summary>Use the operand's transpose.</summary>
    Yes,
}

using System.Globalization;

namespace Curvature.Core;

/// <summary>
/// A dense vector over one contiguous array. Named <c>Vec</c> so it never collides with
/// System.Numerics.Vector in files that use both.
/// </summary>
public sealed class Vec
{
    /// <summary>The storage; element i is Data[i].</summary>
    public double[] Data { get; }

    /// <summary>Number of elements.</summary>
    public int Length => Data.Length;

    /// <summary>A zero vector of the given length.</summary>
    public Vec(int length)
    {
        Guard.NonNegative(length);
        Data = new double[length];
    }

    /// <summary>Wraps <paramref name="data"/> without copying.</summary>
    public Vec(double[] data)
    {
        Guard.NotNull(data);
        Data = data;
    }

    /// <summary>Element i.</summary>
    public double this[int i]
    {
        get => Data[i];
        set => Data[i] = value;
    }

    /// <summary>The elements as a writable view.</summary>
    public Span<double> AsSpan() => Data;

    /// <summary>A view of elements [start, start + length).</summary>
    public Span<double> Slice(int start, int length) => Data.AsSpan(start, length);

    /// <summary>The elements as a writable view.</summary>
    public static implicit operator Span<double>(Vec v) => v.Data;

    /// <summary>The elements as a read-only view.</summary>
    public static implicit operator ReadOnlySpan<double>(Vec v) => v.Data;

    /// <summary>A deep copy.</summary>
    public Vec Clone() => new((double[])Data.Clone());

    /// <summary>xᵀy through the BLAS facade.</summary>
    public double Dot(Vec other)
    {
        Guard.NotNull(other);
        if (other.Length != Length)
            throw new ArgumentException($"Shape mismatch: x has length {Length}, y has length {other.Length}; expected equal lengths.", nameof(other));
        return Blas.Dot(Data, other.Data);
    }

    /// <summary>‖x‖₂ through the BLAS facade (no overflow or underflow in the squares).</summary>
    public double Norm() => Blas.Nrm2(Data);

    /// <summary>"Vec length" (the values are not printed).</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"Vec {Length}");
}

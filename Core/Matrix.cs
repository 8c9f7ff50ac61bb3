using System.Globalization;

namespace Curvature.Core;

/// <summary>A dense row-major matrix over one contiguous array.</summary>
public sealed class Matrix
{
    /// <summary>Number of rows.</summary>
    public int Rows { get; }
    /// <summary>Number of columns (also the leading dimension of <see cref="Data"/>).</summary>
    public int Cols { get; }

    /// <summary>The storage: element (i, j) is at i·Cols + j.</summary>
    public double[] Data { get; }

    /// <summary>A zero rows×cols matrix.</summary>
    public Matrix(int rows, int cols)
    {
        Guard.NonNegative(rows); Guard.NonNegative(cols);
        Rows = rows; Cols = cols;
        Data = new double[checked(rows * cols)];
    }

    /// <summary>Wraps <paramref name="data"/> without copying.</summary>
    public Matrix(int rows, int cols, double[] data)
    {
        Guard.NonNegative(rows); Guard.NonNegative(cols);
        if (data.Length != rows * cols)
            throw new ArgumentException($"Argument 'data' has length {data.Length}; expected {rows}x{cols} = {rows * cols}.", nameof(data));
        Rows = rows; Cols = cols; Data = data;
    }

    /// <summary>Element (i, j).</summary>
    public double this[int i, int j]
    {
        get => Data[i * Cols + j];
        set => Data[i * Cols + j] = value;
    }

    /// <summary>Row i as a writable view (contiguous, length Cols).</summary>
    public Span<double> Row(int i) => Data.AsSpan(i * Cols, Cols);

    /// <summary>A view of rows [start, start + count) as one contiguous span (row stride Cols).</summary>
    public Span<double> RowRange(int start, int count)
    {
        if (start < 0 || count < 0 || start + count > Rows)
            throw new ArgumentOutOfRangeException(nameof(start), $"Rows [{start}, {start + count}) are not inside a {Shape} matrix; expected 0 <= start <= start + count <= {Rows}.");
        return Data.AsSpan(start * Cols, count * Cols);
    }

    /// <summary>A copy of column j.</summary>
    public Vec Column(int j)
    {
        Guard.InRange(j, 0, Cols - 1);
        var v = new Vec(Rows);
        for (int i = 0; i < Rows; i++) v[i] = Data[i * Cols + j];
        return v;
    }

    /// <summary>All elements, row-major, as a writable view.</summary>
    public Span<double> AsSpan() => Data;

    /// <summary>The n×n identity.</summary>
    public static Matrix Identity(int n)
    {
        var m = new Matrix(n, n);
        for (int i = 0; i < n; i++) m[i, i] = 1;
        return m;
    }

    /// <summary>A copy of a rectangular array, [i, j] → (i, j).</summary>
    public static Matrix FromRows(double[,] values)
    {
        var m = new Matrix(values.GetLength(0), values.GetLength(1));
        for (int i = 0; i < m.Rows; i++)
            for (int j = 0; j < m.Cols; j++)
                m[i, j] = values[i, j];
        return m;
    }

    /// <summary>A deep copy.</summary>
    public Matrix Clone() => new(Rows, Cols, (double[])Data.Clone());

    /// <summary>A new Cols×Rows matrix holding the transpose.</summary>
    public Matrix Transposed()
    {
        var t = new Matrix(Cols, Rows);
        for (int i = 0; i < Rows; i++)
            for (int j = 0; j < Cols; j++)
                t[j, i] = this[i, j];
        return t;
    }

    /// <summary>A·B through the BLAS facade.</summary>
    public static Matrix operator *(Matrix a, Matrix b)
    {
        var c = new Matrix(a.Rows, b.Cols);
        Blas.Gemm(1.0, a, Transpose.No, b, Transpose.No, 0.0, c);
        return c;
    }

    /// <summary>A·x through the BLAS facade.</summary>
    public static Vec operator *(Matrix a, Vec x)
    {
        var y = new Vec(a.Rows);
        Blas.Gemv(1.0, a, Transpose.No, x, 0.0, y);
        return y;
    }

    /// <summary>"rows x cols", for messages.</summary>
    public string Shape => string.Create(CultureInfo.InvariantCulture, $"{Rows}x{Cols}");

    /// <summary>"Matrix rows x cols" (the values are not printed).</summary>
    public override string ToString() => $"Matrix {Shape}";
}

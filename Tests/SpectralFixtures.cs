using Curvature.Core;
using Curvature.Spectral;
using MathNet.Numerics.LinearAlgebra;

namespace Curvature.Tests;

/// <summary>
/// Test operators with known spectra and the independent dense route (MathNet) that the
/// spectral tests compare against.
/// </summary>
internal static class SpectralFixtures
{
    /// <summary>A random orthogonal n×n matrix: the Q factor of a seeded Gaussian matrix (MathNet QR).</summary>
    public static Matrix<double> RandomOrthogonal(int n, ulong seed)
    {
        var rng = new Rng(seed);
        var g = Matrix<double>.Build.Dense(n, n, (_, _) => rng.NextGaussian());
        return g.QR().Q;
    }

    /// <summary>Q·diag(d)·Qᵀ for a random orthogonal Q, symmetrized exactly.</summary>
    public static Matrix<double> Similarity(double[] d, ulong seed)
    {
        var q = RandomOrthogonal(d.Length, seed);
        var a = q * Matrix<double>.Build.DenseOfDiagonalArray(d) * q.Transpose();
        return 0.5 * (a + a.Transpose());
    }

    /// <summary>The Wishart matrix XᵀX/m for a seeded Gaussian m×n X.</summary>
    public static Matrix<double> Wishart(int n, int m, ulong seed)
    {
        var rng = new Rng(seed);
        var x = Matrix<double>.Build.Dense(m, n, (_, _) => rng.NextGaussian());
        var a = x.TransposeThisAndMultiply(x) / m;
        return 0.5 * (a + a.Transpose());
    }

    public static Curvature.Core.Matrix ToCore(Matrix<double> a)
    {
        var m = new Curvature.Core.Matrix(a.RowCount, a.ColumnCount);
        for (int i = 0; i < a.RowCount; i++)
            for (int j = 0; j < a.ColumnCount; j++) m[i, j] = a[i, j];
        return m;
    }

    public static DenseOperator Operator(Matrix<double> a) => new(ToCore(a));

    /// <summary>All eigenvalues of the symmetric matrix by MathNet's dense solver.</summary>
    public static double[] DenseEigenvalues(Matrix<double> a)
        => a.Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric).EigenValues.Select(c => c.Real).ToArray();

    /// <summary>The k eigenvalues a solver should return, in <see cref="EigenResult"/> order.</summary>
    public static double[] Expected(double[] all, int k, Which which) => which switch
    {
        Which.LargestAlgebraic => all.OrderByDescending(x => x).Take(k).ToArray(),
        Which.SmallestAlgebraic => all.OrderBy(x => x).Take(k).ToArray(),
        _ => all.OrderByDescending(Math.Abs).ThenByDescending(x => x).Take(k).ToArray(),
    };

    /// <summary>‖A·v − λ·v‖ computed densely by MathNet, independently of the solver's products.</summary>
    public static double TrueResidual(Matrix<double> a, ReadOnlySpan<double> v, double lambda)
    {
        var x = Vector<double>.Build.DenseOfArray(v.ToArray());
        return (a * x - lambda * x).L2Norm();
    }

    /// <summary>max |VVᵀ − I| over the k rows of the result.</summary>
    public static double OrthonormalityError(EigenResult r)
    {
        double err = 0;
        for (int i = 0; i < r.Count; i++)
            for (int j = 0; j < r.Count; j++)
            {
                double d = 0;
                var vi = r.Vector(i);
                var vj = r.Vector(j);
                for (int t = 0; t < r.Size; t++) d += vi[t] * vj[t];
                err = Math.Max(err, Math.Abs(d - (i == j ? 1 : 0)));
            }
        return err;
    }

    /// <summary>The dense matrix of a diagonal operator, for the MathNet route.</summary>
    public static Matrix<double> Diagonal(double[] d) => Matrix<double>.Build.DenseOfDiagonalArray(d);

    /// <summary>The spectrum lo..hi evenly spaced over n points, shuffled so the order carries no information.</summary>
    public static double[] Shuffled(double[] d, ulong seed)
    {
        var copy = (double[])d.Clone();
        new Rng(seed).Shuffle(copy.AsSpan());
        return copy;
    }

    public static double[] Linspace(double lo, double hi, int n)
        => Enumerable.Range(0, n).Select(i => n == 1 ? lo : lo + (hi - lo) * i / (n - 1)).ToArray();

    /// <summary>Counts every vector the wrapped operator is applied to.</summary>
    public sealed class CountingOperator(ILinearOperator inner) : ILinearOperator
    {
        public int Count { get; private set; }
        public int Size => inner.Size;
        public void Apply(ReadOnlySpan<double> x, Span<double> y) { Count++; inner.Apply(x, y); }
        public void ApplyBlock(ReadOnlySpan<double> x, Span<double> y, int count) { Count += count; inner.ApplyBlock(x, y, count); }
    }
}

using Curvature.Core;
using FluentAssertions;
using MathNet.Numerics.LinearAlgebra;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>
/// SymmetricEigen on A = QΛQᵀ built from a random orthogonal Q (MathNet QR of a Gaussian
/// matrix) and a chosen spectrum Λ, including repeated eigenvalues, where any orthonormal
/// basis of the repeated eigenspace is a valid answer: so the checks are A = VΛVᵀ,
/// VᵀV = I and λ equal to the chosen Λ (and to MathNet's), never V itself.
/// </summary>
public class SymmetricEigenTests
{
    const double Tol = 1e-12;

    public static readonly string[] Backends = ["native", "managed"];

    static BlasBackend Resolve(string name)
    {
        if (name == "managed") return Blas.Managed;
        var native = Blas.Native;
        if (native is null) Assert.Ignore("No native BLAS on this machine: " + Blas.ProbeDiagnostics);
        return native!;
    }

    static Matrix<double> RandomOrthogonal(Rng rng, int n)
    {
        var g = Matrix<double>.Build.Dense(n, n, (_, _) => rng.NextGaussian());
        return g.QR().Q;
    }

    /// <summary>Spectra with distinct, repeated, all-equal, zero and negative values.</summary>
    static IEnumerable<(string name, double[] lambda)> Spectra(Rng rng)
    {
        yield return ("1x1", [3.5]);
        yield return ("distinct 5", [-2, -0.5, 0, 1, 7]);
        yield return ("pair repeated", [1, 1, 2, 3, 3, 3, -4]);
        yield return ("all equal", Enumerable.Repeat(2.25, 6).ToArray());
        var mixed = new double[40];
        for (int i = 0; i < mixed.Length; i++) mixed[i] = Math.Round(rng.Uniform(-3, 3)); // only 7 distinct values
        yield return ("40 with many repeats", mixed);
        var wide = new double[64];
        for (int i = 0; i < wide.Length; i++) wide[i] = rng.NextGaussian() * Math.Pow(10, rng.Uniform(-3, 3));
        yield return ("64 spread over 6 decades", wide);
    }

    [Test]
    public void Symmetric_eigen_reproduces_a_equals_v_lambda_v_transpose_with_orthonormal_v_and_ascending_lambda(
        [ValueSource(nameof(Backends))] string backend)
    {
        var blas = Resolve(backend);
        var rng = new Rng(99UL);
        foreach (var (name, lambda) in Spectra(rng))
        {
            int n = lambda.Length;
            var q = RandomOrthogonal(rng, n);
            var aRef = q * Matrix<double>.Build.DenseOfDiagonalArray(lambda) * q.Transpose();
            aRef = (aRef + aRef.Transpose()) / 2; // exactly symmetric input
            double normA = aRef.FrobeniusNorm();

            var a = new double[n * n];
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    a[i * n + j] = aRef[i, j];
            var w = new double[n];
            blas.SymmetricEigen(n, a, w);

            var v = Matrix<double>.Build.Dense(n, n, (i, j) => a[i * n + j]);
            string what = $"{backend}, {name}";

            for (int j = 1; j < n; j++) w[j].Should().BeGreaterThanOrEqualTo(w[j - 1], $"{what}: eigenvalues ascend");

            var sorted = (double[])lambda.Clone();
            Array.Sort(sorted);
            for (int j = 0; j < n; j++)
                Math.Abs(w[j] - sorted[j]).Should().BeLessThanOrEqualTo(Tol * normA, $"{what}: λ[{j}] equals the spectrum A was built from");

            var mathNet = aRef.Evd(Symmetricity.Symmetric).EigenValues.Select(z => z.Real).OrderBy(z => z).ToArray();
            for (int j = 0; j < n; j++)
                Math.Abs(w[j] - mathNet[j]).Should().BeLessThanOrEqualTo(Tol * normA, $"{what}: λ[{j}] equals MathNet's");

            var residual = aRef - v * Matrix<double>.Build.DenseOfDiagonalArray(w) * v.Transpose();
            residual.FrobeniusNorm().Should().BeLessThanOrEqualTo(Tol * normA, $"{what}: A = VΛVᵀ");

            var gram = v.Transpose() * v - Matrix<double>.Build.DenseIdentity(n);
            gram.FrobeniusNorm().Should().BeLessThanOrEqualTo(Tol, $"{what}: VᵀV = I");
        }
    }

    [Test]
    public void Symmetric_eigen_of_size_zero_does_nothing_and_wrong_lengths_throw_naming_both([ValueSource(nameof(Backends))] string backend)
    {
        var blas = Resolve(backend);
        blas.SymmetricEigen(0, [], []);

        var shortA = () => blas.SymmetricEigen(3, new double[8], new double[3]);
        shortA.Should().Throw<ArgumentException>().Where(e => e.ParamName == "a" && e.Message.Contains("length 8") && e.Message.Contains("3x3 = 9"));

        var shortW = () => blas.SymmetricEigen(3, new double[9], new double[2]);
        shortW.Should().Throw<ArgumentException>().Where(e => e.ParamName == "eigenvalues" && e.Message.Contains("length 2") && e.Message.Contains("expected 3"));

        var nan = () => blas.SymmetricEigen(2, [1, double.NaN, double.NaN, 1], new double[2]);
        nan.Should().Throw<ArgumentException>().Where(e => e.Message.Contains("NaN") && e.Message.Contains("index 1"));
    }
}

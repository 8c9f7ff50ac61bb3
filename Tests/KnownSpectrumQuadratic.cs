using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using Curvature.Spectral;
using MathNet.Numerics.LinearAlgebra;

namespace Curvature.Tests;

/// <summary>
/// L_i(θ) = ½(θ − θ*_i)ᵀ A (θ − θ*_i) with A = Q Λ Qᵀ built from a chosen spectrum and a
/// seeded random orthogonal Q, and per-example minima θ*_i = θ* + σ·ξ_i, so minibatches
/// give noisy gradients while every subset has Hessian (and Gauss–Newton matrix) exactly A.
/// </summary>
public sealed class KnownSpectrumQuadratic : IObjective
{
    readonly double[] _a;        // n×n row-major
    readonly double[][] _targets; // θ*_i
    readonly double[] _diff;

    public KnownSpectrumQuadratic(double[] eigenvalues, int examples = 1, double noise = 0.0, ulong seed = 1)
    {
        int n = eigenvalues.Length;
        Eigenvalues = (double[])eigenvalues.Clone();
        var rng = new Rng(seed);
        var g = Matrix<double>.Build.Dense(n, n, (_, _) => rng.NextGaussian());
        Q = g.QR().Q;                          // columns orthonormal
        var aM = Q * Matrix<double>.Build.DiagonalOfDiagonalArray(eigenvalues) * Q.Transpose();
        A = aM;
        _a = new double[n * n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) _a[i * n + j] = 0.5 * (aM[i, j] + aM[j, i]);
        ThetaStar = new double[n];
        rng.FillGaussian(ThetaStar);
        _targets = new double[examples][];
        for (int e = 0; e < examples; e++)
        {
            _targets[e] = new double[n];
            for (int i = 0; i < n; i++) _targets[e][i] = ThetaStar[i] + noise * rng.NextGaussian();
        }
        _diff = new double[n];
    }

    public Matrix<double> A { get; }
    public Matrix<double> Q { get; }
    public double[] Eigenvalues { get; }
    public double[] ThetaStar { get; }
    public int ParameterCount => Eigenvalues.Length;
    public int ExampleCount => _targets.Length;

    /// <summary>Every call's example list, for tests of the sampler.</summary>
    public List<int[]?> Calls { get; } = [];
    public bool RecordCalls { get; set; }

    public double LossAndGradient(ReadOnlySpan<double> theta, Span<double> gradient, int[]? examples = null)
    {
        int n = ParameterCount;
        if (RecordCalls) Calls.Add(examples?.ToArray());
        int count = examples?.Length ?? ExampleCount;
        gradient.Clear();
        double loss = 0;
        var ad = new double[n];
        for (int t = 0; t < count; t++)
        {
            var target = _targets[examples is null ? t : examples[t]];
            for (int i = 0; i < n; i++) _diff[i] = theta[i] - target[i];
            Blas.Gemv(Transpose.No, n, n, 1.0, _a, n, _diff, 0.0, ad);
            loss += 0.5 * Blas.Dot(_diff, ad);
            for (int i = 0; i < n; i++) gradient[i] += ad[i];
        }
        for (int i = 0; i < n; i++) gradient[i] /= count;
        return loss / count;
    }

    public Evaluation Evaluate(ReadOnlySpan<double> theta)
    {
        var g = new double[ParameterCount];
        return new Evaluation(LossAndGradient(theta, g), double.NaN);
    }

    public ILinearOperator CurvatureOperator(CurvatureKind kind, ReadOnlySpan<double> theta, int[]? examples = null)
        => new Dense(kind == CurvatureKind.FunctionalHessian ? new double[_a.Length] : _a, ParameterCount);

    /// <summary>The exact loss ½(θ−θ*)ᵀA(θ−θ*) for the noise-free problem, by MathNet.</summary>
    public double ExactLoss(double[] theta)
    {
        var d = Vector<double>.Build.DenseOfArray(theta) - Vector<double>.Build.DenseOfArray(ThetaStar);
        return 0.5 * d.DotProduct(A * d);
    }

    /// <summary>Coordinates Qᵀx in the eigenbasis (column j of Q is the j-th eigenvector).</summary>
    public double[] EigenCoordinates(ReadOnlySpan<double> x) => (Q.Transpose() * Vector<double>.Build.DenseOfArray(x.ToArray())).ToArray();

    public sealed class Dense(double[] a, int n) : ILinearOperator
    {
        public int Size => n;
        public void Apply(ReadOnlySpan<double> x, Span<double> y) => Blas.Gemv(Transpose.No, n, n, 1.0, a, n, x, 0.0, y);
    }
}

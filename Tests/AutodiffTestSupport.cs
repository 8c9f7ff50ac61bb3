using Curvature.Autodiff;
using Curvature.Core;

namespace Curvature.Tests;

/// <summary>Finite differences and error measures shared by the autodiff, model and objective tests.</summary>
internal static class AutodiffTestSupport
{
    /// <summary>
    /// d/dt f(θ + t·v) at t = 0 by the fourth-order central stencil
    /// [−f(2h) + 8f(h) − 8f(−h) + f(−2h)]/(12h), for a vector-valued f.
    /// </summary>
    public static double[] DirectionalDerivative(Func<double[], double[]> f, double[] theta, double[] v, double h)
    {
        double[] At(double t)
        {
            var x = new double[theta.Length];
            for (int i = 0; i < x.Length; i++) x[i] = theta[i] + t * v[i];
            return f(x);
        }
        var p2 = At(2 * h); var p1 = At(h); var m1 = At(-h); var m2 = At(-2 * h);
        var d = new double[p1.Length];
        for (int i = 0; i < d.Length; i++) d[i] = (-p2[i] + 8 * p1[i] - 8 * m1[i] + m2[i]) / (12 * h);
        return d;
    }

    /// <summary>The gradient of a scalar function by the fourth-order stencil along each coordinate.</summary>
    public static double[] Gradient(Func<double[], double> f, double[] theta, double h)
    {
        var g = new double[theta.Length];
        var e = new double[theta.Length];
        for (int i = 0; i < theta.Length; i++)
        {
            e[i] = 1;
            g[i] = DirectionalDerivative(x => [f(x)], theta, e, h)[0];
            e[i] = 0;
        }
        return g;
    }

    /// <summary>‖actual − expected‖ / ‖expected‖ (or ‖actual‖ when expected is zero).</summary>
    public static double RelativeError(ReadOnlySpan<double> actual, ReadOnlySpan<double> expected)
    {
        if (actual.Length != expected.Length)
            throw new ArgumentException($"Lengths differ: {actual.Length} vs {expected.Length}.");
        double num = 0, den = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double d = actual[i] - expected[i];
            num += d * d;
            den += expected[i] * expected[i];
        }
        return den == 0 ? Math.Sqrt(num) : Math.Sqrt(num / den);
    }

    public static double[] Gaussian(Rng rng, int n)
    {
        var x = new double[n];
        rng.FillGaussian(x);
        return x;
    }

    public static double[] Uniform(Rng rng, int n, double lo, double hi)
    {
        var x = new double[n];
        rng.FillUniform(x, lo, hi);
        return x;
    }

    /// <summary>The values of f(θ) recorded without tangents.</summary>
    public static double[] Evaluate(TapeFunction f, double[] theta)
    {
        var tape = new Tape();
        tape.Begin();
        var y = f(tape, tape.Parameter((double[])theta.Clone()));
        return y.Value.ToArray();
    }

    public static MathNet.Numerics.LinearAlgebra.Matrix<double> ToMathNet(Matrix m) =>
        MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(m.Rows, m.Cols, (i, j) => m[i, j]);
}

namespace Curvature.Autodiff;

/// <summary>
/// The error function family, needed by the exact (erf) GELU. .NET has no erf, and the
/// autodiff assembly depends on Core only, so it is computed here from two classical
/// expansions (derived in docs/autodiff.md, checked against MathNet.Numerics by
/// AutodiffOpTests.Complementary_error_function_matches_an_independent_implementation).
/// </summary>
public static class SpecialFunctions
{
    const double InvSqrtPi = 0.56418958354775628695; // 1/√π
    const double InvSqrt2 = 0.70710678118654752440;
    const double InvSqrt2Pi = 0.39894228040143267794; // 1/√(2π)

    /// <summary>erfc(x) = 1 − erf(x) = (2/√π)∫ₓ^∞ e^{−t²} dt, with full relative accuracy in the tail.</summary>
    public static double Erfc(double x)
    {
        if (double.IsNaN(x)) return double.NaN;
        if (x < 0) return 2.0 - Erfc(-x);
        if (x < 1.5) return 1.0 - ErfSeries(x);
        if (x > 27.3) return 0.0; // e^{−x²} underflows
        return ErfcContinuedFraction(x);
    }

    /// <summary>erf(x).</summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return double.NaN;
        if (Math.Abs(x) < 1.5) return ErfSeries(x);
        return x > 0 ? 1.0 - Erfc(x) : Erfc(-x) - 1.0;
    }

    /// <summary>The standard normal distribution function Φ(x) = ½·erfc(−x/√2).</summary>
    public static double NormalCdf(double x) => 0.5 * Erfc(-x * InvSqrt2);

    /// <summary>The standard normal density φ(x) = e^{−x²/2}/√(2π).</summary>
    public static double NormalPdf(double x) => InvSqrt2Pi * Math.Exp(-0.5 * x * x);

    /// <summary>
    /// erf(x) = (2/√π) e^{−x²} Σₙ 2ⁿ x^{2n+1} / (1·3·…·(2n+1)): every term is positive, so
    /// there is no cancellation; the ratio of consecutive terms is 2x²/(2n+3).
    /// </summary>
    static double ErfSeries(double x)
    {
        double x2 = x * x, term = x, sum = x;
        for (int n = 0; n < 200; n++)
        {
            term *= 2.0 * x2 / (2 * n + 3);
            sum += term;
            if (Math.Abs(term) <= 1e-17 * Math.Abs(sum)) break;
        }
        return 2.0 * InvSqrtPi * Math.Exp(-x2) * sum;
    }

    /// <summary>
    /// erfc(x) = (e^{−x²}/√π) · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))) for x &gt; 0,
    /// evaluated by the modified Lentz method.
    /// </summary>
    static double ErfcContinuedFraction(double x)
    {
        const double tiny = 1e-300;
        double f = x, c = x, d = 0.0;
        for (int n = 1; n < 2000; n++)
        {
            double a = 0.5 * n;
            d = x + a * d;
            if (Math.Abs(d) < tiny) d = tiny;
            c = x + a / c;
            if (Math.Abs(c) < tiny) c = tiny;
            d = 1.0 / d;
            double delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1.0) < 1e-16) break;
        }
        return InvSqrtPi * Math.Exp(-x * x) / f;
    }
}

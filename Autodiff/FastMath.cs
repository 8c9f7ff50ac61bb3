using System.Numerics;
using System.Runtime.InteropServices;

namespace Curvature.Autodiff;

/// <summary>
/// SIMD versions of the transcendental functions on the hot path (tanh on every hidden
/// unit of every example). Accurate to a few ulps; checked against Math.Tanh by
/// AutodiffOpTests.Vectorized_tanh_agrees_with_Math_Tanh_to_a_few_ulps.
/// </summary>
public static class FastMath
{
    // tanh(x) = x + x·t·Q(t), t = x², for |x| < 0.625: Q is the degree-10 Chebyshev fit of
    // (tanh(√t)/√t − 1)/t on [0, 0.625²] (computed with 50-digit arithmetic; fit error
    // 4e-17 relative to tanh), highest degree first.
    const double Q10 = -1.724487449484433e-05, Q9 = 7.959955735264808e-05, Q8 = -0.00023077616269519857,
        Q7 = 0.0005874372860094381, Q6 = -0.001455309297534642, Q5 = 0.0035920589774734554,
        Q4 = -0.008863229830925709, Q3 = 0.021869488260559115, Q2 = -0.05396825396139557,
        Q1 = 0.13333333333326658, Q0 = -0.3333333333333332;

    const double SmallLimit = 0.625;

    /// <summary>y = tanh(x), elementwise.</summary>
    public static void Tanh(ReadOnlySpan<double> x, Span<double> y)
    {
        if (y.Length < x.Length)
            throw new ArgumentException($"Argument 'y' has length {y.Length}; expected at least {x.Length}.", nameof(y));
        var vx = MemoryMarshal.Cast<double, Vector<double>>(x);
        var vy = MemoryMarshal.Cast<double, Vector<double>>(y[..x.Length]);
        var limit = new Vector<double>(SmallLimit);
        var one = Vector<double>.One;
        var two = new Vector<double>(2.0);
        for (int i = 0; i < vx.Length; i++)
        {
            var v = vx[i];
            var a = Vector.Abs(v);
            // Large |x|: 1 − 2/(e^{2|x|} + 1) with the sign of x; e^{2|x|} = ∞ gives exactly 1.
            var e = Vector.Exp(two * a);
            var large = one - two / (e + one);
            large = Vector.ConditionalSelect(Vector.LessThan(v, Vector<double>.Zero), -large, large);
            // Small |x|: the odd polynomial, free of the cancellation in 1 − 2/(e + 1).
            var t = v * v;
            var q = Vector.FusedMultiplyAdd(new Vector<double>(Q10), t, new Vector<double>(Q9));
            q = Vector.FusedMultiplyAdd(q, t, new Vector<double>(Q8));
            q = Vector.FusedMultiplyAdd(q, t, new Vector<double>(Q7));
            q = Vector.FusedMultiplyAdd(q, t, new Vector<double>(Q6));
            q = Vector.FusedMultiplyAdd(q, t, new Vector<double>(Q5));
            q = Vector.FusedMultiplyAdd(q, t, new Vector<double>(Q4));
            q = Vector.FusedMultiplyAdd(q, t, new Vector<double>(Q3));
            q = Vector.FusedMultiplyAdd(q, t, new Vector<double>(Q2));
            q = Vector.FusedMultiplyAdd(q, t, new Vector<double>(Q1));
            q = Vector.FusedMultiplyAdd(q, t, new Vector<double>(Q0));
            var small = Vector.FusedMultiplyAdd(v * t, q, v);
            vy[i] = Vector.ConditionalSelect(Vector.LessThan(a, limit), small, large);
        }
        for (int i = vx.Length * Vector<double>.Count; i < x.Length; i++) y[i] = Math.Tanh(x[i]);
    }

    // Φ(x) = ½·erfc(−x/√2): erfc(z), z = |x|/√2, in three pieces whose coefficients
    // scripts/normal_cdf_fit.py computes (Chebyshev interpolation with 50-digit arithmetic,
    // powers of (variable − midpoint)); derived in docs/autodiff.md ("Vectorized Φ").
    // S: degree 11 on [0.0, 1.0] about 0.5; worst relative error in double Horner 1.64e-16
    const double SMid = 0.5;
    static readonly double[] S = [0.9654687386698673, -0.2810721780454342, 0.07940998675593687, -0.018283884489152684, 0.003480274496570158, -0.0005611894221209664, 7.829649688379886e-05, -9.614808641390195e-06, 1.0536323840680666e-06, -1.0420387617195658e-07, 9.432320191926508e-09, -7.795898827002142e-10];
    // M: degree 17 on [0.4, 1.0] about 0.7; worst relative error in double Horner 1.45e-16
    const double MMid = 0.7;
    static readonly double[] M = [0.47667664648780045, -0.17068712145513276, 0.012498098949569339, 0.05137376220511266, -0.060564191269733336, 0.043061233277297835, -0.017341355674152018, -0.005613070516595784, 0.020461603452069075, -0.025856258086720076, 0.023021151327997362, -0.014575247800915429, 0.0036215879988531798, 0.00687482371936099, -0.014752833312762224, 0.019401237726911658, -0.019465660120289798, 0.01085688513891239];
    // T: degree 18 on [0.036, 0.4] about 0.218; worst relative error in double Horner 1.44e-16
    const double TMid = 0.218;
    static readonly double[] T = [0.5516411064070699, -0.10803210386763323, -0.18893610883416292, 0.2200433970561486, 0.021924302010472352, -0.3522979137474719, 0.4084683525373733, 0.1410464557960614, -1.1666499022262145, 1.63993019750314, 0.21170657036665183, -5.2937414364346225, 10.309567661341854, -4.849543900979205, -26.260552939486484, 85.85413890490084, -85.74329684364182, -213.56140517876833, 546.3938304371391];

    const double InvSqrt2Pi = 0.39894228040143267794; // 1/√(2π)
    const double Sqrt2 = 1.41421356237309504880;

    /// <summary>
    /// Σ cᵢsⁱ as E(s²) + s·O(s²), the even and odd coefficients each by Horner's rule: two
    /// independent chains of half the length, so the latency of a degree-18 polynomial is that
    /// of degree 9 (the pieces are latency-bound, not throughput-bound).
    /// </summary>
    static Vector<double> Horner(double[] c, Vector<double> s)
    {
        var s2 = s * s;
        int top = c.Length - 1;
        var even = new Vector<double>(c[top - top % 2]);
        var odd = new Vector<double>(c[top - 1 + top % 2]);
        for (int i = top - top % 2 - 2; i >= 0; i -= 2) even = Vector.FusedMultiplyAdd(even, s2, new Vector<double>(c[i]));
        for (int i = top - 1 + top % 2 - 2; i >= 1; i -= 2) odd = Vector.FusedMultiplyAdd(odd, s2, new Vector<double>(c[i]));
        return Vector.FusedMultiplyAdd(odd, s, even);
    }

    /// <summary>Φ(x) and φ(x) of one vector: every lane by the same expressions, whatever its neighbours.</summary>
    static void CdfAndPdf(Vector<double> x, out Vector<double> cdf, out Vector<double> pdf)
    {
        // |x| ≥ 40 gives Φ ∈ {0, 1} and φ = 0 in double; clamping keeps ±∞ out of the FMA below.
        var xc = Vector.Min(Vector.Max(x, new Vector<double>(-40.0)), new Vector<double>(40.0));
        var half = new Vector<double>(0.5);
        // x²/2 = p + e exactly (FMA gives the rounding error of x·x), so e^{−x²/2} = e^{−p}(1 − e)
        // to within e²: the tail's relative error is exp's own, not x²'s rounding times x².
        var xx = xc * xc;
        var p = xx * half;
        var e = Vector.FusedMultiplyAdd(xc, xc, -xx) * half;
        var g = Vector.Exp(-p) * (Vector<double>.One - e);
        pdf = g * new Vector<double>(InvSqrt2Pi);
        var a = Vector.Abs(xc);
        // z² = x²/2 = p (+ e, below S's resolution), z = |x|/√2.
        var z = a * new Vector<double>(1.0 / Sqrt2);
        var erfc = Vector<double>.One - z * Horner(S, p - new Vector<double>(SMid));
        var sqrt2 = new Vector<double>(Sqrt2);
        if (!Vector.LessThanAll(a, sqrt2))
        {
            var u = sqrt2 / a; // 1/z; ∞ at x = 0, where the small piece is chosen
            var middle = Horner(M, u - new Vector<double>(MMid));
            var tail = Horner(T, u - new Vector<double>(TMid));
            var large = g * u * Vector.ConditionalSelect(Vector.LessThan(a, new Vector<double>(2.5 * Sqrt2)), middle, tail);
            erfc = Vector.ConditionalSelect(Vector.LessThan(a, sqrt2), erfc, large);
        }
        var h = erfc * half;
        cdf = Vector.ConditionalSelect(Vector.LessThan(xc, Vector<double>.Zero), h, Vector<double>.One - h);
        // NaN in, NaN out (the clamp above would turn it into a number).
        var isNumber = Vector.Equals(x, x);
        cdf = Vector.ConditionalSelect(isNumber, cdf, x);
        pdf = Vector.ConditionalSelect(isNumber, pdf, x);
    }

    /// <summary>
    /// Φ(x), the standard normal distribution function, elementwise: relative error below
    /// 2e-15 where Φ ≥ 1e-300 (1.1e-15 measured, near x = −1.4 where ½(1 − z·S) cancels; AutodiffOpTests.Vectorized_normal_cdf_agrees_with_a_50_digit_reference).
    /// </summary>
    public static void NormalCdf(ReadOnlySpan<double> x, Span<double> cdf)
    {
        if (cdf.Length < x.Length)
            throw new ArgumentException($"Argument 'cdf' has length {cdf.Length}; expected at least {x.Length}.", nameof(cdf));
        Map<CdfMap>(x, cdf, cdf);
    }

    /// <summary>
    /// y = eˣ elementwise by <see cref="Vector.Exp(Vector{double})"/> (y may be x), with
    /// e^{−∞} = 0 (AutodiffOpTests.Vectorized_exp_agrees_with_Math_Exp_to_a_few_ulps).
    /// </summary>
    public static void Exp(ReadOnlySpan<double> x, Span<double> y)
    {
        if (y.Length < x.Length)
            throw new ArgumentException($"Argument 'y' has length {y.Length}; expected at least {x.Length}.", nameof(y));
        Map<ExpMap>(x, y, y);
    }

    /// <summary>
    /// The exact GELU y = x·Φ(x) and its derivative f′ = Φ(x) + x·φ(x), elementwise, from
    /// one evaluation of Φ and of e^{−x²/2}.
    /// </summary>
    public static void Gelu(ReadOnlySpan<double> x, Span<double> y, Span<double> first)
    {
        if (y.Length < x.Length)
            throw new ArgumentException($"Argument 'y' has length {y.Length}; expected at least {x.Length}.", nameof(y));
        if (first.Length < x.Length)
            throw new ArgumentException($"Argument 'first' has length {first.Length}; expected at least {x.Length}.", nameof(first));
        Map<GeluMap>(x, y, first);
    }

    /// <summary>A vector function with two results, resolved at compile time so the JIT inlines it.</summary>
    interface IVectorMap
    {
        static abstract void Apply(Vector<double> x, out Vector<double> a, out Vector<double> b);
    }

    struct CdfMap : IVectorMap
    {
        public static void Apply(Vector<double> x, out Vector<double> a, out Vector<double> b)
        {
            CdfAndPdf(x, out a, out _);
            b = a;
        }
    }

    struct ExpMap : IVectorMap
    {
        public static void Apply(Vector<double> x, out Vector<double> a, out Vector<double> b)
        {
            a = Vector.Exp(x);
            b = a;
        }
    }

    struct GeluMap : IVectorMap
    {
        public static void Apply(Vector<double> x, out Vector<double> a, out Vector<double> b)
        {
            CdfAndPdf(x, out var cdf, out var pdf);
            a = x * cdf;
            b = Vector.FusedMultiplyAdd(x, pdf, cdf);
        }
    }

    /// <summary>
    /// Applies f to whole vectors; the last partial vector goes through a padded copy, so an
    /// entry's bits never depend on where it sits in the span.
    /// </summary>
    static void Map<TF>(ReadOnlySpan<double> x, Span<double> a, Span<double> b) where TF : struct, IVectorMap
    {
        int w = Vector<double>.Count, n = x.Length, whole = n - n % w;
        for (int i = 0; i < whole; i += w)
        {
            TF.Apply(new Vector<double>(x.Slice(i, w)), out var va, out var vb);
            va.CopyTo(a.Slice(i, w));
            vb.CopyTo(b.Slice(i, w));
        }
        if (whole == n) return;
        Span<double> pad = stackalloc double[w];
        Span<double> outA = stackalloc double[w];
        Span<double> outB = stackalloc double[w];
        x[whole..].CopyTo(pad);
        TF.Apply(new Vector<double>(pad), out var ta, out var tb);
        ta.CopyTo(outA);
        tb.CopyTo(outB);
        outA[..(n - whole)].CopyTo(a[whole..]);
        outB[..(n - whole)].CopyTo(b[whole..]);
    }
}

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
}

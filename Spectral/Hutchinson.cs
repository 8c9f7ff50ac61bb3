using Curvature.Core;

namespace Curvature.Spectral;

/// <summary>A stochastic trace estimate: mean, its standard error, probes used and operator products spent.</summary>
public readonly record struct TraceEstimate(double Mean, double StandardError, int Samples, int Matvecs);

/// <summary>
/// Randomized trace estimators with Rademacher probes: Hutchinson (mean of zᵀAz) and
/// Hutch++ (exact trace on a sketched dominant subspace plus Hutchinson on the rest).
/// See docs/spectral.md.
/// </summary>
public static class Hutchinson
{
    const int Block = 16;

    /// <summary>tr(A) ≈ (1/N) Σ z_iᵀ A z_i over N = <paramref name="samples"/> Rademacher probes.</summary>
    public static TraceEstimate Estimate(ILinearOperator op, int samples, ulong seed)
    {
        CheckSamples(op, samples);
        var rng = new Rng(seed);
        var quad = new double[samples];
        SampleQuadratics(op, rng, quad, null, 0);
        var (mean, se) = MeanAndError(quad);
        return new TraceEstimate(mean, se, samples, samples);
    }

    /// <summary>
    /// Hutch++ with a budget of <paramref name="matvecs"/> products: s = m/3 sketch probes
    /// S, Q = orth(A·S), tr(QᵀAQ) exactly, and Hutchinson on (I − QQᵀ)A(I − QQᵀ) with the
    /// remaining probes. The standard error is that of the Hutchinson part.
    /// </summary>
    public static TraceEstimate HutchPlusPlus(ILinearOperator op, int matvecs, ulong seed)
    {
        Guard.NotNull(op);
        if (matvecs < 4)
            throw new ArgumentOutOfRangeException(nameof(matvecs), $"Argument 'matvecs' was {matvecs}; expected at least 4 (sketch, its image and two residual probes).");
        int n = op.Size;
        var rng = new Rng(seed);
        int s = Math.Min(Math.Max(1, matvecs / 3), n);
        var sketch = new double[s * n];
        var image = new double[s * n];
        var ws = new BlockWorkspace(n, s);
        rng.FillRademacher(sketch);
        op.ApplyBlock(sketch, image, s);
        int q = BlockOps.Orthonormalize(image, s, n, ws);
        // image rows 0..q are Q; sketch is reused for A·Q.
        var qBlock = image.AsSpan(0, q * n);
        op.ApplyBlock(qBlock, sketch.AsSpan(0, q * n), q);
        double exact = 0;
        for (int i = 0; i < q; i++) exact += Blas.Dot(qBlock.Slice(i * n, n), sketch.AsSpan(i * n, n));
        int g = matvecs - s - q;
        var quad = new double[g];
        SampleQuadratics(op, rng, quad, image, q);
        var (mean, se) = MeanAndError(quad);
        return new TraceEstimate(exact + mean, se, g, s + q + g);
    }

    /// <summary>quad[i] ← z_iᵀ A z_i for Rademacher z_i, first projected off the q rows of Q when given.</summary>
    static void SampleQuadratics(ILinearOperator op, Rng rng, double[] quad, double[]? q, int qRows)
    {
        int n = op.Size;
        int b = Math.Min(Block, quad.Length);
        var z = new double[b * n];
        var az = new double[b * n];
        var coef = new double[Math.Max(1, b * qRows)];
        for (int start = 0; start < quad.Length; start += b)
        {
            int cnt = Math.Min(b, quad.Length - start);
            var zb = z.AsSpan(0, cnt * n);
            rng.FillRademacher(zb);
            if (q != null && qRows > 0)
                for (int round = 0; round < 2; round++)
                    BlockOps.ProjectOut(zb, cnt, q.AsSpan(0, qRows * n), qRows, n, coef);
            op.ApplyBlock(zb, az.AsSpan(0, cnt * n), cnt);
            for (int i = 0; i < cnt; i++)
                quad[start + i] = Blas.Dot(zb.Slice(i * n, n), az.AsSpan(i * n, n));
        }
    }

    /// <summary>Throws unless <paramref name="op"/> is given and <paramref name="samples"/> allows a standard error.</summary>
    internal static void CheckSamples(ILinearOperator op, int samples)
    {
        Guard.NotNull(op);
        if (samples < 2)
            throw new ArgumentOutOfRangeException(nameof(samples), $"Argument 'samples' was {samples}; expected at least 2 (a standard error needs two samples).");
    }

    /// <summary>
    /// The mean of the samples and its standard error √(s²/N), s² the sample variance
    /// Σ(x − x̄)²/(N − 1): the one mean ± error of every stochastic estimate (NaN error for one sample).
    /// </summary>
    public static (double Mean, double StandardError) MeanAndError(ReadOnlySpan<double> x)
    {
        double mean = 0;
        foreach (double v in x) mean += v;
        mean /= x.Length;
        double ss = 0;
        foreach (double v in x) ss += (v - mean) * (v - mean);
        double variance = ss / (x.Length - 1);
        return (mean, Math.Sqrt(variance / x.Length));
    }
}

using Curvature.Core;

namespace Curvature.Spectral;

/// <summary>A stochastic estimate of a matrix diagonal: per-entry mean, its standard error, probes used.</summary>
public sealed record DiagonalEstimate(double[] Mean, double[] StandardError, int Samples);

/// <summary>
/// Hutchinson's diagonal estimator with Rademacher probes: diag(A) ≈ (1/S) Σₛ zₛ∘(A zₛ),
/// each entry's standard error the sample standard deviation over √S (docs/curvature.md §8).
/// </summary>
public static class HutchinsonDiagonal
{
    const int Block = 16;

    /// <summary>Estimates diag(A) from <paramref name="samples"/> probes drawn from <c>Rng(seed)</c>, applied in blocks of 16.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="samples"/> is below 2 (no standard error).</exception>
    public static DiagonalEstimate Estimate(ILinearOperator op, int samples, ulong seed)
    {
        Hutchinson.CheckSamples(op, samples);
        int n = op.Size, b = Math.Min(Block, samples);
        var rng = new Rng(seed);
        var z = new double[b * n];
        var az = new double[b * n];
        // Welford's running mean and sum of squared deviations per entry.
        var mean = new double[n];
        var m2 = new double[n];
        int seen = 0;
        for (int start = 0; start < samples; start += b)
        {
            int count = Math.Min(b, samples - start);
            rng.FillRademacher(z.AsSpan(0, count * n));
            op.ApplyBlock(z.AsSpan(0, count * n), az.AsSpan(0, count * n), count);
            for (int s = 0; s < count; s++)
            {
                seen++;
                for (int a = 0; a < n; a++)
                {
                    double x = z[s * n + a] * az[s * n + a], d = x - mean[a];
                    mean[a] += d / seen;
                    m2[a] += d * (x - mean[a]);
                }
            }
        }
        var se = new double[n];
        for (int a = 0; a < n; a++) se[a] = Math.Sqrt(m2[a] / (samples - 1) / samples);
        return new DiagonalEstimate(mean, se, samples);
    }
}

using Curvature.Core;

namespace Curvature.Models;

/// <summary>
/// Seeded synthetic problems (definitions derived in docs/data.md). Both generators draw
/// their fixed part (class means, teacher weights) first and then the examples one after
/// another, so the same seed gives the same bits and a smaller N gives a prefix of a
/// larger one: <c>gmm:1000:…</c> is the first 1000 rows of <c>gmm:2000:…</c> with the same
/// D, C and seed, which makes a held-out set the rows past the training ones.
/// Everything is computed in plain loops in a fixed order, independent of BLAS threads.
/// </summary>
public static class Synthetic
{
    /// <summary>Default separation s of the mixture: class means are (s/√D)·z, z ~ N(0, I_D),
    /// so two means lie ≈ s·√2 noise standard deviations apart whatever D is.</summary>
    public const double DefaultSeparation = 3.0;

    /// <summary>Hidden width of the teacher network.</summary>
    public const int DefaultTeacherHidden = 16;

    /// <summary>
    /// Gaussian mixture with <paramref name="c"/> classes in <paramref name="d"/> dimensions:
    /// μ_k = (s/√D)·z_k with z_k ~ N(0, I_D); example i has x_i = μ_{y_i} + ε_i,
    /// ε_i ~ N(0, I_D). Labels come in blocks of C consecutive examples, each block a random
    /// permutation of the classes, so classes are balanced (counts differ by at most one)
    /// and in random order.
    /// </summary>
    public static Dataset Gmm(int n, int d, int c, ulong seed, double separation = DefaultSeparation, string? name = null)
    {
        Guard.Positive(n);
        Guard.Positive(d);
        Guard.InRange(c, 2, int.MaxValue);
        Guard.NonNegative(separation);
        CheckSize(n, d);
        var rng = new Rng(seed);
        double scale = separation / Math.Sqrt(d);
        var means = new double[c * d];
        for (int k = 0; k < means.Length; k++) means[k] = scale * rng.NextGaussian();

        var x = new Matrix(n, d);
        var labels = new int[n];
        var perm = new int[c];
        for (int i = 0; i < n; i++)
        {
            if (i % c == 0)
            {
                for (int k = 0; k < c; k++) perm[k] = k;
                rng.Shuffle(perm.AsSpan());
            }
            int y = perm[i % c];
            labels[i] = y;
            Span<double> row = x.Row(i);
            ReadOnlySpan<double> mu = means.AsSpan(y * d, d);
            for (int j = 0; j < d; j++) row[j] = mu[j] + rng.NextGaussian();
        }
        return new Dataset(x, labels, null, c, name ?? $"gmm:{n}:{d}:{c}:{seed}");
    }

    /// <summary>
    /// Teacher–student regression: a fixed random D-h-1 tanh network
    /// t(x) = w₂ᵀ tanh(W₁ x) with (W₁)_{jk} ~ N(0, 1/D), (w₂)_j ~ N(0, 1/h) and no biases,
    /// applied to inputs x_i ~ N(0, I_D); targets are t(x_i) exactly (no noise), one output,
    /// so <see cref="Dataset.Classes"/> is 1 and <see cref="Dataset.Labels"/> is null.
    /// </summary>
    public static Dataset Teacher(int n, int d, ulong seed, int hidden = DefaultTeacherHidden, string? name = null)
    {
        Guard.Positive(n);
        Guard.Positive(d);
        Guard.Positive(hidden);
        CheckSize(n, d);
        var rng = new Rng(seed);
        var w1 = new double[hidden * d];
        double s1 = 1 / Math.Sqrt(d), s2 = 1 / Math.Sqrt(hidden);
        for (int k = 0; k < w1.Length; k++) w1[k] = s1 * rng.NextGaussian();
        var w2 = new double[hidden];
        for (int k = 0; k < hidden; k++) w2[k] = s2 * rng.NextGaussian();

        var x = new Matrix(n, d);
        var t = new Matrix(n, 1);
        for (int i = 0; i < n; i++)
        {
            Span<double> row = x.Row(i);
            rng.FillGaussian(row);
            double y = 0;
            for (int h = 0; h < hidden; h++)
            {
                ReadOnlySpan<double> wh = w1.AsSpan(h * d, d);
                double z = 0;
                for (int j = 0; j < d; j++) z += wh[j] * row[j];
                y += w2[h] * Math.Tanh(z);
            }
            t[i, 0] = y;
        }
        return new Dataset(x, null, t, 1, name ?? $"teacher:{n}:{d}:{seed}");
    }

    /// <summary>Largest N·D the generators accept (8 bytes each: 800 MB).</summary>
    public const long MaxElements = 100_000_000;

    static void CheckSize(int n, int d)
    {
        if ((long)n * d > MaxElements)
            throw new ArgumentOutOfRangeException(nameof(n), $"Arguments 'n' = {n} and 'd' = {d} give {(long)n * d} input values; expected N·D ≤ {MaxElements}.");
    }
}

namespace Curvature.Core;

/// <summary>
/// Seeded xoshiro256** generator. Its whole state is four 64-bit words, so it can be
/// checkpointed and restored exactly; the same seed gives the same stream on every
/// machine and thread count (nothing here depends on the scheduler).
/// </summary>
public sealed class Rng
{
    ulong _s0, _s1, _s2, _s3;
    double _spareGaussian;
    bool _hasSpare;

    /// <summary>A generator seeded through SplitMix64 (every seed, 0 included, gives a well-mixed state).</summary>
    public Rng(ulong seed)
    {
        // SplitMix64 spreads any seed (even 0) over the four words, as the xoshiro authors advise.
        ulong x = seed;
        _s0 = SplitMix(ref x); _s1 = SplitMix(ref x); _s2 = SplitMix(ref x); _s3 = SplitMix(ref x);
    }

    /// <summary>Same as the unsigned seed with the same bits.</summary>
    public Rng(long seed) : this(unchecked((ulong)seed)) { }

    static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>The next 64 random bits (xoshiro256**).</summary>
    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform on [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform on [lo, hi).</summary>
    public double Uniform(double lo, double hi) => lo + (hi - lo) * NextDouble();

    /// <summary>Uniform integer in [0, n), without modulo bias (Lemire's method).</summary>
    public int NextInt(int n)
    {
        Guard.Positive(n);
        ulong bound = (ulong)n;
        ulong threshold = (0UL - bound) % bound;
        while (true)
        {
            ulong r = NextUInt64();
            UInt128 m = (UInt128)r * bound;
            if ((ulong)m >= threshold) return (int)(m >> 64);
        }
    }

    /// <summary>Standard normal by the Marsaglia polar method.</summary>
    public double NextGaussian()
    {
        if (_hasSpare) { _hasSpare = false; return _spareGaussian; }
        double u, v, s;
        do
        {
            u = 2 * NextDouble() - 1;
            v = 2 * NextDouble() - 1;
            s = u * u + v * v;
        } while (s >= 1 || s == 0);
        double f = Math.Sqrt(-2 * Math.Log(s) / s);
        _spareGaussian = v * f;
        _hasSpare = true;
        return u * f;
    }

    /// <summary>Fills <paramref name="x"/> with independent standard normal values.</summary>
    public void FillGaussian(Span<double> x)
    {
        for (int i = 0; i < x.Length; i++) x[i] = NextGaussian();
    }

    /// <summary>Fills <paramref name="x"/> with values uniform in [lo, hi).</summary>
    public void FillUniform(Span<double> x, double lo, double hi)
    {
        for (int i = 0; i < x.Length; i++) x[i] = Uniform(lo, hi);
    }

    /// <summary>Fills with ±1 with equal probability (Rademacher), for trace estimators.</summary>
    public void FillRademacher(Span<double> x)
    {
        for (int i = 0; i < x.Length; i++) x[i] = (NextUInt64() >> 63) == 0 ? 1.0 : -1.0;
    }

    /// <summary>Fisher–Yates shuffle.</summary>
    public void Shuffle<T>(Span<T> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    /// <summary>The exact generator state, for checkpoints.</summary>
    public RngState State => new(_s0, _s1, _s2, _s3, _hasSpare, _spareGaussian);

    /// <summary>A generator that continues exactly where <paramref name="s"/> was taken.</summary>
    public static Rng FromState(RngState s)
    {
        var r = new Rng(0UL) { _s0 = s.S0, _s1 = s.S1, _s2 = s.S2, _s3 = s.S3, _hasSpare = s.HasSpare, _spareGaussian = s.Spare };
        return r;
    }
}

/// <summary>A snapshot of an <see cref="Rng"/>: the four xoshiro256** words and the pending second Gaussian of the polar pair.</summary>
public readonly record struct RngState(ulong S0, ulong S1, ulong S2, ulong S3, bool HasSpare, double Spare);

using Curvature.Core;

namespace Curvature.Models;

/// <summary>
/// The examples a curvature operator averages over when it uses a subset (the "Hessian
/// batch"): one draw for a given seed, shared by training's subspace tracker, spectrum and
/// decompose, so that the same seed and size measure the same examples everywhere.
/// </summary>
public static class CurvatureBatch
{
    /// <summary>Salt mixed into the seed ("HESSIAN" in ASCII), so the draw differs from other streams of the same seed.</summary>
    public const ulong Salt = 0x4845535349414EUL;

    /// <summary>
    /// The first <paramref name="size"/> indices of a Fisher–Yates shuffle of
    /// 0…<paramref name="exampleCount"/>−1 driven by <c>Rng(seed ^ Salt)</c>, sorted
    /// ascending; null (every example) when <paramref name="size"/> is null or equals
    /// <paramref name="exampleCount"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="exampleCount"/> is not positive or <paramref name="size"/> lies outside [1, exampleCount].</exception>
    public static int[]? Draw(ulong seed, int exampleCount, int? size)
    {
        Guard.Positive(exampleCount);
        if (size is not int m) return null;
        if (m < 1 || m > exampleCount)
            throw new ArgumentOutOfRangeException(nameof(size), $"Argument 'size' (the Hessian batch) was {m}; expected an integer in [1, {exampleCount}].");
        if (m == exampleCount) return null;
        var all = new int[exampleCount];
        for (int i = 0; i < exampleCount; i++) all[i] = i;
        new Rng(seed ^ Salt).Shuffle(all.AsSpan());
        var batch = all[..m];
        Array.Sort(batch);
        return batch;
    }
}

using System.Globalization;

namespace Curvature.Spectral;

/// <summary>
/// k approximate eigenpairs of a symmetric operator. Vectors are stored one per row
/// (k×n row-major) and are orthonormal; <see cref="Residuals"/> are the norms
/// ‖A v_j − λ_j v_j‖ computed from the operator's products, and a pair is flagged
/// <see cref="Converged"/> only when that residual met the solver's tolerance. Whether the
/// set is the right one (no more wanted eigenvalue missed, e.g. a copy of a repeated one) is
/// <see cref="Certified"/>, with the reason in <see cref="Certificate"/>.
/// </summary>
public sealed class EigenResult
{
    /// <summary>Packages k pairs; arrays are kept, not copied.</summary>
    /// <param name="which">End of the spectrum (fixes the order).</param>
    /// <param name="values">k eigenvalues in <paramref name="which"/> order.</param>
    /// <param name="vectors">k×n row-major eigenvectors.</param>
    /// <param name="residuals">k residual norms.</param>
    /// <param name="converged">k per-pair flags.</param>
    /// <param name="size">The dimension n.</param>
    /// <param name="matvecs">Operator applications (a block of b counts b).</param>
    /// <param name="iterations">Solver-specific outer iterations.</param>
    /// <param name="certified">Whether the solver ruled out a more wanted eigenvalue missing from the set.</param>
    /// <param name="certificate">Why the set is or is not certified (one sentence).</param>
    /// <exception cref="ArgumentException">Array lengths disagree with k and n.</exception>
    public EigenResult(Which which, double[] values, double[] vectors, double[] residuals, bool[] converged,
        int size, int matvecs, int iterations, bool certified = true, string? certificate = null)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(vectors);
        ArgumentNullException.ThrowIfNull(residuals);
        ArgumentNullException.ThrowIfNull(converged);
        int k = values.Length;
        if (size < 0 || vectors.Length != k * size)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"Argument 'vectors' has length {vectors.Length}; expected {k}x{size} = {k * size}."), nameof(vectors));
        if (residuals.Length != k)
            throw new ArgumentException($"Argument 'residuals' has length {residuals.Length}; expected {k}.", nameof(residuals));
        if (converged.Length != k)
            throw new ArgumentException($"Argument 'converged' has length {converged.Length}; expected {k}.", nameof(converged));
        Which = which;
        Values = values;
        Vectors = vectors;
        Residuals = residuals;
        Converged = converged;
        Size = size;
        Matvecs = matvecs;
        Iterations = iterations;
        Certified = certified;
        Certificate = certificate ?? (certified ? "certified by the solver" : "not certified");
    }

    /// <summary>The end of the spectrum these pairs come from; it fixes their order.</summary>
    public Which Which { get; }

    /// <summary>k eigenvalues: largest first for LA, largest |λ| first for LM, smallest first for SA.</summary>
    public double[] Values { get; }

    /// <summary>k×n row-major; row j is the unit eigenvector of <c>Values[j]</c>.</summary>
    public double[] Vectors { get; }

    /// <summary>‖A v_j − λ_j v_j‖ for each pair.</summary>
    public double[] Residuals { get; }

    /// <summary>Whether pair j met the tolerance; never true for a pair that did not.</summary>
    public bool[] Converged { get; }

    /// <summary>Operator applications, counting a block of m vectors as m.</summary>
    public int Matvecs { get; }

    /// <summary>Solver-specific outer iterations (Lanczos: restart cycles; LOBPCG: Rayleigh–Ritz updates; power: total steps).</summary>
    public int Iterations { get; }

    /// <summary>The number of pairs k.</summary>
    public int Count => Values.Length;

    /// <summary>The operator dimension n.</summary>
    public int Size { get; }

    /// <summary>Eigenvector j as a view of row j of <see cref="Vectors"/>.</summary>
    public ReadOnlySpan<double> Vector(int j)
    {
        if ((uint)j >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(j), $"Argument 'j' was {j}; expected an index in [0, {Count - 1}].");
        return Vectors.AsSpan(j * Size, Size);
    }

    /// <summary>
    /// Whether the solver ruled out a more wanted eigenvalue (such as another copy of a
    /// repeated one) missing from the set, within its guarantee (docs/spectral.md, "Guarantees").
    /// </summary>
    public bool Certified { get; }

    /// <summary>One sentence: what certifies the set, or why a missed copy cannot be ruled out.</summary>
    public string Certificate { get; }

    /// <summary>True when every pair converged and the set is <see cref="Certified"/>: the flag a caller should trust.</summary>
    public bool AllConverged => Certified && Array.TrueForAll(Converged, c => c);
}

using System.Globalization;

namespace Curvature.Spectral;

/// <summary>
/// k approximate eigenpairs of a symmetric operator. Vectors are stored one per row
/// (k×n row-major) and are orthonormal; <see cref="Residuals"/> are the norms
/// ‖A v_j − λ_j v_j‖ computed from the operator's products, and a pair is flagged
/// <see cref="Converged"/> only when that residual met the solver's tolerance.
/// </summary>
public sealed class EigenResult
{
    public EigenResult(Which which, double[] values, double[] vectors, double[] residuals, bool[] converged,
        int size, int matvecs, int iterations)
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

    /// <summary>True when every pair converged.</summary>
    public bool AllConverged => Array.TrueForAll(Converged, c => c);
}

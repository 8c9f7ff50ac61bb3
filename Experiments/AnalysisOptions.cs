using Curvature.Models;

namespace Curvature.Experiments;

/// <summary>How the curvature is analysed after (or alongside) training.</summary>
public sealed record AnalysisOptions
{
    /// <summary>Steps of the reference run at which H, G, F are decomposed (evenly spaced, ends included); 0 turns the analysis off.</summary>
    public int Points { get; init; } = 5;

    /// <summary>auto (dense up to <see cref="DenseLimit"/> parameters), dense, or hutchinson.</summary>
    public string Norms { get; init; } = "auto";

    /// <summary>Rademacher probes for the Hutchinson totals.</summary>
    public int Probes { get; init; } = 30;

    /// <summary>SLQ probes and Lanczos steps per probe for the spectral density.</summary>
    public int DensityProbes { get; init; } = 4;
    /// <summary>Lanczos steps per SLQ probe (<c>--density-steps</c>).</summary>
    public int DensitySteps { get; init; } = 60;

    /// <summary>Residual tolerance of the analysis' top-k solves (<c>--analysis-tolerance</c>); tighter than the tracker's, since the energies are read off the eigenvectors.</summary>
    public double Tolerance { get; init; } = 1e-6;

    /// <summary>
    /// At each analysis point of compare, also the subspace overlaps of H's top-k with the top-k of
    /// G, EF, Σ and K-FAC and the noise share tr(UᵀΣU)/tr Σ (<c>--no-overlaps</c> turns them off):
    /// three more top-k solves per point (<see cref="SubspaceOverlaps"/>).
    /// </summary>
    public bool Overlaps { get; init; } = true;

    /// <summary>Largest network whose totals "auto" computes densely.</summary>
    public const int DenseLimit = 1500;

    /// <summary>How the totals are computed for a network of <paramref name="parameterCount"/> parameters; throws naming <c>--norms</c>.</summary>
    public NormMethod Method(int parameterCount) => Norms.Trim().ToLowerInvariant() switch
    {
        "auto" => parameterCount <= DenseLimit ? NormMethod.Dense : NormMethod.Hutchinson,
        "dense" => parameterCount <= Objective.MaxDenseParameters ? NormMethod.Dense
            : throw new ArgumentOutOfRangeException("norms", $"Option '--norms' was 'dense' but the network has {parameterCount} parameters; expected at most {Objective.MaxDenseParameters} for dense totals (use hutchinson)."),
        "hutchinson" => NormMethod.Hutchinson,
        _ => throw new ArgumentException($"Option '--norms' was '{Norms}'; expected auto, dense or hutchinson.", "norms"),
    };

    /// <summary>Throws an ArgumentException naming the first invalid option.</summary>
    public void Validate()
    {
        if (Points < 0 || Points == 1)
            throw new ArgumentOutOfRangeException("points", $"Option '--points' was {Points}; expected 0 (no analysis) or at least 2 (the first and last step).");
        if (Probes < 2) throw new ArgumentOutOfRangeException("probes", $"Option '--probes' was {Probes}; expected at least 2.");
        if (DensityProbes < 1) throw new ArgumentOutOfRangeException("density-probes", $"Option '--density-probes' was {DensityProbes}; expected a positive integer.");
        if (DensitySteps < 2) throw new ArgumentOutOfRangeException("density-steps", $"Option '--density-steps' was {DensitySteps}; expected at least 2.");
        if (!(Tolerance > 0)) throw new ArgumentOutOfRangeException("analysis-tolerance", $"Option '--analysis-tolerance' was {Tolerance}; expected a positive number.");
        _ = Method(1);
    }

    /// <summary>The analysis steps: <see cref="Points"/> evenly spaced in [0, steps], rounded, distinct.</summary>
    public IReadOnlyList<long> Steps(long steps) =>
        Points == 0 ? [] : Enumerable.Range(0, Points).Select(i => (long)Math.Round((double)steps * i / (Points - 1))).Distinct().ToArray();
}

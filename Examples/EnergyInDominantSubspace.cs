using Curvature.Experiments;
using Curvature.Optimizers;

namespace Curvature.Examples;

/// <summary>README example 3: how much of H, G and F lives in H's dominant (top-k) subspace.</summary>
public static class EnergyInDominantSubspace
{
    /// <summary>The energy shares ‖UᵀAU‖²_F / ‖A‖²_F of A = H, G, F at the seeded initialization, U = top-10 of H.</summary>
    public static DecompositionPoint Run()
    {
        var spec = new RunSpec { Arch = "196-32-10", Data = "mnist14:1000", HessianBatch = 0 };
        var problem = Problem.Load(spec, withTest: false);
        double[] theta = problem.Model.Initialize(spec.Seed);
        DecompositionPoint point = CurvatureAnalysis.Decompose(problem.TrainObjective, step: 0, theta,
            examples: null, k: 10, NormMethod.Dense, probes: 0, seed: 0);
        // point.H.EnergyShare, point.G.EnergyShare, point.F.EnergyShare (and TraceShare, CrossShare, BulkShare)
        return point;
    }
}

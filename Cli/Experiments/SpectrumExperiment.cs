using System.Diagnostics;
using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;

namespace Curvature.Cli.Experiments;

/// <summary>What spectrum measured, as written to its summary.json.</summary>
public sealed record SpectrumSummary
{
    public required string Command { get; init; }
    public required string Operator { get; init; }
    public required string Theta { get; init; }
    public long? Step { get; init; }
    public required int Parameters { get; init; }
    public required int Examples { get; init; }
    public required double[] Eigenvalues { get; init; }
    public required double[] Residuals { get; init; }
    public required bool[] Converged { get; init; }
    public required int LanczosMatvecs { get; init; }
    public required double DensitySigma { get; init; }
    public required int DensityProbes { get; init; }
    public required int DensitySteps { get; init; }
    public required int DensityMatvecs { get; init; }
    public required double LowestNode { get; init; }
    public required double HighestNode { get; init; }
    public double? LearningRate { get; init; }
    public required double Seconds { get; init; }
}

/// <summary>
/// `curvature spectrum`: the top-k eigenpairs of H, G or F at one θ (thick-restart Lanczos)
/// and the operator's spectral density (stochastic Lanczos quadrature).
/// </summary>
public static class SpectrumExperiment
{
    public static SpectrumSummary Run(ModelChoice model, ThetaInput theta, CurvatureKind kind, int k, int? hessianBatch, double tolerance,
        AnalysisOptions density, ulong seed, int threads, string outDir, string command, IProgressSink progress)
    {
        var clock = Stopwatch.StartNew();
        // One native BLAS thread: the bits must not depend on the thread count (see ExperimentOptions.UseThreads).
        using var scope = Blas.UseThreads(1);
        var problem = model.Load(threads);
        ThetaSource.Check(theta, problem.ParameterCount, problem.Model.Spec, theta.Step is null ? "theta" : "checkpoint");
        problem.CheckK(k);
        var examples = problem.CurvatureBatch(hessianBatch is int hb && hb > 0 ? hb : null, seed);
        outDir = Path.GetFullPath(outDir);
        Directory.CreateDirectory(outDir);
        Json.Save(Path.Combine(outDir, "config.json"), new { command, model, theta = theta.Path, step = theta.Step, @operator = CurvatureAnalysis.Letter(kind), k, hessian_batch = hessianBatch, tolerance, density, seed, threads });

        progress.Report("top-k", 0, 0, 2, double.NaN, double.NaN);
        var top = CurvatureAnalysis.TopK(problem.TrainObjective, kind, theta.Theta, examples, k, seed, tolerance);
        progress.Report("density", 1, 1, 2, double.NaN, top.Values[0]);
        var op = problem.TrainObjective.CurvatureOperator(kind, theta.Theta, examples);
        DensityCurve curve;
        try
        {
            curve = CurvatureAnalysis.Density(op, density.DensitySteps, density.DensityProbes, seed + 1);
        }
        finally
        {
            (op as IDisposable)?.Dispose();
        }
        progress.Report("density", 2, 2, 2, double.NaN, top.Values[0]);

        var eig = new CsvTable(["index", "eigenvalue", "residual", "converged"]);
        for (int j = 0; j < k; j++) eig.AddRow(j + 1, top.Values[j], top.Residuals[j], top.Converged[j] ? 1 : 0);
        eig.Save(Path.Combine(outDir, "eigenvalues.csv"));
        Npy.Write(Path.Combine(outDir, "eigenvectors.npy"), top.Vectors.AsSpan(0, k * problem.ParameterCount), k, problem.ParameterCount);
        var dens = new CsvTable(["lambda", "density"]);
        for (int i = 0; i < curve.Grid.Length; i++) dens.AddRow(curve.Grid[i], curve.Density[i]);
        dens.Save(Path.Combine(outDir, "density.csv"));

        var summary = new SpectrumSummary
        {
            Command = command,
            Operator = CurvatureAnalysis.Letter(kind),
            Theta = theta.Path,
            Step = theta.Step,
            Parameters = problem.ParameterCount,
            Examples = examples?.Length ?? problem.Train.Count,
            Eigenvalues = top.Values.AsSpan(0, k).ToArray(),
            Residuals = top.Residuals.AsSpan(0, k).ToArray(),
            Converged = top.Converged.AsSpan(0, k).ToArray(),
            LanczosMatvecs = top.Matvecs,
            DensitySigma = curve.Sigma,
            DensityProbes = curve.Probes,
            DensitySteps = curve.LanczosSteps,
            DensityMatvecs = curve.Matvecs,
            LowestNode = curve.LowestNode,
            HighestNode = curve.HighestNode,
            LearningRate = model.LearningRate,
            Seconds = clock.Elapsed.TotalSeconds,
        };
        SpectrumReport.Write(outDir, model, problem, summary, curve);
        Json.Save(Path.Combine(outDir, "summary.json"), summary with { Seconds = clock.Elapsed.TotalSeconds });
        return summary;
    }
}

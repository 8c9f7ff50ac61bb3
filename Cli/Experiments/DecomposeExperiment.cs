using System.Diagnostics;
using Curvature.Core;

namespace Curvature.Cli.Experiments;

/// <summary>What decompose measured, as written to its summary.json.</summary>
public sealed record DecomposeSummary
{
    public required string Command { get; init; }
    public required string Source { get; init; }
    public required IReadOnlyList<string> Inputs { get; init; }
    public required int K { get; init; }
    public required int Parameters { get; init; }
    public required int Examples { get; init; }
    public required string NormMethod { get; init; }
    public required IReadOnlyList<DecompositionRow> Rows { get; init; }
    public required double Seconds { get; init; }
}

/// <summary>
/// `curvature decompose`: the energy and trace shares of H, G and F inside H's top-k
/// subspace at given parameter vectors (checkpoints or .npy files), or along an SGD run it
/// trains itself.
/// </summary>
public static class DecomposeExperiment
{
    /// <summary>Decomposes at the given θ's (each with its step, or its position when it has none).</summary>
    public static DecomposeSummary Run(ModelChoice model, Problem problem, IReadOnlyList<ThetaInput> inputs, string source, int k, int? hessianBatch,
        AnalysisOptions analysis, ulong seed, string outDir, string command, IProgressSink progress, long unitOffset = 0, long unitsPerPoint = 1)
    {
        var clock = Stopwatch.StartNew();
        problem.CheckK(k);
        var method = analysis.Method(problem.ParameterCount);
        foreach (var t in inputs) ThetaSource.Check(t, problem.ParameterCount, problem.Model.Spec, t.Step is null ? "theta" : "checkpoint");
        var examples = problem.CurvatureBatch(hessianBatch is int hb && hb > 0 ? hb : null, seed);
        outDir = Path.GetFullPath(outDir);
        Directory.CreateDirectory(outDir);
        Json.Save(Path.Combine(outDir, "config.json"), new { command, model, inputs = inputs.Select(t => t.Path).ToArray(), k, hessian_batch = hessianBatch, analysis, seed });
        var rows = new List<DecompositionRow>();
        for (int i = 0; i < inputs.Count; i++)
        {
            long step = inputs[i].Step ?? i;
            progress.Report("decompose", unitOffset + i * unitsPerPoint, i, inputs.Count, double.NaN, rows.Count > 0 ? rows[^1].Eigenvalues[0] : double.NaN);
            var point = CurvatureAnalysis.Decompose(problem.TrainObjective, step, inputs[i].Theta, examples, k, method, analysis.Probes, seed + (ulong)i);
            rows.Add(DecompositionRow.From(point));
            progress.Report("decompose", unitOffset + (i + 1) * unitsPerPoint, i + 1, inputs.Count, double.NaN, point.Eigenvalues[0]);
        }
        DecompositionRow.Table(rows).Save(Path.Combine(outDir, "energy.csv"));
        var summary = new DecomposeSummary
        {
            Command = command,
            Source = source,
            Inputs = inputs.Select(t => t.Path).ToList(),
            K = k,
            Parameters = problem.ParameterCount,
            Examples = examples?.Length ?? problem.Train.Count,
            NormMethod = method == NormMethod.Dense ? "dense" : $"hutchinson ({analysis.Probes} probes, deflated)",
            Rows = rows,
            Seconds = clock.Elapsed.TotalSeconds,
        };
        DecomposeReport.Write(outDir, model, problem, summary, analysis, method);
        Json.Save(Path.Combine(outDir, "summary.json"), summary with { Seconds = clock.Elapsed.TotalSeconds });
        return summary;
    }

    /// <summary>Trains SGD (writing its run to OUT/sgd) and decomposes at evenly spaced steps of it.</summary>
    public static DecomposeSummary RunAlongSgd(ExperimentOptions options, ModelChoice model, int? hessianBatch, AnalysisOptions analysis,
        string command, IProgressSink progress, CancellationToken cancel)
    {
        options.Validate();
        using var threads = options.UseThreads();
        var problem = options.LoadProblem();
        options.Validate(problem);
        var steps = analysis.Steps(options.Steps);
        var theta0 = problem.Model.Initialize(options.Seed);
        string outDir = Path.GetFullPath(options.Out);
        var spec = new OptimizerSpec("sgd", null, null);
        var run = TrainingRunner.Run(problem, options, spec, theta0, Path.Combine(outDir, "sgd"), progress, 0, steps, cancel);
        var inputs = run.Snapshots.Select(s => new ThetaInput(Path.Combine("sgd", $"step {s.Step}"), s.Step, s.Theta)).ToList();
        return Run(model, problem, inputs, $"{inputs.Count} evenly spaced steps of an SGD run (η = {ReportWriter.Num(options.LearningRate)}, batch {options.Batch}, written to sgd/)",
            options.K, hessianBatch, analysis, options.Seed, outDir, command, progress, options.Steps, UnitsPerPoint);
    }

    public const int UnitsPerPoint = 25;
}

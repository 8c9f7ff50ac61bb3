using Curvature.Core;
using Curvature.Optimizers;

namespace Curvature.Cli.Experiments;

/// <summary>A finished run: its trainer (metrics, final θ), how it ended, and θ at the requested steps.</summary>
public sealed record CompletedRun(string Name, OptimizerSpec Spec, TrainingConfig Config, Trainer Trainer, TrainingResult Result,
    IReadOnlyList<(long Step, double[] Theta)> Snapshots, RunSummary Summary, string Directory);

/// <summary>
/// Runs one optimizer from a given θ₀ on a loaded problem and writes its directory:
/// config.json, metrics.csv, summary.json, checkpoint.bin and theta.npy (θ at the end).
/// </summary>
public static class TrainingRunner
{
    public static CompletedRun Run(Problem problem, ExperimentOptions options, OptimizerSpec spec, ReadOnlySpan<double> theta0,
        string directory, IProgressSink progress, long unitOffset, IReadOnlyList<long>? snapshotSteps, CancellationToken cancel,
        Func<OptimizerSpec, ExperimentOptions, TrainingConfig>? configure = null)
    {
        var config = configure?.Invoke(spec, options) ?? options.ToTrainingConfig(spec, directory, problem.Train.Count);
        config = config with { Out = directory };
        var trainerOptions = config.TrainerOptions();
        var trainer = new Trainer(problem.TrainObjective, problem.TestObjective, trainerOptions, theta0);
        var snapshots = new List<(long, double[])>();
        var reporter = new Reporter(progress, spec.Label, unitOffset);
        TrainingResult result = default!;
        var stops = (snapshotSteps ?? []).Where(s => s > 0 && s < config.Steps).Distinct().Order().ToList();
        if (snapshotSteps?.Contains(0) == true) snapshots.Add((0, trainer.Theta.ToArray()));
        foreach (var stop in stops.Append(config.Steps))
        {
            result = trainer.Run(reporter, cancel, stop);
            if (result.Diverged || trainer.Step < stop) break;
            if (snapshotSteps?.Contains(stop) == true) snapshots.Add((trainer.Step, trainer.Theta.ToArray()));
        }
        cancel.ThrowIfCancellationRequested();
        var summary = RunSummary.From(spec.DirectoryName, spec, config.LearningRate, result, trainer.Metrics);
        Write(directory, config, trainer, summary);
        return new CompletedRun(spec.DirectoryName, spec, config, trainer, result, snapshots, summary, directory);
    }

    public static void Write(string directory, TrainingConfig config, Trainer trainer, RunSummary summary)
    {
        Directory.CreateDirectory(directory);
        Json.Save(Path.Combine(directory, "config.json"), config);
        int k = trainer.Tracker?.Options.K ?? 0;
        AtomicFile.WriteAllText(Path.Combine(directory, "metrics.csv"), MetricsCsv.Format(trainer.Metrics, k));
        Json.Save(Path.Combine(directory, "summary.json"), summary);
        trainer.Checkpoint().Save(Path.Combine(directory, "checkpoint.bin"));
        var theta = trainer.Theta.ToArray();
        Npy.Write(Path.Combine(directory, "theta.npy"), theta);
    }

    /// <summary>Forwards the trainer's per-step reports to the display, synchronously.</summary>
    sealed class Reporter(IProgressSink sink, string label, long offset) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p) =>
            sink.Report(label, offset + p.Step, p.Step, p.TotalSteps, p.Row?.TrainLoss ?? p.BatchLoss, p.Lambda1 ?? double.NaN);
    }
}

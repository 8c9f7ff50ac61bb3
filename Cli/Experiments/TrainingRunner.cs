using System.Text.Json;
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
        Write(directory, config, trainer, problem.Train.Count);
        return new CompletedRun(spec.DirectoryName, spec, config, trainer, result, snapshots, summary, directory);
    }

    /// <summary>
    /// The files `curvature train` writes, in its formats (TrainingRun's JSON options,
    /// MetricsCsv, TrainingSummary), so a compare or sweep run directory reads like a train one.
    /// </summary>
    public static void Write(string directory, TrainingConfig config, Trainer trainer, int examples)
    {
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, TrainingRun.ConfigFile), JsonSerializer.Serialize(config, TrainingRun.Json) + "\n");
        int k = trainer.Tracker?.Options.K ?? 0;
        AtomicFile.WriteAllText(Path.Combine(directory, TrainingRun.MetricsFile), MetricsCsv.Format(trainer.Metrics, k));
        string checkpoint = Path.Combine(directory, TrainingRun.CheckpointFile);
        trainer.Checkpoint().Save(checkpoint);
        Npy.Write(Path.Combine(directory, TrainingRun.ThetaFile), trainer.Theta, trainer.Theta.Length);
        var final = trainer.Metrics.Count > 0 ? trainer.Metrics[^1] : null;
        var summary = new TrainingSummary
        {
            Status = trainer.Status,
            Optimizer = config.Optimizer,
            Steps = trainer.Step,
            Parameters = trainer.Theta.Length,
            Examples = examples,
            TrainLoss = final?.TrainLoss,
            TrainAccuracy = final?.TrainAccuracy,
            TestLoss = final?.TestLoss,
            TestAccuracy = final?.TestAccuracy,
            Lambda1 = final?.Lambda1,
            TwoOverLr = 2.0 / trainer.Options.Step.LearningRateAt(trainer.Step),
            Hvps = trainer.Tracker?.Matvecs ?? 0,
            Refreshes = trainer.Tracker?.Refreshes ?? 0,
            Seconds = trainer.Seconds,
            Checkpoint = checkpoint,
        };
        AtomicFile.WriteAllText(Path.Combine(directory, TrainingRun.SummaryFile), JsonSerializer.Serialize(summary, TrainingRun.Json) + "\n");
    }

    /// <summary>Forwards the trainer's per-step reports to the display, synchronously.</summary>
    sealed class Reporter(IProgressSink sink, string label, long offset) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p) =>
            sink.Report(label, offset + p.Step, p.Step, p.TotalSteps, p.Row?.TrainLoss ?? p.BatchLoss, p.Lambda1 ?? double.NaN);
    }
}

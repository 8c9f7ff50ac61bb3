using Curvature.Optimizers;

namespace Curvature.Experiments;

/// <summary>A finished run: its spec, trainer (metrics, final θ), how it ended, and θ at the requested steps.</summary>
/// <param name="Name">Directory-safe name, e.g. interp_0.2_2.</param>
/// <param name="Spec">The optimizer entry.</param>
/// <param name="Config">The run's spec (its config.json).</param>
/// <param name="Trainer">The trainer after the run.</param>
/// <param name="Result">How it ended.</param>
/// <param name="Snapshots">θ at the requested steps.</param>
/// <param name="Summary">Summary of its metrics.</param>
public sealed record CompletedRun(string Name, OptimizerSpec Spec, TrainSpec Config, Trainer Trainer, TrainingResult Result,
    IReadOnlyList<(long Step, double[] Theta)> Snapshots, RunSummary Summary);

/// <summary>Runs one optimizer from a given θ₀ on a loaded problem, in memory.</summary>
public static class TrainingRunner
{
    /// <summary>
    /// Trains <paramref name="run"/> (with <paramref name="spec"/>'s rule) from θ₀, keeping θ at
    /// <paramref name="snapshotSteps"/>. Progress goes to <paramref name="progress"/> as work units
    /// offset by <paramref name="unitOffset"/>.
    /// </summary>
    public static CompletedRun Run(Problem problem, RunSpec run, OptimizerSpec spec, ReadOnlySpan<double> theta0,
        IProgressSink progress, long unitOffset, IReadOnlyList<long>? snapshotSteps, CancellationToken cancel) =>
        Run(problem, run, spec, theta0, progress, unitOffset, snapshotSteps, cancel, throwWhenCancelled: true);

    /// <summary>
    /// <see cref="Run(Problem, RunSpec, OptimizerSpec, ReadOnlySpan{double}, IProgressSink, long, IReadOnlyList{long}?, CancellationToken)"/>;
    /// with <paramref name="throwWhenCancelled"/> false a cancelled run is returned with status interrupted
    /// (stopped at a step boundary, so its directory resumes) instead of raising.
    /// </summary>
    public static CompletedRun Run(Problem problem, RunSpec run, OptimizerSpec spec, ReadOnlySpan<double> theta0,
        IProgressSink progress, long unitOffset, IReadOnlyList<long>? snapshotSteps, CancellationToken cancel, bool throwWhenCancelled)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(spec);
        var runSpec = spec.Apply(run);
        var config = new TrainSpec { Run = runSpec, Out = spec.DirectoryName, SaveTheta = true };
        var trainer = new Trainer(problem.TrainObjective, problem.TestObjective, runSpec.TrainerOptions(problem.Train.Count), theta0);
        var snapshots = new List<(long, double[])>();
        var reporter = new Reporter(progress, spec.Label, unitOffset);
        TrainingResult result = default!;
        var stops = (snapshotSteps ?? []).Where(s => s > 0 && s < runSpec.Steps).Distinct().Order().ToList();
        if (snapshotSteps?.Contains(0) == true) snapshots.Add((0, trainer.Theta.ToArray()));
        foreach (var stop in stops.Append(runSpec.Steps))
        {
            result = trainer.Run(reporter, cancel, stop);
            if (result.Diverged || trainer.Step < stop) break;
            if (snapshotSteps?.Contains(stop) == true) snapshots.Add((trainer.Step, trainer.Theta.ToArray()));
        }
        if (throwWhenCancelled) cancel.ThrowIfCancellationRequested();
        var summary = RunSummary.From(spec.DirectoryName, spec, runSpec.LearningRate, result, trainer.Metrics);
        return new CompletedRun(spec.DirectoryName, spec, config, trainer, result, snapshots, summary);
    }

    /// <summary>Writes the run's directory under <paramref name="parent"/> (the one run-directory writer, <see cref="TrainingRun.Write(string, TrainSpec, Trainer, int, TrainerCheckpoint?)"/>).</summary>
    public static void Write(string parent, CompletedRun run, int examples)
    {
        ArgumentNullException.ThrowIfNull(run);
        TrainingRun.Write(Path.Combine(parent, run.Name), run.Config, run.Trainer, examples);
    }

    /// <summary>Forwards the trainer's per-step reports to the display, synchronously.</summary>
    sealed class Reporter(IProgressSink sink, string label, long offset) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p) =>
            sink.Report(label, offset + p.Step, p.Step, p.TotalSteps, p.Row is null ? p.BatchLoss : double.NaN, p.Lambda1 ?? double.NaN); // a minibatch's loss only: the progress line labels it so
    }
}

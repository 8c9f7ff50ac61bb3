using Curvature.Core;
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
    IReadOnlyList<(long Step, double[] Theta)> Snapshots, RunSummary Summary)
{
    /// <summary>Every metrics row of the run: for a resumed run the rows before its checkpoint (read from its metrics.csv) and the trainer's after it.</summary>
    public IReadOnlyList<MetricsRow> Metrics { get; init; } = Trainer.Metrics;

    /// <summary>The checkpoint (and its path) a rerun found this run interrupted at and resumed from; null for a run trained from θ₀.</summary>
    public (TrainerCheckpoint Checkpoint, string Path)? ResumedFrom { get; init; }

    /// <summary>Whether a rerun found this run finished in its directory and kept it (nothing was trained; its directory is not written again).</summary>
    public bool Kept { get; init; }

    /// <summary>"", " (kept from the earlier run)" or " (resumed from step N)": how a rerun came by the run, for its progress line.</summary>
    public string Origin => Kept ? TrainingRunner.KeptNote : ResumedFrom is { } r ? $" (resumed from step {r.Checkpoint.Step})" : "";
}

/// <summary>Runs one optimizer from a given θ₀ on a loaded problem, in memory.</summary>
public static class TrainingRunner
{
    /// <summary>What a progress line adds for a run a rerun found finished and kept.</summary>
    public const string KeptNote = " (kept from the earlier run)";

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
        var trainer = new Trainer(problem.TrainObjective, problem.TestObjective, runSpec.TrainerOptions(problem.Train.Count), theta0);
        var completed = Train(trainer, runSpec, spec, progress, unitOffset, snapshotSteps, [], [], cancel);
        if (throwWhenCancelled) cancel.ThrowIfCancellationRequested();
        return completed;
    }

    /// <summary>
    /// The run a rerun of compare or sweep owes in <paramref name="directory"/>, where an earlier attempt may have
    /// left it. A finished (completed) run of the same spec is kept as it is, read back from its files, when it holds
    /// θ at every requested snapshot step; a run interrupted by a signal (status interrupted, its checkpoint beside it)
    /// resumes from its checkpoint to the bits it would have had; anything else (no directory, another spec, a run that
    /// diverged, files that do not agree) is trained from θ₀ as <see cref="Run(Problem, RunSpec, OptimizerSpec, ReadOnlySpan{double}, IProgressSink, long, IReadOnlyList{long}?, CancellationToken, bool)"/>
    /// does. A cancelled run is returned with status interrupted.
    /// </summary>
    public static CompletedRun Continue(Problem problem, RunSpec run, OptimizerSpec spec, ReadOnlySpan<double> theta0,
        IProgressSink progress, long unitOffset, IReadOnlyList<long>? snapshotSteps, CancellationToken cancel, string directory)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(directory);
        var runSpec = spec.Apply(run);
        var options = runSpec.TrainerOptions(problem.Train.Count);
        var earlier = RunDirectory.Check(directory, runSpec, out var finished, out var rows, out _);
        if (earlier is RunState.Finished && finished!.Status == TrainingStatus.Completed
            && Resumable(problem, options, directory, out var final) is { } kept
            && TrySnapshots(directory, snapshotSteps, final!.Step, out var keptSnapshots))
        {
            var result = RunDirectory.Result(finished, rows!);
            return new CompletedRun(spec.DirectoryName, spec, Config(runSpec, spec), kept, result, keptSnapshots, RunSummary.From(spec.DirectoryName, spec, runSpec.LearningRate, result, rows!))
            {
                Metrics = rows!,
                Kept = true,
            };
        }
        if (earlier is RunState.Unfinished && Resumable(problem, options, directory, out var checkpoint) is { } resumed
            && RowsBefore(directory, checkpoint!) is { } rowsBefore && TrySnapshots(directory, snapshotSteps, checkpoint!.Step, out var before))
        {
            var completed = Train(resumed, runSpec, spec, progress, unitOffset, snapshotSteps, before, rowsBefore, cancel);
            return completed with { ResumedFrom = (checkpoint, Path.Combine(Path.GetFullPath(directory), TrainingRun.CheckpointFile)) };
        }
        return Run(problem, run, spec, theta0, progress, unitOffset, snapshotSteps, cancel, throwWhenCancelled: false);
    }

    /// <summary>The trainer resumed from <paramref name="directory"/>'s checkpoint.bin, or null when there is none or it does not fit these options.</summary>
    static Trainer? Resumable(Problem problem, TrainerOptions options, string directory, out TrainerCheckpoint? checkpoint)
    {
        checkpoint = null;
        string path = Path.Combine(directory, TrainingRun.CheckpointFile);
        if (!File.Exists(path)) return null;
        try
        {
            checkpoint = TrainerCheckpoint.Load(path);
            return Trainer.Resume(problem.TrainObjective, problem.TestObjective, options, checkpoint);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException)
        {
            checkpoint = null;
            return null;
        }
    }

    /// <summary>The metrics rows <paramref name="checkpoint"/> counts, from the metrics.csv beside it, or null when they are not all there.</summary>
    static List<MetricsRow>? RowsBefore(string directory, TrainerCheckpoint checkpoint)
    {
        try
        {
            // Only the bytes the checkpoint counts: a kill may have left half a row after them.
            using var file = File.OpenRead(Path.Combine(directory, TrainingRun.MetricsFile));
            if (checkpoint.MetricsBytes < 0 || file.Length < checkpoint.MetricsBytes) return null;
            var bytes = new byte[checkpoint.MetricsBytes];
            file.ReadExactly(bytes);
            var rows = MetricsCsv.Parse(System.Text.Encoding.UTF8.GetString(bytes), file.Name);
            return rows.Count == checkpoint.MetricsRows ? rows.ToList() : null;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or FormatException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>θ at each of <paramref name="steps"/> up to <paramref name="upTo"/> from the directory's snapshot files; false when one is missing or unreadable.</summary>
    static bool TrySnapshots(string directory, IReadOnlyList<long>? steps, long upTo, out List<(long Step, double[] Theta)> snapshots)
    {
        snapshots = [];
        foreach (long step in (steps ?? []).Where(s => s <= upTo).Distinct().Order())
        {
            string path = Path.Combine(directory, TrainingRun.SnapshotFile(step));
            try { snapshots.Add((step, Npy.ReadVector(path))); }
            catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException) { return false; }
        }
        return true;
    }

    static TrainSpec Config(RunSpec runSpec, OptimizerSpec spec) => new() { Run = runSpec, Out = spec.DirectoryName, SaveTheta = true };

    /// <summary>
    /// Trains <paramref name="trainer"/> (fresh, or resumed with <paramref name="snapshotsBefore"/> and
    /// <paramref name="rowsBefore"/> from its earlier attempt) to the end, keeping θ at the snapshot steps it passes.
    /// </summary>
    static CompletedRun Train(Trainer trainer, RunSpec runSpec, OptimizerSpec spec, IProgressSink progress, long unitOffset,
        IReadOnlyList<long>? snapshotSteps, IReadOnlyList<(long Step, double[] Theta)> snapshotsBefore, IReadOnlyList<MetricsRow> rowsBefore, CancellationToken cancel)
    {
        var snapshots = new List<(long, double[])>(snapshotsBefore);
        var reporter = new Reporter(progress, spec.Label, unitOffset);
        long start = trainer.Step;
        var stops = (snapshotSteps ?? []).Where(s => s > start && s < runSpec.Steps).Distinct().Order().ToList();
        if (start == 0 && snapshotSteps?.Contains(0) == true) snapshots.Add((0, trainer.Theta.ToArray()));
        TrainingResult result = default!;
        foreach (var stop in stops.Append(runSpec.Steps))
        {
            result = trainer.Run(reporter, cancel, stop);
            if (result.Diverged || trainer.Step < stop) break;
            if (snapshotSteps?.Contains(stop) == true) snapshots.Add((trainer.Step, trainer.Theta.ToArray()));
        }
        var metrics = rowsBefore.Count == 0 ? trainer.Metrics : rowsBefore.Concat(trainer.Metrics).ToList();
        var summary = RunSummary.From(spec.DirectoryName, spec, runSpec.LearningRate, result, metrics);
        return new CompletedRun(spec.DirectoryName, spec, Config(runSpec, spec), trainer, result, snapshots, summary) { Metrics = metrics };
    }

    /// <summary>Writes the run's directory under <paramref name="parent"/> (the one run-directory writer, <see cref="TrainingRun.Write(string, TrainSpec, Trainer, int, TrainerCheckpoint?)"/>).</summary>
    /// <remarks>
    /// A kept run's directory is left as it is; a resumed run's metrics.csv is cut back to its checkpoint and appended to.
    /// With <paramref name="keepSnapshots"/> the run's θ at its snapshot steps is written beside it (theta-step-N.npy),
    /// so a rerun of an interrupted compare resumes its analysis; without, such files are removed.
    /// </remarks>
    public static void Write(string parent, CompletedRun run, int examples, bool keepSnapshots = false)
    {
        ArgumentNullException.ThrowIfNull(run);
        string directory = Path.Combine(parent, run.Name);
        if (!run.Kept)
            TrainingRun.Write(directory, run.Config, run.Trainer, examples, run.ResumedFrom);
        foreach (var stale in Directory.GetFiles(directory, TrainingRun.SnapshotPattern))
            File.Delete(stale);
        if (keepSnapshots)
            foreach (var (step, theta) in run.Snapshots) Npy.Write(Path.Combine(directory, TrainingRun.SnapshotFile(step)), theta, theta.Length);
    }

    /// <summary>Forwards the trainer's per-step reports to the display, synchronously.</summary>
    sealed class Reporter(IProgressSink sink, string label, long offset) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p) =>
            sink.Report(label, offset + p.Step, p.Step, p.TotalSteps, p.Row is null ? p.BatchLoss : double.NaN, p.Lambda1 ?? double.NaN); // a minibatch's loss only: the progress line labels it so
    }
}

using System.Globalization;
using System.Text.Json.Serialization;
using Curvature.Core;
using Curvature.Optimizers;

namespace Curvature.Experiments;

/// <summary>What summary.json records about a finished (or diverged, or interrupted) run.</summary>
public sealed record TrainingSummary
{
    /// <summary>How the run ended.</summary>
    public required TrainingStatus Status { get; init; }

    /// <summary>The step the run diverged or was interrupted at; null when it completed.</summary>
    public long? StoppedAt { get; init; }

    /// <summary>The step checkpoint.bin holds: the last step for a completed or interrupted run, the last good step for a diverged one.</summary>
    public long CheckpointStep { get; init; }

    /// <summary>The update rule (sgd, dom, bulk, interp).</summary>
    public required OptimizerKind Optimizer { get; init; }

    /// <summary>Updates done.</summary>
    public required long Steps { get; init; }

    /// <summary>Length of θ.</summary>
    public required int Parameters { get; init; }

    /// <summary>Training examples.</summary>
    public required int Examples { get; init; }

    /// <summary>Final mean training loss; null when it is not finite (a diverged run).</summary>
    public double? TrainLoss { get; init; }

    /// <summary>Final training accuracy in [0, 1].</summary>
    public double? TrainAccuracy { get; init; }

    /// <summary>Final mean test loss; null without a test set.</summary>
    public double? TestLoss { get; init; }

    /// <summary>Final test accuracy; null without a test set.</summary>
    public double? TestAccuracy { get; init; }

    /// <summary>Final top eigenvalue of the tracked curvature; null without a tracker.</summary>
    [JsonPropertyName("lambda_1")]
    public double? Lambda1 { get; init; }

    /// <summary>2/η at the last step: the stability threshold λ₁ is compared with.</summary>
    public double TwoOverLr { get; init; }

    /// <summary>Curvature-vector products the tracker spent.</summary>
    public required long Matvecs { get; init; }

    /// <summary>Tracker refreshes done.</summary>
    public required int Refreshes { get; init; }

    /// <summary>Wall-clock seconds of training.</summary>
    public required double Seconds { get; init; }

    /// <summary>Examples per minibatch, as run (a default larger than the data is clamped to it).</summary>
    public int Batch { get; init; }

    /// <summary>Examples the curvature was measured on, as run (0: all); null without a tracker.</summary>
    public int? HessianBatch { get; init; }

    /// <summary>Metrics cadence, as run.</summary>
    public int EvalEvery { get; init; }

    /// <summary>Path of the checkpoint written.</summary>
    public required string Checkpoint { get; init; }
}

/// <summary>
/// A run directory: config.json (the <see cref="TrainSpec"/>), metrics.csv, summary.json,
/// checkpoint.bin and theta.npy. The one writer of this layout, used by `train`, `compare`,
/// `sweep` and `decompose`.
/// </summary>
public static class TrainingRun
{
    /// <summary>The spec the run was made from.</summary>
    public const string ConfigFile = "config.json";

    /// <summary>The metrics rows.</summary>
    public const string MetricsFile = "metrics.csv";

    /// <summary>The <see cref="TrainingSummary"/>.</summary>
    public const string SummaryFile = "summary.json";

    /// <summary>The trainer's checkpoint.</summary>
    public const string CheckpointFile = "checkpoint.bin";

    /// <summary>The final θ as float64 .npy.</summary>
    public const string ThetaFile = "theta.npy";

    /// <summary>The same θ as named state_dict arrays (theta.npz), written beside <see cref="ThetaFile"/>.</summary>
    public const string ThetaNpzFile = "theta.npz";

    /// <summary>Validates <paramref name="spec"/> (once, by <see cref="Problem.Load"/>), builds its problem, trains and writes the run directory.</summary>
    public static TrainingSummary Execute(TrainSpec spec, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        Guard.NotNull(spec);
        var problem = Problem.Load(spec.Run);
        return Execute(spec, problem, progress, cancellationToken);
    }

    /// <summary>The diverged state, kept apart from the last good checkpoint (refused by --resume).</summary>
    public const string DivergedCheckpointFile = "diverged.bin";

    /// <summary>θ where the run diverged (with --save-theta), kept apart from theta.npy (the last good θ).</summary>
    public const string DivergedThetaFile = "theta-diverged.npy";

    /// <summary>
    /// Trains <paramref name="problem"/> (loaded from <paramref name="spec"/>'s run, which this does not validate again) as <paramref name="spec"/> says;
    /// θ₀ is the seeded initialization or <see cref="TrainSpec.Init"/>.
    /// A run that diverges leaves checkpoint.bin and theta.npy at the last good state (the last
    /// checkpoint boundary, or the start) and the diverged state apart in diverged.bin and
    /// theta-diverged.npy; a cancelled run (SIGINT/SIGTERM) ends its step and writes everything
    /// with status interrupted.
    /// </summary>
    public static TrainingSummary Execute(TrainSpec spec, Problem problem, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        Guard.NotNull(spec);
        Guard.NotNull(problem);
        spec.Validate();
        // The spec as run: the test set resolved (config.json records it), the resume not recorded.
        spec = spec with { Run = problem.Spec };
        var train = problem.TrainObjective;
        // One writer per run directory: taken before anything in it is read or replaced.
        using var runLock = DirectoryLock.Acquire(spec.Out);
        var resume = spec.Resume is null ? null : LoadResume(spec.Resume);
        if (resume is null) RefuseInterrupted(spec.Out);
        var options = spec.Run.TrainerOptions(train.ExampleCount);
        // A cadence derived from --steps is not part of the run: a resume to more steps keeps the
        // checkpoint's (summary.json records it; config.json keeps the spec as given).
        if (resume is not null && spec.Run.EvalEvery is null
            && resume.Fingerprint.FirstOrDefault(p => p.Key == "eval-every").Value is { } saved
            && int.TryParse(saved, NumberStyles.Integer, CultureInfo.InvariantCulture, out int every))
            options = options with { EvalEvery = every };
        var trainer = resume is null
            ? new Trainer(train, problem.TestObjective, options, problem.InitialTheta(spec.Init))
            : Trainer.Resume(train, problem.TestObjective, options, resume);
        Directory.CreateDirectory(spec.Out);
        string checkpointPath = Path.Combine(spec.Out, CheckpointFile);
        // Files of an earlier run go before this run writes anything: its checkpoints would count bytes of a
        // metrics.csv this run replaces, and its summary and θ would claim a finished run beside this one's rows.
        foreach (var stale in new[] { CheckpointFile, DivergedCheckpointFile, SummaryFile, ThetaFile, ThetaNpzFile, DivergedThetaFile })
        {
            string path = Path.Combine(spec.Out, stale);
            if (File.Exists(path) && !SamePath(path, spec.Resume)) File.Delete(path);
        }
        RunJson.Save(Path.Combine(spec.Out, ConfigFile), spec);
        int k = options.Tracker?.K ?? 0;
        string metricsPath = Path.Combine(spec.Out, MetricsFile);
        using var log = resume is null ? MetricsLog.Create(metricsPath, k) : MetricsLog.Resume(metricsPath, k, resume, spec.Resume!);
        var lastGood = trainer.Checkpoint() with { MetricsBytes = log.Length };
        while (true)
        {
            long until = spec.CheckpointEvery > 0
                ? Math.Min(options.Steps, (trainer.Step / spec.CheckpointEvery + 1) * spec.CheckpointEvery)
                : options.Steps;
            trainer.Run(progress, cancellationToken, until);
            if (trainer.Status != TrainingStatus.Running) break;
            // The rows go to disk before the checkpoint that counts them: a kill in between leaves extra rows a resume cuts off.
            AppendNew(log, trainer);
            log.Sync();
            lastGood = trainer.Checkpoint() with { MetricsBytes = log.Length };
            lastGood.Save(checkpointPath);
        }
        return Write(spec.Out, spec, trainer, train.ExampleCount, trainer.Status == TrainingStatus.Diverged ? lastGood : null, log);
    }

    /// <summary>
    /// Refuses a fresh run into <paramref name="directory"/> while it holds an unfinished run (a checkpoint
    /// without a completed or diverged summary: killed or interrupted), printing the command that resumes it.
    /// </summary>
    static void RefuseInterrupted(string directory)
    {
        directory = Path.GetFullPath(directory);
        string checkpoint = Path.Combine(directory, CheckpointFile);
        if (!File.Exists(checkpoint)) return;
        string summaryPath = Path.Combine(directory, SummaryFile);
        TrainingStatus? status = null;
        try { if (File.Exists(summaryPath)) status = RunJson.Load<TrainingSummary>(summaryPath).Status; }
        catch (Exception e) when (e is IOException or InvalidDataException or System.Text.Json.JsonException or ArgumentException or NotSupportedException) { }
        if (status is TrainingStatus.Completed or TrainingStatus.Diverged) return;
        string at;
        try { at = $" at step {TrainerCheckpoint.Load(checkpoint).Step}"; }
        catch (Exception e) when (e is IOException or InvalidDataException) { at = ""; }
        throw new ArgumentException(
            $"Option '--out' names '{directory}', which holds an unfinished run (checkpoint.bin{at}, {(status is null ? "no summary" : "summary " + status.Value.ToString().ToLowerInvariant())}); " +
            $"expected a finished run or a new folder. Resume it with: curvature train --config {Path.Combine(directory, ConfigFile)} --out {directory} --resume {checkpoint} " +
            $"(or delete {checkpoint} to start again at step 0).", "out");
    }

    static bool SamePath(string path, string? other) =>
        other is not null && string.Equals(Path.GetFullPath(path), Path.GetFullPath(other), StringComparison.Ordinal);

    /// <summary>Appends the trainer's rows the log does not hold yet.</summary>
    static void AppendNew(MetricsLog log, Trainer trainer)
    {
        long have = log.Rows - trainer.MetricsRowsBefore;
        if (have < 0 || have > trainer.Metrics.Count)
            throw new InvalidOperationException($"metrics.csv holds {log.Rows} rows but the run has {trainer.MetricsRowsBefore + trainer.Metrics.Count}; expected at most that many.");
        log.Append(trainer.Metrics.Skip((int)have));
    }

    /// <summary>
    /// Writes the run directory of a trained <paramref name="trainer"/>: config.json, metrics.csv,
    /// checkpoint.bin, summary.json, and theta.npy when <see cref="TrainSpec.SaveTheta"/> says so.
    /// With <paramref name="lastGood"/> (a diverged run), checkpoint.bin and theta.npy hold that
    /// state and the trainer's diverged state goes to diverged.bin (and theta-diverged.npy).
    /// Files of these names that this run does not write are removed, so a reused directory
    /// never mixes runs.
    /// </summary>
    public static TrainingSummary Write(string directory, TrainSpec spec, Trainer trainer, int examples, TrainerCheckpoint? lastGood = null)
    {
        Guard.NotNull(directory);
        using var runLock = DirectoryLock.Acquire(directory);
        return Write(directory, spec, trainer, examples, lastGood, null);
    }

    /// <summary>
    /// <see cref="Write(string, TrainSpec, Trainer, int, TrainerCheckpoint?)"/> of a trainer that, when <paramref name="resumedFrom"/>
    /// is given, was resumed from that checkpoint in <paramref name="directory"/>: its metrics.csv is cut back to the checkpoint and the
    /// trainer's rows are appended (the in-process compare and sweep resuming an interrupted run).
    /// </summary>
    internal static TrainingSummary Write(string directory, TrainSpec spec, Trainer trainer, int examples, (TrainerCheckpoint Checkpoint, string Path)? resumedFrom)
    {
        Guard.NotNull(directory);
        Guard.NotNull(trainer);
        using var runLock = DirectoryLock.Acquire(directory);
        if (resumedFrom is not { } from) return Write(directory, spec, trainer, examples, null, null);
        using var log = MetricsLog.Resume(Path.Combine(directory, MetricsFile), trainer.Tracker?.Options.K ?? 0, from.Checkpoint, from.Path);
        return Write(directory, spec, trainer, examples, null, log);
    }

    /// <summary>θ at an analysis step, kept beside the reference run of an interrupted compare: theta-step-N.npy.</summary>
    public static string SnapshotFile(long step) => string.Create(CultureInfo.InvariantCulture, $"theta-step-{step}.npy");

    /// <summary>The file pattern of <see cref="SnapshotFile"/>.</summary>
    public const string SnapshotPattern = "theta-step-*.npy";

    /// <summary>
    /// <see cref="Write(string, TrainSpec, Trainer, int, TrainerCheckpoint?)"/> with metrics.csv already open as
    /// <paramref name="log"/> (the rows not yet in it are appended and synced) or, without one, written whole.
    /// </summary>
    static TrainingSummary Write(string directory, TrainSpec spec, Trainer trainer, int examples, TrainerCheckpoint? lastGood, MetricsLog? log)
    {
        Guard.NotNull(spec);
        Guard.NotNull(trainer);
        Directory.CreateDirectory(directory);
        RunJson.Save(Path.Combine(directory, ConfigFile), spec with { Out = directory });
        int k = trainer.Tracker?.Options.K ?? 0;
        long metricsBytes;
        if (log is not null)
        {
            AppendNew(log, trainer);
            log.Sync();
            metricsBytes = log.Length;
        }
        else
        {
            if (trainer.MetricsRowsBefore > 0)
                throw new ArgumentException($"Argument 'trainer' was resumed with {trainer.MetricsRowsBefore} rows before it; expected a fresh trainer (a resumed run's metrics.csv is appended by TrainingRun.Execute).", nameof(trainer));
            string text = MetricsCsv.Format(trainer.Metrics, k);
            AtomicFile.WriteAllText(Path.Combine(directory, MetricsFile), text);
            metricsBytes = System.Text.Encoding.UTF8.GetByteCount(text);
        }
        string checkpoint = Path.Combine(directory, CheckpointFile);
        var written = new HashSet<string>(StringComparer.Ordinal) { ConfigFile, MetricsFile, CheckpointFile, SummaryFile };
        if (lastGood is null)
        {
            (trainer.Checkpoint() with { MetricsBytes = metricsBytes }).Save(checkpoint);
            if (spec.SaveTheta)
            {
                Npy.Write(Path.Combine(directory, ThetaFile), trainer.Theta, trainer.Theta.Length);
                ThetaFiles.WriteNpz(Path.Combine(directory, ThetaNpzFile), spec.Run.Network(), trainer.Theta);
                written.Add(ThetaFile);
                written.Add(ThetaNpzFile);
            }
        }
        else
        {
            lastGood.Save(checkpoint);
            (trainer.Checkpoint() with { MetricsBytes = metricsBytes }).Save(Path.Combine(directory, DivergedCheckpointFile));
            written.Add(DivergedCheckpointFile);
            if (spec.SaveTheta)
            {
                Npy.Write(Path.Combine(directory, ThetaFile), lastGood.Theta, lastGood.Theta.Length);
                ThetaFiles.WriteNpz(Path.Combine(directory, ThetaNpzFile), spec.Run.Network(), lastGood.Theta);
                written.Add(ThetaNpzFile);
                Npy.Write(Path.Combine(directory, DivergedThetaFile), trainer.Theta, trainer.Theta.Length);
                written.Add(ThetaFile);
                written.Add(DivergedThetaFile);
            }
        }
        foreach (var stale in new[] { ThetaFile, ThetaNpzFile, DivergedCheckpointFile, DivergedThetaFile })
        {
            string path = Path.Combine(directory, stale);
            if (!written.Contains(stale) && File.Exists(path)) File.Delete(path);
        }
        var final = trainer.LastMetrics;
        var summary = new TrainingSummary
        {
            Status = trainer.Status,
            StoppedAt = trainer.StoppedAt,
            CheckpointStep = lastGood?.Step ?? trainer.Step,
            Optimizer = spec.Run.Optimizer,
            Steps = trainer.Step,
            Parameters = trainer.Theta.Length,
            Examples = examples,
            TrainLoss = Finite(final?.TrainLoss),
            TrainAccuracy = Finite(final?.TrainAccuracy),
            TestLoss = Finite(final?.TestLoss),
            TestAccuracy = Finite(final?.TestAccuracy),
            Lambda1 = Finite(final?.Lambda1),
            TwoOverLr = 2.0 / trainer.Options.Step.LearningRateAt(trainer.Step),
            Matvecs = trainer.Tracker?.Matvecs ?? 0,
            Refreshes = trainer.Tracker?.Refreshes ?? 0,
            Seconds = trainer.Seconds,
            Batch = trainer.Options.BatchSize,
            HessianBatch = trainer.Options.Tracker?.HessianBatch,
            EvalEvery = trainer.Options.EvalEvery,
            Checkpoint = checkpoint,
        };
        RunJson.Save(Path.Combine(directory, SummaryFile), summary);
        return summary;
    }

    static TrainerCheckpoint LoadResume(string path)
    {
        try { return TrainerCheckpoint.Load(path); }
        catch (InvalidDataException e) { throw new InvalidDataException($"Option '--resume': {e.Message}", e); }
    }

    /// <summary>summary.json holds numbers or null, never "NaN"/"Infinity": a blown-up value is null and the status says why.</summary>
    static double? Finite(double? v) => v is double x && double.IsFinite(x) ? x : null;
}

using System.Text.Json.Serialization;
using Curvature.Core;
using Curvature.Models;

namespace Curvature.Optimizers;

/// <summary>What summary.json records about a finished (or diverged, or interrupted) run.</summary>
public sealed record TrainingSummary
{
    /// <summary>How the run ended.</summary>
    public required TrainingStatus Status { get; init; }

    /// <summary>The step the run diverged or was interrupted at; null when it completed.</summary>
    public long? StoppedAt { get; init; }

    /// <summary>The update rule (sgd, dom, bulk, interp).</summary>
    public required string Optimizer { get; init; }

    /// <summary>Updates done.</summary>
    public required long Steps { get; init; }

    /// <summary>Length of θ.</summary>
    public required int Parameters { get; init; }

    /// <summary>Training examples.</summary>
    public required int Examples { get; init; }

    /// <summary>Final mean training loss.</summary>
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

    /// <summary>Path of the checkpoint written.</summary>
    public required string Checkpoint { get; init; }
}

/// <summary>The objectives and starting point a run trains on.</summary>
/// <param name="Train">The training objective.</param>
/// <param name="Test">The test objective, or null.</param>
/// <param name="InitialTheta">θ₀.</param>
public sealed record TrainingProblem(IObjective Train, IObjective? Test, double[] InitialTheta)
{
    /// <summary>
    /// Loads the data the spec names, builds the network objectives (mean loss over the training
    /// and test examples) and θ₀: the seeded PyTorch-style initialization, or the vector in
    /// <paramref name="init"/> (a float64 .npy file).
    /// </summary>
    public static TrainingProblem Build(RunSpec spec, string? init = null)
    {
        Guard.NotNull(spec);
        spec.Validate();
        var model = spec.Network();
        var loss = spec.LossKind();
        var options = spec.ObjectiveOptions();
        var train = new Objective(model, loss, DataSpec.Parse(spec.Data), options);
        var test = spec.TestData is null ? null : new Objective(model, loss, DataSpec.Parse(spec.TestData), options);
        spec.Validate(train.ParameterCount, train.ExampleCount);
        var theta0 = init is null ? model.Initialize(spec.Seed) : ReadInit(init, model);
        return new TrainingProblem(train, test, theta0);
    }

    // A flat .npy or a named .npz (state_dict names); messages name --theta, train's spelling.
    static double[] ReadInit(string path, Mlp model) => ThetaFiles.Read(path, model, "theta");
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

    /// <summary>Validates <paramref name="spec"/>, builds its problem, trains and writes the run directory.</summary>
    public static TrainingSummary Execute(TrainSpec spec, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        Guard.NotNull(spec);
        spec.Validate();
        var problem = TrainingProblem.Build(spec.Run, spec.Init);
        return Execute(spec, problem, progress, cancellationToken);
    }

    /// <summary>Trains <paramref name="problem"/> as <paramref name="spec"/> says (its network and data fields are only recorded).</summary>
    public static TrainingSummary Execute(TrainSpec spec, TrainingProblem problem, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        Guard.NotNull(spec);
        Guard.NotNull(problem);
        spec.Validate();
        var options = spec.Run.TrainerOptions();
        var train = problem.Train;
        options.Validate(train.ParameterCount, train.ExampleCount);
        var trainer = spec.Resume is null
            ? new Trainer(train, problem.Test, options, problem.InitialTheta)
            : Trainer.Resume(train, problem.Test, options, TrainerCheckpoint.Load(spec.Resume));
        while (true)
        {
            long until = spec.CheckpointEvery > 0
                ? Math.Min(options.Steps, (trainer.Step / spec.CheckpointEvery + 1) * spec.CheckpointEvery)
                : options.Steps;
            trainer.Run(progress, cancellationToken, until);
            if (trainer.Status != TrainingStatus.Running) break;
            Directory.CreateDirectory(spec.Out);
            trainer.Checkpoint().Save(Path.Combine(spec.Out, CheckpointFile));
        }
        return Write(spec.Out, spec, trainer, train.ExampleCount);
    }

    /// <summary>
    /// Writes the run directory of a trained <paramref name="trainer"/>: config.json, metrics.csv,
    /// checkpoint.bin, summary.json, and theta.npy when <see cref="TrainSpec.SaveTheta"/> says so.
    /// </summary>
    public static TrainingSummary Write(string directory, TrainSpec spec, Trainer trainer, int examples)
    {
        Guard.NotNull(spec);
        Guard.NotNull(trainer);
        Directory.CreateDirectory(directory);
        RunJson.Save(Path.Combine(directory, ConfigFile), spec with { Out = directory });
        int k = trainer.Tracker?.Options.K ?? 0;
        AtomicFile.WriteAllText(Path.Combine(directory, MetricsFile), MetricsCsv.Format(trainer.Metrics, k));
        string checkpoint = Path.Combine(directory, CheckpointFile);
        trainer.Checkpoint().Save(checkpoint);
        if (spec.SaveTheta)
        {
            Npy.Write(Path.Combine(directory, ThetaFile), trainer.Theta, trainer.Theta.Length);
            ThetaFiles.WriteNpz(Path.Combine(directory, Path.ChangeExtension(ThetaFile, ".npz")), spec.Run.Network(), trainer.Theta);
        }
        var final = trainer.Metrics.Count > 0 ? trainer.Metrics[^1] : null;
        var summary = new TrainingSummary
        {
            Status = trainer.Status,
            StoppedAt = trainer.StoppedAt,
            Optimizer = spec.Run.Optimizer,
            Steps = trainer.Step,
            Parameters = trainer.Theta.Length,
            Examples = examples,
            TrainLoss = final?.TrainLoss,
            TrainAccuracy = final?.TrainAccuracy,
            TestLoss = final?.TestLoss,
            TestAccuracy = final?.TestAccuracy,
            Lambda1 = final?.Lambda1,
            TwoOverLr = 2.0 / trainer.Options.Step.LearningRateAt(trainer.Step),
            Matvecs = trainer.Tracker?.Matvecs ?? 0,
            Refreshes = trainer.Tracker?.Refreshes ?? 0,
            Seconds = trainer.Seconds,
            Checkpoint = checkpoint,
        };
        RunJson.Save(Path.Combine(directory, SummaryFile), summary);
        return summary;
    }
}

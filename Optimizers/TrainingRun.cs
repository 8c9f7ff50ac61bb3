using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Curvature.Core;
using Curvature.Models;

namespace Curvature.Optimizers;

/// <summary>What summary.json records about a finished (or diverged, or interrupted) run.</summary>
public sealed record TrainingSummary
{
    public required string Status { get; init; }
    public required string Optimizer { get; init; }
    public required long Steps { get; init; }
    public required int Parameters { get; init; }
    public required int Examples { get; init; }
    public double? TrainLoss { get; init; }
    public double? TrainAccuracy { get; init; }
    public double? TestLoss { get; init; }
    public double? TestAccuracy { get; init; }
    [JsonPropertyName("lambda_1")]
    public double? Lambda1 { get; init; }
    public double TwoOverLr { get; init; }
    public required long Hvps { get; init; }
    public required int Refreshes { get; init; }
    public required double Seconds { get; init; }
    public required string Checkpoint { get; init; }

    /// <summary>The metrics rows of the whole run (not serialized: they are metrics.csv).</summary>
    [JsonIgnore]
    public IReadOnlyList<MetricsRow> Metrics { get; init; } = [];
}

/// <summary>The objectives and starting point a run trains on.</summary>
public sealed record TrainingProblem(IObjective Train, IObjective? Test, double[] InitialTheta);

/// <summary>
/// One training run from a <see cref="TrainingConfig"/> to files: config.json, metrics.csv,
/// summary.json, checkpoint.bin (and theta.npy when asked). Used by `curvature train` and by
/// any command that runs several configurations.
/// </summary>
public static class TrainingRun
{
    public const string ConfigFile = "config.json";
    public const string MetricsFile = "metrics.csv";
    public const string SummaryFile = "summary.json";
    public const string CheckpointFile = "checkpoint.bin";
    public const string ThetaFile = "theta.npy";

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Validates <paramref name="config"/>, builds its problem, trains and writes the outputs.</summary>
    public static TrainingSummary Execute(TrainingConfig config, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        Guard.NotNull(config);
        config.Validate();
        // Native BLAS runs on one thread for the whole run: OpenBLAS splits its reductions
        // differently on 1 and 2 threads, so a run's bits would depend on the thread count.
        // The cores are used by the Objective's chunks instead (config.Threads).
        using var serialBlas = Blas.UseThreads(1);
        var problem = TrainingProblems.Build(config);
        return Execute(config, problem, progress, cancellationToken);
    }

    /// <summary>Trains <paramref name="problem"/> as <paramref name="config"/> says (its model and data fields are only recorded).</summary>
    public static TrainingSummary Execute(TrainingConfig config, TrainingProblem problem, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        Guard.NotNull(config);
        Guard.NotNull(problem);
        config.Validate();
        var options = config.TrainerOptions();
        var train = problem.Train;
        options.Validate(train.ParameterCount, train.ExampleCount);
        var trainer = config.Resume is null
            ? new Trainer(train, problem.Test, options, problem.InitialTheta)
            : Trainer.Resume(train, problem.Test, options, TrainerCheckpoint.Load(config.Resume));

        Directory.CreateDirectory(config.Out);
        AtomicFile.WriteAllText(Path.Combine(config.Out, ConfigFile), JsonSerializer.Serialize(config, Json) + "\n");
        var checkpointPath = Path.Combine(config.Out, CheckpointFile);
        int k = options.Tracker?.K ?? 0;
        while (true)
        {
            long until = config.CheckpointEvery > 0
                ? Math.Min(options.Steps, (trainer.Step / config.CheckpointEvery + 1) * config.CheckpointEvery)
                : options.Steps;
            trainer.Run(progress, cancellationToken, until);
            trainer.Checkpoint().Save(checkpointPath);
            AtomicFile.WriteAllText(Path.Combine(config.Out, MetricsFile), MetricsCsv.Format(trainer.Metrics, k));
            if (trainer.Status != TrainingStatus.Running) break;
        }

        if (config.SaveTheta) Npy.Write(Path.Combine(config.Out, ThetaFile), trainer.Theta, trainer.Theta.Length);
        var final = trainer.Metrics.Count > 0 ? trainer.Metrics[^1] : null;
        var summary = new TrainingSummary
        {
            Status = trainer.Status,
            Optimizer = config.Optimizer,
            Steps = trainer.Step,
            Parameters = train.ParameterCount,
            Examples = train.ExampleCount,
            TrainLoss = final?.TrainLoss,
            TrainAccuracy = final?.TrainAccuracy,
            TestLoss = final?.TestLoss,
            TestAccuracy = final?.TestAccuracy,
            Lambda1 = final?.Lambda1,
            TwoOverLr = 2.0 / options.Step.LearningRateAt(trainer.Step),
            Hvps = trainer.Tracker?.Matvecs ?? 0,
            Refreshes = trainer.Tracker?.Refreshes ?? 0,
            Seconds = trainer.Seconds,
            Checkpoint = checkpointPath,
            Metrics = trainer.Metrics,
        };
        AtomicFile.WriteAllText(Path.Combine(config.Out, SummaryFile), JsonSerializer.Serialize(summary, Json) + "\n");
        return summary;
    }
}

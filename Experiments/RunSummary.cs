using Curvature.Optimizers;

namespace Curvature.Experiments;

/// <summary>What one training run achieved, as written to summary.json and the report's tables.</summary>
public sealed record RunSummary
{
    public required string Name { get; init; }
    public required string Optimizer { get; init; }
    public required double AlphaDom { get; init; }
    public required double AlphaBulk { get; init; }
    public required double LearningRate { get; init; }
    public required TrainingStatus Status { get; init; }
    public long? StoppedAt { get; init; }
    public required bool Diverged { get; init; }
    public required long Steps { get; init; }
    public required double InitialTrainLoss { get; init; }
    public required double FinalTrainLoss { get; init; }
    public required double MinTrainLoss { get; init; }
    public required double FinalTrainAccuracy { get; init; }
    public required double FinalTestLoss { get; init; }
    public required double FinalTestAccuracy { get; init; }
    public required double FinalLambda1 { get; init; }
    public required double MaxLambda1 { get; init; }
    public required double MeanChi { get; init; }
    public double TargetLoss { get; init; } = double.NaN;

    /// <summary>First measured step with train loss ≤ <see cref="TargetLoss"/>; null when never reached.</summary>
    public long? StepsToTarget { get; init; }
    public required long Matvecs { get; init; }
    public required double Seconds { get; init; }

    /// <summary>Summarizes a finished trainer's metrics.</summary>
    public static RunSummary From(string name, OptimizerSpec spec, double lr, TrainingResult result, IReadOnlyList<MetricsRow> rows)
    {
        var finite = rows.Where(r => double.IsFinite(r.TrainLoss)).ToList();
        var last = rows.Count > 0 ? rows[^1] : null;
        var lambdas = rows.Select(r => r.Lambda1).Where(l => l is double d && double.IsFinite(d)).Select(l => l!.Value).ToList();
        var chis = rows.Where(r => r.Step > 0).Select(r => r.Chi).Where(c => c is double d && double.IsFinite(d)).Select(c => c!.Value).ToList();
        return new RunSummary
        {
            Name = name,
            Optimizer = spec.Optimizer,
            AlphaDom = spec.Alphas.Dom,
            AlphaBulk = spec.Alphas.Bulk,
            LearningRate = lr,
            Status = result.Status,
            StoppedAt = result.StoppedAt,
            Diverged = result.Diverged,
            Steps = result.Steps,
            InitialTrainLoss = rows.Count > 0 ? rows[0].TrainLoss : double.NaN,
            FinalTrainLoss = last?.TrainLoss ?? double.NaN,
            MinTrainLoss = finite.Count > 0 ? finite.Min(r => r.TrainLoss) : double.NaN,
            FinalTrainAccuracy = last?.TrainAccuracy ?? double.NaN,
            FinalTestLoss = last?.TestLoss ?? double.NaN,
            FinalTestAccuracy = last?.TestAccuracy ?? double.NaN,
            FinalLambda1 = last?.Lambda1 ?? double.NaN,
            MaxLambda1 = lambdas.Count > 0 ? lambdas.Max() : double.NaN,
            MeanChi = chis.Count > 0 ? chis.Average() : double.NaN,
            Matvecs = result.Matvecs,
            Seconds = result.Seconds,
        };
    }

    /// <summary>This summary with the steps-to-target filled in from the metrics.</summary>
    public RunSummary WithTarget(double target, IReadOnlyList<MetricsRow> rows)
    {
        long? hit = null;
        foreach (var r in rows)
            if (double.IsFinite(r.TrainLoss) && r.TrainLoss <= target) { hit = r.Step; break; }
        return this with { TargetLoss = target, StepsToTarget = hit };
    }
}

using Curvature.Optimizers;

namespace Curvature.Experiments;

/// <summary>What one training run achieved, as written to summary.json and the report's tables.</summary>
public sealed record RunSummary
{
    /// <summary>The run's directory name.</summary>
    public required string Name { get; init; }
    /// <summary>sgd, dom, bulk or interp.</summary>
    public required OptimizerKind Optimizer { get; init; }
    /// <summary>α_dom of the rule.</summary>
    public required double AlphaDom { get; init; }
    /// <summary>α_bulk of the rule.</summary>
    public required double AlphaBulk { get; init; }
    /// <summary>η.</summary>
    public required double LearningRate { get; init; }
    /// <summary>How the run ended.</summary>
    public required TrainingStatus Status { get; init; }
    /// <summary>The step it diverged or was interrupted at, or null.</summary>
    public long? StoppedAt { get; init; }
    /// <summary>Whether it diverged.</summary>
    public required bool Diverged { get; init; }
    /// <summary>Updates done.</summary>
    public required long Steps { get; init; }
    /// <summary>Training loss at θ₀.</summary>
    public required double InitialTrainLoss { get; init; }
    /// <summary>Training loss at the last measured step.</summary>
    public required double FinalTrainLoss { get; init; }
    /// <summary>Lowest finite measured training loss.</summary>
    public required double MinTrainLoss { get; init; }
    /// <summary>Training accuracy at the last measured step.</summary>
    public required double FinalTrainAccuracy { get; init; }
    /// <summary>Test loss at the last measured step (NaN without a test set).</summary>
    public required double FinalTestLoss { get; init; }
    /// <summary>Test accuracy at the last measured step (NaN without a test set).</summary>
    public required double FinalTestAccuracy { get; init; }
    /// <summary>λ₁ at the last measured step.</summary>
    public required double FinalLambda1 { get; init; }
    /// <summary>Largest measured λ₁.</summary>
    public required double MaxLambda1 { get; init; }
    /// <summary>Mean χ_k over the measured steps after the first.</summary>
    public required double MeanChi { get; init; }
    /// <summary>The target of <see cref="StepsToTarget"/>.</summary>
    public double TargetLoss { get; init; } = double.NaN;

    /// <summary>First measured step with train loss ≤ <see cref="TargetLoss"/>; null when never reached.</summary>
    public long? StepsToTarget { get; init; }
    /// <summary>Curvature-vector products the tracker spent.</summary>
    public required long Matvecs { get; init; }
    /// <summary>Wall-clock seconds of training.</summary>
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

    /// <summary>The summary of a run that has no finished directory: status Running, every number NaN or zero.</summary>
    public static RunSummary Missing(string name, OptimizerSpec spec, double lr) => new()
    {
        Name = name, Optimizer = spec.Optimizer, AlphaDom = spec.Alphas.Dom, AlphaBulk = spec.Alphas.Bulk, LearningRate = lr,
        Status = TrainingStatus.Running, Diverged = false, Steps = 0, InitialTrainLoss = double.NaN, FinalTrainLoss = double.NaN,
        MinTrainLoss = double.NaN, FinalTrainAccuracy = double.NaN, FinalTestLoss = double.NaN, FinalTestAccuracy = double.NaN,
        FinalLambda1 = double.NaN, MaxLambda1 = double.NaN, MeanChi = double.NaN, Matvecs = 0, Seconds = double.NaN,
    };

    /// <summary>This summary with the steps-to-target filled in from the metrics.</summary>
    public RunSummary WithTarget(double target, IReadOnlyList<MetricsRow> rows)
    {
        long? hit = null;
        foreach (var r in rows)
            if (double.IsFinite(r.TrainLoss) && r.TrainLoss <= target) { hit = r.Step; break; }
        return this with { TargetLoss = target, StepsToTarget = hit };
    }
}

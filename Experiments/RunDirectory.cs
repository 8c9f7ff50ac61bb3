using System.Globalization;
using Curvature.Core;
using Curvature.Optimizers;

namespace Curvature.Experiments;

/// <summary>
/// Reads back a run directory written by `curvature train` (or by compare/sweep): its summary.json
/// and metrics.csv, as the in-memory trainer had them. metrics.csv holds round-trip doubles, so the
/// rows read back equal the trainer's bit for bit.
/// </summary>
public static class RunDirectory
{
    /// <summary>Whether <paramref name="directory"/> holds a finished run (its summary.json is the last file a run writes).</summary>
    public static bool IsFinished(string directory) =>
        File.Exists(Path.Combine(directory, TrainingRun.SummaryFile)) && File.Exists(Path.Combine(directory, TrainingRun.MetricsFile));

    /// <summary>The run's summary.json.</summary>
    public static TrainingSummary Summary(string directory) => RunJson.Load<TrainingSummary>(Path.Combine(directory, TrainingRun.SummaryFile));

    /// <summary>The run's metrics.csv as rows (<see cref="MetricsCsv.Load"/>).</summary>
    public static IReadOnlyList<MetricsRow> Metrics(string directory) => MetricsCsv.Load(Path.Combine(directory, TrainingRun.MetricsFile));

    /// <summary>The <see cref="RunSummary"/> of a finished run directory, as the in-process experiments compute it.</summary>
    public static RunSummary Read(string directory, string name, OptimizerSpec spec, double lr, out IReadOnlyList<MetricsRow> metrics)
    {
        var s = Summary(directory);
        metrics = Metrics(directory);
        return Summarize(s, metrics, name, spec, lr);
    }

    /// <summary>The <see cref="RunSummary"/> of a run from its summary.json and metrics.csv, already read.</summary>
    public static RunSummary Summarize(TrainingSummary summary, IReadOnlyList<MetricsRow> metrics, string name, OptimizerSpec spec, double lr)
    {
        ArgumentNullException.ThrowIfNull(summary);
        ArgumentNullException.ThrowIfNull(metrics);
        var result = new TrainingResult(summary.Status, summary.StoppedAt, summary.Steps, metrics.Count > 0 ? metrics[^1] : null, summary.Matvecs, summary.Seconds);
        return RunSummary.From(name, spec, lr, result, metrics);
    }

    internal static string Show(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}

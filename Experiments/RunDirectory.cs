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
    public static RunSummary Summarize(TrainingSummary summary, IReadOnlyList<MetricsRow> metrics, string name, OptimizerSpec spec, double lr) =>
        RunSummary.From(name, spec, lr, Result(summary, metrics), metrics);

    /// <summary>How a run ended, as its summary.json and metrics.csv record it.</summary>
    public static TrainingResult Result(TrainingSummary summary, IReadOnlyList<MetricsRow> metrics)
    {
        ArgumentNullException.ThrowIfNull(summary);
        ArgumentNullException.ThrowIfNull(metrics);
        return new TrainingResult(summary.Status, summary.StoppedAt, summary.Steps, metrics.Count > 0 ? metrics[^1] : null, summary.Matvecs, summary.Seconds);
    }

    /// <summary>
    /// What an earlier attempt left in <paramref name="directory"/> for the run <paramref name="expected"/> (read as it is, without its lock):
    /// <see cref="RunState.Finished"/> when its config.json describes that run (on any thread count: <see cref="RunSpec.Threads"/> changes no result) and its summary.json says completed or diverged, with a
    /// metrics.csv that parses and ends at the step the summary records (then <paramref name="summary"/> and <paramref name="metrics"/> are
    /// those files); <see cref="RunState.Unfinished"/> when it holds that run without a finished summary (killed or interrupted); <see cref="RunState.Absent"/> without a config.json;
    /// else <see cref="RunState.Damaged"/> with the reason in <paramref name="damage"/>.
    /// </summary>
    public static RunState Check(string directory, RunSpec expected, out TrainingSummary? summary, out IReadOnlyList<MetricsRow>? metrics, out string? damage)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(expected);
        summary = null;
        metrics = null;
        damage = null;
        string config = Path.Combine(directory, TrainingRun.ConfigFile);
        if (!File.Exists(config)) { damage = "no config.json"; return RunState.Absent; }
        try
        {
            // --threads changes nothing a run computes: a run trained on another thread count is the same run.
            var found = RunJson.Load<TrainSpec>(config).Run with { Threads = expected.Threads };
            if (FirstDifference(RunJson.Serialize(found), RunJson.Serialize(expected), "run") is string d)
                damage = $"config.json describes another run: {d}";
        }
        catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException or NotSupportedException)
        {
            damage = $"config.json unreadable: {e.Message.TrimEnd('.')}";
        }
        if (damage is not null) return RunState.Damaged;
        string metricsPath = Path.Combine(directory, TrainingRun.MetricsFile);
        try
        {
            var s = File.Exists(Path.Combine(directory, TrainingRun.SummaryFile)) ? Summary(directory) : null;
            // An unfinished run's metrics.csv may end in half a row (a kill): its checkpoint says how much of it counts.
            if (s is not { Status: TrainingStatus.Completed or TrainingStatus.Diverged }) return RunState.Unfinished;
            if (!File.Exists(metricsPath)) damage = "summary.json without metrics.csv";
            else
            {
                var rows = Metrics(directory);
                long last = s.StoppedAt ?? s.Steps;
                if (rows.Count == 0) damage = $"metrics.csv has no rows but summary.json records step {last}";
                else if (rows[^1].Step != last) damage = $"metrics.csv ends at step {rows[^1].Step} but summary.json records step {last}";
                else { summary = s; metrics = rows; return RunState.Finished; }
            }
        }
        catch (Exception e) when (e is InvalidDataException or IOException or FormatException or ArgumentException or NotSupportedException or System.Text.Json.JsonException)
        {
            damage = e.Message.TrimEnd('.');
        }
        metrics = null;
        return RunState.Damaged;
    }

    /// <summary>The first field in which two JSON texts differ ("run.steps is 20, expected 30"), or null when they are equal.</summary>
    internal static string? FirstDifference(string found, string expected, string root = "") =>
        FirstDifference(System.Text.Json.Nodes.JsonNode.Parse(found), System.Text.Json.Nodes.JsonNode.Parse(expected), root);

    static string? FirstDifference(System.Text.Json.Nodes.JsonNode? a, System.Text.Json.Nodes.JsonNode? b, string at)
    {
        if (a is System.Text.Json.Nodes.JsonObject oa && b is System.Text.Json.Nodes.JsonObject ob)
        {
            foreach (var key in oa.Select(p => p.Key).Union(ob.Select(p => p.Key)))
                if (FirstDifference(oa[key], ob[key], at.Length == 0 ? key : $"{at}.{key}") is string d) return d;
            return null;
        }
        string sa = a?.ToJsonString() ?? "null", sb = b?.ToJsonString() ?? "null";
        return sa == sb ? null : $"{(at.Length == 0 ? "the file" : at)} is {sa}, expected {sb}";
    }

    internal static string Show(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>What <see cref="RunDirectory.Check"/> found of an earlier attempt at a run.</summary>
public enum RunState
{
    /// <summary>No run there (no config.json).</summary>
    Absent,
    /// <summary>The run, finished (completed or diverged), its files agreeing.</summary>
    Finished,
    /// <summary>The run, not finished: killed, interrupted, or being written.</summary>
    Unfinished,
    /// <summary>Another run, or files that do not agree.</summary>
    Damaged,
}

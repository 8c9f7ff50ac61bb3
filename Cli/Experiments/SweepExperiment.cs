using System.Diagnostics;
using System.Globalization;
using Curvature.Core;
using Curvature.Optimizers;

namespace Curvature.Cli.Experiments;

/// <summary>One grid point's outcome, a row of sweep.csv.</summary>
public sealed record SweepRow(GridPoint Point, OptimizerSpec Spec, ExperimentOptions Options, RunSummary Summary, long? DivergedStep, string Directory);

/// <summary>What sweep measured, as written to its summary.json.</summary>
public sealed record SweepSummary
{
    public required string Command { get; init; }
    public required string Optimizer { get; init; }
    public required double TargetLoss { get; init; }
    public required IReadOnlyList<RunSummary> Runs { get; init; }
    public required double Seconds { get; init; }
}

/// <summary>
/// `curvature sweep`: one run per point of a grid over η, k, refresh period, Hessian batch
/// and (for interp) α_dom, α_bulk, all from the same θ₀ and minibatch order, tabulating the
/// final and best loss, the steps to a target loss and whether the run diverged.
/// </summary>
public static class SweepExperiment
{
    public static readonly string[] Columns =
    [
        "index", "lr", "k", "refresh", "hessian_batch", "alpha_dom", "alpha_bulk", "final_loss", "min_loss", "steps_to_target",
        "diverged", "diverged_step", "final_test_acc", "final_lambda_1", "max_lambda_1", "hvps", "seconds",
    ];

    public static IReadOnlyList<GridPoint> Grid(string lr, string k, string refresh, string hessianBatch, string? alphaDom, string? alphaBulk)
    {
        var axes = new List<GridAxis>
        {
            SweepGrid.ParseAxis("lr", lr, integer: false, min: 0, minExclusive: true),
            SweepGrid.ParseAxis("k", k, integer: true, min: 1),
            SweepGrid.ParseAxis("refresh", refresh, integer: true, min: 1),
            SweepGrid.ParseAxis("hessian-batch", hessianBatch, integer: true, min: 0),
        };
        if (alphaDom is not null) axes.Add(SweepGrid.ParseAxis("alpha-dom", alphaDom, integer: false, min: double.MinValue));
        if (alphaBulk is not null) axes.Add(SweepGrid.ParseAxis("alpha-bulk", alphaBulk, integer: false, min: double.MinValue));
        return SweepGrid.Expand(axes);
    }

    public static SweepSummary Run(ExperimentOptions baseOptions, string optimizer, IReadOnlyList<GridPoint> grid, double? targetLoss,
        string command, IProgressSink progress, CancellationToken cancel)
    {
        baseOptions.Validate();
        var baseSpec = OptimizerSpec.Parse(optimizer is "interp" ? "interp:1:1" : optimizer, "optimizer");
        bool hasAlphas = grid.Count > 0 && grid[0].Names.Any(n => n.StartsWith("alpha-", StringComparison.Ordinal));
        if (hasAlphas && baseSpec.Optimizer != "interp")
            throw new ArgumentException($"Options '--alpha-dom'/'--alpha-bulk' were given with --optimizer {optimizer}; expected them only with --optimizer interp.", "optimizer");
        if (targetLoss is double t && !(t > 0))
            throw new ArgumentOutOfRangeException("target-loss", $"Option '--target-loss' was {SweepGrid.Show(t)}; expected a positive loss.");
        var clock = Stopwatch.StartNew();
        using var threads = baseOptions.UseThreads();
        var problem = baseOptions.LoadProblem();
        var pointOptions = grid.Select(p => OptionsAt(baseOptions, p)).ToList();
        foreach (var o in pointOptions) o.Validate(problem);
        string outDir = Path.GetFullPath(baseOptions.Out);
        Directory.CreateDirectory(outDir);
        Json.Save(Path.Combine(outDir, "config.json"), new { command, options = baseOptions, optimizer, grid = grid.Select(p => p.Label).ToArray(), target_loss = targetLoss });

        var theta0 = problem.Model.Initialize(baseOptions.Seed);
        double initialLoss = problem.TrainObjective.Evaluate(theta0).Loss;
        double target = targetLoss ?? 0.25 * initialLoss;
        var rows = new List<SweepRow>();
        for (int i = 0; i < grid.Count; i++)
        {
            var p = grid[i];
            var o = pointOptions[i];
            var spec = baseSpec.Optimizer == "interp"
                ? new OptimizerSpec("interp", Has(p, "alpha-dom") ? p["alpha-dom"] : 0.0, Has(p, "alpha-bulk") ? p["alpha-bulk"] : 1.0)
                : baseSpec;
            string dir = Path.Combine(outDir, $"{i:D3}_{p.Label}");
            var run = TrainingRunner.Run(problem, o, spec, theta0, dir, new Labelled(progress, $"#{i} {p.Label}"), (long)i * baseOptions.Steps, null, cancel);
            var summary = run.Summary.WithTarget(target, run.Trainer.Metrics) with { Name = $"{i:D3}_{p.Label}" };
            long? divergedAt = run.Result.Diverged
                ? long.Parse(run.Result.Status[TrainingStatus.DivergedPrefix.Length..], CultureInfo.InvariantCulture)
                : null;
            rows.Add(new SweepRow(p, spec, o, summary, divergedAt, dir));
            progress.Message($"#{i} {p.Label}: {run.Result.Status}, final loss {ReportWriter.Num(summary.FinalTrainLoss)}");
        }

        var table = new CsvTable(Columns);
        foreach (var r in rows)
        {
            var s = r.Summary;
            table.AddRow(r.Point.Index, r.Options.LearningRate, r.Options.K, r.Options.Refresh, r.Options.HessianBatch ?? 0,
                r.Spec.Alphas.Dom, r.Spec.Alphas.Bulk, s.FinalTrainLoss, s.MinTrainLoss, s.StepsToTarget is long st ? st : double.NaN,
                s.Diverged ? 1 : 0, r.DivergedStep is long d ? d : double.NaN, s.FinalTestAccuracy, s.FinalLambda1, s.MaxLambda1, s.Hvps, s.Seconds);
        }
        table.Save(Path.Combine(outDir, "sweep.csv"));
        var result = new SweepSummary
        {
            Command = command,
            Optimizer = optimizer,
            TargetLoss = target,
            Runs = rows.Select(r => r.Summary).ToList(),
            Seconds = clock.Elapsed.TotalSeconds,
        };
        SweepReport.Write(outDir, baseOptions, problem, optimizer, rows, result, initialLoss);
        Json.Save(Path.Combine(outDir, "summary.json"), result with { Seconds = clock.Elapsed.TotalSeconds });
        return result;
    }

    static bool Has(GridPoint p, string name) => p.Names.Contains(name);

    static ExperimentOptions OptionsAt(ExperimentOptions o, GridPoint p) => o with
    {
        LearningRate = p["lr"],
        K = (int)p["k"],
        Refresh = (int)p["refresh"],
        HessianBatch = (int)p["hessian-batch"],
    };

    /// <summary>Shows the grid point's label instead of the optimizer's name in the progress line.</summary>
    sealed class Labelled(IProgressSink inner, string label) : IProgressSink
    {
        public void Report(string phase, long done, long step, long steps, double loss, double lambda1) =>
            inner.Report(label, done, step, steps, loss, lambda1);

        public void Message(string text) => inner.Message(text);
    }
}

using System.Diagnostics;
using Curvature.Optimizers;

namespace Curvature.Experiments;

/// <summary>What `curvature sweep` runs: one run per point of a grid over η, k, refresh, Hessian batch and (interp) the α's.</summary>
public sealed record SweepSpec
{
    /// <summary>The shared run; its optimizer (default bulk) is the swept rule, and each grid axis left null takes the run's single value.</summary>
    public RunSpec Run { get; init; } = new() { Optimizer = "bulk" };

    /// <summary>Learning rates (<c>--lr</c>).</summary>
    public IReadOnlyList<double>? Lr { get; init; }

    /// <summary>Subspace dimensions (<c>--k</c>).</summary>
    public IReadOnlyList<int>? K { get; init; }

    /// <summary>Refresh periods (<c>--refresh</c>).</summary>
    public IReadOnlyList<int>? Refresh { get; init; }

    /// <summary>Hessian batch sizes (<c>--hessian-batch</c>, 0: all).</summary>
    public IReadOnlyList<int>? HessianBatch { get; init; }

    /// <summary>α_dom values (<c>--alpha-dom</c>, interp only; default 0).</summary>
    public IReadOnlyList<double>? AlphaDom { get; init; }

    /// <summary>α_bulk values (<c>--alpha-bulk</c>, interp only; default 1).</summary>
    public IReadOnlyList<double>? AlphaBulk { get; init; }

    /// <summary>Loss for the steps-to-target column (<c>--target-loss</c>); null: a quarter of the initial loss.</summary>
    public double? TargetLoss { get; init; }

    /// <summary>Output directory (<c>--out</c>).</summary>
    public string Out { get; init; } = "runs/sweep";

    /// <summary>The grid's points, last axis fastest.</summary>
    public IReadOnlyList<GridPoint> Grid()
    {
        static string L<T>(IReadOnlyList<T>? v, T single) => string.Join(",", (v ?? [single]).Select(x => SweepGrid.Show(Convert.ToDouble(x, System.Globalization.CultureInfo.InvariantCulture))));
        return SweepExperiment.Grid(L(Lr, Run.LearningRate), L(K, Run.K), L(Refresh, Run.Refresh), L(HessianBatch, Run.HessianBatch),
            AlphaDom is null ? null : L(AlphaDom, 0.0), AlphaBulk is null ? null : L(AlphaBulk, 1.0));
    }

    /// <summary>Validates the run, the grid and the rest; messages name the option.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Run);
        if (Run.Optimizer is not ("sgd" or "dom" or "bulk" or "interp"))
            throw new ArgumentException($"Option '--optimizer' was '{Run.Optimizer}'; expected sgd, dom, bulk or interp.", "optimizer");
        var grid = Grid();
        foreach (var p in grid) SweepExperiment.At(this, p).Validate();
        if ((AlphaDom is not null || AlphaBulk is not null) && Run.Optimizer != "interp")
            throw new ArgumentException($"Options '--alpha-dom'/'--alpha-bulk' were given with --optimizer {Run.Optimizer}; expected them only with --optimizer interp.", "optimizer");
        if (TargetLoss is double t && !(t > 0))
            throw new ArgumentOutOfRangeException("target-loss", $"Option '--target-loss' was {SweepGrid.Show(t)}; expected a positive loss.");
        if (string.IsNullOrWhiteSpace(Out)) throw new ArgumentException("Option '--out' was empty; expected an output directory.", "out");
    }
}

/// <summary>Everything sweep measured, in memory.</summary>
/// <param name="Spec">What was run.</param>
/// <param name="Problem">The loaded network and data.</param>
/// <param name="Rows">One per grid point.</param>
/// <param name="Summary">The summary (summary.json).</param>
/// <param name="InitialLoss">Training loss at θ₀.</param>
public sealed record SweepResult(SweepSpec Spec, Problem Problem, IReadOnlyList<SweepRow> Rows, SweepSummary Summary, double InitialLoss);

/// <summary>One grid point's outcome, a row of sweep.csv.</summary>
public sealed record SweepRow(GridPoint Point, OptimizerSpec Spec, RunSpec Options, RunSummary Summary, long? DivergedStep, CompletedRun Run);

/// <summary>What sweep measured, as written to its summary.json.</summary>
public sealed record SweepSummary
{
    /// <summary>The swept rule.</summary>
    public required string Optimizer { get; init; }
    /// <summary>The loss the steps-to-target column counts to.</summary>
    public required double TargetLoss { get; init; }
    /// <summary>One summary per grid point.</summary>
    public required IReadOnlyList<RunSummary> Runs { get; init; }
    /// <summary>Wall-clock seconds.</summary>
    public required double Seconds { get; init; }
}

/// <summary>
/// `curvature sweep`: one run per point of a grid over η, k, refresh period, Hessian batch
/// and (for interp) α_dom, α_bulk, all from the same θ₀ and minibatch order, tabulating the
/// final and best loss, the steps to a target loss and whether the run diverged.
/// </summary>
public static class SweepExperiment
{
    /// <summary>Columns of sweep.csv.</summary>
    public static readonly string[] Columns =
    [
        "index", "lr", "k", "refresh", "hessian_batch", "alpha_dom", "alpha_bulk", "final_loss", "min_loss", "steps_to_target",
        "diverged", "diverged_step", "final_test_acc", "final_lambda_1", "max_lambda_1", "matvecs", "seconds",
    ];

    /// <summary>The grid of comma-separated value lists; errors name the option.</summary>
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

    /// <summary>Measures and writes: <see cref="Measure"/> then <see cref="Write"/>.</summary>
    public static SweepResult Run(SweepSpec spec, IProgressSink? progress = null, CancellationToken cancel = default)
    {
        var result = Measure(spec, progress, cancel);
        Write(result);
        return result;
    }

    /// <summary>The run at grid point <paramref name="p"/>.</summary>
    public static RunSpec At(SweepSpec spec, GridPoint p)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(p);
        var o = spec.Run with
        {
            LearningRate = p["lr"],
            K = (int)p["k"],
            Refresh = (int)p["refresh"],
            HessianBatch = (int)p["hessian-batch"],
        };
        return spec.Run.Optimizer == "interp"
            ? o with { AlphaDom = Has(p, "alpha-dom") ? p["alpha-dom"] : 0.0, AlphaBulk = Has(p, "alpha-bulk") ? p["alpha-bulk"] : 1.0 }
            : o with { AlphaDom = null, AlphaBulk = null };
    }

    /// <summary>Trains every grid point from one θ₀; touches no file.</summary>
    public static SweepResult Measure(SweepSpec spec, IProgressSink? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        progress ??= NullProgress.Instance;
        var grid = spec.Grid();
        var baseOptions = spec.Run;
        string optimizer = baseOptions.Optimizer;
        var clock = Stopwatch.StartNew();
        var problem = Problem.Load(baseOptions);
        var pointOptions = grid.Select(p => At(spec, p)).ToList();
        foreach (var o in pointOptions) o.Validate(problem.ParameterCount, problem.Train.Count);

        var theta0 = problem.Model.Initialize(baseOptions.Seed);
        double initialLoss = problem.TrainObjective.Evaluate(theta0).Loss;
        double target = spec.TargetLoss ?? 0.25 * initialLoss;
        var rows = new List<SweepRow>();
        for (int i = 0; i < grid.Count; i++)
        {
            var p = grid[i];
            var o = pointOptions[i];
            var ospec = new OptimizerSpec(optimizer, o.AlphaDom, o.AlphaBulk);
            string name = $"{i:D3}_{p.Label}";
            var run = TrainingRunner.Run(problem, o, ospec, theta0, new Labelled(progress, $"#{i} {p.Label}"), (long)i * baseOptions.Steps, null, cancel);
            run = run with { Name = name, Summary = run.Summary.WithTarget(target, run.Trainer.Metrics) with { Name = name } };
            rows.Add(new SweepRow(p, ospec, o, run.Summary, run.Result.Diverged ? run.Result.StoppedAt : null, run));
            progress.Message($"#{i} {p.Label}: {run.Result.Text}, final loss {ReportWriter.Num(run.Summary.FinalTrainLoss)}");
        }
        var result = new SweepSummary
        {
            Optimizer = optimizer,
            TargetLoss = target,
            Runs = rows.Select(r => r.Summary).ToList(),
            Seconds = clock.Elapsed.TotalSeconds,
        };
        return new SweepResult(spec, problem, rows, result, initialLoss);
    }

    /// <summary>Writes config.json, one directory per point, sweep.csv, report.md and summary.json.</summary>
    public static void Write(SweepResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        string outDir = Path.GetFullPath(result.Spec.Out);
        Directory.CreateDirectory(outDir);
        RunJson.Save(Path.Combine(outDir, "config.json"), result.Spec);
        foreach (var r in result.Rows) TrainingRunner.Write(outDir, r.Run, result.Problem.Train.Count);
        Table(result.Rows).Save(Path.Combine(outDir, "sweep.csv"));
        SweepReport.Write(outDir, result.Spec.Run, result.Problem, result.Spec.Run.Optimizer, result.Rows, result.Summary, result.InitialLoss);
        RunJson.Save(Path.Combine(outDir, "summary.json"), result.Summary);
    }

    /// <summary>sweep.csv: one row per grid point.</summary>
    public static CsvTable Table(IEnumerable<SweepRow> rows)
    {
        var table = new CsvTable(Columns);
        foreach (var r in rows)
        {
            var s = r.Summary;
            table.AddRow(r.Point.Index, r.Options.LearningRate, r.Options.K, r.Options.Refresh, r.Options.HessianBatch,
                r.Spec.Alphas.Dom, r.Spec.Alphas.Bulk, s.FinalTrainLoss, s.MinTrainLoss, s.StepsToTarget is long st ? st : double.NaN,
                s.Diverged ? 1 : 0, r.DivergedStep is long d ? d : double.NaN, s.FinalTestAccuracy, s.FinalLambda1, s.MaxLambda1, s.Matvecs, s.Seconds);
        }
        return table;
    }

    static bool Has(GridPoint p, string name) => p.Names.Contains(name);

    /// <summary>Shows the grid point's label instead of the optimizer's name in the progress line.</summary>
    sealed class Labelled(IProgressSink inner, string label) : IProgressSink
    {
        public void Report(string phase, long done, long step, long steps, double loss, double lambda1) =>
            inner.Report(label, done, step, steps, loss, lambda1);

        public void Message(string text) => inner.Message(text);
    }
}

using System.Diagnostics;
using Curvature.Core;
using Curvature.Optimizers;

namespace Curvature.Experiments;

/// <summary>What `curvature sweep` runs: one run per point of a grid over η, k, refresh, Hessian batch and (interp) the α's.</summary>
public sealed record SweepSpec
{
    /// <summary>The format of this config.json (<see cref="RunJson.ConfigFormat"/>); absent in files of format 1.</summary>
    public int Format { get; init; } = RunJson.ConfigFormat;

    /// <summary>The shared run; its optimizer (default bulk) is the swept rule, and each grid axis left null takes the run's single value.</summary>
    public RunSpec Run { get; init; } = new() { Optimizer = OptimizerKind.Bulk };

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

    /// <summary>Seeds (<c>--seeds</c>): every grid point runs once per seed (θ₀, minibatch order, Hessian batch); null: the run's single seed, no seed in the directory names.</summary>
    public IReadOnlyList<ulong>? Seeds { get; init; }

    /// <summary>The seeds every grid point runs with.</summary>
    public IReadOnlyList<ulong> SeedList => Seeds ?? [Run.Seed];

    /// <summary>Every (grid point, seed) run, point-major, with its directory name.</summary>
    public IReadOnlyList<SweepCell> Cells()
    {
        var cells = new List<SweepCell>();
        foreach (var p in Grid())
            foreach (var s in SeedList)
                cells.Add(new SweepCell(p, s, Seeds is null ? $"{p.Index:D3}_{p.Label}" : $"{p.Index:D3}_{p.Label}_seed={s}"));
        return cells;
    }

    /// <summary>The grid's points, last axis fastest.</summary>
    public IReadOnlyList<GridPoint> Grid()
    {
        static string L<T>(IReadOnlyList<T>? v, T single) => string.Join(",", (v ?? [single]).Select(x => SweepGrid.Show(Convert.ToDouble(x, System.Globalization.CultureInfo.InvariantCulture))));
        return SweepExperiment.Grid(L(Lr, Run.LearningRate), L(K, Run.K), L(Refresh, Run.Refresh), L(HessianBatch, Run.HessianBatch ?? TrackerOptions.DefaultHessianBatch),
            AlphaDom is null ? null : L(AlphaDom, 0.0), AlphaBulk is null ? null : L(AlphaBulk, 1.0));
    }

    /// <summary>Validates the run, the grid and the rest; messages name the option.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Run);
        if ((AlphaDom is not null || AlphaBulk is not null) && Run.Optimizer != OptimizerKind.Interp)
            throw new ArgumentException($"Fields 'alpha-dom'/'alpha-bulk' were given with field 'optimizer' {Core.CliNames.Name(Run.Optimizer)}; expected them only with interp.", "optimizer");
        if (TargetLoss is double t && !(t > 0))
            throw new ArgumentOutOfRangeException("target-loss", $"Option '--target-loss' was {SweepGrid.Show(t)}; expected a positive loss.");
        if (string.IsNullOrWhiteSpace(Out)) throw new ArgumentException("Option '--out' was empty; expected an output directory.", "out");
        if (Seeds is { Count: 0 }) throw new ArgumentException("Option '--seeds' was empty; expected a comma-separated list of seeds or a count.", "seeds");
        if (Seeds is not null && Seeds.Distinct().Count() != Seeds.Count)
            throw new ArgumentException($"Option '--seeds' was '{string.Join(",", Seeds)}'; expected distinct seeds.", "seeds");
        if (Seeds is { Count: > 1000 }) throw new ArgumentException($"Option '--seeds' has {Seeds.Count} seeds; expected at most 1000.", "seeds");
    }

    /// <summary>Parses <c>--seeds</c>: a comma-separated list ("0,1,2") or, for one number n without a comma, the count meaning 0..n−1.</summary>
    public static IReadOnlyList<ulong> ParseSeeds(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new ArgumentException("Option '--seeds' was empty; expected a comma-separated list of seeds or a count.", "seeds");
        var parts = text.Split(',').Select(x => x.Trim()).ToArray();
        var values = new List<ulong>();
        foreach (var part in parts)
            if (!ulong.TryParse(part, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out ulong v))
                throw new ArgumentException($"Option '--seeds' has '{part}'; expected non-negative whole numbers (a list 0,1,2 or a count 3).", "seeds");
            else values.Add(v);
        if (parts.Length == 1)
        {
            if (values[0] is 0 or > 1000) throw new ArgumentException($"Option '--seeds' was '{text}'; expected a count between 1 and 1000 (or a list such as 0,1,2).", "seeds");
            return Enumerable.Range(0, (int)values[0]).Select(i => (ulong)i).ToArray();
        }
        return values;
    }
}

/// <summary>One run of a sweep: a grid point, a seed and the run directory's name.</summary>
public sealed record SweepCell(GridPoint Point, ulong Seed, string Name);

/// <summary>Everything sweep measured, in memory.</summary>
/// <param name="Spec">What was run.</param>
/// <param name="Problem">The loaded network and data.</param>
/// <param name="Rows">One per grid point.</param>
/// <param name="Summary">The summary (summary.json).</param>
/// <param name="InitialLoss">Training loss at θ₀.</param>
public sealed record SweepResult(SweepSpec Spec, Problem Problem, IReadOnlyList<SweepRow> Rows, SweepSummary Summary, double InitialLoss)
{
    /// <summary>The trained runs, in row order (empty for a collected sweep, whose run directories are already written).</summary>
    public IReadOnlyList<CompletedRun> Runs { get; init; } = [];
}

/// <summary>One (grid point, seed) outcome, a row of sweep.csv; <paramref name="Missing"/> when `--collect` found no finished run directory (then the numbers are NaN).</summary>
public sealed record SweepRow(GridPoint Point, ulong Seed, string Name, OptimizerSpec Spec, RunSpec Options, RunSummary Summary, long? DivergedStep,
    IReadOnlyList<MetricsRow> Metrics, bool Missing = false)
{
    /// <summary>Why `--collect` found this (missing) row's run directory damaged, or null.</summary>
    public string? Damage { get; init; }

    /// <summary>The grid point, by its index.</summary>
    public int Index => Point.Index;
}

/// <summary>What sweep measured, as written to its summary.json.</summary>
public sealed record SweepSummary
{
    /// <summary>Completed, or interrupted by a signal (the finished runs and the interrupted one are written; the rest are missing).</summary>
    public TrainingStatus Status { get; init; } = TrainingStatus.Completed;

    /// <summary>The swept rule.</summary>
    public required OptimizerKind Optimizer { get; init; }
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
        "index", "seed", "missing", "lr", "k", "refresh", "hessian_batch", "alpha_dom", "alpha_bulk", "final_loss", "min_loss", "steps_to_target",
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
            // A default Hessian batch stays a default (clamped to the data); only a typed one is a value.
            HessianBatch = spec.HessianBatch is null && spec.Run.HessianBatch is null ? null : (int)p["hessian-batch"],
        };
        return spec.Run.Optimizer == OptimizerKind.Interp
            ? o with { AlphaDom = Has(p, "alpha-dom") ? p["alpha-dom"] : 0.0, AlphaBulk = Has(p, "alpha-bulk") ? p["alpha-bulk"] : 1.0 }
            : o with { AlphaDom = null, AlphaBulk = null };
    }

    /// <summary>
    /// Trains every grid point from one θ₀; writes no file. An earlier attempt of the same sweep in its
    /// output directory (a run interrupted by a signal) is picked up: finished cells are read back, the
    /// interrupted one resumes from its checkpoint.
    /// </summary>
    public static SweepResult Measure(SweepSpec spec, IProgressSink? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        progress ??= NullProgress.Instance;
        var grid = spec.Grid();
        var baseOptions = spec.Run;
        var optimizer = baseOptions.Optimizer;
        var clock = Stopwatch.StartNew();
        // The first point's run: the sweep's own run may lack the α's an interp run needs to validate.
        var problem = Problem.Load(At(spec, grid[0]));
        var pointOptions = grid.Select(p => At(spec, p) with { TestData = problem.Spec.TestData }).ToList();
        // Every point checked before the first trains, once each (the trainer checks its own again as it is built).
        foreach (var o in pointOptions.Skip(1)) o.Validate();
        foreach (var o in pointOptions) o.TrainerOptions(problem.Train.Count).Validate(problem.ParameterCount, problem.Train.Count);

        double initialLoss = problem.TrainObjective.Evaluate(problem.Model.Initialize(baseOptions.Seed)).Loss;
        double target = spec.TargetLoss ?? 0.25 * initialLoss;
        var rows = new List<SweepRow>();
        var runs = new List<CompletedRun>();
        var cells = spec.Cells();
        var theta0 = new Dictionary<ulong, double[]>();
        string outDir = Path.GetFullPath(spec.Out);
        bool interrupted = false;
        for (int i = 0; i < cells.Count; i++)
        {
            var (p, seed, name) = (cells[i].Point, cells[i].Seed, cells[i].Name);
            var o = pointOptions[p.Index] with { Seed = seed };
            if (!theta0.TryGetValue(seed, out var t0)) theta0[seed] = t0 = problem.Model.Initialize(seed);
            var ospec = new OptimizerSpec(optimizer, o.AlphaDom, o.AlphaBulk);
            if (interrupted)
            {
                rows.Add(new SweepRow(p, seed, name, ospec, o, RunSummary.Missing(name, ospec, o.LearningRate), null, [], Missing: true));
                continue;
            }
            string label = spec.Seeds is null ? $"#{p.Index} {p.Label}" : $"#{p.Index} {p.Label} seed {seed}";
            // A rerun into the same --out keeps every cell an earlier attempt finished (completed or diverged) and
            // resumes the one a signal interrupted from its checkpoint; the table is the uninterrupted sweep's.
            string cellDir = Path.Combine(outDir, name);
            if (RunDirectory.Check(cellDir, ospec.Apply(o), out var finished, out var finishedRows, out _) == RunState.Finished)
            {
                var row = SweepJobs.FinishedRow(cells[i], ospec, o, finished!, finishedRows!, target);
                rows.Add(row);
                progress.Message($"{label}: {TrainingStatusText.Format(finished!.Status, finished.StoppedAt)}{TrainingRunner.KeptNote}, final loss {ReportWriter.Num(row.Summary.FinalTrainLoss)}");
                continue;
            }
            // A signal ends the running step: that run is kept as interrupted (its directory resumes), every finished one as it is.
            var run = TrainingRunner.Continue(problem, o, ospec, t0, new Labelled(progress, label), (long)i * baseOptions.Steps, null, cancel, cellDir);
            run = run with { Name = name, Summary = run.Summary.WithTarget(target, run.Metrics) with { Name = name } };
            runs.Add(run);
            interrupted = run.Result.Status == TrainingStatus.Interrupted;
            rows.Add(interrupted
                ? new SweepRow(p, seed, name, ospec, o, RunSummary.Missing(name, ospec, o.LearningRate) with { Status = TrainingStatus.Interrupted, Steps = run.Trainer.Step }, null, [], Missing: true)
                : new SweepRow(p, seed, name, ospec, o, run.Summary, run.Result.Diverged ? run.Result.StoppedAt : null, run.Metrics.ToList()));
            progress.Message($"{label}: {run.Result.Text}{run.Origin}, final loss {ReportWriter.Num(run.Summary.FinalTrainLoss)}");
        }
        var result = new SweepSummary
        {
            Status = interrupted ? TrainingStatus.Interrupted : TrainingStatus.Completed,
            Optimizer = optimizer,
            TargetLoss = target,
            Runs = rows.Select(r => r.Summary).ToList(),
            Seconds = clock.Elapsed.TotalSeconds,
        };
        return new SweepResult(spec, problem, rows, result, initialLoss) { Runs = runs };
    }

    /// <summary>Writes config.json, one directory per point, sweep.csv, report.md and summary.json.</summary>
    public static void Write(SweepResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        string outDir = Path.GetFullPath(result.Spec.Out);
        Directory.CreateDirectory(outDir);
        RunJson.Save(Path.Combine(outDir, "config.json"), result.Spec);
        foreach (var r in result.Runs) TrainingRunner.Write(outDir, r, result.Problem.Train.Count);
        Table(result.Rows).Save(Path.Combine(outDir, "sweep.csv"));
        if (result.Spec.Seeds is not null) SeedTable(result.Rows).Save(Path.Combine(outDir, "sweep_seeds.csv"));
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
            table.AddRow(r.Point.Index, r.Seed, r.Missing ? 1 : 0, r.Options.LearningRate, r.Options.K, r.Options.Refresh, r.Options.HessianBatch ?? r.Point["hessian-batch"],
                r.Spec.Alphas.Dom, r.Spec.Alphas.Bulk, s.FinalTrainLoss, s.MinTrainLoss, s.StepsToTarget is long st ? st : double.NaN,
                s.Diverged ? 1 : 0, r.DivergedStep is long d ? d : double.NaN, s.FinalTestAccuracy, s.FinalLambda1, s.MaxLambda1, s.Matvecs, s.Seconds);
        }
        return table;
    }

    /// <summary>Columns of sweep_seeds.csv: per grid point, the number of seeds, diverged and missing runs, and mean and standard deviation over the finished, non-diverged seeds.</summary>
    public static readonly string[] SeedColumns =
    [
        "index", "lr", "k", "refresh", "hessian_batch", "alpha_dom", "alpha_bulk", "seeds", "diverged", "missing",
        "final_loss_mean", "final_loss_std", "min_loss_mean", "min_loss_std", "steps_to_target_mean", "steps_to_target_std", "reached_target",
        "final_test_acc_mean", "final_test_acc_std", "max_lambda_1_mean", "max_lambda_1_std",
    ];

    /// <summary>
    /// sweep_seeds.csv: one row per grid point aggregating its seeds. Means and sample standard
    /// deviations (n − 1; NaN for one value) are over the seeds that finished without diverging;
    /// steps to target over those that reached it (counted in reached_target).
    /// </summary>
    public static CsvTable SeedTable(IEnumerable<SweepRow> rows)
    {
        var table = new CsvTable(SeedColumns);
        foreach (var g in rows.GroupBy(r => r.Point.Index))
        {
            var all = g.ToList();
            var ok = all.Where(r => !r.Missing && r.DivergedStep is null).ToList();
            var first = all[0];
            var (fm, fs) = Stats.MeanStd(ok.Select(r => r.Summary.FinalTrainLoss));
            var (mm, ms) = Stats.MeanStd(ok.Select(r => r.Summary.MinTrainLoss));
            var hits = ok.Where(r => r.Summary.StepsToTarget is not null).Select(r => (double)r.Summary.StepsToTarget!.Value).ToList();
            var (sm, ss) = Stats.MeanStd(hits);
            var (am, as_) = Stats.MeanStd(ok.Select(r => r.Summary.FinalTestAccuracy));
            var (lm, ls) = Stats.MeanStd(ok.Select(r => r.Summary.MaxLambda1));
            table.AddRow(first.Point.Index, first.Options.LearningRate, first.Options.K, first.Options.Refresh, first.Options.HessianBatch ?? first.Point["hessian-batch"],
                first.Spec.Alphas.Dom, first.Spec.Alphas.Bulk, all.Count, all.Count(r => r.DivergedStep is not null), all.Count(r => r.Missing),
                fm, fs, mm, ms, sm, ss, hits.Count, am, as_, lm, ls);
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

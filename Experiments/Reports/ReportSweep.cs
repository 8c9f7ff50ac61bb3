using System.Globalization;
using Curvature.Models;
using Curvature.Optimizers;

namespace Curvature.Experiments;

/// <summary>The figures and report.md of `curvature sweep`.</summary>
public static class SweepReport
{
    /// <summary>Writes sweep's figures and report.md into <paramref name="outDir"/> (the run directories must already be written).</summary>
    public static void Write(string outDir, RunSpec options, Problem problem, OptimizerKind optimizer, IReadOnlyList<SweepRow> rows,
        SweepSummary summary, double initialLoss)
    {
        var report = new ReportWriter($"Curvature sweep: {Core.CliNames.Name(optimizer)} on {problem.Model.Spec} {options.Activation.Name()}, {options.Loss.Name()}, {options.Data}");
        var seeds = rows.Select(r => r.Seed).Distinct().ToList();
        bool multi = rows.Select(r => r.Name).Any(n => n.Contains("_seed=", StringComparison.Ordinal));
        report.Paragraph((multi
            ? $"One run per grid point and seed ({string.Join(", ", seeds)}); the runs of one seed share θ₀ and the minibatch order, "
            : $"One run per grid point, all from the same θ₀ (seed {options.Seed}) with the same minibatch order, ")
            + $"{options.Steps} steps of batch {options.BatchFor(problem.Train.Count)}. A run diverges when its loss is not finite or exceeds 100× the initial loss "
            + $"({ReportWriter.Num(initialLoss)}); \"steps to target\" is the first measured step (every {options.EvalEveryOrDefault}) "
            + $"with training loss ≤ {ReportWriter.Num(summary.TargetLoss)}.");
        int missing = rows.Count(r => r.Missing);
        if (missing > 0)
            report.Paragraph($"**{missing} of {rows.Count} runs are missing** (no finished run directory: never run, killed, interrupted or damaged); their rows say so and are left out of every mean.");
        report.Code("curvature sweep --config config.json");

        var varying = rows.Count == 0 ? [] : rows[0].Point.Names.Where((n, i) => rows.Select(r => r.Point.Values[i]).Distinct().Count() > 1).ToList();
        report.Heading("Results");
        if (multi)
        {
            report.Paragraph("Mean ± sample standard deviation over the seeds that finished without diverging (steps to target: over those that reached it, counted as n/seeds).");
            report.Table(["#", "η", "k", "refresh", "Hessian batch", "α_dom", "α_bulk", "seeds", "diverged", "missing", "final loss", "min loss", "steps to target", "test acc", "max λ₁"],
                rows.GroupBy(r => r.Point.Index).Select(g =>
                {
                    var all = g.ToList();
                    var ok = all.Where(r => !r.Missing && r.DivergedStep is null).ToList();
                    var f = all[0];
                    var hits = ok.Where(r => r.Summary.StepsToTarget is not null).Select(r => (double)r.Summary.StepsToTarget!.Value).ToList();
                    return (IReadOnlyList<string>)
                    [
                        f.Point.Index.ToString(CultureInfo.InvariantCulture), ReportWriter.Num(f.Options.LearningRate), f.Options.K.ToString(CultureInfo.InvariantCulture),
                        f.Options.Refresh.ToString(CultureInfo.InvariantCulture), HessianBatchCell(f.Options.HessianBatch),
                        ReportWriter.Num(f.Spec.Alphas.Dom), ReportWriter.Num(f.Spec.Alphas.Bulk), all.Count.ToString(CultureInfo.InvariantCulture),
                        all.Count(r => r.DivergedStep is not null).ToString(CultureInfo.InvariantCulture), all.Count(r => r.Missing).ToString(CultureInfo.InvariantCulture),
                        Pm(ok.Select(r => r.Summary.FinalTrainLoss)), Pm(ok.Select(r => r.Summary.MinTrainLoss)),
                        hits.Count == 0 ? "never" : $"{Pm(hits)} ({hits.Count}/{all.Count})",
                        Pm(ok.Select(r => r.Summary.FinalTestAccuracy)), Pm(ok.Select(r => r.Summary.MaxLambda1)),
                    ];
                }));
            report.Paragraph("Every run:");
        }
        var header = new List<string> { "#", "seed", "η", "k", "refresh", "Hessian batch", "α_dom", "α_bulk", "final loss", "min loss", "steps to target", "diverged", "test acc", "max λ₁", "HVPs", "seconds" };
        report.Table(header, rows.Select(r => (IReadOnlyList<string>)
        [
            r.Point.Index.ToString(CultureInfo.InvariantCulture), r.Seed.ToString(CultureInfo.InvariantCulture), ReportWriter.Num(r.Options.LearningRate), r.Options.K.ToString(CultureInfo.InvariantCulture),
            r.Options.Refresh.ToString(CultureInfo.InvariantCulture), HessianBatchCell(r.Options.HessianBatch),
            ReportWriter.Num(r.Spec.Alphas.Dom), ReportWriter.Num(r.Spec.Alphas.Bulk), ReportWriter.Num(r.Summary.FinalTrainLoss), ReportWriter.Num(r.Summary.MinTrainLoss),
            r.Summary.StepsToTarget?.ToString(CultureInfo.InvariantCulture) ?? "never",
            r.Missing ? (r.Damage is null ? "**missing**" : "**damaged**") : r.DivergedStep is long d ? $"yes (step {d})" : "no",
            ReportWriter.Num(r.Summary.FinalTestAccuracy), ReportWriter.Num(r.Summary.MaxLambda1), r.Summary.Matvecs.ToString(CultureInfo.InvariantCulture), ReportWriter.Num(r.Summary.Seconds),
        ]));
        int diverged = rows.Count(r => r.DivergedStep is not null);
        WriteFullLambdaTable(report, rows);
        report.Paragraph($"{diverged} of {rows.Count} runs diverged. Swept: {(varying.Count == 0 ? "nothing (one point)" : string.Join(", ", varying))}.");

        var curves = multi
            ? rows.Where(r => !r.Missing).GroupBy(r => r.Point.Index).Select(g => Stats.Band($"#{g.Key} {Short(g.First(), varying)}",
                g.Select(r => ((IReadOnlyList<double>)r.Metrics.Select(m => (double)m.Step).ToList(), (IReadOnlyList<double>)r.Metrics.Select(m => m.TrainLoss).ToList())).ToList())
                with
            { Diverged = g.Any(r => r.DivergedStep is not null) }).ToList()
            : rows.Where(r => !r.Missing).Select(r => new PlotSeries($"#{r.Point.Index} {Short(r, varying)}",
                r.Metrics.Select(m => (double)m.Step).ToList(), r.Metrics.Select(m => m.TrainLoss).ToList())
            { Diverged = r.DivergedStep is not null }).ToList();
        Plots.Lines(Path.Combine(outDir, "loss.png"), "Training loss per grid point", "step", "training loss (log scale)", curves, logY: true,
            references: [new ReferenceLine($"target {ReportWriter.Num(summary.TargetLoss)}", summary.TargetLoss)]);
        report.Figure("loss.png", multi
            ? "Training loss of every grid point (log scale): mean over the seeds with a band of ± one standard deviation; the curve ends where the first seed diverged."
            : "Training loss of every grid point (log scale); a curve that stops early diverged.");

        Plots.GroupedBars(Path.Combine(outDir, "final_loss.png"), "Best training loss per grid point (missing bar: diverged before the first measurement)",
            "min training loss", rows.Select(r => multi ? $"#{r.Point.Index} s{r.Seed}" : $"#{r.Point.Index}").ToList(),
            [("min loss", rows.Select(r => r.Summary.MinTrainLoss).ToList()), ("final loss", rows.Select(r => r.DivergedStep is null ? r.Summary.FinalTrainLoss : double.NaN).ToList())]);
        report.Figure("final_loss.png", "Best and final training loss per grid point (final omitted for diverged runs); numbers refer to the table.");

        report.Heading("Files");
        report.Bullets(["`sweep.csv`: one row per run (grid point × seed)", "`sweep_seeds.csv` (with seeds): mean and standard deviation per grid point", "`NNN_<setting>/`: each run's config.json, metrics.csv, summary.json, checkpoint.bin, theta.npy", "`summary.json`, `config.json`"]);
        report.Save(Path.Combine(outDir, "report.md"));
    }

    /// <summary>
    /// λ₁ on every training example (<c>--full-lambda-every</c>) against the stability bound 2/η, and the
    /// tracker's basis overlap and gap: the columns that say whether a run sat at the edge of stability
    /// and whether its subspace was well defined. Written only when some run logged them.
    /// </summary>
    static void WriteFullLambdaTable(ReportWriter report, IReadOnlyList<SweepRow> rows)
    {
        static List<double> Of(SweepRow r, Func<MetricsRow, double?> column) =>
            r.Metrics.Select(column).Where(v => v is double d && double.IsFinite(d)).Select(v => v!.Value).ToList();
        static string MaxOf(List<double> v) => v.Count == 0 ? "—" : ReportWriter.Num(v.Max());
        static string MinOf(List<double> v) => v.Count == 0 ? "—" : ReportWriter.Num(v.Min());
        if (!rows.Any(r => Of(r, m => m.Lambda1Full).Count > 0)) return;
        report.Paragraph("λ₁ of the curvature on every training example (metrics column `lambda_1_full`), against the stability bound 2/η; "
            + "the tracker's overlap of consecutive bases ‖U_prevᵀU‖²_F/k and its gap λ_k/θ_{k+1} (smallest over the run; — where not measured):");
        report.Table(["#", "seed", "η", "2/η", "first λ₁ (all)", "max λ₁ (all)", "final λ₁ (all)", "max λ₁ · η/2", "min basis overlap", "min gap", "diverged"],
            rows.Where(r => !r.Missing).Select(r =>
            {
                var full = Of(r, m => m.Lambda1Full);
                double eta = r.Options.LearningRate;
                return (IReadOnlyList<string>)
                [
                    r.Point.Index.ToString(CultureInfo.InvariantCulture), r.Seed.ToString(CultureInfo.InvariantCulture), ReportWriter.Num(eta), ReportWriter.Num(2 / eta),
                    full.Count == 0 ? "—" : ReportWriter.Num(full[0]), MaxOf(full), full.Count == 0 ? "—" : ReportWriter.Num(full[^1]),
                    full.Count == 0 ? "—" : ReportWriter.Num(full.Max() * eta / 2),
                    MinOf(Of(r, m => m.BasisOverlap)), MinOf(Of(r, m => m.GapK)),
                    r.DivergedStep is long d ? $"yes (step {d})" : "no",
                ];
            }));
    }

    static string Pm(IEnumerable<double> values)
    {
        var (m, s) = Stats.MeanStd(values);
        return double.IsFinite(s) ? $"{ReportWriter.Num(m)} ± {ReportWriter.Num(s)}" : ReportWriter.Num(m);
    }

    static string Short(SweepRow r, IReadOnlyList<string> varying) =>
        varying.Count == 0 ? r.Spec.Label : string.Join(" ", varying.Select(n => $"{n}={ReportWriter.Num(r.Point[n])}"));

    /// <summary>The Hessian-batch cell: the number, "all" for 0, "default" when the run left it to the data (500, or all when fewer).</summary>
    static string HessianBatchCell(int? hessianBatch) =>
        hessianBatch switch { null => "default", 0 => "all", int hb => hb.ToString(CultureInfo.InvariantCulture) };
}

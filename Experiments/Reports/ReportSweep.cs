using System.Globalization;
using Curvature.Optimizers;

namespace Curvature.Experiments;

/// <summary>The figures and report.md of `curvature sweep`.</summary>
public static class SweepReport
{
    /// <summary>Writes sweep's figures and report.md into <paramref name="outDir"/> (the run directories must already be written).</summary>
    public static void Write(string outDir, RunSpec options, Problem problem, string optimizer, IReadOnlyList<SweepRow> rows,
        SweepSummary summary, double initialLoss)
    {
        var report = new ReportWriter($"Curvature sweep: {optimizer} on {problem.Model.Spec} {options.Activation}, {options.Loss}, {options.Data}");
        report.Paragraph($"One run per grid point, all from the same θ₀ (seed {options.Seed}) with the same minibatch order, "
            + $"{options.Steps} steps of batch {options.Batch}. A run diverges when its loss is not finite or exceeds 100× the initial loss "
            + $"({ReportWriter.Num(initialLoss)}); \"steps to target\" is the first measured step (every {options.EvalEveryOrDefault}) "
            + $"with training loss ≤ {ReportWriter.Num(summary.TargetLoss)}.");
        report.Code("curvature sweep --config config.json");

        var varying = rows.Count == 0 ? [] : rows[0].Point.Names.Where((n, i) => rows.Select(r => r.Point.Values[i]).Distinct().Count() > 1).ToList();
        report.Heading("Results");
        var header = new List<string> { "#", "η", "k", "refresh", "Hessian batch", "α_dom", "α_bulk", "final loss", "min loss", "steps to target", "diverged", "test acc", "max λ₁", "HVPs", "seconds" };
        report.Table(header, rows.Select(r => (IReadOnlyList<string>)
        [
            r.Point.Index.ToString(CultureInfo.InvariantCulture), ReportWriter.Num(r.Options.LearningRate), r.Options.K.ToString(CultureInfo.InvariantCulture),
            r.Options.Refresh.ToString(CultureInfo.InvariantCulture), r.Options.HessianBatch is int hb && hb > 0 ? hb.ToString(CultureInfo.InvariantCulture) : "all",
            ReportWriter.Num(r.Spec.Alphas.Dom), ReportWriter.Num(r.Spec.Alphas.Bulk), ReportWriter.Num(r.Summary.FinalTrainLoss), ReportWriter.Num(r.Summary.MinTrainLoss),
            r.Summary.StepsToTarget?.ToString(CultureInfo.InvariantCulture) ?? "never",
            r.DivergedStep is long d ? $"yes (step {d})" : "no",
            ReportWriter.Num(r.Summary.FinalTestAccuracy), ReportWriter.Num(r.Summary.MaxLambda1), r.Summary.Matvecs.ToString(CultureInfo.InvariantCulture), ReportWriter.Num(r.Summary.Seconds),
        ]));
        int diverged = rows.Count(r => r.DivergedStep is not null);
        report.Paragraph($"{diverged} of {rows.Count} runs diverged. Swept: {(varying.Count == 0 ? "nothing (one point)" : string.Join(", ", varying))}.");

        var curves = rows.Select(r =>
        {
            var t = CsvTable.Load(Path.Combine(outDir, r.Run.Name, "metrics.csv"));
            return new PlotSeries($"#{r.Point.Index} {Short(r, varying)}", t.Column("step"), t.Column("train_loss"));
        }).ToList();
        Plots.Lines(Path.Combine(outDir, "loss.png"), "Training loss per grid point", "step", "training loss (log scale)", curves, logY: true,
            references: [new ReferenceLine($"target {ReportWriter.Num(summary.TargetLoss)}", summary.TargetLoss)]);
        report.Figure("loss.png", "Training loss of every grid point (log scale); a curve that stops early diverged.");

        Plots.GroupedBars(Path.Combine(outDir, "final_loss.png"), "Best training loss per grid point (missing bar: diverged before the first measurement)",
            "min training loss", rows.Select(r => $"#{r.Point.Index}").ToList(),
            [("min loss", rows.Select(r => r.Summary.MinTrainLoss).ToList()), ("final loss", rows.Select(r => r.DivergedStep is null ? r.Summary.FinalTrainLoss : double.NaN).ToList())]);
        report.Figure("final_loss.png", "Best and final training loss per grid point (final omitted for diverged runs); numbers refer to the table.");

        report.Heading("Files");
        report.Bullets(["`sweep.csv`: the table above, one row per grid point", "`NNN_<setting>/`: each run's config.json, metrics.csv, summary.json, checkpoint.bin, theta.npy", "`summary.json`, `config.json`"]);
        report.Save(Path.Combine(outDir, "report.md"));
    }

    static string Short(SweepRow r, IReadOnlyList<string> varying) =>
        varying.Count == 0 ? r.Spec.Label : string.Join(" ", varying.Select(n => $"{n}={ReportWriter.Num(r.Point[n])}"));
}

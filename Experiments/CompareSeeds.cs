using System.Globalization;
using Curvature.Core;
using Curvature.Models;
using Curvature.Optimizers;

namespace Curvature.Experiments;

/// <summary>A comparison repeated over seeds: one full <see cref="CompareResult"/> per seed.</summary>
/// <param name="Spec">The spec with its seed list.</param>
/// <param name="PerSeed">One result per seed, in the spec's order (each written to <c>seed=S/</c>).</param>
public sealed record CompareSeedsResult(CompareSpec Spec, IReadOnlyList<(ulong Seed, CompareResult Result)> PerSeed)
{
    /// <summary>Whether a signal stopped it: the last seed's comparison is interrupted and the seeds after it never started.</summary>
    public bool Interrupted => PerSeed.Count > 0 && PerSeed[^1].Result.Summary.Status == TrainingStatus.Interrupted;
}

/// <summary>
/// `compare --seeds`: the whole comparison (every optimizer and the curvature analysis) once per
/// seed — a seed fixes θ₀, the minibatch order, the Hessian batch and the solvers' starts — each in
/// its own directory <c>seed=S/</c>, and at the top level the mean and spread over seeds:
/// compare_seeds.csv, energy_seeds.csv, loss.png and lambda1.png with bands, report.md.
/// </summary>
public static class CompareSeeds
{
    /// <summary>Columns of compare_seeds.csv, one row per optimizer.</summary>
    public static readonly string[] Columns =
    [
        "optimizer", "alpha_dom", "alpha_bulk", "seeds", "diverged", "final_loss_mean", "final_loss_std", "min_loss_mean", "min_loss_std",
        "steps_to_target_mean", "steps_to_target_std", "reached_target", "final_test_acc_mean", "final_test_acc_std",
        "max_lambda_1_mean", "max_lambda_1_std", "mean_chi_mean", "mean_chi_std",
    ];

    /// <summary>Runs <see cref="CompareExperiment.Measure"/> once per seed (the spec's <see cref="CompareSpec.Seeds"/>).</summary>
    public static CompareSeedsResult Measure(CompareSpec spec, IProgressSink? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        if (spec.Seeds is null) throw new ArgumentException("Argument 'spec' has no seeds; expected --seeds.", nameof(spec));
        progress ??= NullProgress.Instance;
        var one = spec with { Seeds = null };
        long units = CompareExperiment.Units(one);
        var results = new List<(ulong, CompareResult)>();
        for (int i = 0; i < spec.Seeds.Count; i++)
        {
            ulong seed = spec.Seeds[i];
            var s = one with { Run = spec.Run with { Seed = seed }, Out = Path.Combine(spec.Out, $"seed={seed}") };
            var r = CompareExperiment.Measure(s, new Offset(progress, i * units, $"seed {seed}: "), cancel);
            results.Add((seed, r));
            if (r.Summary.Status == TrainingStatus.Interrupted) break;
        }
        return new CompareSeedsResult(spec, results);
    }

    /// <summary>Writes every seed's directory, then the aggregate tables, figures and report at the top level.</summary>
    public static void Write(CompareSeedsResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        string outDir = Path.GetFullPath(result.Spec.Out);
        Directory.CreateDirectory(outDir);
        RunJson.Save(Path.Combine(outDir, "config.json"), result.Spec);
        foreach (var (_, r) in result.PerSeed) CompareExperiment.Write(r);
        // Interrupted: the seeds so far are written (the last one interrupted); a rerun resumes them and then aggregates.
        if (result.Interrupted) return;
        var first = result.PerSeed[0].Result;
        var names = first.Runs.Select(r => r.Spec).ToList();

        var table = new CsvTable(Columns);
        var rows = new List<IReadOnlyList<string>>();
        foreach (var (o, idx) in names.Select((o, i) => (o, i)))
        {
            var all = result.PerSeed.Select(p => p.Result.Summary.Runs[idx]).ToList();
            var ok = all.Where(r => !r.Diverged).ToList();
            var hits = ok.Where(r => r.StepsToTarget is not null).Select(r => (double)r.StepsToTarget!.Value).ToList();
            var f = Stats.MeanStd(ok.Select(r => r.FinalTrainLoss));
            var m = Stats.MeanStd(ok.Select(r => r.MinTrainLoss));
            var t = Stats.MeanStd(hits);
            var a = Stats.MeanStd(ok.Select(r => r.FinalTestAccuracy));
            var l = Stats.MeanStd(all.Select(r => r.MaxLambda1));
            var c = Stats.MeanStd(ok.Select(r => r.MeanChi));
            table.AddRow(idx, o.Alphas.Dom, o.Alphas.Bulk, all.Count, all.Count(r => r.Diverged), f.Mean, f.Std, m.Mean, m.Std, t.Mean, t.Std, hits.Count,
                a.Mean, a.Std, l.Mean, l.Std, c.Mean, c.Std);
            rows.Add([o.Label, $"{all.Count(r => r.Diverged)}/{all.Count}", Pm(f), Pm(m), hits.Count == 0 ? "never" : $"{Pm(t)} ({hits.Count}/{all.Count})", Pm(a), Pm(l), Pm(c)]);
        }
        // The optimizer column holds the entry's position in --optimizers (CSV cells are numbers); the report names them.
        table.Save(Path.Combine(outDir, "compare_seeds.csv"));

        var energy = first.Summary.Decomposition.Count > 0 ? EnergyTable(result) : null;
        energy?.Save(Path.Combine(outDir, "energy_seeds.csv"));
        var overlaps = first.Summary.Overlaps.Count > 0 ? OverlapTable(result) : null;
        overlaps?.Save(Path.Combine(outDir, "overlaps_seeds.csv"));

        var loss = names.Select((o, i) => Stats.Band(o.Label, result.PerSeed.Select(p => Curve(p.Result.Runs[i].Metrics, m => m.TrainLoss)).ToList())).ToList();
        Plots.Lines(Path.Combine(outDir, "loss.png"), "Training loss: mean ± one standard deviation over seeds", "step", "training loss (log scale)", loss, logY: true);
        var lambda = names.Select((o, i) => Stats.Band(o.Label, result.PerSeed.Select(p => Curve(p.Result.Runs[i].Metrics, m => m.Lambda1 ?? double.NaN)).ToList())).ToList();
        Plots.Lines(Path.Combine(outDir, "lambda1.png"), "Top Hessian eigenvalue λ₁: mean ± one standard deviation over seeds", "step", "λ₁",
            lambda.Where(s => s.X.Count > 0).ToList(), references: [new ReferenceLine("2/η", 2.0 / result.Spec.Run.LearningRate)]);

        var spec = result.Spec;
        var report = new ReportWriter($"Curvature compare over {result.PerSeed.Count} seeds: {first.Problem.Model.Spec} {spec.Run.Activation.Name()}, {spec.Run.Loss.Name()}, {spec.Run.Data}");
        report.Paragraph($"The comparison was run once per seed ({string.Join(", ", result.PerSeed.Select(p => p.Seed))}); each seed fixes θ₀, the minibatch order, "
            + "the Hessian batch and the solvers' starts, and all optimizers of one seed share them. Each seed's full report is in `seed=S/report.md`. "
            + "Numbers are mean ± sample standard deviation (n − 1) over the seeds whose run did not diverge (λ₁: over all seeds); "
            + "steps to target count to each seed's own target (the lowest loss its SGD run reached).");
        report.Code($"curvature compare --config config.json");
        report.Heading("Results");
        report.Table(["optimizer", "diverged", "final loss", "min loss", "steps to target", "test acc", "max λ₁", "mean χ_k"], rows);
        if (energy is not null)
        {
            report.Heading("Curvature energy in the top-k subspace of H (reference run)");
            report.Table(["step", "H energy", "G energy", "F energy", "H trace share"],
                Enumerable.Range(0, energy.RowCount).Select(i => (IReadOnlyList<string>)
                [
                    energy[i, "step"].ToString(CultureInfo.InvariantCulture),
                    Pm((energy[i, "h_energy_mean"], energy[i, "h_energy_std"])), Pm((energy[i, "g_energy_mean"], energy[i, "g_energy_std"])),
                    Pm((energy[i, "f_energy_mean"], energy[i, "f_energy_std"])), Pm((energy[i, "h_trace_share_mean"], energy[i, "h_trace_share_std"])),
                ]));
        }
        if (overlaps is not null)
        {
            report.Heading("H's dominant subspace against G, EF, Σ and K-FAC (reference run)");
            report.Paragraph("Overlap ‖U_Hᵀ U_A‖²_F / k of H's top-k with the top-k of A, and the noise share tr(U_HᵀΣU_H) / tr Σ, on each seed's Hessian batch (docs/curvature.md §12); n/a: K-FAC does not cover the network.");
            string Cell(int i, string f) => double.IsNaN(overlaps[i, f + "_mean"]) ? "n/a" : Pm((overlaps[i, f + "_mean"], overlaps[i, f + "_std"]));
            report.Table(["step", "G", "EF", "Σ", "K-FAC", "noise share"],
                Enumerable.Range(0, overlaps.RowCount).Select(i => (IReadOnlyList<string>)
                [
                    overlaps[i, "step"].ToString(CultureInfo.InvariantCulture),
                    Cell(i, "overlap_g"), Cell(i, "overlap_ef"), Cell(i, "overlap_cov"), Cell(i, "overlap_kfac"), Cell(i, "noise_share"),
                ]));
        }
        report.Figure("loss.png", "Training loss (log scale), mean over seeds with a band of ± one standard deviation; a curve ends where its first seed diverged.");
        report.Figure("lambda1.png", "λ₁ tracked by each run, mean ± one standard deviation over seeds; dashed: the stability threshold 2/η.");
        report.Heading("Files");
        report.Bullets(["`seed=S/`: the full compare output of seed S (run directories, energy.csv, figures, report.md)",
            "`compare_seeds.csv`: the results table, one row per optimizer in --optimizers order", "`energy_seeds.csv`: energy and trace shares, mean and std per analysis step",
            "`overlaps_seeds.csv`: overlaps with H's top-k and the noise share, mean and std per analysis step (absent with --no-overlaps)",
            "`config.json`: reruns everything with `--config`"]);
        report.Save(Path.Combine(outDir, "report.md"));
    }

    static CsvTable EnergyTable(CompareSeedsResult result) =>
        SeedTable(result, s => s.Decomposition, r => r.Step, r => r.CsvValues(), DecompositionRow.CsvColumns,
            ["h_energy", "g_energy", "f_energy", "h_trace_share", "g_trace_share", "f_trace_share", "lambda_1"]);

    static CsvTable OverlapTable(CompareSeedsResult result) =>
        SeedTable(result, s => s.Overlaps, r => r.Step, r => r.CsvValues(), OverlapRow.CsvColumns,
            ["overlap_g", "overlap_ef", "overlap_cov", "overlap_kfac", "noise_share"]);

    /// <summary>Mean and std over the seeds of <paramref name="fields"/> at each analysis step the seeds share with the first.</summary>
    static CsvTable SeedTable<TRow>(CompareSeedsResult result, Func<CompareSummary, IReadOnlyList<TRow>> rowsOf, Func<TRow, long> stepOf,
        Func<TRow, double[]> valuesOf, string[] columns, string[] fields)
    {
        var t = new CsvTable(["step", "seeds", .. fields.SelectMany(f => new[] { f + "_mean", f + "_std" })]);
        var first = rowsOf(result.PerSeed[0].Result.Summary);
        for (int i = 0; i < first.Count; i++)
        {
            var at = result.PerSeed.Select(p => rowsOf(p.Result.Summary)).Where(d => d.Count > i && stepOf(d[i]) == stepOf(first[i])).Select(d => valuesOf(d[i])).ToList();
            var values = new List<double> { stepOf(first[i]), at.Count };
            foreach (var f in fields)
            {
                int c = Array.IndexOf(columns, f);
                var (m, s) = Stats.MeanStd(at.Select(v => v[c]));
                values.Add(m); values.Add(s);
            }
            t.AddRow([.. values]);
        }
        return t;
    }

    static (IReadOnlyList<double>, IReadOnlyList<double>) Curve(IReadOnlyList<MetricsRow> rows, Func<MetricsRow, double> y) =>
        (rows.Select(r => (double)r.Step).ToList(), rows.Select(y).ToList());

    static string Pm((double Mean, double Std) v) =>
        double.IsFinite(v.Std) ? $"{ReportWriter.Num(v.Mean)} ± {ReportWriter.Num(v.Std)}" : ReportWriter.Num(v.Mean);

    sealed class Offset(IProgressSink inner, long offset, string prefix) : IProgressSink
    {
        public void Report(string phase, long done, long step, long steps, double loss, double lambda1) =>
            inner.Report(prefix + phase, offset + done, step, steps, loss, lambda1);

        public void Message(string text) => inner.Message(prefix + text);
    }
}

using System.Globalization;
using Curvature.Core;
using Curvature.Models;
using Curvature.Optimizers;

namespace Curvature.Experiments;

/// <summary>The figures and report.md of `curvature compare`, built from the files the runs wrote.</summary>
public static class CompareReport
{
    /// <summary>Writes compare's figures and report.md into <paramref name="outDir"/> (the run directories must already be written).</summary>
    public static void Write(string outDir, RunSpec options, Problem problem, IReadOnlyList<CompletedRun> runs,
        IReadOnlyList<RunSummary> summaries, CompareSummary summary, DensityCurve? densityStart, DensityCurve? densityEnd,
        AnalysisOptions analysis, NormMethod method, int? curvatureExamples)
    {
        var tables = runs.Select(r => (r.Spec.Label, Table: CsvTable.Load(Path.Combine(outDir, r.Name, TrainingRun.MetricsFile)), r.Result.Diverged)).ToList();
        double lr = options.LearningRate;
        var twoOverEta = new ReferenceLine($"2/η = {ReportWriter.Num(2 / lr)}", 2 / lr);
        var report = new ReportWriter($"Curvature compare: {problem.Model.Spec} {options.Activation.Name()}, {options.Loss.Name()}, {options.Data}");

        report.Paragraph($"Every optimizer starts from the same θ₀ (seed {options.Seed}) and sees the same minibatches. "
            + "The step is θ ← θ − η(α_dom·P_dom g + α_bulk·P_bulk g), with P_dom the projector onto the top-k eigenvectors of the "
            + "training-loss Hessian H (recomputed every `refresh` steps on a fixed batch of examples), so (1,1) is SGD, (1,0) Dom-SGD "
            + "and (0,1) Bulk-SGD.");
        report.Code("curvature compare --config config.json");
        report.Heading("Setup");
        report.Table(["setting", "value"],
        [
            ["network", $"{problem.Model.Spec} {options.Activation.Name()} ({problem.ParameterCount} parameters)"],
            ["loss", options.Loss.Name()],
            ["training data", $"{options.Data} ({problem.Train.Count} examples)"],
            ["test data", options.TestData is null ? "none" : $"{options.TestData} ({problem.Test?.Count} examples)"],
            ["learning rate η", $"{ReportWriter.Num(lr)} (2/η = {ReportWriter.Num(2 / lr)})"],
            ["batch, steps", $"{options.Batch}, {options.Steps}"],
            ["dominant subspace", $"top k = {options.K} eigenvectors of H, refreshed every {options.Refresh} steps on {(curvatureExamples is int m ? $"{m} fixed examples" : "all training examples")} (Lanczos, tolerance {ReportWriter.Num(options.Tolerance)})"],
            ["metrics", $"every {options.EvalEveryOrDefault} steps on all training (and test) examples"],
            ["BLAS", summary.Blas],
            ["wall time", $"{ReportWriter.Num(summary.Seconds)} s for training and analysis (figures and report not included)"],
        ]);

        report.Heading("Results");
        report.Paragraph($"Target loss for \"steps to target\": {ReportWriter.Num(summary.TargetLoss)} "
            + $"(the lowest training loss the {summary.Reference} run reached, unless --target-loss was given; measured every {options.EvalEveryOrDefault} steps).");
        report.Table(
            ["run", "α_dom", "α_bulk", "status", "final train loss", "min train loss", "steps to target", "test acc", "final λ₁", "max λ₁", "mean χ_k", "HVPs", "seconds"],
            summaries.Select(s => (IReadOnlyList<string>)
            [
                s.Name, ReportWriter.Num(s.AlphaDom), ReportWriter.Num(s.AlphaBulk), TrainingStatusText.Format(s.Status, s.StoppedAt), ReportWriter.Num(s.FinalTrainLoss),
                ReportWriter.Num(s.MinTrainLoss), s.StepsToTarget?.ToString(CultureInfo.InvariantCulture) ?? "never",
                ReportWriter.Num(s.FinalTestAccuracy), ReportWriter.Num(s.FinalLambda1), ReportWriter.Num(s.MaxLambda1),
                ReportWriter.Num(s.MeanChi), s.Matvecs.ToString(CultureInfo.InvariantCulture), ReportWriter.Num(s.Seconds),
            ]));

        Plots.Lines(Path.Combine(outDir, "loss.png"), "Training loss", "step", "training loss (log scale)",
            tables.Select(t => Series(t.Label, t.Table, MetricsCsv.TrainLossColumn) with { Diverged = t.Diverged }).ToList(), logY: true,
            references: [new ReferenceLine($"target {ReportWriter.Num(summary.TargetLoss)}", summary.TargetLoss)]);
        report.Figure("loss.png", "Training loss per optimizer (log scale); dashed: the target loss of the steps-to-target column.");

        string accColumn = options.TestData is null ? MetricsCsv.TrainAccuracyColumn : MetricsCsv.TestAccuracyColumn;
        Plots.Lines(Path.Combine(outDir, "accuracy.png"), options.TestData is null ? "Training accuracy" : "Test accuracy", "step", "accuracy",
            tables.Select(t => Series(t.Label, t.Table, accColumn) with { Diverged = t.Diverged }).ToList());
        report.Figure("accuracy.png", $"{(options.TestData is null ? "Training" : "Test")} accuracy per optimizer.");

        Plots.Lines(Path.Combine(outDir, "lambda1.png"), "Sharpness λ₁ of H", "step", "λ₁",
            tables.Select(t => Series(t.Label, t.Table, MetricsCsv.LambdaColumn(1)) with { Diverged = t.Diverged }).ToList(), references: [twoOverEta]);
        report.Figure("lambda1.png", "Top Hessian eigenvalue λ₁ of each run, at its own iterate; dashed: the stability threshold 2/η of plain gradient descent.");

        var refTable = tables[runs.ToList().FindIndex(r => r.Name == summary.Reference)].Table;
        var eigSeries = new List<PlotSeries>();
        for (int j = 1; j <= options.K; j++)
            if (refTable.Has(MetricsCsv.LambdaColumn(j))) eigSeries.Add(Series($"λ{j}", refTable, MetricsCsv.LambdaColumn(j)));
        Plots.Lines(Path.Combine(outDir, "eigenvalues.png"), $"Top-{options.K} eigenvalues of H along the {summary.Reference} run", "step", "eigenvalue",
            eigSeries, references: [twoOverEta]);
        report.Figure("eigenvalues.png", $"The top-{options.K} Hessian eigenvalues along the {summary.Reference} run; dashed: 2/η.");

        Plots.Lines(Path.Combine(outDir, "chi.png"), "Gradient alignment χ_k = ‖P_dom ∇L‖ / ‖∇L‖", "step", "χ_k",
            tables.Select(t => Series(t.Label, t.Table, MetricsCsv.ChiColumn)).ToList());
        report.Figure("chi.png", $"Fraction χ_k of the full-batch gradient's norm inside the top-{options.K} Hessian subspace, per run.");

        if (densityStart is not null && densityEnd is not null)
        {
            Plots.Lines(Path.Combine(outDir, "density.png"), "Spectral density of H (stochastic Lanczos quadrature)", "eigenvalue", "density (log scale)",
            [
                new PlotSeries("step 0", densityStart.Grid, Floor(densityStart.Density)),
                new PlotSeries($"step {summaries.First(s => s.Name == summary.Reference).Steps} ({summary.Reference})", densityEnd.Grid, Floor(densityEnd.Density)),
            ], logY: true);
            report.Figure("density.png", $"Spectral density of H at θ₀ and at the end of the {summary.Reference} run "
                + $"({densityEnd.Probes} Rademacher probes × {densityEnd.LanczosSteps} Lanczos steps, Gaussian width σ = {ReportWriter.Num(densityEnd.Sigma)}); "
                + $"extreme Ritz values at the end: [{ReportWriter.Num(densityEnd.LowestNode)}, {ReportWriter.Num(densityEnd.HighestNode)}].");
        }

        if (summary.Decomposition.Count > 0)
            DecomposeReport.AddDecomposition(report, outDir, summary.Decomposition, options.K, $"along the {summary.Reference} run", method, analysis.Probes);

        report.Heading("Files");
        report.Bullets(runs.Select(r => $"`{r.Name}/`: config.json, metrics.csv, summary.json, checkpoint.bin, theta.npy")
            .Append("`summary.json`, `config.json`" + (summary.Decomposition.Count > 0 ? ", `energy.csv`, `density.csv`" : "")));
        report.Save(Path.Combine(outDir, "report.md"));
    }

    /// <summary>
    /// Densities far below the peak are Gaussian tails between isolated nodes, not spectrum;
    /// on a log axis they would stretch it over hundreds of decades, so they are raised to
    /// 10⁻⁷ of the peak (the plotted floor).
    /// </summary>
    public static double[] Floor(double[] density)
    {
        double peak = density.Where(double.IsFinite).DefaultIfEmpty(0).Max();
        double floor = peak * 1e-7;
        return density.Select(d => d < floor ? floor : d).ToArray();
    }

    static PlotSeries Series(string name, CsvTable t, string column) =>
        new(name, t.Column("step"), t.Has(column) ? t.Column(column) : new double[t.RowCount].Select(_ => double.NaN).ToArray());
}

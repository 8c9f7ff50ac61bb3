using System.Diagnostics;
using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using Curvature.Optimizers;

namespace Curvature.Experiments;

/// <summary>Everything compare measured, as written to its summary.json.</summary>
public sealed record CompareSummary
{
    /// <summary>Completed, or interrupted by a signal (the runs that finished and the interrupted one are written, the analysis is not; a rerun resumes).</summary>
    public TrainingStatus Status { get; init; } = TrainingStatus.Completed;

    /// <summary>Length of θ.</summary>
    public required int Parameters { get; init; }
    /// <summary>Training examples.</summary>
    public required int TrainExamples { get; init; }
    /// <summary>Test examples; null without a test set.</summary>
    public int? TestExamples { get; init; }
    /// <summary>The run the curvature was analysed along (sgd when present).</summary>
    public required string Reference { get; init; }
    /// <summary>The loss the steps-to-target column counts to.</summary>
    public required double TargetLoss { get; init; }
    /// <summary>One summary per optimizer.</summary>
    public required IReadOnlyList<RunSummary> Runs { get; init; }
    /// <summary>The H/G/F decomposition at each analysis step.</summary>
    public required IReadOnlyList<DecompositionRow> Decomposition { get; init; }
    /// <summary>How ‖A‖²_F and tr A were found (dense or Hutchinson).</summary>
    public required string NormMethod { get; init; }
    /// <summary>H's top-k against G, EF, Σ and K-FAC, and the noise share, at each analysis step (empty with <see cref="AnalysisOptions.Overlaps"/> off).</summary>
    public IReadOnlyList<OverlapRow> Overlaps { get; init; } = [];
    /// <summary>Wall-clock seconds of the measurement.</summary>
    public required double Seconds { get; init; }
    /// <summary>The BLAS backend that ran it.</summary>
    public required string Blas { get; init; }
}

/// <summary>One analysis step of the reference run, flattened for JSON and CSV.</summary>
public sealed record DecompositionRow
{
    /// <summary>Step of θ (or its position when it has none).</summary>
    public required long Step { get; init; }
    /// <summary>Top-k eigenvalues of H, largest first.</summary>
    public required double[] Eigenvalues { get; init; }
    /// <summary>‖UᵀHU‖²_F / ‖H‖²_F.</summary>
    public required double HEnergy { get; init; }
    /// <summary>‖UᵀGU‖²_F / ‖G‖²_F.</summary>
    public required double GEnergy { get; init; }
    /// <summary>‖UᵀFU‖²_F / ‖F‖²_F.</summary>
    public required double FEnergy { get; init; }
    /// <summary>2‖P⊥HU‖²_F / ‖H‖²_F.</summary>
    public required double HCross { get; init; }
    /// <summary>2‖P⊥GU‖²_F / ‖G‖²_F.</summary>
    public required double GCross { get; init; }
    /// <summary>2‖P⊥FU‖²_F / ‖F‖²_F.</summary>
    public required double FCross { get; init; }
    /// <summary>‖P⊥HP⊥‖²_F / ‖H‖²_F.</summary>
    public required double HBulk { get; init; }
    /// <summary>‖P⊥GP⊥‖²_F / ‖G‖²_F.</summary>
    public required double GBulk { get; init; }
    /// <summary>‖P⊥FP⊥‖²_F / ‖F‖²_F.</summary>
    public required double FBulk { get; init; }
    /// <summary>tr(UᵀHU) / tr H.</summary>
    public required double HTraceShare { get; init; }
    /// <summary>tr(UᵀGU) / tr G.</summary>
    public required double GTraceShare { get; init; }
    /// <summary>tr(UᵀFU) / tr F.</summary>
    public required double FTraceShare { get; init; }
    /// <summary>‖H‖²_F.</summary>
    public required double HFrobenius2 { get; init; }
    /// <summary>‖G‖²_F.</summary>
    public required double GFrobenius2 { get; init; }
    /// <summary>‖F‖²_F.</summary>
    public required double FFrobenius2 { get; init; }
    /// <summary>Standard error of <see cref="HEnergy"/> (0 when dense).</summary>
    public required double HEnergyError { get; init; }
    /// <summary>Standard error of <see cref="GEnergy"/> (0 when dense).</summary>
    public required double GEnergyError { get; init; }
    /// <summary>Standard error of <see cref="FEnergy"/> (0 when dense).</summary>
    public required double FEnergyError { get; init; }
    /// <summary>tr H.</summary>
    public required double HTrace { get; init; }
    /// <summary>tr G.</summary>
    public required double GTrace { get; init; }
    /// <summary>tr F.</summary>
    public required double FTrace { get; init; }

    /// <summary>‖UᵀGU‖²_F / ‖UᵀHU‖²_F: how much of H's in-subspace energy G alone carries.</summary>
    public required double GOverHInside { get; init; }

    /// <summary>The row of an analysis point.</summary>
    public static DecompositionRow From(DecompositionPoint p) => new()
    {
        Step = p.Step,
        Eigenvalues = p.Eigenvalues,
        HEnergy = p.H.EnergyShare, GEnergy = p.G.EnergyShare, FEnergy = p.F.EnergyShare,
        HCross = p.H.CrossShare, GCross = p.G.CrossShare, FCross = p.F.CrossShare,
        HBulk = p.H.BulkShare, GBulk = p.G.BulkShare, FBulk = p.F.BulkShare,
        HTraceShare = p.H.TraceShare, GTraceShare = p.G.TraceShare, FTraceShare = p.F.TraceShare,
        HFrobenius2 = p.H.FrobeniusSquared, GFrobenius2 = p.G.FrobeniusSquared, FFrobenius2 = p.F.FrobeniusSquared,
        HEnergyError = p.H.EnergyShareError, GEnergyError = p.G.EnergyShareError, FEnergyError = p.F.EnergyShareError,
        HTrace = p.H.Trace, GTrace = p.G.Trace, FTrace = p.F.Trace,
        GOverHInside = p.G.DominantEnergy / p.H.DominantEnergy,
    };

    /// <summary>Columns of energy.csv.</summary>
    public static readonly string[] CsvColumns =
    [
        "step", "lambda_1", "lambda_k", "h_energy", "g_energy", "f_energy", "h_cross", "g_cross", "f_cross",
        "h_bulk", "g_bulk", "f_bulk", "h_trace_share", "g_trace_share", "f_trace_share",
        "h_frobenius2", "g_frobenius2", "f_frobenius2", "h_trace", "g_trace", "f_trace",
        "h_energy_se", "g_energy_se", "f_energy_se", "g_over_h_inside",
    ];

    /// <summary>The row's values in <see cref="CsvColumns"/> order.</summary>
    public double[] CsvValues() =>
    [
        Step, Eigenvalues.Length > 0 ? Eigenvalues[0] : double.NaN, Eigenvalues.Length > 0 ? Eigenvalues[^1] : double.NaN,
        HEnergy, GEnergy, FEnergy, HCross, GCross, FCross, HBulk, GBulk, FBulk, HTraceShare, GTraceShare, FTraceShare,
        HFrobenius2, GFrobenius2, FFrobenius2, HTrace, GTrace, FTrace, HEnergyError, GEnergyError, FEnergyError, GOverHInside,
    ];

    /// <summary>energy.csv of <paramref name="rows"/>.</summary>
    public static CsvTable Table(IEnumerable<DecompositionRow> rows)
    {
        var t = new CsvTable(CsvColumns);
        foreach (var r in rows) t.AddRow(r.CsvValues());
        return t;
    }
}

/// <summary>What `curvature compare` runs: several optimizers from one θ₀, then the curvature analysis of the reference run.</summary>
public sealed record CompareSpec
{
    /// <summary>The format of this config.json (<see cref="RunJson.ConfigFormat"/>); absent in files of format 1.</summary>
    public int Format { get; init; } = RunJson.ConfigFormat;

    /// <summary>The shared run (network, data, schedule, tracker, seed); its optimizer fields are set per entry of <see cref="Optimizers"/>.</summary>
    public RunSpec Run { get; init; } = new();

    /// <summary>The optimizers (<c>--optimizers</c>): sgd, dom, bulk, interp:A_DOM:A_BULK.</summary>
    public IReadOnlyList<string> Optimizers { get; init; } = ["sgd", "dom", "bulk", "interp:0.2:2"];

    /// <summary>How the curvature is analysed.</summary>
    public AnalysisOptions Analysis { get; init; } = new();

    /// <summary>Loss for the steps-to-target column (<c>--target-loss</c>); null: the reference run's lowest loss.</summary>
    public double? TargetLoss { get; init; }

    /// <summary>Output directory (<c>--out</c>).</summary>
    public string Out { get; init; } = "runs/compare";

    /// <summary>Seeds (<c>--seeds</c>): the whole comparison runs once per seed into <c>seed=S/</c> and the top level aggregates them; null: one run with the run's seed.</summary>
    public IReadOnlyList<ulong>? Seeds { get; init; }

    /// <summary>Validates every field; messages name the option.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Run);
        if (Run.K < 1) throw new ArgumentOutOfRangeException("k", $"Option '--k' was {Run.K}; expected a positive integer below the parameter count.");
        ArgumentNullException.ThrowIfNull(Analysis);
        Analysis.Validate();
        _ = OptimizerList();
        if (TargetLoss is double t && !(t > 0))
            throw new ArgumentOutOfRangeException("target-loss", $"Option '--target-loss' was {SweepGrid.Show(t)}; expected a positive loss.");
        if (string.IsNullOrWhiteSpace(Out)) throw new ArgumentException("Option '--out' was empty; expected an output directory.", "out");
    }

    /// <summary>The parsed <see cref="Optimizers"/>.</summary>
    public IReadOnlyList<OptimizerSpec> OptimizerList() => OptimizerSpec.ParseList(string.Join(",", Optimizers ?? []));
}

/// <summary>Everything compare measured, in memory (the runs with their trainers, the analysis, the densities).</summary>
/// <param name="Spec">What was run.</param>
/// <param name="Problem">The loaded network and data.</param>
/// <param name="Runs">One per optimizer, in order.</param>
/// <param name="Summary">The summary (summary.json).</param>
/// <param name="DensityStart">Spectral density of H at θ₀, or null without analysis.</param>
/// <param name="DensityEnd">Spectral density of H at the reference run's end, or null.</param>
/// <param name="CurvatureExamples">The fixed examples the curvature was measured on; null: all.</param>
public sealed record CompareResult(CompareSpec Spec, Problem Problem, IReadOnlyList<CompletedRun> Runs, CompareSummary Summary,
    DensityCurve? DensityStart, DensityCurve? DensityEnd, int[]? CurvatureExamples)
{
    /// <summary>The per-layer view along the reference run at the analysis steps (layers.csv).</summary>
    public IReadOnlyList<LayerRow> Layers { get; init; } = [];
}

/// <summary>
/// `curvature compare`: every optimizer from the same θ₀ on the same data and minibatch
/// order, then the curvature analysis of the reference run (SGD when present): the top-k
/// of H, the energy and trace shares of H, G, F in H's dominant subspace at evenly spaced
/// steps, and the spectral density of H at the start and the end. <see cref="Measure"/>
/// computes; <see cref="Write"/> writes one directory per run, the tables, figures and report.md.
/// </summary>
public static class CompareExperiment
{
    /// <summary>Measures and writes: <see cref="Measure"/> then <see cref="Write"/>.</summary>
    public static CompareResult Run(CompareSpec spec, IProgressSink? progress = null, CancellationToken cancel = default)
    {
        var result = Measure(spec, progress, cancel);
        Write(result);
        return result;
    }

    /// <summary>
    /// Trains every optimizer from one θ₀ and analyses the reference run; writes no file. An earlier, interrupted
    /// attempt in the spec's output directory is picked up (<see cref="TrainingRunner.Continue"/>): its finished runs
    /// are kept, its interrupted run resumes. A signal (<paramref name="cancel"/>) ends the running step and returns
    /// the runs so far with <see cref="CompareSummary.Status"/> interrupted and no analysis.
    /// </summary>
    public static CompareResult Measure(CompareSpec spec, IProgressSink? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        progress ??= NullProgress.Instance;
        var optimizers = spec.OptimizerList();
        var analysis = spec.Analysis;
        var clock = Stopwatch.StartNew();
        var problem = Problem.Load(spec.Run);
        // The reference run's χ_k and λ's are compared row by row with the projected runs', whose basis is at
        // most T steps old: unless asked otherwise, its curvature log refreshes every T too (train's default,
        // every tenth metrics row, would set a stale basis beside a fresh one).
        var options = problem.Spec.CurvatureLogEvery is null ? problem.Spec with { CurvatureLogEvery = problem.Spec.Refresh } : problem.Spec;
        var method = analysis.Method(problem.ParameterCount);

        var theta0 = problem.Model.Initialize(options.Seed);
        int referenceIndex = Math.Max(0, optimizers.ToList().FindIndex(o => o.Optimizer == OptimizerKind.Sgd));
        var analysisSteps = analysis.Steps(options.Steps);
        var runs = new List<CompletedRun>();
        long offset = 0;
        string outDir = Path.GetFullPath(spec.Out);
        for (int i = 0; i < optimizers.Count; i++)
        {
            var o = optimizers[i];
            // A rerun into the same --out keeps the runs an earlier, interrupted attempt finished and resumes the one it interrupted.
            var run = TrainingRunner.Continue(problem, options, o, theta0, progress, offset, i == referenceIndex ? analysisSteps : null, cancel, Path.Combine(outDir, o.DirectoryName));
            runs.Add(run);
            offset += options.Steps;
            progress.Message($"{o.Label}: {run.Result.Text}{run.Origin}, train loss {ReportWriter.Num(run.Summary.FinalTrainLoss)}, {ReportWriter.Num(run.Result.Seconds)} s");
            if (run.Result.Status == TrainingStatus.Interrupted) break;
        }
        if (cancel.IsCancellationRequested) return Interrupted(spec, problem, runs, optimizers[referenceIndex], method, clock);

        var reference = runs[referenceIndex];
        double target = spec.TargetLoss ?? reference.Summary.MinTrainLoss;
        var summaries = runs.Select(r => r.Summary.WithTarget(target, r.Metrics)).ToList();

        // The curvature is measured on the same fixed example batch the tracker used.
        var examples = problem.CurvatureExamples();
        var decomposition = new List<DecompositionRow>();
        var overlaps = new List<OverlapRow>();
        var layers = new List<LayerRow>();
        DensityCurve? densityStart = null, densityEnd = null;
        int k = options.K;
        for (int i = 0; i < reference.Snapshots.Count; i++)
        {
            var (step, theta) = reference.Snapshots[i];
            progress.Report("analysis", offset + i * AnalysisWeight, i + 1, reference.Snapshots.Count + 2, double.NaN, double.NaN);
            var point = CurvatureAnalysis.Decompose(problem.TrainObjective, step, theta, examples, k, method, analysis.Probes, options.Seed + (ulong)step, analysis.Tolerance);
            decomposition.Add(DecompositionRow.From(point));
            if (analysis.Overlaps)
                overlaps.Add(SubspaceOverlaps.Measure(problem.TrainObjective, step, theta, examples, point.Vectors, k, options.Seed + (ulong)step, analysis.Tolerance));
            layers.AddRange(LayerView.Measure(problem.TrainObjective, problem.Model.Blocks, step, theta, examples, point.Vectors, k, options.Seed + (ulong)step, analysis.Tolerance));
            // The analysis is redone whole by the rerun, from the reference run's θ kept at these steps.
            if (cancel.IsCancellationRequested) return Interrupted(spec, problem, runs, optimizers[referenceIndex], method, clock);
        }
        if (analysis.Points > 0)
        {
            densityStart = Density(problem, theta0, examples, analysis, options.Seed);
            progress.Report("analysis", offset + reference.Snapshots.Count * AnalysisWeight, reference.Snapshots.Count + 1, reference.Snapshots.Count + 2, double.NaN, double.NaN);
            densityEnd = Density(problem, reference.Trainer.Theta, examples, analysis, options.Seed + 1);
            progress.Report("analysis", offset + (reference.Snapshots.Count + 1) * AnalysisWeight, reference.Snapshots.Count + 2, reference.Snapshots.Count + 2, double.NaN, double.NaN);
        }

        var summary = new CompareSummary
        {
            Parameters = problem.ParameterCount,
            TrainExamples = problem.Train.Count,
            TestExamples = problem.Test?.Count,
            Reference = reference.Name,
            TargetLoss = target,
            Runs = summaries,
            Decomposition = decomposition,
            Overlaps = overlaps,
            NormMethod = method == NormMethod.Dense ? "dense" : $"hutchinson ({analysis.Probes} probes, deflated)",
            Seconds = clock.Elapsed.TotalSeconds,
            Blas = Blas.Backend.Name,
        };
        return new CompareResult(spec, problem, runs, summary, densityStart, densityEnd, examples) { Layers = layers };
    }

    /// <summary>What an interrupted compare has: the runs so far (the last one interrupted unless the analysis was), no analysis.</summary>
    static CompareResult Interrupted(CompareSpec spec, Problem problem, List<CompletedRun> runs, OptimizerSpec reference, NormMethod method, Stopwatch clock)
    {
        var summary = new CompareSummary
        {
            Status = TrainingStatus.Interrupted,
            Parameters = problem.ParameterCount,
            TrainExamples = problem.Train.Count,
            TestExamples = problem.Test?.Count,
            Reference = reference.DirectoryName,
            TargetLoss = spec.TargetLoss ?? double.NaN,
            Runs = runs.Select(r => r.Summary).ToList(),
            Decomposition = [],
            NormMethod = method == NormMethod.Dense ? "dense" : $"hutchinson ({spec.Analysis.Probes} probes, deflated)",
            Seconds = clock.Elapsed.TotalSeconds,
            Blas = Blas.Backend.Name,
        };
        return new CompareResult(spec, problem, runs, summary, null, null, null);
    }

    /// <summary>
    /// Writes config.json, one directory per run, energy.csv, density.csv, the figures, report.md and summary.json to the spec's output directory.
    /// An interrupted compare writes config.json, the directories of its runs (the reference run with θ at the analysis steps it reached,
    /// theta-step-N.npy, for the rerun's analysis) and summary.json with status interrupted.
    /// </summary>
    public static void Write(CompareResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var spec = result.Spec;
        string outDir = Path.GetFullPath(spec.Out);
        Directory.CreateDirectory(outDir);
        RunJson.Save(Path.Combine(outDir, "config.json"), spec);
        var summary = result.Summary;
        bool interrupted = summary.Status == TrainingStatus.Interrupted;
        foreach (var run in result.Runs) TrainingRunner.Write(outDir, run, result.Problem.Train.Count, keepSnapshots: interrupted && run.Name == summary.Reference);
        if (interrupted)
        {
            RunJson.Save(Path.Combine(outDir, "summary.json"), summary);
            return;
        }
        if (summary.Decomposition.Count > 0)
            DecompositionRow.Table(summary.Decomposition).Save(Path.Combine(outDir, "energy.csv"));
        if (result.DensityStart is { } densityStart && result.DensityEnd is { } densityEnd)
        {
            var d = new CsvTable(["lambda_start", "density_start", "lambda_end", "density_end"]);
            for (int i = 0; i < densityStart.Grid.Length; i++)
                d.AddRow(densityStart.Grid[i], densityStart.Density[i], densityEnd.Grid[i], densityEnd.Density[i]);
            d.Save(Path.Combine(outDir, "density.csv"));
        }
        var method = spec.Analysis.Method(result.Problem.ParameterCount);
        CompareReport.Write(outDir, spec.Run, result.Problem, result.Runs, summary.Runs, summary, result.DensityStart, result.DensityEnd, spec.Analysis, method, result.CurvatureExamples?.Length);
        if (result.Layers.Count > 0) WriteLayers(outDir, result);
        if (summary.Overlaps.Count > 0) WriteOverlaps(outDir, result);
        RunJson.Save(Path.Combine(outDir, "summary.json"), summary);
    }

    /// <summary>layers.csv, layers.png (eigenvector share per layer) and layers_lambda.png (top eigenvalue of each diagonal block), and a section of report.md.</summary>
    static void WriteLayers(string outDir, CompareResult result)
    {
        var names = result.Layers.Select(r => r.Layer).Distinct().ToList();
        LayerView.Table(result.Layers, names).Save(Path.Combine(outDir, "layers.csv"));
        var by = names.Select(n => result.Layers.Where(r => r.Layer == n).ToList()).ToList();
        Plots.Lines(Path.Combine(outDir, "layers.png"), $"Share of each layer in the top-{result.Spec.Run.K} eigenvectors of H", "step", "(1/k) Σᵢ ‖uᵢ restricted to the layer‖²",
            by.Select((rs, i) => new PlotSeries($"layer {names[i]} ({rs[0].Parameters} params)", rs.Select(r => (double)r.Step).ToList(), rs.Select(r => r.EigenvectorShare).ToList())).ToList(), markers: true);
        Plots.Lines(Path.Combine(outDir, "layers_lambda.png"), "Top eigenvalue of each layer's diagonal block of H", "step", "λ₁(H_ll)",
            by.Select((rs, i) => new PlotSeries($"layer {names[i]}", rs.Select(r => (double)r.Step).ToList(), rs.Select(r => r.BlockLambda1).ToList())).ToList(), markers: true);
        string report = Path.Combine(outDir, "report.md");
        var c = System.Globalization.CultureInfo.InvariantCulture;
        var sb = new System.Text.StringBuilder(File.ReadAllText(report));
        sb.Append("\n## Per layer\n\nAlong the reference run, at the analysis steps: the share of each layer's parameters in the top-k eigenvectors of H, ")
          .Append("(1/k) Σᵢ Σ_{j∈layer} u_ij² (the shares of all layers sum to 1; a layer holding p of the n parameters would get p/n if the eigenvectors were spread evenly), ")
          .Append("and the top eigenvalue of the layer's diagonal block H_ll = P_l H P_l on its coordinates. Table: `layers.csv` (layer = position in θ order).\n\n")
          .Append("| step | ").Append(string.Join(" | ", names.Select(n => $"layer {n} share"))).Append(" | ").Append(string.Join(" | ", names.Select(n => $"λ₁(H_ll), layer {n}"))).Append(" |\n")
          .Append("|---|").Append(string.Join("", names.Select(_ => "---|"))).Append(string.Join("", names.Select(_ => "---|"))).Append('\n');
        foreach (var step in result.Layers.Select(r => r.Step).Distinct())
        {
            var at = names.Select(n => result.Layers.First(r => r.Step == step && r.Layer == n)).ToList();
            sb.Append(step.ToString(c)).Append(" | ").Append(string.Join(" | ", at.Select(r => ReportWriter.Num(r.EigenvectorShare))))
              .Append(" | ").Append(string.Join(" | ", at.Select(r => ReportWriter.Num(r.BlockLambda1)))).Append(" |\n");
        }
        sb.Append("\n![layers](layers.png)\n\n![layers_lambda](layers_lambda.png)\n");
        Core.AtomicFile.WriteAllText(report, sb.ToString());
    }

    /// <summary>overlaps.csv, overlaps.png and a section of report.md.</summary>
    static void WriteOverlaps(string outDir, CompareResult result)
    {
        var rows = result.Summary.Overlaps;
        int k = result.Spec.Run.K;
        OverlapRow.Table(rows).Save(Path.Combine(outDir, "overlaps.csv"));
        var x = rows.Select(r => (double)r.Step).ToList();
        var series = new List<PlotSeries>
        {
            new("G", x, rows.Select(r => r.G).ToList()),
            new("EF", x, rows.Select(r => r.EmpiricalFisher).ToList()),
            new("Σ", x, rows.Select(r => r.Covariance).ToList()),
        };
        bool kfac = rows.All(r => !double.IsNaN(r.Kfac));
        if (kfac) series.Add(new("K-FAC", x, rows.Select(r => r.Kfac).ToList()));
        series.Add(new("noise share tr(UᵀΣU)/tr Σ", x, rows.Select(r => r.NoiseShare).ToList()));
        Plots.Lines(Path.Combine(outDir, "overlaps.png"), $"H's top-{k} against other curvatures, along {result.Summary.Reference}", "step", "‖U_Hᵀ U_A‖²_F / k; noise share", series, markers: true);
        string report = Path.Combine(outDir, "report.md");
        var c = System.Globalization.CultureInfo.InvariantCulture;
        var sb = new System.Text.StringBuilder(File.ReadAllText(report));
        sb.Append("\n## H's dominant subspace against G, EF, Σ and K-FAC\n\n")
          .Append(c, $"Along the reference run, at the analysis steps, on the Hessian batch: the overlap ‖U_Hᵀ U_A‖²_F / k of H's top-{k} eigenvectors with the top-{k} of ")
          .Append("A = G, the empirical Fisher EF, the gradient covariance Σ = EF − ḡḡᵀ and K-FAC (1: the same subspace, 0: orthogonal; a random subspace gets about k/n), ")
          .Append("and the noise share tr(U_HᵀΣU_H) / tr Σ, the fraction of the per-example gradient variance inside H's dominant subspace. ")
          .Append(kfac ? "" : "K-FAC does not cover this network: its column is n/a. ")
          .Append("Cost per step: three more top-k solves (G, EF, Σ), K-FAC's factors, k products with Σ and one per-example norm sweep; `--no-overlaps` turns it off. Table: `overlaps.csv`.\n\n")
          .Append("| step | G | EF | Σ | K-FAC | noise share | tr Σ |\n|---|---|---|---|---|---|---|\n");
        foreach (var r in rows)
            sb.Append(r.Step.ToString(c)).Append(" | ").Append(ReportWriter.Num(r.G)).Append(" | ").Append(ReportWriter.Num(r.EmpiricalFisher)).Append(" | ")
              .Append(ReportWriter.Num(r.Covariance)).Append(" | ").Append(double.IsNaN(r.Kfac) ? "n/a" : ReportWriter.Num(r.Kfac)).Append(" | ")
              .Append(ReportWriter.Num(r.NoiseShare)).Append(" | ").Append(ReportWriter.Num(r.CovarianceTrace)).Append(" |\n");
        sb.Append("\n![overlaps](overlaps.png)\n");
        Core.AtomicFile.WriteAllText(report, sb.ToString());
    }

    static DensityCurve Density(Problem problem, ReadOnlySpan<double> theta, int[]? examples, AnalysisOptions analysis, ulong seed)
    {
        var op = problem.TrainObjective.CurvatureOperator(CurvatureKind.Hessian, theta, examples);
        return CurvatureAnalysis.Density(op, analysis.DensitySteps, analysis.DensityProbes, seed);
    }

    /// <summary>An analysis point (top-k plus three energy measurements) costs roughly this many training steps.</summary>
    const int AnalysisWeight = 25;

    /// <summary>Work units for the progress bar: one per training step, <see cref="AnalysisWeight"/> per analysis point or density.</summary>
    public static long Units(CompareSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var a = spec.Analysis;
        return ((long)spec.Run.Steps * spec.OptimizerList().Count + (a.Points > 0 ? (a.Steps(spec.Run.Steps).Count + 2) * AnalysisWeight : 0)) * (spec.Seeds?.Count ?? 1);
    }
}

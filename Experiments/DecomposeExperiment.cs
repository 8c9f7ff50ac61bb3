using System.Diagnostics;
using Curvature.Core;
using Curvature.Optimizers;

namespace Curvature.Experiments;

/// <summary>What decompose measured, as written to its summary.json.</summary>
public sealed record DecomposeSummary
{
    /// <summary>Where the θ's came from.</summary>
    public required string Source { get; init; }
    /// <summary>The θ files (or run steps), in order.</summary>
    public required IReadOnlyList<string> Inputs { get; init; }
    /// <summary>The training step of each input, null when unknown (a θ file with no run's summary.json beside it); its row then carries the input's index as <see cref="DecompositionRow.Step"/>.</summary>
    public IReadOnlyList<long?> InputSteps { get; init; } = [];
    /// <summary>Dimension of the dominant subspace.</summary>
    public required int K { get; init; }
    /// <summary>Length of θ.</summary>
    public required int Parameters { get; init; }
    /// <summary>Examples the curvature was measured on.</summary>
    public required int Examples { get; init; }
    /// <summary>How the totals were found.</summary>
    public required string NormMethod { get; init; }
    /// <summary>One decomposition per θ.</summary>
    public required IReadOnlyList<DecompositionRow> Rows { get; init; }
    /// <summary>Wall-clock seconds.</summary>
    public required double Seconds { get; init; }

    /// <summary>"step N" for input <paramref name="i"/>, or "step unknown" when no run recorded it.</summary>
    public string StepLabel(int i) =>
        i < InputSteps.Count && InputSteps[i] is null ? "step unknown" : $"step {Rows[i].Step.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
}

/// <summary>What `curvature decompose` measures: the energy of H, G, F in H's dominant subspace at given θ's, or along an SGD run it trains.</summary>
public sealed record DecomposeSpec
{
    /// <summary>The format of this config.json (<see cref="RunJson.ConfigFormat"/>); absent in files of format 1.</summary>
    public int Format { get; init; } = RunJson.ConfigFormat;

    /// <summary>Network, loss, data, k, Hessian batch, seed; with no θ given, also the SGD run it trains.</summary>
    public RunSpec Run { get; init; } = new();

    /// <summary>Checkpoints to decompose at (<c>--checkpoint</c>, comma-separated).</summary>
    public IReadOnlyList<string>? Checkpoints { get; init; }

    /// <summary>float64 .npy vectors to decompose at (<c>--theta</c>, comma-separated).</summary>
    public IReadOnlyList<string>? Thetas { get; init; }

    /// <summary>Points along the SGD run, totals method, probes, tolerance.</summary>
    public AnalysisOptions Analysis { get; init; } = new();

    /// <summary>Output directory (<c>--out</c>).</summary>
    public string Out { get; init; } = "runs/decompose";

    /// <summary>Where the network and data came from, for the report.</summary>
    public string Source { get; init; } = "command line and defaults";

    /// <summary>Validates; messages name the option.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Run);
        if (Checkpoints is not null && Thetas is not null)
            throw new ArgumentException($"Options '--checkpoint' ('{string.Join(",", Checkpoints)}') and '--theta' ('{string.Join(",", Thetas)}') were both given; expected at most one.", "theta");
        if (Checkpoints is { Count: 0 }) throw new ArgumentException("Option '--checkpoint' was empty; expected comma-separated files.", "checkpoint");
        if (Thetas is { Count: 0 }) throw new ArgumentException("Option '--theta' was empty; expected comma-separated files.", "theta");
        if (Run.K < 1) throw new ArgumentOutOfRangeException("k", $"Option '--k' was {Run.K}; expected a positive integer below the parameter count.");
        Analysis.Validate();
        if (Checkpoints is null && Thetas is null && Analysis.Points < 2)
            throw new ArgumentOutOfRangeException("points", $"Option '--points' was {Analysis.Points}; expected at least 2 when decompose trains its own SGD run.");
        if (string.IsNullOrWhiteSpace(Out)) throw new ArgumentException("Option '--out' was empty; expected an output directory.", "out");
    }
}

/// <summary>What decompose measured, in memory.</summary>
/// <param name="Spec">What was measured.</param>
/// <param name="Problem">The loaded network and data.</param>
/// <param name="Summary">The rows and summary (summary.json).</param>
/// <param name="SgdRun">The SGD run it trained, or null when θ's were given.</param>
public sealed record DecomposeResult(DecomposeSpec Spec, Problem Problem, DecomposeSummary Summary, CompletedRun? SgdRun);

/// <summary>
/// `curvature decompose`: the energy and trace shares of H, G and F inside H's top-k
/// subspace at given parameter vectors (checkpoints or .npy files), or along an SGD run it
/// trains itself.
/// </summary>
public static class DecomposeExperiment
{
    /// <summary>Work units of one decomposition point on the progress bar.</summary>
    public const int UnitsPerPoint = 25;

    /// <summary>Measures and writes.</summary>
    public static DecomposeResult Run(DecomposeSpec spec, IProgressSink? progress = null, CancellationToken cancel = default)
    {
        var r = Measure(spec, progress, cancel);
        Write(r);
        return r;
    }

    /// <summary>Work units for the progress bar.</summary>
    public static long Units(DecomposeSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var files = spec.Checkpoints ?? spec.Thetas;
        return files is not null ? files.Count : spec.Run.Steps + (long)spec.Analysis.Steps(spec.Run.Steps).Count * UnitsPerPoint;
    }

    /// <summary>Loads or trains the θ's and decomposes at each; touches no file.</summary>
    public static DecomposeResult Measure(DecomposeSpec spec, IProgressSink? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        progress ??= NullProgress.Instance;
        var clock = Stopwatch.StartNew();
        var files = spec.Checkpoints ?? spec.Thetas;
        string option = spec.Checkpoints is null ? "theta" : "checkpoint";
        var inputs = files?.Select(p => ThetaSource.Load(p, option, spec.Run.Network())).ToList();
        var run = spec.Run;
        Problem problem;
        CompletedRun? sgd = null;
        string source;
        long offset = 0;
        if (inputs is not null)
        {
            problem = Problem.Load(run, withTest: false);
            source = $"the {inputs.Count} given {(option == "theta" ? "θ files" : "checkpoints")}";
        }
        else
        {
            problem = Problem.Load(run with { Optimizer = OptimizerKind.Sgd, AlphaDom = null, AlphaBulk = null });
            run = problem.Spec;
            var steps = spec.Analysis.Steps(run.Steps);
            var theta0 = problem.Model.Initialize(run.Seed);
            sgd = TrainingRunner.Run(problem, run, new OptimizerSpec(OptimizerKind.Sgd, null, null), theta0, progress, 0, steps, cancel);
            inputs = sgd.Snapshots.Select(s => new ThetaInput(Path.Combine("sgd", $"step {s.Step}"), s.Step, s.Theta)).ToList();
            source = $"{inputs.Count} evenly spaced steps of an SGD run (η = {ReportWriter.Num(run.LearningRate)}, batch {run.BatchFor(problem.Train.Count)}, written to sgd/)";
            offset = run.Steps;
        }
        int k = run.K;
        problem.CheckK(k);
        var method = spec.Analysis.Method(problem.ParameterCount);
        foreach (var t in inputs) ThetaSource.Check(t, problem.ParameterCount, problem.Model.Spec, t.Step is null ? "theta" : "checkpoint");
        var examples = problem.CurvatureExamples(allByDefault: true);
        long perPoint = sgd is null ? 1 : UnitsPerPoint;
        var rows = new List<DecompositionRow>();
        for (int i = 0; i < inputs.Count; i++)
        {
            long step = inputs[i].Step ?? i;
            progress.Report("decompose", offset + i * perPoint, i, inputs.Count, double.NaN, rows.Count > 0 ? rows[^1].Eigenvalues[0] : double.NaN);
            var point = CurvatureAnalysis.Decompose(problem.TrainObjective, step, inputs[i].Theta, examples, k, method, spec.Analysis.Probes, run.Seed + (ulong)i, spec.Analysis.Tolerance);
            rows.Add(DecompositionRow.From(point));
            progress.Report("decompose", offset + (i + 1) * perPoint, i + 1, inputs.Count, double.NaN, point.Eigenvalues[0]);
            cancel.ThrowIfCancellationRequested();
        }
        var summary = new DecomposeSummary
        {
            Source = source,
            Inputs = inputs.Select(t => t.Path).ToList(),
            InputSteps = inputs.Select(t => t.Step).ToList(),
            K = k,
            Parameters = problem.ParameterCount,
            Examples = examples?.Length ?? problem.Train.Count,
            NormMethod = method == NormMethod.Dense ? "dense" : $"hutchinson ({spec.Analysis.Probes} probes, deflated)",
            Rows = rows,
            Seconds = clock.Elapsed.TotalSeconds,
        };
        return new DecomposeResult(spec, problem, summary, sgd);
    }

    /// <summary>Writes config.json, the SGD run's directory (when trained), energy.csv, report.md and summary.json.</summary>
    public static void Write(DecomposeResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var spec = result.Spec;
        string outDir = Path.GetFullPath(spec.Out);
        Directory.CreateDirectory(outDir);
        RunJson.Save(Path.Combine(outDir, "config.json"), spec);
        if (result.SgdRun is { } sgd) TrainingRunner.Write(outDir, sgd, result.Problem.Train.Count);
        DecompositionRow.Table(result.Summary.Rows).Save(Path.Combine(outDir, "energy.csv"));
        DecomposeReport.Write(outDir, spec, result.Problem, result.Summary, spec.Analysis, spec.Analysis.Method(result.Problem.ParameterCount));
        RunJson.Save(Path.Combine(outDir, "summary.json"), result.Summary);
    }
}

using System.ComponentModel;
using Curvature.Experiments;
using Curvature.Optimizers;
using Spectre.Console.Cli;

namespace Curvature.Cli;

/// <summary>Flags of the analysis that follows training or measures a given θ.</summary>
internal class AnalysisSettings : SingleRunSettings
{
    [CommandOption("--points <N>"), Description("Steps at which H, G, F are decomposed."), SpecPath("analysis.points")]
    public string? Points { get; init; }

    [CommandOption("--norms <METHOD>"), Description("How ‖A‖²_F and tr A are found: auto (dense up to 1500 parameters), dense or hutchinson."), SpecPath("analysis.norms")]
    public string? Norms { get; init; }

    [CommandOption("--probes <N>"), Description("Hutchinson probes for the totals."), SpecPath("analysis.probes")]
    public string? Probes { get; init; }

    [CommandOption("--analysis-tolerance <TOL>"), Description("Tolerance of the analysis' top-k solves."), SpecPath("analysis.tolerance")]
    public string? AnalysisTolerance { get; init; }

    [CommandOption("--density-probes <N>"), Description("SLQ probes of the spectral density."), SpecPath("analysis.density_probes")]
    public string? DensityProbes { get; init; }

    [CommandOption("--density-steps <N>"), Description("Lanczos steps per SLQ probe."), SpecPath("analysis.density_steps")]
    public string? DensitySteps { get; init; }

    /// <summary>The analysis options with the given flags applied.</summary>
    public AnalysisOptions ApplyAnalysis(AnalysisOptions a) => a with
    {
        Points = Integer(Points, "points") ?? a.Points,
        Norms = Norms ?? a.Norms,
        Probes = Integer(Probes, "probes") ?? a.Probes,
        Tolerance = Number(AnalysisTolerance, "analysis-tolerance") ?? a.Tolerance,
        DensityProbes = Integer(DensityProbes, "density-probes") ?? a.DensityProbes,
        DensitySteps = Integer(DensitySteps, "density-steps") ?? a.DensitySteps,
    };
}

/// <summary>Flags of `compare`.</summary>
internal sealed class CompareSettings : AnalysisSettings
{
    [CommandOption("--optimizers <LIST>"), Description("Comma list of sgd, dom, bulk, interp:A_DOM:A_BULK, and adam, dom-adam, bulk-adam (Adam, projected; these ignore --momentum)."), SpecPath("optimizers")]
    public string? Optimizers { get; init; }

    [CommandOption("--target-loss <LOSS>"), Description("Loss for the steps-to-target column (default: the lowest training loss of the sgd run).")]
    public string? TargetLoss { get; init; }

    [CommandOption("--out <DIR>"), Description("Output directory."), SpecPath("out")]
    public string? Out { get; init; }

    [CommandOption("--seeds <LIST>"), Description("Seeds, comma-separated (0,1,2), or a count (3 means 0,1,2): the comparison runs once per seed into seed=S/ and the report gives mean ± std (default: the --seed alone).")]
    public string? Seeds { get; init; }

    [CommandOption("--no-overlaps"), Description("Skip the overlaps of H's top-k with G, EF, Σ and K-FAC and the noise share at the analysis steps (three more top-k solves per step).")]
    public bool NoOverlaps { get; init; }

    /// <inheritdoc />
    public override object? DefaultSpec() => new CompareSpec();

    /// <summary>The spec: --config (or the defaults) with the given flags applied.</summary>
    public CompareSpec ToSpec()
    {
        var d = LoadConfig<CompareSpec>() ?? new CompareSpec();
        return d with
        {
            Run = ApplySingle(d.Run),
            Optimizers = Optimizers is null ? d.Optimizers : Optimizers.Split(','),
            Analysis = ApplyAnalysis(d.Analysis) with { Overlaps = !NoOverlaps && d.Analysis.Overlaps },
            TargetLoss = Number(TargetLoss, "target-loss") ?? d.TargetLoss,
            Out = Out ?? d.Out,
            Seeds = Seeds is null ? d.Seeds : SweepSpec.ParseSeeds(Seeds),
        };
    }
}

/// <summary>`curvature compare`: several optimizers from one θ₀, one report.</summary>
internal sealed class CompareCommand : Command<CompareSettings>
{
    /// <inheritdoc />
    public override int Execute(CommandContext context, CompareSettings settings, CancellationToken cancellationToken)
    {
        var spec = settings.ToSpec();
        spec.Validate();
        if (spec.Seeds is not null)
        {
            spec.Validate();
            var seeds = ProgressDisplay.Run("compare", CompareExperiment.Units(spec), sink =>
            {
                var r = CompareSeeds.Measure(spec, sink, cancellationToken);
                CompareSeeds.Write(r);
                return r;
            });
            if (seeds.Interrupted)
            {
                var (seed, last) = seeds.PerSeed[^1];
                Console.WriteLine(InterruptedLine(last, $"{seeds.PerSeed.Count - 1} of {spec.Seeds.Count} seeds finished; seed {seed}: "));
                return 0; // exit 130: the signal was caught
            }
            Console.WriteLine($"report: {Path.Combine(Path.GetFullPath(spec.Out), "report.md")} ({seeds.PerSeed.Count} seeds, {ReportWriter.Num(seeds.PerSeed.Sum(p => p.Result.Summary.Seconds))} s)");
            return 0;
        }
        var result = ProgressDisplay.Run("compare", CompareExperiment.Units(spec), sink =>
        {
            var r = CompareExperiment.Measure(spec, sink, cancellationToken);
            CompareExperiment.Write(r);
            return r;
        });
        if (result.Summary.Status == TrainingStatus.Interrupted)
        {
            Console.WriteLine(InterruptedLine(result, ""));
            return 0; // exit 130: the signal was caught
        }
        Console.WriteLine($"report: {Path.Combine(Path.GetFullPath(spec.Out), "report.md")} ({ReportWriter.Num(result.Summary.Seconds)} s)");
        return 0;
    }

    /// <summary>The one line an interrupted compare prints: what finished, what was interrupted, and how to go on.</summary>
    static string InterruptedLine(CompareResult result, string prefix)
    {
        int total = result.Spec.OptimizerList().Count;
        var stopped = result.Runs.FirstOrDefault(r => r.Result.Status == TrainingStatus.Interrupted);
        string what = stopped is null ? "the analysis was interrupted" : $"{stopped.Name} was interrupted at step {stopped.Result.StoppedAt}";
        return $"interrupted: {prefix}{Path.GetFullPath(result.Spec.Out)}: {result.Runs.Count(r => r.Result.Status != TrainingStatus.Interrupted)} of {total} runs finished, {what}; rerun the same command to resume.";
    }
}

using System.ComponentModel;
using Curvature.Cli.Experiments;
using Spectre.Console.Cli;

namespace Curvature.Cli;

public sealed class DecomposeSettings : AnalysisSettings
{
    [CommandOption("--checkpoint <FILES>")] [Description("Comma-separated checkpoints to decompose at.")]
    public string? Checkpoint { get; init; }

    [CommandOption("--theta <FILES>")] [Description("Comma-separated float64 .npy vectors to decompose at.")]
    public string? Theta { get; init; }

    [CommandOption("--test-data <SPEC>")] [Description("Test data of the SGD run (when no θ is given); 'none' for none.")] [DefaultValue("none")]
    public string TestData { get; init; } = "none";

    [CommandOption("--batch <N>")] [Description("Minibatch of the SGD run (when no θ is given).")] [DefaultValue(100)]
    public int Batch { get; init; } = 100;

    [CommandOption("--steps <N>")] [Description("Steps of the SGD run (when no θ is given).")] [DefaultValue(1000)]
    public int Steps { get; init; } = 1000;

    [CommandOption("--refresh <T>")] [Description("Tracker refresh period of the SGD run (for its λ and χ metrics).")] [DefaultValue(10)]
    public int Refresh { get; init; } = 10;

    [CommandOption("--points <N>")] [Description("Evenly spaced steps of the SGD run to decompose at.")] [DefaultValue(5)]
    public int Points { get; init; } = 5;

    [CommandOption("--norms <METHOD>")] [Description("How ‖A‖²_F and tr A are found: auto (dense up to 1500 parameters), dense or hutchinson.")] [DefaultValue("auto")]
    public string Norms { get; init; } = "auto";

    [CommandOption("--probes <N>")] [Description("Hutchinson probes for the totals.")] [DefaultValue(30)]
    public int Probes { get; init; } = 30;

    [CommandOption("--out <DIR>")] [Description("Output directory.")] [DefaultValue("runs/decompose")]
    public string Out { get; init; } = "runs/decompose";

    public string CommandLine() =>
        "curvature decompose" + (Checkpoint is not null ? $" --checkpoint {Checkpoint}" : Theta is not null ? $" --theta {Theta}"
            : $" --test-data {TestData} --batch {Batch} --steps {Steps} --refresh {Refresh} --points {Points}")
        + ModelArgs() + $" --norms {Norms} --probes {Probes} --out {Out}";
}

/// <summary>`curvature decompose`: curvature energy of H, G, F in the dominant subspace of H.</summary>
public sealed class DecomposeCommand : Command<DecomposeSettings>
{
    public override int Execute(CommandContext context, DecomposeSettings settings, CancellationToken cancellationToken)
    {
        settings.CheckCommon();
        if (settings.Checkpoint is not null && settings.Theta is not null)
            throw new ArgumentException($"Options '--checkpoint' ('{settings.Checkpoint}') and '--theta' ('{settings.Theta}') were both given; expected at most one.", "theta");
        var analysis = new AnalysisOptions { Points = settings.Points, Norms = settings.Norms, Probes = settings.Probes };
        analysis.Validate();
        DecomposeSummary summary;
        string? files = settings.Checkpoint ?? settings.Theta;
        if (files is not null)
        {
            string option = settings.Checkpoint is null ? "theta" : "checkpoint";
            var paths = files.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            if (paths.Length == 0)
                throw new ArgumentException($"Option '--{option}' was empty; expected comma-separated files.", option);
            var inputs = paths.Select(p => ThetaSource.Load(p, option)).ToList();
            var model = ModelChoice.Resolve(settings.Arch, settings.Act, settings.Loss, settings.Data, settings.Lr, paths[0]);
            // One native BLAS thread: the bits must not depend on the thread count (see ExperimentOptions.UseThreads).
            using var threads = Core.Blas.UseThreads(1);
            var problem = model.Load(settings.Threads);
            summary = ProgressDisplay.Run("decompose", inputs.Count, sink => DecomposeExperiment.Run(model, problem, inputs,
                $"the {inputs.Count} given {(option == "theta" ? ".npy vectors" : "checkpoints")}", settings.K,
                settings.HessianBatch, analysis, settings.Seed, settings.Out, settings.CommandLine(), sink));
        }
        else
        {
            if (settings.Points < 2)
                throw new ArgumentOutOfRangeException("points", $"Option '--points' was {settings.Points}; expected at least 2 when decompose trains its own SGD run.");
            var model = ModelChoice.Resolve(settings.Arch, settings.Act, settings.Loss, settings.Data, settings.Lr, null);
            var options = new ExperimentOptions
            {
                Arch = model.Arch, Activation = model.Activation, Loss = model.Loss, Data = model.Data,
                TestData = string.Equals(settings.TestData, "none", StringComparison.OrdinalIgnoreCase) ? null : settings.TestData,
                LearningRate = model.LearningRate ?? new ExperimentOptions().LearningRate, Batch = settings.Batch, Steps = settings.Steps,
                K = settings.K, Refresh = settings.Refresh, HessianBatch = settings.HessianBatch, Tolerance = 1e-4, Seed = settings.Seed,
                Threads = settings.Threads, Out = settings.Out,
            };
            model = model with { LearningRate = options.LearningRate };
            long units = options.Steps + (long)analysis.Steps(options.Steps).Count * DecomposeExperiment.UnitsPerPoint;
            summary = ProgressDisplay.Run("decompose", units, sink => DecomposeExperiment.RunAlongSgd(options, model,
                settings.HessianBatch, analysis, settings.CommandLine(), sink, cancellationToken));
        }
        var last = summary.Rows[^1];
        Console.WriteLine($"energy in top-{summary.K} of H at step {last.Step}: H {ReportWriter.Num(last.HEnergy)}, G {ReportWriter.Num(last.GEnergy)}, F {ReportWriter.Num(last.FEnergy)} ({summary.NormMethod})");
        Console.WriteLine($"report: {Path.Combine(Path.GetFullPath(settings.Out), "report.md")}");
        return 0;
    }
}

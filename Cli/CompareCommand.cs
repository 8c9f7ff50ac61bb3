using System.ComponentModel;
using System.Globalization;
using Curvature.Cli.Experiments;
using Spectre.Console.Cli;

namespace Curvature.Cli;

/// <summary>Options shared by the commands that train (compare, sweep).</summary>
public class TrainingSettings : CommandSettings
{
    [CommandOption("--arch <SPEC>")] [Description("Architecture: widths (196-32-32-10) or a CNN (1x14x14-c8k3-m2-c16k3-m2-10; docs/models.md).")] [DefaultValue("196-32-32-10")]
    public string Arch { get; init; } = "196-32-32-10";

    [CommandOption("--act <NAME>")] [Description("Activation: tanh, relu, ...")] [DefaultValue("tanh")]
    public string Act { get; init; } = "tanh";

    [CommandOption("--loss <NAME>")] [Description("ce or mse.")] [DefaultValue("mse")]
    public string Loss { get; init; } = "mse";

    [CommandOption("--data <SPEC>")] [Description("Training data, e.g. mnist14:2000 or gmm:N:D:C:SEED.")] [DefaultValue("mnist14:2000")]
    public string Data { get; init; } = "mnist14:2000";

    [CommandOption("--test-data <SPEC>")] [Description("Test data; 'none' for no test set.")] [DefaultValue("mnist14-test")]
    public string TestData { get; init; } = "mnist14-test";

    [CommandOption("--batch <N>")] [Description("Minibatch size.")] [DefaultValue(100)]
    public int Batch { get; init; } = 100;

    [CommandOption("--steps <N>")] [Description("Updates per run.")] [DefaultValue(1000)]
    public int Steps { get; init; } = 1000;

    [CommandOption("--eval-every <N>")] [Description("Measure metrics every N steps (default: steps/50).")]
    public int? EvalEvery { get; init; }

    [CommandOption("--tolerance <TOL>")] [Description("Eigensolver tolerance of the subspace tracker.")] [DefaultValue(1e-4)]
    public double Tolerance { get; init; } = 1e-4;

    [CommandOption("--seed <N>")] [Description("Seed of θ₀, minibatches and probes.")] [DefaultValue(0UL)]
    public ulong Seed { get; init; }

    [CommandOption("--threads <N>")] [Description("Threads (0: all cores).")] [DefaultValue(0)]
    public int Threads { get; init; }

    [CommandOption("--target-loss <LOSS>")] [Description("Loss for the steps-to-target column.")]
    public double? TargetLoss { get; init; }

    public string? TestDataOrNull => string.Equals(TestData, "none", StringComparison.OrdinalIgnoreCase) || string.IsNullOrWhiteSpace(TestData) ? null : TestData;

    protected static string Show(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The shared options as a canonical command-line fragment.</summary>
    protected string CommonArgs() =>
        $"--arch {Arch} --act {Act} --loss {Loss} --data {Data} --test-data {TestData} --batch {Batch} --steps {Steps}"
        + (EvalEvery is int e ? $" --eval-every {e}" : "") + $" --tolerance {Show(Tolerance)} --seed {Seed}"
        + (Threads > 0 ? $" --threads {Threads}" : "") + (TargetLoss is double t ? $" --target-loss {Show(t)}" : "");
}

public sealed class CompareSettings : TrainingSettings
{
    [CommandOption("--optimizers <LIST>")] [Description("Comma list of sgd, dom, bulk, interp:A_DOM:A_BULK.")] [DefaultValue("sgd,dom,bulk,interp:0.2:2")]
    public string Optimizers { get; init; } = "sgd,dom,bulk,interp:0.2:2";

    [CommandOption("--lr <ETA>")] [Description("Learning rate η.")] [DefaultValue(0.5)]
    public double Lr { get; init; } = 0.5;

    [CommandOption("-k <K>")] [Description("Dimension of the dominant subspace.")] [DefaultValue(10)]
    public int K { get; init; } = 10;

    [CommandOption("--refresh <T>")] [Description("Recompute the subspace every T steps.")] [DefaultValue(10)]
    public int Refresh { get; init; } = 10;

    [CommandOption("--hessian-batch <M>")] [Description("Examples the curvature is measured on (0: all).")] [DefaultValue(500)]
    public int HessianBatch { get; init; } = 500;

    [CommandOption("--points <N>")] [Description("Steps of the reference run at which H, G, F are decomposed (0: no analysis).")] [DefaultValue(5)]
    public int Points { get; init; } = 5;

    [CommandOption("--norms <METHOD>")] [Description("How ‖A‖²_F and tr A are found: auto, dense or hutchinson.")] [DefaultValue("auto")]
    public string Norms { get; init; } = "auto";

    [CommandOption("--probes <N>")] [Description("Hutchinson probes for the totals.")] [DefaultValue(30)]
    public int Probes { get; init; } = 30;

    [CommandOption("--out <DIR>")] [Description("Output directory.")] [DefaultValue("runs/compare")]
    public string Out { get; init; } = "runs/compare";

    public ExperimentOptions ToOptions() => new()
    {
        Arch = Arch, Activation = Act, Loss = Loss, Data = Data, TestData = TestDataOrNull, LearningRate = Lr, Batch = Batch,
        Steps = Steps, K = K, Refresh = Refresh, HessianBatch = HessianBatch, EvalEvery = EvalEvery, Tolerance = Tolerance,
        Seed = Seed, Threads = Threads, Out = Out,
    };

    public AnalysisOptions ToAnalysis() => new() { Points = Points, Norms = Norms, Probes = Probes };

    public string CommandLine() =>
        $"curvature compare {CommonArgs()} --optimizers {Optimizers} --lr {Show(Lr)} --k {K} --refresh {Refresh} --hessian-batch {HessianBatch} "
        + $"--points {Points} --norms {Norms} --probes {Probes} --out {Out}";
}

/// <summary>`curvature compare`: several optimizers from one θ₀, one report.</summary>
public sealed class CompareCommand : Command<CompareSettings>
{
    public override int Execute(CommandContext context, CompareSettings settings, CancellationToken cancellationToken)
    {
        var options = settings.ToOptions();
        var analysis = settings.ToAnalysis();
        options.Validate();
        analysis.Validate();
        var optimizers = OptimizerSpec.ParseList(settings.Optimizers);
        long units = CompareExperiment.Units(options, optimizers.Count, analysis);
        var summary = ProgressDisplay.Run("compare", units, sink =>
            CompareExperiment.Run(options, optimizers, analysis, settings.TargetLoss, settings.CommandLine(), sink, cancellationToken));
        Console.WriteLine($"report: {Path.Combine(Path.GetFullPath(options.Out), "report.md")} ({ReportWriter.Num(summary.Seconds)} s)");
        return 0;
    }
}

using System.ComponentModel;
using Curvature.Cli.Experiments;
using Spectre.Console.Cli;

namespace Curvature.Cli;

public sealed class SweepSettings : TrainingSettings
{
    [CommandOption("--optimizer <NAME>")] [Description("sgd, dom, bulk or interp (then --alpha-dom/--alpha-bulk lists).")] [DefaultValue("bulk")]
    public string Optimizer { get; init; } = "bulk";

    [CommandOption("--lr <LIST>")] [Description("Learning rates, comma-separated.")] [DefaultValue("0.5")]
    public string Lr { get; init; } = "0.5";

    [CommandOption("-k <LIST>")] [Description("Subspace dimensions, comma-separated (--k works too).")] [DefaultValue("10")]
    public string K { get; init; } = "10";

    [CommandOption("--refresh <LIST>")] [Description("Refresh periods, comma-separated.")] [DefaultValue("10")]
    public string Refresh { get; init; } = "10";

    [CommandOption("--hessian-batch <LIST>")] [Description("Curvature batch sizes, comma-separated (0: all).")] [DefaultValue("500")]
    public string HessianBatch { get; init; } = "500";

    [CommandOption("--alpha-dom <LIST>")] [Description("interp: α_dom values (default 0).")]
    public string? AlphaDom { get; init; }

    [CommandOption("--alpha-bulk <LIST>")] [Description("interp: α_bulk values (default 1).")]
    public string? AlphaBulk { get; init; }

    [CommandOption("--out <DIR>")] [Description("Output directory.")] [DefaultValue("runs/sweep")]
    public string Out { get; init; } = "runs/sweep";

    public ExperimentOptions ToOptions() => new()
    {
        Arch = Arch, Activation = Act, Loss = Loss, Data = Data, TestData = TestDataOrNull, Batch = Batch, Steps = Steps,
        EvalEvery = EvalEvery, Tolerance = Tolerance, Seed = Seed, Threads = Threads, Out = Out,
    };

    public string CommandLine() =>
        $"curvature sweep {CommonArgs()} --optimizer {Optimizer} --lr {Lr} --k {K} --refresh {Refresh} --hessian-batch {HessianBatch}"
        + (AlphaDom is null ? "" : $" --alpha-dom {AlphaDom}") + (AlphaBulk is null ? "" : $" --alpha-bulk {AlphaBulk}") + $" --out {Out}";
}

/// <summary>`curvature sweep`: an ablation grid, one table.</summary>
public sealed class SweepCommand : Command<SweepSettings>
{
    public override int Execute(CommandContext context, SweepSettings settings, CancellationToken cancellationToken)
    {
        var options = settings.ToOptions();
        options.Validate();
        string optimizer = settings.Optimizer.Trim().ToLowerInvariant();
        if (optimizer is not ("sgd" or "dom" or "bulk" or "interp"))
            throw new ArgumentException($"Option '--optimizer' was '{settings.Optimizer}'; expected sgd, dom, bulk or interp.", "optimizer");
        var grid = SweepExperiment.Grid(settings.Lr, settings.K, settings.Refresh, settings.HessianBatch, settings.AlphaDom, settings.AlphaBulk);
        var summary = ProgressDisplay.Run("sweep", (long)grid.Count * options.Steps, sink =>
            SweepExperiment.Run(options, optimizer, grid, settings.TargetLoss, settings.CommandLine(), sink, cancellationToken));
        Console.WriteLine($"report: {Path.Combine(Path.GetFullPath(options.Out), "report.md")} ({summary.Runs.Count} runs, {summary.Runs.Count(r => r.Diverged)} diverged, {ReportWriter.Num(summary.Seconds)} s)");
        return 0;
    }
}

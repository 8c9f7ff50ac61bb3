using System.ComponentModel;
using System.Globalization;
using Curvature.Experiments;
using Spectre.Console.Cli;

namespace Curvature.Cli;

/// <summary>Flags of `sweep`: the run's, with comma-separated lists for the swept settings.</summary>
public sealed class SweepSettings : RunSettings
{
    [CommandOption("--optimizer <NAME>"), Description("sgd, dom, bulk or interp (then --alpha-dom/--alpha-bulk lists; default bulk).")]
    public string? Optimizer { get; init; }

    [CommandOption("--lr <LIST>"), Description("Learning rates, comma-separated (default 0.5).")]
    public string? Lr { get; init; }

    [CommandOption("-k <LIST>"), Description("Subspace dimensions, comma-separated (default 10; --k works too).")]
    public string? K { get; init; }

    [CommandOption("--refresh <LIST>"), Description("Refresh periods, comma-separated (default 10).")]
    public string? Refresh { get; init; }

    [CommandOption("--hessian-batch <LIST>"), Description("Curvature batch sizes, comma-separated (default 500; 0: all).")]
    public string? HessianBatch { get; init; }

    [CommandOption("--alpha-dom <LIST>"), Description("interp: α_dom values (default 0).")]
    public string? AlphaDom { get; init; }

    [CommandOption("--alpha-bulk <LIST>"), Description("interp: α_bulk values (default 1).")]
    public string? AlphaBulk { get; init; }

    [CommandOption("--target-loss <LOSS>"), Description("Loss for the steps-to-target column (default: a quarter of the initial loss).")]
    public string? TargetLoss { get; init; }

    [CommandOption("--out <DIR>"), Description("Output directory (default runs/sweep).")]
    public string? Out { get; init; }

    /// <summary>The spec: --config (or the defaults) with the given flags applied.</summary>
    public SweepSpec ToSpec()
    {
        var d = LoadConfig<SweepSpec>() ?? new SweepSpec();
        var run = ApplyTo(d.Run);
        if (Optimizer is not null) run = run with { Optimizer = Optimizer.Trim().ToLowerInvariant() };
        return d with
        {
            Run = run,
            Lr = Lr is null ? d.Lr : SweepGrid.ParseAxis("lr", Lr, integer: false, min: 0, minExclusive: true).Values.ToArray(),
            K = K is null ? d.K : Ints(SweepGrid.ParseAxis("k", K, integer: true, min: 1)),
            Refresh = Refresh is null ? d.Refresh : Ints(SweepGrid.ParseAxis("refresh", Refresh, integer: true, min: 1)),
            HessianBatch = HessianBatch is null ? d.HessianBatch : Ints(SweepGrid.ParseAxis("hessian-batch", HessianBatch, integer: true, min: 0)),
            AlphaDom = AlphaDom is null ? d.AlphaDom : SweepGrid.ParseAxis("alpha-dom", AlphaDom, integer: false, min: double.MinValue).Values.ToArray(),
            AlphaBulk = AlphaBulk is null ? d.AlphaBulk : SweepGrid.ParseAxis("alpha-bulk", AlphaBulk, integer: false, min: double.MinValue).Values.ToArray(),
            TargetLoss = Number(TargetLoss, "target-loss") ?? d.TargetLoss,
            Out = Out ?? d.Out,
        };
    }

    static int[] Ints(GridAxis a) => a.Values.Select(v => checked((int)v)).ToArray();
}

/// <summary>`curvature sweep`: an ablation grid, one table.</summary>
public sealed class SweepCommand : Command<SweepSettings>
{
    /// <inheritdoc />
    public override int Execute(CommandContext context, SweepSettings settings, CancellationToken cancellationToken)
    {
        var spec = settings.ToSpec();
        spec.Validate();
        var result = ProgressDisplay.Run("sweep", (long)spec.Grid().Count * spec.Run.Steps, sink =>
        {
            var r = SweepExperiment.Measure(spec, sink, cancellationToken);
            SweepExperiment.Write(r);
            return r;
        });
        var summary = result.Summary;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"report: {Path.Combine(Path.GetFullPath(spec.Out), "report.md")} ({summary.Runs.Count} runs, {summary.Runs.Count(r => r.Diverged)} diverged, {ReportWriter.Num(summary.Seconds)} s)"));
        return 0;
    }
}

using System.ComponentModel;
using System.Globalization;
using Curvature.Experiments;
using Curvature.Optimizers;
using Spectre.Console.Cli;

namespace Curvature.Cli;

/// <summary>Flags of `sweep`: the run's, with comma-separated lists for the swept settings.</summary>
internal sealed class SweepSettings : RunSettings
{
    [CommandOption("--optimizer <NAME>"), Description("sgd, dom, bulk or interp (then --alpha-dom/--alpha-bulk lists)."), SpecPath("run.optimizer")]
    public string? Optimizer { get; init; }

    [CommandOption("--lr <LIST>"), Description("Learning rates, comma-separated."), SpecPath("run.learning_rate")]
    public string? Lr { get; init; }

    [CommandOption("-k <LIST>"), Description("Subspace dimensions, comma-separated."), SpecPath("run.k")]
    public string? K { get; init; }

    [CommandOption("--refresh <LIST>"), Description("Refresh periods, comma-separated."), SpecPath("run.refresh")]
    public string? Refresh { get; init; }

    [CommandOption("--hessian-batch <LIST>"), Description("Curvature batch sizes, comma-separated; 0: all (default 500, or all when the data has fewer).")]
    public string? HessianBatch { get; init; }

    [CommandOption("--alpha-dom <LIST>"), Description("interp: α_dom values (default 0).")]
    public string? AlphaDom { get; init; }

    [CommandOption("--alpha-bulk <LIST>"), Description("interp: α_bulk values (default 1).")]
    public string? AlphaBulk { get; init; }

    [CommandOption("--target-loss <LOSS>"), Description("Loss for the steps-to-target column (default: a quarter of the initial loss).")]
    public string? TargetLoss { get; init; }

    [CommandOption("--out <DIR>"), Description("Output directory."), SpecPath("out")]
    public string? Out { get; init; }

    [CommandOption("--seeds <LIST>"), Description("Seeds, comma-separated (0,1,2), or a count (3 means 0,1,2): every grid point runs once per seed (default: the --seed alone).")]
    public string? Seeds { get; init; }

    [CommandOption("--emit <DIR>"), Description("Write the grid × seeds as resumable `train` jobs (DIR/jobs.txt for GNU parallel, DIR/slurm.sh for Slurm) instead of running them.")]
    public string? Emit { get; init; }

    [CommandOption("--slurm-time <TIME>"), Description("With --emit: #SBATCH --time of every array task, e.g. 02:00:00 (default: the partition's).")]
    public string? SlurmTime { get; init; }

    [CommandOption("--slurm-mem <SIZE>"), Description("With --emit: #SBATCH --mem of every array task, e.g. 4G (default: the partition's).")]
    public string? SlurmMem { get; init; }

    [CommandOption("--slurm-max-array <N>"), Description("With --emit: the cluster's MaxArraySize; larger grids are split into slurm.sh, slurm-2.sh, … (default 1001).")]
    public string? SlurmMaxArray { get; init; }

    [CommandOption("--collect <DIR>"), Description("Build sweep.csv and the report from the run directories of an emitted sweep (missing runs reported).")]
    public string? Collect { get; init; }

    /// <inheritdoc />
    public override object? DefaultSpec() => new SweepSpec();

    /// <summary>The spec: --config (or the defaults) with the given flags applied.</summary>
    public SweepSpec ToSpec()
    {
        var d = LoadConfig<SweepSpec>() ?? new SweepSpec();
        var run = ApplyTo(d.Run);
        if (Optimizer is not null) run = run with { Optimizer = Enum<OptimizerKind>(Optimizer, "optimizer")!.Value };
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
            Seeds = Seeds is null ? d.Seeds : SweepSpec.ParseSeeds(Seeds),
        };
    }

    static int[] Ints(GridAxis a) => a.Values.Select(v => checked((int)v)).ToArray();
}

/// <summary>`curvature sweep`: an ablation grid, one table.</summary>
internal sealed class SweepCommand : Command<SweepSettings>
{
    /// <inheritdoc />
    public override int Execute(CommandContext context, SweepSettings settings, CancellationToken cancellationToken)
    {
        if (settings.Collect is not null)
        {
            var collected = SweepJobs.Collect(settings.Collect, new ConsoleMessages());
            SweepExperiment.Write(collected);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"report: {Path.Combine(collected.Spec.Out, "report.md")} ({collected.Rows.Count} runs, {collected.Rows.Count(r => r.Missing)} missing, {collected.Rows.Count(r => r.Damage is not null)} damaged, {collected.Rows.Count(r => r.DivergedStep is not null)} diverged)"));
            return 0;
        }
        var spec = settings.ToSpec();
        spec.Validate();
        if (settings.Emit is not null)
        {
            string dll = System.Reflection.Assembly.GetEntryAssembly()?.Location ?? typeof(SweepCommand).Assembly.Location;
            var slurm = new SlurmOptions(settings.SlurmTime, settings.SlurmMem, RunSettings.Integer(settings.SlurmMaxArray, "slurm-max-array") ?? 1001);
            int n = SweepJobs.Emit(spec, settings.Emit, $"dotnet {dll}", slurm);
            string dir = Path.GetFullPath(settings.Emit);
            Console.WriteLine($"{n} jobs: {Path.Combine(dir, SweepJobs.JobsFile)} (sh {Path.Combine(dir, SweepJobs.ParallelFile)}: GNU parallel with --termseq INT,30000,KILL,25) and {Path.Combine(dir, SweepJobs.SlurmFile)} (sbatch); then curvature sweep --collect {dir}");
            return 0;
        }
        var result = ProgressDisplay.Run("sweep", (long)spec.Cells().Count * spec.Run.Steps, sink =>
        {
            var r = SweepExperiment.Measure(spec, sink, cancellationToken);
            SweepExperiment.Write(r);
            return r;
        });
        var summary = result.Summary;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{(summary.Status == Curvature.Optimizers.TrainingStatus.Interrupted ? "interrupted: " : "")}report: {Path.Combine(Path.GetFullPath(spec.Out), "report.md")} ({summary.Runs.Count} runs, {result.Rows.Count(r => r.Missing)} missing, {summary.Runs.Count(r => r.Diverged)} diverged, {ReportWriter.Num(summary.Seconds)} s)"));
        return 0;
    }
}

/// <summary>Prints a library's messages (collect's missing runs) one per line.</summary>
sealed class ConsoleMessages : IProgressSink
{
    public void Report(string phase, long done, long step, long steps, double loss, double lambda1) { }

    public void Message(string text) => Console.WriteLine(text);
}

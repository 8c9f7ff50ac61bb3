using System.ComponentModel;
using System.Globalization;
using Curvature.Experiments;
using Curvature.Optimizers;
using Spectre.Console.Cli;

namespace Curvature.Cli;

/// <summary>`curvature train`: one run of sgd, dom, bulk or interp, with metrics and a checkpoint.</summary>
internal sealed class TrainCommand : Command<TrainCommand.Settings>
{
    /// <summary>The flags of `train`: the run's, plus the rule, where to start and what to write.</summary>
    public sealed class Settings : SingleRunSettings
    {
        [CommandOption("--optimizer <NAME>"), Description("sgd, dom, bulk or interp."), SpecPath("run.optimizer")]
        public string? Optimizer { get; init; }

        [CommandOption("--alpha-dom <A>"), Description("interp: scale of the dominant part (required with interp, refused otherwise).")]
        public string? AlphaDom { get; init; }

        [CommandOption("--alpha-bulk <B>"), Description("interp: scale of the bulk part (required with interp, refused otherwise).")]
        public string? AlphaBulk { get; init; }

        [CommandOption("--checkpoint-every <S>"), Description("Also write the checkpoint every S steps; 0 writes it only at the end."), SpecPath("checkpoint_every")]
        public string? CheckpointEvery { get; init; }

        [CommandOption("--out <DIR>"), Description("Output directory."), SpecPath("out")]
        public string? Out { get; init; }

        [CommandOption("--theta <FILE>"), Description("Initial θ: a flat float64 .npy vector or a named .npz (state_dict names); default: the seeded initialization.")]
        public string? Theta { get; init; }

        [CommandOption("--init <FILE>", IsHidden = true), Description("Old spelling of --theta.")]
        public string? Init { get; init; }

        [CommandOption("--save-theta"), Description("Write the final parameters as theta.npy and theta.npz (state_dict names).")]
        public bool SaveTheta { get; init; }

        [CommandOption("--resume <CHECKPOINT>"), Description("Continue from a checkpoint (same options; --steps is the new total; default: none)."), OnlyAffects("speed")]
        public string? Resume { get; init; }

        [CommandOption("--quiet"), Description("Print only the final line."), OnlyAffects("printing")]
        public bool Quiet { get; init; }

        /// <inheritdoc />
        public override object? DefaultSpec() => new TrainSpec();

        /// <summary>The spec: --config (or the defaults) with the given flags applied.</summary>
        public TrainSpec ToSpec()
        {
            var d = LoadConfig<TrainSpec>() ?? new TrainSpec();
            var run = ApplySingle(d.Run);
            if (Optimizer is not null)
                run = run with { Optimizer = Enum<OptimizerKind>(Optimizer, "optimizer")!.Value, AlphaDom = null, AlphaBulk = null };
            run = run with
            {
                AlphaDom = Number(AlphaDom, "alpha-dom") ?? run.AlphaDom,
                AlphaBulk = Number(AlphaBulk, "alpha-bulk") ?? run.AlphaBulk,
            };
            return d with
            {
                Run = run,
                Out = Out ?? d.Out,
                Init = Theta ?? Init ?? d.Init,
                SaveTheta = SaveTheta || d.SaveTheta,
                Resume = Resume ?? d.Resume,
                CheckpointEvery = Integer(CheckpointEvery, "checkpoint-every") ?? d.CheckpointEvery,
            };
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var config = settings.ToSpec();
        var problem = Problem.Load(config.Run);
        if (!settings.Quiet)
        {
            foreach (var note in problem.Notes) Console.WriteLine(note);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{problem.Spec.Arch}: {problem.ParameterCount} parameters"));
        }
        var progress = settings.Quiet ? null : new RowPrinter();
        var summary = TrainingRun.Execute(config, problem, progress, cancellationToken);
        var c = CultureInfo.InvariantCulture;
        string advice = summary.Status == TrainingStatus.Diverged ? "; " + TrainingStatusText.DivergenceAdvice(summary.Lambda1, problem.Spec.LearningRate) : "";
        Console.WriteLine(string.Create(c,
            $"{TrainingStatusText.Format(summary.Status, summary.StoppedAt)}: {summary.Steps} steps, train loss {Show(summary.TrainLoss)}, train acc {Show(summary.TrainAccuracy)}, test loss {Show(summary.TestLoss)}, test acc {Show(summary.TestAccuracy)}, matvecs {summary.Matvecs}, {summary.Seconds:F1} s -> {config.Out}{advice}"));
        return 0;
    }

    static string Show(double? v) => v is double x ? x.ToString("G6", CultureInfo.InvariantCulture) : "-";

    /// <summary>One line per metrics row, synchronously (a run is single-threaded at this level).</summary>
    sealed class RowPrinter : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p)
        {
            if (p.Row is not { } r) return;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"step {r.Step}/{p.TotalSteps}  train loss {r.TrainLoss:G6}  acc {Show(r.TrainAccuracy)}  test {Show(r.TestLoss)}  λ1 {Show(r.Lambda1)} (2/η {r.TwoOverLearningRate:G4})  χk {Show(r.Chi)}  matvecs {r.Matvecs}  {r.Seconds:F1} s"));
        }
    }
}

using System.ComponentModel;
using System.Globalization;
using Curvature.Optimizers;
using Spectre.Console.Cli;

namespace Curvature.Cli;

/// <summary>`curvature train`: one run of sgd, dom, bulk or interp, with metrics and a checkpoint.</summary>
public sealed class TrainCommand : Command<TrainCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--arch <ARCH>"), Description("Architecture: widths (784-200-200-10) or a CNN (1x28x28-c16k5-m2-c32k5-m2-10; docs/models.md).")]
        public string? Arch { get; init; }

        [CommandOption("--act <ACT>"), Description("Hidden activation, e.g. tanh or relu.")]
        public string? Activation { get; init; }

        [CommandOption("--loss <LOSS>"), Description("ce or mse.")]
        public string? Loss { get; init; }

        [CommandOption("--data <SPEC>"), Description("Training data spec (mnist:N, gmm:N:D:C:SEED, npy:X.npy,y.npy, ...).")]
        public string? Data { get; init; }

        [CommandOption("--test-data <SPEC>"), Description("Test data spec, e.g. mnist-test.")]
        public string? TestData { get; init; }

        [CommandOption("--optimizer <NAME>"), Description("sgd, dom, bulk or interp.")]
        public string? Optimizer { get; init; }

        [CommandOption("--alpha-dom <A>"), Description("interp: scale of the dominant part.")]
        public string? AlphaDom { get; init; }

        [CommandOption("--alpha-bulk <B>"), Description("interp: scale of the bulk part.")]
        public string? AlphaBulk { get; init; }

        [CommandOption("--lr <ETA>"), Description("Learning rate.")]
        public string? LearningRate { get; init; }

        [CommandOption("--batch <B>"), Description("Minibatch size (the data size gives full-batch descent).")]
        public string? Batch { get; init; }

        [CommandOption("--steps <N>"), Description("Total number of updates.")]
        public string? Steps { get; init; }

        [CommandOption("-k <K>"), Description("Dominant subspace dimension (0: no tracker, sgd only); --k is accepted too.")]
        public string? K { get; init; }

        [CommandOption("--refresh <T>"), Description("Recompute the subspace every T steps.")]
        public string? Refresh { get; init; }

        [CommandOption("--hessian-batch <M>"), Description("Measure curvature on M fixed examples (default: all).")]
        public string? HessianBatch { get; init; }

        [CommandOption("--solver <NAME>"), Description("lanczos or lobpcg.")]
        public string? Solver { get; init; }

        [CommandOption("--curvature <KIND>"), Description("hessian or gn.")]
        public string? Curvature { get; init; }

        [CommandOption("--tolerance <TOL>"), Description("Eigensolver residual tolerance.")]
        public string? Tolerance { get; init; }

        [CommandOption("--cold-start"), Description("Do not warm-start refreshes from the previous basis.")]
        public bool ColdStart { get; init; }

        [CommandOption("--momentum <MU>"), Description("Heavy-ball momentum in [0, 1).")]
        public string? Momentum { get; init; }

        [CommandOption("--weight-decay <L>"), Description("L2 weight decay added to the gradient.")]
        public string? WeightDecay { get; init; }

        [CommandOption("--warmup <W>"), Description("Linear learning-rate warm-up steps.")]
        public string? Warmup { get; init; }

        [CommandOption("--switch-chi <TAU>"), Description("Step as SGD until the EMA of chi_k reaches TAU.")]
        public string? SwitchChi { get; init; }

        [CommandOption("--chi-ema <BETA>"), Description("EMA factor for --switch-chi.")]
        public string? ChiEma { get; init; }

        [CommandOption("--eval-every <M>"), Description("Measure metrics every M steps.")]
        public string? EvalEvery { get; init; }

        [CommandOption("--divergence-factor <F>"), Description("Loss above F times the initial loss counts as divergence.")]
        public string? DivergenceFactor { get; init; }

        [CommandOption("--checkpoint-every <S>"), Description("Also write the checkpoint every S steps.")]
        public string? CheckpointEvery { get; init; }

        [CommandOption("--seed <SEED>"), Description("Seed for initialization, minibatches and solvers.")]
        public string? Seed { get; init; }

        [CommandOption("--threads <N>"), Description("Threads (0: defaults).")]
        public string? Threads { get; init; }

        [CommandOption("--out <DIR>"), Description("Output directory.")]
        public string? Out { get; init; }

        [CommandOption("--init <THETA_NPY>"), Description("Initial parameters as a float64 .npy vector.")]
        public string? Init { get; init; }

        [CommandOption("--save-theta"), Description("Write the final parameters as theta.npy.")]
        public bool SaveTheta { get; init; }

        [CommandOption("--resume <CHECKPOINT>"), Description("Continue from a checkpoint (same options; --steps is the new total).")]
        public string? Resume { get; init; }

        [CommandOption("--quiet"), Description("Print only the final line.")]
        public bool Quiet { get; init; }
    }

    /// <summary>The run configuration the options describe (unset options keep TrainingConfig's defaults).</summary>
    public static TrainingConfig ToConfig(Settings s)
    {
        var d = new TrainingConfig();
        return d with
        {
            Arch = s.Arch ?? d.Arch,
            Activation = s.Activation ?? d.Activation,
            Loss = s.Loss ?? d.Loss,
            Data = s.Data ?? d.Data,
            TestData = s.TestData,
            Optimizer = s.Optimizer ?? d.Optimizer,
            AlphaDom = Number(s.AlphaDom, "alpha-dom"),
            AlphaBulk = Number(s.AlphaBulk, "alpha-bulk"),
            LearningRate = Number(s.LearningRate, "lr") ?? d.LearningRate,
            Batch = Integer(s.Batch, "batch") ?? d.Batch,
            Steps = Integer(s.Steps, "steps") ?? d.Steps,
            K = Integer(s.K, "k") ?? d.K,
            Refresh = Integer(s.Refresh, "refresh") ?? d.Refresh,
            HessianBatch = Integer(s.HessianBatch, "hessian-batch"),
            Solver = s.Solver ?? d.Solver,
            Curvature = s.Curvature ?? d.Curvature,
            Tolerance = Number(s.Tolerance, "tolerance") ?? d.Tolerance,
            WarmStart = !s.ColdStart,
            Momentum = Number(s.Momentum, "momentum") ?? d.Momentum,
            WeightDecay = Number(s.WeightDecay, "weight-decay") ?? d.WeightDecay,
            Warmup = Integer(s.Warmup, "warmup") ?? d.Warmup,
            SwitchChi = Number(s.SwitchChi, "switch-chi"),
            ChiEma = Number(s.ChiEma, "chi-ema") ?? d.ChiEma,
            EvalEvery = Integer(s.EvalEvery, "eval-every") ?? d.EvalEvery,
            DivergenceFactor = Number(s.DivergenceFactor, "divergence-factor") ?? d.DivergenceFactor,
            CheckpointEvery = Integer(s.CheckpointEvery, "checkpoint-every") ?? d.CheckpointEvery,
            Seed = Seed(s.Seed, "seed") ?? d.Seed,
            Threads = Integer(s.Threads, "threads") ?? d.Threads,
            Out = s.Out ?? "",
            Init = s.Init,
            SaveTheta = s.SaveTheta,
            Resume = s.Resume,
        };
    }

    static double? Number(string? text, string option)
    {
        if (text is null) return null;
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)) return v;
        throw new ArgumentException($"Option '{option}' was '{text}'; expected a number.", option);
    }

    static int? Integer(string? text, string option)
    {
        if (text is null) return null;
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v)) return v;
        throw new ArgumentException($"Option '{option}' was '{text}'; expected an integer.", option);
    }

    static ulong? Seed(string? text, string option)
    {
        if (text is null) return null;
        if (ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong v)) return v;
        throw new ArgumentException($"Option '{option}' was '{text}'; expected a non-negative integer.", option);
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var config = ToConfig(settings);
        var progress = settings.Quiet ? null : new RowPrinter();
        var summary = TrainingRun.Execute(config, progress, cancellationToken);
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(c,
            $"{summary.Status}: {summary.Steps} steps, train loss {Show(summary.TrainLoss)}, train acc {Show(summary.TrainAccuracy)}, test loss {Show(summary.TestLoss)}, test acc {Show(summary.TestAccuracy)}, hvps {summary.Hvps}, {summary.Seconds:F1} s -> {config.Out}"));
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
                $"step {r.Step}/{p.TotalSteps}  loss {r.TrainLoss:G6}  acc {Show(r.TrainAccuracy)}  test {Show(r.TestLoss)}  λ1 {Show(r.Lambda1)} (2/η {r.TwoOverLearningRate:G4})  χk {Show(r.Chi)}  hvps {r.Hvps}  {r.Seconds:F1} s"));
        }
    }
}

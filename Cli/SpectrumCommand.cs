using System.ComponentModel;
using System.Globalization;
using Curvature.Cli.Experiments;
using Spectre.Console.Cli;

namespace Curvature.Cli;

/// <summary>Options of the commands that analyse a given θ (spectrum, decompose).</summary>
public class AnalysisSettings : CommandSettings
{
    [CommandOption("--arch <SPEC>")] [Description("Architecture, widths or a CNN as in docs/models.md (default: from config.json beside the θ file, else 196-32-32-10).")]
    public string? Arch { get; init; }

    [CommandOption("--act <NAME>")] [Description("Activation (default: from config.json, else tanh).")]
    public string? Act { get; init; }

    [CommandOption("--loss <NAME>")] [Description("ce or mse (default: from config.json, else mse).")]
    public string? Loss { get; init; }

    [CommandOption("--data <SPEC>")] [Description("Data the curvature is measured on (default: from config.json, else mnist14:2000).")]
    public string? Data { get; init; }

    [CommandOption("--lr <ETA>")] [Description("Learning rate, for the 2/η line (default: from config.json).")]
    public double? Lr { get; init; }

    [CommandOption("-k <K>")] [Description("Number of top eigenpairs (--k works too).")] [DefaultValue(10)]
    public int K { get; init; } = 10;

    [CommandOption("--hessian-batch <M>")] [Description("Examples the curvature is measured on (0: all).")] [DefaultValue(0)]
    public int HessianBatch { get; init; }

    [CommandOption("--tolerance <TOL>")] [Description("Lanczos tolerance.")] [DefaultValue(1e-6)]
    public double Tolerance { get; init; } = 1e-6;

    [CommandOption("--seed <N>")] [Description("Seed of start vectors and probes.")] [DefaultValue(0UL)]
    public ulong Seed { get; init; }

    [CommandOption("--threads <N>")] [Description("Threads (0: all cores).")] [DefaultValue(0)]
    public int Threads { get; init; }

    protected static string Show(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    protected string ModelArgs() =>
        (Arch is null ? "" : $" --arch {Arch}") + (Act is null ? "" : $" --act {Act}") + (Loss is null ? "" : $" --loss {Loss}")
        + (Data is null ? "" : $" --data {Data}") + (Lr is double lr ? $" --lr {Show(lr)}" : "")
        + $" --k {K} --hessian-batch {HessianBatch} --tolerance {Show(Tolerance)} --seed {Seed}" + (Threads > 0 ? $" --threads {Threads}" : "");

    public void CheckCommon()
    {
        if (K < 1) throw new ArgumentOutOfRangeException("k", $"Option '--k' was {K}; expected a positive integer below the parameter count.");
        if (HessianBatch < 0) throw new ArgumentOutOfRangeException("hessian-batch", $"Option '--hessian-batch' was {HessianBatch}; expected 0 (all) or a positive integer.");
        if (!(Tolerance > 0)) throw new ArgumentOutOfRangeException("tolerance", $"Option '--tolerance' was {Show(Tolerance)}; expected a positive number.");
        if (Threads < 0) throw new ArgumentOutOfRangeException("threads", $"Option '--threads' was {Threads}; expected 0 (all cores) or a positive count.");
        if (Lr is double lr && !(lr > 0)) throw new ArgumentOutOfRangeException("lr", $"Option '--lr' was {Show(lr)}; expected a positive learning rate.");
    }
}

public sealed class SpectrumSettings : AnalysisSettings
{
    [CommandOption("--checkpoint <FILE>")] [Description("θ from a checkpoint written by train, compare or sweep.")]
    public string? Checkpoint { get; init; }

    [CommandOption("--theta <FILE>")] [Description("θ as a float64 .npy vector.")]
    public string? Theta { get; init; }

    [CommandOption("--operator <A>")] [Description("h (Hessian), g (Gauss–Newton) or f (functional Hessian).")] [DefaultValue("h")]
    public string Operator { get; init; } = "h";

    [CommandOption("--density-probes <N>")] [Description("SLQ probes.")] [DefaultValue(8)]
    public int DensityProbes { get; init; } = 8;

    [CommandOption("--density-steps <N>")] [Description("Lanczos steps per SLQ probe.")] [DefaultValue(80)]
    public int DensitySteps { get; init; } = 80;

    [CommandOption("--out <DIR>")] [Description("Output directory.")] [DefaultValue("runs/spectrum")]
    public string Out { get; init; } = "runs/spectrum";

    public string CommandLine() =>
        $"curvature spectrum {(Checkpoint is null ? $"--theta {Theta}" : $"--checkpoint {Checkpoint}")} --operator {Operator}{ModelArgs()} "
        + $"--density-probes {DensityProbes} --density-steps {DensitySteps} --out {Out}";
}

/// <summary>`curvature spectrum`: top-k and density of H, G or F at one θ.</summary>
public sealed class SpectrumCommand : Command<SpectrumSettings>
{
    public override int Execute(CommandContext context, SpectrumSettings settings, CancellationToken cancellationToken)
    {
        if ((settings.Checkpoint is null) == (settings.Theta is null))
            throw new ArgumentException(settings.Checkpoint is null
                ? "Options '--checkpoint' and '--theta' are both missing; expected exactly one source of θ."
                : $"Options '--checkpoint' ('{settings.Checkpoint}') and '--theta' ('{settings.Theta}') were both given; expected exactly one.", "theta");
        var kind = CurvatureAnalysis.ParseOperator(settings.Operator);
        var density = new AnalysisOptions { DensityProbes = settings.DensityProbes, DensitySteps = settings.DensitySteps };
        density.Validate();
        settings.CheckCommon();
        string path = settings.Checkpoint ?? settings.Theta!;
        var theta = ThetaSource.Load(path, settings.Checkpoint is null ? "theta" : "checkpoint");
        var model = ModelChoice.Resolve(settings.Arch, settings.Act, settings.Loss, settings.Data, settings.Lr, path);
        var summary = ProgressDisplay.Run("spectrum", 2, sink => SpectrumExperiment.Run(model, theta, kind, settings.K,
            settings.HessianBatch, settings.Tolerance, density, settings.Seed, settings.Threads, settings.Out, settings.CommandLine(), sink));
        Console.WriteLine($"λ₁..λ{summary.Eigenvalues.Length} of {summary.Operator}: {string.Join(" ", summary.Eigenvalues.Select(ReportWriter.Num))}");
        Console.WriteLine($"report: {Path.Combine(Path.GetFullPath(settings.Out), "report.md")}");
        return 0;
    }
}

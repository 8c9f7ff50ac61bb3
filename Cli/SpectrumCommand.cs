using System.ComponentModel;
using Curvature.Experiments;
using Curvature.Optimizers;
using Spectre.Console.Cli;

namespace Curvature.Cli;

/// <summary>Flags of `spectrum`.</summary>
internal sealed class SpectrumSettings : AnalysisSettings
{
    [CommandOption("--checkpoint <FILE>"), Description("θ from a checkpoint written by train, compare or sweep.")]
    public string? Checkpoint { get; init; }

    [CommandOption("--theta <FILE>"), Description("θ as a flat float64 .npy vector or a named .npz (state_dict names).")]
    public string? Theta { get; init; }

    [CommandOption("--operator <A>", IsHidden = true), Description("Old spelling of --curvature.")]
    public string? Operator { get; init; }

    [CommandOption("--out <DIR>"), Description("Output directory."), SpecPath("out")]
    public string? Out { get; init; }

    /// <inheritdoc />
    public override object? DefaultSpec() => new SpectrumSpec();

    /// <summary>spectrum's --tolerance and --curvature are its own measurement's (analysis.tolerance, operator).</summary>
    internal override string? PathOf(OptionInfo option) => option.Names[0] switch
    {
        "--tolerance" => "analysis.tolerance",
        "--curvature" => "operator",
        _ => base.PathOf(option),
    };

    /// <summary>
    /// The spec: --config, else the run recorded beside the θ file (its run directory's
    /// config.json), else the defaults; then the given flags.
    /// </summary>
    public SpectrumSpec ToSpec()
    {
        var d = LoadConfig<SpectrumSpec>() ?? new SpectrumSpec();
        string? path = Checkpoint ?? Theta;
        string source = Config is not null ? $"command line, then {Config}" : d.Source;
        var run = d.Run;
        if (Config is null && path is not null && ThetaSource.RunBeside(path) is { } beside)
        {
            run = beside.Run;
            source = $"command line, then {Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".", TrainingRun.ConfigFile)}";
        }
        return d with
        {
            Run = ApplySingle(run),
            Checkpoint = Checkpoint ?? (Theta is null ? d.Checkpoint : null),
            Theta = Theta ?? (Checkpoint is null ? d.Theta : null),
            Operator = Enum<Curvature.Autodiff.CurvatureKind>(Operator ?? Curvature, "curvature") ?? d.Operator,
            // spectrum's --tolerance is its top-k solve's, the same setting as --analysis-tolerance.
            Analysis = ApplyAnalysis(d.Analysis) is var a && Number(Tolerance, "tolerance") is double tol ? a with { Tolerance = tol } : ApplyAnalysis(d.Analysis),
            Out = Out ?? d.Out,
            Source = source,
        };
    }
}

/// <summary>`curvature spectrum`: top-k and density of H, G or F at one θ.</summary>
internal sealed class SpectrumCommand : Command<SpectrumSettings>
{
    /// <inheritdoc />
    public override int Execute(CommandContext context, SpectrumSettings settings, CancellationToken cancellationToken)
    {
        var spec = settings.ToSpec();
        spec.Validate();
        var result = ProgressDisplay.Run("spectrum", 2, sink =>
        {
            var r = SpectrumExperiment.Measure(spec, sink);
            SpectrumExperiment.Write(r);
            return r;
        });
        var summary = result.Summary;
        Console.WriteLine($"λ₁..λ{summary.Eigenvalues.Length} of {summary.Operator}: {string.Join(" ", summary.Eigenvalues.Select(ReportWriter.Num))}");
        Console.WriteLine($"report: {Path.Combine(Path.GetFullPath(spec.Out), "report.md")}");
        return 0;
    }
}

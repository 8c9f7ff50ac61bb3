using System.ComponentModel;
using Curvature.Experiments;
using Curvature.Optimizers;
using Spectre.Console.Cli;

namespace Curvature.Cli;

/// <summary>Flags of `decompose`.</summary>
internal sealed class DecomposeSettings : AnalysisSettings
{
    [CommandOption("--checkpoint <FILES>"), Description("Comma-separated checkpoints to decompose at (default: none, train SGD as the run says).")]
    public string? Checkpoint { get; init; }

    [CommandOption("--theta <FILES>"), Description("Comma-separated θ files to decompose at: flat float64 .npy vectors or named .npz (state_dict names).")]
    public string? Theta { get; init; }

    [CommandOption("--out <DIR>"), Description("Output directory."), SpecPath("out")]
    public string? Out { get; init; }

    static string[]? Split(string? files) => files?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    /// <inheritdoc />
    public override object? DefaultSpec() => new DecomposeSpec();

    /// <summary>
    /// The spec: --config, else the run recorded beside the first θ file, else the defaults;
    /// then the given flags. With no θ, decompose trains SGD as the run says.
    /// </summary>
    public DecomposeSpec ToSpec()
    {
        var d = LoadConfig<DecomposeSpec>() ?? new DecomposeSpec();
        var checkpoints = Split(Checkpoint);
        var thetas = Split(Theta);
        string? first = checkpoints?.FirstOrDefault() ?? thetas?.FirstOrDefault();
        string source = Config is not null ? $"command line, then {Config}" : d.Source;
        var run = d.Run;
        if (Config is null && first is not null && ThetaSource.RunBeside(first) is { } beside)
        {
            run = beside.Run;
            source = $"command line, then {Path.Combine(Path.GetDirectoryName(Path.GetFullPath(first)) ?? ".", TrainingRun.ConfigFile)}";
        }
        bool given = checkpoints is not null || thetas is not null;
        return d with
        {
            Run = ApplySingle(run),
            Checkpoints = given ? checkpoints : d.Checkpoints,
            Thetas = given ? thetas : d.Thetas,
            Analysis = ApplyAnalysis(d.Analysis),
            Out = Out ?? d.Out,
            Source = source,
        };
    }
}

/// <summary>`curvature decompose`: curvature energy of H, G, F in the dominant subspace of H.</summary>
internal sealed class DecomposeCommand : Command<DecomposeSettings>
{
    /// <inheritdoc />
    public override int Execute(CommandContext context, DecomposeSettings settings, CancellationToken cancellationToken)
    {
        var spec = settings.ToSpec();
        spec.Validate();
        var result = ProgressDisplay.Run("decompose", Math.Max(1, DecomposeExperiment.Units(spec)), sink =>
        {
            var r = DecomposeExperiment.Measure(spec, sink, cancellationToken);
            DecomposeExperiment.Write(r);
            return r;
        });
        var summary = result.Summary;
        var last = summary.Rows[^1];
        string at = summary.InputSteps.Count > 0 && summary.InputSteps[^1] is null
            ? $"{Path.GetFileName(summary.Inputs[^1])} (step unknown)"
            : summary.StepLabel(summary.Rows.Count - 1);
        Console.WriteLine($"energy in top-{summary.K} of H at {at}: H {ReportWriter.Num(last.HEnergy)}, G {ReportWriter.Num(last.GEnergy)}, F {ReportWriter.Num(last.FEnergy)} ({summary.NormMethod})");
        Console.WriteLine($"report: {Path.Combine(Path.GetFullPath(spec.Out), "report.md")}");
        return 0;
    }
}

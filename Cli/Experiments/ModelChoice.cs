using Curvature.Optimizers;

namespace Curvature.Cli.Experiments;

/// <summary>
/// The network and data an analysis command evaluates θ on: each option as given, else as
/// the run's config.json beside the θ file recorded it, else the compare defaults.
/// </summary>
public sealed record ModelChoice(string Arch, string Activation, string Loss, string Data, double? LearningRate, string Source)
{
    public static ModelChoice Resolve(string? arch, string? act, string? loss, string? data, double? lr, string? thetaPath)
    {
        var config = thetaPath is null ? null : ThetaSource.ConfigBeside(thetaPath);
        var d = new ExperimentOptions();
        return new ModelChoice(
            arch ?? config?.Arch ?? d.Arch,
            act ?? config?.Activation ?? d.Activation,
            loss ?? config?.Loss ?? d.Loss,
            data ?? config?.Data ?? d.Data,
            lr ?? config?.LearningRate,
            config is null ? "command line and defaults" : $"command line, then {Path.Combine(Path.GetDirectoryName(Path.GetFullPath(thetaPath!)) ?? ".", TrainingRun.ConfigFile)}");
    }

    public Problem Load(int threads) => Problem.Load(Arch, Activation, Loss, Data, null, threads);
}

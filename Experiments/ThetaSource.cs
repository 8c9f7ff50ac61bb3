using System.Text.Json;
using Curvature.Core;
using Curvature.Optimizers;

namespace Curvature.Experiments;

/// <summary>A parameter vector to analyse and where it came from.</summary>
public sealed record ThetaInput(string Path, long? Step, double[] Theta);

/// <summary>
/// θ from a training checkpoint (checkpoint.bin, with its step) or a float64 .npy vector, and
/// the model options recorded beside it: a run directory's config.json supplies --arch, --act,
/// --loss, --data and --lr when they are not given on the command line.
/// </summary>
public static class ThetaSource
{
    /// <summary>θ from a checkpoint, a flat .npy or a named .npz (which needs <paramref name="network"/> for its state_dict names); throws naming <paramref name="option"/> when the file is missing.</summary>
    public static ThetaInput Load(string path, string option, Curvature.Models.INetwork? network = null)
    {
        if (option == "theta" && network is not null && ThetaFiles.IsNpz(path))
            return new ThetaInput(path, StepBeside(path), ThetaFiles.Read(path, network, option));
        if (!File.Exists(path))
            throw new FileNotFoundException($"Option '--{option}' names '{path}', which does not exist; expected {(option == "theta" ? "a float64 .npy vector of θ" : "a checkpoint written by train, compare or sweep")}.", path);
        if (option == "theta")
        {
            var theta = Npy.ReadVector(path);
            return new ThetaInput(path, StepBeside(path), theta);
        }
        var checkpoint = TrainerCheckpoint.Load(path);
        return new ThetaInput(path, checkpoint.Step, checkpoint.Theta);
    }

    /// <summary>
    /// The step a θ file of a run directory was written at, from the summary.json beside it:
    /// theta.npy and theta.npz hold the checkpoint's θ (its step), theta-diverged.npy the θ
    /// where the run stopped. Null for any other file or when no readable summary is there.
    /// </summary>
    public static long? StepBeside(string path)
    {
        string name = System.IO.Path.GetFileName(path);
        bool final = name is TrainingRun.ThetaFile or TrainingRun.ThetaNpzFile;
        if (!final && name != TrainingRun.DivergedThetaFile) return null;
        string file = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) ?? ".", TrainingRun.SummaryFile);
        if (!File.Exists(file)) return null;
        try
        {
            var summary = JsonSerializer.Deserialize<TrainingSummary>(File.ReadAllText(file), RunJson.Options);
            return summary is null ? null : final ? summary.CheckpointStep : summary.StoppedAt;
        }
        catch (JsonException)
        {
            // A summary.json of another shape (e.g. compare's top level) says nothing about this θ.
            return null;
        }
    }

    /// <summary>The run spec of the run directory that holds <paramref name="path"/> (its config.json), if there is one.</summary>
    public static TrainSpec? RunBeside(string path)
    {
        string? dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        string file = System.IO.Path.Combine(dir ?? ".", TrainingRun.ConfigFile);
        if (!File.Exists(file)) return null;
        try
        {
            var spec = JsonSerializer.Deserialize<TrainSpec>(File.ReadAllText(file), RunJson.Options);
            return spec?.Run is null ? null : spec;
        }
        catch (JsonException)
        {
            // A config.json of another shape (e.g. compare's top level) says nothing about this θ.
            return null;
        }
    }

    /// <summary>Checks θ against the network: the right length and finite.</summary>
    public static void Check(ThetaInput input, int parameterCount, string spec, string option)
    {
        if (input.Theta.Length != parameterCount)
            throw new ArgumentException($"Option '--{option}' names '{input.Path}' with {input.Theta.Length} parameters; expected {parameterCount} for the {spec} network.", option);
        for (int i = 0; i < input.Theta.Length; i++)
            if (!double.IsFinite(input.Theta[i]))
                throw new ArgumentException($"Option '--{option}' names '{input.Path}', which has {input.Theta[i]} at index {i}; expected finite values.", option);
    }
}

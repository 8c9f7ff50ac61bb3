using System.ComponentModel;
using System.Globalization;
using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using Spectre.Console.Cli;

namespace Curvature.Cli;

/// <summary>Options every command that builds a network shares, with one spelling.</summary>
public class NetworkSettings : CommandSettings
{
    [CommandOption("--arch <SPEC>")]
    [Description("Architecture: widths, inputs first (784-200-200-10), or a CNN (1x28x28-c16k5-m2-c32k5-m2-10: CxHxW, cN[[kK]][[sS]][[pP]], mK, aK; docs/models.md).")]
    public string Arch { get; set; } = "784-200-200-10";

    [CommandOption("--act <NAME>")]
    [Description("Activation between layers: tanh, relu, gelu or softplus.")]
    public string Act { get; set; } = "tanh";

    [CommandOption("--seed <N>")]
    [Description("Seed of every random draw.")]
    public ulong Seed { get; set; }

    public Sequential BuildModel()
    {
        try { return Sequential.Parse(Arch, Act); }
        catch (ArgumentException e) when (!e.Message.Contains("--", StringComparison.Ordinal))
        {
            throw new ArgumentException($"Option '--arch' was '{Arch}' (--act '{Act}'): {e.Message}", "arch", e);
        }
    }
}

/// <summary>`curvature init`: θ at the seeded PyTorch-default initialization, as .npy.</summary>
public sealed class InitCommand : Command<InitCommand.Settings>
{
    public sealed class Settings : NetworkSettings
    {
        [CommandOption("--out <FILE>")]
        [Description("Where to write θ (.npy, float64 1-D).")]
        public string Out { get; set; } = "theta.npy";
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var model = settings.BuildModel();
        var theta = model.Initialize(settings.Seed);
        CliFiles.EnsureParent(settings.Out);
        Npy.Write(settings.Out, theta);
        Console.WriteLine($"wrote {settings.Out}: {model} with {model.ParameterCount} parameters (seed {settings.Seed})");
        return 0;
    }
}

/// <summary>
/// `curvature grad|hvp|ggnvp|fvp`: one product of the objective at a given θ, written as
/// .npy, so that a researcher can compare it with PyTorch or JAX on the same files.
/// </summary>
public sealed class ProductCommand : Command<ProductCommand.Settings>
{
    public sealed class Settings : NetworkSettings
    {
        [CommandOption("--loss <NAME>")]
        [Description("ce or mse.")]
        public string Loss { get; set; } = "ce";

        [CommandOption("--data <SPEC>")]
        [Description("Data spec: mnist:N, mnist14:N, mnist-test, fashion:N, fashion14:N, fashion-test, gmm:N:D:C:SEED, teacher:N:D:SEED, npy:X.npy,y.npy.")]
        public string Data { get; set; } = "mnist:1000";

        [CommandOption("--theta <FILE>")]
        [Description("θ as .npy (float64, 1-D); default: the seeded initialization.")]
        public string? Theta { get; set; }

        [CommandOption("-v|--vector <FILE>")]
        [Description("The direction v as .npy; default: a seeded standard normal vector (written as v.npy).")]
        public string? V { get; set; }

        [CommandOption("--threads <N>")]
        public int Threads { get; set; } = Environment.ProcessorCount;

        [CommandOption("--chunk <N>")]
        [Description("Examples per chunk.")]
        public int Chunk { get; set; } = ObjectiveOptions.Default.ChunkSize;

        [CommandOption("--out <DIR>")]
        public string Out { get; set; } = ".";
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        string product = context.Name;
        var model = settings.BuildModel();
        var data = DataSpec.Parse(settings.Data);
        var objective = new Objective(model, LossNames.Parse(settings.Loss), data,
            new ObjectiveOptions { Threads = settings.Threads, ChunkSize = settings.Chunk });
        double[] theta = settings.Theta is null ? model.Initialize(settings.Seed) : ReadVector(settings.Theta, "--theta", model.ParameterCount);
        Directory.CreateDirectory(settings.Out);

        double loss;
        string file;
        var result = new double[model.ParameterCount];
        if (product == "grad")
        {
            loss = objective.LossAndGradient(theta, result);
            file = "grad.npy";
        }
        else
        {
            double[] v;
            if (settings.V is null)
            {
                v = new double[model.ParameterCount];
                new Rng(settings.Seed).FillGaussian(v);
                Npy.Write(Path.Combine(settings.Out, "v.npy"), v);
            }
            else v = ReadVector(settings.V, "-v", model.ParameterCount);
            var (kind, name) = product switch
            {
                "hvp" => (CurvatureKind.Hessian, "hv.npy"),
                "ggnvp" => (CurvatureKind.GaussNewton, "gv.npy"),
                _ => (CurvatureKind.FunctionalHessian, "fv.npy"),
            };
            loss = objective.CurvatureProduct(kind, theta, v, result, default);
            file = name;
        }
        Npy.Write(Path.Combine(settings.Out, file), result);
        Console.WriteLine($"loss: {loss.ToString("R", CultureInfo.InvariantCulture)}");
        Console.WriteLine($"wrote {Path.Combine(settings.Out, file)} ({model.ParameterCount} values)");
        return 0;
    }

    static double[] ReadVector(string path, string option, int expected)
    {
        if (!File.Exists(path))
            throw new ArgumentException($"Option '{option}' names '{path}', which does not exist; expected a .npy file.");
        var values = Npy.ReadVector(path);
        if (values.Length != expected)
            throw new ArgumentException($"Option '{option}' file '{path}' has {values.Length} values; expected {expected} (the parameter count of the architecture).");
        for (int i = 0; i < values.Length; i++)
            if (!double.IsFinite(values[i]))
                throw new ArgumentException($"Option '{option}' file '{path}' has {values[i].ToString(CultureInfo.InvariantCulture)} at index {i}; expected finite values.");
        return values;
    }
}

static class CliFiles
{
    public static void EnsureParent(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
    }
}

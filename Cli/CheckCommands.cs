using System.ComponentModel;
using System.Globalization;
using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Experiments;
using Curvature.Models;
using Curvature.Optimizers;
using Spectre.Console.Cli;

namespace Curvature.Cli;

/// <summary>Options every command that builds a network shares, with one spelling.</summary>
internal class NetworkSettings : CommandSettings
{
    [CommandOption("--arch <SPEC>")]
    [Description("Architecture: widths, inputs first (784-200-200-10), or a CNN (1x28x28-c16k5-m2-c32k5-m2-10: CxHxW, cN[kK][sS][pP], mK, aK), or a Transformer (spam-e64-t8f256x2-2: tokVxL or spam, eD, tH[fF][xN]; docs/models.md).")]
    [DefaultValue(RunSpec.DefaultArch)]
    public string Arch { get; set; } = RunSpec.DefaultArch;

    [CommandOption("--act <NAME>")]
    [Description("Activation between layers: tanh, relu, gelu or softplus.")]
    [DefaultValue("tanh")]
    public string Act { get; set; } = "tanh";

    [CommandOption("--seed <N>")]
    [Description("Seed of every random draw.")]
    [DefaultValue(0UL)]
    public ulong Seed { get; set; }

    public INetwork BuildModel()
    {
        try { return Architecture.Parse(Arch, ActivationNames.Parse(Act)); }
        catch (ArgumentException e) when (!e.Message.Contains("--", StringComparison.Ordinal))
        {
            throw new ArgumentException($"Option '--arch' was '{Arch}' (--act '{Act}'): {e.Message}", "arch", e);
        }
    }
}

/// <summary>
/// `curvature init`: θ at the seeded PyTorch-default initialization. `--out DIR` (a folder, as
/// everywhere) gets theta.npy (flat float64) and theta.npz (state_dict names); a path ending
/// in .npy or .npz writes just that file.
/// </summary>
internal sealed class InitCommand : Command<InitCommand.Settings>
{
    public sealed class Settings : NetworkSettings
    {
        [CommandOption("--out <DIR>")]
        [Description("Output folder for theta.npy (flat float64) and theta.npz (state_dict names); a path ending in .npy or .npz writes just that file.")]
        [DefaultValue(".")]
        public string Out { get; set; } = ".";
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var model = settings.BuildModel();
        var theta = model.Initialize(settings.Seed);
        string[] files = settings.Out.EndsWith(".npy", StringComparison.OrdinalIgnoreCase) || ThetaFiles.IsNpz(settings.Out)
            ? [settings.Out]
            : [Path.Combine(settings.Out, "theta.npy"), Path.Combine(settings.Out, "theta.npz")];
        foreach (var file in files)
        {
            CliFiles.EnsureParent(file);
            ThetaFiles.Write(file, model, theta);
        }
        Console.WriteLine($"wrote {string.Join(" and ", files)}: {model} with {model.ParameterCount} parameters (seed {settings.Seed})");
        return 0;
    }
}

/// <summary>
/// `curvature grad|hvp|ggnvp|fvp`: one product of the objective at a given θ, written as
/// .npy, so that a researcher can compare it with PyTorch or JAX on the same files.
/// </summary>
internal sealed class ProductCommand : Command<ProductCommand.Settings>
{
    public sealed class Settings : NetworkSettings
    {
        [CommandOption("--loss <NAME>")]
        [Description("ce, mse or torch-mse (PyTorch's nn.MSELoss).")]
        [DefaultValue("mse")]
        public string Loss { get; set; } = "mse";

        [CommandOption("--data <SPEC>")]
        [Description("Data spec: mnist:N, mnist14:N, mnist-test, fashion:N, fashion14:N, fashion-test, spam:N, spam-test, gmm:N:D:C:SEED, teacher:N:D:SEED, npy:X.npy,y.npy.")]
        [DefaultValue(RunSpec.DefaultData)]
        public string Data { get; set; } = RunSpec.DefaultData;

        [CommandOption("--theta <FILE>")]
        [Description("θ as a flat float64 .npy vector or a named .npz (state_dict names); default: the seeded initialization.")]
        public string? Theta { get; set; }

        [CommandOption("-v|--vector <FILE>")]
        [Description("The direction v as .npy; default: a seeded standard normal vector (written as v.npy).")]
        public string? V { get; set; }

        [CommandOption("--threads <N>")]
        [Description("Objective threads (0: all cores); results do not depend on it.")]
        [DefaultValue(0)]
        public int Threads { get; set; }

        [CommandOption("--chunk <N>")]
        [Description("Examples per chunk.")]
        [DefaultValue(500)]
        public int Chunk { get; set; } = ObjectiveOptions.Default.ChunkSize;

        [CommandOption("--out <DIR>")]
        [Description("Output folder.")]
        [DefaultValue(".")]
        public string Out { get; set; } = ".";

        [CommandOption("--per-example <FILE>")]
        [Description("Also write the n×P per-example gradients (row i: the gradient of example i's loss) as this float64 .npy; refused above n·P = 2^26 numbers (512 MB).")]
        public string? PerExample { get; set; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        string product = context.Name;
        if (settings.Threads < 0)
            throw new ArgumentOutOfRangeException("threads", settings.Threads, $"Option '--threads' was {settings.Threads}; expected 0 (all cores) or a positive integer.");
        var model = settings.BuildModel();
        var data = DataSpec.Parse(settings.Data);
        var objective = new Objective(model, LossNames.Parse(settings.Loss), data,
            new ObjectiveOptions { Threads = settings.Threads > 0 ? settings.Threads : Environment.ProcessorCount, ChunkSize = settings.Chunk });
        double[] theta = settings.Theta is null ? model.Initialize(settings.Seed) : ThetaFiles.Read(settings.Theta, model, "theta");
        CliFiles.OutputDirectory(settings.Out, "out");

        double loss;
        string file;
        var result = new double[model.ParameterCount];
        if (product == "grad")
        {
            if (settings.PerExample is not null) WritePerExample(objective, theta, settings.PerExample);
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

    /// <summary>The n×P per-example gradients as .npy, refused before allocation above <see cref="Objective.MaxPerExampleEntries"/>.</summary>
    static void WritePerExample(Objective objective, double[] theta, string path)
    {
        long entries = (long)objective.ExampleCount * objective.ParameterCount;
        if (entries > Objective.MaxPerExampleEntries)
            throw new ArgumentOutOfRangeException("per-example", string.Create(CultureInfo.InvariantCulture,
                $"Option '--per-example' would write {objective.ExampleCount} examples × {objective.ParameterCount} parameters = {entries} numbers; expected at most {Objective.MaxPerExampleEntries} (2^26, 512 MB): use fewer examples in --data."));
        if (Directory.Exists(path))
            throw new ArgumentException($"Option '--per-example' names '{path}', which is a directory; expected a .npy file name.", "per-example");
        CliFiles.EnsureParent(path);
        var g = objective.PerExampleGradients(theta);
        // The stream overload writes the matrix's own buffer: no second n×P copy.
        AtomicFile.Write(path, (Stream s) => Npy.Write(s, g.Data, g.Rows, g.Cols));
        Console.WriteLine($"wrote {path} ({g.Rows}x{g.Cols} per-example gradients)");
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

    /// <summary>Creates the output folder an option names; a file there, or a folder that cannot be made, is an error naming the option.</summary>
    public static void OutputDirectory(string dir, string option)
    {
        if (File.Exists(dir))
            throw new ArgumentException($"Option '--{option}' names '{dir}', which is a file; expected a directory (new or existing).", option);
        try
        {
            Directory.CreateDirectory(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"Option '--{option}' names '{dir}', which cannot be created ({e.Message.TrimEnd('.')}); expected a writable directory.", e);
        }
    }
}

using Spectre.Console;
using Spectre.Console.Cli;

namespace Curvature.Cli;

/// <summary>
/// The `curvature` tool. Every command is registered here; every failure, from the
/// parser or from the engine, ends as one line on stderr and a non-zero exit code.
/// </summary>
public static class CurvatureApp
{
    public static int Run(string[] args, TextWriter? stderr = null)
    {
        stderr ??= Console.Error;
        var app = new CommandApp();
        app.Configure(config =>
        {
            config.SetApplicationName("curvature");
            config.SetApplicationVersion(Curvature.Optimizers.RunJson.Version);
            config.PropagateExceptions();
            // An unknown option is an error, not an argument silently left over.
            config.UseStrictParsing();
            config.AddCommand<InfoCommand>("info").WithDescription("Active BLAS backend, library, threads and SIMD support.");
            config.AddCommand<EigCommand>("eig").WithDescription("Eigenpairs of a dense symmetric .npy matrix (Lanczos, LOBPCG or power iteration).");
            config.AddCommand<TrainCommand>("train").WithDescription("One training run (sgd, dom, bulk, interp) with metrics and a checkpoint.");
            config.AddCommand<CompareCommand>("compare").WithDescription("Several optimizers from one initialization; report with plots.");
            config.AddCommand<SweepCommand>("sweep").WithDescription("Ablation grid over lr, k, refresh, Hessian batch, alpha; table and report.");
            config.AddCommand<SpectrumCommand>("spectrum").WithDescription("Top-k eigenvalues and spectral density of H, G or F at one θ.");
            config.AddCommand<DecomposeCommand>("decompose").WithDescription("Curvature energy of H, G, F inside the dominant subspace of H.");
            config.AddBranch("bench", bench => bench.AddCommand<BenchAutodiffCommand>("autodiff").WithDescription("Gradient, HVP and block-HVP timings as JSON."));
            config.AddCommand<ExportDataCommand>("export-data").WithDescription("Write any --data spec as X.npy (float64) and y.npy (int64 labels or float64 targets).");
            config.AddCommand<InitCommand>("init").WithDescription("Write θ at the seeded default initialization as theta.npy and theta.npz.");
            config.AddCommand<ProductCommand>("grad").WithDescription("Write the gradient of the mean loss as grad.npy.");
            config.AddCommand<ProductCommand>("hvp").WithDescription("Write the Hessian-vector product H·v as hv.npy.");
            config.AddCommand<ProductCommand>("ggnvp").WithDescription("Write the Gauss-Newton product G·v as gv.npy.");
            config.AddCommand<ProductCommand>("fvp").WithDescription("Write the functional-Hessian product F·v as fv.npy.");
        });
        try
        {
            return app.Run(SingleLetterLongOptions(args));
        }
        catch (Exception e)
        {
            stderr.WriteLine("error: " + OneLine(e));
            if (Environment.GetEnvironmentVariable("CURVATURE_TRACE") == "1") stderr.WriteLine(e.ToString());
            return e is CommandParseException or CommandRuntimeException or ArgumentException or FormatException ? 2 : 1;
        }
    }

    /// <summary>
    /// The parser only accepts one-letter options in short form, but the shared spelling is
    /// `--k 10`: `--x` and `--x=v` with a single letter x become `-x` and `-x=v`.
    /// </summary>
    static string[] SingleLetterLongOptions(string[] args) => args
        .Select(a => a.Length >= 3 && a.StartsWith("--", StringComparison.Ordinal) && char.IsAsciiLetter(a[2]) && (a.Length == 3 || a[3] == '=') ? a[1..] : a)
        .ToArray();

    static string OneLine(Exception e)
    {
        var inner = e;
        while (inner is System.Reflection.TargetInvocationException or AggregateException && inner.InnerException != null)
            inner = inner.InnerException;
        string message = inner.Message;
        // ArgumentException appends " (Parameter 'x')"; our messages already name the argument.
        if (inner is ArgumentException { ParamName: { } name } && message.EndsWith($" (Parameter '{name}')", StringComparison.Ordinal))
            message = message[..^$" (Parameter '{name}')".Length];
        return message.ReplaceLineEndings(" ").Trim();
    }
}

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
            config.PropagateExceptions();
            config.AddCommand<InfoCommand>("info").WithDescription("Active BLAS backend, library, threads and SIMD support.");
            config.AddCommand<InitCommand>("init").WithDescription("Write θ at the seeded default initialization as .npy.");
            config.AddCommand<ProductCommand>("grad").WithDescription("Write the gradient of the mean loss as grad.npy.");
            config.AddCommand<ProductCommand>("hvp").WithDescription("Write the Hessian-vector product H·v as hv.npy.");
            config.AddCommand<ProductCommand>("ggnvp").WithDescription("Write the Gauss-Newton product G·v as gv.npy.");
            config.AddCommand<ProductCommand>("fvp").WithDescription("Write the functional-Hessian product F·v as fv.npy.");
        });
        try
        {
            return app.Run(args.Select(SpellOut));
        }
        catch (Exception e)
        {
            stderr.WriteLine("error: " + OneLine(e));
            return e is CommandParseException or CommandRuntimeException or ArgumentException or FormatException ? 2 : 1;
        }
    }

    // The issues spell the direction option `--v`; the parser wants long names of two or
    // more characters, so `--v` is accepted as the alias of `--vector`.
    static string SpellOut(string arg) =>
        arg == "--v" ? "--vector" : arg.StartsWith("--v=", StringComparison.Ordinal) ? "--vector=" + arg[4..] : arg;

    static string OneLine(Exception e)
    {
        var inner = e;
        while (inner is System.Reflection.TargetInvocationException or AggregateException && inner.InnerException != null)
            inner = inner.InnerException;
        return inner.Message.ReplaceLineEndings(" ").Trim();
    }
}

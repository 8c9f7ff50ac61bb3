using System.Runtime.Intrinsics.X86;
using Curvature.Core;
using Spectre.Console.Cli;

namespace Curvature.Cli;

internal sealed class InfoCommand : Command<InfoCommand.Settings>
{
    public sealed class Settings : CommandSettings { }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var b = Blas.Backend;
        Console.WriteLine($"backend:  {b.Name}");
        Console.WriteLine($"library:  {b.LibraryPath ?? "(none: managed code)"}");
        Console.WriteLine($"config:   {b.Config}");
        Console.WriteLine($"threads:  {b.Threads} (cores: {Environment.ProcessorCount})");
        Console.WriteLine($"probe:    {Blas.ProbeDiagnostics}");
        Console.WriteLine($"simd:     Vector<double>.Count={System.Numerics.Vector<double>.Count} avx2={Avx2.IsSupported} fma={Fma.IsSupported} avx512f={Avx512F.IsSupported}");
        return 0;
    }
}

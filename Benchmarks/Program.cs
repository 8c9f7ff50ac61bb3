using System.Globalization;
using Curvature.Benchmarks;

// `topk SOLVER [BLOCK|-] [BASIS|-] [TOL]` runs the issue-12 network top-10 once, outside BenchmarkDotNet's
// launcher, for quick side-by-side runs with torch_anchor.py eigsh (docs/benchmarks.md).
if (args.Length >= 2 && args[0] == "topk")
{
    int? Arg(int i) => args.Length > i && args[i] != "-" ? int.Parse(args[i], CultureInfo.InvariantCulture) : null;
    var bench = new NetworkTopKBenchmarks { Solver = args[1], BlockSize = Arg(2), MaxBasisSize = Arg(3) };
    bench.ProbeComplement = Environment.GetEnvironmentVariable("TOPK_NOPROBE") != "1";
    if (args.Length > 4) bench.Tolerance = double.Parse(args[4], CultureInfo.InvariantCulture);
    bench.Setup();
    if (Environment.GetEnvironmentVariable("TOPK_WARM") == "1") bench.WarmAfterOneStep();
    else bench.Cold();
    return;
}
BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

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
// `refreshlog THETA|- [STEPS] [TOL]`: issue 20's Bulk-SGD loop with one line per refresh;
// `blockcost [REPEAT] [WIDTHS…]`: ApplyBlock's cost by width on its Hessian (docs/benchmarks.md);
// `refreshcost [M] [TOL] [T] [ETA] [N]`: a warm refresh's time inside and outside its products.
if (args.Length >= 2 && args[0] == "refreshlog")
{
    RefreshLog.Run(args[1], args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 200,
        args.Length > 3 ? double.Parse(args[3], CultureInfo.InvariantCulture) : 1e-4);
    return;
}
if (args.Length >= 1 && args[0] == "refreshcost")
{
    double D(int i, double d) => args.Length > i ? double.Parse(args[i], CultureInfo.InvariantCulture) : d;
    RefreshCost.Run((int)D(1, 1000), D(2, 1e-4), (int)D(3, 10), D(4, 0.1), (int)D(5, 12));
    return;
}
if (args.Length >= 1 && args[0] == "blockcost")
{
    int repeat = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5;
    int[] widths = args.Length > 2 ? [.. args[2..].Select(a => int.Parse(a, CultureInfo.InvariantCulture))] : [1, 2, 4, 6, 8, 10, 12, 16, 20];
    RefreshLog.BlockCost(widths, repeat);
    return;
}
BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

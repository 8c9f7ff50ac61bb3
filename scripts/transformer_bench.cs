#:project ../Models/Curvature.Models.csproj
// Times gradient, H·v and a block of 10 H·v of a Transformer on spam data through the
// library (Objective), as JSON: the C# side of docs/benchmarks.md's Transformer table.
//   dotnet run scripts/transformer_bench.cs -c Release -- [ARCH] [DATA] [REPS]
// defaults: spam-e64-t8f256x2-2 (Song et al.: 2 layers, d 64, 8 heads, ff 256), spam:1000, 5.
// The minimum over REPS timed calls after one warm-up call is reported, wall time and the
// process CPU time (all threads) of the same call.
using System.Diagnostics;
using System.Globalization;
using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;

string arch = args.Length > 0 ? args[0] : "spam-e64-t8f256x2-2";
string data = args.Length > 1 ? args[1] : "spam:1000";
int reps = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 5;
var model = Architecture.Parse(arch, Activation.Gelu);
var set = DataSpec.Parse(data);
var objective = new Objective(model, LossKind.CrossEntropy, set);
var theta = model.Initialize(0);
int n = model.ParameterCount;
var v = new double[10 * n];
new Rng(1).FillGaussian(v);
var gradient = new double[n];
var products = new double[10 * n];

(double Wall, double Cpu) Best(Action f)
{
    f();
    var best = (Wall: double.MaxValue, Cpu: 0.0);
    var process = Process.GetCurrentProcess();
    for (int i = 0; i < reps; i++)
    {
        process.Refresh();
        var cpu = process.TotalProcessorTime;
        long t = Stopwatch.GetTimestamp();
        f();
        double wall = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
        process.Refresh();
        if (wall < best.Wall) best = (wall, (process.TotalProcessorTime - cpu).TotalMilliseconds);
    }
    return best;
}

var g = Best(() => objective.LossAndGradient(theta, gradient));
var h = Best(() => objective.HessianVectorProduct(theta, v.AsSpan(0, n), products.AsSpan(0, n)));
var b = Best(() => objective.CurvatureBlockProduct(CurvatureKind.Hessian, theta, v, 10, products));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"{{\"arch\": \"{arch}\", \"data\": \"{data}\", \"parameters\": {n}, \"blas\": \"{Blas.Backend.Name}\", \"threads\": {Blas.Threads}, \"gradient_ms\": {g.Wall:F1}, \"hvp_ms\": {h.Wall:F1}, \"block10_ms\": {b.Wall:F1}, \"gradient_cpu_ms\": {g.Cpu:F1}, \"hvp_cpu_ms\": {h.Cpu:F1}, \"block10_cpu_ms\": {b.Cpu:F1}, \"hvp_over_gradient\": {h.Wall / g.Wall:F2}, \"block10_over_hvp\": {b.Wall / h.Wall:F2}}}"));

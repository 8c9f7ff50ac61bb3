#:project ../Core/Curvature.Core.csproj
// GEMM routing sweep (docs/benchmarks.md, "GEMM routing on a Zen 4"): OpenBLAS against the
// managed kernel on one thread, over square sizes and the shapes the MLP (chunk 500) and the
// spam Transformer (R = 500 sequences × L tokens rows) run, timed in thread CPU time (the
// steady figure on a shared machine): best of 3 × 5 rounds of enough calls for 0.2 GFLOP.
//   dotnet run scripts/gemm_routing_sweep.cs -c Release -- [R]      (default R = 10000)
using System.Diagnostics;
using System.Runtime.InteropServices;
using Curvature.Core;
var N = Transpose.No; var Y = Transpose.Yes;
int R = int.Parse(args.Length > 0 ? args[0] : "10000");
var shapes = new (string name, Transpose ta, Transpose tb, int m, int n, int k)[]
{
    ("sq64", N, N, 64, 64, 64), ("sq128", N, N, 128,128,128), ("sq256", N, N, 256,256,256), ("sq512", N,N,512,512,512),
    ("mlp fwd1", N, Y, 500, 200, 784), ("mlp fwd2", N, Y, 500, 200, 200), ("mlp bwdX2", N, N, 500, 200, 200),
    ("mlp dW1", Y, N, 200, 784, 500), ("mlp dW2", Y, N, 200, 200, 500),
    ("tf qkv", N, Y, R, 192, 64), ("tf out", N, Y, R, 64, 64), ("tf lin1", N, Y, R, 256, 64), ("tf lin2", N, Y, R, 64, 256),
    ("tf bX qkv", N, N, R, 64, 192), ("tf bX lin1", N, N, R, 64, 256), ("tf bX lin2", N, N, R, 256, 64),
    ("tf dW qkv", Y, N, 192, 64, R), ("tf dW out", Y, N, 64, 64, R), ("tf dW lin1", Y, N, 256, 64, R), ("tf dW lin2", Y, N, 64, 256, R),
};
var native = (BlasBackend)Blas.Native!; var managed = (BlasBackend)Blas.Managed;
Console.WriteLine($"native {native.Name}, managed {managed.Config}");
using var one = Blas.UseThreads(1);
foreach (var s in shapes)
{
    int ar = s.ta == N ? s.m : s.k, ac = s.ta == N ? s.k : s.m;
    int br = s.tb == N ? s.k : s.n, bc = s.tb == N ? s.n : s.k;
    var a = new double[ar * ac]; var b = new double[br * bc]; var c = new double[s.m * s.n];
    var rng = new Rng(1); rng.FillGaussian(a); rng.FillGaussian(b);
    double flops = 2.0 * s.m * s.n * s.k;
    int reps = Math.Max(3, (int)(2e8 / flops));
    double best(BlasBackend be) { double bt = double.MaxValue; for (int round = 0; round < 5; round++) { var t = Cpu.Now(); for (int i = 0; i < reps; i++) be.Gemm(s.ta, s.tb, s.m, s.n, s.k, 1.0, a, ac, b, bc, 0.0, c, s.n); bt = Math.Min(bt, (Cpu.Now() - t) / reps); } return bt; }
    best(native); best(managed);
    double tn = double.MaxValue, tm = double.MaxValue;
    for (int i = 0; i < 3; i++) { tn = Math.Min(tn, best(native)); tm = Math.Min(tm, best(managed)); }
    Console.WriteLine($"{s.name,-12} {s.m,6}x{s.n,4}x{s.k,6} {s.ta}{s.tb}: native {flops/tn/1e9,6:F1}  managed {flops/tm/1e9,6:F1} GFLOP/s  managed/native time {tm/tn:F2}");
}

static class Cpu
{
    [StructLayout(LayoutKind.Sequential)] struct TimeSpec { public long S; public long Ns; }
    [DllImport("libc", EntryPoint = "clock_gettime")] static extern int ClockGetTime(int clock, out TimeSpec t);
    public static double Now() { ClockGetTime(3, out var t); return t.S + t.Ns * 1e-9; }
}

using System.Diagnostics;
using System.Globalization;
using Curvature.Core;
using Curvature.Models;
using Curvature.Spectral;

namespace Curvature.Benchmarks;

/// <summary>
/// Where a warm refresh's time goes: <see cref="WarmRefresh.TopK"/> on the Hessian of issue 20's
/// network (784-200-200-10 tanh, mse, mnist:5000, Hessian batch m) after every T SGD steps
/// (batch 128), its operator wrapped so that the time inside ApplyBlock is counted apart from
/// the rest (Rayleigh–Ritz, orthogonalization, residuals, copies). Medians over the warm refreshes.
/// </summary>
public static class RefreshCost
{
    /// <summary>Runs <paramref name="refreshes"/> warm refreshes, <paramref name="every"/> SGD steps (η = <paramref name="lr"/>) apart.</summary>
    public static void Run(int hessianBatch, double tolerance, int every, double lr, int refreshes)
    {
        var inv = CultureInfo.InvariantCulture;
        const int k = 10;
        var objective = new Objective(Mlp.Parse("784-200-200-10", Activation.Tanh), LossKind.MeanSquaredError, DataSpec.Parse("mnist:5000"));
        var theta = ((Mlp)objective.Model).Initialize(0);
        var batch = CurvatureBatch.Draw(0, objective.ExampleCount, hessianBatch);
        int n = theta.Length, g = WarmRefresh.DefaultGuard(k);
        var cold = BlockLanczos.TopK(objective.CurvatureOperator(Curvature.Autodiff.CurvatureKind.Hessian, theta, batch), k, new EigenOptions { Tolerance = tolerance, Seed = 1 });
        var start = new double[(k + g) * n];
        cold.Vectors.AsSpan(0, k * n).CopyTo(start);
        WarmRefresh.RandomGuard(cold.Vectors.AsSpan(0, k * n).ToArray(), k, g, 2).CopyTo(start.AsSpan(k * n));
        var gradient = new double[n];
        var rng = new Rng(3);
        var workspace = new WarmRefreshWorkspace();
        var wall = new List<double>();
        var products = new List<double>();
        var columns = new List<int>();
        ulong fingerprint = 14695981039346656037UL;
        void Mix(double v) => fingerprint = (fingerprint ^ (ulong)BitConverter.DoubleToInt64Bits(v)) * 1099511628211UL;
        Console.WriteLine($"load {File.ReadAllText("/proc/loadavg").Trim()}");
        for (int r = 0; r < refreshes; r++)
        {
            for (int s = 0; s < every; s++)
            {
                var examples = new int[128];
                for (int i = 0; i < examples.Length; i++) examples[i] = rng.NextInt(objective.ExampleCount);
                objective.LossAndGradient(theta, gradient, examples);
                Blas.Axpy(-lr, gradient, theta);
            }
            var op = new TimedOperator(objective.CurvatureOperator(Curvature.Autodiff.CurvatureKind.Hessian, theta, batch));
            long t0 = Stopwatch.GetTimestamp();
            var w = WarmRefresh.TopK(op, k, new EigenOptions { Tolerance = tolerance, Seed = (ulong)r + 10, StartBlock = start, BlockSize = k + g }, guardIsNew: r == 0, workspace);
            double ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            foreach (double v in w.Result.Values) Mix(v);
            foreach (double v in w.Result.Vectors) Mix(v);
            w.Result.Vectors.AsSpan(0, k * n).CopyTo(start);
            w.Guard.AsSpan(0, g * n).CopyTo(start.AsSpan(k * n));
            Console.WriteLine(string.Create(inv, $"refresh {r,2}: {w.Result.Matvecs,2} columns [{string.Join(",", w.BlockWidths)}], gap-certified {w.GapCertified}, wall {ms:F0} ms, in products {op.Seconds * 1e3:F0} ms, outside {ms - op.Seconds * 1e3:F0} ms"));
            if (r == 0) continue;
            wall.Add(ms);
            products.Add(op.Seconds * 1e3);
            columns.Add(w.Result.Matvecs);
        }
        static double Median(List<double> v) { var a = v.Order().ToArray(); return a[a.Length / 2]; }
        var outside = wall.Zip(products, (a, b) => a - b).ToList();
        Console.WriteLine(string.Create(inv, $"median of {wall.Count} warm refreshes: wall {Median(wall):F0} ms, in products {Median(products):F0} ms, outside {Median(outside):F0} ms ({Median(outside) / Median(wall):P0}); columns {columns.Min()}–{columns.Max()}"));
        // FNV-1a over the bits of every refresh's values and vectors: equal across builds and thread counts means equal bits.
        Console.WriteLine(string.Create(inv, $"fingerprint of every refresh's values and vectors: {fingerprint:x16}"));
        Console.WriteLine($"load {File.ReadAllText("/proc/loadavg").Trim()}");
    }
}

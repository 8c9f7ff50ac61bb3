using System.Diagnostics;
using System.Globalization;
using Curvature.Core;
using Curvature.Models;
using Curvature.Optimizers;
using Curvature.Spectral;

namespace Curvature.Benchmarks;

/// <summary>
/// Issue 20's headline loop (Bulk-SGD, 784-200-200-10 tanh, mse, mnist:5000, batch 128, η = 0.1,
/// k = 10, T = 10, Hessian batch 1000, tolerance 1e-4) run outside BenchmarkDotNet, printing one
/// line per refresh: the block products and their widths, the expansion steps, whether the gap
/// certified the set, and the relative residuals after the first Rayleigh–Ritz step. Also the
/// cost of <see cref="ILinearOperator.ApplyBlock"/> by width on the same operator.
/// </summary>
public static class RefreshLog
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    static Objective Problem() =>
        new(Mlp.Parse("784-200-200-10", Activation.Tanh), LossKind.MeanSquaredError, DataSpec.Parse("mnist:5000"));

    /// <summary>Runs <paramref name="steps"/> Bulk-SGD steps from θ in <paramref name="thetaPath"/> (or θ₀ of seed 0 for "-"), logging every refresh.</summary>
    public static void Run(string thetaPath, int steps, double tolerance)
    {
        var objective = Problem();
        var theta = thetaPath == "-" ? ((Mlp)objective.Model).Initialize(0) : Npy.ReadVector(thetaPath);
        var options = new TrainerOptions
        {
            Step = new StepOptions { Kind = OptimizerKind.Bulk, LearningRate = 0.1 },
            Tracker = new TrackerOptions { K = 10, RefreshEvery = 10, HessianBatch = 1000, Tolerance = tolerance, Seed = unchecked(0UL + 0x7472616B6572UL) },
            BatchSize = 128,
            Steps = steps,
            EvalEvery = 10,
            Seed = 0,
        };
        var trainer = new Trainer(objective, null, options, theta);
        Console.WriteLine($"load {File.ReadAllText("/proc/loadavg").Trim()}");
        long t0 = Stopwatch.GetTimestamp();
        int done = 0;
        for (long until = 0; until <= steps; until += 10)
        {
            trainer.Run(untilStep: until);
            var t = trainer.Tracker!;
            if (t.Refreshes == done) continue;
            done = t.Refreshes;
            string line = string.Create(Inv, $"step {trainer.Step,4} refresh {t.Refreshes,2}: {t.LastMatvecs,3} applications, widths [{string.Join(",", t.LastBlockWidths)}], certified {t.LastCertified}, gap-certified {t.LastGapCertified}, λ1 {t.Eigenvalues[0]:F3} λ10 {t.Eigenvalues[9]:F3}");
            if (t.LastWarmRefresh is { } w)
            {
                int k = t.Options.K;
                var rel = w.FirstResiduals.Select((r, i) => r / Math.Abs(w.FirstValues[i])).ToArray();
                line += string.Create(Inv, $", expansions {w.Expansions}, guard θ11 {(w.FirstValues.Length > k ? w.FirstValues[k] : double.NaN):F3}, first RR r/|θ| wanted [{string.Join(" ", rel[..k].Select(x => x.ToString("0.0e0", Inv)))}] guard [{string.Join(" ", rel[k..].Select(x => x.ToString("0.0e0", Inv)))}]");
                if (!w.GapCertified) line += " | " + w.Result.Certificate;
            }
            Console.WriteLine(line);
        }
        var tr = trainer.Tracker!;
        Console.WriteLine(string.Create(Inv, $"total {tr.Matvecs} applications over {tr.Refreshes} refreshes, gap-certified {tr.GapCertifiedRefreshes}, wall {Stopwatch.GetElapsedTime(t0).TotalSeconds:F2} s, final loss {trainer.LastMetrics?.TrainLoss:F6}, load {File.ReadAllText("/proc/loadavg").Trim()}"));
    }

    /// <summary>
    /// Median wall time of ApplyBlock by width on the Hessian at θ₀ (batch 1000), in single-H·v
    /// units; the widths are timed in interleaved rounds so that a change of machine load hits all alike.
    /// </summary>
    public static void BlockCost(int[] widths, int repeat)
    {
        var objective = Problem();
        var theta = ((Mlp)objective.Model).Initialize(0);
        var batch = CurvatureBatch.Draw(0, objective.ExampleCount, 1000);
        var op = objective.CurvatureOperator(Curvature.Autodiff.CurvatureKind.Hessian, theta, batch);
        int n = op.Size, maxW = widths.Max();
        var x = new double[maxW * n];
        var y = new double[maxW * n];
        new Rng(1).FillGaussian(x);
        int[] all = [1, .. widths.Where(w => w > 1).Distinct()];
        var times = all.Select(_ => new double[repeat]).ToArray();
        foreach (int w in all) op.ApplyBlock(x.AsSpan(0, w * n), y.AsSpan(0, w * n), w);
        Console.WriteLine($"load {File.ReadAllText("/proc/loadavg").Trim()}");
        for (int round = 0; round < repeat; round++)
            for (int j = 0; j < all.Length; j++)
            {
                long t0 = Stopwatch.GetTimestamp();
                op.ApplyBlock(x.AsSpan(0, all[j] * n), y.AsSpan(0, all[j] * n), all[j]);
                times[j][round] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
        foreach (var t in times) Array.Sort(t);
        double single = times[0][repeat / 2];
        Console.WriteLine(string.Create(Inv, $"width  1: {single:F1} ms (median of {repeat})"));
        for (int j = 1; j < all.Length; j++)
        {
            double ms = times[j][repeat / 2];
            Console.WriteLine(string.Create(Inv, $"width {all[j],2}: {ms:F1} ms = {ms / single:F2} H·v ({ms / single / all[j]:F3} per column)"));
        }
        Console.WriteLine($"load {File.ReadAllText("/proc/loadavg").Trim()}");
    }
}

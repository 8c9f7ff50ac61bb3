using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using Curvature.Models;
using Curvature.Optimizers;
using Curvature.Spectral;

namespace Curvature.Benchmarks;

/// <summary>
/// One training step on 784-200-200-10 tanh / mse / mnist:5000, batch 128: plain SGD, Bulk-SGD
/// projecting onto a fixed basis (k = 10), and Bulk-SGD refreshing its basis every step on a
/// fixed 1000-example Hessian batch with Lanczos or LOBPCG, cold or warm-started. Each
/// invocation is the next step of one continuing run, so warm starts see the previous step's
/// basis. Matvecs per refresh are printed at cleanup.
/// </summary>
[Config(typeof(OneStepPerIteration))]
[MemoryDiagnoser]
public class OptimizerBenchmarks
{
    /// <summary>A step is seconds long and changes the state, so each iteration is exactly one step.</summary>
    sealed class OneStepPerIteration : ManualConfig
    {
        public OneStepPerIteration() => AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(8).WithInvocationCount(1).WithUnrollFactor(1));
    }

    [Params("sgd", "bulk-fixed-basis", "bulk-lanczos-cold", "bulk-lanczos-warm", "bulk-lobpcg-cold", "bulk-lobpcg-warm")]
    public string Case { get; set; } = "sgd";

    Trainer _trainer = null!;
    long _setupMatvecs;
    int _setupRefreshes;

    [GlobalSetup]
    public void Setup()
    {
        var model = Mlp.Parse("784-200-200-10", Activation.Tanh);
        var objective = new Objective(model, LossKind.MeanSquaredError, DataSpec.Parse("mnist:5000"));
        var parts = Case.Split('-');
        var tracker = Case == "sgd" ? null : new TrackerOptions
        {
            K = 10,
            RefreshEvery = Case == "bulk-fixed-basis" ? 1_000_000 : 1,
            HessianBatch = 1000,
            Solver = parts.Length > 1 ? Eigensolver.Parse(parts[1], "solver") : Eigensolver.Default,
            WarmStart = Case.EndsWith("warm", StringComparison.Ordinal),
            Tolerance = 1e-4,
            Seed = 1,
        };
        var options = new TrainerOptions
        {
            Step = new StepOptions { Kind = Case == "sgd" ? OptimizerKind.Sgd : OptimizerKind.Bulk, LearningRate = 0.05 },
            Tracker = tracker,
            BatchSize = 128,
            Steps = 1_000_000,
            EvalEvery = int.MaxValue,
            Seed = 1,
        };
        _trainer = new Trainer(objective, null, options, model.Initialize(1));
        // The first step computes the initial basis (always cold), the step-0 metrics row and,
        // refreshing every step, the basis at step 1 (warm-started from the initial one when warm).
        _trainer.Run(untilStep: 1);
        _setupMatvecs = _trainer.Tracker?.Matvecs ?? 0;
        _setupRefreshes = _trainer.Tracker?.Refreshes ?? 0;
    }

    [Benchmark]
    public void Step() => _trainer.Run(untilStep: _trainer.Step + 1);

    [GlobalCleanup]
    public void Report()
    {
        if (_trainer.Tracker is not { } t || t.Refreshes <= _setupRefreshes) return;
        int refreshes = t.Refreshes - _setupRefreshes;
        double perRefresh = (double)(t.Matvecs - _setupMatvecs) / refreshes;
        Console.WriteLine($"// {Case}: {refreshes} measured refreshes, {perRefresh:F1} matvecs per refresh; setup: {_setupRefreshes} refreshes, {_setupMatvecs} matvecs; converged {t.Converged}/{t.Options.K}; λ1 = {t.Eigenvalues[0]:G6}");
    }
}

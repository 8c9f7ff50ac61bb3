using Curvature.Core;

namespace Curvature.Cli.Experiments;

/// <summary>The options every training experiment shares (one spelling across compare and sweep).</summary>
public sealed record ExperimentOptions
{
    public string Arch { get; init; } = "196-32-32-10";
    public string Activation { get; init; } = "tanh";
    public string Loss { get; init; } = "mse";
    public string Data { get; init; } = "mnist14:2000";
    public string? TestData { get; init; } = "mnist14-test";
    public double LearningRate { get; init; } = 0.5;
    public int Batch { get; init; } = 100;
    public int Steps { get; init; } = 1000;
    public int K { get; init; } = 10;
    public int Refresh { get; init; } = 10;
    public int? HessianBatch { get; init; } = 500;
    public int? EvalEvery { get; init; }
    public double Tolerance { get; init; } = 1e-4;
    public ulong Seed { get; init; }
    public int Threads { get; init; }
    public string Out { get; init; } = "runs/compare";

    /// <summary>Metrics every this many steps: the option, or about 50 points per run.</summary>
    public int EvalEveryOrDefault => EvalEvery ?? Math.Max(1, Steps / 50);

    /// <summary>Checks signs and ranges that need no data; names the option.</summary>
    public void Validate()
    {
        if (!(LearningRate > 0) || !double.IsFinite(LearningRate))
            throw new ArgumentOutOfRangeException("lr", $"Option '--lr' was {SweepGrid.Show(LearningRate)}; expected a positive finite learning rate.");
        if (Batch < 1) throw new ArgumentOutOfRangeException("batch", $"Option '--batch' was {Batch}; expected a positive integer.");
        if (Steps < 1) throw new ArgumentOutOfRangeException("steps", $"Option '--steps' was {Steps}; expected a positive integer.");
        if (K < 1) throw new ArgumentOutOfRangeException("k", $"Option '--k' was {K}; expected a positive integer below the parameter count.");
        if (Refresh < 1) throw new ArgumentOutOfRangeException("refresh", $"Option '--refresh' was {Refresh}; expected a positive integer.");
        if (HessianBatch is int hb && hb < 0)
            throw new ArgumentOutOfRangeException("hessian-batch", $"Option '--hessian-batch' was {hb}; expected a positive integer, or 0 for every training example.");
        if (EvalEvery is int e && e < 1) throw new ArgumentOutOfRangeException("eval-every", $"Option '--eval-every' was {e}; expected a positive integer.");
        if (!(Tolerance > 0)) throw new ArgumentOutOfRangeException("tolerance", $"Option '--tolerance' was {SweepGrid.Show(Tolerance)}; expected a positive number.");
        if (Threads < 0) throw new ArgumentOutOfRangeException("threads", $"Option '--threads' was {Threads}; expected 0 (all cores) or a positive count.");
        if (string.IsNullOrWhiteSpace(Out)) throw new ArgumentException("Option '--out' was empty; expected an output directory.", "out");
    }

    /// <summary>Checks what needs the network and data: k below n, batches within the data.</summary>
    public void Validate(Problem problem)
    {
        problem.CheckK(K);
        int n = problem.Train.Count;
        if (Batch > n)
            throw new ArgumentOutOfRangeException("batch", $"Option '--batch' was {Batch}; expected at most the {n} training examples of '{Data}'.");
        if (HessianBatch is int hb && hb > n)
            throw new ArgumentOutOfRangeException("hessian-batch", $"Option '--hessian-batch' was {hb}; expected at most the {n} training examples of '{Data}'.");
    }

    public Problem LoadProblem() => Problem.Load(Arch, Activation, Loss, Data, TestData, Threads);

    /// <summary>Null (every example) for 0 or a batch as large as the data.</summary>
    public int? EffectiveHessianBatch(int examples) => HessianBatch is int hb && hb > 0 && hb < examples ? hb : null;

    public Optimizers.TrainingConfig ToTrainingConfig(OptimizerSpec spec, string outDir, int examples) => new()
    {
        Arch = Arch,
        Activation = Activation,
        Loss = Loss,
        Data = Data,
        TestData = TestData,
        Optimizer = spec.Optimizer,
        AlphaDom = spec.Optimizer == "interp" ? spec.AlphaDom : null,
        AlphaBulk = spec.Optimizer == "interp" ? spec.AlphaBulk : null,
        LearningRate = LearningRate,
        Batch = Batch,
        Steps = Steps,
        K = K,
        Refresh = Refresh,
        HessianBatch = EffectiveHessianBatch(examples),
        Tolerance = Tolerance,
        EvalEvery = EvalEveryOrDefault,
        Seed = Seed,
        Threads = Threads,
        Out = outDir,
    };

    /// <summary>
    /// Native BLAS on one thread for the command's duration, whatever --threads says: OpenBLAS
    /// splits reductions differently on 1 and 2 threads, and the bits must not depend on the
    /// thread count. --threads sets the Objective's chunk workers instead.
    /// </summary>
    public IDisposable? UseThreads() => Blas.UseThreads(1);
}

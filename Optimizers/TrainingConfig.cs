using System.Globalization;
using System.Text.Json.Serialization;
using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;

namespace Curvature.Optimizers;

/// <summary>
/// One training run as the `train` command (and `compare`/`sweep`) describe it: model, data,
/// rule, tracker, schedule and outputs, with the CLI's option names. Serialized as config.json.
/// </summary>
public sealed record TrainingConfig
{
    public string Arch { get; init; } = "784-200-200-10";
    public string Activation { get; init; } = "tanh";
    public string Loss { get; init; } = "mse";
    public string Data { get; init; } = "mnist:5000";
    public string? TestData { get; init; }

    /// <summary>sgd, dom, bulk or interp.</summary>
    public string Optimizer { get; init; } = "sgd";

    /// <summary>α_dom and α_bulk, given exactly when <see cref="Optimizer"/> is interp.</summary>
    public double? AlphaDom { get; init; }
    public double? AlphaBulk { get; init; }

    public double LearningRate { get; init; } = 0.01;
    public int Batch { get; init; } = 128;
    public int Steps { get; init; } = 1000;

    /// <summary>Dimension of the dominant subspace; 0 (SGD only) runs no tracker.</summary>
    public int K { get; init; } = 10;
    public int Refresh { get; init; } = 10;

    /// <summary>Examples in the fixed curvature batch; null means all training examples.</summary>
    public int? HessianBatch { get; init; }

    /// <summary>lanczos or lobpcg.</summary>
    public string Solver { get; init; } = "lanczos";

    /// <summary>hessian or gn (Gauss–Newton).</summary>
    public string Curvature { get; init; } = "hessian";

    public double Tolerance { get; init; } = 1e-4;
    public bool WarmStart { get; init; } = true;
    public double Momentum { get; init; }
    public double WeightDecay { get; init; }
    public int Warmup { get; init; }
    public double? SwitchChi { get; init; }
    public double ChiEma { get; init; } = 0.9;
    public int EvalEvery { get; init; } = 100;
    public double DivergenceFactor { get; init; } = 100;
    public ulong Seed { get; init; }

    /// <summary>Threads for the objective and BLAS; 0 keeps the defaults.</summary>
    public int Threads { get; init; }

    /// <summary>Output directory.</summary>
    public string Out { get; init; } = "";

    /// <summary>Initial θ as a float64 .npy vector instead of the seeded initialization.</summary>
    public string? Init { get; init; }

    /// <summary>Also write the final θ as theta.npy.</summary>
    public bool SaveTheta { get; init; }

    /// <summary>A checkpoint to continue from (the other options must match those it was written with).</summary>
    public string? Resume { get; init; }

    /// <summary>Also write the checkpoint every this many steps; 0 writes it only at the end.</summary>
    public int CheckpointEvery { get; init; }

    [JsonIgnore]
    public OptimizerKind OptimizerKind => Optimizer switch
    {
        "sgd" => OptimizerKind.Sgd,
        "dom" => OptimizerKind.Dom,
        "bulk" => OptimizerKind.Bulk,
        "interp" => OptimizerKind.Interp,
        _ => throw new ArgumentException($"Option 'optimizer' was '{Optimizer}'; expected sgd, dom, bulk or interp.", "optimizer"),
    };

    [JsonIgnore]
    public EigenSolverKind SolverKind => Solver switch
    {
        "lanczos" => EigenSolverKind.Lanczos,
        "lobpcg" => EigenSolverKind.Lobpcg,
        _ => throw new ArgumentException($"Option 'solver' was '{Solver}'; expected lanczos or lobpcg.", "solver"),
    };

    [JsonIgnore]
    public CurvatureKind CurvatureKind => Curvature switch
    {
        "hessian" => CurvatureKind.Hessian,
        "gn" => CurvatureKind.GaussNewton,
        _ => throw new ArgumentException($"Option 'curvature' was '{Curvature}'; expected hessian or gn.", "curvature"),
    };

    /// <summary>
    /// Checks what can be checked without loading data: names, signs, ranges, files that must
    /// exist. Throws an ArgumentException (or FileNotFoundException) naming the option, the value
    /// and what was expected.
    /// </summary>
    public void Validate()
    {
        var kind = OptimizerKind;
        _ = SolverKind;
        _ = CurvatureKind;
        if (string.IsNullOrWhiteSpace(Out))
            throw new ArgumentException("Option 'out' is missing; expected an output directory.", "out");
        if (kind == OptimizerKind.Interp && (AlphaDom is null || AlphaBulk is null))
            throw new ArgumentException($"Option '{(AlphaDom is null ? "alpha-dom" : "alpha-bulk")}' is missing; expected both --alpha-dom and --alpha-bulk with --optimizer interp.", AlphaDom is null ? "alpha-dom" : "alpha-bulk");
        if (kind != OptimizerKind.Interp && (AlphaDom is not null || AlphaBulk is not null))
            throw new ArgumentException($"Option '{(AlphaDom is not null ? "alpha-dom" : "alpha-bulk")}' was given with --optimizer {Optimizer}; expected it only with --optimizer interp.", AlphaDom is not null ? "alpha-dom" : "alpha-bulk");
        Guard.Positive(LearningRate, "lr");
        Guard.Positive(Batch, "batch");
        Guard.NonNegative(Steps, "steps");
        Guard.NonNegative(K, "k");
        if (K == 0 && StepOptions().NeedsSubspace)
            throw new ArgumentOutOfRangeException("k", $"Option 'k' was 0; expected k ≥ 1 for --optimizer {Optimizer}, which projects onto the top-k subspace.");
        Guard.Positive(Refresh, "refresh");
        if (HessianBatch is int hb) Guard.Positive(hb, "hessian-batch");
        Guard.Positive(Tolerance, "tolerance");
        Guard.NonNegative(Threads, "threads");
        Guard.NonNegative(CheckpointEvery, "checkpoint-every");
        StepOptions().Validate();
        if (Init is not null && !File.Exists(Init))
            throw new FileNotFoundException($"Option 'init' names '{Init}', which does not exist; expected a float64 .npy vector of θ.", Init);
        if (Resume is not null && !File.Exists(Resume))
            throw new FileNotFoundException($"Option 'resume' names '{Resume}', which does not exist; expected a checkpoint written by `curvature train`.", Resume);
        if (Init is not null && Resume is not null)
            throw new ArgumentException($"Options 'init' ('{Init}') and 'resume' ('{Resume}') were both given; expected at most one (a checkpoint holds its own θ).", "init");
    }

    public StepOptions StepOptions() => new()
    {
        Kind = OptimizerKind,
        AlphaDom = AlphaDom ?? 1.0,
        AlphaBulk = AlphaBulk ?? 1.0,
        LearningRate = LearningRate,
        WarmupSteps = Warmup,
        Momentum = Momentum,
        WeightDecay = WeightDecay,
        SwitchChi = SwitchChi,
        ChiEmaDecay = ChiEma,
    };

    public TrainerOptions TrainerOptions() => new()
    {
        Step = StepOptions(),
        Tracker = K == 0 ? null : new TrackerOptions
        {
            Kind = CurvatureKind,
            K = K,
            RefreshEvery = Refresh,
            HessianBatch = HessianBatch,
            Solver = SolverKind,
            WarmStart = WarmStart,
            Tolerance = Tolerance,
            Seed = unchecked(Seed + 0x7472616B6572UL),
        },
        BatchSize = Batch,
        Steps = Steps,
        EvalEvery = EvalEvery,
        Seed = Seed,
        DivergenceFactor = DivergenceFactor,
    };

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Optimizer} {Arch} {Activation} {Loss} {Data} lr={LearningRate} batch={Batch} steps={Steps} k={K} seed={Seed}");
}

using System.Globalization;
using System.Text.Json.Serialization;
using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using Curvature.Optimizers;
using Curvature.Spectral;

namespace Curvature.Experiments;

/// <summary>
/// One training run, completely and typed: network, data, loss, update rule, schedule,
/// dominant-subspace tracker, measurement cadence, seed and threads. It is what a run's
/// config.json holds (<see cref="RunJson.Options"/>: snake_case fields, enums by their
/// command-line names, so "optimizer": "bulk" and "curvature": "h"). Every default is the typed
/// layer's own (<see cref="StepOptions"/>, <see cref="TrackerOptions"/>, <see cref="Optimizers.TrainerOptions"/>);
/// <see cref="Validate"/> checks what that layer does not, and its errors name the field
/// (<c>ArgumentException.ParamName</c>), which the CLI maps to its flag.
/// </summary>
public sealed record RunSpec
{
    static readonly StepOptions Step0 = new();
    static readonly TrackerOptions Tracker0 = new();
    static readonly TrainerOptions Trainer0 = new();

    /// <summary>Default <see cref="Arch"/>, as a constant so help pages can show it.</summary>
    public const string DefaultArch = "196-32-32-10";

    /// <summary>Default <see cref="Data"/>.</summary>
    public const string DefaultData = "mnist14:2000";

    /// <summary>
    /// The value of <see cref="TestData"/> that means "the training data's own test set"
    /// (<see cref="DataSpec.DefaultTestSet"/>: mnist14 → mnist14-test, fashion → fashion-test, none
    /// for gmm, teacher and npy); <see cref="Resolved"/> replaces it by that set or null.
    /// </summary>
    public const string FamilyTestData = "auto";

    /// <summary>Architecture string (<c>--arch</c>): input width, hidden widths, classes, e.g. 196-32-32-10, or a CNN.</summary>
    public string Arch { get; init; } = DefaultArch;

    /// <summary>Hidden activation (<c>--act</c>).</summary>
    public Activation Activation { get; init; } = Activation.Tanh;

    /// <summary>Loss (<c>--loss</c>): ce, mse (mean over examples of ½‖z − t‖²) or torch-mse (PyTorch's nn.MSELoss()).</summary>
    public LossKind Loss { get; init; } = LossKind.MeanSquaredError;

    /// <summary>Training data spec (<c>--data</c>), e.g. mnist14:2000.</summary>
    public string Data { get; init; } = DefaultData;

    /// <summary>Test data spec (<c>--test-data</c>); null for no test set, <see cref="FamilyTestData"/> for the training data's own test set.</summary>
    public string? TestData { get; init; } = FamilyTestData;

    /// <summary>Update rule (<c>--optimizer</c>).</summary>
    public OptimizerKind Optimizer { get; init; } = Step0.Kind;

    /// <summary>α_dom (<c>--alpha-dom</c>), given exactly when <see cref="Optimizer"/> is interp.</summary>
    public double? AlphaDom { get; init; }

    /// <summary>α_bulk (<c>--alpha-bulk</c>), given exactly when <see cref="Optimizer"/> is interp.</summary>
    public double? AlphaBulk { get; init; }

    /// <summary>Base learning rate η (<c>--lr</c>).</summary>
    public double LearningRate { get; init; } = Step0.LearningRate;

    /// <summary>Steps of linear learning-rate warm-up (<c>--warmup</c>).</summary>
    public int Warmup { get; init; } = Step0.WarmupSteps;

    /// <summary>Examples per minibatch (<c>--batch</c>); null: <see cref="Optimizers.TrainerOptions.BatchSize"/>'s default, clamped to the data.</summary>
    public int? Batch { get; init; }

    /// <summary>Number of updates (<c>--steps</c>).</summary>
    public int Steps { get; init; } = Trainer0.Steps;

    /// <summary>Heavy-ball momentum μ ∈ [0, 1) (<c>--momentum</c>).</summary>
    public double Momentum { get; init; } = Step0.Momentum;

    /// <summary>Base rule (<c>--update</c>) whose update <see cref="Optimizer"/> projects.</summary>
    public UpdateRule Update { get; init; } = Step0.Update;

    /// <summary>Adam's β1 (<c>--beta1</c>).</summary>
    public double Beta1 { get; init; } = Step0.Beta1;

    /// <summary>Adam's β2 (<c>--beta2</c>).</summary>
    public double Beta2 { get; init; } = Step0.Beta2;

    /// <summary>Adam's ε (<c>--adam-eps</c>).</summary>
    public double AdamEps { get; init; } = Step0.AdamEpsilon;

    /// <summary>L2 weight decay added to the gradient (<c>--weight-decay</c>).</summary>
    public double WeightDecay { get; init; } = Step0.WeightDecay;

    /// <summary>Step as SGD until the EMA of χ_k reaches this value (<c>--switch-chi</c>); null projects from the start.</summary>
    public double? SwitchChi { get; init; } = Step0.SwitchChi;

    /// <summary>Step as SGD before this step and projected from it (<c>--switch-step</c>); null projects from the start.</summary>
    public int? SwitchStep { get; init; } = Step0.SwitchStep;

    /// <summary>The χ_k that <see cref="SwitchChi"/> averages: each minibatch gradient, or the full gradient at each refresh (<c>--switch-chi-source</c>).</summary>
    public ChiSource SwitchChiSource { get; init; } = Step0.SwitchChiSource;

    /// <summary>EMA factor of χ_k for <see cref="SwitchChi"/> (<c>--chi-ema</c>).</summary>
    public double ChiEma { get; init; } = Step0.ChiEmaDecay;

    /// <summary>Dimension of the dominant subspace (<c>--k</c>); 0 runs no tracker (sgd only).</summary>
    public int K { get; init; } = Tracker0.K;

    /// <summary>Recompute the subspace every this many steps (<c>--refresh</c>).</summary>
    public int Refresh { get; init; } = Tracker0.RefreshEvery;

    /// <summary>
    /// Examples the curvature is measured on (<c>--hessian-batch</c>), drawn once from the seed; 0
    /// means every training example; null: <see cref="TrackerOptions.HessianBatch"/>'s default,
    /// clamped to the data (spectrum and decompose: every example).
    /// </summary>
    public int? HessianBatch { get; init; }

    /// <summary>The projected rules' subspace: the top-k eigenspace or a random control (<c>--subspace</c>).</summary>
    public SubspaceKind Subspace { get; init; } = Tracker0.Subspace;

    /// <summary>Top-k solver (<c>--solver</c>).</summary>
    public EigenSolver Solver { get; init; } = Tracker0.Solver;

    /// <summary>Curvature the tracker follows and spectrum measures (<c>--curvature</c>).</summary>
    public CurvatureKind Curvature { get; init; } = Tracker0.Kind;

    /// <summary>Residual tolerance of the solver (<c>--tolerance</c>).</summary>
    public double Tolerance { get; init; } = Tracker0.Tolerance;

    /// <summary>Start each refresh from the previous basis (<c>--cold-start</c> turns it off).</summary>
    public bool WarmStart { get; init; } = Tracker0.WarmStart;

    /// <summary>Measure metrics every this many steps (<c>--eval-every</c>); null: <see cref="Optimizers.TrainerOptions.DefaultEvalEvery"/> of <see cref="Steps"/>.</summary>
    public int? EvalEvery { get; init; }

    /// <summary>Measure λ₁ of the curvature on every training example every this many steps (<c>--full-lambda-every</c>); null: never.</summary>
    public int? FullLambdaEvery { get; init; }

    /// <summary>
    /// When the rule does not project, refresh the tracker (which then only feeds the metrics) every
    /// this many steps (<c>--curvature-log-every</c>); null: max(refresh, 10·eval-every).
    /// </summary>
    public int? CurvatureLogEvery { get; init; }

    /// <summary>Residual tolerance of those log refreshes (<c>--curvature-log-tolerance</c>); projecting rules use <see cref="Tolerance"/>.</summary>
    public double CurvatureLogTolerance { get; init; } = Trainer0.CurvatureLogTolerance;

    /// <summary>A loss above this multiple of the initial loss ends the run as diverged (<c>--divergence-factor</c>).</summary>
    public double DivergenceFactor { get; init; } = Trainer0.DivergenceFactor;

    /// <summary>Seed of θ₀, the minibatch order, the Hessian batch and the solvers' starts (<c>--seed</c>).</summary>
    public ulong Seed { get; init; }

    /// <summary>Worker threads of the objective (<c>--threads</c>); 0 uses every core. Results do not depend on it.</summary>
    public int Threads { get; init; }

    /// <summary>The defaults.</summary>
    public static readonly RunSpec Defaults = new();

    /// <summary>The metrics cadence actually used: <see cref="EvalEvery"/>, or the default for <see cref="Steps"/>.</summary>
    [JsonIgnore]
    public int EvalEveryOrDefault => EvalEvery ?? Optimizers.TrainerOptions.DefaultEvalEvery(Steps);

    /// <summary>The minibatch actually used on <paramref name="examples"/> examples: <see cref="Batch"/>, or the default clamped to them.</summary>
    public int BatchFor(int examples) => Batch ?? Math.Min(Optimizers.TrainerOptions.DefaultBatchSize, examples);

    /// <summary>The Hessian batch actually used on <paramref name="examples"/> examples: <see cref="HessianBatch"/>, or the default clamped to them (0 when that is all of them).</summary>
    public int HessianBatchFor(int examples) => HessianBatch ?? (Optimizers.TrackerOptions.DefaultHessianBatch >= examples ? 0 : Optimizers.TrackerOptions.DefaultHessianBatch);

    /// <summary>The tracker's seed, derived from <see cref="Seed"/>; the Hessian batch is drawn from it.</summary>
    [JsonIgnore]
    public ulong TrackerSeed => unchecked(Seed + 0x7472616B6572UL);

    /// <summary>The number of times <see cref="Validate"/> ran on this thread (a test checks that a train validates once).</summary>
    [ThreadStatic] static int t_validations;

    /// <summary>How many times <see cref="Validate"/> has run on the calling thread.</summary>
    public static int ValidationsOnThisThread => t_validations;

    /// <summary>
    /// Checks what the typed layer (<see cref="Optimizers.TrainerOptions.Validate"/>, run by the
    /// trainer) does not: names, the interp α's, threads, cadence. Throws an ArgumentException
    /// whose ParamName is the field's CLI name (arch, alpha-dom, threads, …).
    /// </summary>
    public void Validate()
    {
        t_validations++;
        Require(!string.IsNullOrWhiteSpace(Arch), "arch", Arch, "an architecture such as 196-32-32-10");
        Require(!string.IsNullOrWhiteSpace(Data), "data", Data, "a data spec such as mnist14:2000");
        if (Optimizer == OptimizerKind.Interp && (AlphaDom is null || AlphaBulk is null))
        {
            string name = AlphaDom is null ? "alpha-dom" : "alpha-bulk";
            throw new ArgumentException($"Field '{name}' is missing; expected both alpha-dom and alpha-bulk with optimizer interp.", name);
        }
        if (Optimizer != OptimizerKind.Interp && (AlphaDom is not null || AlphaBulk is not null))
        {
            string name = AlphaDom is not null ? "alpha-dom" : "alpha-bulk";
            throw new ArgumentException($"Field '{name}' was given with optimizer {CliNames.Name(Optimizer)}; expected it only with optimizer interp.", name);
        }
        Require(Steps >= 0, "steps", Steps, "a non-negative integer");
        if (Batch is int b) Require(b >= 1, "batch", b, "a positive integer");
        if (HessianBatch is int hb) Require(hb >= 0, "hessian-batch", hb, "a positive integer, or 0 for every training example");
        Require(K >= 0, "k", K, "a positive integer below the parameter count (0: no tracker, sgd only)");
        if (K == 0 && StepOptions().NeedsSubspace)
            throw new ArgumentOutOfRangeException("k", $"Field 'k' was 0; expected k ≥ 1 for optimizer {CliNames.Name(Optimizer)}, which projects onto the top-k subspace.");
        if (EvalEvery is int e) Require(e >= 1, "eval-every", e, "a positive integer");
        if (FullLambdaEvery is int f) Require(f >= 1, "full-lambda-every", f, "a positive integer");
        if (CurvatureLogEvery is int l) Require(l >= 1, "curvature-log-every", l, "a positive integer");
        Require(Threads >= 0 && Threads <= Models.ObjectiveOptions.MaxThreads, "threads", Threads, $"0 (all cores) or a count up to {Models.ObjectiveOptions.MaxThreads}");
    }

    static void Require<T>(bool ok, string field, T value, string expected)
    {
        if (!ok)
            throw new ArgumentOutOfRangeException(field, string.Create(CultureInfo.InvariantCulture, $"Field '{field}' was {value}; expected {expected}."));
    }

    /// <summary>The update rule's options.</summary>
    public StepOptions StepOptions() => new()
    {
        Kind = Optimizer,
        AlphaDom = AlphaDom ?? 1.0,
        AlphaBulk = AlphaBulk ?? 1.0,
        LearningRate = LearningRate,
        WarmupSteps = Warmup,
        Momentum = Momentum,
        Update = Update,
        Beta1 = Beta1,
        Beta2 = Beta2,
        AdamEpsilon = AdamEps,
        WeightDecay = WeightDecay,
        SwitchChi = SwitchChi,
        SwitchStep = SwitchStep,
        SwitchChiSource = SwitchChiSource,
        ChiEmaDecay = ChiEma,
    };

    /// <summary>The tracker's options on <paramref name="examples"/> training examples (null when k is 0).</summary>
    public TrackerOptions? TrackerOptions(int examples) => K == 0 ? null : new TrackerOptions
    {
        Kind = Curvature,
        Subspace = Subspace,
        K = K,
        RefreshEvery = Refresh,
        HessianBatch = HessianBatchFor(examples),
        Solver = Solver,
        WarmStart = WarmStart,
        Tolerance = Tolerance,
        Seed = TrackerSeed,
    };

    /// <summary>The trainer's options (step, tracker, batch, cadence, seeds) on <paramref name="examples"/> training examples.</summary>
    public TrainerOptions TrainerOptions(int examples) => new()
    {
        Step = StepOptions(),
        Tracker = TrackerOptions(examples),
        BatchSize = BatchFor(examples),
        Steps = Steps,
        EvalEvery = EvalEveryOrDefault,
        FullLambdaEvery = FullLambdaEvery,
        CurvatureLogEvery = CurvatureLogEvery,
        CurvatureLogTolerance = CurvatureLogTolerance,
        Seed = Seed,
        DivergenceFactor = DivergenceFactor,
    };

    /// <summary>The network the spec names (<see cref="Arch"/>, <see cref="Activation"/>); errors name the field arch.</summary>
    public INetwork Network()
    {
        try
        {
            return Architecture.Parse(Arch, Activation);
        }
        catch (ArgumentException e) when (!e.Message.StartsWith("Field 'arch'", StringComparison.Ordinal) && !e.Message.Contains("'--arch'", StringComparison.Ordinal))
        {
            throw new ArgumentException($"Field 'arch' was '{Arch}': {e.Message}", "arch", e);
        }
    }

    /// <summary>The objective options for <see cref="Threads"/>.</summary>
    public ObjectiveOptions ObjectiveOptions() => Threads > 0 ? new ObjectiveOptions { Threads = Threads } : Models.ObjectiveOptions.Default;

    /// <summary>The spec with <see cref="TestData"/> resolved: <see cref="FamilyTestData"/> becomes the training data's own test set, or null.</summary>
    public RunSpec Resolved() => TestData == FamilyTestData ? this with { TestData = DataSpec.FromString(Data).DefaultTestSet } : this;

    /// <summary>A one-line description for logs.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{CliNames.Name(Optimizer)}{(Update == UpdateRule.Sgd ? "" : " update=" + CliNames.Name(Update))} {Arch} {CliNames.Name(Activation)} {CliNames.Name(Loss)} {Data} lr={LearningRate} batch={Batch?.ToString(CultureInfo.InvariantCulture) ?? "default"} steps={Steps} k={K} seed={Seed}");
}

/// <summary>
/// What `curvature train` runs: a <see cref="RunSpec"/> plus where it starts from and what it
/// writes. Its JSON is the config.json of every run directory (train, compare, sweep).
/// </summary>
public sealed record TrainSpec
{
    /// <summary>The format of this file (<see cref="RunJson.ConfigFormat"/>); absent in files of format 1.</summary>
    public int Format { get; init; } = RunJson.ConfigFormat;

    /// <summary>The run.</summary>
    public RunSpec Run { get; init; } = new();

    /// <summary>Output directory (<c>--out</c>).</summary>
    public string Out { get; init; } = "runs/train";

    /// <summary>Initial θ (<c>--theta</c>) as a flat .npy or a named .npz (<see cref="ThetaFiles"/>) instead of the seeded initialization. The JSON field keeps the name <c>init</c>.</summary>
    public string? Init { get; init; }

    /// <summary>Also write the final θ as theta.npy and theta.npz (<c>--save-theta</c>).</summary>
    public bool SaveTheta { get; init; }

    /// <summary>A checkpoint to continue from (<c>--resume</c>). An action, not part of the run: config.json does not record it.</summary>
    [JsonIgnore]
    public string? Resume { get; init; }

    /// <summary>Also write the checkpoint every this many steps (<c>--checkpoint-every</c>); 0 writes it only at the end.</summary>
    public int CheckpointEvery { get; init; }

    /// <summary>The <c>resume</c> key of config.json files of format 1, accepted and ignored on reading (a resume is not part of the run); never written.</summary>
    [JsonPropertyName("resume"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)]
    public string? LegacyResume { get => null; init { } }

    /// <summary>Validates the train-only fields (the run's own are checked once, by <see cref="Problem.Load"/>); messages name the field.</summary>
    public void Validate()
    {
        Guard.NotNull(Run);
        if (string.IsNullOrWhiteSpace(Out))
            throw new ArgumentException("Field 'out' is missing; expected an output directory.", "out");
        if (File.Exists(Out))
            throw new ArgumentException($"Field 'out' names '{Out}', which is a file; expected a directory (new or a run directory).", "out");
        if (CheckpointEvery < 0)
            throw new ArgumentOutOfRangeException("checkpoint-every", $"Field 'checkpoint-every' was {CheckpointEvery}; expected a non-negative integer.");
        if (Init is not null && !File.Exists(Init))
            throw new FileNotFoundException($"Field 'init' names '{Init}', which does not exist; expected θ as a flat float64 .npy vector or a named .npz.", Init);
        if (Resume is not null && !File.Exists(Resume))
            throw new FileNotFoundException($"Field 'resume' names '{Resume}', which does not exist; expected a checkpoint written by `curvature train`.", Resume);
        if (Init is not null && Resume is not null)
            throw new ArgumentException($"Field 'theta' ('{Init}') and field 'resume' ('{Resume}') were both given; expected at most one (a checkpoint holds its own θ).", "theta");
    }
}

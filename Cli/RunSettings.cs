using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Experiments;
using Curvature.Models;
using Curvature.Optimizers;
using Curvature.Spectral;
using Spectre.Console.Cli;

namespace Curvature.Cli;

/// <summary>
/// The flags of a <see cref="RunSpec"/>, shared by every command that trains or measures. Each
/// is optional: the spec starts from <c>--config FILE</c> (or <see cref="RunSpec.Defaults"/>) and
/// the flags given override it. Numbers are parsed here so errors name the option.
/// </summary>
internal class RunSettings : CommandSettings
{
    [CommandOption("--config <FILE>"), Description("Start from this config.json (written by an earlier run); flags given as well override it (default: none).")]
    public string? Config { get; init; }

    [CommandOption("--arch <ARCH>"), Description("Architecture: widths, e.g. 196-32-32-10, or a CNN, e.g. 1x14x14-c8k3-m2-c16k3-m2-10 (CxHxW, cN[kK][sS][pP], mK, aK), or a Transformer, e.g. spam-e64-t8f256x2-2 (tokVxL or spam, eD, tH[fF][xN]; docs/models.md)."), SpecPath("run.arch")]
    public string? Arch { get; init; }

    [CommandOption("--act <ACT>"), Description("Hidden activation, e.g. tanh or relu."), SpecPath("run.activation")]
    public string? Act { get; init; }

    [CommandOption("--loss <LOSS>"), Description("ce, mse (mean over examples of ½‖z − t‖²) or torch-mse (PyTorch's nn.MSELoss: mean over examples and outputs of (z − t)²)."), SpecPath("run.loss")]
    public string? Loss { get; init; }

    [CommandOption("--data <SPEC>"), Description("Training data (mnist14:N, spam:N, gmm:N:D:C:SEED, npy:X.npy,y.npy, ...)."), SpecPath("run.data")]
    public string? Data { get; init; }

    [CommandOption("--test-data <SPEC>"), Description("Test data; 'none' for no test set (default: the training data's own test set, mnist14 → mnist14-test, mnist → mnist-test, fashion14 → fashion14-test, fashion → fashion-test, spam → spam-test; none for gmm, teacher and npy).")]
    public string? TestData { get; init; }

    [CommandOption("--batch <B>"), Description("Minibatch size (default 100, or every example when the data has fewer).")]
    public string? Batch { get; init; }

    [CommandOption("--steps <N>"), Description("Updates per run."), SpecPath("run.steps")]
    public string? Steps { get; init; }

    [CommandOption("--warmup <W>"), Description("Linear learning-rate warm-up steps."), SpecPath("run.warmup")]
    public string? Warmup { get; init; }

    [CommandOption("--momentum <MU>"), Description("Heavy-ball momentum μ, 0 ≤ μ < 1."), SpecPath("run.momentum")]
    public string? Momentum { get; init; }

    [CommandOption("--update <RULE>"), Description("Base rule whose update --optimizer projects: sgd (with --momentum) or adam."), SpecPath("run.update")]
    public string? Update { get; init; }

    [CommandOption("--beta1 <B1>"), Description("Adam's first-moment decay β1, 0 ≤ β1 < 1."), SpecPath("run.beta1")]
    public string? Beta1 { get; init; }

    [CommandOption("--beta2 <B2>"), Description("Adam's second-moment decay β2, 0 ≤ β2 < 1."), SpecPath("run.beta2")]
    public string? Beta2 { get; init; }

    [CommandOption("--adam-eps <EPS>"), Description("Adam's ε, added to the root of the second moment."), SpecPath("run.adam_eps")]
    public string? AdamEps { get; init; }

    [CommandOption("--weight-decay <L>"), Description("L2 weight decay added to the gradient."), SpecPath("run.weight_decay")]
    public string? WeightDecay { get; init; }

    [CommandOption("--switch-chi <TAU>"), Description("Step as SGD until the EMA of chi_k reaches TAU; none projects from the start."), SpecPath("run.switch_chi")]
    public string? SwitchChi { get; init; }

    [CommandOption("--switch-step <N>"), Description("Step as SGD before step N and projected from step N on (default: none; exclusive with --switch-chi)."), SpecPath("run.switch_step")]
    public string? SwitchStep { get; init; }

    [CommandOption("--switch-chi-source <SOURCE>"), Description("The chi_k that --switch-chi averages: minibatch (each step's minibatch gradient) or full (the full training-set gradient, measured at each refresh of the subspace)."), SpecPath("run.switch_chi_source")]
    public string? SwitchChiSource { get; init; }

    [CommandOption("--full-lambda-every <N>"), Description("Measure λ₁ of the curvature on every training example every N steps (metrics column lambda_1_full, beside two_over_lr; default: never)."), SpecPath("run.full_lambda_every")]
    public string? FullLambdaEvery { get; init; }

    [CommandOption("--curvature-log-every <L>"), Description("For a rule that does not project (sgd), refresh the subspace, which then only feeds the metrics, every L steps (default: max(refresh, 10 × eval-every); compare: refresh)."), SpecPath("run.curvature_log_every")]
    public string? CurvatureLogEvery { get; init; }

    [CommandOption("--curvature-log-tolerance <TOL>"), Description("Residual tolerance of those log refreshes (a rule that projects uses --tolerance)."), SpecPath("run.curvature_log_tolerance")]
    public string? CurvatureLogTolerance { get; init; }

    [CommandOption("--chi-ema <BETA>"), Description("EMA factor for --switch-chi."), SpecPath("run.chi_ema")]
    public string? ChiEma { get; init; }

    [CommandOption("--subspace <KIND>"), Description("The subspace U that dom, bulk and interp project on: top (the top-k eigenvectors), or the controls random (a seeded random orthonormal k-basis, new at each refresh) and random-fixed (drawn once)."), SpecPath("run.subspace")]
    public string? Subspace { get; init; }

    [CommandOption("--solver <NAME>"), Description("Top-k eigensolver (of train's tracker, of spectrum's measurement): block-lanczos, lanczos, lobpcg or power."), SpecPath("run.solver")]
    public string? Solver { get; init; }

    [CommandOption("--curvature <KIND>"), Description("h (Hessian), g (Gauss–Newton), f (functional Hessian; spectrum only), ef (empirical Fisher), cov (gradient covariance Σ = EF − ḡḡᵀ), fisher (true Fisher, = G for ce and mse) or kfac (K-FAC's approximate eigenpairs, for networks K-FAC covers): the matrix train tracks (on its Hessian batch) and spectrum measures."), SpecPath("run.curvature")]
    public string? Curvature { get; init; }

    [CommandOption("--tolerance <TOL>"), Description("Residual tolerance of that top-k eigensolver."), SpecPath("run.tolerance")]
    public string? Tolerance { get; init; }

    [CommandOption("--cold-start"), Description("Do not warm-start refreshes from the previous basis.")]
    public bool ColdStart { get; init; }

    [CommandOption("--eval-every <M>"), Description("Measure metrics every M steps (default steps/50, at least 1; a resumed run keeps its checkpoint's).")]
    public string? EvalEvery { get; init; }

    [CommandOption("--divergence-factor <F>"), Description("Loss above F times the initial loss counts as divergence."), SpecPath("run.divergence_factor")]
    public string? DivergenceFactor { get; init; }

    [CommandOption("--seed <SEED>"), Description("Seed of θ₀, minibatches, Hessian batch and solvers."), SpecPath("run.seed")]
    public string? Seed { get; init; }

    [CommandOption("--threads <N>"), Description("Objective threads (0: all cores)."), OnlyAffects("speed"), SpecPath("run.threads")]
    public string? Threads { get; init; }

    /// <summary>The base run (from <see cref="Config"/> via <paramref name="fromConfig"/>, else <paramref name="fallback"/>) with the given flags applied.</summary>
    public RunSpec ApplyTo(RunSpec run) => run with
    {
        Arch = Arch ?? run.Arch,
        Activation = Enum<Activation>(Act, "activation") ?? run.Activation,
        Loss = Enum<LossKind>(Loss, "loss") ?? run.Loss,
        Data = Data ?? run.Data,
        TestData = TestData is null ? run.TestData : string.Equals(TestData, "none", StringComparison.OrdinalIgnoreCase) || TestData.Length == 0 ? null : TestData,
        Batch = Integer(Batch, "batch") ?? run.Batch,
        Steps = Integer(Steps, "steps") ?? run.Steps,
        Warmup = Integer(Warmup, "warmup") ?? run.Warmup,
        Momentum = Number(Momentum, "momentum") ?? run.Momentum,
        WeightDecay = Number(WeightDecay, "weight-decay") ?? run.WeightDecay,
        Update = Enum<UpdateRule>(Update, "update") ?? run.Update,
        Beta1 = Number(Beta1, "beta1") ?? run.Beta1,
        Beta2 = Number(Beta2, "beta2") ?? run.Beta2,
        AdamEps = Number(AdamEps, "adam-eps") ?? run.AdamEps,
        SwitchChi = Number(SwitchChi, "switch-chi") ?? run.SwitchChi,
        SwitchStep = Integer(SwitchStep, "switch-step") ?? run.SwitchStep,
        ChiEma = Number(ChiEma, "chi-ema") ?? run.ChiEma,
        SwitchChiSource = Enum<ChiSource>(SwitchChiSource, "switch-chi-source") ?? run.SwitchChiSource,
        FullLambdaEvery = Integer(FullLambdaEvery, "full-lambda-every") ?? run.FullLambdaEvery,
        CurvatureLogEvery = Integer(CurvatureLogEvery, "curvature-log-every") ?? run.CurvatureLogEvery,
        CurvatureLogTolerance = Number(CurvatureLogTolerance, "curvature-log-tolerance") ?? run.CurvatureLogTolerance,
        Subspace = Enum<SubspaceKind>(Subspace, "subspace") ?? run.Subspace,
        Solver = Enum<EigenSolver>(Solver, "solver") ?? run.Solver,
        Curvature = Enum<CurvatureKind>(Curvature, "curvature") ?? run.Curvature,
        Tolerance = Number(Tolerance, "tolerance") ?? run.Tolerance,
        WarmStart = !ColdStart && run.WarmStart,
        EvalEvery = Integer(EvalEvery, "eval-every") ?? run.EvalEvery,
        DivergenceFactor = Number(DivergenceFactor, "divergence-factor") ?? run.DivergenceFactor,
        Seed = SeedValue(Seed, "seed") ?? run.Seed,
        Threads = Integer(Threads, "threads") ?? run.Threads,
    };

    /// <summary>The command's spec with every default (its config.json before any flag); null for a command without one.</summary>
    public virtual object? DefaultSpec() => null;

    /// <summary>The dotted config.json path of <paramref name="option"/>'s value in this command's spec (<see cref="SpecPathAttribute"/>), or null.</summary>
    internal virtual string? PathOf(OptionInfo option) => option.Property.GetCustomAttribute<SpecPathAttribute>()?.Path;

    /// <summary>The default of <paramref name="option"/> as config.json records it (a list comma-joined, null as "none"), or null when it has no path.</summary>
    internal string? DefaultAt(OptionInfo option)
    {
        if (PathOf(option) is not { } path || DefaultSpec() is not { } spec) return null;
        return SpecValue(System.Text.Json.Nodes.JsonNode.Parse(RunJson.Serialize(spec)), path);
    }

    /// <summary>The scalar at the dotted <paramref name="path"/> of a config.json node, as text (null: "none"; a list comma-joined).</summary>
    internal static string SpecValue(System.Text.Json.Nodes.JsonNode? root, string path)
    {
        var node = root;
        foreach (var part in path.Split('.')) node = node?[part];
        return node switch
        {
            null => "none",
            System.Text.Json.Nodes.JsonArray a => string.Join(",", a.Select(x => x?.ToString())),
            _ => node.GetValueKind() == System.Text.Json.JsonValueKind.Number
                ? node.GetValue<double>().ToString("R", CultureInfo.InvariantCulture).ToLowerInvariant()
                : node.ToString(),
        };
    }

    /// <summary>An enum-like value as stored: trimmed, lower case (values are accepted in any case).</summary>
    public static string? Lower(string? value) => value?.Trim().ToLowerInvariant();

    /// <summary>Parses an enum flag by its command-line names and aliases (<see cref="CliNames"/>); errors name <paramref name="field"/>.</summary>
    public static T? Enum<T>(string? text, string field) where T : struct, System.Enum => text is null ? null : CliNames.Parse<T>(text, field);

    /// <summary>The command's spec from <see cref="Config"/>, or null without one.</summary>
    protected T? LoadConfig<T>() where T : class
    {
        if (Config is null) return null;
        if (!File.Exists(Config))
            throw new FileNotFoundException($"Option '--config' names '{Config}', which does not exist; expected a config.json written by an earlier run.", Config);
        return RunJson.LoadStrict<T>(Config, "run");
    }

    /// <summary>Parses a number flag.</summary>
    public static double? Number(string? text, string option)
    {
        if (text is null) return null;
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)) return v;
        throw new ArgumentException($"Option '--{option}' was '{text}'; expected a number.", option);
    }

    /// <summary>Parses an integer flag.</summary>
    public static int? Integer(string? text, string option)
    {
        if (text is null) return null;
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v)) return v;
        throw new ArgumentException($"Option '--{option}' was '{text}'; expected an integer.", option);
    }

    /// <summary>Parses the seed (a non-negative 64-bit integer).</summary>
    public static ulong? SeedValue(string? text, string option)
    {
        if (text is null) return null;
        if (ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong v)) return v;
        throw new ArgumentException($"Option '--{option}' was '{text}'; expected a non-negative integer.", option);
    }
}

/// <summary>The single-valued rule and tracker flags (train, compare, spectrum, decompose; sweep takes lists instead).</summary>
internal class SingleRunSettings : RunSettings
{
    [CommandOption("--lr <ETA>"), Description("Learning rate."), SpecPath("run.learning_rate")]
    public string? LearningRate { get; init; }

    [CommandOption("-k <K>"), Description("Dominant subspace dimension, spelled --k or -k."), SpecPath("run.k")]
    public string? K { get; init; }

    [CommandOption("--top-k <K>", IsHidden = true), Description("Old spelling of --k.")]
    public string? TopK { get; init; }

    [CommandOption("--refresh <T>"), Description("Recompute the subspace every T steps."), SpecPath("run.refresh")]
    public string? Refresh { get; init; }

    [CommandOption("--hessian-batch <M>"), Description("Examples the curvature is measured on, drawn once from the seed; 0: all (default 500, or all when the data has fewer; spectrum and decompose: all).")]
    public string? HessianBatch { get; init; }

    /// <summary>The run with every given flag applied.</summary>
    public RunSpec ApplySingle(RunSpec run) => ApplyTo(run) with
    {
        LearningRate = Number(LearningRate, "lr") ?? run.LearningRate,
        K = Integer(K ?? TopK, "k") ?? run.K,
        Refresh = Integer(Refresh, "refresh") ?? run.Refresh,
        HessianBatch = Integer(HessianBatch, "hessian-batch") ?? run.HessianBatch,
    };
}

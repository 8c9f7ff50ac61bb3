using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using Curvature.Spectral;

namespace Curvature.Optimizers;

/// <summary>
/// One training run, completely: network, data, loss, update rule, schedule, dominant-subspace
/// tracker, measurement cadence, seed and threads. It is what a run's config.json holds (snake
/// case, <see cref="RunJson.Options"/>), the one source of defaults for the library and the CLI,
/// and <see cref="Validate()"/> names each field by its CLI option (<c>--lr</c>, <c>--hessian-batch</c>, …).
/// </summary>
public sealed record RunSpec
{
    /// <summary>The defaults, shared by the library's option records and the CLI.</summary>
    public static readonly RunSpec Defaults = new();

    /// <summary>Default <see cref="Arch"/>, as a constant so help pages (attributes) can show it.</summary>
    public const string DefaultArch = "196-32-32-10";

    /// <summary>Default <see cref="Activation"/>.</summary>
    public const string DefaultActivation = "tanh";

    /// <summary>Default <see cref="Loss"/>.</summary>
    public const string DefaultLoss = "mse";

    /// <summary>Default <see cref="Data"/>.</summary>
    public const string DefaultData = "mnist14:2000";

    /// <summary>Architecture string (<c>--arch</c>): input width, hidden widths, classes, e.g. 196-32-32-10.</summary>
    public string Arch { get; init; } = DefaultArch;

    /// <summary>Hidden activation (<c>--act</c>): tanh, relu, ….</summary>
    public string Activation { get; init; } = DefaultActivation;

    /// <summary>Loss (<c>--loss</c>): ce, mse (mean over examples of ½‖z − t‖²) or torch-mse (PyTorch's nn.MSELoss(): mean over examples and outputs of (z − t)²).</summary>
    public string Loss { get; init; } = DefaultLoss;

    /// <summary>Training data spec (<c>--data</c>), e.g. mnist14:2000.</summary>
    public string Data { get; init; } = DefaultData;

    /// <summary>Test data spec (<c>--test-data</c>); null for no test set.</summary>
    public string? TestData { get; init; } = "mnist14-test";

    /// <summary>Update rule (<c>--optimizer</c>): sgd, dom, bulk or interp.</summary>
    public string Optimizer { get; init; } = "sgd";

    /// <summary>α_dom (<c>--alpha-dom</c>), given exactly when <see cref="Optimizer"/> is interp.</summary>
    public double? AlphaDom { get; init; }

    /// <summary>α_bulk (<c>--alpha-bulk</c>), given exactly when <see cref="Optimizer"/> is interp.</summary>
    public double? AlphaBulk { get; init; }

    /// <summary>Base learning rate η (<c>--lr</c>).</summary>
    public double LearningRate { get; init; } = 0.5;

    /// <summary>Steps of linear learning-rate warm-up (<c>--warmup</c>); 0 keeps η constant.</summary>
    public int Warmup { get; init; }

    /// <summary>Examples per minibatch (<c>--batch</c>).</summary>
    public int Batch { get; init; } = 100;

    /// <summary>Number of updates (<c>--steps</c>).</summary>
    public int Steps { get; init; } = 1000;

    /// <summary>Heavy-ball momentum μ ∈ [0, 1) (<c>--momentum</c>).</summary>
    public double Momentum { get; init; }

    /// <summary>Base rule (<c>--update</c>): sgd (with <see cref="Momentum"/>) or adam; its update is what <see cref="Optimizer"/> projects.</summary>
    public string Update { get; init; } = DefaultUpdate;

    /// <summary>Default <see cref="Update"/>.</summary>
    public const string DefaultUpdate = "sgd";

    /// <summary>Adam's β1 (<c>--beta1</c>), the decay of the first moment.</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>Adam's β2 (<c>--beta2</c>), the decay of the second moment.</summary>
    public double Beta2 { get; init; } = 0.999;

    /// <summary>Adam's ε (<c>--adam-eps</c>), added to √ŝ.</summary>
    public double AdamEps { get; init; } = 1e-8;

    /// <summary>L2 weight decay added to the gradient (<c>--weight-decay</c>).</summary>
    public double WeightDecay { get; init; }

    /// <summary>Step as SGD until the EMA of χ_k reaches this value (<c>--switch-chi</c>); null projects from the start.</summary>
    public double? SwitchChi { get; init; }

    /// <summary>EMA factor of χ_k for <see cref="SwitchChi"/> (<c>--chi-ema</c>).</summary>
    public double ChiEma { get; init; } = 0.9;

    /// <summary>Dimension of the dominant subspace (<c>--k</c>); 0 runs no tracker (sgd only).</summary>
    public int K { get; init; } = 10;

    /// <summary>Recompute the subspace every this many steps (<c>--refresh</c>).</summary>
    public int Refresh { get; init; } = 10;

    /// <summary>Examples the curvature is measured on (<c>--hessian-batch</c>), drawn once from the seed; 0 means every training example.</summary>
    public int HessianBatch { get; init; } = 500;

    /// <summary>Top-k solver of the tracker (<c>--solver</c>): lanczos or lobpcg.</summary>
    public string Solver { get; init; } = "block-lanczos";

    /// <summary>Curvature the tracker follows (<c>--curvature</c>): h (Hessian), g (Gauss–Newton) or f (functional Hessian); <see cref="CurvatureNames"/> lists the accepted aliases.</summary>
    public string Curvature { get; init; } = "h";

    /// <summary>Residual tolerance of the tracker's solver (<c>--tolerance</c>).</summary>
    public double Tolerance { get; init; } = 1e-4;

    /// <summary>Start each refresh from the previous basis (<c>--cold-start</c> turns it off).</summary>
    public bool WarmStart { get; init; } = true;

    /// <summary>Measure metrics every this many steps (<c>--eval-every</c>); null means about 50 points per run (steps/50).</summary>
    public int? EvalEvery { get; init; }

    /// <summary>A loss above this multiple of the initial loss ends the run as diverged (<c>--divergence-factor</c>).</summary>
    public double DivergenceFactor { get; init; } = 100;

    /// <summary>Seed of θ₀, the minibatch order, the Hessian batch and the solvers' starts (<c>--seed</c>).</summary>
    public ulong Seed { get; init; }

    /// <summary>Worker threads of the objective (<c>--threads</c>); 0 uses every core. Results do not depend on it.</summary>
    public int Threads { get; init; }

    /// <summary>The metrics cadence actually used: <see cref="EvalEvery"/>, or max(1, steps/50).</summary>
    [JsonIgnore]
    public int EvalEveryOrDefault => EvalEvery ?? Math.Max(1, Steps / 50);

    /// <summary>The tracker's seed, derived from <see cref="Seed"/>; the Hessian batch is drawn from it.</summary>
    [JsonIgnore]
    public ulong TrackerSeed => unchecked(Seed + 0x7472616B6572UL);

    /// <summary>The update rule as an enum (throws naming <c>--optimizer</c> for an unknown name).</summary>
    [JsonIgnore]
    public OptimizerKind OptimizerKind => Optimizer?.Trim().ToLowerInvariant() switch
    {
        "sgd" => OptimizerKind.Sgd,
        "dom" => OptimizerKind.Dom,
        "bulk" => OptimizerKind.Bulk,
        "interp" => OptimizerKind.Interp,
        _ => throw new ArgumentException($"Option '--optimizer' was '{Optimizer}'; expected sgd, dom, bulk or interp.", "optimizer"),
    };

    /// <summary>The base rule as an enum (throws naming <c>--update</c> for an unknown name).</summary>
    [JsonIgnore]
    public UpdateRule UpdateRule => Update?.Trim().ToLowerInvariant() switch
    {
        "sgd" => UpdateRule.Sgd,
        "adam" => UpdateRule.Adam,
        _ => throw new ArgumentException($"Option '--update' was '{Update}'; expected sgd or adam.", "update"),
    };

    /// <summary>The tracker's solver as an enum (throws naming <c>--solver</c>).</summary>
    [JsonIgnore]
    public EigenSolver SolverKind => Eigensolver.Parse(Solver, "--solver");

    /// <summary>The tracked curvature as an enum (throws naming <c>--curvature</c>).</summary>
    [JsonIgnore]
    public CurvatureKind CurvatureKind => CurvatureNames.Parse(Curvature, "curvature");

    /// <summary>
    /// Checks every field that needs no data or network: names, signs, ranges. Throws an
    /// ArgumentException whose message names the CLI option, the value and what was expected.
    /// </summary>
    public void Validate()
    {
        Require(!string.IsNullOrWhiteSpace(Arch), "arch", Arch, "an architecture such as 196-32-32-10");
        Require(!string.IsNullOrWhiteSpace(Activation), "act", Activation, "an activation such as tanh");
        Require(LossNames.TryParse(Loss, out _), "loss", Loss, LossNames.Expected);
        Require(!string.IsNullOrWhiteSpace(Data), "data", Data, "a data spec such as mnist14:2000");
        var kind = OptimizerKind;
        var update = UpdateRule;
        _ = SolverKind;
        _ = CurvatureKind;
        if (kind == OptimizerKind.Interp && (AlphaDom is null || AlphaBulk is null))
        {
            string name = AlphaDom is null ? "alpha-dom" : "alpha-bulk";
            throw new ArgumentException($"Option '--{name}' is missing; expected both --alpha-dom and --alpha-bulk with --optimizer interp.", name);
        }
        if (kind != OptimizerKind.Interp && (AlphaDom is not null || AlphaBulk is not null))
        {
            string name = AlphaDom is not null ? "alpha-dom" : "alpha-bulk";
            throw new ArgumentException($"Option '--{name}' was given with --optimizer {Optimizer}; expected it only with --optimizer interp.", name);
        }
        if (AlphaDom is double ad) Require(double.IsFinite(ad), "alpha-dom", Show(ad), "a finite number");
        if (AlphaBulk is double ab) Require(double.IsFinite(ab), "alpha-bulk", Show(ab), "a finite number");
        Require(LearningRate > 0 && double.IsFinite(LearningRate), "lr", Show(LearningRate), "a positive finite learning rate");
        Require(Warmup >= 0, "warmup", Warmup, "a non-negative integer");
        Require(Batch >= 1, "batch", Batch, "a positive integer");
        Require(Steps >= 0, "steps", Steps, "a non-negative integer");
        Require(Momentum >= 0 && Momentum < 1, "momentum", Show(Momentum), "a number in [0, 1)");
        Require(WeightDecay >= 0 && double.IsFinite(WeightDecay), "weight-decay", Show(WeightDecay), "a non-negative finite number");
        if (update == UpdateRule.Adam)
            Require(Momentum == 0, "momentum", Show(Momentum), "0 with --update adam (Adam's first moment decays with --beta1)");
        Require(Beta1 >= 0 && Beta1 < 1, "beta1", Show(Beta1), "a number in [0, 1)");
        Require(Beta2 >= 0 && Beta2 < 1, "beta2", Show(Beta2), "a number in [0, 1)");
        Require(AdamEps > 0 && double.IsFinite(AdamEps), "adam-eps", Show(AdamEps), "a positive finite number");
        if (SwitchChi is double sc) Require(sc >= 0 && sc <= 1, "switch-chi", Show(sc), "a number in [0, 1]");
        Require(ChiEma >= 0 && ChiEma < 1, "chi-ema", Show(ChiEma), "a number in [0, 1)");
        Require(K >= 0, "k", K, "a positive integer below the parameter count (0: no tracker, sgd only)");
        if (K == 0 && StepOptions().NeedsSubspace)
            throw new ArgumentOutOfRangeException("k", $"Option '--k' was 0; expected k ≥ 1 for --optimizer {Optimizer}, which projects onto the top-k subspace.");
        Require(Refresh >= 1, "refresh", Refresh, "a positive integer");
        Require(HessianBatch >= 0, "hessian-batch", HessianBatch, "a positive integer, or 0 for every training example");
        Require(Tolerance > 0 && double.IsFinite(Tolerance), "tolerance", Show(Tolerance), "a positive number");
        if (EvalEvery is int e) Require(e >= 1, "eval-every", e, "a positive integer");
        Require(DivergenceFactor > 1 && double.IsFinite(DivergenceFactor), "divergence-factor", Show(DivergenceFactor), "a finite number above 1");
        Require(Threads >= 0 && Threads <= Models.ObjectiveOptions.MaxThreads, "threads", Threads, $"0 (all cores) or a count up to {Models.ObjectiveOptions.MaxThreads}");
    }

    /// <summary>
    /// Checks what needs the data and the network: k below the parameter count, the batches
    /// within the training set.
    /// </summary>
    public void Validate(int parameterCount, int exampleCount)
    {
        Validate();
        if (K != 0 && K >= parameterCount)
            throw new ArgumentOutOfRangeException("k", $"Option '--k' was {K}; expected an integer in [1, {parameterCount - 1}] (below the {Arch} network's {parameterCount} parameters).");
        if (Batch > exampleCount)
            throw new ArgumentOutOfRangeException("batch", $"Option '--batch' was {Batch}; expected at most the {exampleCount} training examples of '{Data}'.");
        if (HessianBatch > exampleCount)
            throw new ArgumentOutOfRangeException("hessian-batch", $"Option '--hessian-batch' was {HessianBatch}; expected at most the {exampleCount} training examples of '{Data}' (0: all).");
    }

    static void Require<T>(bool ok, string option, T value, string expected)
    {
        if (!ok)
            throw new ArgumentOutOfRangeException(option, string.Create(CultureInfo.InvariantCulture, $"Option '--{option}' was {value}; expected {expected}."));
    }

    static string Show(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The update rule's options.</summary>
    public StepOptions StepOptions() => new()
    {
        Kind = OptimizerKind,
        AlphaDom = AlphaDom ?? 1.0,
        AlphaBulk = AlphaBulk ?? 1.0,
        LearningRate = LearningRate,
        WarmupSteps = Warmup,
        Momentum = Momentum,
        Update = UpdateRule,
        Beta1 = Beta1,
        Beta2 = Beta2,
        AdamEpsilon = AdamEps,
        WeightDecay = WeightDecay,
        SwitchChi = SwitchChi,
        ChiEmaDecay = ChiEma,
    };

    /// <summary>The trainer's options (step, tracker, batch, cadence, seeds).</summary>
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
            Seed = TrackerSeed,
        },
        BatchSize = Batch,
        Steps = Steps,
        EvalEvery = EvalEveryOrDefault,
        Seed = Seed,
        DivergenceFactor = DivergenceFactor,
    };

    /// <summary>The network the spec names (<see cref="Arch"/>, <see cref="Activation"/>).</summary>
    public INetwork Network() => Wrap("arch", Arch, () => Architecture.Parse(Arch, Wrap("act", Activation, () => ActivationNames.Parse(Activation))));

    /// <summary>The loss the spec names.</summary>
    public LossKind LossKind() => Wrap("loss", Loss, () => LossNames.Parse(Loss));

    /// <summary>The objective options for <see cref="Threads"/>.</summary>
    public ObjectiveOptions ObjectiveOptions() => Threads > 0 ? new ObjectiveOptions { Threads = Threads } : Models.ObjectiveOptions.Default;

    /// <summary>Re-throws a parser's error with the CLI option's name in front when the message lacks it.</summary>
    static T Wrap<T>(string option, string value, Func<T> parse)
    {
        try
        {
            return parse();
        }
        catch (ArgumentException e) when (!e.Message.Contains("--" + option, StringComparison.Ordinal))
        {
            throw new ArgumentException($"Option '--{option}' was '{value}': {e.Message}", option, e);
        }
    }

    /// <summary>A one-line description for logs.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Optimizer}{(Update == DefaultUpdate ? "" : " update=" + Update)} {Arch} {Activation} {Loss} {Data} lr={LearningRate} batch={Batch} steps={Steps} k={K} seed={Seed}");
}

/// <summary>
/// The one spelling of the curvature matrices on the command line (<c>--curvature</c> of every
/// command): h, g or f, case-insensitive, with the aliases hessian; gn, ggn, gauss-newton;
/// functional, functional-hessian.
/// </summary>
public static class CurvatureNames
{
    /// <summary>The accepted values, for messages and help.</summary>
    public const string Expected = "h (Hessian), g (Gauss–Newton) or f (functional Hessian)";

    /// <summary>The matrix <paramref name="name"/> spells; throws naming <c>--<paramref name="option"/></c>.</summary>
    public static CurvatureKind Parse(string? name, string option) => name?.Trim().ToLowerInvariant() switch
    {
        "h" or "hessian" => CurvatureKind.Hessian,
        "g" or "gn" or "ggn" or "gauss-newton" => CurvatureKind.GaussNewton,
        "f" or "functional" or "functional-hessian" => CurvatureKind.FunctionalHessian,
        _ => throw new ArgumentException($"Option '--{option}' was '{name}'; expected {Expected}.", option),
    };

    /// <summary>The canonical spelling: h, g or f.</summary>
    public static string Name(CurvatureKind kind) => kind switch
    {
        CurvatureKind.Hessian => "h",
        CurvatureKind.GaussNewton => "g",
        CurvatureKind.FunctionalHessian => "f",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), $"Argument 'kind' was {kind}; expected Hessian, GaussNewton or FunctionalHessian."),
    };
}

/// <summary>
/// What `curvature train` runs: a <see cref="RunSpec"/> plus where it starts from and what it
/// writes. Its JSON is the config.json of every run directory (train, compare, sweep).
/// </summary>
public sealed record TrainSpec
{
    /// <summary>The run.</summary>
    public RunSpec Run { get; init; } = new();

    /// <summary>Output directory (<c>--out</c>).</summary>
    public string Out { get; init; } = "runs/train";

    /// <summary>Initial θ (<c>--theta</c>; <c>--init</c> is a hidden alias) as a flat .npy or a named .npz (<see cref="ThetaFiles"/>) instead of the seeded initialization. The JSON field keeps the name <c>init</c>.</summary>
    public string? Init { get; init; }

    /// <summary>Also write the final θ as theta.npy and theta.npz (<c>--save-theta</c>).</summary>
    public bool SaveTheta { get; init; }

    /// <summary>A checkpoint to continue from (<c>--resume</c>); the run's fields must match those it was written with.</summary>
    public string? Resume { get; init; }

    /// <summary>Also write the checkpoint every this many steps (<c>--checkpoint-every</c>); 0 writes it only at the end.</summary>
    public int CheckpointEvery { get; init; }

    /// <summary>Validates the run and the train-only fields; messages name the option.</summary>
    public void Validate()
    {
        Guard.NotNull(Run);
        Run.Validate();
        if (string.IsNullOrWhiteSpace(Out))
            throw new ArgumentException("Option '--out' is missing; expected an output directory.", "out");
        if (File.Exists(Out))
            throw new ArgumentException($"Option '--out' names '{Out}', which is a file; expected a directory (new or a run directory).", "out");
        if (CheckpointEvery < 0)
            throw new ArgumentOutOfRangeException("checkpoint-every", $"Option '--checkpoint-every' was {CheckpointEvery}; expected a non-negative integer.");
        if (Init is not null && !File.Exists(Init))
            throw new FileNotFoundException($"Option '--theta' names '{Init}', which does not exist; expected θ as a flat float64 .npy vector or a named .npz.", Init);
        if (Resume is not null && !File.Exists(Resume))
            throw new FileNotFoundException($"Option '--resume' names '{Resume}', which does not exist; expected a checkpoint written by `curvature train`.", Resume);
        if (Init is not null && Resume is not null)
            throw new ArgumentException($"Options '--theta' ('{Init}') and '--resume' ('{Resume}') were both given; expected at most one (a checkpoint holds its own θ).", "theta");
    }
}

/// <summary>
/// The one JSON style of every file Curvature writes and reads: indented snake_case, enums as
/// snake_case names, and a non-finite number (NaN, ±∞: a diverged loss, a missing metric)
/// written as null, so that every JSON reader (Python's json, jq, pandas) accepts the file.
/// Reading accepts null (as NaN) and, for files written before 0.2, the strings "NaN",
/// "Infinity" and "-Infinity". Every summary.json also carries the tool's <see cref="Version"/>.
/// </summary>
public static class RunJson
{
    /// <summary>The serializer options.</summary>
    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new FiniteOrNullConverter(), new NullableFiniteOrNullConverter(), new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>
    /// The version of Curvature (the assemblies' informational version, e.g. 0.2.0 or
    /// 0.2.0+commit), printed by <c>curvature --version</c> and written into every summary.json.
    /// </summary>
    public static string Version { get; } = VersionOf(typeof(RunJson).Assembly);

    /// <summary>The informational version of <paramref name="assembly"/> (its assembly version when it has none).</summary>
    public static string VersionOf(System.Reflection.Assembly assembly)
    {
        Guard.NotNull(assembly);
        return assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString() ?? "unknown";
    }

    /// <summary>The value as indented JSON text.</summary>
    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);

    /// <summary>
    /// Writes the value to <paramref name="path"/> atomically, with a final newline. A file
    /// named summary.json whose value is a JSON object gets a leading <c>version</c> field
    /// (<see cref="Version"/>) when it has none, so every run records the tool that made it.
    /// </summary>
    public static void Save<T>(string path, T value)
    {
        Guard.NotNull(path);
        string text = Serialize(value);
        if (string.Equals(Path.GetFileName(path), "summary.json", StringComparison.Ordinal))
            text = WithVersion(text);
        AtomicFile.WriteAllText(path, text + "\n");
    }

    /// <summary>The JSON object text with <c>"version": <see cref="Version"/></c> as its first field (unchanged when it is not an object or already has one).</summary>
    public static string WithVersion(string json)
    {
        if (System.Text.Json.Nodes.JsonNode.Parse(json) is not System.Text.Json.Nodes.JsonObject obj || obj.ContainsKey("version"))
            return json;
        var withVersion = new System.Text.Json.Nodes.JsonObject { ["version"] = Version };
        foreach (var (key, node) in obj.ToList())
        {
            obj.Remove(key);
            withVersion[key] = node;
        }
        return withVersion.ToJsonString(Options);
    }

    /// <summary>Reads a value; a missing or malformed file raises an exception naming the path.</summary>
    public static T Load<T>(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"File '{path}' does not exist; expected a JSON file.", path);
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(path), Options)
                ?? throw new InvalidDataException($"File '{path}' holds JSON null; expected an object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"File '{path}' is not valid JSON for {typeof(T).Name}: {e.Message}", e);
        }
    }

    /// <summary>double as a JSON number, or null when it is NaN or ±∞ (read back as NaN).</summary>
    sealed class FiniteOrNullConverter : JsonConverter<double>
    {
        public override bool HandleNull => true;

        public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.Null:
                    return double.NaN;
                case JsonTokenType.String:
                    return reader.GetString() switch
                    {
                        "NaN" => double.NaN,
                        "Infinity" => double.PositiveInfinity,
                        "-Infinity" => double.NegativeInfinity,
                        var t => throw new JsonException($"Expected a number or null; found the string '{t}'."),
                    };
                default:
                    return reader.GetDouble();
            }
        }

        public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
        {
            if (double.IsFinite(value)) writer.WriteNumberValue(value);
            else writer.WriteNullValue();
        }
    }

    /// <summary>double? as a JSON number, or null when it is null, NaN or ±∞ (null reads back as null).</summary>
    sealed class NullableFiniteOrNullConverter : JsonConverter<double?>
    {
        static readonly FiniteOrNullConverter Inner = new();

        public override bool HandleNull => true;

        public override double? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.TokenType == JsonTokenType.Null ? null : Inner.Read(ref reader, typeof(double), options);

        public override void Write(Utf8JsonWriter writer, double? value, JsonSerializerOptions options)
        {
            if (value is double v && double.IsFinite(v)) writer.WriteNumberValue(v);
            else writer.WriteNullValue();
        }
    }
}

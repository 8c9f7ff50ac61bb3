using System.Globalization;
using Curvature.Core;

namespace Curvature.Optimizers;

/// <summary>The four update rules; all are the interpolated step with particular (α_dom, α_bulk).</summary>
public enum OptimizerKind
{
    /// <summary>(1, 1): plain SGD, no projection.</summary>
    [CliName("sgd")]
    Sgd,

    /// <summary>(1, 0): Dom-SGD, the step restricted to the dominant subspace.</summary>
    [CliName("dom")]
    Dom,

    /// <summary>(0, 1): Bulk-SGD, the step restricted to the complement of the dominant subspace.</summary>
    [CliName("bulk")]
    Bulk,

    /// <summary>(α_dom, α_bulk) as given.</summary>
    [CliName("interp")]
    Interp,
}

/// <summary>The base rule that turns the gradient g' into the update u before it is projected.</summary>
public enum UpdateRule
{
    /// <summary>u = g', or heavy-ball u = v with v ← μ·v + g' when μ &gt; 0.</summary>
    [CliName("sgd")]
    Sgd,

    /// <summary>Adam (PyTorch's torch.optim.Adam): u = m̂/(√ŝ + ε).</summary>
    [CliName("adam")]
    Adam,
}

/// <summary>Which χ_k the χ switch averages.</summary>
public enum ChiSource
{
    /// <summary>χ_k(g') of each step's minibatch gradient, averaged over steps.</summary>
    [CliName("minibatch")]
    Minibatch,

    /// <summary>χ_k(∇L) of the full training-set gradient in the new basis, measured at each tracker refresh and averaged over refreshes.</summary>
    [CliName("full")]
    Full,
}

/// <summary>
/// The update θ ← θ − η_t·d, d = α_dom·P_dom u + α_bulk·P_bulk u, where u is the base rule's
/// update from g' = g + λ_wd·θ (SGD: u = g'; heavy-ball: v ← μ·v + g', u = v; Adam:
/// u = m̂/(√ŝ + ε)). See docs/optimizers.md for the conventions.
/// </summary>
public sealed record StepOptions
{
    /// <summary>Which rule: sgd, dom, bulk or interp.</summary>
    public OptimizerKind Kind { get; init; } = OptimizerKind.Sgd;

    /// <summary>α_dom, used only by <see cref="OptimizerKind.Interp"/>.</summary>
    public double AlphaDom { get; init; } = 1.0;

    /// <summary>α_bulk, used only by <see cref="OptimizerKind.Interp"/>.</summary>
    public double AlphaBulk { get; init; } = 1.0;

    /// <summary>The base learning rate η.</summary>
    public double LearningRate { get; init; } = 0.5;

    /// <summary>Steps of linear warm-up: η_t = η·(t+1)/W for t &lt; W, then η. 0 means constant η.</summary>
    public int WarmupSteps { get; init; }

    /// <summary>Heavy-ball momentum μ ∈ [0, 1).</summary>
    public double Momentum { get; init; }

    /// <summary>The base rule: SGD (with <see cref="Momentum"/>) or Adam.</summary>
    public UpdateRule Update { get; init; } = UpdateRule.Sgd;

    /// <summary>Adam's β1, the decay of the first moment m.</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>Adam's β2, the decay of the second moment s.</summary>
    public double Beta2 { get; init; } = 0.999;

    /// <summary>Adam's ε, added to √ŝ.</summary>
    public double AdamEpsilon { get; init; } = 1e-8;

    /// <summary>L2 weight decay λ_wd, added to the gradient before the base rule sees it.</summary>
    public double WeightDecay { get; init; }

    /// <summary>
    /// When set, the step is plain SGD until the exponential moving average of χ_k(g') first
    /// reaches this threshold, and projected from then on. Null projects from the first step.
    /// </summary>
    public double? SwitchChi { get; init; }

    /// <summary>
    /// When set, the step is plain SGD for the steps before this step count and projected from it
    /// on (Song et al.'s switch at a given step). Null projects from the first step. Exclusive with
    /// <see cref="SwitchChi"/>.
    /// </summary>
    public int? SwitchStep { get; init; }

    /// <summary>
    /// The χ_k that <see cref="SwitchChi"/>'s moving average follows: each step's minibatch gradient
    /// (the default), or the full training-set gradient at each tracker refresh (U only changes there).
    /// </summary>
    public ChiSource SwitchChiSource { get; init; } = ChiSource.Minibatch;

    /// <summary>The EMA factor β in m ← β·m + (1 − β)·χ_k.</summary>
    public double ChiEmaDecay { get; init; } = 0.9;

    /// <summary>(α_dom, α_bulk) of the rule.</summary>
    public (double Dom, double Bulk) Alphas => Kind switch
    {
        OptimizerKind.Sgd => (1.0, 1.0),
        OptimizerKind.Dom => (1.0, 0.0),
        OptimizerKind.Bulk => (0.0, 1.0),
        _ => (AlphaDom, AlphaBulk),
    };

    /// <summary>Whether the rule needs the dominant subspace at all (α_dom ≠ α_bulk).</summary>
    public bool NeedsSubspace => Alphas.Dom != Alphas.Bulk;

    /// <summary>η_t for the step that starts at step count <paramref name="step"/> (0-based).</summary>
    public double LearningRateAt(long step) =>
        WarmupSteps > 0 && step < WarmupSteps ? LearningRate * (step + 1) / WarmupSteps : LearningRate;

    /// <summary>Throws an ArgumentException naming the first invalid option.</summary>
    public void Validate()
    {
        Guard.Positive(LearningRate, "lr");
        Guard.NonNegative(WarmupSteps, "warmup");
        if (!(Momentum >= 0 && Momentum < 1))
            throw new ArgumentOutOfRangeException("momentum", $"Option 'momentum' was {Show(Momentum)}; expected a number in [0, 1).");
        Guard.NonNegative(WeightDecay, "weight-decay");
        Guard.Finite(AlphaDom, "alpha-dom");
        Guard.Finite(AlphaBulk, "alpha-bulk");
        if (SwitchChi is double s) Guard.InRange(s, 0.0, 1.0, "switch-chi");
        if (SwitchStep is int at) Guard.NonNegative(at, "switch-step");
        if (SwitchChi is not null && SwitchStep is not null)
            throw new ArgumentException($"Option 'switch-step' was {SwitchStep} with switch-chi {Show(SwitchChi.Value)}; expected one switch, not both.", "switch-step");
        if (!Enum.IsDefined(SwitchChiSource))
            throw new ArgumentOutOfRangeException("switch-chi-source", $"Option 'switch-chi-source' was {SwitchChiSource}; expected minibatch or full.");
        if (SwitchChiSource == ChiSource.Full && SwitchChi is null)
            throw new ArgumentException("Option 'switch-chi-source' was full without switch-chi; expected switch-chi TAU with it (the full-batch χ feeds only the switch).", "switch-chi-source");
        if (!(ChiEmaDecay >= 0 && ChiEmaDecay < 1))
            throw new ArgumentOutOfRangeException("chi-ema", $"Option 'chi-ema' was {Show(ChiEmaDecay)}; expected a number in [0, 1).");
        if (!Enum.IsDefined(Update))
            throw new ArgumentOutOfRangeException("update", $"Option 'update' was {Update}; expected sgd or adam.");
        if (Update == UpdateRule.Adam && Momentum != 0)
            throw new ArgumentOutOfRangeException("momentum", $"Option 'momentum' was {Show(Momentum)} with update adam; expected 0 (Adam's first moment decays with beta1).");
        if (!(Beta1 >= 0 && Beta1 < 1))
            throw new ArgumentOutOfRangeException("beta1", $"Option 'beta1' was {Show(Beta1)}; expected a number in [0, 1).");
        if (!(Beta2 >= 0 && Beta2 < 1))
            throw new ArgumentOutOfRangeException("beta2", $"Option 'beta2' was {Show(Beta2)}; expected a number in [0, 1).");
        if (!(AdamEpsilon > 0 && double.IsFinite(AdamEpsilon)))
            throw new ArgumentOutOfRangeException("adam-eps", $"Option 'adam-eps' was {Show(AdamEpsilon)}; expected a positive finite number.");
        if (!Enum.IsDefined(Kind))
            throw new ArgumentOutOfRangeException("optimizer", $"Option 'optimizer' was {Kind}; expected sgd, dom, bulk or interp.");
    }

    static string Show(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}

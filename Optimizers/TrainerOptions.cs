using System.Globalization;
using Curvature.Core;

namespace Curvature.Optimizers;

/// <summary>Everything that decides a training trajectory, plus how often it is measured.</summary>
public sealed record TrainerOptions
{
    /// <summary>The update rule.</summary>
    public StepOptions Step { get; init; } = new();

    /// <summary>The dominant-subspace tracker; required when the step projects, optional for SGD (then it only feeds metrics).</summary>
    public TrackerOptions? Tracker { get; init; }

    /// <summary>Examples per minibatch; equal to the number of examples gives full-batch gradient descent.</summary>
    public int BatchSize { get; init; } = DefaultBatchSize;

    /// <summary>The default <see cref="BatchSize"/> (a run on fewer examples uses them all).</summary>
    public const int DefaultBatchSize = 100;

    /// <summary>Total number of updates.</summary>
    public int Steps { get; init; } = 1000;

    /// <summary>M: metrics are measured at every step count divisible by M, and at the end (default: <see cref="DefaultEvalEvery"/> of the default <see cref="Steps"/>).</summary>
    public int EvalEvery { get; init; } = DefaultEvalEvery(1000);

    /// <summary>The cadence used when none is given: about 50 points per run, max(1, steps/50).</summary>
    public static int DefaultEvalEvery(int steps) => Math.Max(1, steps / 50);

    /// <summary>Seed of the minibatch order.</summary>
    public ulong Seed { get; init; }

    /// <summary>
    /// N: λ₁ of the curvature on every training example (<see cref="MetricsRow.Lambda1Full"/>) is
    /// measured at every step count divisible by N, each with a metrics row; null: never.
    /// </summary>
    public int? FullLambdaEvery { get; init; }

    /// <summary>
    /// L: when the rule never projects (<see cref="StepOptions.NeedsSubspace"/> false: sgd, or interp with
    /// α_dom = α_bulk) the tracker only feeds the metrics, and is refreshed every L steps instead of
    /// every T. Null: <see cref="DefaultCurvatureLogEvery"/>. Projecting rules keep T.
    /// </summary>
    public int? CurvatureLogEvery { get; init; }

    /// <summary>The curvature log's default cadence: max(T, 10·M), every tenth metrics row at the default T.</summary>
    public static int DefaultCurvatureLogEvery(int refreshEvery, int evalEvery) => (int)Math.Min(int.MaxValue, Math.Max(refreshEvery, 10L * evalEvery));

    /// <summary>
    /// The residual tolerance of the curvature log's solves (a rule that never projects), in place of
    /// the tracker's own <see cref="TrackerOptions.Tolerance"/>, which projecting rules use.
    /// </summary>
    public double CurvatureLogTolerance { get; init; } = DefaultCurvatureLogTolerance;

    /// <summary>The default <see cref="CurvatureLogTolerance"/>: a log of λ's and χ_k, not a basis to project on.</summary>
    public const double DefaultCurvatureLogTolerance = 1e-2;

    /// <summary>
    /// The tracker options the trainer runs: <see cref="Tracker"/>, with <see cref="CurvatureLogTolerance"/>
    /// as the tolerance when the rule never projects; null without a tracker.
    /// </summary>
    public TrackerOptions? EffectiveTracker => Tracker is null || Step.NeedsSubspace ? Tracker : Tracker with { Tolerance = CurvatureLogTolerance };

    /// <summary>
    /// The step period of the tracker's refreshes: T when the rule projects, the curvature log's L when
    /// it does not (docs/optimizers.md, "What an unprojected run measures"); 0 without a tracker.
    /// </summary>
    public int RefreshPeriod => Tracker is null ? 0
        : Step.NeedsSubspace ? Tracker.RefreshEvery
        : CurvatureLogEvery ?? DefaultCurvatureLogEvery(Tracker.RefreshEvery, EvalEvery);

    /// <summary>A loss above this multiple of the initial training loss (or a non-finite one) ends the run as diverged.</summary>
    public double DivergenceFactor { get; init; } = 100;

    /// <summary>Throws an ArgumentException naming the first option that does not fit this problem.</summary>
    public void Validate(int parameterCount, int exampleCount)
    {
        Guard.NotNull(Step);
        Step.Validate();
        if (BatchSize < 1 || BatchSize > exampleCount)
            throw new ArgumentOutOfRangeException("batch", $"Option 'batch' was {BatchSize}; expected an integer in [1, {exampleCount}] (at most the {exampleCount} training examples).");
        Guard.NonNegative(Steps, "steps");
        Guard.Positive(EvalEvery, "eval-every");
        if (FullLambdaEvery is int f) Guard.Positive(f, "full-lambda-every");
        if (CurvatureLogEvery is int l) Guard.Positive(l, "curvature-log-every");
        Guard.Positive(CurvatureLogTolerance, "curvature-log-tolerance");
        if (Step.SwitchChiSource == ChiSource.Full && Tracker is null)
            throw new ArgumentException("Option 'switch-chi-source' was full without a tracker; expected k ≥ 1 (the full-batch χ is measured in the tracked subspace).", "switch-chi-source");
        if (!(DivergenceFactor > 1) || !double.IsFinite(DivergenceFactor))
            throw new ArgumentOutOfRangeException("divergence-factor", $"Option 'divergence-factor' was {DivergenceFactor.ToString("R", CultureInfo.InvariantCulture)}; expected a finite number above 1.");
        if (Tracker is null && Step.NeedsSubspace)
            throw new ArgumentException($"Option 'k' is missing; the {Step.Kind.ToString().ToLowerInvariant()} step with (α_dom, α_bulk) = ({Step.Alphas.Dom}, {Step.Alphas.Bulk}) needs a dominant subspace (k ≥ 1).", "k");
        Tracker?.Validate(parameterCount, exampleCount);
    }

    /// <summary>
    /// The options that shape the trajectory, as name/value pairs: a checkpoint resumes only
    /// under the same ones (<see cref="Steps"/> may grow).
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, string>> Fingerprint(int parameterCount, int exampleCount)
    {
        var c = CultureInfo.InvariantCulture;
        static string D(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        var s = Step;
        var list = new List<KeyValuePair<string, string>>
        {
            new("parameters", parameterCount.ToString(c)),
            new("examples", exampleCount.ToString(c)),
            new("optimizer", s.Kind.ToString()),
            new("alpha-dom", D(s.Alphas.Dom)),
            new("alpha-bulk", D(s.Alphas.Bulk)),
            new("lr", D(s.LearningRate)),
            new("warmup", s.WarmupSteps.ToString(c)),
            new("momentum", D(s.Momentum)),
            new("update", s.Update.ToString()),
            new("weight-decay", D(s.WeightDecay)),
            new("switch-chi", s.SwitchChi is double x ? D(x) : ""),
            new("chi-ema", D(s.ChiEmaDecay)),
            new("batch", BatchSize.ToString(c)),
            new("eval-every", EvalEvery.ToString(c)),
            new("seed", Seed.ToString(c)),
            new("divergence-factor", D(DivergenceFactor)),
        };
        // Only when set, so checkpoints written before the option existed still resume.
        if (s.SwitchStep is int at) list.Add(new("switch-step", at.ToString(c)));
        if (s.SwitchChiSource != ChiSource.Minibatch) list.Add(new("switch-chi-source", s.SwitchChiSource.ToString()));
        if (FullLambdaEvery is int fl) list.Add(new("full-lambda-every", fl.ToString(c)));
        if (CurvatureLogEvery is int cl) list.Add(new("curvature-log-every", cl.ToString(c)));
        if (CurvatureLogTolerance != DefaultCurvatureLogTolerance) list.Add(new("curvature-log-tolerance", D(CurvatureLogTolerance)));
        if (s.Update == UpdateRule.Adam)
        {
            list.Add(new("beta1", D(s.Beta1)));
            list.Add(new("beta2", D(s.Beta2)));
            list.Add(new("adam-eps", D(s.AdamEpsilon)));
        }
        if (Tracker is { } t)
        {
            list.Add(new("curvature", t.Kind.ToString()));
            list.Add(new("k", t.K.ToString(c)));
            list.Add(new("refresh", t.RefreshEvery.ToString(c)));
            list.Add(new("hessian-batch", t.HessianBatch.ToString(c)));
            list.Add(new("solver", t.Solver.ToString()));
            list.Add(new("warm-start", t.WarmStart ? "true" : "false"));
            list.Add(new("tolerance", D(t.Tolerance)));
            list.Add(new("max-matvecs", t.MaxMatvecs?.ToString(c) ?? ""));
            list.Add(new("max-iterations", t.MaxIterations?.ToString(c) ?? ""));
            list.Add(new("tracker-seed", t.Seed.ToString(c)));
            // Only for a control subspace, so checkpoints written before the option still resume.
            if (t.Subspace != SubspaceKind.Top) list.Add(new("subspace", t.Subspace.ToString()));
        }
        else list.Add(new("k", "0"));
        return list;
    }
}

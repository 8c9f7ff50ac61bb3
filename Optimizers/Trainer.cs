using System.Diagnostics;
using System.Globalization;
using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using Curvature.Spectral;

namespace Curvature.Optimizers;

/// <summary>Reported after every step (and with <see cref="Row"/> set when metrics were just measured).</summary>
public readonly record struct TrainingProgress(long Step, long TotalSteps, double BatchLoss, double? Lambda1, MetricsRow? Row);

/// <summary>Where a run stands.</summary>
public enum TrainingStatus
{
    /// <summary>Not finished: more steps to go.</summary>
    Running,

    /// <summary>All steps done with a finite loss.</summary>
    Completed,

    /// <summary>The loss blew up (non-finite, or above the divergence factor times the initial loss); see the step it happened at.</summary>
    Diverged,

    /// <summary>Cancelled before the last step.</summary>
    Interrupted,
}

/// <summary>How a run ended and where.</summary>
/// <param name="Status">How it ended.</param>
/// <param name="StoppedAt">The step it diverged or was interrupted at; null otherwise.</param>
/// <param name="Steps">Updates done.</param>
/// <param name="Final">The last metrics row, or null.</param>
/// <param name="Matvecs">Curvature-vector products the tracker spent.</param>
/// <param name="Seconds">Wall-clock seconds of training.</param>
public sealed record TrainingResult(TrainingStatus Status, long? StoppedAt, long Steps, MetricsRow? Final, long Matvecs, double Seconds)
{
    /// <summary>Whether every step was done.</summary>
    public bool Completed => Status == TrainingStatus.Completed;

    /// <summary>Whether the run diverged (at <see cref="StoppedAt"/>).</summary>
    public bool Diverged => Status == TrainingStatus.Diverged;

    /// <summary>"completed", "running", "diverged at step N" or "interrupted at step N".</summary>
    public string Text => TrainingStatusText.Format(Status, StoppedAt);
}

/// <summary>The human-readable form of a status, as reports print it.</summary>
public static class TrainingStatusText
{
    /// <summary>"completed", "running", "diverged at step N" or "interrupted at step N".</summary>
    public static string Format(TrainingStatus status, long? step) => status switch
    {
        TrainingStatus.Diverged => string.Create(CultureInfo.InvariantCulture, $"diverged at step {step}"),
        TrainingStatus.Interrupted => string.Create(CultureInfo.InvariantCulture, $"interrupted at step {step}"),
        _ => status.ToString().ToLowerInvariant(),
    };

    /// <summary>
    /// What to try after a divergence: the measured top eigenvalue λ₁ of the tracked curvature and
    /// the largest stable learning rate it implies, 2/λ₁ (gradient descent on a quadratic with
    /// curvature λ₁ diverges for η &gt; 2/λ₁; docs/optimizers.md).
    /// </summary>
    public static string DivergenceAdvice(double? lambda1, double learningRate) => lambda1 is double l && l > 0 && double.IsFinite(l)
        ? string.Create(CultureInfo.InvariantCulture, $"measured λ₁ = {l:G4}, so the largest stable learning rate is 2/λ₁ = {2 / l:G4} (η was {learningRate:G4}); try --lr {0.5 * (2 / l):G2} or lower.")
        : string.Create(CultureInfo.InvariantCulture, $"λ₁ was not measured (no tracker: k 0); η was {learningRate:G4}: try a smaller --lr, or k ≥ 1 to see λ₁ and its stable bound 2/λ₁.");
}

/// <summary>
/// The training loop: seeded minibatches drawn without replacement within each epoch, the
/// interpolated step, the tracker refreshed every T steps (every L steps when the rule never
/// projects and the tracker only feeds the metrics: <see cref="TrainerOptions.RefreshPeriod"/>),
/// metrics every M steps (and every N with <see cref="TrainerOptions.FullLambdaEvery"/>),
/// divergence detection, and checkpoints that resume bit for bit.
/// </summary>
/// <remarks>
/// Step s means θ after s updates. The update from θ_s uses the basis computed at the last
/// refresh at or before s; a refresh due at s is done right after the update that produced θ_s,
/// so the state at a step boundary (what a checkpoint holds) is complete.
/// </remarks>
public sealed class Trainer
{
    readonly IObjective _train;
    readonly IObjective? _test;
    readonly TrainerOptions _o;
    readonly int _n;
    readonly int _examples;
    readonly ProjectedSgd _optimizer;
    readonly SubspaceTracker? _tracker;
    readonly double[] _theta;
    readonly double[] _gradient;
    readonly double[] _scratch;
    readonly int[] _permutation;
    readonly int[]? _batch;
    readonly List<MetricsRow> _metrics = [];
    long _rowsBefore;
    MetricsRow? _lastBefore;
    Rng _rng;
    int _position;
    int _epoch;
    double _referenceLoss = double.NaN;
    double _secondsBefore;
    Stopwatch? _clock;

    /// <summary>A fresh run from <paramref name="theta0"/> (copied).</summary>
    public Trainer(IObjective train, IObjective? test, TrainerOptions options, ReadOnlySpan<double> theta0)
    {
        Guard.NotNull(train);
        Guard.NotNull(options);
        options.Validate(train.ParameterCount, train.ExampleCount);
        _train = train;
        _test = test;
        _o = options;
        _n = train.ParameterCount;
        _examples = train.ExampleCount;
        if (test is not null && test.ParameterCount != _n)
            throw new ArgumentException($"Argument 'test' has {test.ParameterCount} parameters; expected the training objective's {_n}.", nameof(test));
        Guard.Length(theta0, _n, nameof(theta0));
        Guard.AllFinite(theta0, nameof(theta0));
        _theta = theta0.ToArray();
        _gradient = new double[_n];
        _scratch = new double[_n];
        _optimizer = new ProjectedSgd(options.Step, _n);
        _tracker = options.EffectiveTracker is { } tracker ? new SubspaceTracker(train, tracker) : null;
        bool fullBatch = options.BatchSize == _examples;
        _permutation = fullBatch ? [] : Enumerable.Range(0, _examples).ToArray();
        _batch = fullBatch ? null : new int[options.BatchSize];
        _rng = new Rng(options.Seed ^ 0x4D494E4942415443UL);
        // Nothing drawn yet: the first batch shuffles and starts epoch 0.
        _position = _examples;
        _epoch = -1;
        Status = TrainingStatus.Running;
    }

    /// <summary>
    /// Continues the run saved in <paramref name="checkpoint"/>; the options must be those it was
    /// written with, except Steps (the new total) and the learning rate (a run that diverged goes on
    /// from its last good checkpoint with a smaller one; the schedule from the checkpoint's step uses the new rate).
    /// </summary>
    public static Trainer Resume(IObjective train, IObjective? test, TrainerOptions options, TrainerCheckpoint checkpoint)
    {
        Guard.NotNull(checkpoint);
        Guard.NotNull(options);
        var expected = options.Fingerprint(train.ParameterCount, train.ExampleCount);
        foreach (var (key, value) in expected)
        {
            // The learning rate may change on resume: the natural way on from a run that diverged.
            if (key == "lr") continue;
            var saved = checkpoint.Fingerprint.FirstOrDefault(p => p.Key == key);
            if (saved.Key is null || saved.Value != value)
                throw new ArgumentException($"Option '{key}' is '{value}' but the checkpoint was written with '{saved.Value ?? "(absent)"}'; expected the options the checkpoint was written with.", key);
        }
        if (checkpoint.Fingerprint.Count != expected.Count)
            throw new ArgumentException($"Argument 'checkpoint' records {checkpoint.Fingerprint.Count} options; expected {expected.Count}.", nameof(checkpoint));
        if (checkpoint.Status == TrainingStatus.Diverged)
            throw new ArgumentException($"Argument 'checkpoint' records a run that {TrainingStatusText.Format(checkpoint.Status, checkpoint.StoppedAt)}; expected a run that completed or was interrupted.", nameof(checkpoint));
        if (checkpoint.Step > options.Steps)
            throw new ArgumentOutOfRangeException("steps", $"Option 'steps' was {options.Steps}; expected at least the checkpoint's step {checkpoint.Step}.");
        var t = new Trainer(train, test, options, checkpoint.Theta);
        t.Step = checkpoint.Step;
        t._epoch = checkpoint.Epoch;
        t._position = checkpoint.Position;
        if (checkpoint.Permutation.Length != t._permutation.Length)
            throw new ArgumentException($"Argument 'checkpoint' has a permutation of {checkpoint.Permutation.Length} examples; expected {t._permutation.Length}.", nameof(checkpoint));
        checkpoint.Permutation.CopyTo(t._permutation, 0);
        t._rng = Rng.FromState(checkpoint.Rng);
        t._optimizer.Restore(checkpoint.Velocity, checkpoint.SecondMoment, checkpoint.Updates, checkpoint.AlignmentEma, checkpoint.Projecting, checkpoint.UpdateShare);
        if ((checkpoint.Tracker is null) != (t._tracker is null))
            throw new ArgumentException("Argument 'checkpoint' and the options disagree on whether a tracker runs; expected the same.", nameof(checkpoint));
        if (checkpoint.Tracker is not null) t._tracker!.Restore(checkpoint.Tracker);
        t._referenceLoss = checkpoint.ReferenceLoss;
        t._secondsBefore = checkpoint.Seconds;
        // The rows before the checkpoint stay in metrics.csv; only their count and the last one come back.
        t._rowsBefore = checkpoint.MetricsRows;
        t._lastBefore = checkpoint.LastMetrics;
        t.Status = TrainingStatus.Running;
        return t;
    }

    /// <summary>The options the run was started with.</summary>
    public TrainerOptions Options => _o;

    /// <summary>Updates done so far.</summary>
    public long Step { get; private set; }

    /// <summary>The current parameters θ_Step.</summary>
    public ReadOnlySpan<double> Theta => _theta;

    /// <summary>Where the run stands.</summary>
    public TrainingStatus Status { get; private set; }

    /// <summary>The step the run diverged or was interrupted at; null while running or once completed.</summary>
    public long? StoppedAt { get; private set; }

    /// <summary>
    /// The metrics rows this trainer measured, one per measured step: the whole run for a fresh
    /// trainer, the rows after the checkpoint for a resumed one (the earlier rows are in the run's
    /// metrics.csv, <see cref="MetricsRowsBefore"/> of them).
    /// </summary>
    public IReadOnlyList<MetricsRow> Metrics => _metrics;

    /// <summary>Rows measured before the checkpoint this trainer resumed from (0 for a fresh run).</summary>
    public long MetricsRowsBefore => _rowsBefore;

    /// <summary>The last metrics row of the run (measured here or carried by the checkpoint), or null.</summary>
    public MetricsRow? LastMetrics => _metrics.Count > 0 ? _metrics[^1] : _lastBefore;

    /// <summary>The dominant-subspace tracker, or null when the rule needs none and none was asked for.</summary>
    public SubspaceTracker? Tracker => _tracker;

    /// <summary>The update rule with its momentum and χ-switch state.</summary>
    public ProjectedSgd Optimizer => _optimizer;

    /// <summary>Wall-clock seconds spent in <see cref="Run"/> over this run and every segment before a resume.</summary>
    public double Seconds => _secondsBefore + (_clock?.Elapsed.TotalSeconds ?? 0);

    /// <summary>
    /// Trains until step <paramref name="untilStep"/> (default: the options' total), divergence,
    /// or cancellation, and returns how it ended. May be called again to go on.
    /// </summary>
    public TrainingResult Run(IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default, long? untilStep = null)
    {
        long until = untilStep ?? _o.Steps;
        if (until < Step || until > _o.Steps)
            throw new ArgumentOutOfRangeException(nameof(untilStep), $"Argument 'untilStep' was {until}; expected a step in [{Step}, {_o.Steps}].");
        if (Status == TrainingStatus.Diverged) return Result();
        Status = TrainingStatus.Running;
        StoppedAt = null;
        var clock = Stopwatch.StartNew();
        _clock = clock;
        try
        {
            if (_tracker is not null && !_tracker.HasBasis)
            {
                _tracker.Refresh(_theta);
                ObserveFullBatchAlignment();
            }
            while (Step < until)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    Stop(TrainingStatus.Interrupted);
                    break;
                }
                MetricsRow? row = null;
                if (IsMetricsStep(Step))
                {
                    row = Measure();
                    if (IsDivergent(row.TrainLoss)) { Stop(TrainingStatus.Diverged); break; }
                }
                var batch = NextBatch();
                double loss = _train.LossAndGradient(_theta, _gradient, batch);
                if (IsDivergent(loss))
                {
                    Diverge();
                    break;
                }
                _optimizer.Step(_theta, _gradient, _tracker?.Projector, Step);
                Step++;
                if (!AllFinite(_theta)) { Diverge(); break; }
                if (_tracker is not null && (!_tracker.HasBasis || Step % _o.RefreshPeriod == 0) && !TryRefresh()) break;
                progress?.Report(new TrainingProgress(Step, _o.Steps, loss, Lambda1, row));
            }
            if (Status == TrainingStatus.Running && Step == _o.Steps)
            {
                var row = Measure();
                if (IsDivergent(row.TrainLoss)) Stop(TrainingStatus.Diverged);
                else Status = TrainingStatus.Completed;
                progress?.Report(new TrainingProgress(Step, _o.Steps, row.TrainLoss, Lambda1, row));
            }
        }
        finally
        {
            _secondsBefore += clock.Elapsed.TotalSeconds;
            _clock = null;
        }
        return Result();
    }

    double? Lambda1 => _tracker is { HasBasis: true } t ? t.Eigenvalues[0] : null;

    bool IsMetricsStep(long step) => step % _o.EvalEvery == 0 || (_o.FullLambdaEvery is int n && step % n == 0);

    /// <summary>
    /// The full training-set gradient at θ_Step in <see cref="_scratch"/>, its norm and the norm of its
    /// part in the current basis (NaN without one): the one computation behind the metrics' χ_k and the
    /// full-batch χ switch, so the two agree bit for bit.
    /// </summary>
    (double GradNorm, double DomNorm) FullGradientSplit()
    {
        _train.LossAndGradient(_theta, _scratch, null);
        double gradNorm = Blas.Nrm2(_scratch);
        double dom = _tracker is { HasBasis: true } t && double.IsFinite(gradNorm) ? t.Projector.DominantNorm(_scratch) : double.NaN;
        return (gradNorm, dom);
    }

    static double Chi(double gradNorm, double dom) => gradNorm == 0 ? 0.0 : dom / gradNorm;

    /// <summary>After a refresh: χ_k of the full gradient in the new basis, for a full-batch χ switch.</summary>
    void ObserveFullBatchAlignment()
    {
        if (_o.Step.SwitchChiSource != ChiSource.Full) return;
        var (gradNorm, dom) = FullGradientSplit();
        if (double.IsFinite(gradNorm) && double.IsFinite(dom)) _optimizer.ObserveFullBatchAlignment(Chi(gradNorm, dom));
    }

    /// <summary>λ₁ of the curvature on every training example at θ_Step: a cold single-vector Lanczos solve seeded by the step, so it needs no state.</summary>
    double FullLambda1()
    {
        var kind = _o.Tracker?.Kind ?? CurvatureKind.Hessian;
        var op = _train.CurvatureOperator(kind, _theta, null);
        var r = Eigensolver.TopK(op, 1, EigenSolver.Lanczos, new EigenOptions
        {
            Tolerance = _o.Tracker?.Tolerance ?? FullLambdaTolerance,
            Seed = unchecked(_o.Seed ^ 0x46554C4C4C414DUL) + (ulong)Step,
        });
        return r.Values[0];
    }

    /// <summary>The residual tolerance of <see cref="TrainerOptions.FullLambdaEvery"/>'s solve in a run without a tracker (the tracker's default).</summary>
    public const double FullLambdaTolerance = 1e-4;

    void Stop(TrainingStatus status)
    {
        Status = status;
        StoppedAt = Step;
    }

    TrainingResult Result() => new(Status, StoppedAt, Step, LastMetrics, _tracker?.Matvecs ?? 0, Seconds);

    /// <summary>Ends the run as diverged at the current step, with a last measurement of θ there.</summary>
    void Diverge()
    {
        Stop(TrainingStatus.Diverged);
        if (!AllFinite(_theta)) return;
        try { Measure(); }
        catch (Exception e) when (e is ArithmeticException or ArgumentException)
        {
            // An objective may refuse a blown-up θ; the status already says what happened.
        }
    }

    bool TryRefresh()
    {
        try
        {
            _tracker!.Refresh(_theta);
            ObserveFullBatchAlignment();
            return true;
        }
        catch (Exception e) when (e is ArithmeticException or ArgumentException or InvalidOperationException)
        {
            // A solver failing on a finite θ is only a result when the loss there has blown up.
            double loss = _train.Evaluate(_theta).Loss;
            if (!IsDivergent(loss)) throw;
            Diverge();
            return false;
        }
    }

    bool IsDivergent(double loss) =>
        !double.IsFinite(loss) || (double.IsFinite(_referenceLoss) && _referenceLoss > 0 && loss > _o.DivergenceFactor * _referenceLoss);

    static bool AllFinite(ReadOnlySpan<double> x)
    {
        foreach (var v in x) if (!double.IsFinite(v)) return false;
        return true;
    }

    /// <summary>The next minibatch: null (every example, in order) for full-batch descent.</summary>
    int[]? NextBatch()
    {
        if (_batch is null)
        {
            _epoch++;
            return null;
        }
        int b = _batch.Length;
        // An epoch ends when fewer than B unseen examples remain; they are dropped, so every step sees exactly B examples.
        if (_position + b > _examples)
        {
            _rng.Shuffle(_permutation.AsSpan());
            _position = 0;
            _epoch++;
        }
        Array.Copy(_permutation, _position, _batch, 0, b);
        _position += b;
        return _batch;
    }

    /// <summary>Measures θ_Step and appends the row (once per step).</summary>
    MetricsRow Measure()
    {
        if (LastMetrics is { } last && last.Step == Step) return last;
        var train = _train.Evaluate(_theta);
        if (double.IsNaN(_referenceLoss) && Step == 0) _referenceLoss = train.Loss;
        Evaluation? test = _test?.Evaluate(_theta);
        var (gradNorm, domNorm) = FullGradientSplit();
        double? dom = null, bulk = null, chi = null;
        if (_tracker is { HasBasis: true } t && double.IsFinite(gradNorm))
        {
            dom = domNorm;
            t.Projector.ProjectDominant(_scratch, _gradient);
            for (int i = 0; i < _n; i++) _gradient[i] = _scratch[i] - _gradient[i];
            bulk = Blas.Nrm2(_gradient);
            chi = Chi(gradNorm, domNorm);
        }
        double? lambdaFull = _o.FullLambdaEvery is int every && Step % every == 0 && double.IsFinite(train.Loss) ? FullLambda1() : null;
        var row = new MetricsRow
        {
            Step = Step,
            Epoch = _epoch + 1,
            LearningRate = _o.Step.LearningRateAt(Step),
            TrainLoss = train.Loss,
            TrainAccuracy = train.Accuracy,
            TestLoss = test?.Loss,
            TestAccuracy = test?.Accuracy,
            GradNorm = gradNorm,
            DomNorm = dom,
            BulkNorm = bulk,
            Chi = chi,
            ChiEma = double.IsNaN(_optimizer.AlignmentEma) ? null : _optimizer.AlignmentEma,
            Projecting = _optimizer.Projecting && _o.Step.NeedsSubspace,
            UpdateShare = double.IsNaN(_optimizer.UpdateShare) ? null : _optimizer.UpdateShare,
            Eigenvalues = _tracker is { HasBasis: true } tr ? tr.Eigenvalues.ToArray() : [],
            Lambda1Full = lambdaFull,
            BasisOverlap = _tracker is { } to && double.IsFinite(to.LastOverlap) ? to.LastOverlap : null,
            GapK = _tracker is { } tg && double.IsFinite(tg.LastGap) ? tg.LastGap : null,
            Matvecs = _tracker?.Matvecs ?? 0,
            Refreshes = _tracker?.Refreshes ?? 0,
            Seconds = Seconds,
        };
        _metrics.Add(row);
        return row;
    }

    /// <summary>The complete state at the current step boundary (<see cref="TrainerCheckpoint.MetricsBytes"/> unset: the writer of metrics.csv fills it in).</summary>
    public TrainerCheckpoint Checkpoint() => new()
    {
        Fingerprint = _o.Fingerprint(_n, _examples),
        Step = Step,
        Epoch = _epoch,
        Position = _position,
        Permutation = (int[])_permutation.Clone(),
        Rng = _rng.State,
        Theta = (double[])_theta.Clone(),
        Velocity = _optimizer.Velocity.ToArray(),
        SecondMoment = _optimizer.SecondMoment.ToArray(),
        Updates = _optimizer.Updates,
        AlignmentEma = _optimizer.AlignmentEma,
        Projecting = _optimizer.Projecting,
        UpdateShare = _optimizer.UpdateShare,
        Tracker = _tracker?.State,
        ReferenceLoss = _referenceLoss,
        Seconds = Seconds,
        Status = Status,
        StoppedAt = StoppedAt,
        MetricsRows = _rowsBefore + _metrics.Count,
        LastMetrics = LastMetrics,
    };
}

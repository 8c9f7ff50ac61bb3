using Curvature.Core;

namespace Curvature.Optimizers;

/// <summary>What one step measured on the gradient it used.</summary>
public readonly record struct StepReport(double LearningRate, double Alignment, double AlignmentEma, bool Projected);

/// <summary>
/// The interpolated family with the projection applied to the base rule's final update
/// (Song, Ahn &amp; Yun, ICLR 2025): from g' = g + λ_wd·θ the base rule forms u (SGD: u = g';
/// heavy-ball: v ← μ·v + g', u = v; Adam: u = m̂/(√ŝ + ε)), then
/// d = α_dom·P_dom u + α_bulk·(u − P_dom u) and θ ← θ − η_t·d. Holds the base rule's buffers,
/// its update count and the χ_k moving average (its whole state, for checkpoints) and scratch
/// of length n, so a step allocates nothing. See docs/optimizers.md, §2.
/// </summary>
public sealed class ProjectedSgd
{
    readonly StepOptions _o;
    readonly int _n;
    readonly double[] _direction;
    readonly double[] _dominant;
    readonly double[] _velocity;
    readonly double[] _second;

    /// <summary>The update rule <paramref name="options"/> for θ of length <paramref name="parameterCount"/>.</summary>
    public ProjectedSgd(StepOptions options, int parameterCount)
    {
        Guard.NotNull(options);
        options.Validate();
        Guard.Positive(parameterCount);
        _o = options;
        _n = parameterCount;
        _direction = new double[_n];
        _dominant = new double[_n];
        _velocity = new double[_n];
        _second = options.Update == UpdateRule.Adam ? new double[_n] : [];
        // Rules with α_dom = α_bulk never project, so a switch has nothing to switch.
        Projecting = (options.SwitchChi is null && options.SwitchStep is null) || !options.NeedsSubspace;
    }

    /// <summary>The rule's options.</summary>
    public StepOptions Options => _o;

    /// <summary>
    /// The first-moment buffer: heavy-ball's v, or Adam's m (zero until the first step; unused by
    /// SGD with μ = 0).
    /// </summary>
    public ReadOnlySpan<double> Velocity => _velocity;

    /// <summary>Adam's second moment s (length n with <see cref="UpdateRule.Adam"/>, empty otherwise).</summary>
    public ReadOnlySpan<double> SecondMoment => _second;

    /// <summary>Updates taken so far: Adam's t of the bias corrections 1 − β^t (counted for every rule).</summary>
    public long Updates { get; private set; }

    /// <summary>
    /// The EMA of χ_k(g') over the steps that had a projector (minibatch source), or of the
    /// full-batch χ_k over the refreshes (<see cref="ChiSource.Full"/>); NaN before the first.
    /// </summary>
    public double AlignmentEma { get; private set; } = double.NaN;

    /// <summary>
    /// ‖P_dom d‖/‖d‖ of the last update d actually taken (after the projection, before η), measured
    /// on the basis that step used; NaN when that step had no projector. 0 for d = 0.
    /// </summary>
    public double UpdateShare { get; private set; } = double.NaN;

    /// <summary>Whether steps are projected (always, without a switch; after the switch, with one).</summary>
    public bool Projecting { get; private set; }

    /// <summary>
    /// One update of <paramref name="theta"/> from the (minibatch) gradient <paramref name="gradient"/>
    /// at step count <paramref name="step"/>. <paramref name="projector"/> is required whenever α_dom ≠ α_bulk.
    /// </summary>
    public StepReport Step(Span<double> theta, ReadOnlySpan<double> gradient, SubspaceProjector? projector, long step)
    {
        if (theta.Length != _n)
            throw new ArgumentException($"Argument 'theta' has length {theta.Length}; expected the optimizer's parameter count {_n}.", nameof(theta));
        if (gradient.Length != _n)
            throw new ArgumentException($"Argument 'gradient' has length {gradient.Length}; expected the optimizer's parameter count {_n}.", nameof(gradient));
        var (a, b) = _o.Alphas;
        if (a != b && (projector is null || projector.Dimension != _n))
            throw new ArgumentException($"Argument 'projector' was {(projector is null ? "null" : $"of dimension {projector.Dimension}")}; expected a projector of dimension {_n} for ({a}, {b}) steps.", nameof(projector));

        double lr = _o.LearningRateAt(step);
        var u = _direction.AsSpan();
        var p = _dominant.AsSpan();
        double wd = _o.WeightDecay;
        // g' = g + λ_wd·θ, written without touching g when λ_wd = 0 so SGD keeps g's exact bits.
        if (wd == 0) gradient.CopyTo(u);
        else for (int i = 0; i < _n; i++) u[i] = gradient[i] + wd * theta[i];

        // χ_k is always that of the gradient g' (what the switch and the metrics mean by
        // alignment), whichever base rule then turns g' into u.
        double chi = double.NaN;
        if (!Projecting && _o.SwitchStep is int at && step >= at) Projecting = true;
        bool minibatchEma = _o.SwitchChiSource == ChiSource.Minibatch;
        if (!Projecting && minibatchEma)
        {
            chi = projector!.Alignment(u);
            UpdateEma(chi);
            if (_o.SwitchChi is double tau && AlignmentEma >= tau) Projecting = true;
        }
        bool project = Projecting && a != b;
        bool plainGradient = _o.Update == UpdateRule.Sgd && _o.Momentum == 0;
        if (project && !plainGradient && double.IsNaN(chi) && minibatchEma)
        {
            chi = projector!.Alignment(u);
            UpdateEma(chi);
        }

        FormUpdate(u);
        Updates++;

        if (project)
        {
            // d = a·P_dom u + b·(u − P_dom u); the zero-coefficient term is skipped rather than
            // multiplied by 0 so that Dom is exactly P_dom u and Bulk exactly u − P_dom u.
            projector!.ProjectDominant(u, p);
            if (double.IsNaN(chi) && minibatchEma)
            {
                // u = g' here (plain SGD), so P_dom u already gives χ_k(g') without a second projection.
                double gNorm = Blas.Nrm2(u);
                chi = gNorm == 0 ? 0.0 : Blas.Nrm2(p) / gNorm;
                UpdateEma(chi);
            }
            if (b == 0) for (int i = 0; i < _n; i++) u[i] = a * p[i];
            else if (a == 0) for (int i = 0; i < _n; i++) u[i] = b * (u[i] - p[i]);
            else for (int i = 0; i < _n; i++) u[i] = a * p[i] + b * (u[i] - p[i]);
        }
        else if (Projecting && a != 1)
        {
            // a = b: P_dom + P_bulk = I, so d = a·u with no projection; a = b = 1 leaves u untouched,
            // which is what makes interp(1, 1) the SGD step bit for bit.
            for (int i = 0; i < _n; i++) u[i] *= a;
        }

        // The share of the step actually taken inside U (Bulk: ~0, Dom: 1), reading u only.
        UpdateShare = projector is null ? double.NaN : projector.Alignment(u);

        // Scalar loops rather than BLAS axpy: the result is then the same on every backend
        // (a native axpy may fuse the multiply-add) and every thread count.
        for (int i = 0; i < _n; i++) theta[i] -= lr * u[i];
        return new StepReport(lr, chi, AlignmentEma, Projecting);
    }

    /// <summary>
    /// Feeds χ_k of the full training-set gradient, measured after a tracker refresh at the step
    /// boundary, to the moving average of a <see cref="ChiSource.Full"/> switch; the switch turns
    /// projection on for the next step once the average reaches τ. Ignored by the minibatch source.
    /// </summary>
    public void ObserveFullBatchAlignment(double chi)
    {
        if (_o.SwitchChiSource != ChiSource.Full) return;
        if (!(chi >= 0 && chi <= 1 + 1e-12))
            throw new ArgumentOutOfRangeException(nameof(chi), $"Argument 'chi' was {chi}; expected a share in [0, 1].");
        UpdateEma(chi);
        if (!Projecting && _o.SwitchChi is double tau && AlignmentEma >= tau) Projecting = true;
    }

    void UpdateEma(double chi) =>
        AlignmentEma = double.IsNaN(AlignmentEma) ? chi : _o.ChiEmaDecay * AlignmentEma + (1 - _o.ChiEmaDecay) * chi;

    /// <summary>Turns g' (in <paramref name="u"/>) into the base rule's update u, in place, advancing its buffers.</summary>
    void FormUpdate(Span<double> u)
    {
        var v = _velocity.AsSpan();
        if (_o.Update == UpdateRule.Adam)
        {
            // PyTorch's torch.optim.Adam (amsgrad off): m ← β1·m + (1−β1)·g', s ← β2·s + (1−β2)·g'²,
            // u = (m/(1−β1^t)) / (√s/√(1−β2^t) + ε), i.e. m̂/(√ŝ + ε) with ŝ's root taken as
            // PyTorch takes it (the bias correction divides √s, not s).
            double b1 = _o.Beta1, b2 = _o.Beta2, eps = _o.AdamEpsilon;
            double t = Updates + 1;
            double c1 = 1 - Math.Pow(b1, t);
            double c2 = Math.Sqrt(1 - Math.Pow(b2, t));
            var s = _second.AsSpan();
            for (int i = 0; i < _n; i++)
            {
                double g = u[i];
                v[i] = b1 * v[i] + (1 - b1) * g;
                s[i] = b2 * s[i] + (1 - b2) * g * g;
                u[i] = v[i] / c1 / (Math.Sqrt(s[i]) / c2 + eps);
            }
        }
        else if (_o.Momentum != 0)
        {
            double mu = _o.Momentum;
            for (int i = 0; i < _n; i++) u[i] = v[i] = mu * v[i] + u[i];
        }
    }

    /// <summary>
    /// Restores the state saved by a checkpoint: the first-moment buffer, Adam's second moment
    /// (empty for the other rules), the update count, the χ EMA, the switch and the last update's
    /// share (NaN: not known).
    /// </summary>
    public void Restore(ReadOnlySpan<double> velocity, ReadOnlySpan<double> secondMoment, long updates, double alignmentEma, bool projecting, double updateShare = double.NaN)
    {
        Guard.Length(velocity, _n, nameof(velocity));
        if (secondMoment.Length != _second.Length)
            throw new ArgumentException($"Argument 'secondMoment' has length {secondMoment.Length}; expected {_second.Length} ({(_second.Length == 0 ? "none: the rule is not Adam" : "Adam's s, one per parameter")}).", nameof(secondMoment));
        if (updates < 0)
            throw new ArgumentOutOfRangeException(nameof(updates), $"Argument 'updates' was {updates}; expected a non-negative count.");
        velocity.CopyTo(_velocity);
        secondMoment.CopyTo(_second);
        Updates = updates;
        AlignmentEma = alignmentEma;
        Projecting = projecting;
        UpdateShare = updateShare;
    }
}

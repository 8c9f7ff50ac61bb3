using Curvature.Core;

namespace Curvature.Optimizers;

/// <summary>What one step measured on the gradient it used.</summary>
public readonly record struct StepReport(double LearningRate, double Alignment, double AlignmentEma, bool Projected);

/// <summary>
/// The interpolated SGD family: θ ← θ − η_t·v with v ← μ·v + d and
/// d = α_dom·P_dom g' + α_bulk·P_bulk g', g' = g + λ_wd·θ. Holds the momentum buffer and the
/// χ_k moving average (its whole state, for checkpoints) and scratch of length n, so a step
/// allocates nothing.
/// </summary>
public sealed class ProjectedSgd
{
    readonly StepOptions _o;
    readonly int _n;
    readonly double[] _direction;
    readonly double[] _dominant;
    readonly double[] _velocity;

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
        // Rules with α_dom = α_bulk never project, so a χ switch has nothing to switch.
        Projecting = options.SwitchChi is null || !options.NeedsSubspace;
    }

    /// <summary>The rule's options.</summary>
    public StepOptions Options => _o;

    /// <summary>The heavy-ball buffer v (zero until the first step; unused when μ = 0).</summary>
    public ReadOnlySpan<double> Velocity => _velocity;

    /// <summary>The EMA of χ_k(g') over the steps that had a projector, NaN before the first.</summary>
    public double AlignmentEma { get; private set; } = double.NaN;

    /// <summary>Whether steps are projected (always, without a χ switch; after the switch, with one).</summary>
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
        var g = _direction.AsSpan();
        double wd = _o.WeightDecay;
        // g' = g + λ_wd·θ, written without touching g when λ_wd = 0 so SGD keeps g's exact bits.
        if (wd == 0) gradient.CopyTo(g);
        else for (int i = 0; i < _n; i++) g[i] = gradient[i] + wd * theta[i];

        double chi = double.NaN;
        if (!Projecting)
        {
            chi = projector!.Alignment(g);
            AlignmentEma = double.IsNaN(AlignmentEma) ? chi : _o.ChiEmaDecay * AlignmentEma + (1 - _o.ChiEmaDecay) * chi;
            if (AlignmentEma >= _o.SwitchChi!.Value) Projecting = true;
        }

        if (Projecting && a != b)
        {
            // d = a·P_dom g' + b·(g' − P_dom g'); the zero-coefficient term is skipped rather than
            // multiplied by 0 so that Dom-SGD is exactly P_dom g' and Bulk-SGD exactly g' − P_dom g'.
            var p = _dominant.AsSpan();
            projector!.ProjectDominant(g, p);
            if (double.IsNaN(chi))
            {
                double gNorm = Blas.Nrm2(g);
                chi = gNorm == 0 ? 0.0 : Blas.Nrm2(p) / gNorm;
                AlignmentEma = double.IsNaN(AlignmentEma) ? chi : _o.ChiEmaDecay * AlignmentEma + (1 - _o.ChiEmaDecay) * chi;
            }
            if (b == 0) for (int i = 0; i < _n; i++) g[i] = a * p[i];
            else if (a == 0) for (int i = 0; i < _n; i++) g[i] = b * (g[i] - p[i]);
            else for (int i = 0; i < _n; i++) g[i] = a * p[i] + b * (g[i] - p[i]);
        }
        else if (Projecting && a != 1)
        {
            // a = b: P_dom + P_bulk = I, so d = a·g' with no projection; a = b = 1 leaves g' untouched,
            // which is what makes interp(1, 1) the SGD step bit for bit.
            for (int i = 0; i < _n; i++) g[i] *= a;
        }

        // Scalar loops rather than BLAS axpy: the result is then the same on every backend
        // (a native axpy may fuse the multiply-add) and every thread count.
        double mu = _o.Momentum;
        if (mu == 0)
        {
            for (int i = 0; i < _n; i++) theta[i] -= lr * g[i];
        }
        else
        {
            var v = _velocity.AsSpan();
            for (int i = 0; i < _n; i++)
            {
                v[i] = mu * v[i] + g[i];
                theta[i] -= lr * v[i];
            }
        }
        return new StepReport(lr, chi, AlignmentEma, Projecting);
    }

    /// <summary>Restores the state saved by a checkpoint.</summary>
    public void Restore(ReadOnlySpan<double> velocity, double alignmentEma, bool projecting)
    {
        Guard.Length(velocity, _n, nameof(velocity));
        velocity.CopyTo(_velocity);
        AlignmentEma = alignmentEma;
        Projecting = projecting;
    }
}

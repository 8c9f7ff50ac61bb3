namespace Curvature.Autodiff;

/// <summary>
/// A differentiable operation y = f(a, b, c). Each op states its four rules side by side:
/// <list type="number">
/// <item><b>Forward</b>: y = f(x).</item>
/// <item><b>Tangent</b> (JVP): ẏ = Σ_i (∂f/∂x_i) ẋ_i, for each of the m directions.</item>
/// <item><b>Backward</b> (VJP): x̄_i += (∂f/∂x_i)ᵀ ȳ.</item>
/// <item><b>Backward tangent</b>, the tangent of the VJP along the same directions:
/// x̄̇_i += (∂f/∂x_i)ᵀ ȳ̇ + [d/dt (∂f/∂x_i)ᵀ] ȳ. The first term is linear in ȳ̇ and always
/// applied; the second (the op's own curvature) only when <c>curvature</c> is true, which
/// is how the Gauss–Newton and functional-Hessian sweeps drop the curvature of the loss or
/// of the network (see docs/curvature.md).</item>
/// </list>
/// Ops are stateless singletons; the inputs and parameters live on the output node y.
/// Each rule must skip inputs that do not need it: <c>x.RequiresGrad</c> false means no
/// adjoint flows into x, <c>x.HasTangent</c> false means ẋ = 0, <c>y.AdjointTangentTouched</c>
/// false means ȳ̇ = 0. Adjoints are claimed with <see cref="Tensor.BeginAdjoint"/>, whose
/// result says whether to overwrite or accumulate.
/// </summary>
internal abstract class Op
{
    public abstract string Name { get; }

    /// <summary>Computes y's value from its inputs' values.</summary>
    public abstract void Forward(Tensor y);

    /// <summary>Computes all m tangents of y (called only when some input has tangents).</summary>
    public abstract void Tangent(Tensor y);

    /// <summary>Adds (∂f/∂x)ᵀȳ into each input's adjoint (called only when ȳ is non-zero).</summary>
    public abstract void Backward(Tensor y);

    /// <summary>Adds the tangents of the backward rule into each input's adjoint tangents.</summary>
    public abstract void BackwardTangent(Tensor y, bool curvature);
}

/// <summary>
/// An op that keeps typed state on its output node (its parameters, such as a transpose
/// flag or a geometry, and caches such as softmax probabilities or im2col patches). The
/// state object is pooled with the node like its buffers: a tape that records the same
/// graph again reuses it, so a steady-state step allocates nothing. The four rules receive
/// it typed; <see cref="Tape.Node{TState}"/> attaches a <typeparamref name="TState"/> to
/// every node this op produces, which is what makes the conversion below safe.
/// </summary>
internal abstract class Op<TState> : Op where TState : OpState, new()
{
    static TState Of(Tensor y) => System.Runtime.CompilerServices.Unsafe.As<TState>(y.State!);

    public sealed override void Forward(Tensor y) => Forward(y, Of(y));
    public sealed override void Tangent(Tensor y) => Tangent(y, Of(y));
    public sealed override void Backward(Tensor y) => Backward(y, Of(y));
    public sealed override void BackwardTangent(Tensor y, bool curvature) => BackwardTangent(y, Of(y), curvature);

    /// <inheritdoc cref="Op.Forward(Tensor)"/>
    public abstract void Forward(Tensor y, TState s);
    /// <inheritdoc cref="Op.Tangent(Tensor)"/>
    public abstract void Tangent(Tensor y, TState s);
    /// <inheritdoc cref="Op.Backward(Tensor)"/>
    public abstract void Backward(Tensor y, TState s);
    /// <inheritdoc cref="Op.BackwardTangent(Tensor, bool)"/>
    public abstract void BackwardTangent(Tensor y, TState s, bool curvature);
}

/// <summary>
/// The typed state of one node (see <see cref="Op{TState}"/>). Buffers inside it grow on
/// demand and are kept across recordings.
/// </summary>
internal abstract class OpState
{
    /// <summary>The node is being recorded again: forget caches of the previous recording.</summary>
    public virtual void Recorded() { }

    /// <summary>A backward sweep starts: forget caches that depend on the output adjoint ȳ.</summary>
    public virtual void BackwardStarted() { }
}

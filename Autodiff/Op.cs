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

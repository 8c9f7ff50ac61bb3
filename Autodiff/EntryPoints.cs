using Curvature.Core;

namespace Curvature.Autodiff;

/// <summary>Loss and gradient.</summary>
/// <param name="Loss">L(θ).</param>
/// <param name="Gradient">∇L(θ), length P.</param>
public sealed record GradientResult(double Loss, double[] Gradient);

/// <summary>Loss, gradient and one curvature-vector product (H·v, or G·v, F·v).</summary>
/// <param name="Loss">L(θ).</param>
/// <param name="Gradient">∇L(θ), length P.</param>
/// <param name="Product">H·v (or G·v, F·v), length P.</param>
public sealed record HessianVectorResult(double Loss, double[] Gradient, double[] Product);

/// <summary>Loss, gradient and the products for a block of vectors, one per row (count×P).</summary>
/// <param name="Loss">L(θ).</param>
/// <param name="Gradient">∇L(θ), length P.</param>
/// <param name="Products">H·vⱼ in row j (count×P).</param>
public sealed record HessianBlockResult(double Loss, double[] Gradient, Matrix Products);

/// <summary>The output of f and its tangents J·vⱼ, one direction per row (count×outputSize).</summary>
/// <param name="Value">f(θ) in its own shape.</param>
/// <param name="Tangents">J·vⱼ flattened row-major into row j.</param>
public sealed record JvpResult(Matrix Value, Matrix Tangents);

public sealed partial class Tape
{
    double[] _theta = [];
    double[] _directions = [];

    /// <summary>Loss L(θ) = f(θ) and ∇L, written into <paramref name="gradient"/>. Allocates nothing once warm.</summary>
    public double Gradient(TapeFunction f, ReadOnlySpan<double> theta, Span<double> gradient)
    {
        Guard.NotNull(f);
        Guard.Length(gradient, theta.Length, nameof(gradient));
        var p = Bind(theta, default, 0);
        var loss = Output(f, p);
        Backward(loss);
        p.Adjoint.CopyTo(gradient);
        return loss.Scalar;
    }

    /// <summary>Loss L(θ) and ∇L as new arrays.</summary>
    public GradientResult Gradient(TapeFunction f, ReadOnlySpan<double> theta)
    {
        var g = new double[theta.Length];
        double loss = Gradient(f, theta, g);
        return new GradientResult(loss, g);
    }

    /// <summary>
    /// Forward-over-reverse: one forward sweep carrying the tangent v and one backward sweep
    /// carrying the adjoint tangents give the loss, ∇L and H·v together (or G·v, F·v per
    /// <paramref name="mode"/>). An empty <paramref name="gradient"/> skips copying it out.
    /// </summary>
    public double HessianVectorProduct(TapeFunction f, ReadOnlySpan<double> theta, ReadOnlySpan<double> v,
        Span<double> gradient, Span<double> product, CurvatureKind mode = CurvatureKind.Hessian)
    {
        Guard.Length(v, theta.Length, nameof(v));
        return HessianBlockProduct(f, theta, v, 1, gradient, product, mode);
    }

    /// <summary>Loss, ∇L and H·v as new arrays.</summary>
    public HessianVectorResult HessianVectorProduct(TapeFunction f, ReadOnlySpan<double> theta, ReadOnlySpan<double> v,
        CurvatureKind mode = CurvatureKind.Hessian)
    {
        var g = new double[theta.Length];
        var hv = new double[theta.Length];
        double loss = HessianVectorProduct(f, theta, v, g, hv, mode);
        return new HessianVectorResult(loss, g, hv);
    }

    /// <summary>
    /// Multi-tangent forward-over-reverse: H·vⱼ for <paramref name="count"/> vectors stored
    /// one per row in <paramref name="vectors"/> (count×P), sharing one primal sweep; the
    /// tangent work runs as matrix–matrix products. Products are written one per row.
    /// </summary>
    public double HessianBlockProduct(TapeFunction f, ReadOnlySpan<double> theta, ReadOnlySpan<double> vectors, int count,
        Span<double> gradient, Span<double> products, CurvatureKind mode = CurvatureKind.Hessian)
    {
        Guard.NotNull(f);
        Guard.Positive(count);
        int n = theta.Length;
        Guard.Length(vectors, count * n, nameof(vectors));
        Guard.Length(products, count * n, nameof(products));
        if (!gradient.IsEmpty) Guard.Length(gradient, n, nameof(gradient));
        var p = Bind(theta, vectors, count);
        var loss = Output(f, p);
        Backward(loss, mode, gradient: !gradient.IsEmpty);
        if (!gradient.IsEmpty) p.Adjoint.CopyTo(gradient);
        for (int j = 0; j < count; j++) p.AdjointTangent(j).CopyTo(products.Slice(j * n, n));
        return loss.Scalar;
    }

    /// <summary>Loss, ∇L and the products H·vⱼ for the rows of <paramref name="vectors"/>, as new arrays.</summary>
    public HessianBlockResult HessianBlockProduct(TapeFunction f, ReadOnlySpan<double> theta, Matrix vectors,
        CurvatureKind mode = CurvatureKind.Hessian)
    {
        Guard.NotNull(vectors);
        if (vectors.Cols != theta.Length)
            throw new ArgumentException($"Argument 'vectors' is {vectors.Shape}; expected count x {theta.Length} (one vector per row).", nameof(vectors));
        var g = new double[theta.Length];
        var products = new Matrix(vectors.Rows, vectors.Cols);
        double loss = HessianBlockProduct(f, theta, vectors.Data, vectors.Rows, g, products.Data, mode);
        return new HessianBlockResult(loss, g, products);
    }

    /// <summary>
    /// Forward mode: records f carrying <paramref name="count"/> tangents (rows of
    /// <paramref name="vectors"/>) and returns the output tensor, whose
    /// <see cref="Tensor.Value"/> is f(θ) and whose <see cref="Tensor.Tangent"/>(j) is J·vⱼ.
    /// The tensor is valid until this tape records again.
    /// </summary>
    public Tensor Jvp(TapeFunction f, ReadOnlySpan<double> theta, ReadOnlySpan<double> vectors, int count)
    {
        Guard.NotNull(f);
        Guard.Positive(count);
        Guard.Length(vectors, count * theta.Length, nameof(vectors));
        var p = Bind(theta, vectors, count);
        var y = f(this, p);
        Check(y, "f(θ)");
        return y;
    }

    /// <summary>f(θ) and J·vⱼ for the rows of <paramref name="vectors"/>, as new matrices.</summary>
    public JvpResult Jvp(TapeFunction f, ReadOnlySpan<double> theta, Matrix vectors)
    {
        Guard.NotNull(vectors);
        if (vectors.Cols != theta.Length)
            throw new ArgumentException($"Argument 'vectors' is {vectors.Shape}; expected count x {theta.Length} (one vector per row).", nameof(vectors));
        var y = Jvp(f, theta, vectors.Data, vectors.Rows);
        var value = new Matrix(y.Rows, y.Cols);
        y.Value.CopyTo(value.Data);
        var tangents = new Matrix(vectors.Rows, y.Size);
        for (int j = 0; j < vectors.Rows; j++)
        {
            if (y.HasTangent) y.Tangent(j).CopyTo(tangents.Row(j));
        }
        return new JvpResult(value, tangents);
    }

    /// <summary>Copies θ (and the directions) into the tape's pooled arrays and declares the parameter.</summary>
    Tensor Bind(ReadOnlySpan<double> theta, ReadOnlySpan<double> vectors, int count)
    {
        if (theta.Length == 0)
            throw new ArgumentException("Argument 'theta' is empty; expected at least one parameter.", nameof(theta));
        Begin(count);
        Tensor.Grow(ref _theta, theta.Length);
        theta.CopyTo(_theta);
        if (count == 0) return Parameter(_theta, 0, theta.Length);
        Tensor.Grow(ref _directions, vectors.Length);
        vectors.CopyTo(_directions);
        return Parameter(_theta, 0, theta.Length, _directions, 0, theta.Length);
    }

    Tensor Output(TapeFunction f, Tensor p)
    {
        var y = f(this, p);
        Check(y, "f(θ)");
        if (y.Size != 1)
            throw new ArgumentException($"The function returned a tensor of shape {y.Shape}; expected a 1x1 scalar loss.", nameof(f));
        return y;
    }
}

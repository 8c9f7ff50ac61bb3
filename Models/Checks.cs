using Curvature.Core;
using Curvature.Spectral;

namespace Curvature.Models;

/// <summary>
/// Independent routes to the derivatives the engine computes, for checking them: central
/// differences of a loss (→ gradient), of a gradient (→ H·v), of any vector function such
/// as an H·v or a network output (→ its directional derivative), and the dense matrix of a
/// matrix-free operator (→ symmetry, eigenvalues, H = G + F entry by entry).
/// </summary>
/// <remarks>
/// Every difference uses the fourth-order central stencil
/// d/dt f(θ + t·v)|₀ ≈ [−f(θ+2hv) + 8f(θ+hv) − 8f(θ−hv) + f(θ−2hv)] / (12h),
/// whose truncation error is O(h⁴·f⁽⁵⁾) and whose rounding error is O(ε·|f|/h); with
/// h = 10⁻³ both are near 10⁻¹² for smooth functions of order one. Derived in
/// docs/autodiff.md §"Checking a derivative"; checked by CheckApiTests.
/// </remarks>
public static class Checks
{
    /// <summary>The default difference step h.</summary>
    public const double DefaultStep = 1e-3;

    /// <summary>The largest operator <see cref="Dense"/> materializes by default (n×n doubles, 128 MiB at 4096).</summary>
    public const int DefaultMaxDenseSize = 4096;

    /// <summary>
    /// d/dt f(θ + t·v) at t = 0 by the fourth-order central stencil, for a vector-valued f
    /// (a network output gives J·v, a gradient gives H·v, an H·v gives the third derivative
    /// contracted with v twice).
    /// </summary>
    /// <param name="f">The function; it receives a fresh array each call and may keep it.</param>
    /// <param name="theta">The point θ.</param>
    /// <param name="v">The direction, of θ's length.</param>
    /// <param name="step">The step h &gt; 0.</param>
    public static double[] Directional(Func<double[], double[]> f, ReadOnlySpan<double> theta, ReadOnlySpan<double> v, double step = DefaultStep)
    {
        Guard.NotNull(f);
        Guard.Length(v, theta.Length, nameof(v));
        CheckStep(step);
        Guard.AllFinite(theta, nameof(theta));
        Guard.AllFinite(v, nameof(v));
        double[] t = theta.ToArray(), d = v.ToArray();
        double[] At(double s)
        {
            var x = new double[t.Length];
            for (int i = 0; i < x.Length; i++) x[i] = t[i] + s * d[i];
            return f(x);
        }
        var p2 = At(2 * step);
        var p1 = At(step);
        var m1 = At(-step);
        var m2 = At(-2 * step);
        if (p1.Length != p2.Length || m1.Length != p2.Length || m2.Length != p2.Length)
            throw new ArgumentException($"Argument 'f' returned vectors of lengths {p2.Length}, {p1.Length}, {m1.Length}, {m2.Length}; expected one length at every point.", nameof(f));
        var result = new double[p1.Length];
        for (int i = 0; i < result.Length; i++) result[i] = (-p2[i] + 8 * p1[i] - 8 * m1[i] + m2[i]) / (12 * step);
        return result;
    }

    /// <summary>The gradient of a scalar loss by central differences along each coordinate (4·n evaluations).</summary>
    /// <param name="loss">The loss; it receives a fresh array each call.</param>
    /// <param name="theta">The point θ.</param>
    /// <param name="step">The step h &gt; 0.</param>
    public static double[] Gradient(Func<double[], double> loss, ReadOnlySpan<double> theta, double step = DefaultStep)
    {
        Guard.NotNull(loss);
        var g = new double[theta.Length];
        var e = new double[theta.Length];
        for (int i = 0; i < theta.Length; i++)
        {
            e[i] = 1;
            g[i] = Directional(x => [loss(x)], theta, e, step)[0];
            e[i] = 0;
        }
        return g;
    }

    /// <summary>The gradient of an objective's mean loss over <paramref name="examples"/> by central differences of the loss.</summary>
    public static double[] Gradient(IObjective objective, ReadOnlySpan<double> theta, double step = DefaultStep, int[]? examples = null)
    {
        Guard.NotNull(objective);
        Guard.Length(theta, objective.ParameterCount, nameof(theta));
        var scratch = new double[theta.Length];
        return Gradient(x => objective.LossAndGradient(x, scratch, examples), theta, step);
    }

    /// <summary>H·v as the central difference of a gradient along v: d/dt ∇L(θ + t·v) at t = 0.</summary>
    /// <param name="gradient">θ ↦ ∇L(θ); it receives a fresh array each call.</param>
    /// <param name="theta">The point θ.</param>
    /// <param name="v">The direction.</param>
    /// <param name="step">The step h &gt; 0.</param>
    public static double[] HessianVectorProduct(Func<double[], double[]> gradient, ReadOnlySpan<double> theta, ReadOnlySpan<double> v, double step = DefaultStep)
        => Directional(gradient, theta, v, step);

    /// <summary>H·v of an objective's mean loss over <paramref name="examples"/>, by central differences of its gradient.</summary>
    public static double[] HessianVectorProduct(IObjective objective, ReadOnlySpan<double> theta, ReadOnlySpan<double> v, double step = DefaultStep, int[]? examples = null)
    {
        Guard.NotNull(objective);
        Guard.Length(theta, objective.ParameterCount, nameof(theta));
        return Directional(x =>
        {
            var g = new double[x.Length];
            objective.LossAndGradient(x, g, examples);
            return g;
        }, theta, v, step);
    }

    /// <summary>
    /// The dense Hessian of an objective by central differences of its gradient, column j =
    /// d/dt ∇L(θ + t·e_j), then symmetrized ((A + Aᵀ)/2). n ≤ <paramref name="maxSize"/>.
    /// </summary>
    public static Matrix Hessian(IObjective objective, ReadOnlySpan<double> theta, double step = DefaultStep, int[]? examples = null, int maxSize = DefaultMaxDenseSize)
    {
        Guard.NotNull(objective);
        int n = objective.ParameterCount;
        CheckSize(n, maxSize);
        Guard.Length(theta, n, nameof(theta));
        var a = new Matrix(n, n);
        var e = new double[n];
        for (int j = 0; j < n; j++)
        {
            e[j] = 1;
            var column = HessianVectorProduct(objective, theta, e, step, examples);
            e[j] = 0;
            for (int i = 0; i < n; i++) a[i, j] = column[i];
        }
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                a[i, j] = a[j, i] = 0.5 * (a[i, j] + a[j, i]);
        return a;
    }

    /// <summary>
    /// The n×n matrix of a matrix-free operator, column j = A·e_j (one block product), for
    /// n ≤ <paramref name="maxSize"/>; no symmetry is imposed, so <see cref="Asymmetry"/>
    /// of the result tests the operator's own symmetry.
    /// </summary>
    public static Matrix Dense(ILinearOperator op, int maxSize = DefaultMaxDenseSize)
    {
        Guard.NotNull(op);
        CheckSize(op.Size, maxSize);
        return LinearOperator.ToDense(op);
    }

    /// <summary>The eigenvalues of a symmetric matrix, ascending (the matrix is not changed).</summary>
    public static double[] Eigenvalues(Matrix symmetric)
    {
        Guard.NotNull(symmetric);
        if (symmetric.Rows != symmetric.Cols)
            throw new ArgumentException($"Argument 'symmetric' is {symmetric.Shape}; expected a square matrix.", nameof(symmetric));
        int n = symmetric.Rows;
        var a = (double[])symmetric.Data.Clone();
        var lambda = new double[n];
        Blas.SymmetricEigen(n, a, lambda);
        return lambda;
    }

    /// <summary>max |Aᵢⱼ − Aⱼᵢ| / max |Aᵢⱼ| (0 for a zero matrix): how far a square matrix is from symmetric.</summary>
    public static double Asymmetry(Matrix a)
    {
        Guard.NotNull(a);
        if (a.Rows != a.Cols)
            throw new ArgumentException($"Argument 'a' is {a.Shape}; expected a square matrix.", nameof(a));
        double diff = 0, scale = 0;
        for (int i = 0; i < a.Rows; i++)
            for (int j = 0; j < a.Cols; j++)
            {
                diff = Math.Max(diff, Math.Abs(a[i, j] - a[j, i]));
                scale = Math.Max(scale, Math.Abs(a[i, j]));
            }
        return scale == 0 ? 0 : diff / scale;
    }

    /// <summary>‖actual − expected‖₂ / ‖expected‖₂, or ‖actual‖₂ when expected is zero.</summary>
    public static double RelativeError(ReadOnlySpan<double> actual, ReadOnlySpan<double> expected)
    {
        Guard.Length(actual, expected.Length, nameof(actual));
        double num = 0, den = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double d = actual[i] - expected[i];
            num += d * d;
            den += expected[i] * expected[i];
        }
        return den == 0 ? Math.Sqrt(num) : Math.Sqrt(num / den);
    }

    static void CheckStep(double step)
    {
        if (!double.IsFinite(step) || step <= 0)
            throw new ArgumentOutOfRangeException(nameof(step), $"Argument 'step' was {step}; expected a finite difference step h > 0.");
    }

    static void CheckSize(int n, int maxSize)
    {
        Guard.Positive(maxSize);
        if (n > maxSize)
            throw new ArgumentOutOfRangeException(nameof(maxSize), $"The operator has size {n}; a dense check materializes at most maxSize = {maxSize} (n×n doubles). Pass a larger maxSize or check a smaller model.");
    }
}

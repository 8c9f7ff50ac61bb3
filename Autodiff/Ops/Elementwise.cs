using static Curvature.Autodiff.Kernels;

namespace Curvature.Autodiff;

public sealed partial class Tape
{
    /// <summary>tanh, elementwise.</summary>
    public Tensor Tanh(Tensor x) => Unary<TanhFunction>(x);

    /// <summary>max(x, 0), elementwise (derivative 0 at x = 0, as PyTorch).</summary>
    public Tensor Relu(Tensor x) => Unary<ReluFunction>(x);

    /// <summary>1/(1 + e^{−x}), elementwise.</summary>
    public Tensor Sigmoid(Tensor x) => Unary<SigmoidFunction>(x);

    /// <summary>log(1 + eˣ), elementwise.</summary>
    public Tensor Softplus(Tensor x) => Unary<SoftplusFunction>(x);

    /// <summary>The exact GELU x·Φ(x) (Φ the standard normal CDF; PyTorch's default nn.GELU).</summary>
    public Tensor Gelu(Tensor x) => Unary<GeluFunction>(x);

    /// <summary>eˣ, elementwise.</summary>
    public Tensor Exp(Tensor x) => Unary<ExpFunction>(x);

    /// <summary>ln x, elementwise (IEEE: NaN for x &lt; 0, −∞ at 0).</summary>
    public Tensor Log(Tensor x) => Unary<LogFunction>(x);

    /// <summary>x², elementwise.</summary>
    public Tensor Square(Tensor x) => Unary<SquareFunction>(x);

    Tensor Unary<TF>(Tensor x) where TF : struct, IScalarFunction
    {
        Check(x, nameof(x));
        return Run(Node(UnaryOp<TF>.Instance, out _, x.Rows, x.Cols, x));
    }
}

/// <summary>
/// A scalar function with its first two derivatives. Each derivative may use y = f(x),
/// already computed, where that is cheaper or more accurate than starting from x.
/// </summary>
internal interface IScalarFunction
{
    static abstract string Name { get; }
    static abstract double Value(double x);
    static abstract double First(double x, double y);
    static abstract double Second(double x, double y);
}

/// <summary>
/// y = f(x) elementwise, for any f with derivatives f′ and f″.
/// Forward: y = f(x). Tangent: ẏ = f′(x)∘ẋ.
/// Backward: x̄ += f′(x)∘ȳ.
/// Backward tangent: x̄̇ += f′(x)∘ȳ̇ + [f″(x)∘ẋ∘ȳ].
/// f′ is computed once per recording, f″∘ȳ once per backward sweep (both kept in <see cref="UnaryState"/>).
/// </summary>
internal sealed class UnaryOp<TF> : Op<UnaryState> where TF : struct, IScalarFunction
{
    public static readonly UnaryOp<TF> Instance = new();
    public override string Name => TF.Name;

    public override void Forward(Tensor y, UnaryState s)
    {
        var x = y.A!.Value;
        var v = y.ValueMut;
        // The JIT resolves this test per instantiation: tanh, on every hidden unit of the
        // benchmark network, takes the SIMD path.
        if (typeof(TF) == typeof(TanhFunction)) FastMath.Tanh(x, v);
        else if (typeof(TF) == typeof(GeluFunction))
        {
            // Φ(x), the costly part, is shared by the value and f′, which every sweep but a
            // loss-only one needs: one evaluation instead of two, the same expressions.
            GeluFunction.ValueAndFirst(x, v, Tensor.Grow(ref s.First, v.Length).AsSpan(0, v.Length));
            s.FirstValid = true;
        }
        else for (int i = 0; i < v.Length; i++) v[i] = TF.Value(x[i]);
    }

    static ReadOnlySpan<double> FirstDerivative(Tensor y, UnaryState s)
    {
        int n = y.Size;
        var d1 = Tensor.Grow(ref s.First, n).AsSpan(0, n);
        if (!s.FirstValid)
        {
            var x = y.A!.Value;
            var v = y.Value;
            for (int i = 0; i < n; i++) d1[i] = TF.First(x[i], v[i]);
            s.FirstValid = true;
        }
        return d1;
    }

    /// <summary>f″(x)∘ȳ, the factor of ẋ in the curvature term.</summary>
    static ReadOnlySpan<double> SecondTimesAdjoint(Tensor y, UnaryState s)
    {
        int n = y.Size;
        var e = Tensor.Grow(ref s.SecondTimesAdjoint, n).AsSpan(0, n);
        if (!s.SecondValid)
        {
            var x = y.A!.Value;
            var v = y.Value;
            var yBar = y.AdjointMut;
            for (int i = 0; i < n; i++) e[i] = TF.Second(x[i], v[i]) * yBar[i];
            s.SecondValid = true;
        }
        return e;
    }

    public override void Tangent(Tensor y, UnaryState s)
    {
        var d1 = FirstDerivative(y, s);
        var x = y.A!;
        for (int j = 0; j < y.Tape.TangentCount; j++) PutMul(d1, x.TangentMut(j), y.TangentMut(j), false);
    }

    public override void Backward(Tensor y, UnaryState s)
    {
        var x = y.A!;
        if (!x.RequiresGrad) return;
        bool acc = x.BeginAdjoint();
        PutMul(FirstDerivative(y, s), y.AdjointMut, x.AdjointMut, acc);
    }

    public override void BackwardTangent(Tensor y, UnaryState s, bool curvature)
    {
        var x = y.A!;
        bool linear = y.AdjointTangentTouched;
        bool curv = curvature && y.AdjointTouched && x.HasTangent;
        if (!x.RequiresGrad || !(linear || curv)) return;
        bool acc = x.BeginAdjointTangent();
        var d1 = linear ? FirstDerivative(y, s) : default;
        var e = curv ? SecondTimesAdjoint(y, s) : default;
        for (int j = 0; j < y.Tape.TangentCount; j++)
        {
            var dst = x.AdjointTangentMut(j);
            if (linear && curv) PutMulMul(d1, y.AdjointTangentMut(j), e, x.TangentMut(j), dst, acc);
            else if (linear) PutMul(d1, y.AdjointTangentMut(j), dst, acc);
            else PutMul(e, x.TangentMut(j), dst, acc);
        }
    }
}

/// <summary>f′(x) of the recording and f″(x)∘ȳ of the backward sweep, computed once and reused by every tangent direction.</summary>
internal sealed class UnaryState : OpState
{
    public double[] First = [], SecondTimesAdjoint = [];
    public bool FirstValid, SecondValid;

    public override void Recorded() => FirstValid = SecondValid = false;
    public override void BackwardStarted() => SecondValid = false;
}

/// <summary>tanh: f′ = 1 − y², f″ = −2y(1 − y²). Values in bulk come from <see cref="FastMath.Tanh"/>.</summary>
internal struct TanhFunction : IScalarFunction
{
    public static string Name => "tanh";
    public static double Value(double x) => Math.Tanh(x);
    public static double First(double x, double y) => 1.0 - y * y;
    public static double Second(double x, double y) => -2.0 * y * (1.0 - y * y);
}

/// <summary>relu: f′ = 1[x &gt; 0], f″ = 0 (away from the kink).</summary>
internal struct ReluFunction : IScalarFunction
{
    public static string Name => "relu";
    public static double Value(double x) => x > 0 ? x : 0.0;
    public static double First(double x, double y) => x > 0 ? 1.0 : 0.0;
    public static double Second(double x, double y) => 0.0;
}

/// <summary>sigmoid σ: f′ = σ(1 − σ), f″ = σ(1 − σ)(1 − 2σ).</summary>
internal struct SigmoidFunction : IScalarFunction
{
    public static string Name => "sigmoid";
    public static double Value(double x) => Logistic(x);
    public static double First(double x, double y) => y * (1.0 - y);
    public static double Second(double x, double y) => y * (1.0 - y) * (1.0 - 2.0 * y);

    /// <summary>σ(x) without overflow: e^{−|x|} never exceeds 1.</summary>
    internal static double Logistic(double x)
    {
        if (x >= 0) return 1.0 / (1.0 + Math.Exp(-x));
        double e = Math.Exp(x);
        return e / (1.0 + e);
    }
}

/// <summary>softplus log(1 + eˣ) = max(x, 0) + log(1 + e^{−|x|}): f′ = σ(x), f″ = σ(x)(1 − σ(x)).</summary>
internal struct SoftplusFunction : IScalarFunction
{
    public static string Name => "softplus";
    public static double Value(double x) => Math.Max(x, 0.0) + double.LogP1(Math.Exp(-Math.Abs(x)));
    public static double First(double x, double y) => SigmoidFunction.Logistic(x);

    public static double Second(double x, double y)
    {
        double s = SigmoidFunction.Logistic(x);
        return s * (1.0 - s);
    }
}

/// <summary>Exact GELU x·Φ(x): f′ = Φ(x) + x·φ(x), f″ = φ(x)(2 − x²) (φ′ = −xφ).</summary>
internal struct GeluFunction : IScalarFunction
{
    public static string Name => "gelu";
    public static double Value(double x) => x * SpecialFunctions.NormalCdf(x);
    public static double First(double x, double y) => SpecialFunctions.NormalCdf(x) + x * SpecialFunctions.NormalPdf(x);
    public static double Second(double x, double y) => SpecialFunctions.NormalPdf(x) * (2.0 - x * x);

    /// <summary>y = <see cref="Value"/>(x) and f′ = <see cref="First"/>(x, y), elementwise, by <see cref="FastMath.Gelu"/> (Φ and e^{−x²/2} once, SIMD).</summary>
    public static void ValueAndFirst(ReadOnlySpan<double> x, Span<double> y, Span<double> first) => FastMath.Gelu(x, y, first);
}

/// <summary>exp: f′ = f″ = y.</summary>
internal struct ExpFunction : IScalarFunction
{
    public static string Name => "exp";
    public static double Value(double x) => Math.Exp(x);
    public static double First(double x, double y) => y;
    public static double Second(double x, double y) => y;
}

/// <summary>log: f′ = 1/x, f″ = −1/x².</summary>
internal struct LogFunction : IScalarFunction
{
    public static string Name => "log";
    public static double Value(double x) => Math.Log(x);
    public static double First(double x, double y) => 1.0 / x;
    public static double Second(double x, double y) => -1.0 / (x * x);
}

/// <summary>square: f′ = 2x, f″ = 2.</summary>
internal struct SquareFunction : IScalarFunction
{
    public static string Name => "square";
    public static double Value(double x) => x * x;
    public static double First(double x, double y) => 2.0 * x;
    public static double Second(double x, double y) => 2.0;
}

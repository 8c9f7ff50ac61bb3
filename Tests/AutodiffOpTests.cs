using Curvature.Autodiff;
using Curvature.Core;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.AutodiffTestSupport;

namespace Curvature.Tests;

/// <summary>
/// Each op's four rules against finite differences, in double precision. For an op
/// y = op(x₁, …) the inputs are windows of one θ, and the scalar test function is
/// L(θ) = Σ (w∘y + ½ c∘y²) with fixed random w, c, so that both ȳ = w + c∘y and its
/// tangent ȳ̇ = c∘ẏ are non-zero and the backward tangent's linear and curvature terms are
/// both exercised. Checks: ∇L against central differences of L; the tangents ẏ (three
/// directions at once) against central differences of y; H·v (three directions) against
/// central differences of ∇L. Relative error ≤ 1e-6 throughout.
/// </summary>
public class AutodiffOpTests
{
    const double Tolerance = 1e-6;

    static double Normal(Rng r, int _) => r.NextGaussian();

    /// <summary>|x| in [lo, hi] with a random sign: away from kinks and origin, or deep in a tail.</summary>
    static Func<Rng, int, double> Magnitude(double lo, double hi) =>
        (r, _) => (r.NextDouble() < 0.5 ? -1 : 1) * r.Uniform(lo, hi);

    static Func<Rng, int, double> Range(double lo, double hi) => (r, _) => r.Uniform(lo, hi);

    static readonly int[] Labels4 = [2, 0, 3];

    public static IEnumerable<OpCase> Cases()
    {
        (int, int) s34 = (3, 4);
        yield return new("matmul", [(3, 4), (4, 2)], Normal, (t, x) => t.MatMul(x[0], x[1]));
        yield return new("matmul_At_B", [(4, 3), (4, 2)], Normal, (t, x) => t.MatMul(x[0], x[1], transposeA: true));
        yield return new("matmul_A_Bt", [(3, 4), (2, 4)], Normal, (t, x) => t.MatMul(x[0], x[1], transposeB: true));
        yield return new("matmul_At_Bt", [(4, 3), (2, 4)], Normal, (t, x) => t.MatMul(x[0], x[1], true, true));
        yield return new("matmul_same_operand", [(3, 4)], Normal, (t, x) => t.MatMul(x[0], x[0], transposeB: true));
        yield return new("linear", [(5, 4), (3, 4), (1, 3)], Normal, (t, x) => t.Linear(x[0], x[1], x[2]));
        yield return new("linear_no_bias", [(5, 4), (3, 4)], Normal, (t, x) => t.Linear(x[0], x[1], null));
        yield return new("linear_constant_input", [(5, 4), (3, 4), (1, 3)], Normal, (t, x) => t.Linear(x[0], x[1], x[2]),
            constant: [true, false, false]);
        yield return new("bias_add", [(5, 3), (1, 3)], Normal, (t, x) => t.BiasAdd(x[0], x[1]));
        yield return new("add", [s34, s34], Normal, (t, x) => t.Add(x[0], x[1]));
        yield return new("sub", [s34, s34], Normal, (t, x) => t.Sub(x[0], x[1]));
        yield return new("mul", [s34, s34], Normal, (t, x) => t.Mul(x[0], x[1]));
        yield return new("mul_same_operand", [s34], Normal, (t, x) => t.Mul(x[0], x[0]));
        yield return new("scale", [s34], Normal, (t, x) => t.Scale(x[0], -2.5));
        yield return new("tanh", [s34], Normal, (t, x) => t.Tanh(x[0]));
        yield return new("tanh_saturated", [s34], Magnitude(3, 7), (t, x) => t.Tanh(x[0]));
        yield return new("relu", [s34], Magnitude(0.1, 2), (t, x) => t.Relu(x[0]));
        yield return new("sigmoid", [s34], Normal, (t, x) => t.Sigmoid(x[0]));
        yield return new("sigmoid_tails", [s34], Magnitude(4, 12), (t, x) => t.Sigmoid(x[0]));
        yield return new("softplus", [s34], Normal, (t, x) => t.Softplus(x[0]));
        yield return new("softplus_tails", [s34], Magnitude(4, 12), (t, x) => t.Softplus(x[0]));
        yield return new("gelu", [s34], Range(-3, 3), (t, x) => t.Gelu(x[0]));
        yield return new("gelu_tails", [s34], Magnitude(3, 6), (t, x) => t.Gelu(x[0]));
        yield return new("exp", [s34], Range(-3, 3), (t, x) => t.Exp(x[0]));
        yield return new("exp_large", [s34], Range(10, 20), (t, x) => t.Exp(x[0]));
        yield return new("log", [s34], Range(0.5, 3), (t, x) => t.Log(x[0]));
        yield return new("log_near_zero", [s34], Range(1e-3, 1e-2), (t, x) => t.Log(x[0]), step: 1e-5);
        yield return new("square", [s34], Normal, (t, x) => t.Square(x[0]));
        yield return new("sum", [s34], Normal, (t, x) => t.Sum(x[0]));
        yield return new("mean", [s34], Normal, (t, x) => t.Mean(x[0]));
        yield return new("reshape", [s34], Normal, (t, x) => t.Reshape(x[0], 2, 6));
        yield return new("log_softmax", [s34], Normal, (t, x) => t.LogSoftmax(x[0]));
        yield return new("log_softmax_large_logits", [s34], (r, _) => 1000 + 3 * r.NextGaussian(), (t, x) => t.LogSoftmax(x[0]));
        yield return new("softmax_cross_entropy", [s34], Normal, (t, x) => t.SoftmaxCrossEntropy(x[0], Labels4));
        yield return new("softmax_cross_entropy_large_logits", [s34], (r, _) => 1000 + 3 * r.NextGaussian(),
            (t, x) => t.SoftmaxCrossEntropy(x[0], Labels4));
        yield return new("softmax_cross_entropy_scaled", [s34], Normal, (t, x) => t.SoftmaxCrossEntropy(x[0], Labels4, 0, 0.7));
        yield return new("mse_targets", [s34, s34], Normal, (t, x) => t.MeanSquaredError(x[0], x[1]), constant: [false, true]);
        yield return new("mse_labels", [s34], Normal, (t, x) => t.MeanSquaredError(x[0], Labels4));
        yield return new("mlp_block", [(5, 4), (3, 4), (1, 3), (2, 3)], Normal,
            (t, x) => t.MatMul(t.Tanh(t.Linear(x[0], x[1], x[2])), x[3], transposeB: true));
    }

    [TestCaseSource(nameof(Cases))]
    public void Gradient_matches_central_finite_differences_of_the_loss(OpCase c) => OpChecks.Gradient(c, Tolerance);

    [TestCaseSource(nameof(Cases))]
    public void Tangent_matches_finite_differences_of_the_forward_value(OpCase c) => OpChecks.Tangent(c, Tolerance);

    [TestCaseSource(nameof(Cases))]
    public void Backward_tangent_matches_finite_differences_of_the_gradient(OpCase c) => OpChecks.BackwardTangent(c, Tolerance);

    [Test]
    public void Complementary_error_function_matches_an_independent_implementation()
    {
        for (double x = -6; x <= 26; x += 0.0625)
        {
            double expected = MathNet.Numerics.SpecialFunctions.Erfc(x);
            double actual = SpecialFunctions.Erfc(x);
            Math.Abs(actual - expected).Should().BeLessThanOrEqualTo(2e-14 * Math.Abs(expected) + 1e-300, $"erfc({x})");
            Math.Abs(SpecialFunctions.Erf(x) - MathNet.Numerics.SpecialFunctions.Erf(x)).Should().BeLessThan(1e-15, $"erf({x})");
        }
    }

    [Test]
    public void Vectorized_tanh_agrees_with_Math_Tanh_to_a_few_ulps()
    {
        var rng = new Rng(31);
        var x = new double[20003];
        for (int i = 0; i < x.Length; i++)
            x[i] = (i % 4) switch
            {
                0 => rng.Uniform(-0.7, 0.7),
                1 => rng.Uniform(-4, 4),
                2 => rng.Uniform(-30, 30),
                _ => Math.Pow(10, rng.Uniform(-300, 2)) * (rng.NextDouble() < 0.5 ? -1 : 1),
            };
        x[0] = 0; x[1] = -0.0; x[2] = 0.625; x[3] = -0.625; x[4] = 400; x[5] = -800; x[6] = 1e-310;
        var y = new double[x.Length];
        FastMath.Tanh(x, y);
        for (int i = 0; i < x.Length; i++)
        {
            double expected = Math.Tanh(x[i]);
            Math.Abs(y[i] - expected).Should().BeLessThanOrEqualTo(4 * Math.BitIncrement(Math.Abs(expected)) - 4 * Math.Abs(expected) + double.Epsilon,
                $"tanh({x[i]:R})");
        }
        var nan = new double[4];
        FastMath.Tanh([double.NaN, double.PositiveInfinity, double.NegativeInfinity, 1.0], nan);
        double.IsNaN(nan[0]).Should().BeTrue();
        nan[1].Should().Be(1.0);
        nan[2].Should().Be(-1.0);
    }

    [Test]
    public void Vectorized_normal_cdf_agrees_with_a_50_digit_reference()
    {
        // The table is mpmath's ncdf/npdf at 50 digits (scripts/normal_cdf_fit.py --table):
        // random points over [−38.5, 9] and the pieces' boundaries |x| = √2, 2.5√2 ± a few ulps.
        string root = CliProcess.RepoRoot;
        var rows = File.ReadAllLines(Path.Combine(root, "Tests", "Data", "normal_cdf_reference.csv")).Skip(1)
            .Select(l => l.Split(',').Select(f => double.Parse(f, System.Globalization.CultureInfo.InvariantCulture)).ToArray()).ToArray();
        rows.Length.Should().BeGreaterThan(4000);
        var x = rows.Select(r => r[0]).ToArray();
        var cdf = new double[x.Length];
        var gelu = new double[x.Length];
        var first = new double[x.Length];
        FastMath.NormalCdf(x, cdf);
        FastMath.Gelu(x, gelu, first);
        double worst = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double phi = rows[i][1], density = rows[i][2];
            if (phi >= 1e-300)
            {
                double rel = Math.Abs(cdf[i] - phi) / phi;
                worst = Math.Max(worst, rel);
                rel.Should().BeLessThan(2e-15, $"Φ({x[i]:R})");
            }
            else Math.Abs(cdf[i] - phi).Should().BeLessThan(1e-300, $"Φ({x[i]:R})");
            if (density >= 1e-300)
                (Math.Abs(first[i] - (phi + x[i] * density)) / Math.Max(1e-300, Math.Abs(phi + x[i] * density) + Math.Abs(x[i] * density)))
                    .Should().BeLessThan(2e-15, $"GELU′({x[i]:R})");
            gelu[i].Should().Be(x[i] * cdf[i], "GELU is x·Φ(x) with the same Φ");
        }
        TestContext.Out.WriteLine($"worst relative error of Φ: {worst:E2}");
        var special = new double[4];
        FastMath.NormalCdf([double.NaN, double.PositiveInfinity, double.NegativeInfinity, 0.0], special);
        double.IsNaN(special[0]).Should().BeTrue();
        special[1].Should().Be(1.0);
        special[2].Should().Be(0.0);
        special[3].Should().Be(0.5);
    }

    [Test]
    public void Vectorized_exp_agrees_with_Math_Exp_to_a_few_ulps()
    {
        // The softmax's exponentials: arguments z − max ≤ 0 in use, and −∞ for masked entries.
        var rng = new Rng(41);
        var x = new double[20003];
        for (int i = 0; i < x.Length; i++) x[i] = (i % 3) switch { 0 => rng.Uniform(-1, 0), 1 => rng.Uniform(-40, 0), _ => rng.Uniform(-700, 700) };
        var y = new double[x.Length];
        FastMath.Exp(x, y);
        for (int i = 0; i < x.Length; i++)
        {
            double expected = Math.Exp(x[i]);
            Math.Abs(y[i] - expected).Should().BeLessThanOrEqualTo(4 * (Math.BitIncrement(expected) - expected), $"exp({x[i]:R})");
        }
        var special = new double[5];
        FastMath.Exp([double.NegativeInfinity, double.NaN, 0.0, -800.0, 800.0], special);
        special[0].Should().Be(0.0);
        double.IsNaN(special[1]).Should().BeTrue();
        special[2].Should().Be(1.0);
        special[3].Should().Be(0.0);
        special[4].Should().Be(double.PositiveInfinity);
    }

    [Test]
    public void Vectorized_normal_cdf_gives_an_entry_the_same_bits_wherever_it_sits_in_the_span()
    {
        var rng = new Rng(7);
        var x = new double[37];
        for (int i = 0; i < x.Length; i++) x[i] = rng.Uniform(-6, 6);
        var all = new double[x.Length];
        FastMath.NormalCdf(x, all);
        for (int start = 1; start < 8; start++)
        {
            var part = new double[x.Length - start];
            FastMath.NormalCdf(x.AsSpan(start), part);
            part.Should().Equal(all.Skip(start), $"the span starting at {start}");
        }
    }

    [Test]
    public void Softmax_cross_entropy_of_huge_logits_is_finite_and_equals_the_shifted_loss()
    {
        // Shifting every logit of a row by the same constant leaves softmax unchanged, so
        // logits near 1e3 (where exp overflows) must give the loss of the logits near 0.
        var rng = new Rng(5);
        var z = Gaussian(rng, 12);
        var shifted = z.Select(v => v + 1000.0).ToArray();
        double Loss(double[] logits)
        {
            var tape = new Tape();
            tape.Begin();
            return tape.SoftmaxCrossEntropy(tape.Constant(logits, 0, 3, 4), Labels4).Scalar;
        }
        double small = Loss(z), large = Loss(shifted);
        double.IsFinite(large).Should().BeTrue();
        Math.Abs(large - small).Should().BeLessThan(1e-12 * 1000);
    }

    [Test]
    public void Shape_mismatch_names_both_shapes()
    {
        var tape = new Tape();
        tape.Begin();
        var a = tape.Constant(new double[6], 0, 2, 3);
        var b = tape.Constant(new double[8], 0, 2, 4);
        var act = () => tape.Add(a, b);
        act.Should().Throw<ArgumentException>().WithMessage("*2x3*2x4*");
        var mm = () => tape.MatMul(a, b);
        mm.Should().Throw<ArgumentException>().WithMessage("*2x3*2x4*");
    }

    [Test]
    public void Label_out_of_range_is_rejected_with_its_index()
    {
        var tape = new Tape();
        tape.Begin();
        var z = tape.Constant(new double[6], 0, 2, 3);
        var act = () => tape.SoftmaxCrossEntropy(z, [0, 3]);
        act.Should().Throw<ArgumentException>().WithMessage("*3 at index 1*[0, 3)*");
    }

    [Test]
    public void A_tensor_from_an_earlier_recording_is_rejected()
    {
        var tape = new Tape();
        tape.Begin();
        var old = tape.Constant(1.0);
        tape.Begin();
        var act = () => tape.Exp(old);
        act.Should().Throw<ArgumentException>().WithMessage("*earlier recording*");
    }


    [Test]
    public void Worked_example_log_softmax_of_0_0_ln2_has_gradient_e0_minus_p_and_Hessian_column_minus_diag_p_minus_p_p_transpose()
    {
        // docs/autodiff.md §5 "Log-softmax": L = y₀ = log p₀ with p = (1/4, 1/4, 1/2); ∇ = e₀ − p, ∇² = −(diag p − ppᵀ).
        double[] z = [0, 0, Math.Log(2)];
        double[] p = [0.25, 0.25, 0.5];
        static Tensor Loss(Tape t, Tensor th) => t.Sum(t.Mul(t.LogSoftmax(t.Reshape(th, 1, 3)), t.Constant([1.0, 0, 0], 1, 3)));
        var gradient = p.Select((pb, b) => (b == 0 ? 1 : 0) - pb).ToArray();
        var column = p.Select((pb, b) => -((b == 0 ? pb : 0) - pb * p[0])).ToArray();
        gradient.Should().Equal(0.75, -0.25, -0.5);
        column.Should().Equal(-3.0 / 16, 1.0 / 16, 1.0 / 8);
        var r = new Tape().HessianVectorProduct(Loss, z, [1.0, 0, 0]);
        r.Loss.Should().BeApproximately(-Math.Log(4), 1e-15);
        r.Gradient.Should().Equal(gradient, (a, b) => Math.Abs(a - b) < 1e-15);
        r.Product.Should().Equal(column, (a, b) => Math.Abs(a - b) < 1e-15);
    }


    [TestCase("tanh", 0.6931471805599453, 0.6, 16.0 / 25, -96.0 / 125)]
    [TestCase("sigmoid", 1.0986122886681098, 0.75, 3.0 / 16, -3.0 / 32)]
    [TestCase("softplus", 1.0986122886681098, 1.3862943611198906, 0.75, 3.0 / 16)]
    [TestCase("gelu", 0.0, 0.0, 0.5, 0.7978845608028654)]
    public void Worked_example_elementwise_function_at_a_point_has_gradient_f_prime_and_Hv_f_double_prime(string name, double x, double f, double f1, double f2)
    {
        // docs/autodiff.md §5 "Elementwise functions": tanh at ln 2 (y = 3/5), σ and softplus at ln 3 (σ = 3/4), gelu at 0.
        // The expected values come from the table's closed forms, evaluated here; the test cases restate them as fractions.
        double y = name switch { "tanh" => Math.Tanh(x), "sigmoid" => 1 / (1 + Math.Exp(-x)), "softplus" => Math.Log(1 + Math.Exp(x)), _ => 0.0 };
        double s = 1 / (1 + Math.Exp(-x));
        (double d1, double d2) = name switch
        {
            "tanh" => (1 - y * y, -2 * y * (1 - y * y)),
            "sigmoid" => (y * (1 - y), y * (1 - y) * (1 - 2 * y)),
            "softplus" => (s, s * (1 - s)),
            _ => (0.5, 2 / Math.Sqrt(2 * Math.PI)),
        };
        y.Should().BeApproximately(f, 1e-15);
        d1.Should().BeApproximately(f1, 1e-15);
        d2.Should().BeApproximately(f2, 1e-15);
        Tensor Loss(Tape t, Tensor p) => t.Sum(name switch
        {
            "tanh" => t.Tanh(p),
            "sigmoid" => t.Sigmoid(p),
            "softplus" => t.Softplus(p),
            _ => t.Gelu(p),
        });
        var r = new Tape().HessianVectorProduct(Loss, [x], [1.0]);
        r.Loss.Should().BeApproximately(f, 1e-15);
        r.Gradient[0].Should().BeApproximately(f1, 1e-15);
        r.Product[0].Should().BeApproximately(f2, 1e-15);
    }


    [Test]
    public void Worked_example_matrix_product_of_2x2_matrices_has_adjoints_Cbar_B_transpose_and_A_transpose_Cbar_and_the_curvature_term_Adot_transpose_Cbar()
    {
        // docs/autodiff.md §5 "Matrix product": A = [[1, 2], [0, 1]], B = [[1, 0], [1, 1]], L = ½‖AB‖², v = e_{A₀₀}; θ = (A, B).
        double[,] a = { { 1, 2 }, { 0, 1 } }, b = { { 1, 0 }, { 1, 1 } }, aDot = { { 1, 0 }, { 0, 0 } };
        static double[,] Times(double[,] x, double[,] y, bool tx = false, bool ty = false)
        {
            var z = new double[2, 2];
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++)
                    for (int k = 0; k < 2; k++) z[i, j] += (tx ? x[k, i] : x[i, k]) * (ty ? y[j, k] : y[k, j]);
            return z;
        }
        static double[] Flat(double[,] x) => [x[0, 0], x[0, 1], x[1, 0], x[1, 1]];
        var c = Times(a, b);
        var cDot = Times(aDot, b);
        // C̄ = C and C̄̇ = Ċ = ȦB for L = ½‖C‖²; Ā = C̄Bᵀ, B̄ = AᵀC̄; Ā̇ = C̄̇Bᵀ (Ḃ = 0), B̄̇ = AᵀC̄̇ + [ȦᵀC̄].
        var aBar = Times(c, b, ty: true);
        var bBar = Times(a, c, tx: true);
        var aBarDot = Times(cDot, b, ty: true);
        var bBarDot = Times(a, cDot, tx: true);
        var curvature = Times(aDot, c, tx: true);
        for (int i = 0; i < 2; i++) for (int j = 0; j < 2; j++) bBarDot[i, j] += curvature[i, j];
        Flat(c).Should().Equal(3, 2, 1, 1);
        Flat(aBar).Should().Equal(3, 5, 1, 2);
        Flat(bBar).Should().Equal(3, 2, 7, 5);
        Flat(aBarDot).Should().Equal(1, 1, 0, 0);
        Flat(bBarDot).Should().Equal(4, 2, 2, 0);

        static Tensor Loss(Tape t, Tensor p) => t.Scale(t.Sum(t.Square(t.MatMul(t.Slice(p, 0, 2, 2), t.Slice(p, 4, 2, 2)))), 0.5);
        var r = new Tape().HessianVectorProduct(Loss, [.. Flat(a), .. Flat(b)], [1.0, 0, 0, 0, 0, 0, 0, 0]);
        r.Loss.Should().Be(0.5 * (9 + 4 + 1 + 1));
        r.Gradient.Should().Equal([.. Flat(aBar), .. Flat(bBar)]);
        r.Product.Should().Equal([.. Flat(aBarDot), .. Flat(bBarDot)]);
    }


    [Test]
    public void Worked_example_elementwise_product_has_adjoints_B_and_A_and_its_own_operand_twice_gives_Hessian_2I()
    {
        // docs/autodiff.md §5 "Elementwise product": θ = (A, B) = (1, 2, 3, −1), L = Σ A∘B, v = e_{A₀}; then L = Σ a∘a.
        double[] a = [1, 2], b = [3, -1];
        static Tensor Product(Tape t, Tensor p) => t.Sum(t.Mul(t.Slice(p, 0, 1, 2), t.Slice(p, 2, 1, 2)));
        var r = new Tape().HessianVectorProduct(Product, [.. a, .. b], [1.0, 0, 0, 0]);
        r.Loss.Should().Be(a[0] * b[0] + a[1] * b[1]);
        r.Gradient.Should().Equal([.. b, .. a], "Ā = Ȳ∘B, B̄ = Ȳ∘A with Ȳ = 1");
        r.Product.Should().Equal([0.0, 0, 1, 0], "only the bracket B̄̇ = Ȳ∘Ȧ = e₀ is left");

        static Tensor Square(Tape t, Tensor p) => t.Sum(t.Mul(p, p));
        double[] v = [1, -3];
        var s = new Tape().HessianVectorProduct(Square, a, v);
        s.Gradient.Should().Equal(a.Select(x => 2 * x), "both operand adjoints, a and a, add");
        s.Product.Should().Equal(v.Select(x => 2 * x));
    }
}

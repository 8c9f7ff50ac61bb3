using Curvature.Autodiff;
using Curvature.Core;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.AutodiffTestSupport;

namespace Curvature.Tests;

/// <summary>
/// The Transformer ops' four rules against central differences (the OpChecks harness of
/// AutodiffOpTests: gradient of L = Σ (w∘y + ½c∘y²), three tangents, three H·v), with
/// masked positions, sequences of length 1, one head, and tied softmax inputs; plus the
/// promises that are not derivatives (unused embedding rows, masked keys, refusals).
/// </summary>
public class TransformerOpTests
{
    const double Tolerance = 1e-6;

    static double Normal(Rng r, int _) => r.NextGaussian();
    static double Half(Rng r, int _) => 0.5 * r.NextGaussian();

    static readonly double[] IdValues = [0, 2, 2, 5, 1];
    // Two sequences of three tokens; the first is padded at its last position.
    static readonly double[] Mask23 = [1, 1, 0, 1, 1, 1];
    static readonly double[] Mask31 = [1, 1, 1];
    static Tensor M23(Tape t) => t.Constant(Mask23, 0, 2, 3);
    static Tensor M31(Tape t) => t.Constant(Mask31, 0, 3, 1);

    /// <summary>A pre-norm encoder layer on B×T tokens of width d: x + Attn(LN(x)), then h + FF(LN(h)) with GELU.</summary>
    static Tensor EncoderLayer(Tape t, Tensor[] p, int heads, int seqLen, Tensor mask)
    {
        var x = p[0];
        var a = t.SelfAttention(t.LayerNorm(x, p[1], p[2]), p[3], p[4], p[5], p[6], heads, seqLen, mask);
        var h = t.Add(x, a);
        var f = t.Linear(t.Gelu(t.Linear(t.LayerNorm(h, p[7], p[8]), p[9], p[10])), p[11], p[12]);
        return t.Add(h, f);
    }

    static (int, int)[] LayerShapes(int rows, int d, int ff) =>
        [(rows, d), (1, d), (1, d), (3 * d, d), (1, 3 * d), (d, d), (1, d), (1, d), (1, d), (ff, d), (1, ff), (d, ff), (1, d)];

    public static IEnumerable<OpCase> Cases()
    {
        yield return new("embedding", [(6, 3)], Normal, (t, x) => t.Embedding(x[0], t.Constant(IdValues, 0, 1, 5)));
        yield return new("embedding_batch", [(6, 3)], Normal, (t, x) => t.Embedding(x[0], t.Constant([1.0, 0, 5, 5, 2, 1], 0, 2, 3)));
        yield return new("positional", [(6, 3), (3, 3)], Normal, (t, x) => t.AddPositional(x[0], x[1]));
        yield return new("positional_length_1", [(4, 3), (1, 3)], Normal, (t, x) => t.AddPositional(x[0], x[1]));
        yield return new("layer_norm", [(4, 5), (1, 5), (1, 5)], Normal, (t, x) => t.LayerNorm(x[0], x[1], x[2]));
        yield return new("layer_norm_constant_input", [(4, 5), (1, 5), (1, 5)], Normal, (t, x) => t.LayerNorm(x[0], x[1], x[2]),
            constant: [true, false, false]);
        yield return new("layer_norm_width_3", [(3, 3), (1, 3), (1, 3)], Normal, (t, x) => t.LayerNorm(x[0], x[1], x[2]));
        yield return new("softmax_rows", [(3, 4)], Normal, (t, x) => t.Softmax(x[0]));
        yield return new("softmax_columns", [(3, 4)], Normal, (t, x) => t.Softmax(x[0], axis: 0));
        yield return new("softmax_tied_inputs", [(3, 4)], (r, _) => r.NextDouble() < 0.5 ? 0.25 : -0.5, (t, x) => t.Softmax(x[0]));
        yield return new("softmax_same_input_twice", [(3, 4)], Normal, (t, x) => t.Softmax(t.Add(x[0], x[0])));
        yield return new("softmax_masked", [(6, 3)], Normal, (t, x) => t.Softmax(x[0], 1, M23(t), 3));
        yield return new("attention_scores", [(6, 4), (6, 4)], Normal, (t, x) => t.AttentionScores(x[0], 0, x[1], 0, 2, 3, 2, 0.7));
        yield return new("attention_scores_same_operand", [(6, 8)], Normal, (t, x) => t.AttentionScores(x[0], 0, x[0], 4, 2, 3, 2, 0.7));
        yield return new("attention_mix", [(12, 3), (6, 4)], Normal, (t, x) => t.AttentionMix(x[0], x[1], 0, 2, 3, 2));
        yield return new("attention_mix_column_window", [(12, 3), (6, 7)], Normal, (t, x) => t.AttentionMix(x[0], x[1], 3, 2, 3, 2));
        // T = 9 and w = 5 take every path of the SIMD head kernel (two vectors, one, a scalar tail).
        yield return new("attention_scores_wide", [(18, 10), (18, 12)], Normal, (t, x) => t.AttentionScores(x[0], 0, x[1], 2, 2, 9, 5, 0.7));
        yield return new("attention_mix_wide", [(36, 9), (18, 11)], Normal, (t, x) => t.AttentionMix(x[0], x[1], 1, 2, 9, 5));
        yield return new("self_attention_masked", [(6, 4), (12, 4), (1, 12), (4, 4), (1, 4)], Half,
            (t, x) => t.SelfAttention(x[0], x[1], x[2], x[3], x[4], 2, 3, M23(t)));
        yield return new("self_attention_single_head", [(6, 4), (12, 4), (1, 12), (4, 4), (1, 4)], Half,
            (t, x) => t.SelfAttention(x[0], x[1], x[2], x[3], x[4], 1, 3, M23(t)));
        yield return new("self_attention_length_1", [(3, 4), (12, 4), (1, 12), (4, 4), (1, 4)], Half,
            (t, x) => t.SelfAttention(x[0], x[1], x[2], x[3], x[4], 2, 1, M31(t)));
        yield return new("gelu", [(3, 4)], (r, _) => r.Uniform(-3, 3), (t, x) => t.Gelu(x[0]));
        yield return new("residual", [(5, 3), (3, 3)], Normal, (t, x) => t.Add(x[0], t.Tanh(t.MatMul(x[0], x[1]))));
        yield return new("masked_mean_pool", [(6, 3)], Normal, (t, x) => t.MaskedMeanPool(x[0], M23(t)));
        yield return new("masked_mean_pool_length_1", [(3, 2)], Normal, (t, x) => t.MaskedMeanPool(x[0], M31(t)));
        yield return new("encoder_layer_masked", LayerShapes(6, 4, 5), Half, (t, x) => EncoderLayer(t, x, 2, 3, M23(t)));
        yield return new("encoder_layer_length_1_single_head", LayerShapes(3, 4, 5), Half, (t, x) => EncoderLayer(t, x, 1, 1, M31(t)));
    }

    [TestCaseSource(nameof(Cases))]
    public void Gradient_matches_central_finite_differences_of_the_loss(OpCase c) => OpChecks.Gradient(c, Tolerance);

    [TestCaseSource(nameof(Cases))]
    public void Tangent_matches_finite_differences_of_the_forward_value(OpCase c) => OpChecks.Tangent(c, Tolerance);

    [TestCaseSource(nameof(Cases))]
    public void Backward_tangent_matches_finite_differences_of_the_gradient(OpCase c) => OpChecks.BackwardTangent(c, Tolerance);

    [Test]
    public void Embedding_gradient_and_Hv_are_exactly_zero_on_rows_of_unused_ids()
    {
        var rng = new Rng(3);
        var table = Gaussian(rng, 6 * 3);
        var w = Gaussian(rng, IdValues.Length * 3);
        Tensor Loss(Tape t, Tensor theta)
        {
            var y = t.Embedding(t.Slice(theta, 0, 6, 3), t.Constant(IdValues, 0, 1, 5));
            return t.Sum(t.Square(t.Mul(y, t.Constant(w, 0, y.Rows, y.Cols))));
        }
        var g = new Tape().Gradient(Loss, table).Gradient;
        var v = new Matrix(2, table.Length);
        rng.FillGaussian(v.Data);
        var hv = new Tape().HessianBlockProduct(Loss, table, v).Products;
        foreach (int unused in new[] { 3, 4 })
            for (int c = 0; c < 3; c++)
            {
                g[unused * 3 + c].Should().Be(0.0);
                hv[0, unused * 3 + c].Should().Be(0.0);
                hv[1, unused * 3 + c].Should().Be(0.0);
            }
        g.Take(3).Should().OnlyContain(x => x != 0.0, "id 0 is used");
    }

    [Test]
    public void Masked_keys_get_zero_attention_and_do_not_change_the_output()
    {
        // Changing the padded token's features must not change any unpadded query's output row.
        var rng = new Rng(8);
        var x = Gaussian(rng, 6 * 4);
        var wi = Gaussian(rng, 12 * 4); var bi = Gaussian(rng, 12);
        var wo = Gaussian(rng, 16); var bo = Gaussian(rng, 4);
        double[] Run(double[] input)
        {
            var t = new Tape();
            t.Begin();
            var y = t.SelfAttention(t.Constant(input, 0, 6, 4), t.Constant(wi, 0, 12, 4), t.Constant(bi, 0, 1, 12),
                t.Constant(wo, 0, 4, 4), t.Constant(bo, 0, 1, 4), 2, 3, M23(t));
            return y.Value.ToArray();
        }
        var before = Run(x);
        var changed = (double[])x.Clone();
        for (int c = 0; c < 4; c++) changed[2 * 4 + c] += 10.0;   // token 2 of sequence 0 is padding
        var after = Run(changed);
        for (int i = 0; i < 2 * 4; i++) after[i].Should().BeApproximately(before[i], 1e-14);
        for (int i = 3 * 4; i < 6 * 4; i++) after[i].Should().Be(before[i], "sequence 1 does not see sequence 0");
    }

    [Test]
    public void Softmax_of_tied_inputs_is_uniform_and_masked_entries_are_exactly_zero()
    {
        var t = new Tape();
        t.Begin();
        var p = t.Softmax(t.Constant([2.0, 2.0, 2.0, 7.0, 1.0, 3.0], 2, 3), 1, t.Constant([1.0, 1, 1, 1, 0, 1], 2, 3), 1);
        p.Value[0].Should().BeApproximately(1.0 / 3, 1e-15);
        p.Value[4].Should().Be(0.0);
        (p.Value[3] + p.Value[5]).Should().BeApproximately(1.0, 1e-15);
        p.Value[3].Should().BeApproximately(1.0 / (1.0 + Math.Exp(-4.0)), 1e-15);
    }

    [Test]
    public void Width_not_divisible_by_the_number_of_heads_is_refused_naming_heads()
    {
        var t = new Tape();
        t.Begin();
        var x = t.Constant(new double[6 * 6], 0, 6, 6);
        var act = () => t.SelfAttention(x, t.Constant(new double[18 * 6], 0, 18, 6), null, t.Constant(new double[36], 0, 6, 6), null, 4, 3);
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "heads" && e.Message.Contains("6") && e.Message.Contains("divisible"));
    }

    [Test]
    public void A_fully_masked_sequence_is_refused()
    {
        var t = new Tape();
        t.Begin();
        var x = t.Constant(new double[6], 0, 3, 2);
        var act = () => t.MaskedMeanPool(x, t.Constant([0.0, 0, 0], 1, 3));
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "mask");
        var soft = () => t.Softmax(x, 1, t.Constant([1.0, 1, 0, 0, 1, 1], 3, 2), 1);
        soft.Should().Throw<ArgumentException>().Where(e => e.ParamName == "mask");
    }


    [Test]
    public void Worked_example_layer_norm_of_1_2_3_has_x_hat_r_times_minus1_0_1_and_gradient_of_y0_r_times_one_sixth_minus_one_third_one_sixth()
    {
        // docs/autodiff.md §5 "LayerNorm": θ = (x, γ, β) = (1, 2, 3, 1, 1, 1, 0, 0, 0), L = y₀.
        double[] theta = [1, 2, 3, 1, 1, 1, 0, 0, 0];
        static Tensor Loss(Tape t, Tensor p) =>
            t.Sum(t.Mul(t.LayerNorm(t.Slice(p, 0, 1, 3), t.Slice(p, 3, 1, 3), t.Slice(p, 6, 1, 3)), t.Constant([1.0, 0, 0], 1, 3)));
        // μ = 2, σ² = 2/3, r = (σ² + ε)^{−1/2}, x̂ = r(−1, 0, 1); x̄ = Jᵀe₀ = r(e₀ − ⟨e₀⟩1 − x̂⟨e₀∘x̂⟩).
        double r = 1 / Math.Sqrt(2.0 / 3 + 1e-5);
        double[] xHat = [-r, 0, r];
        var xBar = new double[3];
        for (int c = 0; c < 3; c++) xBar[c] = r * ((c == 0 ? 1 : 0) - 1.0 / 3 - xHat[c] * xHat[0] / 3);
        r.Should().BeApproximately(1.224736, 1e-6);
        xBar.Should().Equal([0.204124, -0.408248, 0.204124], (a, b) => Math.Abs(a - b) < 2e-5, "r(1/6, −1/3, 1/6) = (1/√6)(1, −2, 1) when ε = 0");
        xBar.Should().Equal([0.204132, -0.408245, 0.204113], (a, b) => Math.Abs(a - b) < 1e-6, "ε = 10⁻⁵ moves the sixth digit");

        var moveGamma0 = new double[9];
        moveGamma0[3] = 1;
        var result = new Tape().HessianVectorProduct(Loss, theta, moveGamma0);
        result.Loss.Should().BeApproximately(-r, 1e-12);
        result.Gradient.Should().Equal([.. xBar, -r, 0, 0, 1, 0, 0], (a, b) => Math.Abs(a - b) < 1e-12);
        // L = γ₀x̂₀ is linear in γ, so ∂²L/∂x∂γ₀ = ∂x̂₀/∂x = x̄ and ∂²L/∂γ₀² = 0.
        result.Product.Should().Equal([.. xBar, 0, 0, 0, 0, 0, 0], (a, b) => Math.Abs(a - b) < 1e-12);
    }

    [Test]
    public void Worked_example_softmax_of_0_0_ln2_has_p0_gradient_p0_times_e0_minus_p_and_the_hand_computed_Hessian_column()
    {
        // docs/autodiff.md §5 "Softmax along an axis": L = p₀, p = softmax(0, 0, ln 2) = (1/4, 1/4, 1/2), then with entry 2 masked.
        double[] z = [0, 0, Math.Log(2)];
        double[] e0 = [1, 0, 0];
        static Tensor Pick(Tape t, Tensor p) => t.Constant([1.0, 0, 0], 1, 3);
        static Tensor Plain(Tape t, Tensor p) => t.Sum(t.Mul(t.Softmax(t.Reshape(p, 1, 3)), Pick(t, p)));
        static Tensor Masked(Tape t, Tensor p) => t.Sum(t.Mul(t.Softmax(t.Reshape(p, 1, 3), 1, t.Constant([1.0, 1, 0], 1, 3)), Pick(t, p)));

        // ∂p₀/∂z_b = p₀(δ₀b − p_b); ∂²p₀/∂z_b∂z₀ = p₀(1 − 2p₀)(δ₀b − p_b).
        static (double[] G, double[] H) ClosedForm(double[] p) =>
            (p.Select((pb, b) => p[0] * ((b == 0 ? 1 : 0) - pb)).ToArray(),
             p.Select((pb, b) => p[0] * (1 - 2 * p[0]) * ((b == 0 ? 1 : 0) - pb)).ToArray());
        var (g, h) = ClosedForm([0.25, 0.25, 0.5]);
        g.Should().Equal(3.0 / 16, -1.0 / 16, -1.0 / 8);
        h.Should().Equal(3.0 / 32, -1.0 / 32, -1.0 / 16);
        var plain = new Tape().HessianVectorProduct(Plain, z, e0);
        plain.Loss.Should().BeApproximately(0.25, 1e-15);
        plain.Gradient.Should().Equal(g, (a, b) => Math.Abs(a - b) < 1e-15);
        plain.Product.Should().Equal(h, (a, b) => Math.Abs(a - b) < 1e-15);

        var (gm, hm) = ClosedForm([0.5, 0.5, 0]);
        gm.Should().Equal(0.25, -0.25, 0);
        var masked = new Tape().HessianVectorProduct(Masked, z, e0);
        masked.Loss.Should().BeApproximately(0.5, 1e-15);
        masked.Gradient.Should().Equal(gm, (a, b) => Math.Abs(a - b) < 1e-15);
        masked.Product.Should().Equal(hm, (a, b) => Math.Abs(a - b) < 1e-15, "p₀ = 1/2 is the logistic's inflection point");
    }


    [Test]
    public void Worked_example_embedding_of_ids_2_0_2_scatters_half_squared_loss_adjoints_and_counts_repeated_rows_twice()
    {
        // docs/autodiff.md §5 "Token embedding": E = [[1, 2], [3, 4], [5, 6]], ids (2, 0, 2), L = ½ΣY².
        double[] table = [1, 2, 3, 4, 5, 6];
        int[] ids = [2, 0, 2];
        static Tensor Loss(Tape t, Tensor p) => t.Scale(t.Sum(t.Square(t.Embedding(t.Reshape(p, 3, 2), t.Constant([2.0, 0, 2], 1, 3)))), 0.5);
        // Ē = SᵀSE, H·v = SᵀSv: row k is scaled by the number of times id k occurs.
        var count = new double[3];
        foreach (int id in ids) count[id]++;
        count.Should().Equal(1, 0, 2);
        double[] v = [1, -1, 2, 3, 0.5, -2];
        var r = new Tape().HessianVectorProduct(Loss, table, v);
        r.Loss.Should().Be(0.5 * (25 + 36 + 1 + 4 + 25 + 36));
        r.Gradient.Should().Equal(table.Select((e, i) => count[i / 2] * e));
        r.Gradient.Should().Equal(1, 2, 0, 0, 10, 12);
        r.Product.Should().Equal(v.Select((e, i) => count[i / 2] * e));
    }

    [Test]
    public void Worked_example_attention_scores_of_one_head_have_adjoints_alpha_Sbar_K_and_alpha_Sbar_transpose_Q()
    {
        // docs/autodiff.md §5 "Batched products for heads": T = 2, one head of width 2, α = 1/√2,
        // Q = [[1, 0], [0, 1]], K = [[1, 1], [0, 2]], L = ΣS (S̄ = 1); θ = (Q, K).
        double alpha = 1 / Math.Sqrt(2);
        double[] theta = [1, 0, 0, 1, 1, 1, 0, 2];
        Tensor Loss(Tape t, Tensor p) => t.Sum(t.AttentionScores(t.Slice(p, 0, 2, 2), 0, t.Slice(p, 4, 2, 2), 0, 1, 2, 2, alpha));
        var q = new double[,] { { 1, 0 }, { 0, 1 } };
        var k = new double[,] { { 1, 1 }, { 0, 2 } };
        // S = αQKᵀ, Q̄ = αS̄K (each row Σ_j K_j), K̄ = αS̄ᵀQ (each row Σ_i Q_i).
        double sum = 0;
        var qBar = new double[4];
        var kBar = new double[4];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++)
                for (int c = 0; c < 2; c++)
                {
                    sum += alpha * q[i, c] * k[j, c];
                    qBar[i * 2 + c] += alpha * k[j, c];
                    kBar[j * 2 + c] += alpha * q[i, c];
                }
        sum.Should().BeApproximately(4 * alpha, 1e-15, "QKᵀ = [[1, 0], [1, 2]]");
        var moveQ00 = new double[8];
        moveQ00[0] = 1;
        var r = new Tape().HessianVectorProduct(Loss, theta, moveQ00);
        r.Loss.Should().BeApproximately(sum, 1e-15);
        r.Gradient.Should().Equal([.. qBar, .. kBar], (a, b) => Math.Abs(a - b) < 1e-15);
        r.Gradient.Should().Equal([alpha, 3 * alpha, alpha, 3 * alpha, alpha, alpha, alpha, alpha], (a, b) => Math.Abs(a - b) < 1e-15);
        // The curvature term K̄̇ = αS̄ᵀQ̇: Q̇ = e₀₀ puts α in column 0 of every row of K̄̇.
        r.Product.Should().Equal([0, 0, 0, 0, alpha, 0, alpha, 0], (a, b) => Math.Abs(a - b) < 1e-15);
    }


    [Test]
    public void Head_products_of_nine_token_five_wide_heads_equal_the_triple_loop()
    {
        // S_bh = α·Q_bh·K_bhᵀ and O_bh = P_bh·V_bh by the definition, for 2 sequences × 2 heads
        // (T = 9, w = 5, heads read from column windows), against the op's SIMD kernel.
        const int batch = 2, heads = 2, T = 9, w = 5;
        const double alpha = 0.7;
        var rng = new Rng(12);
        double[] Draw(int n) { var a = new double[n]; rng.FillGaussian(a); return a; }
        double[] q = Draw(batch * T * 10), k = Draw(batch * T * 12), p = Draw(batch * heads * T * T), v = Draw(batch * T * 11);
        var tape = new Tape();
        tape.Begin();
        var scores = tape.AttentionScores(tape.Constant(q, 0, batch * T, 10), 0, tape.Constant(k, 0, batch * T, 12), 2, heads, T, w, alpha).Value.ToArray();
        var mix = tape.AttentionMix(tape.Constant(p, 0, batch * heads * T, T), tape.Constant(v, 0, batch * T, 11), 1, heads, T, w).Value.ToArray();
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < T; i++)
                {
                    for (int j = 0; j < T; j++)
                    {
                        double s = 0;
                        for (int c = 0; c < w; c++) s += q[(b * T + i) * 10 + h * w + c] * k[(b * T + j) * 12 + 2 + h * w + c];
                        scores[((b * heads + h) * T + i) * T + j].Should().BeApproximately(alpha * s, 1e-14);
                    }
                    for (int c = 0; c < w; c++)
                    {
                        double o = 0;
                        for (int j = 0; j < T; j++) o += p[((b * heads + h) * T + i) * T + j] * v[(b * T + j) * 11 + 1 + h * w + c];
                        mix[(b * T + i) * (heads * w) + h * w + c].Should().BeApproximately(o, 1e-13);
                    }
                }
    }

    [Test]
    public void Worked_example_masked_mean_pool_of_1_2_4_with_the_last_token_padded_is_one_and_a_half_with_weights_one_half()
    {
        // docs/autodiff.md §5 "Masked mean pooling": T = 3, d = 1, mask (1, 1, 0), L = ½y², v = 1.
        double[] x = [1, 2, 4];
        double[] m = [1, 1, 0];
        static Tensor Loss(Tape t, Tensor p) => t.Scale(t.Sum(t.Square(t.MaskedMeanPool(t.Reshape(p, 3, 1), t.Constant([1.0, 1, 0], 1, 3)))), 0.5);
        var w = m.Select(mt => mt / m.Sum()).ToArray();
        double y = w.Zip(x, (a, b) => a * b).Sum();
        y.Should().Be(1.5);
        double[] v = [1, 1, 1];
        var r = new Tape().HessianVectorProduct(Loss, x, v);
        r.Loss.Should().Be(0.5 * y * y);
        r.Gradient.Should().Equal(w.Select(wt => wt * y));
        r.Gradient.Should().Equal(0.75, 0.75, 0);
        // H = wwᵀ: H·1 = w(wᵀ1) = w.
        r.Product.Should().Equal(w.Select(wt => wt * w.Zip(v, (a, b) => a * b).Sum()));
        r.Product.Should().Equal(0.5, 0.5, 0);
    }


    [Test]
    public void Worked_example_self_attention_of_a_length_1_sequence_is_x_times_w_v_times_w_o_and_ignores_query_and_key()
    {
        // docs/autodiff.md §5 "Multi-head self-attention": d = H = T = 1, x = 2, θ = (w_q, w_k, w_v, w_o) = (0.5, −1, 3, 2), no biases, L = y.
        // One key: P = softmax of one score = 1, so y = w_o·(w_v·x) whatever w_q and w_k are.
        const double x = 2;
        double[] theta = [0.5, -1, 3, 2];
        static Tensor Loss(Tape t, Tensor p) =>
            t.Sum(t.SelfAttention(t.Constant(x), t.Slice(p, 0, 3, 1), null, t.Slice(p, 3, 1, 1), null, heads: 1, seqLen: 1));
        double[] gradient = [0, 0, theta[3] * x, theta[2] * x];
        gradient.Should().Equal(0, 0, 4, 6);
        var alongWv = new Tape().HessianVectorProduct(Loss, theta, [0.0, 0, 1, 0]);
        alongWv.Loss.Should().Be(theta[3] * theta[2] * x);
        alongWv.Gradient.Should().Equal(gradient, (a, b) => Math.Abs(a - b) < 1e-15);
        alongWv.Product.Should().Equal([0, 0, 0, x], (a, b) => Math.Abs(a - b) < 1e-15, "∂²L/∂w_o∂w_v = x");
        new Tape().HessianVectorProduct(Loss, theta, [1.0, 0, 0, 0]).Product.Should().Equal([0.0, 0, 0, 0], "L does not depend on w_q");
    }


    [Test]
    public void Worked_example_positional_embedding_of_two_sequences_sums_the_adjoints_of_both_blocks_into_P()
    {
        // docs/autodiff.md §5 "Positional embedding": B = 2, T = 2, d = 1, X = (1, 2, 3, 4), P = (10, 20), L = ½ΣY²; θ = P.
        double[] x = [1, 2, 3, 4];
        double[] positions = [10, 20];
        static Tensor Loss(Tape t, Tensor p) => t.Scale(t.Sum(t.Square(t.AddPositional(t.Constant([1.0, 2, 3, 4], 4, 1), t.Reshape(p, 2, 1)))), 0.5);
        var y = x.Select((xi, r) => xi + positions[r % 2]).ToArray();
        y.Should().Equal(11, 22, 13, 24);
        // P̄_t = Σ_b Ȳ_bt = Σ_b Y_bt, and H = Σ_b I = 2I.
        double[] pBar = [y[0] + y[2], y[1] + y[3]];
        pBar.Should().Equal(24, 46);
        double[] v = [1, -2];
        var r = new Tape().HessianVectorProduct(Loss, positions, v);
        r.Loss.Should().Be(0.5 * y.Sum(yi => yi * yi));
        r.Gradient.Should().Equal(pBar);
        r.Product.Should().Equal(v.Select(vi => 2 * vi));
    }
}

using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using Curvature.Spectral;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.AutodiffTestSupport;

namespace Curvature.Tests;

/// <summary>K-FAC factors of dense layers and their eigenpairs (docs/curvature.md §9).</summary>
public class KfacTests
{
    // 4-6-3 with tanh: W1 [6,4] at 0, b1 [6] at 24, W2 [3,6] at 30, b2 [3] at 48.
    static Objective Make(LossKind loss, int n) =>
        new(Mlp.Parse("4-6-3", Activation.Tanh), loss, ObjectiveTests.Classification(n, 4, 3, 21), new ObjectiveOptions { ChunkSize = 4 });

    /// <summary>Row i: the hidden activation tanh(W1 xᵢ + b1) and its derivative, from θ's documented layout.</summary>
    static (double[][] H, double[][] D) Hidden(Objective obj, double[] theta)
    {
        int n = obj.ExampleCount;
        var h = new double[n][]; var d = new double[n][];
        for (int i = 0; i < n; i++)
        {
            h[i] = new double[6]; d[i] = new double[6];
            for (int o = 0; o < 6; o++)
            {
                double s = theta[24 + o];
                for (int k = 0; k < 4; k++) s += theta[o * 4 + k] * obj.Data.X[i, k];
                h[i][o] = Math.Tanh(s);
                d[i][o] = 1 - h[i][o] * h[i][o];
            }
        }
        return (h, d);
    }

    /// <summary>(1/n) Σᵢ [vᵢ; 1][vᵢ; 1]ᵀ.</summary>
    static double[] SecondMoment(double[][] v)
    {
        int m = v[0].Length + 1;
        var a = new double[m * m];
        foreach (var row in v)
        {
            var aug = row.Append(1.0).ToArray();
            for (int r = 0; r < m; r++)
                for (int c = 0; c < m; c++) a[r * m + c] += aug[r] * aug[c] / v.Length;
        }
        return a;
    }

    /// <summary>The loss Hessian Λᵢ in the outputs: diag p − ppᵀ (ce) or I (mse).</summary>
    static double[,] Lambda(Objective obj, double[] theta, int i)
    {
        var z = obj.Model.Predict(theta, obj.Data.X).Row(i).ToArray();
        var lam = new double[3, 3];
        double max = z.Max();
        var p = z.Select(v => Math.Exp(v - max)).ToArray();
        double sum = p.Sum();
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
                lam[a, b] = obj.LossKind == LossKind.CrossEntropy ? (a == b ? p[a] / sum : 0) - p[a] / sum * p[b] / sum : (a == b ? 1 : 0);
        return lam;
    }

    [TestCase(LossKind.CrossEntropy)]
    [TestCase(LossKind.MeanSquaredError)]
    public void Input_factors_are_the_second_moments_of_each_layers_input_with_a_bias_coordinate(LossKind loss)
    {
        var obj = Make(loss, 9);
        var theta = obj.Model.Initialize(3);
        var kfac = obj.KroneckerFactors(theta);
        kfac.Layers.Should().HaveCount(2);
        var x = Enumerable.Range(0, 9).Select(i => obj.Data.X.Row(i).ToArray()).ToArray();
        Checks.RelativeError(kfac.Layers[0].A.Data, SecondMoment(x)).Should().BeLessThan(1e-12);
        Checks.RelativeError(kfac.Layers[1].A.Data, SecondMoment(Hidden(obj, theta).H)).Should().BeLessThan(1e-12);
    }

    [TestCase(LossKind.CrossEntropy)]
    [TestCase(LossKind.MeanSquaredError)]
    public void Output_factors_are_the_mean_loss_Hessian_carried_back_to_each_layers_output(LossKind loss)
    {
        // Last layer: B = (1/n) Σ Λᵢ. Hidden layer: B = (1/n) Σ Dᵢ W2ᵀ Λᵢ W2 Dᵢ, Dᵢ = diag(1 − hᵢ²).
        var obj = Make(loss, 9);
        var theta = obj.Model.Initialize(4);
        var kfac = obj.KroneckerFactors(theta);
        var d = Hidden(obj, theta).D;
        var last = new double[9]; var hidden = new double[36];
        for (int i = 0; i < 9; i++)
        {
            var lam = Lambda(obj, theta, i);
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) last[a * 3 + b] += lam[a, b] / 9;
            for (int r = 0; r < 6; r++)
                for (int c = 0; c < 6; c++)
                {
                    double s = 0;
                    for (int a = 0; a < 3; a++)
                        for (int b = 0; b < 3; b++) s += theta[30 + a * 6 + r] * lam[a, b] * theta[30 + b * 6 + c];
                    hidden[r * 6 + c] += d[i][r] * s * d[i][c] / 9;
                }
        }
        Checks.RelativeError(kfac.Layers[1].B.Data, last).Should().BeLessThan(1e-12);
        Checks.RelativeError(kfac.Layers[0].B.Data, hidden).Should().BeLessThan(1e-12);
    }

    [TestCase(LossKind.CrossEntropy)]
    [TestCase(LossKind.MeanSquaredError)]
    public void For_one_example_B_kron_A_is_the_exact_Gauss_Newton_block_of_each_layer(LossKind loss)
    {
        var obj = Make(loss, 1);
        var theta = obj.Model.Initialize(5);
        var g = obj.DenseMatrix(CurvatureKind.GaussNewton, theta);
        foreach (var layer in obj.KroneckerFactors(theta).Layers)
        {
            var (kron, exact) = KronAndBlock(layer, g);
            Checks.RelativeError(kron, exact).Should().BeLessThan(1e-10, layer.Name);
        }
    }

    /// <summary>B ⊗ A of a layer and the layer's block of the dense <paramref name="g"/>, both in the layer's (o, k) order.</summary>
    static (double[] Kron, double[] Block) KronAndBlock(KfacLayer layer, Matrix g)
    {
        int m = layer.FactorInputs, o = layer.Outputs;
        var kron = new List<double>(); var exact = new List<double>();
        for (int r = 0; r < o; r++)
            for (int c = 0; c < m; c++)
                for (int r2 = 0; r2 < o; r2++)
                    for (int c2 = 0; c2 < m; c2++)
                    {
                        kron.Add(layer.B[r, r2] * layer.A[c, c2]);
                        exact.Add(g[layer.ThetaIndex(r, c), layer.ThetaIndex(r2, c2)]);
                    }
        return (kron.ToArray(), exact.ToArray());
    }

    // 1x5x5-c2k3s2p1-3 with tanh: conv W [2,1,3,3] at 0 (as 2×9), b [2] at 18; output 2×3×3 (T = 9 locations);
    // dense W2 [3,18] at 20, b2 [3] at 74.
    static Objective MakeCnn(LossKind loss, int n) =>
        new(Sequential.Parse("1x5x5-c2k3s2p1-3", Activation.Tanh), loss, PerExampleGradientTests.Images(n, 1, 5, 5, 3, 23), new ObjectiveOptions { ChunkSize = 4 });

    /// <summary>Image i's 9×9 patch matrix U[k, t] (k = (ki, kj), t = (oh, ow)) by index arithmetic: x[2oh − 1 + ki, 2ow − 1 + kj], 0 outside.</summary>
    static double[,] Patches(Objective obj, int i)
    {
        var u = new double[9, 9];
        for (int ki = 0; ki < 3; ki++)
            for (int kj = 0; kj < 3; kj++)
                for (int oh = 0; oh < 3; oh++)
                    for (int ow = 0; ow < 3; ow++)
                    {
                        int row = 2 * oh - 1 + ki, col = 2 * ow - 1 + kj;
                        u[ki * 3 + kj, oh * 3 + ow] = row is >= 0 and < 5 && col is >= 0 and < 5 ? obj.Data.X[i, row * 5 + col] : 0.0;
                    }
        return u;
    }

    [TestCase(LossKind.CrossEntropy)]
    [TestCase(LossKind.MeanSquaredError)]
    public void Convolution_factors_sum_patch_moments_over_locations_and_average_output_gradient_moments_over_them(LossKind loss)
    {
        // A_conv = (1/n) Σᵢ Σ_t ū_t ū_tᵀ, ū_t = [U[:, t]; 1]; with s = W U + b1ᵀ, h = tanh s, D = 1 − h² and z = W2 vec(h) + b2
        // (vec in (o, t) order), the output gradient of column c of Λ's factor at location t is D[·, t] ∘ (W2ᵀ s_c)[(·, t)], so
        // B_conv = (1/(nT)) Σᵢ Σ_t [D_o,t D_o',t (W2ᵀ Λᵢ W2)_(o,t),(o',t)]; the dense layer's A is the second moment of [vec h; 1].
        const int n = 7, T = 9;
        var obj = MakeCnn(loss, n);
        var theta = obj.Model.Initialize(11);
        var kfac = obj.KroneckerFactors(theta);
        kfac.Layers.Should().HaveCount(2);
        var conv = kfac.Layers[0];
        (conv.IsConvolution, conv.Locations, conv.Inputs, conv.Outputs, conv.BiasOffset).Should().Be((true, T, 9, 2, 18));
        (kfac.Layers[1].IsConvolution, kfac.Layers[1].Locations).Should().Be((false, 1));
        var a = new double[100]; var b = new double[4];
        var hidden = new double[n][];
        for (int i = 0; i < n; i++)
        {
            var u = Patches(obj, i);
            var h = new double[18]; var d = new double[18];
            for (int o = 0; o < 2; o++)
                for (int t = 0; t < T; t++)
                {
                    double sum = theta[18 + o];
                    for (int k = 0; k < 9; k++) sum += theta[o * 9 + k] * u[k, t];
                    h[o * T + t] = Math.Tanh(sum);
                    d[o * T + t] = 1 - h[o * T + t] * h[o * T + t];
                }
            hidden[i] = h;
            for (int t = 0; t < T; t++)
                for (int k = 0; k < 10; k++)
                    for (int k2 = 0; k2 < 10; k2++) a[k * 10 + k2] += (k < 9 ? u[k, t] : 1.0) * (k2 < 9 ? u[k2, t] : 1.0) / n;
            var lam = Lambda(obj, theta, i);
            for (int t = 0; t < T; t++)
                for (int o = 0; o < 2; o++)
                    for (int o2 = 0; o2 < 2; o2++)
                    {
                        double m = 0;
                        for (int c = 0; c < 3; c++)
                            for (int c2 = 0; c2 < 3; c2++) m += theta[20 + c * 18 + o * T + t] * lam[c, c2] * theta[20 + c2 * 18 + o2 * T + t];
                        b[o * 2 + o2] += d[o * T + t] * d[o2 * T + t] * m / (n * T);
                    }
        }
        Checks.RelativeError(conv.A.Data, a).Should().BeLessThan(1e-12);
        Checks.RelativeError(conv.B.Data, b).Should().BeLessThan(1e-12);
        Checks.RelativeError(kfac.Layers[1].A.Data, SecondMoment(hidden)).Should().BeLessThan(1e-12);
    }

    [Test]
    public void Kfc_is_exact_for_a_zero_convolution_with_an_orthogonal_readout_under_mse_and_an_approximation_elsewhere()
    {
        // 1x4x4-c2k3-8: conv W [2,9] at 0, b [2] at 18, T = 4 locations, 8 outputs; dense W2 [8,8] at 20, b2 at 84.
        // At W = 0, b = 0: tanh' = 1, and mse's Λ = I with W2ᵀW2 = I make the output gradients of
        // different locations uncorrelated (Σ_c ĝ_t,c ĝ_s,cᵀ = δ_ts I): KFC's assumptions hold exactly,
        // so G's conv block is I ⊗ (1/n) Σᵢ Σ_t ū_t ū_tᵀ = B ⊗ A with B = I.
        var obj = new Objective(Sequential.Parse("1x4x4-c2k3-8", Activation.Tanh), LossKind.MeanSquaredError,
            PerExampleGradientTests.Images(7, 1, 4, 4, 8, 29), new ObjectiveOptions { ChunkSize = 3 });
        var theta = obj.Model.Initialize(13);
        Array.Clear(theta, 0, 20);
        var v = Gaussian(new Rng(17), 8);
        double vv = v.Sum(x => x * x);
        for (int r = 0; r < 8; r++)
            for (int c = 0; c < 8; c++) theta[20 + r * 8 + c] = (r == c ? 1 : 0) - 2 * v[r] * v[c] / vv;   // Householder: orthogonal
        var conv = obj.KroneckerFactors(theta).Layers[0];
        Checks.RelativeError(conv.B.Data, [1, 0, 0, 1]).Should().BeLessThan(1e-12);
        var (kron, block) = KronAndBlock(conv, obj.DenseMatrix(CurvatureKind.GaussNewton, theta));
        Checks.RelativeError(kron, block).Should().BeLessThan(1e-10);

        // Away from that point the locations' gradients correlate and KFC is only an approximation.
        var generic = obj.Model.Initialize(13);
        var (kron2, block2) = KronAndBlock(obj.KroneckerFactors(generic).Layers[0], obj.DenseMatrix(CurvatureKind.GaussNewton, generic));
        Checks.RelativeError(kron2, block2).Should().BeGreaterThan(1e-3);
    }

    [Test]
    public void Kfac_eigenpairs_of_a_cnn_are_orthonormal_and_are_the_top_eigenpairs_of_the_dense_block_diagonal_B_kron_A()
    {
        // 1x6x6-c2-m2-4-3 (conv, max pooling, two dense layers), 11 examples: the block-diagonal
        // Σ_l B_l ⊗ A_l is assembled densely in θ and decomposed independently (MathNet).
        var obj = PerExampleGradientTests.Problem("cnn-max", LossKind.CrossEntropy);
        var theta = obj.Model.Initialize(19);
        var kfac = obj.KroneckerFactors(theta);
        kfac.Layers.Select(l => l.IsConvolution).Should().Equal(true, false, false);
        int p = obj.ParameterCount;
        var dense = new Matrix(p, p);
        foreach (var layer in kfac.Layers)
            for (int r = 0; r < layer.Outputs; r++)
                for (int c = 0; c < layer.FactorInputs; c++)
                    for (int r2 = 0; r2 < layer.Outputs; r2++)
                        for (int c2 = 0; c2 < layer.FactorInputs; c2++)
                            dense[layer.ThetaIndex(r, c), layer.ThetaIndex(r2, c2)] = layer.B[r, r2] * layer.A[c, c2];
        var evd = ToMathNet(dense).Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric);
        var expected = evd.EigenValues.Select(e => e.Real).OrderByDescending(e => e).Take(6).ToArray();
        const int k = 6;
        var (values, vectors) = kfac.TopEigenpairs(k);
        Checks.RelativeError(values, expected).Should().BeLessThan(1e-10);
        var product = new double[p];
        for (int j = 0; j < k; j++)
        {
            var vj = vectors.AsSpan(j * p, p);
            for (int a = 0; a < p; a++) { double s = 0; for (int b = 0; b < p; b++) s += dense[a, b] * vj[b]; product[a] = s - values[j] * vj[a]; }
            Math.Sqrt(product.Sum(x => x * x)).Should().BeLessThan(1e-10 * values[0], $"residual of pair {j}");
            for (int l = 0; l < k; l++)
                Blas.Dot(vj, vectors.AsSpan(l * p, p)).Should().BeApproximately(j == l ? 1.0 : 0.0, 1e-12, $"v{j}·v{l}");
        }
        var exact = Lanczos.TopK(obj.CurvatureOperator(CurvatureKind.GaussNewton, theta), k, new EigenOptions { Seed = 1, Tolerance = 1e-10 });
        TestContext.Out.WriteLine($"K-FAC (conv + dense) top-{k} overlap with G's top-{k} on 1x6x6-c2-m2-4-3, 11 examples: {Kfac.Overlap(vectors, exact.Vectors, k, p):F4}");
    }

    [Test]
    public void Kfac_eigenpairs_of_a_one_example_linear_model_are_the_exact_top_eigenpairs_of_G()
    {
        var obj = new Objective(Mlp.Parse("4-3", Activation.Tanh), LossKind.CrossEntropy, ObjectiveTests.Classification(1, 4, 3, 2));
        var theta = obj.Model.Initialize(6);
        var (values, vectors) = obj.KroneckerFactors(theta).TopEigenpairs(2);
        var exact = Lanczos.TopK(obj.CurvatureOperator(CurvatureKind.GaussNewton, theta), 2, new EigenOptions { Seed = 1, Tolerance = 1e-12 });
        values.Should().BeEquivalentTo(exact.Values, o => o.Using<double>(x => x.Subject.Should().BeApproximately(x.Expectation, 1e-9 * values[0])).WhenTypeIs<double>());
        Kfac.Overlap(vectors, exact.Vectors, 2, obj.ParameterCount).Should().BeApproximately(1.0, 1e-8);
    }

    [Test]
    public void Overlap_with_the_exact_top_k_of_G_is_reported_between_zero_and_one()
    {
        var obj = Make(LossKind.CrossEntropy, 11);
        var theta = obj.Model.Initialize(7);
        var (_, vectors) = obj.KroneckerFactors(theta).TopEigenpairs(3);
        int p = obj.ParameterCount;
        // The K-FAC vectors are orthonormal, so the overlap is a proper subspace measure.
        Kfac.Overlap(vectors, vectors, 3, p).Should().BeApproximately(1.0, 1e-12);
        var exact = Lanczos.TopK(obj.CurvatureOperator(CurvatureKind.GaussNewton, theta), 3, new EigenOptions { Seed = 1, Tolerance = 1e-10 });
        double overlap = Kfac.Overlap(vectors, exact.Vectors, 3, p);
        TestContext.Out.WriteLine($"K-FAC top-3 overlap with G's top-3 on 4-6-3, 11 examples: {overlap:F4}");
        overlap.Should().BeInRange(0.0, 1.0 + 1e-12);
    }

    [Test]
    public void Overlap_is_one_for_a_rotated_basis_of_the_same_span_and_zero_for_an_orthogonal_one()
    {
        // e0, e1 against (e0 + e1)/√2, (e0 − e1)/√2: same span; against e2, e3: orthogonal.
        double h = Math.Sqrt(0.5);
        double[] a = [1, 0, 0, 0, 0, 1, 0, 0];
        double[] rotated = [h, h, 0, 0, h, -h, 0, 0];
        double[] orthogonal = [0, 0, 1, 0, 0, 0, 0, 1];
        double[] half = [1, 0, 0, 0, 0, 0, 1, 0];
        Kfac.Overlap(a, rotated, 2, 4).Should().BeApproximately(1.0, 1e-15);
        Kfac.Overlap(a, orthogonal, 2, 4).Should().Be(0.0);
        Kfac.Overlap(a, half, 2, 4).Should().BeApproximately(0.5, 1e-15);
    }


    [Test]
    public void Worked_example_line_through_two_points_has_A_the_mean_of_x1_x1_transpose_and_B_one_so_B_kron_A_is_G()
    {
        // docs/curvature.md §9: āᵢ = (xᵢ, 1), A = ½Σ āᵢāᵢᵀ; one output with Λ = 1 gives ĝ = 1 and B = 1.
        var (obj, theta, j, _) = PerExampleGradientTests.TwoPointLine();
        var a = new double[9];
        for (int p = 0; p < 3; p++)
            for (int q = 0; q < 3; q++) a[p * 3 + q] = 0.5 * (j[0][p] * j[0][q] + j[1][p] * j[1][q]);
        a.Should().Equal(0.5, 0, 0.5, 0, 2, 1, 0.5, 1, 1);
        var layer = obj.KroneckerFactors(theta).Layers.Should().ContainSingle().Subject;
        layer.A.Data.Should().Equal(a, (x, y) => Math.Abs(x - y) < 1e-14);
        layer.B.Data.Should().Equal([1.0], (x, y) => Math.Abs(x - y) < 1e-14);
        obj.DenseMatrix(CurvatureKind.GaussNewton, theta).Data.Should().Equal(a, (x, y) => Math.Abs(x - y) < 1e-13, "B ⊗ A = G here");
    }
}

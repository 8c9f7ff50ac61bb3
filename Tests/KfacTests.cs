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
            Checks.RelativeError(kron.ToArray(), exact.ToArray()).Should().BeLessThan(1e-10, layer.Name);
        }
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

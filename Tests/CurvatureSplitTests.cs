using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.AutodiffTestSupport;

namespace Curvature.Tests;

/// <summary>The split H = G + F of the loss Hessian (docs/curvature.md).</summary>
public class CurvatureSplitTests
{
    static Objective Make(string arch, Activation act, LossKind loss, Dataset data) =>
        new(Mlp.Parse(arch, act), loss, data, new ObjectiveOptions { ChunkSize = 4, MaxBlock = 8 });

    static double FrobeniusNorm(Matrix m) => Math.Sqrt(m.Data.Sum(v => v * v));

    [TestCase("3-4-3", Activation.Tanh, LossKind.CrossEntropy)]
    [TestCase("3-4-3", Activation.Gelu, LossKind.MeanSquaredError)]
    [TestCase("2-3-3-2", Activation.Softplus, LossKind.CrossEntropy)]
    public void Hessian_equals_Gauss_Newton_plus_functional_Hessian(string arch, Activation act, LossKind loss)
    {
        var obj = Make(arch, act, loss, ObjectiveTests.Classification(9, int.Parse(arch.Split('-')[0]), int.Parse(arch.Split('-')[^1]), 1));
        var theta = obj.Model.Initialize(2);
        var h = obj.DenseMatrix(CurvatureKind.Hessian, theta);
        var g = obj.DenseMatrix(CurvatureKind.GaussNewton, theta);
        var f = obj.DenseMatrix(CurvatureKind.FunctionalHessian, theta);
        var sum = g.Data.Zip(f.Data, (a, b) => a + b).ToArray();
        Checks.RelativeError(sum, h.Data).Should().BeLessThan(1e-10);
        FrobeniusNorm(f).Should().BeGreaterThan(1e-3 * FrobeniusNorm(h), "the network's own curvature is not negligible here");
    }

    /// <summary>Column j of the curvature matrix of f at θ by the tape's sweep in the given mode.</summary>
    static double[,] DenseOnTape(TapeFunction f, double[] theta, CurvatureKind mode)
    {
        int n = theta.Length;
        var m = new double[n, n];
        for (int j = 0; j < n; j++)
        {
            var e = new double[n];
            e[j] = 1;
            var column = new Tape().HessianVectorProduct(f, theta, e, mode).Product;
            for (int i = 0; i < n; i++) m[i, j] = column[i];
        }
        return m;
    }

    [Test]
    public void Worked_example_z_equals_theta1_theta2_splits_H_into_the_hand_computed_G_and_F()
    {
        // docs/curvature.md §1: z = θ₁θ₂, ℓ = ½(z − 1)², θ = (2, 1): r = 1, J = (1, 2),
        // G = JᵀJ = [[1, 2], [2, 4]], F = r·∇²z = [[0, 1], [1, 0]], H = [[1, 3], [3, 4]].
        static Tensor F(Tape t, Tensor theta)
        {
            var z = t.Slice(theta, 0, 1, 1) * t.Slice(theta, 1, 1, 1);
            t.MarkNetworkOutput(z);
            return t.MeanSquaredError(z, t.Constant(1.0));
        }
        double[] theta = [2, 1];
        double[,] h = DenseOnTape(F, theta, CurvatureKind.Hessian);
        double[,] g = DenseOnTape(F, theta, CurvatureKind.GaussNewton);
        double[,] f = DenseOnTape(F, theta, CurvatureKind.FunctionalHessian);
        h.Should().BeEquivalentTo(new double[,] { { 1, 3 }, { 3, 4 } });
        g.Should().BeEquivalentTo(new double[,] { { 1, 2 }, { 2, 4 } });
        f.Should().BeEquivalentTo(new double[,] { { 0, 1 }, { 1, 0 } });
        var eigenvalues = Checks.Eigenvalues(Matrix.FromRows(h));
        eigenvalues[0].Should().BeApproximately((5 - Math.Sqrt(45)) / 2, 1e-14, "H is indefinite: −0.854");
        eigenvalues[1].Should().BeApproximately((5 + Math.Sqrt(45)) / 2, 1e-14);
        Checks.Eigenvalues(Matrix.FromRows(g)).Should().Equal([0.0, 5.0], (a, b) => Math.Abs(a - b) < 1e-14);
    }

    [TestCase(LossKind.CrossEntropy)]
    [TestCase(LossKind.MeanSquaredError)]
    public void Gauss_Newton_matrix_is_positive_semidefinite(LossKind loss)
    {
        var obj = Make("3-5-3", Activation.Tanh, loss, ObjectiveTests.Classification(10, 3, 3, 3));
        var theta = obj.Model.Initialize(4);
        var g = obj.DenseMatrix(CurvatureKind.GaussNewton, theta);
        var evd = ToMathNet(g).Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric);
        double norm = FrobeniusNorm(g);
        evd.EigenValues.Select(e => e.Real).Min().Should().BeGreaterThanOrEqualTo(-1e-12 * norm);
        // The Hessian of the same point is indefinite, so the check can fail.
        var h = ToMathNet(obj.DenseMatrix(CurvatureKind.Hessian, theta)).Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric);
        h.EigenValues.Select(e => e.Real).Min().Should().BeLessThan(-1e-6 * norm);
    }

    [TestCase(LossKind.CrossEntropy)]
    [TestCase(LossKind.MeanSquaredError)]
    public void Gauss_Newton_matrix_equals_J_transpose_Lambda_J_from_finite_difference_Jacobians(LossKind loss)
    {
        // An independent route: the Jacobian of the outputs by central differences, and the
        // closed-form loss Hessian Λ (diag p − ppᵀ for ce, I for mse), each over N.
        var data = ObjectiveTests.Classification(6, 3, 3, 5);
        var obj = Make("3-4-3", Activation.Tanh, loss, data);
        var theta = obj.Model.Initialize(6);
        int n = obj.ParameterCount, rows = data.Count, c = data.Classes;
        var jac = new double[rows * c, n];
        var e = new double[n];
        for (int j = 0; j < n; j++)
        {
            e[j] = 1;
            var col = Checks.Directional(x => obj.Model.Predict(x, data.X).Data, theta, e, 1e-3);
            e[j] = 0;
            for (int i = 0; i < rows * c; i++) jac[i, j] = col[i];
        }
        var z = obj.Model.Predict(theta, data.X);
        var lambda = new double[rows * c, rows * c];
        for (int r = 0; r < rows; r++)
        {
            var p = new double[c];
            double s = 0;
            for (int k = 0; k < c; k++) s += p[k] = Math.Exp(z[r, k]);
            for (int a = 0; a < c; a++)
                for (int b = 0; b < c; b++)
                    lambda[r * c + a, r * c + b] = (loss == LossKind.CrossEntropy
                        ? (a == b ? p[a] / s : 0) - p[a] / s * (p[b] / s)
                        : (a == b ? 1 : 0)) / rows;
        }
        var J = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.DenseOfArray(jac);
        var L = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.DenseOfArray(lambda);
        var expected = J.Transpose() * L * J;
        var g = obj.DenseMatrix(CurvatureKind.GaussNewton, theta);
        Checks.RelativeError(g.Data, expected.ToRowMajorArray()).Should().BeLessThan(1e-8);
    }

    [TestCase(LossKind.MeanSquaredError)]
    [TestCase(LossKind.CrossEntropy)]
    public void Functional_Hessian_vanishes_for_a_network_without_hidden_layers(LossKind loss)
    {
        // z = Wx + b is linear in θ, so every ∇²z_c = 0.
        var obj = Make("5-3", Activation.Tanh, loss, ObjectiveTests.Classification(8, 5, 3, 7));
        var theta = obj.Model.Initialize(8);
        var f = obj.DenseMatrix(CurvatureKind.FunctionalHessian, theta);
        var h = obj.DenseMatrix(CurvatureKind.Hessian, theta);
        FrobeniusNorm(f).Should().BeLessThanOrEqualTo(1e-14 * FrobeniusNorm(h));
        FrobeniusNorm(h).Should().BeGreaterThan(0);
    }

    [Test]
    public void Functional_Hessian_vanishes_at_a_zero_residual_point_under_mse()
    {
        // With targets equal to the network's outputs, ∂ℓ/∂z = z − t = 0 for every example.
        var rng = new Rng(9);
        var x = new Matrix(7, 3);
        rng.FillGaussian(x.Data);
        var mlp = Mlp.Parse("3-4-2", Activation.Tanh);
        var theta = mlp.Initialize(10);
        var targets = mlp.Predict(theta, x);
        var obj = new Objective(mlp, LossKind.MeanSquaredError, new Dataset(x, null, targets, 2, "zero-residual"),
            new ObjectiveOptions { ChunkSize = 3 });
        var f = obj.DenseMatrix(CurvatureKind.FunctionalHessian, theta);
        var h = obj.DenseMatrix(CurvatureKind.Hessian, theta);
        FrobeniusNorm(f).Should().BeLessThanOrEqualTo(1e-12 * FrobeniusNorm(h));
        // Away from that point F is not zero: the check can fail.
        var moved = theta.Select(v => v + 0.3).ToArray();
        FrobeniusNorm(obj.DenseMatrix(CurvatureKind.FunctionalHessian, moved)).Should().BeGreaterThan(1e-4);
    }
}

using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>
/// torch-mse is PyTorch's nn.MSELoss(): the mean over examples and the C outputs of (z − t)²,
/// no ½. It equals (2/C)·mse, so its loss, gradient and every curvature product are (2/C)× mse's.
/// </summary>
public class TorchMseTests
{
    const string Arch = "4-6-3";

    static (Mlp Model, Dataset Data, double[] Theta, double[] V) Problem()
    {
        var model = Mlp.Parse(Arch, "tanh");
        var data = DataSpec.Parse("gmm:40:4:3:1");
        var theta = model.Initialize(5);
        var v = new double[model.ParameterCount];
        new Rng(9).FillGaussian(v);
        return (model, data, theta, v);
    }

    [Test]
    public void Torch_mse_is_the_mean_over_examples_and_outputs_of_the_squared_error_without_a_half()
    {
        var (model, data, theta, _) = Problem();
        var z = model.Predict(theta, data.X);
        double sum = 0;
        for (int r = 0; r < data.Count; r++)
            for (int c = 0; c < 3; c++)
            {
                double d = z[r, c] - (c == data.Labels![r] ? 1 : 0);
                sum += d * d;
            }
        double expected = sum / (data.Count * 3);
        new Objective(model, LossKind.TorchMeanSquaredError, data).Loss(theta).Should().BeApproximately(expected, 1e-14);
    }

    [Test]
    public void Torch_mse_loss_gradient_and_every_curvature_product_are_two_over_C_times_mse()
    {
        var (model, data, theta, v) = Problem();
        var mse = new Objective(model, LossKind.MeanSquaredError, data);
        var torch = new Objective(model, LossKind.TorchMeanSquaredError, data);
        double ratio = 2.0 / 3;
        int n = model.ParameterCount;
        var g1 = new double[n];
        var g2 = new double[n];
        double l1 = mse.LossAndGradient(theta, g1);
        double l2 = torch.LossAndGradient(theta, g2);
        l2.Should().BeApproximately(ratio * l1, 1e-12 * Math.Abs(l1));
        for (int i = 0; i < n; i++) g2[i].Should().BeApproximately(ratio * g1[i], 1e-12);
        foreach (var kind in new[] { CurvatureKind.Hessian, CurvatureKind.GaussNewton, CurvatureKind.FunctionalHessian })
        {
            var p1 = new double[n];
            var p2 = new double[n];
            mse.CurvatureProduct(kind, theta, v, p1, default);
            torch.CurvatureProduct(kind, theta, v, p2, default);
            for (int i = 0; i < n; i++) p2[i].Should().BeApproximately(ratio * p1[i], 1e-12, $"{kind}[{i}]");
        }
    }

    [Test]
    public void Torch_mse_gradient_and_Hessian_product_match_central_finite_differences()
    {
        var (model, data, theta, v) = Problem();
        var torch = new Objective(model, LossKind.TorchMeanSquaredError, data);
        int n = model.ParameterCount;
        var g = new double[n];
        torch.LossAndGradient(theta, g);
        const double h = 1e-5;
        // Directional derivative of the loss along v against gᵀv.
        var plus = (double[])theta.Clone();
        var minus = (double[])theta.Clone();
        for (int i = 0; i < n; i++) { plus[i] += h * v[i]; minus[i] -= h * v[i]; }
        double fd = (torch.Loss(plus) - torch.Loss(minus)) / (2 * h);
        double gv = 0;
        for (int i = 0; i < n; i++) gv += g[i] * v[i];
        fd.Should().BeApproximately(gv, 1e-7 * Math.Max(1, Math.Abs(gv)));
        // H·v against the central difference of the gradient along v.
        var hv = new double[n];
        torch.HessianVectorProduct(theta, v, hv);
        var gp = new double[n];
        var gm = new double[n];
        torch.LossAndGradient(plus, gp);
        torch.LossAndGradient(minus, gm);
        for (int i = 0; i < n; i++) ((gp[i] - gm[i]) / (2 * h)).Should().BeApproximately(hv[i], 1e-6, $"H·v[{i}]");
    }

    [Test]
    public void Torch_mse_is_spelled_torch_mse_in_any_case()
    {
        LossNames.Parse("Torch-MSE").Should().Be(LossKind.TorchMeanSquaredError);
        LossKind.TorchMeanSquaredError.Name().Should().Be("torch-mse");
    }
}

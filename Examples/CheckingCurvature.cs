using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;

namespace Curvature.Examples;

/// <summary>README example 4: a newcomer's three checks with the public <see cref="Checks"/> API.</summary>
public static class CheckingCurvature
{
    /// <summary>H·v against the difference of gradients, G's smallest eigenvalue, H's smallest, and ‖H − (G + F)‖/‖H‖.</summary>
    public static (double HvError, double MinEigenvalueOfG, double MinEigenvalueOfH, double SplitError) Run()
    {
        var model = Mlp.Parse("4-6-3", Activation.Tanh);
        var objective = new Objective(model, LossKind.CrossEntropy, DataSpec.Parse("gmm:60:4:3:1"));
        double[] theta = model.Initialize(seed: 0);
        double[] v = new double[theta.Length];
        new Rng(1).FillGaussian(v);

        // 1. H·v (one forward-over-reverse sweep) equals the central difference of gradients along v.
        double[] hv = new double[theta.Length];
        objective.CurvatureOperator(CurvatureKind.Hessian, theta).Apply(v, hv);
        double hvError = Checks.RelativeError(hv, Checks.HessianVectorProduct(objective, theta, v));

        // 2. G = Jᵀ(∇²ℓ)J is positive semi-definite; H = G + F need not be.
        Matrix h = Checks.Dense(objective.CurvatureOperator(CurvatureKind.Hessian, theta));
        Matrix g = Checks.Dense(objective.CurvatureOperator(CurvatureKind.GaussNewton, theta));
        Matrix f = Checks.Dense(objective.CurvatureOperator(CurvatureKind.FunctionalHessian, theta));
        double minG = Checks.Eigenvalues(g)[0], minH = Checks.Eigenvalues(h)[0];

        // 3. H = G + F entry by entry.
        double[] sum = g.Data.Zip(f.Data, (a, b) => a + b).ToArray();
        return (hvError, minG, minH, Checks.RelativeError(sum, h.Data));
    }
}

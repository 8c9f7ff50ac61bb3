using Curvature.Autodiff;
using Curvature.Models;
using Curvature.Spectral;

namespace Curvature.Examples;

/// <summary>README example 1: the top-k eigenpairs of the Hessian at the seeded initialization.</summary>
public static class TopKOfHessian
{
    /// <summary>Top-10 of H for a 196-32-10 tanh MLP on 1000 MNIST digits (14×14).</summary>
    public static EigenResult Run()
    {
        var model = Mlp.Parse("196-32-10", Activation.Tanh);
        var objective = new Objective(model, LossKind.CrossEntropy, DataSpec.Parse("mnist14:1000"));
        double[] theta = model.Initialize(seed: 0);
        var hessian = objective.CurvatureOperator(CurvatureKind.Hessian, theta);
        EigenResult top = Lanczos.TopK(hessian, k: 10, new LanczosOptions { Tolerance = 1e-6 });
        // top.Values, top.Vectors (k×n rows), top.Residuals, top.Converged, top.Matvecs
        return top;
    }
}

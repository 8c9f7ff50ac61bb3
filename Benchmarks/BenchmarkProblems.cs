using Curvature.Core;
using Curvature.Models;

namespace Curvature.Benchmarks;

/// <summary>The problems several suites time, built once here so their figures stay comparable.</summary>
static class BenchmarkProblems
{
    /// <summary>
    /// The 784-200-200-10 tanh network with cross-entropy on <paramref name="batch"/> seeded
    /// random examples (inputs uniform on [0, 1], labels uniform): the shape PyTorch is compared
    /// on. The returned generator continues the same seed-0 stream after the data.
    /// </summary>
    public static (Mlp Mlp, Matrix X, int[] Labels, Objective Objective, Rng Rng) RandomMlp(int batch)
    {
        var mlp = Mlp.Parse("784-200-200-10", Activation.Tanh);
        var rng = new Rng(0);
        var x = new Matrix(batch, mlp.InputWidth);
        rng.FillUniform(x.Data, 0, 1);
        var labels = new int[batch];
        for (int i = 0; i < batch; i++) labels[i] = rng.NextInt(mlp.OutputWidth);
        var objective = new Objective(mlp, LossKind.CrossEntropy, new Dataset(x, labels, null, mlp.OutputWidth, $"random:{batch}"));
        return (mlp, x, labels, objective, rng);
    }
}

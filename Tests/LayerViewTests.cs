using Curvature.Experiments;
using Curvature.Models;
using FluentAssertions;
using MathNet.Numerics.LinearAlgebra;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>The per-layer view against the dense finite-difference Hessian of a 4-8-3 network.</summary>
[TestFixture]
public sealed class LayerViewTests
{
    [Test]
    public void Layer_shares_and_block_top_eigenvalues_match_the_dense_finite_difference_hessian()
    {
        var model = Mlp.Parse("4-8-3", "tanh");
        var objective = new Objective(model, LossKind.MeanSquaredError, DataSpec.Parse("gmm:90:4:3:1"));
        var theta = model.Initialize(3);
        var h = FiniteDifferenceCurvature.Build(objective, theta).H;
        int n = theta.Length, k = 3;
        var evd = h.Evd(Symmetricity.Symmetric);
        // MathNet sorts ascending: the top k are the last k columns.
        var u = new double[k * n];
        for (int i = 0; i < k; i++)
            for (int j = 0; j < n; j++) u[i * n + j] = evd.EigenVectors[j, n - 1 - i];

        var rows = LayerView.Measure(objective, model.Blocks, 0, theta, null, u, k, seed: 1, tolerance: 1e-10);

        var layers = LayerView.Layers(model.Blocks);
        rows.Select(r => r.Layer).Should().Equal(layers.Select(l => l.Name));
        rows.Sum(r => r.EigenvectorShare).Should().BeApproximately(1, 1e-12, "unit eigenvectors split over all parameters");
        for (int l = 0; l < layers.Count; l++)
        {
            var idx = layers[l].Indices;
            double share = 0;
            for (int i = 0; i < k; i++) foreach (int j in idx) share += u[i * n + j] * u[i * n + j];
            rows[l].EigenvectorShare.Should().BeApproximately(share / k, 1e-12);
            var block = Matrix<double>.Build.Dense(idx.Length, idx.Length, (a, b) => h[idx[a], idx[b]]);
            double top = block.Evd(Symmetricity.Symmetric).EigenValues.Max(z => z.Real);
            rows[l].BlockLambda1.Should().BeApproximately(top, 1e-6, $"layer {layers[l].Name} is the diagonal block H_ll");
        }
    }
}

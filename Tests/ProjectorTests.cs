using Curvature.Core;
using Curvature.Optimizers;
using FluentAssertions;
using MathNet.Numerics.LinearAlgebra;
using NUnit.Framework;

namespace Curvature.Tests;

public class ProjectorTests
{
    const int N = 40, K = 6;

    static (SubspaceProjector p, Matrix<double> u) RandomProjector(ulong seed, int n = N, int k = K)
    {
        var rng = new Rng(seed);
        var g = Matrix<double>.Build.Dense(n, k, (_, _) => rng.NextGaussian());
        var q = g.QR().Q.SubMatrix(0, n, 0, k);      // n×k, orthonormal columns
        var u = q.Transpose();                       // k×n, orthonormal rows
        var rows = new double[k * n];
        for (int j = 0; j < k; j++) for (int i = 0; i < n; i++) rows[j * n + i] = u[j, i];
        return (new SubspaceProjector(rows, k, n), u);
    }

    static double[] RandomVector(ulong seed, int n = N)
    {
        var x = new double[n];
        new Rng(seed).FillGaussian(x);
        return x;
    }

    static Vector<double> V(double[] x) => Vector<double>.Build.DenseOfArray(x);

    [Test]
    public void Dominant_projection_equals_U_transpose_U_times_g_as_a_dense_matrix()
    {
        var (p, u) = RandomProjector(1);
        var g = RandomVector(2);
        var dom = new double[N];
        p.ProjectDominant(g, dom);
        var expected = u.Transpose() * u * V(g);
        (V(dom) - expected).L2Norm().Should().BeLessThan(1e-13 * expected.L2Norm());
    }

    [Test]
    public void Dominant_projection_is_idempotent()
    {
        var (p, _) = RandomProjector(3);
        var g = RandomVector(4);
        var once = new double[N];
        var twice = new double[N];
        p.ProjectDominant(g, once);
        p.ProjectDominant(once, twice);
        (V(twice) - V(once)).L2Norm().Should().BeLessThan(1e-13 * V(once).L2Norm());
        var bulkOnce = new double[N];
        var bulkTwice = new double[N];
        p.ProjectBulk(g, bulkOnce);
        p.ProjectBulk(bulkOnce, bulkTwice);
        (V(bulkTwice) - V(bulkOnce)).L2Norm().Should().BeLessThan(1e-13 * V(bulkOnce).L2Norm());
    }

    [Test]
    public void Dominant_and_bulk_projections_are_complementary()
    {
        var (p, _) = RandomProjector(5);
        var g = RandomVector(6);
        var dom = new double[N];
        var bulk = new double[N];
        p.Split(g, dom, bulk);
        (V(dom) + V(bulk) - V(g)).L2Norm().Should().BeLessThan(1e-14 * V(g).L2Norm());
        var bulkOfDom = new double[N];
        p.ProjectBulk(dom, bulkOfDom);
        V(bulkOfDom).L2Norm().Should().BeLessThan(1e-13 * V(dom).L2Norm(), "P_bulk P_dom = 0");
    }

    [Test]
    public void Dominant_and_bulk_parts_of_different_vectors_are_orthogonal()
    {
        var (p, _) = RandomProjector(7);
        var g = RandomVector(8);
        var h = RandomVector(9);
        var dom = new double[N];
        var bulk = new double[N];
        p.ProjectDominant(g, dom);
        p.ProjectBulk(h, bulk);
        Math.Abs(V(dom).DotProduct(V(bulk))).Should().BeLessThan(1e-13 * V(dom).L2Norm() * V(bulk).L2Norm());
    }

    [Test]
    public void Alignment_is_the_cosine_between_g_and_its_dominant_part()
    {
        var (p, u) = RandomProjector(10);
        var g = RandomVector(11);
        double expected = (u * V(g)).L2Norm() / V(g).L2Norm();
        p.Alignment(g).Should().BeApproximately(expected, 1e-14);
        p.DominantNorm(g).Should().BeApproximately((u.Transpose() * u * V(g)).L2Norm(), 1e-13);
    }

    [Test]
    public void Alignment_is_one_inside_the_subspace_and_zero_outside()
    {
        var (p, u) = RandomProjector(12);
        var inside = (u.Transpose() * V(new double[] { 1, -2, 3, 0.5, 0, 1 })).ToArray();
        p.Alignment(inside).Should().BeApproximately(1.0, 1e-14);
        var bulk = new double[N];
        p.ProjectBulk(RandomVector(13), bulk);
        p.Alignment(bulk).Should().BeLessThan(1e-13);
        p.Alignment(new double[N]).Should().Be(0.0);
    }

    [Test]
    public void Projecting_allocates_nothing_that_grows_with_the_dimension()
    {
        // Core's GEMV shape check formats a short message eagerly, a few dozen bytes per call
        // whatever the size; what must not happen is a vector-sized buffer per call.
        static long BytesPerCall(int n)
        {
            var (p, _) = RandomProjector(14, n, K);
            var g = RandomVector(15, n);
            var dom = new double[n];
            var bulk = new double[n];
            p.Split(g, dom, bulk);
            p.Alignment(g);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 100; i++)
            {
                p.ProjectDominant(g, dom);
                p.ProjectBulk(g, bulk);
                p.Split(g, dom, bulk);
                p.Alignment(g);
            }
            return (GC.GetAllocatedBytesForCurrentThread() - before) / 100;
        }
        const int n = 40_000;
        BytesPerCall(n).Should().BeLessThan(8 * n / 100, "an iteration over 40,000-long vectors allocates under 1% of one such vector");
    }

    [Test]
    public void An_empty_basis_projects_everything_onto_the_bulk()
    {
        var p = new SubspaceProjector(N);
        var g = RandomVector(16);
        var bulk = new double[N];
        p.ProjectBulk(g, bulk);
        bulk.Should().Equal(g);
        p.Alignment(g).Should().Be(0.0);
    }

    [Test]
    public void A_vector_of_the_wrong_length_is_rejected_with_both_lengths_named()
    {
        var (p, _) = RandomProjector(17);
        var act = () => p.ProjectDominant(new double[N + 1], new double[N]);
        act.Should().Throw<ArgumentException>().WithMessage($"*'g'*{N + 1}*{N}*");
    }

    [Test]
    public void A_basis_whose_length_is_not_k_times_n_is_rejected()
    {
        var act = () => new SubspaceProjector(new double[10], 3, 4);
        act.Should().Throw<ArgumentException>().WithMessage("*'basis'*10*3x4*");
    }
}

using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.AutodiffTestSupport;

namespace Curvature.Tests;

/// <summary>
/// A backward sweep that hands intermediate adjoints back to the tape as soon as their rules
/// have run (<c>keepIntermediateAdjoints: false</c>, what the Objective's sweeps use) gives
/// the bits of a sweep that keeps one adjoint per node, and allocates nothing once warm.
/// </summary>
public class AdjointRecyclingTests
{
    static readonly (string Arch, Dataset Data)[] Networks =
    [
        ("tok7x4-e4-t2f6x2-2", TransformerModelTests.TinyData()),
        ("1x6x6-c2k3-m2-3", Images()),
        ("5-7-4-3", Images(flat: true)),
    ];

    static Dataset Images(bool flat = false)
    {
        var rng = new Rng(5);
        int width = flat ? 5 : 36;
        var x = new Matrix(4, width, Uniform(rng, 4 * width, -1, 1));
        return new Dataset(x, [0, 2, 1, 2], null, 3, "random");
    }

    /// <summary>Records loss(θ) over the data with m tangents and sweeps back; returns ∇L and the m products, concatenated.</summary>
    static double[] Sweep(Tape tape, INetwork net, Dataset data, double[] theta, double[] directions, int m, CurvatureKind mode, bool keep)
    {
        int n = theta.Length;
        tape.Begin(m);
        var p = tape.Parameter(theta, 0, n, directions, 0, n);
        var z = net.Forward(tape, p, tape.Constant(data.X));
        tape.MarkNetworkOutput(z);
        var loss = tape.SoftmaxCrossEntropy(z, data.Labels!);
        tape.Backward(loss, mode, gradient: true, keepIntermediateAdjoints: keep);
        var result = new double[(m + 1) * n];
        p.Adjoint.CopyTo(result);
        for (int j = 0; j < m; j++) p.AdjointTangent(j).CopyTo(result.AsSpan((j + 1) * n));
        return result;
    }

    [Test]
    public void A_sweep_that_recycles_intermediate_adjoints_gives_the_bits_of_one_that_keeps_them(
        [Values(0, 1, 2)] int network, [Values(CurvatureKind.Hessian, CurvatureKind.GaussNewton, CurvatureKind.FunctionalHessian)] CurvatureKind mode)
    {
        var (arch, data) = Networks[network];
        var net = Architecture.Parse(arch, Activation.Tanh);
        var theta = net.Initialize(3);
        const int m = 3;
        var directions = Gaussian(new Rng(4), m * theta.Length);
        var kept = Sweep(new Tape(), net, data, theta, directions, m, mode, keep: true);
        var tape = new Tape();
        // Twice on one tape: the second sweep runs on buffers the first handed back.
        Sweep(tape, net, data, theta, directions, m, mode, keep: false).Should().Equal(kept);
        Sweep(tape, net, data, theta, directions, m, mode, keep: false).Should().Equal(kept);
        kept.Should().Contain(v => v != 0);
    }

    [Test]
    public void After_a_recycling_sweep_only_theta_keeps_its_adjoints()
    {
        var net = Architecture.Parse("5-7-4-3", Activation.Tanh);
        var data = Images(flat: true);
        var theta = net.Initialize(1);
        var tape = new Tape();
        tape.Begin();
        var p = tape.Parameter(theta);
        var z = net.Forward(tape, p, tape.Constant(data.X));
        var loss = tape.SoftmaxCrossEntropy(z, data.Labels!);
        tape.Backward(loss, keepIntermediateAdjoints: false);
        p.Adjoint.ToArray().Should().Contain(v => v != 0);
        var read = () => z.Adjoint.ToArray();
        read.Should().Throw<InvalidOperationException>().WithMessage("*did not reach it*");
    }

    [Test]
    public void A_warm_recycling_sweep_allocates_nothing()
    {
        var (arch, data) = Networks[0];
        var net = Architecture.Parse(arch, Activation.Tanh);
        var theta = net.Initialize(2);
        const int m = 2;
        var directions = Gaussian(new Rng(6), m * theta.Length);
        var tape = new Tape();
        var x = data.X;
        void Run()
        {
            tape.Begin(m);
            var p = tape.Parameter(theta, 0, theta.Length, directions, 0, theta.Length);
            var loss = tape.SoftmaxCrossEntropy(net.Forward(tape, p, tape.Constant(x)), data.Labels!);
            tape.Backward(loss, keepIntermediateAdjoints: false);
        }
        Run();
        Run();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run();
        Run();
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().Be(0);
    }
}

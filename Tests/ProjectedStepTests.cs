using Curvature.Core;
using Curvature.Optimizers;
using FluentAssertions;
using MathNet.Numerics.LinearAlgebra;
using NUnit.Framework;

namespace Curvature.Tests;

public class ProjectedStepTests
{
    const int N = 30, K = 4;

    static (SubspaceProjector p, Matrix<double> pDom) Projector(ulong seed)
    {
        var rng = new Rng(seed);
        var g = Matrix<double>.Build.Dense(N, K, (_, _) => rng.NextGaussian());
        var u = g.QR().Q.SubMatrix(0, N, 0, K).Transpose();
        var rows = new double[K * N];
        for (int j = 0; j < K; j++) for (int i = 0; i < N; i++) rows[j * N + i] = u[j, i];
        return (new SubspaceProjector(rows, K, N), u.Transpose() * u);
    }

    static double[] Random(ulong seed, double scale = 1)
    {
        var x = new double[N];
        new Rng(seed).FillGaussian(x);
        for (int i = 0; i < N; i++) x[i] *= scale;
        return x;
    }

    static Vector<double> V(double[] x) => Vector<double>.Build.DenseOfArray(x);

    static long[] Bits(ReadOnlySpan<double> x) => x.ToArray().Select(BitConverter.DoubleToInt64Bits).ToArray();

    [Test]
    public void Interp_1_1_step_equals_the_sgd_step_bit_for_bit_with_momentum_and_weight_decay()
    {
        var (p, _) = Projector(1);
        var baseOptions = new StepOptions { LearningRate = 0.37, Momentum = 0.9, WeightDecay = 1e-3 };
        var sgd = new ProjectedSgd(baseOptions with { Kind = OptimizerKind.Sgd }, N);
        var interp = new ProjectedSgd(baseOptions with { Kind = OptimizerKind.Interp, AlphaDom = 1, AlphaBulk = 1 }, N);
        var t1 = Random(2);
        var t2 = (double[])t1.Clone();
        for (int s = 0; s < 5; s++)
        {
            // Gradients spanning many magnitudes, where (g − P g) + P g would not round back to g.
            var g = Random(10 + (ulong)s, Math.Pow(10, 3 * s - 6));
            sgd.Step(t1, g, null, s);
            interp.Step(t2, g, p, s);
        }
        Bits(t2).Should().Equal(Bits(t1));
        Bits(interp.Velocity).Should().Equal(Bits(sgd.Velocity));
    }

    [Test]
    public void Sgd_step_is_theta_minus_eta_times_g()
    {
        var sgd = new ProjectedSgd(new StepOptions { LearningRate = 0.25 }, N);
        var theta = Random(3);
        var g = Random(4);
        var expected = V(theta) - 0.25 * V(g);
        sgd.Step(theta, g, null, 0);
        (V(theta) - expected).L2Norm().Should().BeLessThan(1e-15 * expected.L2Norm());
    }

    [TestCase(1.0, 0.0)]
    [TestCase(0.0, 1.0)]
    [TestCase(0.3, 2.5)]
    [TestCase(-0.5, 1.0)]
    public void Interpolated_step_is_minus_eta_times_alpha_dom_P_dom_g_plus_alpha_bulk_P_bulk_g(double a, double b)
    {
        var (p, pDom) = Projector(5);
        var opt = new ProjectedSgd(new StepOptions { Kind = OptimizerKind.Interp, AlphaDom = a, AlphaBulk = b, LearningRate = 0.1 }, N);
        var theta = Random(6);
        var g = Random(7);
        var pBulk = Matrix<double>.Build.DenseIdentity(N) - pDom;
        var expected = V(theta) - 0.1 * (a * (pDom * V(g)) + b * (pBulk * V(g)));
        opt.Step(theta, g, p, 0);
        (V(theta) - expected).L2Norm().Should().BeLessThan(1e-14 * expected.L2Norm());
    }

    [Test]
    public void Dom_sgd_moves_only_inside_the_subspace_and_bulk_sgd_only_outside_it()
    {
        var (p, pDom) = Projector(8);
        var pBulk = Matrix<double>.Build.DenseIdentity(N) - pDom;
        var dom = new ProjectedSgd(new StepOptions { Kind = OptimizerKind.Dom, LearningRate = 0.5, Momentum = 0.5, WeightDecay = 0.01 }, N);
        var bulk = new ProjectedSgd(new StepOptions { Kind = OptimizerKind.Bulk, LearningRate = 0.5, Momentum = 0.5, WeightDecay = 0.01 }, N);
        var start = Random(9);
        var t1 = (double[])start.Clone();
        var t2 = (double[])start.Clone();
        for (int s = 0; s < 4; s++)
        {
            var g = Random(20 + (ulong)s);
            dom.Step(t1, g, p, s);
            bulk.Step(t2, g, p, s);
        }
        // Weight decay is projected with the gradient, so the start's own bulk/dom part
        // decays geometrically but never enters the other subspace: compare displacements.
        var d1 = V(t1) - V(start);
        var d2 = V(t2) - V(start);
        (pBulk * d1).L2Norm().Should().BeLessThan(1e-12 * d1.L2Norm(), "Dom-SGD's displacement has no bulk part");
        (pDom * d2).L2Norm().Should().BeLessThan(1e-12 * d2.L2Norm(), "Bulk-SGD's displacement has no dominant part");
        d1.L2Norm().Should().BeGreaterThan(0);
        d2.L2Norm().Should().BeGreaterThan(0);
    }

    [Test]
    public void Heavy_ball_momentum_accumulates_v_equals_mu_v_plus_d()
    {
        var opt = new ProjectedSgd(new StepOptions { LearningRate = 0.2, Momentum = 0.9 }, N);
        var theta = Random(30);
        var start = V((double[])theta.Clone());
        var g1 = Random(31);
        var g2 = Random(32);
        opt.Step(theta, g1, null, 0);
        opt.Step(theta, g2, null, 1);
        // θ₂ = θ₀ − η g₁ − η (μ g₁ + g₂)
        var expected = start - 0.2 * V(g1) - 0.2 * (0.9 * V(g1) + V(g2));
        (V(theta) - expected).L2Norm().Should().BeLessThan(1e-14 * expected.L2Norm());
        (V(opt.Velocity.ToArray()) - (0.9 * V(g1) + V(g2))).L2Norm().Should().BeLessThan(1e-14 * V(g1).L2Norm());
    }

    [Test]
    public void Weight_decay_adds_lambda_theta_to_the_gradient_before_projection()
    {
        var (p, pDom) = Projector(33);
        var opt = new ProjectedSgd(new StepOptions { Kind = OptimizerKind.Dom, LearningRate = 0.1, WeightDecay = 0.05 }, N);
        var theta = Random(34);
        var g = Random(35);
        var expected = V(theta) - 0.1 * (pDom * (V(g) + 0.05 * V(theta)));
        opt.Step(theta, g, p, 0);
        (V(theta) - expected).L2Norm().Should().BeLessThan(1e-14 * expected.L2Norm());
    }

    [Test]
    public void Linear_warmup_scales_the_learning_rate_by_step_plus_one_over_W()
    {
        var o = new StepOptions { LearningRate = 0.8, WarmupSteps = 4 };
        new[] { 0L, 1, 2, 3, 4, 100 }.Select(o.LearningRateAt).Should().Equal(0.2, 0.4, 0.6000000000000001, 0.8, 0.8, 0.8);
        new StepOptions { LearningRate = 0.8 }.LearningRateAt(0).Should().Be(0.8);
    }

    [Test]
    public void Chi_switch_projects_from_the_first_step_whose_moving_average_reaches_the_threshold()
    {
        var (p, pDom) = Projector(36);
        const double beta = 0.5, threshold = 0.6;
        var opt = new ProjectedSgd(new StepOptions { Kind = OptimizerKind.Bulk, LearningRate = 0.1, SwitchChi = threshold, ChiEmaDecay = beta }, N);
        // Gradients whose alignment rises: g = cos·(dominant unit) + sin·(bulk unit).
        var dU = pDom * V(Random(37)); dU /= dU.L2Norm();
        var bU = V(Random(38)) - pDom * V(Random(38)); bU /= bU.L2Norm();
        double[] chis = [0.1, 0.5, 0.95, 0.97, 0.99];
        double ema = double.NaN;
        int expectedSwitch = -1;
        var theta = Random(39);
        for (int s = 0; s < chis.Length; s++)
        {
            var g = (chis[s] * dU + Math.Sqrt(1 - chis[s] * chis[s]) * bU).ToArray();
            ema = double.IsNaN(ema) ? chis[s] : beta * ema + (1 - beta) * chis[s];
            if (expectedSwitch < 0 && ema >= threshold) expectedSwitch = s;
            var before = V((double[])theta.Clone());
            var report = opt.Step(theta, g, p, s);
            report.Alignment.Should().BeApproximately(chis[s], 1e-12);
            report.AlignmentEma.Should().BeApproximately(ema, 1e-12);
            var moved = before - V(theta);
            bool projected = (pDom * moved).L2Norm() < 1e-12 * moved.L2Norm();
            projected.Should().Be(expectedSwitch >= 0 && s >= expectedSwitch, $"step {s}: EMA {ema}");
        }
        expectedSwitch.Should().Be(2);
    }

    [Test]
    public void Switch_step_takes_the_sgd_step_bit_for_bit_before_N_and_the_bulk_step_of_the_same_momentum_from_N()
    {
        var (p, pDom) = Projector(40);
        var o = new StepOptions { LearningRate = 0.2, Momentum = 0.5 };
        var sgd = new ProjectedSgd(o, N);
        var switched = new ProjectedSgd(o with { Kind = OptimizerKind.Bulk, SwitchStep = 3 }, N);
        var a = Random(41);
        var b = (double[])a.Clone();
        for (int s = 0; s < 3; s++)
        {
            var g = Random(50 + (ulong)s);
            sgd.Step(a, g, null, s);
            switched.Step(b, g, p, s).Projected.Should().BeFalse($"step {s} is before the switch");
            Bits(b).Should().Equal(Bits(a), $"step {s} is plain SGD");
        }
        // From step 3 on: the heavy-ball buffer carries on, v = μ·v + g, and the step is v − P_dom v.
        var g3 = Random(60);
        var v = 0.5 * V(switched.Velocity.ToArray()) + V(g3);
        var expected = V(b) - 0.2 * (v - pDom * v);
        switched.Step(b, g3, p, 3).Projected.Should().BeTrue();
        (V(b) - expected).L2Norm().Should().BeLessThan(1e-13 * expected.L2Norm());
    }

    [Test]
    public void Update_share_is_the_dense_projection_share_of_the_update_actually_taken()
    {
        var (p, pDom) = Projector(70);
        var g = Random(71);
        double Share(StepOptions o, out Vector<double> d)
        {
            var opt = new ProjectedSgd(o, N);
            var theta = Random(72);
            var before = V((double[])theta.Clone());
            opt.Step(theta, g, p, 0);
            d = before - V(theta);
            return opt.UpdateShare;
        }
        foreach (var o in new[]
        {
            new StepOptions { Kind = OptimizerKind.Sgd, LearningRate = 0.3 },
            new StepOptions { Kind = OptimizerKind.Interp, AlphaDom = 0.5, AlphaBulk = 1.5, LearningRate = 0.3, Momentum = 0.9 },
            new StepOptions { Kind = OptimizerKind.Interp, AlphaDom = 0.2, AlphaBulk = 2, LearningRate = 0.1, Update = UpdateRule.Adam },
        })
        {
            double share = Share(o, out var d);
            share.Should().BeApproximately((pDom * d).L2Norm() / d.L2Norm(), 1e-12, o.ToString());
        }
        Share(new StepOptions { Kind = OptimizerKind.Bulk, LearningRate = 0.3 }, out _).Should().BeLessThan(1e-14, "P_dom(u − P_dom u) = 0");
        Share(new StepOptions { Kind = OptimizerKind.Dom, LearningRate = 0.3 }, out _).Should().BeApproximately(1, 1e-14, "P_dom(P_dom u) = P_dom u");
        var noProjector = new ProjectedSgd(new StepOptions(), N);
        noProjector.Step(Random(73), g, null, 0);
        double.IsNaN(noProjector.UpdateShare).Should().BeTrue("without a basis there is no share");
    }

    [TestCase(OptimizerKind.Sgd, 0)]
    [TestCase(OptimizerKind.Bulk, 3)]
    public void Bulk_sgd_on_a_quadratic_diverges_iff_eta_times_lambda_k_plus_1_exceeds_two_and_sgd_iff_eta_times_lambda_1_does(OptimizerKind kind, int critical)
    {
        // H = diag(λ) with a gap after k = 3; U = span(e₁, e₂, e₃) exactly. The boundary eigenvalue
        // is λ₁ for SGD (index 0) and λ_{k+1} for Bulk-SGD (index 3).
        double[] lambda = [50, 30, 20, 8, 5, 3, 2, 1];
        int n = lambda.Length;
        var rows = new double[3 * n];
        for (int j = 0; j < 3; j++) rows[j * n + j] = 1;
        var p = new SubspaceProjector(rows, 3, n);
        double Final(double eta)
        {
            var opt = new ProjectedSgd(new StepOptions { Kind = kind, LearningRate = eta }, n);
            var theta = Enumerable.Repeat(1.0, n).ToArray();
            var g = new double[n];
            for (int s = 0; s < 2000; s++)
            {
                for (int i = 0; i < n; i++) g[i] = lambda[i] * theta[i];
                opt.Step(theta, g, p, s);
            }
            return Math.Sqrt(theta.Sum(x => x * x));
        }
        double edge = 2 / lambda[critical];
        Final(0.99 * edge).Should().BeLessThan(10, "η·λ = 1.98 < 2: every mode is bounded");
        Final(1.01 * edge).Should().BeGreaterThan(1e6, "η·λ = 2.02 > 2: that mode grows by 1.02 per step");
    }

    [Test]
    public void A_projecting_rule_without_a_projector_is_rejected()
    {
        var opt = new ProjectedSgd(new StepOptions { Kind = OptimizerKind.Dom }, N);
        var act = () => opt.Step(new double[N], new double[N], null, 0);
        act.Should().Throw<ArgumentException>().WithMessage("*'projector'*null*");
    }

    [Test]
    public void Invalid_step_options_are_rejected_naming_the_option_and_value()
    {
        FluentActions.Invoking(() => new StepOptions { LearningRate = -0.1 }.Validate())
            .Should().Throw<ArgumentException>().WithMessage("*'lr'*-0.1*positive*");
        FluentActions.Invoking(() => new StepOptions { Momentum = 1.0 }.Validate())
            .Should().Throw<ArgumentException>().WithMessage("*'momentum'*1*[0, 1)*");
        FluentActions.Invoking(() => new StepOptions { SwitchChi = 1.5 }.Validate())
            .Should().Throw<ArgumentException>().WithMessage("*'switch-chi'*1.5*");
        FluentActions.Invoking(() => new StepOptions { SwitchStep = -1 }.Validate())
            .Should().Throw<ArgumentException>().WithMessage("*'switch-step'*-1*");
        FluentActions.Invoking(() => new StepOptions { SwitchStep = 5, SwitchChi = 0.9 }.Validate())
            .Should().Throw<ArgumentException>().WithMessage("*'switch-step'*5*switch-chi*one switch*");
        FluentActions.Invoking(() => new StepOptions { WeightDecay = -1 }.Validate())
            .Should().Throw<ArgumentException>().WithMessage("*'weight-decay'*-1*");
    }
}

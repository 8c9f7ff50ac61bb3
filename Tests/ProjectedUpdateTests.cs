using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Curvature.Core;
using Curvature.Experiments;
using Curvature.Optimizers;
using FluentAssertions;
using MathNet.Numerics.LinearAlgebra;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>
/// The projection acts on the base rule's final update u (docs/optimizers.md, §2): SGD u = g',
/// heavy-ball u = v, Adam u = m̂/(√ŝ + ε); d = α_dom P_dom u + α_bulk (u − P_dom u).
/// Each rule is checked against an independent loop written here from the formula.
/// </summary>
public class ProjectedUpdateTests
{
    const int N = 24, K = 3;
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-update-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    static (SubspaceProjector P, Matrix<double> PDom) Projector(ulong seed)
    {
        var rng = new Rng(seed);
        var g = Matrix<double>.Build.Dense(N, K, (_, _) => rng.NextGaussian());
        var q = g.QR().Q.SubMatrix(0, N, 0, K).Transpose();
        var rows = new double[K * N];
        for (int j = 0; j < K; j++) for (int i = 0; i < N; i++) rows[j * N + i] = q[j, i];
        return (new SubspaceProjector(rows, K, N), q.Transpose() * q);
    }

    static double[] Random(ulong seed, double scale = 1)
    {
        var x = new double[N];
        new Rng(seed).FillGaussian(x);
        for (int i = 0; i < N; i++) x[i] *= scale;
        return x;
    }

    static Vector<double> V(ReadOnlySpan<double> x) => Vector<double>.Build.DenseOfArray(x.ToArray());

    static long[] Bits(ReadOnlySpan<double> x) => x.ToArray().Select(BitConverter.DoubleToInt64Bits).ToArray();

    /// <summary>Gradients whose scale varies per coordinate and per step, so Adam's normalisation matters.</summary>
    static double[][] Gradients(int steps, ulong seed) =>
        Enumerable.Range(0, steps).Select(s =>
        {
            var g = Random(seed + (ulong)s);
            for (int i = 0; i < N; i++) g[i] *= Math.Pow(10, (i % 5) - 2);
            return g;
        }).ToArray();

    /// <summary>Adam from its textbook formula: m̂ = m/(1 − β1^t), ŝ = s/(1 − β2^t), u = m̂/(√ŝ + ε).</summary>
    sealed class ReferenceAdam(double beta1, double beta2, double eps)
    {
        readonly double[] _m = new double[N], _s = new double[N];
        int _t;

        public double[] Update(double[] g)
        {
            _t++;
            var u = new double[N];
            for (int i = 0; i < N; i++)
            {
                _m[i] = beta1 * _m[i] + (1 - beta1) * g[i];
                _s[i] = beta2 * _s[i] + (1 - beta2) * g[i] * g[i];
                double mHat = _m[i] / (1 - Math.Pow(beta1, _t));
                double sHat = _s[i] / (1 - Math.Pow(beta2, _t));
                u[i] = mHat / (Math.Sqrt(sHat) + eps);
            }
            return u;
        }
    }

    [TestCase(0.9, 0.999, 1e-8, 0.0)]
    [TestCase(0.5, 0.9, 1e-2, 0.05)]
    public void Adam_steps_on_a_quadratic_equal_theta_minus_eta_m_hat_over_root_s_hat_plus_eps(double beta1, double beta2, double eps, double wd)
    {
        // L(θ) = ½ Σ a_i (θ_i − 1)², a_i spanning 10⁻²…10²: ∇L = a ⊙ (θ − 1), evaluated at each iterate.
        var a = Enumerable.Range(0, N).Select(i => Math.Pow(10, 4.0 * i / (N - 1) - 2)).ToArray();
        double[] Grad(double[] th) => Enumerable.Range(0, N).Select(i => a[i] * (th[i] - 1)).ToArray();
        const double lr = 0.01;
        var opt = new ProjectedSgd(new StepOptions { Update = UpdateRule.Adam, Beta1 = beta1, Beta2 = beta2, AdamEpsilon = eps, LearningRate = lr, WeightDecay = wd }, N);
        var theta = Random(1);
        var reference = (double[])theta.Clone();
        var adam = new ReferenceAdam(beta1, beta2, eps);
        for (int s = 0; s < 6; s++)
        {
            opt.Step(theta, Grad(theta), null, s);
            var g = Grad(reference);
            for (int i = 0; i < N; i++) g[i] += wd * reference[i];
            var u = adam.Update(g);
            for (int i = 0; i < N; i++) reference[i] -= lr * u[i];
            for (int i = 0; i < N; i++)
                theta[i].Should().BeApproximately(reference[i], 1e-13 * Math.Max(1, Math.Abs(reference[i])), $"θ[{i}] after step {s + 1}");
        }
        opt.Updates.Should().Be(6);
        // The first Adam step moves every coordinate by ≈ η whatever its gradient's scale (m̂/√ŝ = sign g at t = 1):
        // a test that SGD's θ − ηg would fail by orders of magnitude.
        var fresh = new ProjectedSgd(new StepOptions { Update = UpdateRule.Adam, LearningRate = lr }, N);
        var t0 = Random(1);
        var before = (double[])t0.Clone();
        fresh.Step(t0, Grad(t0), null, 0);
        for (int i = 0; i < N; i++) Math.Abs(before[i] - t0[i]).Should().BeApproximately(lr, 1e-3 * lr);
    }

    [Test]
    public void Dom_adam_and_bulk_adam_steps_are_the_dominant_and_bulk_projections_of_the_adam_update()
    {
        // Gradients that do not depend on θ (no weight decay): Adam's m and s are then the same
        // sequence for all three rules, and each step of Dom-/Bulk-Adam is −η P u, −η (I − P) u.
        var (p, pDom) = Projector(2);
        var pBulk = Matrix<double>.Build.DenseIdentity(N) - pDom;
        StepOptions Rule(OptimizerKind kind) => new() { Kind = kind, Update = UpdateRule.Adam, LearningRate = 0.1 };
        var adam = new ProjectedSgd(Rule(OptimizerKind.Sgd), N);
        var dom = new ProjectedSgd(Rule(OptimizerKind.Dom), N);
        var bulk = new ProjectedSgd(Rule(OptimizerKind.Bulk), N);
        var reference = new ReferenceAdam(0.9, 0.999, 1e-8);
        var (ta, td, tb) = (Random(3), Random(3), Random(3));
        int s = 0;
        foreach (var g in Gradients(5, 40))
        {
            var (a0, d0, b0) = (V(ta), V(td), V(tb));
            adam.Step(ta, g, null, s);
            dom.Step(td, g, p, s);
            bulk.Step(tb, g, p, s);
            s++;
            var u = V(reference.Update(g));
            var (da, dd, db) = (a0 - V(ta), d0 - V(td), b0 - V(tb));
            (da - 0.1 * u).L2Norm().Should().BeLessThan(1e-12 * u.L2Norm(), "plain Adam's step is η u");
            (dd - 0.1 * (pDom * u)).L2Norm().Should().BeLessThan(1e-12 * u.L2Norm(), "Dom-Adam's step is η P_dom u");
            (db - 0.1 * (pBulk * u)).L2Norm().Should().BeLessThan(1e-12 * u.L2Norm(), "Bulk-Adam's step is η (I − P_dom) u");
            // Bulk-Adam's update is orthogonal to every dominant basis vector; Dom-Adam's lies in their span.
            (pDom * db).L2Norm().Should().BeLessThan(1e-13 * db.L2Norm());
            (pBulk * dd).L2Norm().Should().BeLessThan(1e-13 * dd.L2Norm());
            db.L2Norm().Should().BeGreaterThan(0.1 * da.L2Norm());
            dd.L2Norm().Should().BeGreaterThan(1e-3 * da.L2Norm());
        }
        Bits(dom.SecondMoment).Should().Equal(Bits(adam.SecondMoment), "the projection acts after Adam's moments, which see the raw gradient");
        Bits(bulk.Velocity).Should().Equal(Bits(adam.Velocity));
    }

    [Test]
    public void Projected_heavy_ball_projects_the_velocity_v_equals_mu_v_plus_g_not_the_gradient()
    {
        // The basis changes between steps (as the tracker's does), which is where projecting v
        // and accumulating projected gradients differ: P_t(μv + g) ≠ μ Σ P_s g_s.
        var projectors = new[] { Projector(5), Projector(6) };
        const double lr = 0.05, mu = 0.9, wd = 0.01;
        var opt = new ProjectedSgd(new StepOptions { Kind = OptimizerKind.Interp, AlphaDom = 0.3, AlphaBulk = 1.7, LearningRate = lr, Momentum = mu, WeightDecay = wd }, N);
        var theta = Random(7);
        var expected = V(theta);
        var oldRule = V(theta);
        var v = Vector<double>.Build.Dense(N);
        var vOld = Vector<double>.Build.Dense(N);
        var identity = Matrix<double>.Build.DenseIdentity(N);
        for (int s = 0; s < 6; s++)
        {
            var (p, pDom) = projectors[s % 2];
            var g = Random(50 + (ulong)s);
            opt.Step(theta, g, p, s);
            var mix = 0.3 * pDom + 1.7 * (identity - pDom);
            v = mu * v + (V(g) + wd * expected);
            expected -= lr * (mix * v);
            vOld = mu * vOld + mix * (V(g) + wd * oldRule);
            oldRule -= lr * vOld;
        }
        (V(theta) - expected).L2Norm().Should().BeLessThan(1e-12 * expected.L2Norm());
        (V(opt.Velocity) - v).L2Norm().Should().BeLessThan(1e-12 * v.L2Norm(), "the buffer holds the unprojected v");
        (oldRule - expected).L2Norm().Should().BeGreaterThan(1e-3 * (expected - V(Random(7))).L2Norm(), "projecting the gradient into v is a different rule");
    }

    [Test]
    public void Sgd_dom_bulk_and_heavy_ball_keep_the_bits_of_their_hand_written_loops()
    {
        var (p, _) = Projector(8);
        const double lr = 0.3, wd = 1e-3, mu = 0.8;
        StepOptions Rule(OptimizerKind kind, double m) => new() { Kind = kind, LearningRate = lr, WeightDecay = wd, Momentum = m };
        foreach (var (kind, m) in new[] { (OptimizerKind.Sgd, 0.0), (OptimizerKind.Dom, 0.0), (OptimizerKind.Bulk, 0.0), (OptimizerKind.Sgd, mu) })
        {
            var opt = new ProjectedSgd(Rule(kind, m), N);
            var theta = Random(9);
            var loop = (double[])theta.Clone();
            var v = new double[N];
            var dom = new double[N];
            for (int s = 0; s < 5; s++)
            {
                var grad = Random(60 + (ulong)s, Math.Pow(10, 3 * s - 6));
                opt.Step(theta, grad, kind == OptimizerKind.Sgd ? null : p, s);
                var g = new double[N];
                for (int i = 0; i < N; i++) g[i] = grad[i] + wd * loop[i];
                p.ProjectDominant(g, dom);
                for (int i = 0; i < N; i++)
                {
                    double d = kind switch { OptimizerKind.Dom => 1 * dom[i], OptimizerKind.Bulk => 1 * (g[i] - dom[i]), _ => g[i] };
                    if (m != 0) d = v[i] = m * v[i] + d;
                    loop[i] -= lr * d;
                }
            }
            Bits(theta).Should().Equal(Bits(loop), $"{kind} with μ = {m}");
        }
    }

    static TrainerOptions AdamRun(int steps) => new()
    {
        Step = new StepOptions
        {
            Kind = OptimizerKind.Interp, AlphaDom = 0.5, AlphaBulk = 1.5, Update = UpdateRule.Adam, Beta1 = 0.8, Beta2 = 0.99,
            LearningRate = 0.02, WeightDecay = 1e-3, WarmupSteps = 6, SwitchChi = 0.3,
        },
        Tracker = new TrackerOptions { K = 3, RefreshEvery = 4, HessianBatch = 9, Tolerance = 1e-10, Seed = 2 },
        BatchSize = 5,
        Steps = steps,
        EvalEvery = 5,
        Seed = 17,
    };

    [TestCase(20)]
    [TestCase(23)]
    public void Resuming_projected_adam_from_a_checkpoint_reproduces_the_uninterrupted_run_bit_for_bit(int half)
    {
        double[] spectrum = [10, 8, 6, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1];
        var q = new KnownSpectrumQuadratic(spectrum, examples: 37, noise: 0.4, seed: 5);
        var theta0 = new double[q.ParameterCount];
        new Rng(31).FillGaussian(theta0);
        var whole = new Trainer(q, null, AdamRun(2 * half), theta0);
        whole.Run().Status.Should().Be(TrainingStatus.Completed);

        var first = new Trainer(q, null, AdamRun(half), theta0);
        first.Run();
        var path = Path.Combine(_dir, "checkpoint.bin");
        first.Checkpoint().Save(path);
        var saved = TrainerCheckpoint.Load(path);
        saved.SecondMoment.Should().HaveCount(q.ParameterCount);
        saved.Updates.Should().Be(half);
        var second = Trainer.Resume(q, null, AdamRun(2 * half), saved);
        second.Run().Status.Should().Be(TrainingStatus.Completed);

        Bits(second.Theta).Should().Equal(Bits(whole.Theta));
        Bits(second.Optimizer.Velocity).Should().Equal(Bits(whole.Optimizer.Velocity));
        Bits(second.Optimizer.SecondMoment).Should().Equal(Bits(whole.Optimizer.SecondMoment));
        second.Optimizer.Updates.Should().Be(2 * half);
        foreach (var r in second.Metrics.Where(r => r.Step % 5 == 0))
            r.SameMeasurements(whole.Metrics.Single(w => w.Step == r.Step)).Should().BeTrue($"row {r.Step} matches");
        second.Metrics.Should().Contain(r => r.Projecting, "the χ switch fired, so the switch state was carried across");

        var changed = AdamRun(2 * half) with { Step = AdamRun(2 * half).Step with { Beta2 = 0.999 } };
        FluentActions.Invoking(() => Trainer.Resume(q, null, changed, saved))
            .Should().Throw<ArgumentException>().WithMessage("*'beta2'*0.999*0.99*");
    }

    [Test]
    public void Adam_options_out_of_range_are_rejected_naming_the_option_and_value()
    {
        var run = new RunSpec { Update = UpdateRule.Adam, K = 0 };
        run.StepOptions().Validate();
        FluentActions.Invoking(() => CliNames.Parse<UpdateRule>("rmsprop", "update")).Should().Throw<ArgumentException>().WithMessage("Field 'update' was 'rmsprop'; expected sgd or adam.*");
        FluentActions.Invoking(() => (run with { Beta1 = 1 }).StepOptions().Validate()).Should().Throw<ArgumentException>().WithMessage("Option 'beta1' was 1; expected a number in [0, 1).*");
        FluentActions.Invoking(() => (run with { Beta2 = -0.5 }).StepOptions().Validate()).Should().Throw<ArgumentException>().WithMessage("Option 'beta2' was -0.5; expected a number in [0, 1).*");
        FluentActions.Invoking(() => (run with { AdamEps = 0 }).StepOptions().Validate()).Should().Throw<ArgumentException>().WithMessage("Option 'adam-eps' was 0; expected a positive finite number.*");
        FluentActions.Invoking(() => (run with { Momentum = 0.9 }).StepOptions().Validate()).Should().Throw<ArgumentException>().WithMessage("Option 'momentum' was 0.9 with update adam; expected 0*");
        (run with { Update = UpdateRule.Sgd, Momentum = 0.9 }).StepOptions().Validate();
        FluentActions.Invoking(() => new StepOptions { Update = UpdateRule.Adam, Momentum = 0.5 }.Validate()).Should().Throw<ArgumentException>().WithMessage("*'momentum'*0.5*adam*");
        FluentActions.Invoking(() => new StepOptions { AdamEpsilon = double.NaN }.Validate()).Should().Throw<ArgumentException>().WithMessage("*'adam-eps'*NaN*");
    }

    [Test]
    public void Compare_entries_adam_dom_adam_and_bulk_adam_are_the_three_projections_of_adam()
    {
        var list = OptimizerSpec.ParseList("sgd,adam,dom-adam,bulk-adam,bulk");
        list.Select(o => o.Label).Should().Equal("sgd", "adam", "dom-adam", "bulk-adam", "bulk");
        var run = new RunSpec { Momentum = 0.9 };
        var applied = list.Select(o => o.Apply(run)).ToList();
        applied.Select(r => (r.Optimizer, r.Update, r.Momentum)).Should().Equal(
            (OptimizerKind.Sgd, UpdateRule.Sgd, 0.9), (OptimizerKind.Sgd, UpdateRule.Adam, 0.0), (OptimizerKind.Dom, UpdateRule.Adam, 0.0),
            (OptimizerKind.Bulk, UpdateRule.Adam, 0.0), (OptimizerKind.Bulk, UpdateRule.Sgd, 0.9));
        list.Select(o => o.Alphas).Should().Equal((1.0, 1.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0), (0.0, 1.0));
        foreach (var o in list) OptimizerSpec.Parse(o.Text).Should().Be(o);
        FluentActions.Invoking(() => OptimizerSpec.ParseList("adam,adam")).Should().Throw<ArgumentException>().WithMessage("*'adam' twice*");
        FluentActions.Invoking(() => OptimizerSpec.Parse("interp-adam")).Should().Throw<ArgumentException>().WithMessage("*dom-adam, bulk-adam*");
    }

    [Test]
    public void Adam_and_bulk_adam_train_a_tiny_gmm_problem_through_the_cli()
    {
        string[] tiny =
        [
            "train", "--arch", "4-8-3", "--act", "tanh", "--loss", "mse", "--data", "gmm:60:4:3:1", "--test-data", "none",
            "--lr", "0.01", "--batch", "10", "--steps", "40", "--k", "2", "--refresh", "5", "--eval-every", "10", "--seed", "3",
            "--hessian-batch", "0", "--update", "ADAM", "--beta2", "0.99", "--quiet",
        ];
        foreach (var optimizer in new[] { "sgd", "bulk" })
        {
            string dir = Path.Combine(_dir, optimizer);
            var r = CliProcess.Run([.. tiny, "--optimizer", optimizer, "--out", dir]);
            r.Code.Should().Be(0, r.Stderr);
            var lines = File.ReadAllLines(Path.Combine(dir, "metrics.csv"));
            int col = Array.IndexOf(lines[0].Split(','), "train_loss");
            var losses = lines.Skip(1).Select(l => double.Parse(l.Split(',')[col], CultureInfo.InvariantCulture)).ToList();
            losses.Should().HaveCount(5);
            losses[^1].Should().BeLessThan(0.9 * losses[0], $"{optimizer}-adam lowers the training loss");
            using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "config.json")));
            var run = config.RootElement.GetProperty("run");
            run.GetProperty("update").GetString().Should().Be("adam");
            run.GetProperty("beta1").GetDouble().Should().Be(RunSpec.Defaults.Beta1);
            run.GetProperty("beta2").GetDouble().Should().Be(0.99);
            run.GetProperty("adam_eps").GetDouble().Should().Be(RunSpec.Defaults.AdamEps);
            var checkpoint = TrainerCheckpoint.Load(Path.Combine(dir, "checkpoint.bin"));
            checkpoint.Updates.Should().Be(40);
            checkpoint.SecondMoment.Should().HaveCount(checkpoint.Theta.Length).And.OnlyContain(s => s >= 0);
        }
        var bad = CliProcess.Run([.. tiny, "--momentum", "0.9", "--out", Path.Combine(_dir, "bad")]);
        bad.Code.Should().NotBe(0);
        bad.Stderr.Trim().Split('\n').Should().ContainSingle().Which.Should().Contain("'--momentum'").And.Contain("0.9").And.Contain("update adam");
    }

    [Test]
    public void Help_shows_the_defaults_of_update_beta1_beta2_and_adam_eps_from_RunSpec_Defaults()
    {
        var r = CliProcess.Run(["train", "--help"]);
        r.Code.Should().Be(0, r.Stderr);
        string help = Regex.Replace(r.Stdout, @"\s+", " ");
        string Default(string option)
        {
            var m = Regex.Match(help, Regex.Escape(option) + @" <[A-Z0-9]+> [^(]*(?:\([^)]*\)[^(]*)*?\(default ([^)]+)\)");
            m.Success.Should().BeTrue($"help shows a default for {option}");
            return m.Groups[1].Value;
        }
        Default("--update").Should().Be(CliNames.Name(RunSpec.Defaults.Update));
        double.Parse(Default("--beta1"), CultureInfo.InvariantCulture).Should().Be(RunSpec.Defaults.Beta1);
        double.Parse(Default("--beta2"), CultureInfo.InvariantCulture).Should().Be(RunSpec.Defaults.Beta2);
        double.Parse(Default("--adam-eps"), CultureInfo.InvariantCulture).Should().Be(RunSpec.Defaults.AdamEps);
    }
}

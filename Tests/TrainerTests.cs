using Curvature.Optimizers;
using FluentAssertions;
using MathNet.Numerics.LinearAlgebra;
using NUnit.Framework;

namespace Curvature.Tests;

public class TrainerTests
{
    // A gap after λ₃ so the top-3 subspace is well separated; every step size below keeps ηλ₁ < 2.
    static readonly double[] Spectrum = [10, 8, 6, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.08, 0.06, 0.04, 0.02];
    const int K = 3;

    static double[] Start(KnownSpectrumQuadratic q)
    {
        var t = new double[q.ParameterCount];
        new Curvature.Core.Rng(77).FillGaussian(t);
        return t;
    }

    static TrainerOptions Options(OptimizerKind kind, int steps, int batch, double lr = 0.05, int refresh = 5) => new()
    {
        Step = new StepOptions { Kind = kind, LearningRate = lr },
        Tracker = new TrackerOptions { HessianBatch = 0, K = K, RefreshEvery = refresh, Tolerance = 1e-12, Seed = 5 },
        BatchSize = batch,
        Steps = steps,
        EvalEvery = 10,
        Seed = 3,
    };

    [Test]
    public void Dom_sgd_on_a_quadratic_moves_only_inside_the_top_k_eigenspace()
    {
        var q = new KnownSpectrumQuadratic(Spectrum, examples: 40, noise: 0.3, seed: 2);
        var theta0 = Start(q);
        var t = new Trainer(q, null, Options(OptimizerKind.Dom, steps: 60, batch: 8), theta0);
        t.Run().Status.Should().Be(TrainingStatus.Completed);
        var c = q.EigenCoordinates((Vector<double>.Build.DenseOfArray(t.Theta.ToArray()) - Vector<double>.Build.DenseOfArray(theta0)).ToArray());
        double moved = Math.Sqrt(c.Take(K).Sum(x => x * x));
        double leaked = Math.Sqrt(c.Skip(K).Sum(x => x * x));
        moved.Should().BeGreaterThan(0.1);
        leaked.Should().BeLessThan(1e-9 * moved);
    }

    [Test]
    public void Bulk_sgd_on_a_quadratic_moves_only_outside_the_top_k_eigenspace()
    {
        var q = new KnownSpectrumQuadratic(Spectrum, examples: 40, noise: 0.3, seed: 2);
        var theta0 = Start(q);
        var t = new Trainer(q, null, Options(OptimizerKind.Bulk, steps: 60, batch: 8), theta0);
        t.Run().Status.Should().Be(TrainingStatus.Completed);
        var c = q.EigenCoordinates((Vector<double>.Build.DenseOfArray(t.Theta.ToArray()) - Vector<double>.Build.DenseOfArray(theta0)).ToArray());
        double moved = Math.Sqrt(c.Skip(K).Sum(x => x * x));
        double leaked = Math.Sqrt(c.Take(K).Sum(x => x * x));
        moved.Should().BeGreaterThan(0.1);
        leaked.Should().BeLessThan(1e-9 * moved);
    }

    [Test]
    public void Dom_sgd_loss_follows_the_closed_form_and_stalls_at_the_bulk_energy()
    {
        // Full batch, no noise: c_i(t) = (1 − ηλ_i)^t c_i(0) for i ≤ k, c_i(t) = c_i(0) for i > k, and
        // L(t) = ½ Σ λ_i c_i(t)², which tends to ½ Σ_{i>k} λ_i c_i(0)².
        var q = new KnownSpectrumQuadratic(Spectrum, examples: 4, noise: 0.0, seed: 9);
        var theta0 = Start(q);
        const double eta = 0.12;
        var t = new Trainer(q, null, Options(OptimizerKind.Dom, steps: 100, batch: 4, lr: eta), theta0);
        t.Run().Status.Should().Be(TrainingStatus.Completed);
        var c0 = q.EigenCoordinates((Vector<double>.Build.DenseOfArray(theta0) - Vector<double>.Build.DenseOfArray(q.ThetaStar)).ToArray());
        double Predicted(long s) => 0.5 * Enumerable.Range(0, Spectrum.Length)
            .Sum(i => Spectrum[i] * Math.Pow(i < K ? Math.Pow(1 - eta * Spectrum[i], s) * c0[i] : c0[i], 2));
        double floor = 0.5 * Enumerable.Range(K, Spectrum.Length - K).Sum(i => Spectrum[i] * c0[i] * c0[i]);
        t.Metrics.Should().HaveCount(11);
        foreach (var row in t.Metrics)
            row.TrainLoss.Should().BeApproximately(Predicted(row.Step), 1e-10 * Predicted(row.Step), $"step {row.Step}");
        t.Metrics[^1].TrainLoss.Should().BeApproximately(floor, 1e-10 * floor);
        t.Metrics[^1].TrainLoss.Should().BeLessThan(t.Metrics[0].TrainLoss);

        var sgd = new Trainer(q, null, Options(OptimizerKind.Sgd, steps: 100, batch: 4, lr: eta), theta0);
        sgd.Run();
        sgd.Metrics[^1].TrainLoss.Should().BeLessThan(0.5 * floor, "SGD keeps descending along the bulk that Dom-SGD never moves");
    }

    [Test]
    public void Interp_1_1_training_equals_a_hand_written_sgd_loop_bit_for_bit()
    {
        var q = new KnownSpectrumQuadratic(Spectrum, examples: 6, noise: 0.2, seed: 4);
        var theta0 = Start(q);
        var o = Options(OptimizerKind.Interp, steps: 25, batch: 6, lr: 0.07) with { Step = new StepOptions { Kind = OptimizerKind.Interp, AlphaDom = 1, AlphaBulk = 1, LearningRate = 0.07 } };
        var t = new Trainer(q, null, o, theta0);
        t.Run();
        var theta = (double[])theta0.Clone();
        var g = new double[theta.Length];
        for (int s = 0; s < 25; s++)
        {
            q.LossAndGradient(theta, g);
            for (int i = 0; i < theta.Length; i++) theta[i] -= 0.07 * g[i];
        }
        t.Theta.ToArray().Select(BitConverter.DoubleToInt64Bits).Should().Equal(theta.Select(BitConverter.DoubleToInt64Bits));
    }

    [Test]
    public void Interp_1_1_and_sgd_runs_with_minibatches_and_momentum_end_at_the_same_bits()
    {
        var q = new KnownSpectrumQuadratic(Spectrum, examples: 30, noise: 0.5, seed: 6);
        var theta0 = Start(q);
        var step = new StepOptions { LearningRate = 0.05, Momentum = 0.8, WeightDecay = 1e-3, WarmupSteps = 5 };
        var a = new Trainer(q, null, Options(OptimizerKind.Sgd, 40, 7) with { Step = step }, theta0);
        var b = new Trainer(q, null, Options(OptimizerKind.Interp, 40, 7) with { Step = step with { Kind = OptimizerKind.Interp } }, theta0);
        a.Run(); b.Run();
        b.Theta.ToArray().Select(BitConverter.DoubleToInt64Bits).Should().Equal(a.Theta.ToArray().Select(BitConverter.DoubleToInt64Bits));
    }

    [Test]
    public void A_huge_learning_rate_ends_the_run_as_diverged_at_the_step_the_closed_form_predicts()
    {
        var q = new KnownSpectrumQuadratic(Spectrum, examples: 3, noise: 0.0, seed: 8);
        var theta0 = Start(q);
        const double eta = 1.0; // |1 − ηλ₁| = 9: the top component grows ninefold per step
        var o = Options(OptimizerKind.Sgd, steps: 1000, batch: 3, lr: eta) with { DivergenceFactor = 100 };
        var c0 = q.EigenCoordinates((Vector<double>.Build.DenseOfArray(theta0) - Vector<double>.Build.DenseOfArray(q.ThetaStar)).ToArray());
        double Loss(int s) => 0.5 * Enumerable.Range(0, Spectrum.Length).Sum(i => Spectrum[i] * Math.Pow(Math.Pow(1 - eta * Spectrum[i], s) * c0[i], 2));
        int expected = Enumerable.Range(1, 100).First(s => Loss(s) > 100 * Loss(0));
        var result = new Trainer(q, null, o, theta0).Run();
        result.Status.Should().Be(TrainingStatus.Diverged);
        result.StoppedAt.Should().Be(expected);
        result.Text.Should().Be($"diverged at step {expected}");
        result.Diverged.Should().BeTrue();
        result.Steps.Should().Be(expected);
    }

    [Test]
    public void Non_finite_loss_ends_the_run_as_diverged()
    {
        var q = new KnownSpectrumQuadratic(Spectrum, examples: 3, seed: 8);
        var o = Options(OptimizerKind.Sgd, steps: 5000, batch: 3, lr: 50) with { DivergenceFactor = 1e300 };
        var result = new Trainer(q, null, o, Start(q)).Run();
        result.Diverged.Should().BeTrue();
        result.Status.Should().Be(TrainingStatus.Diverged);
        result.StoppedAt.Should().Be(result.Steps);
        result.Steps.Should().BeLessThan(5000);
    }

    [Test]
    public void Each_epoch_draws_distinct_examples_and_every_batch_has_exactly_B()
    {
        var q = new KnownSpectrumQuadratic(Spectrum, examples: 23, noise: 0.1) { RecordCalls = true };
        var t = new Trainer(q, null, Options(OptimizerKind.Sgd, steps: 20, batch: 5) with { Tracker = null, EvalEvery = 1000 }, Start(q));
        t.Run();
        var batches = q.Calls.Where(c => c is not null).Select(c => c!).ToList();
        batches.Should().HaveCount(20).And.OnlyContain(b => b.Length == 5);
        // 23 examples, 5 per batch: 4 batches per epoch, 3 examples dropped.
        foreach (var epoch in batches.Chunk(4))
            epoch.SelectMany(b => b).Should().OnlyHaveUniqueItems().And.OnlyContain(i => i >= 0 && i < 23);
        batches[0].Should().NotEqual(batches[4], "each epoch reshuffles");
    }

    [Test]
    public void Same_seed_gives_the_same_bits_and_another_seed_another_trajectory()
    {
        var q = new KnownSpectrumQuadratic(Spectrum, examples: 30, noise: 0.5, seed: 6);
        var theta0 = Start(q);
        var o = Options(OptimizerKind.Bulk, 30, 4);
        var a = new Trainer(q, null, o, theta0); a.Run();
        var b = new Trainer(q, null, o, theta0); b.Run();
        var c = new Trainer(q, null, o with { Seed = 4 }, theta0); c.Run();
        b.Theta.ToArray().Should().Equal(a.Theta.ToArray());
        c.Theta.ToArray().Should().NotEqual(a.Theta.ToArray());
    }

    [Test]
    public void Metrics_rows_hold_the_tracked_eigenvalues_alignment_and_gradient_split_every_M_steps()
    {
        var q = new KnownSpectrumQuadratic(Spectrum, examples: 10, noise: 0.2, seed: 12);
        var test = new KnownSpectrumQuadratic(Spectrum, examples: 5, noise: 0.2, seed: 12);
        var theta0 = Start(q);
        // SGD never projects, so the tracker only feeds the log, here every L = 4 steps.
        var t = new Trainer(q, test, Options(OptimizerKind.Sgd, steps: 25, batch: 5, refresh: 4) with { CurvatureLogEvery = 4, CurvatureLogTolerance = 1e-12 }, theta0);
        t.Run();
        t.Metrics.Select(r => r.Step).Should().Equal(0, 10, 20, 25);
        foreach (var r in t.Metrics)
        {
            r.Eigenvalues.Should().Equal([10, 8, 6], (x, y) => Math.Abs(x - y) < 1e-8);
            r.TwoOverLearningRate.Should().Be(2 / 0.05);
            r.TestLoss.Should().NotBeNull();
            (r.DomNorm!.Value * r.DomNorm.Value + r.BulkNorm!.Value * r.BulkNorm.Value).Should().BeApproximately(r.GradNorm * r.GradNorm, 1e-12 * r.GradNorm * r.GradNorm);
            r.Chi!.Value.Should().BeApproximately(r.DomNorm.Value / r.GradNorm, 1e-15);
        }
        // Step 0 by an independent route: the full gradient A(θ − mean θ*_i) and its top-3 part.
        var g0 = new double[q.ParameterCount];
        q.LossAndGradient(theta0, g0);
        var coords = q.EigenCoordinates(g0);
        double dom = Math.Sqrt(coords.Take(3).Sum(x => x * x)), norm = Math.Sqrt(coords.Sum(x => x * x));
        t.Metrics[0].GradNorm.Should().BeApproximately(norm, 1e-12 * norm);
        t.Metrics[0].Chi!.Value.Should().BeApproximately(dom / norm, 1e-8);
        // Refreshes at steps 0, 4, 8, ... 24: the row at 25 has seen 7.
        t.Metrics[^1].Refreshes.Should().Be(7);
        t.Metrics[^1].Matvecs.Should().Be(t.Tracker!.Matvecs).And.BeGreaterThan(t.Metrics[0].Matvecs);
    }

    [Test]
    public void An_unprojected_run_refreshes_its_curvature_log_every_max_T_10M_steps_at_the_log_tolerance_a_projected_one_every_T_and_the_log_leaves_theta_alone()
    {
        var q = new KnownSpectrumQuadratic(Spectrum, examples: 10, noise: 0.2, seed: 12);
        var theta0 = Start(q);
        // T = 4, M = 2: an unprojected run's log refreshes every L = max(4, 10·2) = 20 steps, at 0, 20 and 40.
        var sgd = Options(OptimizerKind.Sgd, steps: 40, batch: 5, refresh: 4) with { EvalEvery = 2 };
        sgd.RefreshPeriod.Should().Be(20);
        (sgd with { EvalEvery = 1 }).RefreshPeriod.Should().Be(10);
        (sgd with { EvalEvery = 1, Tracker = sgd.Tracker! with { RefreshEvery = 12 } }).RefreshPeriod.Should().Be(12, "L is never below T");
        var interpEqual = sgd with { Step = new StepOptions { Kind = OptimizerKind.Interp, AlphaDom = 0.5, AlphaBulk = 0.5, LearningRate = 0.05 } };
        interpEqual.RefreshPeriod.Should().Be(20, "interp with α_dom = α_bulk never projects either");
        var bulk = Options(OptimizerKind.Bulk, steps: 40, batch: 5, refresh: 4) with { EvalEvery = 2 };
        bulk.RefreshPeriod.Should().Be(4);
        (bulk with { CurvatureLogEvery = 7 }).RefreshPeriod.Should().Be(4, "a projecting rule keeps T");

        Trainer Run(TrainerOptions o)
        {
            var t = new Trainer(q, null, o, theta0);
            t.Run().Status.Should().Be(TrainingStatus.Completed);
            return t;
        }
        var logged = Run(sgd);
        logged.Metrics.Should().OnlyContain(r => r.Refreshes == 1 + r.Step / 20, "refreshes at 0, 20 and 40");
        logged.Tracker!.Options.Tolerance.Should().Be(TrainerOptions.DefaultCurvatureLogTolerance, "a log solves to the log tolerance");
        Run(bulk).Tracker!.Options.Tolerance.Should().Be(1e-12, "a projecting rule keeps the tracker's");
        var every6 = Run(sgd with { CurvatureLogEvery = 6 });
        every6.Metrics.Should().OnlyContain(r => r.Refreshes == 1 + r.Step / 6);
        Run(bulk).Metrics.Should().OnlyContain(r => r.Refreshes == 1 + r.Step / 4);
        var untracked = Run(sgd with { Tracker = null });
        logged.Theta.ToArray().Should().Equal(untracked.Theta.ToArray(), "the log never touches θ");
        every6.Theta.ToArray().Should().Equal(untracked.Theta.ToArray());
        logged.Metrics.Select(r => r.TrainLoss).Should().Equal(untracked.Metrics.Select(r => r.TrainLoss));
        logged.Tracker!.Matvecs.Should().BeLessThan(every6.Tracker!.Matvecs);
    }

    [Test]
    public void A_full_batch_chi_switch_fires_at_the_step_the_moving_average_of_the_logged_chi_predicts()
    {
        // θ₀ = θ* + Q·c with the top-3 coordinates small: χ_k of the full gradient starts low and rises
        // while SGD's minibatch noise excites the sharp directions and the flat ones decay slowly.
        var q = new KnownSpectrumQuadratic(Spectrum, examples: 40, noise: 0.3, seed: 2);
        var c = Enumerable.Range(0, Spectrum.Length).Select(i => i < K ? 0.01 : 1.0).ToArray();
        var theta0 = (Vector<double>.Build.DenseOfArray(q.ThetaStar) + q.Q * Vector<double>.Build.DenseOfArray(c)).ToArray();
        const double tau = SwitchTau, beta = 0.5;
        var o = new TrainerOptions
        {
            Step = new StepOptions { Kind = OptimizerKind.Bulk, LearningRate = 0.05, SwitchChi = tau, SwitchChiSource = ChiSource.Full, ChiEmaDecay = beta },
            Tracker = new TrackerOptions { HessianBatch = 0, K = K, RefreshEvery = 5, Tolerance = 1e-12, Seed = 5 },
            BatchSize = 8,
            Steps = 100,
            EvalEvery = 5,
            Seed = 3,
        };
        var t = new Trainer(q, null, o, theta0);
        t.Run().Status.Should().Be(TrainingStatus.Completed);
        // By hand from metrics.csv: with T = M each row's chi_k is the χ of the refresh at its step;
        // m ← β·m + (1 − β)·χ from m = χ(θ₀), and the switch fires at the first row where m ≥ τ.
        var rows = MetricsCsv.Parse(MetricsCsv.Format(t.Metrics, K));
        double m = double.NaN;
        long? predicted = null;
        foreach (var r in rows)
        {
            double chi = r.Chi!.Value;
            m = double.IsNaN(m) ? chi : beta * m + (1 - beta) * chi;
            if (m >= tau) { predicted = r.Step; break; }
        }
        TestContext.Out.WriteLine($"χ by row: {string.Join(", ", rows.Select(r => $"{r.Step}:{r.Chi:F3}"))}; predicted switch at {predicted}");
        predicted.Should().NotBeNull().And.BeInRange(15, 90, "τ sits inside the run's range of the average");
        rows.Where(r => r.Step < predicted).Should().OnlyContain(r => !r.Projecting);
        rows.Where(r => r.Step >= predicted).Should().OnlyContain(r => r.Projecting);
        rows.Single(r => r.Step == predicted).ChiEma!.Value.Should().BeApproximately(m, 1e-15);
        // The minibatch average of the same run differs: the switch source matters.
        var minibatch = new Trainer(q, null, o with { Step = o.Step with { SwitchChiSource = ChiSource.Minibatch } }, theta0);
        minibatch.Run();
        minibatch.Metrics.FirstOrDefault(r => r.Projecting)?.Step.Should().NotBe(predicted);
    }

    const double SwitchTau = 0.8;

    [Test]
    public void Lambda_1_full_every_N_steps_is_the_top_eigenvalue_of_the_dense_hessian_on_every_example()
    {
        var data = Curvature.Models.DataSpec.Parse("gmm:120:4:3:7");
        var model = Curvature.Models.Mlp.Parse("4-8-3", "tanh");
        var objective = new Curvature.Models.Objective(model, Curvature.Models.LossKind.MeanSquaredError, data);
        var o = new TrainerOptions
        {
            Step = new StepOptions { Kind = OptimizerKind.Sgd, LearningRate = 0.3 },
            // The tracker sees 12 examples, so its λ₁ differs from the full set's.
            Tracker = new TrackerOptions { K = 2, HessianBatch = 12, Tolerance = 1e-10, Seed = 1 },
            BatchSize = 20,
            Steps = 12,
            EvalEvery = 5,
            FullLambdaEvery = 4,
            Seed = 9,
        };
        var t = new Trainer(objective, null, o, model.Initialize(3));
        double Dense(double[] theta) => AutodiffTestSupport.ToMathNet(objective.DenseMatrix(Curvature.Autodiff.CurvatureKind.Hessian, theta))
            .Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric).EigenValues.Max(e => e.Real);
        var expected = new Dictionary<long, double>();
        foreach (long stop in new long[] { 0, 4, 8 })
        {
            t.Run(untilStep: stop);
            expected[stop] = Dense(t.Theta.ToArray());
        }
        t.Run();
        expected[12] = Dense(t.Theta.ToArray());
        t.Metrics.Select(r => r.Step).Should().Equal(0, 4, 5, 8, 10, 12);
        foreach (var r in t.Metrics)
        {
            if (r.Step % 4 != 0) { r.Lambda1Full.Should().BeNull($"step {r.Step} is not a multiple of 4"); continue; }
            r.Lambda1Full!.Value.Should().BeApproximately(expected[r.Step], 1e-8 * expected[r.Step], $"step {r.Step}");
            Math.Abs(r.Lambda1!.Value - r.Lambda1Full.Value).Should().BeGreaterThan(1e-3 * r.Lambda1Full.Value, "the tracker measures 12 examples");
        }
    }

    [Test]
    public void Progress_is_reported_every_step_with_the_batch_loss_and_lambda_1()
    {
        var q = new KnownSpectrumQuadratic(Spectrum, examples: 10, noise: 0.2);
        var reports = new List<TrainingProgress>();
        var t = new Trainer(q, null, Options(OptimizerKind.Dom, steps: 12, batch: 5), Start(q));
        t.Run(new SyncProgress(reports.Add));
        reports.Select(r => r.Step).Should().Equal(Enumerable.Range(1, 12).Select(i => (long)i).Append(12));
        reports.Should().OnlyContain(r => r.Lambda1 != null && Math.Abs(r.Lambda1.Value - 10) < 1e-8 && r.TotalSteps == 12);
        reports.Count(r => r.Row != null).Should().Be(3);
    }

    [Test]
    public void A_projecting_rule_without_a_tracker_and_a_batch_larger_than_the_data_are_rejected()
    {
        var q = new KnownSpectrumQuadratic(Spectrum, examples: 10);
        FluentActions.Invoking(() => new Trainer(q, null, Options(OptimizerKind.Dom, 5, 5) with { Tracker = null }, Start(q)))
            .Should().Throw<ArgumentException>().WithMessage("*'k'*dom*");
        FluentActions.Invoking(() => new Trainer(q, null, Options(OptimizerKind.Sgd, 5, 11), Start(q)))
            .Should().Throw<ArgumentException>().WithMessage("*'batch'*11*[1, 10]*");
    }

    [TestCase(false)]
    [TestCase(true)]
    public void Training_a_network_on_one_or_two_threads_gives_the_same_bits(bool fullBatchSwitchAndFullLambda)
    {
        var data = Curvature.Models.DataSpec.Parse("gmm:200:4:3:1");
        var model = Curvature.Models.Mlp.Parse("4-16-3", "tanh");
        var theta0 = model.Initialize(7);
        var o = new TrainerOptions
        {
            Step = new StepOptions { Kind = OptimizerKind.Interp, AlphaDom = 0.3, AlphaBulk = 1.5, LearningRate = 0.2, Momentum = 0.5 },
            Tracker = new TrackerOptions { K = 3, RefreshEvery = 3, HessianBatch = 64, Tolerance = 1e-6, Seed = 1 },
            BatchSize = 48,
            Steps = 15,
            EvalEvery = 5,
            Seed = 9,
        };
        if (fullBatchSwitchAndFullLambda)
            o = o with { Step = o.Step with { SwitchChi = 0.5, SwitchChiSource = ChiSource.Full }, FullLambdaEvery = 4 };
        Trainer Train(int threads)
        {
            // Chunks of 16 examples: a 48-example batch is three chunks, spread over the threads.
            var options = new Curvature.Models.ObjectiveOptions { Threads = threads, ChunkSize = 16 };
            var objective = new Curvature.Models.Objective(model, Curvature.Models.LossKind.CrossEntropy, data, options);
            var t = new Trainer(objective, null, o, theta0);
            t.Run().Status.Should().Be(TrainingStatus.Completed);
            return t;
        }
        var one = Train(1);
        var two = Train(2);
        two.Theta.ToArray().Select(BitConverter.DoubleToInt64Bits).Should().Equal(one.Theta.ToArray().Select(BitConverter.DoubleToInt64Bits));
        two.Metrics.Should().HaveCount(one.Metrics.Count);
        two.Metrics.Zip(one.Metrics).Should().OnlyContain(p => p.First.SameMeasurements(p.Second));
        one.Theta.ToArray().Should().NotEqual(theta0);
    }

    sealed class SyncProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}

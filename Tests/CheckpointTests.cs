using Curvature.Optimizers;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

public class CheckpointTests
{
    static readonly double[] Spectrum = [10, 8, 6, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1];
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-ckpt-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    static double[] Start(int n)
    {
        var t = new double[n];
        new Curvature.Core.Rng(31).FillGaussian(t);
        return t;
    }

    static TrainerOptions Options(int steps, OptimizerKind kind = OptimizerKind.Interp) => new()
    {
        Step = new StepOptions { Kind = kind, AlphaDom = 0.5, AlphaBulk = 1.5, LearningRate = 0.04, Momentum = 0.7, WeightDecay = 1e-3, WarmupSteps = 6, SwitchChi = 0.3 },
        Tracker = new TrackerOptions { K = 3, RefreshEvery = 4, HessianBatch = 9, Tolerance = 1e-10, Seed = 2 },
        BatchSize = 5,
        Steps = steps,
        EvalEvery = 5,
        Seed = 17,
    };

    [TestCase(20)]
    [TestCase(23)]
    public void Resuming_from_a_checkpoint_reproduces_the_uninterrupted_run_bit_for_bit(int half)
    {
        // 37 examples in batches of 5: epochs of 7 batches, so both halves stop mid-epoch.
        var q = new KnownSpectrumQuadratic(Spectrum, examples: 37, noise: 0.4, seed: 5);
        var theta0 = Start(q.ParameterCount);
        var whole = new Trainer(q, null, Options(2 * half), theta0);
        whole.Run().Status.Should().Be(TrainingStatus.Completed);

        var first = new Trainer(q, null, Options(half), theta0);
        first.Run();
        var path = Path.Combine(_dir, "checkpoint.bin");
        first.Checkpoint().Save(path);
        var second = Trainer.Resume(q, null, Options(2 * half), TrainerCheckpoint.Load(path));
        second.Step.Should().Be(half);
        second.Run().Status.Should().Be(TrainingStatus.Completed);

        second.Theta.ToArray().Select(BitConverter.DoubleToInt64Bits).Should().Equal(whole.Theta.ToArray().Select(BitConverter.DoubleToInt64Bits));
        second.Optimizer.Velocity.ToArray().Should().Equal(whole.Optimizer.Velocity.ToArray());
        second.Tracker!.Projector.Basis.ToArray().Should().Equal(whole.Tracker!.Projector.Basis.ToArray());
        second.Tracker.Matvecs.Should().Be(whole.Tracker.Matvecs);
        // The run that stopped at `half` measured there as its final step; the whole run only at multiples of 5.
        var expectedRows = whole.Metrics.Select(r => r.Step).Union([half]).Order();
        second.Metrics.Select(r => r.Step).Should().Equal(expectedRows);
        foreach (var r in second.Metrics.Where(r => r.Step % 5 == 0))
            r.SameMeasurements(whole.Metrics.Single(w => w.Step == r.Step)).Should().BeTrue($"row {r.Step} matches");
        second.Metrics.Should().Contain(r => r.Projecting, "the χ switch fired, so the switch state was carried across");
    }

    [Test]
    public void Checkpoint_round_trips_every_field_through_the_file()
    {
        var q = new KnownSpectrumQuadratic(Spectrum, examples: 37, noise: 0.4, seed: 5);
        var t = new Trainer(q, new KnownSpectrumQuadratic(Spectrum, examples: 4), Options(13), Start(q.ParameterCount));
        t.Run();
        var c = t.Checkpoint();
        var path = Path.Combine(_dir, "sub", "c.bin");
        c.Save(path);
        var back = TrainerCheckpoint.Load(path);
        back.Fingerprint.Should().Equal(c.Fingerprint);
        (back.Step, back.Epoch, back.Position, back.Rng, back.AlignmentEma, back.Projecting, back.ReferenceLoss, back.Seconds, back.Status)
            .Should().Be((c.Step, c.Epoch, c.Position, c.Rng, c.AlignmentEma, c.Projecting, c.ReferenceLoss, c.Seconds, c.Status));
        back.Permutation.Should().Equal(c.Permutation);
        back.Theta.Should().Equal(c.Theta);
        back.Velocity.Should().Equal(c.Velocity);
        back.Tracker!.Basis.Should().Equal(c.Tracker!.Basis);
        back.Tracker.HessianBatch.Should().Equal(c.Tracker.HessianBatch);
        back.Metrics.Should().HaveCount(c.Metrics.Count);
        back.Metrics.Zip(c.Metrics).Should().OnlyContain(p => p.First.SameMeasurements(p.Second) && p.First.Seconds == p.Second.Seconds);
        Directory.GetFiles(Path.Combine(_dir, "sub")).Should().Equal([path], "the temporary file was renamed into place");
    }

    [Test]
    public void Resuming_with_a_different_momentum_is_rejected_naming_the_option()
    {
        var q = new KnownSpectrumQuadratic(Spectrum, examples: 37, noise: 0.4, seed: 5);
        var t = new Trainer(q, null, Options(5), Start(q.ParameterCount));
        t.Run();
        var changed = Options(10) with { Step = Options(10).Step with { Momentum = 0.5 } };
        FluentActions.Invoking(() => Trainer.Resume(q, null, changed, t.Checkpoint()))
            .Should().Throw<ArgumentException>().WithMessage("*'momentum'*0.5*");
    }

    [Test]
    public void Resuming_with_a_smaller_learning_rate_continues_with_it_from_the_checkpoint()
    {
        var q = new KnownSpectrumQuadratic(Spectrum, examples: 37, noise: 0.4, seed: 5);
        var t = new Trainer(q, null, Options(5), Start(q.ParameterCount));
        t.Run();
        var changed = Options(10) with { Step = Options(10).Step with { LearningRate = 0.02 } };
        var resumed = Trainer.Resume(q, null, changed, t.Checkpoint());
        resumed.Step.Should().Be(5);
        resumed.Run().Completed.Should().BeTrue();
        resumed.Metrics[^1].LearningRate.Should().Be(0.02, "the steps after the checkpoint use the new rate");
    }

    [Test]
    public void A_truncated_or_foreign_file_is_rejected_naming_the_path()
    {
        var q = new KnownSpectrumQuadratic(Spectrum, examples: 37, noise: 0.4, seed: 5);
        var t = new Trainer(q, null, Options(5), Start(q.ParameterCount));
        t.Run();
        var path = Path.Combine(_dir, "c.bin");
        t.Checkpoint().Save(path);
        var bytes = File.ReadAllBytes(path);
        var truncated = Path.Combine(_dir, "truncated.bin");
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        FluentActions.Invoking(() => TrainerCheckpoint.Load(truncated)).Should().Throw<InvalidDataException>().WithMessage("*truncated.bin*truncated*");
        var foreign = Path.Combine(_dir, "foreign.bin");
        File.WriteAllText(foreign, "step,train_loss\n0,1\n");
        FluentActions.Invoking(() => TrainerCheckpoint.Load(foreign)).Should().Throw<InvalidDataException>().WithMessage("*foreign.bin*not a Curvature checkpoint*");
        FluentActions.Invoking(() => TrainerCheckpoint.Load(Path.Combine(_dir, "missing.bin"))).Should().Throw<FileNotFoundException>().WithMessage("*missing.bin*");
    }

    [Test]
    public void A_diverged_run_cannot_be_resumed()
    {
        var q = new KnownSpectrumQuadratic(Spectrum, examples: 37, noise: 0.4, seed: 5);
        var o = Options(200, OptimizerKind.Sgd) with { Step = new StepOptions { LearningRate = 5 }, Tracker = null };
        var t = new Trainer(q, null, o, Start(q.ParameterCount));
        t.Run().Diverged.Should().BeTrue();
        FluentActions.Invoking(() => Trainer.Resume(q, null, o with { Steps = 400 }, t.Checkpoint()))
            .Should().Throw<ArgumentException>().WithMessage("*'checkpoint'*diverged at step*");
    }
}

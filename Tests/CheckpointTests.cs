using Curvature.Core;
using Curvature.Experiments;
using Curvature.Models;
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
        // The checkpoint carries no rows, only their count and the last one: the resumed trainer measures
        // from there on. The run that stopped at `half` measured there as its final step; the whole run only at multiples of 5.
        second.MetricsRowsBefore.Should().Be(first.Metrics.Count);
        var rows = first.Metrics.Concat(second.Metrics).ToList();
        var expectedRows = whole.Metrics.Select(r => r.Step).Union([half]).Order();
        rows.Select(r => r.Step).Should().Equal(expectedRows);
        foreach (var r in rows.Where(r => r.Step % 5 == 0))
            r.SameMeasurements(whole.Metrics.Single(w => w.Step == r.Step)).Should().BeTrue($"row {r.Step} matches");
        second.Metrics.Should().Contain(r => r.Projecting, "the χ switch fired, so the switch state was carried across");
    }

    [Test]
    public void Resuming_a_run_with_the_full_batch_switch_and_the_round_three_columns_reproduces_every_row_bit_for_bit()
    {
        // Rows every 3 steps as well (full λ₁), so the row at 21 is measured after the resume at 20 but
        // before the next refresh at 24: its overlap and gap come from the checkpoint.
        var q = new KnownSpectrumQuadratic(Spectrum, examples: 37, noise: 0.4, seed: 5);
        // θ₀ = θ* + Q·c with small sharp coordinates: the full-batch χ starts low and rises, so the switch fires mid-run.
        var c = Enumerable.Range(0, q.ParameterCount).Select(i => i < 3 ? 0.01 : 1.0).ToArray();
        var theta0 = (MathNet.Numerics.LinearAlgebra.Vector<double>.Build.DenseOfArray(q.ThetaStar) + q.Q * MathNet.Numerics.LinearAlgebra.Vector<double>.Build.DenseOfArray(c)).ToArray();
        TrainerOptions O(int steps)
        {
            var o = Options(steps, OptimizerKind.Bulk);
            return o with { Step = o.Step with { SwitchChiSource = ChiSource.Full, SwitchChi = 0.7, ChiEmaDecay = 0.5 }, FullLambdaEvery = 3 };
        }
        var whole = new Trainer(q, null, O(40), theta0);
        whole.Run().Status.Should().Be(TrainingStatus.Completed);
        var first = new Trainer(q, null, O(20), theta0);
        first.Run();
        var path = Path.Combine(_dir, "checkpoint.bin");
        first.Checkpoint().Save(path);
        var second = Trainer.Resume(q, null, O(40), TrainerCheckpoint.Load(path));
        second.Run().Status.Should().Be(TrainingStatus.Completed);
        second.Theta.ToArray().Select(BitConverter.DoubleToInt64Bits).Should().Equal(whole.Theta.ToArray().Select(BitConverter.DoubleToInt64Bits));
        foreach (var r in first.Metrics.Concat(second.Metrics))
            r.SameMeasurements(whole.Metrics.Single(w => w.Step == r.Step)).Should().BeTrue($"row {r.Step} matches");
        var at21 = second.Metrics.Single(r => r.Step == 21);
        at21.BasisOverlap.Should().NotBeNull("the refresh at 20 measured it and the checkpoint carried it");
        at21.Lambda1Full.Should().NotBeNull();
        whole.Metrics.Should().Contain(r => r.Projecting).And.Contain(r => !r.Projecting, "the full-batch switch fired during the run");
    }

    [Test]
    public void Checkpoint_round_trips_every_field_through_the_file()
    {
        var q = new KnownSpectrumQuadratic(Spectrum, examples: 37, noise: 0.4, seed: 5);
        var t = new Trainer(q, new KnownSpectrumQuadratic(Spectrum, examples: 4), Options(13), Start(q.ParameterCount));
        t.Run();
        var c = t.Checkpoint() with { MetricsBytes = 4321 };
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
        (back.MetricsRows, back.MetricsBytes).Should().Be((c.MetricsRows, c.MetricsBytes));
        c.MetricsRows.Should().Be(t.Metrics.Count);
        back.LastMetrics!.SameMeasurements(t.Metrics[^1]).Should().BeTrue("the last row travels with the checkpoint");
        back.LastMetrics.Seconds.Should().Be(t.Metrics[^1].Seconds);
        back.LegacyMetrics.Should().BeNull("a version-4 file carries no rows");
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

    /// <summary>A checkpoint of a run with a tracker and momentum, saved to <paramref name="path"/>.</summary>
    static TrainerCheckpoint Saved(string path)
    {
        var q = new KnownSpectrumQuadratic(Spectrum, examples: 37, noise: 0.4, seed: 5);
        var t = new Trainer(q, null, Options(13), Start(q.ParameterCount));
        t.Run();
        var c = t.Checkpoint();
        c.Save(path);
        return c;
    }

    [Test]
    public void One_flipped_bit_anywhere_in_a_checkpoint_is_refused_naming_the_file()
    {
        var path = Path.Combine(_dir, "c.bin");
        Saved(path);
        var bytes = File.ReadAllBytes(path);
        // Every 7th byte and the last one: header, fingerprint, counters, θ, buffers, basis, metrics row, the checksum itself.
        var offsets = Enumerable.Range(0, bytes.Length).Where(i => i % 7 == 3).Append(bytes.Length - 1).ToList();
        offsets.Should().HaveCountGreaterThan(100);
        var flipped = Path.Combine(_dir, "flipped.bin");
        foreach (int at in offsets)
        {
            var copy = bytes.ToArray();
            copy[at] ^= 0x10;
            File.WriteAllBytes(flipped, copy);
            var load = FluentActions.Invoking(() => TrainerCheckpoint.Load(flipped));
            // The magic string and the version are recognised as such; every later byte is covered by the checksum.
            if (at < 25) load.Should().Throw<InvalidDataException>($"byte {at} flipped").WithMessage($"*'{flipped}'*");
            else load.Should().Throw<InvalidDataException>($"byte {at} flipped").WithMessage($"Checkpoint '{flipped}' fails its SHA-256 checksum*");
        }
    }

    /// <summary>
    /// A checkpoint with distinctive update share and tracker overlap and gap and no last row, saved,
    /// and its body (checksum cut off) with the 16 bytes of overlap and gap that version 5 adds removed
    /// and the version set to 4 (the version sits after the 1 + 20 bytes of the magic string).
    /// </summary>
    static (TrainerCheckpoint Saved, byte[] Version4Body, double Share) Version4(string path)
    {
        const double share = 0.123456789012345, overlap = 0.987654321098765, gap = 3.14159265358979;
        var c = Saved(path) with { UpdateShare = share, LastMetrics = null };
        c = c with { Tracker = c.Tracker! with { LastOverlap = overlap, LastGap = gap } };
        c.Save(path);
        var bytes = File.ReadAllBytes(path);
        BitConverter.ToInt32(bytes, 21).Should().Be(5);
        var body = bytes[..^32];
        var pattern = BitConverter.GetBytes(overlap).Concat(BitConverter.GetBytes(gap)).ToArray();
        int at = body.AsSpan().IndexOf(pattern);
        at.Should().BePositive();
        body.AsSpan(at + 1).IndexOf(pattern).Should().Be(-1, "the overlap and gap bytes occur once");
        var v4 = body[..at].Concat(body[(at + 16)..]).ToArray();
        BitConverter.GetBytes(4).CopyTo(v4, 21);
        return (c, v4, share);
    }

    [Test]
    public void A_version_4_checkpoint_is_still_read_with_the_overlap_and_gap_unknown()
    {
        var (c, v4, _) = Version4(Path.Combine(_dir, "c.bin"));
        var old = Path.Combine(_dir, "v4.bin");
        File.WriteAllBytes(old, [.. v4, .. System.Security.Cryptography.SHA256.HashData(v4)]);
        var back = TrainerCheckpoint.Load(old);
        back.Theta.Should().Equal(c.Theta);
        back.UpdateShare.Should().Be(c.UpdateShare);
        back.Tracker!.Basis.Should().Equal(c.Tracker!.Basis);
        (back.Tracker.LastOverlap, back.Tracker.LastGap).Should().Be((double.NaN, double.NaN), "version 4 carried neither");
        var current = TrainerCheckpoint.Load(Path.Combine(_dir, "c.bin"));
        (current.Tracker!.LastOverlap, current.Tracker.LastGap).Should().Be((c.Tracker.LastOverlap, c.Tracker.LastGap));
    }

    [Test]
    public void A_version_3_checkpoint_without_a_checksum_is_still_read()
    {
        // Version 3 is version 4 without the update share and the 32 checksum bytes at the end.
        var (c, v4, share) = Version4(Path.Combine(_dir, "c.bin"));
        var pattern = BitConverter.GetBytes(share);
        int at = v4.AsSpan().IndexOf(pattern);
        at.Should().BePositive();
        v4.AsSpan(at + 1).IndexOf(pattern).Should().Be(-1, "the share's bytes occur once");
        var v3 = v4[..at].Concat(v4[(at + 8)..]).ToArray();
        BitConverter.GetBytes(3).CopyTo(v3, 21);
        var old = Path.Combine(_dir, "v3.bin");
        File.WriteAllBytes(old, v3);
        var back = TrainerCheckpoint.Load(old);
        back.Theta.Should().Equal(c.Theta);
        back.Tracker!.Basis.Should().Equal(c.Tracker!.Basis);
        (back.Step, back.MetricsRows).Should().Be((c.Step, c.MetricsRows));
        back.UpdateShare.Should().Be(double.NaN, "version 3 carried no update share");
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

    sealed class EveryStep(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }

    static TrainSpec Tiny(string dir, int steps, int every) => new()
    {
        Run = new RunSpec
        {
            Arch = "4-16-3", Data = "gmm:200:4:3:1", TestData = null, Loss = LossKind.MeanSquaredError, Batch = 20, K = 2, Refresh = 10,
            HessianBatch = 0, EvalEvery = 1, Steps = steps, Seed = 3, LearningRate = 0.1,
        },
        Out = dir,
        CheckpointEvery = every,
        SaveTheta = true,
    };

    [Test]
    public void Checkpointing_every_step_writes_a_checkpoint_of_constant_size_and_only_appends_to_metrics_csv()
    {
        string run = Path.Combine(_dir, "every");
        string checkpoint = Path.Combine(run, "checkpoint.bin"), metrics = Path.Combine(run, "metrics.csv");
        var sizes = new List<(long Step, long Checkpoint, long MetricsBytes)>();
        byte[] previous = [];
        // Progress after update s is reported before the checkpoint of step s: the file then holds step s − 1.
        var progress = new EveryStep(p =>
        {
            if (!File.Exists(checkpoint)) return;
            var c = TrainerCheckpoint.Load(checkpoint);
            sizes.Add((c.Step, new FileInfo(checkpoint).Length, c.MetricsBytes));
            byte[] now = File.ReadAllBytes(metrics);
            now.Length.Should().BeGreaterThanOrEqualTo(previous.Length);
            now.AsSpan(0, previous.Length).SequenceEqual(previous).Should().BeTrue($"metrics.csv at step {c.Step} only grew by appending");
            now.Length.Should().Be((int)c.MetricsBytes, "the rows a checkpoint counts are on disk before it, and no more are written until the next");
            previous = now;
        });
        TrainingRun.Execute(Tiny(run, 200, 1), progress).Status.Should().Be(TrainingStatus.Completed);

        // The last report (the final measurement at step 200) sees the step-199 checkpoint again.
        sizes.Select(x => x.Step).Distinct().Should().Equal(Enumerable.Range(1, 199).Select(i => (long)i));
        sizes.Select(x => x.Checkpoint).Distinct().Should().ContainSingle("the checkpoint at step 10 has the size of the one at step 199: no rows are carried");
        var perStep = sizes.DistinctBy(x => x.Step).ToList();
        var growth = perStep.Zip(perStep.Skip(1), (a, b) => b.MetricsBytes - a.MetricsBytes).ToList();
        growth.Min().Should().BePositive();
        growth.Max().Should().BeLessThan(2 * growth.Min(), "each checkpoint adds one row to metrics.csv, not every row so far");
        File.ReadAllLines(metrics).Should().HaveCount(1 + 201, "a header and steps 0..200");
        var last = TrainerCheckpoint.Load(checkpoint);
        last.MetricsBytes.Should().Be(new FileInfo(metrics).Length);
        last.MetricsRows.Should().Be(201);
    }

    [Test]
    public void A_run_cut_after_its_rows_were_appended_but_before_the_checkpoint_resumes_to_the_uninterrupted_bytes()
    {
        string straight = Path.Combine(_dir, "straight"), cut = Path.Combine(_dir, "cut");
        TrainingRun.Execute(Tiny(straight, 60, 1));
        // Cancelled from the progress of update 25 (as SIGTERM does): the run stops at step 25 as interrupted.
        using var cts = new CancellationTokenSource();
        var stopAt25 = new EveryStep(p => { if (p.Step == 25) cts.Cancel(); });
        TrainingRun.Execute(Tiny(cut, 60, 1), stopAt25, cts.Token).Status.Should().Be(TrainingStatus.Interrupted);
        // What a kill -9 leaves at any moment: checkpoint.bin of step s, metrics.csv with its rows and
        // possibly more (rows of the next interval appended, half a line written) before the next rename.
        File.AppendAllText(Path.Combine(cut, "metrics.csv"), "25,3,0.1,1.2345,0.5,,,0.9\n26,3,0.1,1.2");
        var resumed = TrainingRun.Execute(Tiny(cut, 60, 1) with { Resume = Path.Combine(cut, "checkpoint.bin") });
        resumed.Status.Should().Be(TrainingStatus.Completed);
        CliProcess.WithoutSeconds(Path.Combine(cut, "metrics.csv")).Should().Equal(CliProcess.WithoutSeconds(Path.Combine(straight, "metrics.csv")));
        File.ReadAllBytes(Path.Combine(cut, "theta.npy")).Should().Equal(File.ReadAllBytes(Path.Combine(straight, "theta.npy")));
        var a = TrainerCheckpoint.Load(Path.Combine(cut, "checkpoint.bin"));
        var b = TrainerCheckpoint.Load(Path.Combine(straight, "checkpoint.bin"));
        // Bytes differ only through the wall-time column's digits.
        (a.Step, a.MetricsRows, a.Status).Should().Be((b.Step, b.MetricsRows, b.Status));
        a.MetricsBytes.Should().Be(new FileInfo(Path.Combine(cut, "metrics.csv")).Length);
        a.Theta.Should().Equal(b.Theta);
        a.Velocity.Should().Equal(b.Velocity);
        a.Tracker!.Basis.Should().Equal(b.Tracker!.Basis);
    }
}

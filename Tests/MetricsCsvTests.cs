using Curvature.Optimizers;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

public class MetricsCsvTests
{
    static readonly MetricsRow[] Rows =
    [
        new() { Step = 0, Epoch = 1, LearningRate = 0.1, TrainLoss = Math.PI, TrainAccuracy = 1.0 / 3, GradNorm = 1e-300, Eigenvalues = [], Matvecs = 0, Refreshes = 0, Seconds = 0.25 },
        new()
        {
            Step = 7, Epoch = 2, LearningRate = 0.1, TrainLoss = 0.1 + 0.2, TrainAccuracy = 0.5, TestLoss = 2.0 / 7, TestAccuracy = 0.125,
            GradNorm = Math.E, DomNorm = 1.5, BulkNorm = double.Epsilon, Chi = 0.9, ChiEma = 0.8, Projecting = true, UpdateShare = 1.0 / 9,
            Eigenvalues = [12.5, -0.0], Lambda1Full = 13.25, BasisOverlap = 0.96875, GapK = 1.0 / 3,
            Matvecs = 1234567890123, Refreshes = 3, Seconds = 4.75,
        },
    ];

    [Test]
    public void Rows_read_back_from_the_written_text_equal_the_written_rows_bit_for_bit()
    {
        var back = MetricsCsv.Parse(MetricsCsv.Format(Rows, k: 3));
        back.Should().HaveCount(Rows.Length);
        for (int i = 0; i < Rows.Length; i++)
            back[i].SameMeasurements(Rows[i]).Should().BeTrue($"row {i} was written as {MetricsCsv.Line(Rows[i], 3)}");
        back[1].Seconds.Should().Be(4.75);
        back[0].TestLoss.Should().BeNull("an empty cell is an unmeasured value");
    }

    [Test]
    public void A_file_written_before_update_share_existed_reads_it_as_null()
    {
        var text = MetricsCsv.Format(Rows, k: 2).Split('\n')
            .Select(line => string.Join(",", line.Split(',').Where((_, c) => c != 13)))
            .Aggregate((a, b) => a + "\n" + b);
        text.Should().NotContain(MetricsCsv.UpdateShareColumn);
        var back = MetricsCsv.Parse(text);
        back[1].UpdateShare.Should().BeNull();
        back[1].Eigenvalues.Should().Equal(12.5, -0.0);
    }

    [Test]
    public void Lambda_1_full_sits_next_to_two_over_lr_and_a_file_without_the_round_three_columns_reads_them_as_null()
    {
        var header = MetricsCsv.Header(2).Split(',');
        Array.IndexOf(header, MetricsCsv.Lambda1FullColumn).Should().Be(Array.IndexOf(header, MetricsCsv.TwoOverLearningRateColumn) + 1);
        var text = MetricsCsv.Format(Rows, k: 2);
        var dropped = new[] { MetricsCsv.Lambda1FullColumn, MetricsCsv.BasisOverlapColumn, MetricsCsv.GapKColumn }.Select(c => Array.IndexOf(header, c)).ToHashSet();
        var old = string.Join("\n", text.Split('\n').Select(line => line.Length == 0 ? line : string.Join(",", line.Split(',').Where((_, c) => !dropped.Contains(c)))));
        old.Split('\n')[0].Should().Be(MetricsCsv.HeaderBeforeRoundThree(2));
        var back = MetricsCsv.Parse(old);
        (back[1].Lambda1Full, back[1].BasisOverlap, back[1].GapK).Should().Be((null, null, null));
        back[1].Matvecs.Should().Be(1234567890123);
        MetricsCsv.Parse(text)[1].GapK.Should().Be(1.0 / 3);
    }

    [Test]
    public void Resuming_a_metrics_csv_in_the_old_layout_rewrites_its_rows_in_the_new_one()
    {
        var dir = Directory.CreateTempSubdirectory("curvature-metrics-").FullName;
        try
        {
            var header = MetricsCsv.Header(2).Split(',');
            var dropped = new[] { MetricsCsv.Lambda1FullColumn, MetricsCsv.BasisOverlapColumn, MetricsCsv.GapKColumn }.Select(c => Array.IndexOf(header, c)).ToHashSet();
            string Old(string line) => string.Join(",", line.Split(',').Where((_, c) => !dropped.Contains(c)));
            var rows = Rows.Select(r => r with { Lambda1Full = null, BasisOverlap = null, GapK = null }).ToArray();
            string oldText = MetricsCsv.HeaderBeforeRoundThree(2) + "\n" + string.Concat(rows.Select(r => Old(MetricsCsv.Line(r, 2)) + "\n"));
            string path = Path.Combine(dir, "metrics.csv");
            // A row appended after the checkpoint (a kill before the next one) is dropped.
            File.WriteAllText(path, oldText + "99,1,0.1,1,1,,,1,,,,,0,,,,20,0,0,1\n");
            var checkpoint = new TrainerCheckpoint
            {
                Fingerprint = [], Step = 7, Epoch = 1, Position = 0, Permutation = [], Rng = default, Theta = [], Velocity = [],
                AlignmentEma = double.NaN, Projecting = false, Tracker = null, ReferenceLoss = 1, Seconds = 0, Status = TrainingStatus.Interrupted,
                MetricsRows = rows.Length, MetricsBytes = System.Text.Encoding.UTF8.GetByteCount(oldText),
            };
            using (var log = MetricsLog.Resume(path, 2, checkpoint, Path.Combine(dir, "checkpoint.bin")))
            {
                log.Rows.Should().Be(rows.Length);
                log.Append([rows[0] with { Step = 10, Lambda1Full = 2.5 }]);
            }
            var text = File.ReadAllText(path);
            text.Split('\n')[0].Should().Be(MetricsCsv.Header(2));
            var back = MetricsCsv.Parse(text);
            back.Select(r => r.Step).Should().Equal(0, 7, 10);
            back[1].SameMeasurements(rows[1]).Should().BeTrue();
            back[2].Lambda1Full.Should().Be(2.5);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Test]
    public void A_non_numeric_cell_is_refused_with_the_source_line_and_column()
    {
        var text = MetricsCsv.Format(Rows, k: 1).Replace("4.75", "four");
        ((Action)(() => MetricsCsv.Parse(text, "run/metrics.csv"))).Should().Throw<FormatException>()
            .WithMessage("*'run/metrics.csv' line 3 column 'seconds' has 'four'*expected a number*");
    }
}

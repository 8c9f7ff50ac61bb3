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
            Eigenvalues = [12.5, -0.0], Matvecs = 1234567890123, Refreshes = 3, Seconds = 4.75,
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
    public void A_non_numeric_cell_is_refused_with_the_source_line_and_column()
    {
        var text = MetricsCsv.Format(Rows, k: 1).Replace("4.75", "four");
        ((Action)(() => MetricsCsv.Parse(text, "run/metrics.csv"))).Should().Throw<FormatException>()
            .WithMessage("*'run/metrics.csv' line 3 column 'seconds' has 'four'*expected a number*");
    }
}

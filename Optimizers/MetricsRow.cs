using System.Globalization;
using System.Text;

namespace Curvature.Optimizers;

/// <summary>
/// What the trainer measures at step s, all at θ_s (after s updates): full training loss and
/// accuracy, test loss and accuracy, the full-batch gradient and its dominant and bulk parts
/// in the current basis, the current top-k eigenvalues, and the cost so far. Null means not
/// measured (no test set, no tracker).
/// </summary>
public sealed record MetricsRow
{
    /// <summary>The step s: θ after s updates.</summary>
    public long Step { get; init; }
    /// <summary>Epochs begun so far (passes over the data that have started).</summary>
    public int Epoch { get; init; }
    /// <summary>η_s, the learning rate of the step that starts here.</summary>
    public double LearningRate { get; init; }
    /// <summary>Mean training loss at θ_s over every training example.</summary>
    public double TrainLoss { get; init; }
    /// <summary>Training accuracy at θ_s, in [0, 1].</summary>
    public double TrainAccuracy { get; init; }
    /// <summary>Mean test loss at θ_s; null without a test set.</summary>
    public double? TestLoss { get; init; }
    /// <summary>Test accuracy at θ_s; null without a test set.</summary>
    public double? TestAccuracy { get; init; }

    /// <summary>‖∇L(θ_s)‖ over all training examples.</summary>
    public double GradNorm { get; init; }

    /// <summary>‖P_dom ∇L‖.</summary>
    public double? DomNorm { get; init; }

    /// <summary>‖P_bulk ∇L‖.</summary>
    public double? BulkNorm { get; init; }

    /// <summary>χ_k(∇L) = ‖P_dom ∇L‖ / ‖∇L‖.</summary>
    public double? Chi { get; init; }

    /// <summary>The moving average of χ_k over the minibatch gradients (set while a χ switch is pending or done).</summary>
    public double? ChiEma { get; init; }

    /// <summary>Whether the optimizer's steps are projected at this point.</summary>
    public bool Projecting { get; init; }

    /// <summary>The current top-k eigenvalues, largest first (empty without a tracker).</summary>
    public double[] Eigenvalues { get; init; } = [];

    /// <summary>Curvature-vector products spent so far.</summary>
    public long Matvecs { get; init; }

    /// <summary>Tracker refreshes so far.</summary>
    public int Refreshes { get; init; }

    /// <summary>Wall-clock seconds since the run started (summed over resumed segments).</summary>
    public double Seconds { get; init; }

    /// <summary>The largest tracked eigenvalue λ₁; null without a basis.</summary>
    public double? Lambda1 => Eigenvalues.Length > 0 ? Eigenvalues[0] : null;

    /// <summary>The stability threshold 2/η_s that λ₁ is compared with.</summary>
    public double TwoOverLearningRate => 2.0 / LearningRate;

    /// <summary>Whether every measured value equals <paramref name="other"/>'s bit for bit, ignoring wall time.</summary>
    public bool SameMeasurements(MetricsRow other)
    {
        static bool Same(double? a, double? b) => a.HasValue == b.HasValue && (!a.HasValue || BitConverter.DoubleToInt64Bits(a.Value) == BitConverter.DoubleToInt64Bits(b!.Value));
        return Step == other.Step && Epoch == other.Epoch && Same(LearningRate, other.LearningRate)
            && Same(TrainLoss, other.TrainLoss) && Same(TrainAccuracy, other.TrainAccuracy)
            && Same(TestLoss, other.TestLoss) && Same(TestAccuracy, other.TestAccuracy)
            && Same(GradNorm, other.GradNorm) && Same(DomNorm, other.DomNorm) && Same(BulkNorm, other.BulkNorm)
            && Same(Chi, other.Chi) && Same(ChiEma, other.ChiEma) && Projecting == other.Projecting
            && Eigenvalues.Length == other.Eigenvalues.Length
            && Eigenvalues.Select(BitConverter.DoubleToInt64Bits).SequenceEqual(other.Eigenvalues.Select(BitConverter.DoubleToInt64Bits))
            && Matvecs == other.Matvecs && Refreshes == other.Refreshes;
    }
}

/// <summary>metrics.csv: a header, then one line per <see cref="MetricsRow"/>; invariant culture, round-trip doubles, empty cells for unmeasured values.</summary>
public static class MetricsCsv
{
    /// <summary>The header for a run tracking <paramref name="k"/> eigenvalues.</summary>
    public static string Header(int k)
    {
        var sb = new StringBuilder("step,epoch,lr,train_loss,train_acc,test_loss,test_acc,grad_norm,dom_norm,bulk_norm,chi_k,chi_ema,projecting");
        for (int j = 1; j <= Math.Max(k, 1); j++) sb.Append(",lambda_").Append(j.ToString(CultureInfo.InvariantCulture));
        sb.Append(",two_over_lr,matvecs,refreshes,seconds");
        return sb.ToString();
    }

    /// <summary>One metrics.csv line for <paramref name="r"/> with <paramref name="k"/> eigenvalue columns.</summary>
    public static string Line(MetricsRow r, int k)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(r.Step.ToString(c)).Append(',').Append(r.Epoch.ToString(c)).Append(',').Append(D(r.LearningRate))
          .Append(',').Append(D(r.TrainLoss)).Append(',').Append(D(r.TrainAccuracy))
          .Append(',').Append(D(r.TestLoss)).Append(',').Append(D(r.TestAccuracy))
          .Append(',').Append(D(r.GradNorm)).Append(',').Append(D(r.DomNorm)).Append(',').Append(D(r.BulkNorm))
          .Append(',').Append(D(r.Chi)).Append(',').Append(D(r.ChiEma)).Append(',').Append(r.Projecting ? '1' : '0');
        for (int j = 0; j < Math.Max(k, 1); j++) sb.Append(',').Append(j < r.Eigenvalues.Length ? D(r.Eigenvalues[j]) : "");
        sb.Append(',').Append(D(r.TwoOverLearningRate)).Append(',').Append(r.Matvecs.ToString(c))
          .Append(',').Append(r.Refreshes.ToString(c)).Append(',').Append(D(r.Seconds));
        return sb.ToString();
    }

    /// <summary>The whole file's text.</summary>
    public static string Format(IEnumerable<MetricsRow> rows, int k)
    {
        var sb = new StringBuilder(Header(k)).Append('\n');
        foreach (var r in rows) sb.Append(Line(r, k)).Append('\n');
        return sb.ToString();
    }

    static string D(double? v) => v is double x ? x.ToString("R", CultureInfo.InvariantCulture) : "";
}

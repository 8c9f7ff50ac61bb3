using System.Globalization;
using System.Text;
using Curvature.Core;

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

    /// <summary>
    /// ‖P_U d‖/‖d‖ of the last update d taken before this row's θ (the step from Step − 1 to
    /// <see cref="Step"/>), U the basis that update used; null at step 0 and without a tracker.
    /// </summary>
    public double? UpdateShare { get; init; }

    /// <summary>
    /// λ₁ of the curvature on every training example at θ_s (a cold top-1 solve), measured every
    /// <see cref="TrainerOptions.FullLambdaEvery"/> steps; null at the other rows and without the option.
    /// </summary>
    public double? Lambda1Full { get; init; }

    /// <summary>
    /// ‖U_prevᵀU‖²_F / k of the most recent refresh: the overlap of the basis it installed with the
    /// one before (1: the same subspace, 0: orthogonal); null before the second refresh.
    /// </summary>
    public double? BasisOverlap { get; init; }

    /// <summary>
    /// λ_k/λ_{k+1} of the most recent refresh, λ_{k+1} the top Ritz value of the guard rows of a
    /// gap-certified warm refresh; null when that refresh was not gap-certified.
    /// </summary>
    public double? GapK { get; init; }

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
            && Same(Chi, other.Chi) && Same(ChiEma, other.ChiEma) && Projecting == other.Projecting && Same(UpdateShare, other.UpdateShare)
            && Eigenvalues.Length == other.Eigenvalues.Length
            && Eigenvalues.Select(BitConverter.DoubleToInt64Bits).SequenceEqual(other.Eigenvalues.Select(BitConverter.DoubleToInt64Bits))
            && Same(Lambda1Full, other.Lambda1Full) && Same(BasisOverlap, other.BasisOverlap) && Same(GapK, other.GapK)
            && Matvecs == other.Matvecs && Refreshes == other.Refreshes;
    }
}

/// <summary>
/// metrics.csv: a header, then one line per <see cref="MetricsRow"/>; invariant culture, round-trip
/// doubles, empty cells for unmeasured values. The writer (<see cref="Header"/>, <see cref="Line"/>)
/// and the reader (<see cref="Load"/>, <see cref="Parse"/>) share the column names below, so the
/// layout is owned here alone.
/// </summary>
public static class MetricsCsv
{
    /// <summary>The column of <see cref="MetricsRow.Step"/>.</summary>
    public const string StepColumn = "step";
    /// <summary>The column of <see cref="MetricsRow.Epoch"/>.</summary>
    public const string EpochColumn = "epoch";
    /// <summary>The column of <see cref="MetricsRow.LearningRate"/>.</summary>
    public const string LearningRateColumn = "lr";
    /// <summary>The column of <see cref="MetricsRow.TrainLoss"/>.</summary>
    public const string TrainLossColumn = "train_loss";
    /// <summary>The column of <see cref="MetricsRow.TrainAccuracy"/>.</summary>
    public const string TrainAccuracyColumn = "train_acc";
    /// <summary>The column of <see cref="MetricsRow.TestLoss"/>.</summary>
    public const string TestLossColumn = "test_loss";
    /// <summary>The column of <see cref="MetricsRow.TestAccuracy"/>.</summary>
    public const string TestAccuracyColumn = "test_acc";
    /// <summary>The column of <see cref="MetricsRow.GradNorm"/>.</summary>
    public const string GradNormColumn = "grad_norm";
    /// <summary>The column of <see cref="MetricsRow.DomNorm"/>.</summary>
    public const string DomNormColumn = "dom_norm";
    /// <summary>The column of <see cref="MetricsRow.BulkNorm"/>.</summary>
    public const string BulkNormColumn = "bulk_norm";
    /// <summary>The column of <see cref="MetricsRow.Chi"/>.</summary>
    public const string ChiColumn = "chi_k";
    /// <summary>The column of <see cref="MetricsRow.ChiEma"/>.</summary>
    public const string ChiEmaColumn = "chi_ema";
    /// <summary>The column of <see cref="MetricsRow.Projecting"/>.</summary>
    public const string ProjectingColumn = "projecting";
    /// <summary>The column of <see cref="MetricsRow.UpdateShare"/>.</summary>
    public const string UpdateShareColumn = "update_share";
    /// <summary>The column of <see cref="MetricsRow.TwoOverLearningRate"/>.</summary>
    public const string TwoOverLearningRateColumn = "two_over_lr";
    /// <summary>The column of <see cref="MetricsRow.Lambda1Full"/>.</summary>
    public const string Lambda1FullColumn = "lambda_1_full";
    /// <summary>The column of <see cref="MetricsRow.BasisOverlap"/>.</summary>
    public const string BasisOverlapColumn = "basis_overlap";
    /// <summary>The column of <see cref="MetricsRow.GapK"/>.</summary>
    public const string GapKColumn = "gap_k";
    /// <summary>The column of <see cref="MetricsRow.Matvecs"/>.</summary>
    public const string MatvecsColumn = "matvecs";
    /// <summary>The column of <see cref="MetricsRow.Refreshes"/>.</summary>
    public const string RefreshesColumn = "refreshes";
    /// <summary>The column of <see cref="MetricsRow.Seconds"/>.</summary>
    public const string SecondsColumn = "seconds";

    /// <summary>The column of the j-th largest tracked eigenvalue, j ≥ 1 (<c>lambda_j</c>).</summary>
    public static string LambdaColumn(int j) => "lambda_" + j.ToString(CultureInfo.InvariantCulture);

    static readonly string[] Leading = [StepColumn, EpochColumn, LearningRateColumn, TrainLossColumn, TrainAccuracyColumn, TestLossColumn, TestAccuracyColumn,
        GradNormColumn, DomNormColumn, BulkNormColumn, ChiColumn, ChiEmaColumn, ProjectingColumn, UpdateShareColumn];
    static readonly string[] Trailing = [TwoOverLearningRateColumn, Lambda1FullColumn, BasisOverlapColumn, GapKColumn, MatvecsColumn, RefreshesColumn, SecondsColumn];

    /// <summary>The trailing columns before <see cref="Lambda1FullColumn"/>, <see cref="BasisOverlapColumn"/> and <see cref="GapKColumn"/> existed.</summary>
    static readonly string[] TrailingBeforeRoundThree = [TwoOverLearningRateColumn, MatvecsColumn, RefreshesColumn, SecondsColumn];

    /// <summary>The header for a run tracking <paramref name="k"/> eigenvalues.</summary>
    public static string Header(int k) =>
        string.Join(",", [.. Leading, .. Enumerable.Range(1, Math.Max(k, 1)).Select(LambdaColumn), .. Trailing]);

    /// <summary>The header written before the lambda_1_full, basis_overlap and gap_k columns existed (a resume converts such a file).</summary>
    public static string HeaderBeforeRoundThree(int k) =>
        string.Join(",", [.. Leading, .. Enumerable.Range(1, Math.Max(k, 1)).Select(LambdaColumn), .. TrailingBeforeRoundThree]);

    /// <summary>One metrics.csv line for <paramref name="r"/> with <paramref name="k"/> eigenvalue columns, in the order of <see cref="Header"/>.</summary>
    public static string Line(MetricsRow r, int k)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(r.Step.ToString(c)).Append(',').Append(r.Epoch.ToString(c)).Append(',').Append(D(r.LearningRate))
          .Append(',').Append(D(r.TrainLoss)).Append(',').Append(D(r.TrainAccuracy))
          .Append(',').Append(D(r.TestLoss)).Append(',').Append(D(r.TestAccuracy))
          .Append(',').Append(D(r.GradNorm)).Append(',').Append(D(r.DomNorm)).Append(',').Append(D(r.BulkNorm))
          .Append(',').Append(D(r.Chi)).Append(',').Append(D(r.ChiEma)).Append(',').Append(r.Projecting ? '1' : '0')
          .Append(',').Append(D(r.UpdateShare));
        for (int j = 0; j < Math.Max(k, 1); j++) sb.Append(',').Append(j < r.Eigenvalues.Length ? D(r.Eigenvalues[j]) : "");
        sb.Append(',').Append(D(r.TwoOverLearningRate)).Append(',').Append(D(r.Lambda1Full))
          .Append(',').Append(D(r.BasisOverlap)).Append(',').Append(D(r.GapK)).Append(',').Append(r.Matvecs.ToString(c))
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

    /// <summary>
    /// The rows of the metrics.csv at <paramref name="path"/>, equal bit for bit to the rows that
    /// were written (doubles are round-trip). A file without the <c>update_share</c>, <c>lambda_1_full</c>,
    /// <c>basis_overlap</c> or <c>gap_k</c> column (written before it existed) reads it as null.
    /// Errors name the file, line and column.
    /// </summary>
    public static IReadOnlyList<MetricsRow> Load(string path) => Rows(CsvTable.Load(path));

    /// <summary>The rows of metrics.csv text; <paramref name="source"/> names it in error messages.</summary>
    public static IReadOnlyList<MetricsRow> Parse(string text, string source = "metrics.csv") => Rows(CsvTable.Parse(text, source));

    static IReadOnlyList<MetricsRow> Rows(CsvTable t)
    {
        var lambdas = new List<string>();
        for (int j = 1; t.Has(LambdaColumn(j)); j++) lambdas.Add(LambdaColumn(j));
        var rows = new List<MetricsRow>(t.RowCount);
        static double? N(double v) => double.IsNaN(v) ? null : v;
        for (int i = 0; i < t.RowCount; i++)
        {
            rows.Add(new MetricsRow
            {
                Step = (long)t[i, StepColumn],
                Epoch = (int)t[i, EpochColumn],
                LearningRate = t[i, LearningRateColumn],
                TrainLoss = t[i, TrainLossColumn],
                TrainAccuracy = t[i, TrainAccuracyColumn],
                TestLoss = N(t[i, TestLossColumn]),
                TestAccuracy = N(t[i, TestAccuracyColumn]),
                GradNorm = t[i, GradNormColumn],
                DomNorm = N(t[i, DomNormColumn]),
                BulkNorm = N(t[i, BulkNormColumn]),
                Chi = N(t[i, ChiColumn]),
                ChiEma = N(t[i, ChiEmaColumn]),
                Projecting = t[i, ProjectingColumn] != 0,
                UpdateShare = t.Has(UpdateShareColumn) ? N(t[i, UpdateShareColumn]) : null,
                Lambda1Full = t.Has(Lambda1FullColumn) ? N(t[i, Lambda1FullColumn]) : null,
                BasisOverlap = t.Has(BasisOverlapColumn) ? N(t[i, BasisOverlapColumn]) : null,
                GapK = t.Has(GapKColumn) ? N(t[i, GapKColumn]) : null,
                Eigenvalues = lambdas.Select(c => t[i, c]).TakeWhile(v => !double.IsNaN(v)).ToArray(),
                Matvecs = (long)t[i, MatvecsColumn],
                Refreshes = (int)t[i, RefreshesColumn],
                Seconds = t[i, SecondsColumn],
            });
        }
        return rows;
    }

    static string D(double? v) => v is double x ? x.ToString("R", CultureInfo.InvariantCulture) : "";
}

/// <summary>
/// metrics.csv written as an append-only log: the header once, then the rows of each checkpoint
/// interval appended and flushed to disk (fsync) before the checkpoint that counts them is renamed
/// into place. A checkpoint records how many bytes of the file belong to it, so a kill at any
/// moment leaves a file at least that long; a resume cuts it back to that length and appends from
/// there. Each checkpoint thus costs the rows since the previous one, not every row so far.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);
    readonly FileStream _file;
    readonly int _k;

    MetricsLog(string path, int k, long rows)
    {
        Path = path;
        _k = k;
        Rows = rows;
        _file = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.Read);
        _file.Seek(0, SeekOrigin.End);
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>Rows written after the header.</summary>
    public long Rows { get; private set; }

    /// <summary>Bytes written (header included): what a checkpoint taken now records.</summary>
    public long Length => _file.Position;

    /// <summary>A new log at <paramref name="path"/> holding only the header for <paramref name="k"/> eigenvalue columns (an earlier file is replaced atomically).</summary>
    public static MetricsLog Create(string path, int k)
    {
        Guard.NotNull(path);
        AtomicFile.WriteAllText(path, MetricsCsv.Header(k) + "\n");
        return new MetricsLog(path, k, 0);
    }

    /// <summary>
    /// The log of a run resumed from <paramref name="checkpoint"/> (read from <paramref name="checkpointPath"/>):
    /// the metrics.csv beside the checkpoint, cut back to the <see cref="TrainerCheckpoint.MetricsBytes"/>
    /// that belong to it, written at <paramref name="path"/> (in place when it is the same file).
    /// A version-2 checkpoint's own rows are written instead; a metrics.csv in the layout before the
    /// lambda_1_full, basis_overlap and gap_k columns is rewritten in today's. A metrics.csv that is missing, shorter than
    /// the checkpoint says, or whose prefix does not hold the header and the recorded rows is refused
    /// with a message naming it.
    /// </summary>
    public static MetricsLog Resume(string path, int k, TrainerCheckpoint checkpoint, string checkpointPath)
    {
        Guard.NotNull(path);
        Guard.NotNull(checkpoint);
        Guard.NotNull(checkpointPath);
        if (checkpoint.LegacyMetrics is { } rows)
        {
            AtomicFile.WriteAllText(path, MetricsCsv.Format(rows, k));
            return new MetricsLog(path, k, rows.Count);
        }
        string source = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(checkpointPath))!, System.IO.Path.GetFileName(path));
        long bytes = checkpoint.MetricsBytes;
        if (bytes < 0)
            throw new InvalidDataException($"Option '--resume': checkpoint '{checkpointPath}' records no metrics.csv length; expected a checkpoint written by `curvature train`.");
        if (!File.Exists(source))
            throw new InvalidDataException($"Option '--resume': metrics file '{source}' does not exist; expected the metrics.csv written beside checkpoint '{checkpointPath}' (at least {bytes} bytes).");
        long length = new FileInfo(source).Length;
        if (length < bytes)
            throw new InvalidDataException($"Option '--resume': metrics file '{source}' has {length} bytes but checkpoint '{checkpointPath}' records {bytes}; expected the metrics.csv the checkpoint was written with (at least that long).");
        if (HasHeader(source, MetricsCsv.HeaderBeforeRoundThree(k)))
        {
            // A run written before lambda_1_full, basis_overlap and gap_k existed: its rows are rewritten in today's layout (once, atomically).
            CheckPrefix(source, bytes, MetricsCsv.HeaderBeforeRoundThree(k), checkpoint.MetricsRows);
            if (bytes > int.MaxValue)
                throw new InvalidDataException($"Option '--resume': metrics file '{source}' has {bytes} bytes in the old layout; expected at most {int.MaxValue} to convert.");
            string text;
            using (var fs = File.OpenRead(source))
            using (var prefix = new MemoryStream())
            {
                CopyPrefix(fs, bytes, prefix, null);
                text = Utf8.GetString(prefix.GetBuffer(), 0, (int)prefix.Length);
            }
            var old = MetricsCsv.Parse(text, source);
            AtomicFile.WriteAllText(path, MetricsCsv.Format(old, k));
            return new MetricsLog(path, k, old.Count);
        }
        CheckPrefix(source, bytes, MetricsCsv.Header(k), checkpoint.MetricsRows);
        if (string.Equals(System.IO.Path.GetFullPath(source), System.IO.Path.GetFullPath(path), StringComparison.Ordinal))
        {
            // Rows past the checkpoint (appended before a kill, or by a run that diverged later) are dropped.
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.Read);
            fs.SetLength(bytes);
            fs.Flush(flushToDisk: true);
        }
        else
        {
            AtomicFile.Write(path, (Stream target) =>
            {
                using var fs = File.OpenRead(source);
                CopyPrefix(fs, bytes, target, null);
            });
        }
        return new MetricsLog(path, k, checkpoint.MetricsRows);
    }

    /// <summary>Whether the file begins with the line <paramref name="header"/>.</summary>
    static bool HasHeader(string source, string header)
    {
        byte[] expected = Utf8.GetBytes(header + "\n");
        using var fs = File.OpenRead(source);
        var start = new byte[Math.Min(expected.Length, fs.Length)];
        fs.ReadExactly(start);
        return start.AsSpan().SequenceEqual(expected);
    }

    /// <summary>The first <paramref name="bytes"/> bytes of <paramref name="source"/> hold the line <paramref name="headerLine"/> and exactly <paramref name="rows"/> complete lines after it.</summary>
    static void CheckPrefix(string source, long bytes, string headerLine, long rows)
    {
        byte[] header = Utf8.GetBytes(headerLine + "\n");
        using var fs = File.OpenRead(source);
        var start = new byte[Math.Min(header.Length, bytes)];
        fs.ReadExactly(start);
        fs.Position = 0;
        long lines = 0;
        byte lastByte = 0;
        CopyPrefix(fs, bytes, null, chunk =>
        {
            foreach (byte b in chunk) if (b == (byte)'\n') lines++;
            if (chunk.Length > 0) lastByte = chunk[^1];
        });
        if (!start.AsSpan().SequenceEqual(header) || lines != rows + 1 || lastByte != (byte)'\n')
            throw new InvalidDataException($"Option '--resume': metrics file '{source}' does not begin with the header and {rows} rows the checkpoint records in {bytes} bytes; expected the metrics.csv the checkpoint was written with.");
    }

    delegate void ChunkAction(ReadOnlySpan<byte> chunk);

    /// <summary>Streams the first <paramref name="bytes"/> bytes in fixed chunks (a long file never allocates its size).</summary>
    static void CopyPrefix(Stream from, long bytes, Stream? to, ChunkAction? look)
    {
        var buffer = new byte[1 << 16];
        for (long left = bytes; left > 0;)
        {
            int n = from.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
            if (n == 0) throw new EndOfStreamException();
            to?.Write(buffer, 0, n);
            look?.Invoke(buffer.AsSpan(0, n));
            left -= n;
        }
    }

    /// <summary>Appends the rows (buffered; <see cref="Sync"/> makes them durable).</summary>
    public void Append(IEnumerable<MetricsRow> rows)
    {
        Guard.NotNull(rows);
        foreach (var r in rows)
        {
            _file.Write(Utf8.GetBytes(MetricsCsv.Line(r, _k) + "\n"));
            Rows++;
        }
    }

    /// <summary>Flushes everything appended to disk (fsync): done before a checkpoint that counts these rows is written.</summary>
    public void Sync() => _file.Flush(flushToDisk: true);

    /// <inheritdoc/>
    public void Dispose() => _file.Dispose();
}

using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Curvature.Core;

namespace Curvature.Optimizers;

/// <summary>
/// The complete state of a training run at a step boundary: θ, the optimizer's buffers and χ
/// switch, the tracker (basis, eigenvalues, counters, Hessian batch), the minibatch RNG with
/// the epoch's permutation and position in it, the initial loss divergence is judged against,
/// elapsed time, how much of metrics.csv belongs to it (rows and bytes, plus the last row),
/// and the options that shaped the trajectory. Restoring it and running on gives the same bits
/// as never having stopped. Its size does not grow with the step count: the metrics rows live
/// in metrics.csv beside it, appended row by row. Format version 4 adds each row's update share
/// and ends with the SHA-256 of every byte before it, so a changed or damaged file is refused
/// instead of resuming to a different θ (versions 3 and 2, without either, are still read; version 2
/// carried every row). Version 5 adds the tracker's last basis overlap and gap and the last row's
/// lambda_1_full, basis_overlap and gap_k (version 4 is still read, with them unknown).
/// </summary>
public sealed record TrainerCheckpoint
{
    /// <summary>The options that shaped the trajectory, as name/value pairs; a resume must match them.</summary>
    public required IReadOnlyList<KeyValuePair<string, string>> Fingerprint { get; init; }
    /// <summary>Updates done.</summary>
    public required long Step { get; init; }
    /// <summary>Epochs begun (−1 before the first batch).</summary>
    public required int Epoch { get; init; }
    /// <summary>Position in the epoch's permutation.</summary>
    public required int Position { get; init; }
    /// <summary>The epoch's example order.</summary>
    public required int[] Permutation { get; init; }
    /// <summary>State of the minibatch RNG.</summary>
    public required RngState Rng { get; init; }
    /// <summary>θ at the step boundary.</summary>
    public required double[] Theta { get; init; }
    /// <summary>The first-moment buffer: heavy-ball's v, or Adam's m.</summary>
    public required double[] Velocity { get; init; }
    /// <summary>Adam's second moment s (empty for the other rules).</summary>
    public double[] SecondMoment { get; init; } = [];
    /// <summary>Updates the optimizer has taken (Adam's t of the bias corrections).</summary>
    public long Updates { get; init; }
    /// <summary>EMA of χ_k for the χ switch (NaN before the first step).</summary>
    public required double AlignmentEma { get; init; }
    /// <summary>Whether the χ switch has turned projection on.</summary>
    public required bool Projecting { get; init; }

    /// <summary>The optimizer's share ‖P_dom d‖/‖d‖ of the last update taken (NaN when none was measured; read as NaN from version 3).</summary>
    public double UpdateShare { get; init; } = double.NaN;
    /// <summary>The tracker's state, or null without a tracker.</summary>
    public required TrackerState? Tracker { get; init; }
    /// <summary>The initial training loss divergence is judged against.</summary>
    public required double ReferenceLoss { get; init; }
    /// <summary>Training seconds so far.</summary>
    public required double Seconds { get; init; }
    /// <summary>Where the run stood.</summary>
    public required TrainingStatus Status { get; init; }
    /// <summary>The step it diverged or was interrupted at, or null.</summary>
    public long? StoppedAt { get; init; }
    /// <summary>Rows of metrics.csv (after its header) that belong to this state.</summary>
    public required long MetricsRows { get; init; }

    /// <summary>
    /// Bytes of metrics.csv (header included) that belong to this state: a resume truncates the file
    /// back to this length; −1 when no metrics.csv was written with it (a checkpoint made in memory,
    /// or one read from a version-2 file, which carries its rows in <see cref="LegacyMetrics"/>).
    /// </summary>
    public long MetricsBytes { get; init; } = -1;

    /// <summary>The last metrics row measured, or null: a resume does not measure its step twice and reports it as the final row.</summary>
    public MetricsRow? LastMetrics { get; init; }

    /// <summary>Every metrics row, only for a checkpoint read from a version-2 file (which carried them); null otherwise.</summary>
    public IReadOnlyList<MetricsRow>? LegacyMetrics { get; init; }

    const string Magic = "CURVATURE-CHECKPOINT";
    const int Version = 5;
    const int UnextendedVersion = 4;
    const int LegacyVersion = 2;
    const int UnsummedVersion = 3;
    const int ChecksumBytes = 32;

    /// <summary>Writes the checkpoint to a temporary file beside <paramref name="path"/> and renames it into place.</summary>
    public void Save(string path)
    {
        Guard.NotNull(path);
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        AtomicFile.Write(full, (Stream fs) =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            using (var w = new BinaryWriter(new HashingStream(fs, hash), Encoding.UTF8, leaveOpen: true))
            {
                Write(w);
                w.Flush();
            }
            fs.Write(hash.GetHashAndReset());
        });
    }

    /// <summary>Reads a checkpoint; a missing, foreign or truncated file raises an exception naming the path.</summary>
    public static TrainerCheckpoint Load(string path)
    {
        Guard.NotNull(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"Checkpoint '{path}' does not exist; expected a file written by a training run.", path);
        try
        {
            using var fs = File.OpenRead(path);
            bool summed = PeekVersion(fs) is Version or UnextendedVersion;
            // The checksum first: a damaged file is refused as such, whatever its damaged fields would parse to.
            if (summed && !ChecksumHolds(fs)) throw ChecksumFailed(path);
            long end = summed ? fs.Length - ChecksumBytes : fs.Length;
            fs.Position = 0;
            using var r = new BinaryReader(fs, Encoding.UTF8, leaveOpen: true);
            var c = Read(r, path);
            if (fs.Position != end)
                throw new InvalidDataException($"Checkpoint '{path}' has {end - fs.Position} bytes after its end; expected none.");
            return c;
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"Checkpoint '{path}' is truncated; expected a complete checkpoint file.");
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
        {
            throw new InvalidDataException($"Checkpoint '{path}' is corrupt ({e.Message.TrimEnd('.')}); expected a file written by a training run.", e);
        }
    }

    /// <summary>The format version after the magic, or 0 for a file that does not start like a checkpoint (Read names it); the stream is rewound.</summary>
    static int PeekVersion(Stream fs)
    {
        try
        {
            using var r = new BinaryReader(fs, Encoding.UTF8, leaveOpen: true);
            return r.ReadString() == Magic ? r.ReadInt32() : 0;
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or FormatException) { return 0; }
        finally { fs.Position = 0; }
    }

    /// <summary>Whether the SHA-256 of every byte but the last 32 equals those 32.</summary>
    static bool ChecksumHolds(Stream fs)
    {
        if (fs.Length < ChecksumBytes) return false;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 16];
        long left = fs.Length - ChecksumBytes;
        fs.Position = 0;
        while (left > 0)
        {
            int n = fs.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
            if (n <= 0) return false;
            hash.AppendData(buffer, 0, n);
            left -= n;
        }
        var stored = new byte[ChecksumBytes];
        fs.ReadExactly(stored);
        return CryptographicOperations.FixedTimeEquals(stored, hash.GetHashAndReset());
    }

    static InvalidDataException ChecksumFailed(string path) =>
        new($"Checkpoint '{path}' fails its SHA-256 checksum: it was truncated, edited or damaged after it was written; expected the file a training run wrote.");

    /// <summary>Passes every byte written on to the file and into the checksum.</summary>
    sealed class HashingStream(Stream inner, IncrementalHash hash) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            hash.AppendData(buffer);
            inner.Write(buffer);
        }
    }

    void Write(BinaryWriter w)
    {
        w.Write(Magic);
        w.Write(Version);
        w.Write(Fingerprint.Count);
        foreach (var (k, v) in Fingerprint) { w.Write(k); w.Write(v); }
        w.Write(Step); w.Write(Epoch); w.Write(Position);
        WriteInts(w, Permutation);
        w.Write(Rng.S0); w.Write(Rng.S1); w.Write(Rng.S2); w.Write(Rng.S3); w.Write(Rng.HasSpare); w.Write(Rng.Spare);
        WriteDoubles(w, Theta);
        WriteDoubles(w, Velocity);
        WriteDoubles(w, SecondMoment); w.Write(Updates);
        w.Write(AlignmentEma); w.Write(Projecting); w.Write(UpdateShare);
        w.Write(Tracker is not null);
        if (Tracker is { } t)
        {
            w.Write(t.K); w.Write(t.Dimension);
            WriteDoubles(w, t.Basis); WriteDoubles(w, t.Eigenvalues); WriteDoubles(w, t.Residuals);
            w.Write(t.Converged); w.Write(t.Refreshes); w.Write(t.Matvecs); w.Write(t.LastMatvecs);
            w.Write(t.HessianBatch is not null);
            if (t.HessianBatch is not null) WriteInts(w, t.HessianBatch);
            w.Write(t.LastOverlap); w.Write(t.LastGap);
        }
        w.Write(ReferenceLoss); w.Write(Seconds); w.Write((int)Status); w.Write(StoppedAt ?? -1L);
        // Version 3: a constant-size reference into metrics.csv instead of every row (version 2).
        w.Write(MetricsRows); w.Write(MetricsBytes);
        w.Write(LastMetrics is not null);
        if (LastMetrics is { } m) WriteRow(w, m);
    }

    static void WriteRow(BinaryWriter w, MetricsRow m)
    {
        w.Write(m.Step); w.Write(m.Epoch); w.Write(m.LearningRate); w.Write(m.TrainLoss); w.Write(m.TrainAccuracy);
        WriteOptional(w, m.TestLoss); WriteOptional(w, m.TestAccuracy);
        w.Write(m.GradNorm); WriteOptional(w, m.DomNorm); WriteOptional(w, m.BulkNorm);
        WriteOptional(w, m.Chi); WriteOptional(w, m.ChiEma); w.Write(m.Projecting);
        WriteDoubles(w, m.Eigenvalues);
        w.Write(m.Matvecs); w.Write(m.Refreshes); w.Write(m.Seconds);
        // A fixed 8 bytes (NaN for none), so a checkpoint's size does not depend on which row is last.
        w.Write(m.UpdateShare ?? double.NaN);
        w.Write(m.Lambda1Full ?? double.NaN); w.Write(m.BasisOverlap ?? double.NaN); w.Write(m.GapK ?? double.NaN);
    }

    static MetricsRow ReadRow(BinaryReader r, string path, int version) => new()
    {
        Step = r.ReadInt64(), Epoch = r.ReadInt32(), LearningRate = r.ReadDouble(), TrainLoss = r.ReadDouble(), TrainAccuracy = r.ReadDouble(),
        TestLoss = ReadOptional(r), TestAccuracy = ReadOptional(r),
        GradNorm = r.ReadDouble(), DomNorm = ReadOptional(r), BulkNorm = ReadOptional(r),
        Chi = ReadOptional(r), ChiEma = ReadOptional(r), Projecting = r.ReadBoolean(),
        Eigenvalues = ReadDoubles(r, path),
        Matvecs = r.ReadInt64(), Refreshes = r.ReadInt32(), Seconds = r.ReadDouble(),
        UpdateShare = version >= UnextendedVersion ? Optional(r.ReadDouble()) : null,
        Lambda1Full = version >= Version ? Optional(r.ReadDouble()) : null,
        BasisOverlap = version >= Version ? Optional(r.ReadDouble()) : null,
        GapK = version >= Version ? Optional(r.ReadDouble()) : null,
    };

    static double? Optional(double v) => double.IsNaN(v) ? null : v;

    static TrainerCheckpoint Read(BinaryReader r, string path)
    {
        string magic;
        try { magic = r.ReadString(); }
        catch (Exception e) when (e is EndOfStreamException or IOException or FormatException)
        {
            magic = "";
        }
        if (magic != Magic)
            throw new InvalidDataException($"File '{path}' is not a Curvature checkpoint; expected one written by a training run.");
        int version = r.ReadInt32();
        if (version != Version && version != UnextendedVersion && version != UnsummedVersion && version != LegacyVersion)
            throw new InvalidDataException($"Checkpoint '{path}' has format version {version}; expected {Version} (or {UnextendedVersion}, {UnsummedVersion} or {LegacyVersion}, still read).");
        int pairs = Count(r, r.ReadInt32(), path, 2);
        var fingerprint = new List<KeyValuePair<string, string>>(pairs);
        for (int i = 0; i < pairs; i++) fingerprint.Add(new(r.ReadString(), r.ReadString()));
        long step = r.ReadInt64(); int epoch = r.ReadInt32(); int position = r.ReadInt32();
        var permutation = ReadInts(r, path);
        var rng = new RngState(r.ReadUInt64(), r.ReadUInt64(), r.ReadUInt64(), r.ReadUInt64(), r.ReadBoolean(), r.ReadDouble());
        var theta = ReadDoubles(r, path);
        var velocity = ReadDoubles(r, path);
        // Version 2 predates Adam: no second moment, and t is only needed by Adam's bias corrections.
        double[] secondMoment = [];
        long updates = 0;
        if (version != LegacyVersion) { secondMoment = ReadDoubles(r, path); updates = r.ReadInt64(); }
        double ema = r.ReadDouble(); bool projecting = r.ReadBoolean();
        double updateShare = version >= UnextendedVersion ? r.ReadDouble() : double.NaN;
        TrackerState? tracker = null;
        if (r.ReadBoolean())
        {
            int k = r.ReadInt32(), dim = r.ReadInt32();
            var basis = ReadDoubles(r, path); var values = ReadDoubles(r, path); var residuals = ReadDoubles(r, path);
            int converged = r.ReadInt32(), refreshes = r.ReadInt32(); long matvecs = r.ReadInt64(); int last = r.ReadInt32();
            int[]? batch = r.ReadBoolean() ? ReadInts(r, path) : null;
            double overlap = double.NaN, gap = double.NaN;
            if (version >= Version) { overlap = r.ReadDouble(); gap = r.ReadDouble(); }
            // k basis rows, then the gap-certified refresh's guard rows (none in older checkpoints).
            if (!((dim > 0 && basis.Length % dim == 0 && basis.Length >= (long)k * dim) || (refreshes == 0 && basis.Length == 0)))
                throw new InvalidDataException($"Checkpoint '{path}' holds a basis of {basis.Length} numbers; expected k×n = {k}x{dim} followed by whole guard rows.");
            tracker = new TrackerState(k, dim, basis, values, residuals, converged, refreshes, matvecs, last, batch, overlap, gap);
        }
        double reference = r.ReadDouble(), seconds = r.ReadDouble();
        int statusCode = r.ReadInt32();
        if (!Enum.IsDefined((TrainingStatus)statusCode))
            throw new InvalidDataException($"Checkpoint '{path}' has status code {statusCode}; expected one of {string.Join(", ", Enum.GetValues<TrainingStatus>().Select(v => (int)v))}.");
        var status = (TrainingStatus)statusCode;
        long stoppedRaw = r.ReadInt64();
        long? stoppedAt = stoppedRaw < 0 ? null : stoppedRaw;
        long metricsRows, metricsBytes = -1;
        MetricsRow? lastRow;
        List<MetricsRow>? legacy = null;
        if (version == LegacyVersion)
        {
            int rows = Count(r, r.ReadInt32(), path, MinRowBytes);
            legacy = new List<MetricsRow>(rows);
            for (int i = 0; i < rows; i++) legacy.Add(ReadRow(r, path, version));
            metricsRows = rows;
            lastRow = rows > 0 ? legacy[^1] : null;
        }
        else
        {
            metricsRows = r.ReadInt64(); metricsBytes = r.ReadInt64();
            if (metricsRows < 0 || metricsBytes < -1)
                throw new InvalidDataException($"Checkpoint '{path}' records {metricsRows} metrics rows in {metricsBytes} bytes; expected non-negative counts.");
            lastRow = r.ReadBoolean() ? ReadRow(r, path, version) : null;
        }
        if (secondMoment.Length != 0 && secondMoment.Length != theta.Length)
            throw new InvalidDataException($"Checkpoint '{path}' has θ of length {theta.Length} but a second-moment buffer of length {secondMoment.Length}; expected 0 or equal lengths.");
        if (updates < 0)
            throw new InvalidDataException($"Checkpoint '{path}' records {updates} optimizer updates; expected a non-negative count.");
        if (theta.Length != velocity.Length)
            throw new InvalidDataException($"Checkpoint '{path}' has θ of length {theta.Length} but a momentum buffer of length {velocity.Length}; expected equal lengths.");
        return new TrainerCheckpoint
        {
            Fingerprint = fingerprint, Step = step, Epoch = epoch, Position = position, Permutation = permutation, Rng = rng,
            Theta = theta, Velocity = velocity, SecondMoment = secondMoment, Updates = updates, AlignmentEma = ema, Projecting = projecting, UpdateShare = updateShare, Tracker = tracker,
            ReferenceLoss = reference, Seconds = seconds, Status = status, StoppedAt = stoppedAt,
            MetricsRows = metricsRows, MetricsBytes = metricsBytes, LastMetrics = lastRow, LegacyMetrics = legacy,
        };
    }

    /// <summary>Bytes of the smallest metrics row: step, epoch, four doubles, six flags, eigenvalue count, matvecs, refreshes, seconds.</summary>
    const int MinRowBytes = 8 + 4 + 8 * 3 + 6 + 8 + 4 + 8 + 4 + 8;

    /// <summary>A count read from the file, bounded by the bytes left (each item needs at least <paramref name="itemBytes"/>), so a crafted length never allocates.</summary>
    static int Count(BinaryReader r, int n, string path, int itemBytes)
    {
        if (n < 0)
            throw new InvalidDataException($"Checkpoint '{path}' has a negative length {n}; expected a valid checkpoint file.");
        long left = r.BaseStream.Length - r.BaseStream.Position;
        if ((long)n * itemBytes > left)
            throw new InvalidDataException($"Checkpoint '{path}' is truncated or corrupt: it declares {n} items but only {left} bytes follow; expected a complete checkpoint file.");
        return n;
    }

    static void WriteDoubles(BinaryWriter w, double[] a)
    {
        w.Write(a.Length);
        // BinaryWriter is little-endian; on such a machine the array's bytes are already that layout.
        if (BitConverter.IsLittleEndian) w.Write(MemoryMarshal.AsBytes(a.AsSpan()));
        else foreach (var x in a) w.Write(x);
    }

    static double[] ReadDoubles(BinaryReader r, string path)
    {
        int n = Count(r, r.ReadInt32(), path, sizeof(double));
        var a = new double[n];
        if (BitConverter.IsLittleEndian) r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(a.AsSpan()));
        else for (int i = 0; i < n; i++) a[i] = r.ReadDouble();
        return a;
    }

    static void WriteInts(BinaryWriter w, int[] a)
    {
        w.Write(a.Length);
        foreach (var x in a) w.Write(x);
    }

    static int[] ReadInts(BinaryReader r, string path)
    {
        int n = Count(r, r.ReadInt32(), path, sizeof(int));
        var a = new int[n];
        for (int i = 0; i < n; i++) a[i] = r.ReadInt32();
        return a;
    }

    static void WriteOptional(BinaryWriter w, double? v)
    {
        w.Write(v.HasValue);
        if (v.HasValue) w.Write(v.Value);
    }

    static double? ReadOptional(BinaryReader r) => r.ReadBoolean() ? r.ReadDouble() : null;
}

using System.Buffers.Binary;
using System.IO.Compression;
using Curvature.Core;

namespace Curvature.Models;

/// <summary>Element types of the IDX format (the third magic byte).</summary>
public enum IdxType : byte
{
    /// <summary>Unsigned byte (0x08), the type of MNIST images and labels.</summary>
    UByte = 0x08,

    /// <summary>Signed byte (0x09).</summary>
    SByte = 0x09,

    /// <summary>Big-endian signed 16-bit integer (0x0B).</summary>
    Int16 = 0x0B,

    /// <summary>Big-endian signed 32-bit integer (0x0C).</summary>
    Int32 = 0x0C,

    /// <summary>Big-endian IEEE single (0x0D).</summary>
    Float32 = 0x0D,

    /// <summary>Big-endian IEEE double (0x0E).</summary>
    Float64 = 0x0E,
}

/// <summary>An IDX array: element type, shape, and the payload bytes exactly as stored
/// (big-endian for multi-byte types).</summary>
public sealed class IdxArray
{
    /// <summary>The element type (third magic byte).</summary>
    public IdxType Type { get; }

    /// <summary>The dimensions, outermost first (C order), e.g. [count, rows, cols].</summary>
    public int[] Shape { get; }

    /// <summary>Payload in file order; one byte per element for UByte/SByte.</summary>
    public byte[] Payload { get; }

    /// <summary>Wraps a payload; its length must be the product of <paramref name="shape"/>
    /// times the element size of <paramref name="type"/>.</summary>
    /// <exception cref="ArgumentException">The payload length does not match the shape, or a
    /// dimension is negative.</exception>
    public IdxArray(IdxType type, int[] shape, byte[] payload)
    {
        Guard.NotNull(shape);
        Guard.NotNull(payload);
        long count = 1;
        foreach (int d in shape) { Guard.NonNegative(d); count *= d; }
        if (count * Idx.ElementSize(type) != payload.Length)
            throw new ArgumentException($"Argument 'payload' has {payload.Length} bytes; expected {count * Idx.ElementSize(type)} for shape [{string.Join(", ", shape)}] of {type}.", nameof(payload));
        Type = type; Shape = shape; Payload = payload;
    }

    /// <summary>The number of elements (product of <see cref="Shape"/>).</summary>
    public long Count => Payload.Length / Idx.ElementSize(Type);

    /// <summary>The elements as doubles, decoding the big-endian payload.</summary>
    public double[] ToDoubles()
    {
        var v = new double[Count];
        ReadOnlySpan<byte> p = Payload;
        for (int i = 0; i < v.Length; i++)
        {
            v[i] = Type switch
            {
                IdxType.UByte => p[i],
                IdxType.SByte => (sbyte)p[i],
                IdxType.Int16 => BinaryPrimitives.ReadInt16BigEndian(p[(2 * i)..]),
                IdxType.Int32 => BinaryPrimitives.ReadInt32BigEndian(p[(4 * i)..]),
                IdxType.Float32 => BinaryPrimitives.ReadSingleBigEndian(p[(4 * i)..]),
                _ => BinaryPrimitives.ReadDoubleBigEndian(p[(8 * i)..]),
            };
        }
        return v;
    }
}

/// <summary>
/// Reader (and a small writer) for the IDX format used by MNIST: a 4-byte magic
/// 00 00 TYPE NDIMS, NDIMS big-endian uint32 dimensions, then the elements big-endian in
/// C order. Input may be raw or gzip-compressed (recognized by its 1F 8B magic).
/// <para>
/// Readers throw <see cref="InvalidDataException"/> for every kind of bad content — wrong
/// magic, unknown type, zero or too many dimensions, dimension product overflow, corrupt
/// gzip, truncated or trailing data, wrong MNIST magic (2051 images / 2049 labels), label
/// out of range — with a one-line message naming the file or resource and what was
/// expected; and <see cref="FileNotFoundException"/> for a missing file. No other
/// exception type escapes for bad content (checked by FuzzTests).
/// </para>
/// </summary>
public static class Idx
{
    /// <summary>The IDX magic of MNIST image files: 00 00 08 03 (ubyte, 3 dims).</summary>
    public const int ImagesMagic = 2051;

    /// <summary>The IDX magic of MNIST label files: 00 00 08 01 (ubyte, 1 dim).</summary>
    public const int LabelsMagic = 2049;

    const int MaxDims = 8;

    /// <summary>The largest payload a reader accepts: 256 MiB (2^28 bytes), five times the
    /// full 60,000-image MNIST training file. The declared dimensions are checked against it
    /// before anything is allocated, and the payload is then read in chunks of at most 1 MiB
    /// that grow only with the bytes the (possibly gzip-decompressed) stream really delivers,
    /// so a small compressed file that declares or expands to gigabytes fails early.</summary>
    public const long MaxPayloadBytes = 1L << 28;

    const int Chunk = 1 << 20;

    /// <summary>Bytes per element of <paramref name="type"/>: 1, 2, 4 or 8.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not an IDX type code.</exception>
    public static int ElementSize(IdxType type) => type switch
    {
        IdxType.UByte or IdxType.SByte => 1,
        IdxType.Int16 => 2,
        IdxType.Int32 or IdxType.Float32 => 4,
        IdxType.Float64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(type), $"Argument 'type' was 0x{(byte)type:X2}; expected an IDX type code 08, 09, 0B, 0C, 0D or 0E."),
    };

    static InvalidDataException Bad(string name, string what) => new($"{name}: {what}.");

    // ---------------------------------------------------------------- generic

    /// <summary>Reads any IDX array from a raw or gzip file.</summary>
    public static IdxArray Read(string path)
    {
        using var s = OpenForRead(path);
        return Read(s, path);
    }

    /// <summary>Reads any IDX array from <paramref name="stream"/> (raw or gzip), which must
    /// end where the data ends; <paramref name="name"/> names the source in error messages.</summary>
    public static IdxArray Read(Stream stream, string name)
    {
        Guard.NotNull(stream);
        Guard.NotNull(name);
        // A raw seekable file tells its length: the declared size is checked against it before
        // allocating. Through gzip only the bytes actually delivered count.
        long start = stream.CanSeek ? stream.Position : -1;
        using var s = Decompressing(stream, name, out bool gzip);
        long available = !gzip && start >= 0 ? stream.Length - start : -1;
        try
        {
            return ReadBody(s, name, available);
        }
        catch (InvalidDataException e) when (e.Message is not null && !e.Message.StartsWith(name + ": ", StringComparison.Ordinal))
        {
            // GZipStream's own complaints ("unsupported compression method", ...) carry no file name.
            throw Bad(name, $"corrupt gzip data ({OneLine(e.Message)}); expected a valid gzip stream");
        }
    }

    static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim().TrimEnd('.');

    static IdxArray ReadBody(Stream s, string name, long available)
    {
        Span<byte> magic = stackalloc byte[4];
        int got = ReadUpTo(s, magic);
        if (got < 4)
            throw Bad(name, $"file has only {got} bytes; expected a 4-byte IDX magic 00 00 TYPE NDIMS");
        if (magic[0] != 0 || magic[1] != 0)
            throw Bad(name, $"magic is {Convert.ToHexString(magic)}; expected IDX magic 0000TTNN (two zero bytes, type, dimension count)");
        var type = (IdxType)magic[2];
        if (!Enum.IsDefined(type))
            throw Bad(name, $"IDX type code is 0x{magic[2]:X2}; expected 08 (ubyte), 09, 0B, 0C, 0D or 0E");
        int ndims = magic[3];
        if (ndims is < 1 or > MaxDims)
            throw Bad(name, $"IDX header has {ndims} dimensions; expected 1 to {MaxDims}");
        var dimBytes = new byte[4 * ndims];
        if (ReadUpTo(s, dimBytes) < dimBytes.Length)
            throw Bad(name, $"file ends inside the {ndims} dimension sizes; expected a complete IDX header");
        var shape = new int[ndims];
        var dims = new uint[ndims];
        for (int k = 0; k < ndims; k++) dims[k] = BinaryPrimitives.ReadUInt32BigEndian(dimBytes.AsSpan(4 * k));
        int size = ElementSize(type);
        long limit = Math.Min(MaxPayloadBytes, Array.MaxLength) / size;
        // The product in 128 bits, capped just above long.MaxValue: exact whenever it matters.
        UInt128 product = 1;
        bool huge = false;
        foreach (uint d in dims)
        {
            product *= d;
            if (product > long.MaxValue) { huge = true; product = (UInt128)long.MaxValue + 1; }
        }
        if (dims.Contains(0u)) { product = 0; huge = false; }
        if (huge || product > (UInt128)limit)
        {
            string declared = huge ? $"more than {long.MaxValue}" : ((long)product).ToString(System.Globalization.CultureInfo.InvariantCulture);
            throw Bad(name, $"dimensions [{string.Join(", ", dims)}] of {type} declare {declared} elements; expected at most {limit} elements ({MaxPayloadBytes} bytes, Idx.MaxPayloadBytes)");
        }
        for (int k = 0; k < ndims; k++)
        {
            if (dims[k] > int.MaxValue)
                throw Bad(name, $"dimension {k} is {dims[k]}; expected at most {int.MaxValue}");
            shape[k] = (int)dims[k];
        }
        long count = (long)product;
        long bytes = count * size;
        long headerBytes = 4 + 4L * ndims;
        if (available >= 0 && available - headerBytes < bytes)
            throw Bad(name, $"data is truncated: {Math.Max(0, available - headerBytes)} of {bytes} bytes present for dimensions [{string.Join(", ", shape)}]; expected {bytes}");
        byte[] payload = ReadPayload(s, bytes, name);
        return new IdxArray(type, shape, payload);
    }

    // ---------------------------------------------------------------- MNIST

    /// <summary>Reads an MNIST image file (magic 2051, ubyte n×rows×cols).</summary>
    public static (byte[] Pixels, int Count, int Rows, int Cols) ReadImages(Stream stream, string name)
    {
        var a = ReadWithMagic(stream, name, ImagesMagic, "images (ubyte, 3 dimensions)");
        return (a.Payload, a.Shape[0], a.Shape[1], a.Shape[2]);
    }

    /// <inheritdoc cref="ReadImages(Stream, string)"/>
    public static (byte[] Pixels, int Count, int Rows, int Cols) ReadImages(string path)
    {
        using var s = OpenForRead(path);
        return ReadImages(s, path);
    }

    /// <summary>Reads an MNIST label file (magic 2049, ubyte n) and checks every label is
    /// in [0, <paramref name="classes"/>).</summary>
    public static byte[] ReadLabels(Stream stream, string name, int classes = 10)
    {
        Guard.InRange(classes, 1, 256);
        var a = ReadWithMagic(stream, name, LabelsMagic, "labels (ubyte, 1 dimension)");
        byte[] labels = a.Payload;
        for (int i = 0; i < labels.Length; i++)
            if (labels[i] >= classes)
                throw Bad(name, $"label {labels[i]} at index {i} is out of range; expected a class in [0, {classes})");
        return labels;
    }

    /// <inheritdoc cref="ReadLabels(Stream, string, int)"/>
    public static byte[] ReadLabels(string path, int classes = 10)
    {
        using var s = OpenForRead(path);
        return ReadLabels(s, path, classes);
    }

    static IdxArray ReadWithMagic(Stream stream, string name, int expected, string what)
    {
        var a = Read(stream, name);
        int magic = ((byte)a.Type << 8) | a.Shape.Length;
        if (magic != expected)
            throw Bad(name, $"IDX magic is {magic} (type 0x{(byte)a.Type:X2}, {a.Shape.Length} dimensions); expected {expected} for MNIST {what}");
        return a;
    }

    // ---------------------------------------------------------------- writing

    /// <summary>Writes an IDX array (optionally gzip-compressed) to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, IdxArray array, bool gzip)
    {
        Guard.NotNull(stream);
        Guard.NotNull(array);
        if (array.Shape.Length is < 1 or > MaxDims)
            throw new ArgumentException($"Argument 'array' has {array.Shape.Length} dimensions; expected 1 to {MaxDims}.", nameof(array));
        Stream target = gzip ? new GZipStream(stream, CompressionLevel.Optimal, leaveOpen: true) : stream;
        try
        {
            Span<byte> head = stackalloc byte[4];
            head[0] = 0; head[1] = 0; head[2] = (byte)array.Type; head[3] = (byte)array.Shape.Length;
            target.Write(head);
            foreach (int d in array.Shape)
            {
                BinaryPrimitives.WriteInt32BigEndian(head, d);
                target.Write(head);
            }
            target.Write(array.Payload);
        }
        finally
        {
            if (gzip) target.Dispose();
        }
    }

    /// <summary>Writes an IDX file via a temporary name and a rename.</summary>
    public static void Write(string path, IdxArray array, bool gzip)
    {
        Guard.NotNull(array);
        AtomicFile.Write(path, (Stream fs) => Write(fs, array, gzip));
    }

    // ---------------------------------------------------------------- plumbing

    static FileStream OpenForRead(string path)
    {
        Guard.NotNull(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"File '{path}' does not exist; expected an IDX file.", path);
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
    }

    /// <summary>Returns a stream of the decompressed content when the input starts with the
    /// gzip magic, else a stream of the input itself; the two peeked bytes are replayed.</summary>
    static Stream Decompressing(Stream s, string name, out bool gzip)
    {
        var head = new byte[2];
        int got = ReadUpTo(s, head);
        var replay = new ReplayStream(head.AsSpan(0, got).ToArray(), s);
        gzip = got == 2 && head[0] == 0x1F && head[1] == 0x8B;
        if (gzip)
            return new GZipStream(replay, CompressionMode.Decompress, leaveOpen: false);
        return replay;
    }

    static byte[] ReadPayload(Stream s, long bytes, string name)
    {
        // Grow with what actually arrives: a corrupt dimension must not make us allocate
        // more than the (possibly decompressed) stream really holds. Each read asks for at
        // most one chunk, and the buffer at most doubles, so memory stays within twice the
        // bytes delivered (and never above the declared size, itself ≤ MaxPayloadBytes).
        var buf = new byte[(int)Math.Min(bytes, Chunk)];
        long have = 0;
        while (have < bytes)
        {
            if (have == buf.Length)
                Array.Resize(ref buf, (int)Math.Min(bytes, Math.Max(2L * buf.Length, 1)));
            int n = s.Read(buf, (int)have, (int)Math.Min(Chunk, buf.Length - have));
            if (n == 0)
                throw Bad(name, $"data is truncated: {have} of {bytes} bytes present; expected {bytes}");
            have += n;
        }
        Span<byte> one = stackalloc byte[1];
        if (s.Read(one) != 0)
            throw Bad(name, $"bytes follow the {bytes} data bytes; expected the file to end there");
        return buf;
    }

    static int ReadUpTo(Stream s, Span<byte> buf)
    {
        int total = 0;
        while (total < buf.Length)
        {
            int n = s.Read(buf[total..]);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    /// <summary>Reads <c>prefix</c>, then the rest of <c>inner</c> (not disposed: the caller owns it).</summary>
    sealed class ReplayStream(byte[] prefix, Stream inner) : Stream
    {
        int _pos;

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (buffer.IsEmpty) return 0;
            if (_pos < prefix.Length)
            {
                int n = Math.Min(buffer.Length, prefix.Length - _pos);
                prefix.AsSpan(_pos, n).CopyTo(buffer);
                _pos += n;
                return n;
            }
            return inner.Read(buffer);
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

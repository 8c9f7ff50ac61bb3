using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;

namespace Curvature.Core;

/// <summary>Element types of <c>.npy</c> files that Curvature reads. Floating types are
/// held as double, integer types as long; Float64 and Int64 are also what it writes.</summary>
public enum NpyDtype
{
    /// <summary>Little-endian IEEE double, descr <c>'&lt;f8'</c>.</summary>
    Float64,

    /// <summary>Little-endian signed 64-bit integer, descr <c>'&lt;i8'</c>.</summary>
    Int64,

    /// <summary>Little-endian IEEE single, descr <c>'&lt;f4'</c> (read only; widened to double exactly).</summary>
    Float32,

    /// <summary>Little-endian signed 32-bit integer, descr <c>'&lt;i4'</c> (read only; widened to long).</summary>
    Int32,

    /// <summary>Unsigned byte, descr <c>'|u1'</c> (read only; widened to long).</summary>
    UInt8,
}

/// <summary>One array read from a <c>.npy</c> file (or an <c>.npz</c> entry): its shape
/// (C order) and its elements in exactly one of <see cref="Float64"/> (floating dtypes) or
/// <see cref="Int64"/> (integer dtypes).</summary>
public sealed class NpyArray
{
    /// <summary>The element type held in memory: <see cref="NpyDtype.Float64"/> for float64
    /// and float32 files, <see cref="NpyDtype.Int64"/> for int64, int32 and uint8 files.
    /// <see cref="StoredDtype"/> tells which one the file had.</summary>
    public NpyDtype Dtype { get; }

    /// <summary>The element type as stored in the file.</summary>
    public NpyDtype StoredDtype { get; }

    /// <summary>The dimensions: [n] or [rows, cols] from <see cref="Npy.Read(string)"/>;
    /// 0 to <see cref="Npy.MaxRank"/> dimensions from <see cref="Npz.Read(string)"/>.</summary>
    public int[] Shape { get; }

    /// <summary>The elements in C order when <see cref="Dtype"/> is Float64, else null.</summary>
    public double[]? Float64 { get; }

    /// <summary>The elements in C order when <see cref="Dtype"/> is Int64, else null.</summary>
    public long[]? Int64 { get; }

    internal NpyArray(int[] shape, double[] data, NpyDtype stored = NpyDtype.Float64) { Dtype = NpyDtype.Float64; StoredDtype = stored; Shape = shape; Float64 = data; }

    internal NpyArray(int[] shape, long[] data, NpyDtype stored = NpyDtype.Int64) { Dtype = NpyDtype.Int64; StoredDtype = stored; Shape = shape; Int64 = data; }

    /// <summary>The shape as numpy prints it, e.g. (3, 4) or (5,).</summary>
    public string ShapeText => Npy.FormatShape(Shape);

    /// <summary>The file's descr: '&lt;f8', '&lt;f4', '&lt;i8', '&lt;i4' or '|u1'.</summary>
    public string Descr => Npy.DescrOf(StoredDtype);
}

/// <summary>
/// Reader and writer for NumPy's <c>.npy</c> format, restricted to what Curvature exchanges
/// with PyTorch/JAX: C order, 1-D or 2-D; float64 ('&lt;f8') and int64 ('&lt;i8') read and
/// written; float32 ('&lt;f4'), int32 ('&lt;i4') and uint8 ('|u1') read and widened to double
/// or long. Format versions 1.0 and 2.0 are read; 1.0 is written. Sizes are bounded: the
/// header's shape is checked against <see cref="MaxElements"/> and against the bytes the file
/// holds before anything is allocated.
/// <para>
/// Every reader throws <see cref="InvalidDataException"/> (System.IO) for bad content —
/// bad magic, unsupported version, malformed or unexpected header, big-endian or other
/// dtypes, Fortran order, 0-D or 3-D+ shapes, more than <see cref="MaxElements"/> elements,
/// truncated or trailing data — with a one-line
/// message naming the file and what was expected; and <see cref="FileNotFoundException"/>
/// for a missing file. No other exception type escapes for bad content (checked by
/// FuzzTests). Invalid arguments (null, shape not matching the data) throw ArgumentException.
/// </para>
/// </summary>
public static class Npy
{
    static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    // A legitimate header for a 1-D/2-D array is under 200 bytes; the cap keeps a corrupt
    // version-2.0 length field from making us allocate gigabytes before failing.
    const int MaxHeaderLength = 1 << 20;

    const int Alignment = 64;

    /// <summary>The most elements one array may declare: 2^27 (134,217,728; 1 GiB as
    /// doubles) — a dense 11,585 × 11,585 matrix. A header declaring more is refused before
    /// anything is allocated.</summary>
    public const long MaxElements = 1L << 27;

    /// <summary>The most dimensions an <c>.npz</c> entry may have (a convolution weight has 4).</summary>
    public const int MaxRank = 8;

    internal const string Accepted = "'<f8' (float64), '<f4' (float32), '<i8' (int64), '<i4' (int32) or '|u1' (uint8)";

    internal static string DescrOf(NpyDtype d) => d switch
    {
        NpyDtype.Float64 => "<f8",
        NpyDtype.Float32 => "<f4",
        NpyDtype.Int64 => "<i8",
        NpyDtype.Int32 => "<i4",
        _ => "|u1",
    };

    static int ItemSize(NpyDtype d) => d switch
    {
        NpyDtype.Float64 or NpyDtype.Int64 => 8,
        NpyDtype.Float32 or NpyDtype.Int32 => 4,
        _ => 1,
    };

    // ---------------------------------------------------------------- reading

    /// <summary>Reads a 1-D or 2-D array of any accepted dtype (float64, float32, int64,
    /// int32, uint8), widened to double or long.</summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">Bad content; the message names the file.</exception>
    public static NpyArray Read(string path)
    {
        using var s = OpenForRead(path);
        return Read(s, path);
    }

    /// <summary>Reads a 1-D or 2-D array from <paramref name="stream"/>, which must end where
    /// the data ends; <paramref name="name"/> names the source in error messages.</summary>
    /// <exception cref="InvalidDataException">Bad content; the message starts with <paramref name="name"/>.</exception>
    public static NpyArray Read(Stream stream, string name) => Read(stream, name, minRank: 1, maxRank: 2, MaxElements);

    /// <summary>Reads an array of rank <paramref name="minRank"/>..<paramref name="maxRank"/>
    /// holding at most <paramref name="maxElements"/> elements.</summary>
    internal static NpyArray Read(Stream stream, string name, int minRank, int maxRank, long maxElements)
    {
        Guard.NotNull(stream);
        Guard.NotNull(name);
        var (dtype, shape) = ReadHeader(stream, name);
        if (shape.Length < minRank || shape.Length > maxRank)
            throw Bad(name, maxRank == 2
                ? $"shape {FormatShape(shape)} has {shape.Length} dimensions; expected a 1-D (n,) or 2-D (rows, cols) array"
                : $"shape {FormatShape(shape)} has {shape.Length} dimensions; expected {minRank} to {maxRank}");
        long count = ElementCount(shape, name, maxElements);
        byte[] raw = ReadPayload(stream, count * ItemSize(dtype), name, dtype, shape);
        switch (dtype)
        {
            case NpyDtype.Float64:
                {
                    var data = new double[count];
                    CopyLittleEndian(raw, MemoryMarshal.AsBytes(data.AsSpan()));
                    return new NpyArray(shape, data);
                }
            case NpyDtype.Int64:
                {
                    var data = new long[count];
                    CopyLittleEndian(raw, MemoryMarshal.AsBytes(data.AsSpan()));
                    return new NpyArray(shape, data);
                }
            case NpyDtype.Float32:
                {
                    var data = new double[count];
                    for (int i = 0; i < data.Length; i++) data[i] = BinaryPrimitives.ReadSingleLittleEndian(raw.AsSpan(4 * i));
                    return new NpyArray(shape, data, NpyDtype.Float32);
                }
            case NpyDtype.Int32:
                {
                    var data = new long[count];
                    for (int i = 0; i < data.Length; i++) data[i] = BinaryPrimitives.ReadInt32LittleEndian(raw.AsSpan(4 * i));
                    return new NpyArray(shape, data, NpyDtype.Int32);
                }
            default:
                {
                    var data = new long[count];
                    for (int i = 0; i < data.Length; i++) data[i] = raw[i];
                    return new NpyArray(shape, data, NpyDtype.UInt8);
                }
        }
    }

    /// <summary>Reads a float64 or float32 array as a matrix: [r, c] → r×c, [n] → n×1.</summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">Bad content or an integer dtype.</exception>
    public static Matrix ReadMatrix(string path)
    {
        using var s = OpenForRead(path);
        return ReadMatrix(s, path);
    }

    /// <summary>Reads a float64 or float32 array from <paramref name="stream"/> as a matrix;
    /// <paramref name="name"/> names the source in error messages.</summary>
    /// <exception cref="InvalidDataException">Bad content or an integer dtype.</exception>
    public static Matrix ReadMatrix(Stream stream, string name)
    {
        var a = Read(stream, name);
        double[] data = RequireFloat64(a, name);
        return a.Shape.Length == 2 ? new Matrix(a.Shape[0], a.Shape[1], data) : new Matrix(a.Shape[0], 1, data);
    }

    /// <summary>Reads a 1-D float64 or float32 array (e.g. a flat parameter vector θ).</summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">Bad content, an integer dtype or not 1-D.</exception>
    public static double[] ReadVector(string path)
    {
        using var s = OpenForRead(path);
        return ReadVector(s, path);
    }

    /// <summary>Reads a 1-D float64 or float32 array from <paramref name="stream"/>;
    /// <paramref name="name"/> names the source in error messages.</summary>
    /// <exception cref="InvalidDataException">Bad content, an integer dtype or not 1-D.</exception>
    public static double[] ReadVector(Stream stream, string name)
    {
        var a = Read(stream, name);
        double[] data = RequireFloat64(a, name);
        if (a.Shape.Length != 1)
            throw Bad(name, $"shape is {a.ShapeText}; expected a 1-D array (n,)");
        return data;
    }

    /// <summary>Reads an int64, int32 or uint8 array, 1-D or 2-D, widened to long, with its shape.</summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">Bad content or a floating dtype.</exception>
    public static (long[] Data, int[] Shape) ReadInt64(string path)
    {
        using var s = OpenForRead(path);
        return ReadInt64(s, path);
    }

    /// <summary>Reads an integer array from <paramref name="stream"/>, widened to long;
    /// <paramref name="name"/> names the source in error messages.</summary>
    /// <exception cref="InvalidDataException">Bad content or a floating dtype.</exception>
    public static (long[] Data, int[] Shape) ReadInt64(Stream stream, string name)
    {
        var a = Read(stream, name);
        if (a.Int64 is null)
            throw Bad(name, $"dtype is '{a.Descr}'; expected '<i8' (int64), '<i4' (int32) or '|u1' (uint8) integers");
        return (a.Int64, a.Shape);
    }

    static double[] RequireFloat64(NpyArray a, string name) =>
        a.Float64 ?? throw Bad(name, $"dtype is '{a.Descr}'; expected '<f8' (float64) or '<f4' (float32) values");

    static FileStream OpenForRead(string path)
    {
        Guard.NotNull(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"File '{path}' does not exist; expected a .npy file.", path);
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
    }

    internal static InvalidDataException Bad(string name, string what) => new($"{name}: {what}.");

    /// <summary>The dtype and shape from an array's header; the data after it is not read.</summary>
    internal static (NpyDtype Dtype, int[] Shape) ReadHeaderOnly(Stream s, string name) => ReadHeader(s, name);

    static (NpyDtype Dtype, int[] Shape) ReadHeader(Stream s, string name)
    {
        Span<byte> pre = stackalloc byte[8];
        int got = ReadUpTo(s, pre);
        if (got < 6 || !pre[..6].SequenceEqual(Magic))
            throw Bad(name, $"starts with {Hex(pre[..Math.Min(got, 6)])}; expected the NPY magic 93 4E 55 4D 50 59 (\\x93NUMPY)");
        if (got < 8)
            throw Bad(name, "file ends inside the version bytes; expected a complete NPY preamble");
        byte major = pre[6], minor = pre[7];
        int lenBytes = (major, minor) switch
        {
            (1, 0) => 2,
            (2, 0) => 4,
            _ => throw Bad(name, $"NPY format version {major}.{minor}; expected version 1.0 or 2.0"),
        };
        Span<byte> lenField = stackalloc byte[4];
        if (ReadUpTo(s, lenField[..lenBytes]) < lenBytes)
            throw Bad(name, "file ends inside the header-length field; expected a complete NPY preamble");
        long headerLen = lenBytes == 2 ? BinaryPrimitives.ReadUInt16LittleEndian(lenField) : BinaryPrimitives.ReadUInt32LittleEndian(lenField);
        if (headerLen > MaxHeaderLength)
            throw Bad(name, $"header length field is {headerLen} bytes; expected at most {MaxHeaderLength} for a 1-D or 2-D array");
        if (s.CanSeek && s.Length - s.Position < headerLen)
            throw Bad(name, $"header is truncated: {s.Length - s.Position} of {headerLen} bytes present; expected the full header");
        var header = new byte[headerLen];
        int h = ReadUpTo(s, header);
        if (h < headerLen)
            throw Bad(name, $"header is truncated: {h} of {headerLen} bytes present; expected the full header");
        return NpyHeader.Parse(header, name);
    }

    static long ElementCount(int[] shape, string name, long maxElements)
    {
        // Up to MaxRank factors below 2^31: multiply in 128 bits, capped, so nothing overflows.
        UInt128 count = 1;
        foreach (int d in shape)
        {
            count *= (uint)d;
            if (count > (UInt128)long.MaxValue) count = (UInt128)long.MaxValue + 1;
        }
        if (shape.Contains(0)) count = 0;
        long limit = Math.Min(maxElements, MaxElements);
        if (count > (UInt128)limit)
        {
            string declared = count > (UInt128)long.MaxValue ? $"more than {long.MaxValue}" : ((long)count).ToString(CultureInfo.InvariantCulture);
            throw Bad(name, $"shape {FormatShape(shape)} has {declared} elements; expected at most {limit} (Npy.MaxElements {MaxElements})");
        }
        return (long)count;
    }

    static byte[] ReadPayload(Stream s, long bytes, string name, NpyDtype dtype, int[] shape)
    {
        string what = $"shape {FormatShape(shape)} '{DescrOf(dtype)}'";
        if (s.CanSeek)
        {
            long remaining = s.Length - s.Position;
            if (remaining < bytes)
                throw Bad(name, $"data is truncated: {remaining} of {bytes} bytes present for {what}; expected {bytes}");
            if (remaining > bytes)
                throw Bad(name, $"{remaining - bytes} bytes follow the data for {what}; expected the file to end after {bytes} data bytes");
            var buf = new byte[bytes];
            s.ReadExactly(buf);
            return buf;
        }
        // Unknown length (a pipe, a deflated .npz entry): grow with what actually arrives, in
        // chunks, so a corrupt shape cannot make us allocate more than the stream really holds.
        using var ms = new MemoryStream();
        var chunk = new byte[1 << 16];
        while (ms.Length < bytes)
        {
            int want = (int)Math.Min(chunk.Length, bytes - ms.Length);
            int n = s.Read(chunk, 0, want);
            if (n == 0)
                throw Bad(name, $"data is truncated: {ms.Length} of {bytes} bytes present for {what}; expected {bytes}");
            ms.Write(chunk, 0, n);
        }
        if (s.Read(chunk, 0, 1) != 0)
            throw Bad(name, $"bytes follow the data for {what}; expected the file to end after {bytes} data bytes");
        return ms.ToArray();
    }

    static void CopyLittleEndian(byte[] src, Span<byte> dst)
    {
        src.CopyTo(dst);
        if (!BitConverter.IsLittleEndian)
            for (int i = 0; i < dst.Length; i += 8) dst.Slice(i, 8).Reverse();
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

    static string Hex(ReadOnlySpan<byte> b) => b.Length == 0 ? "no bytes" : "bytes " + Convert.ToHexString(b).Chunk(2).Select(c => new string(c)).Aggregate((x, y) => x + " " + y);

    internal static string FormatShape(int[] shape) => shape.Length switch
    {
        0 => "()",
        1 => string.Create(CultureInfo.InvariantCulture, $"({shape[0]},)"),
        _ => "(" + string.Join(", ", shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + ")",
    };

    // ---------------------------------------------------------------- writing

    /// <summary>Writes float64 data with the given shape ([n] or [rows, cols]; no shape
    /// means 1-D of the data's length). Written to a temporary file, then renamed.</summary>
    public static void Write(string path, ReadOnlySpan<double> data, params int[] shape)
    {
        shape = CheckShape(data.Length, shape);
        var values = data.ToArray(); // a span cannot enter the writer's closure; files are not a hot path
        AtomicFile.Write(path, (Stream s) => Write(s, values, shape));
    }

    /// <summary>Writes int64 data; see <see cref="Write(string, ReadOnlySpan{double}, int[])"/>.</summary>
    public static void Write(string path, ReadOnlySpan<long> data, params int[] shape)
    {
        shape = CheckShape(data.Length, shape);
        var values = data.ToArray();
        AtomicFile.Write(path, (Stream s) => Write(s, values, shape));
    }

    /// <summary>Writes a matrix as a 2-D float64 array [Rows, Cols].</summary>
    public static void Write(string path, Matrix m)
    {
        Guard.NotNull(m);
        Write(path, m.Data, m.Rows, m.Cols);
    }

    /// <summary>Writes an NPY 1.0 float64 array to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, ReadOnlySpan<double> data, params int[] shape)
    {
        Guard.NotNull(stream);
        shape = CheckShape(data.Length, shape);
        WriteHeader(stream, "<f8", shape);
        WriteLittleEndian(stream, MemoryMarshal.AsBytes(data));
    }

    /// <summary>Writes an NPY 1.0 int64 array to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, ReadOnlySpan<long> data, params int[] shape)
    {
        Guard.NotNull(stream);
        shape = CheckShape(data.Length, shape);
        WriteHeader(stream, "<i8", shape);
        WriteLittleEndian(stream, MemoryMarshal.AsBytes(data));
    }

    /// <summary>Writes an NPY 1.0 float64 array of any rank up to <see cref="MaxRank"/>
    /// (an empty shape is a 0-D scalar) — the layout of one <c>.npz</c> entry.</summary>
    internal static void WriteAnyRank(Stream stream, ReadOnlySpan<double> data, int[] shape, string argument)
    {
        if (shape.Length > MaxRank)
            throw new ArgumentException($"Argument '{argument}' is {FormatShape(shape)}; expected at most {MaxRank} dimensions.", argument);
        long count = 1;
        foreach (int d in shape)
        {
            if (d < 0)
                throw new ArgumentException($"Argument '{argument}' is {FormatShape(shape)}; expected non-negative dimensions.", argument);
            count *= d;
            if (count > int.MaxValue) break;
        }
        if (count != data.Length)
            throw new ArgumentException($"Argument '{argument}' is {FormatShape(shape)} ({count} elements) but its data has {data.Length}; expected them to match.", argument);
        WriteHeader(stream, "<f8", shape);
        WriteLittleEndian(stream, MemoryMarshal.AsBytes(data));
    }

    static int[] CheckShape(int length, int[]? shape)
    {
        if (shape is null || shape.Length == 0) return [length];
        if (shape.Length > 2)
            throw new ArgumentException($"Argument 'shape' is {FormatShape(shape)}; expected 1 or 2 dimensions.", nameof(shape));
        long count = 1;
        foreach (int d in shape)
        {
            if (d < 0)
                throw new ArgumentException($"Argument 'shape' is {FormatShape(shape)}; expected non-negative dimensions.", nameof(shape));
            count *= d;
        }
        if (count != length)
            throw new ArgumentException($"Argument 'shape' is {FormatShape(shape)} ({count} elements) but 'data' has {length}; expected them to match.", nameof(shape));
        return (int[])shape.Clone();
    }

    static void WriteHeader(Stream s, string descr, int[] shape)
    {
        string dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {FormatShape(shape)}, }}";
        // Preamble (10 bytes) + dict + padding spaces + '\n' is a multiple of 64, as numpy writes it.
        int unpadded = 10 + dict.Length + 1;
        int total = (unpadded + Alignment - 1) / Alignment * Alignment;
        string header = dict + new string(' ', total - unpadded) + "\n";
        Span<byte> pre = stackalloc byte[10];
        Magic.CopyTo(pre);
        pre[6] = 1; pre[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(pre[8..], checked((ushort)header.Length));
        s.Write(pre);
        s.Write(Encoding.ASCII.GetBytes(header));
    }

    static void WriteLittleEndian(Stream s, ReadOnlySpan<byte> bytes)
    {
        if (BitConverter.IsLittleEndian) { s.Write(bytes); return; }
        Span<byte> e = stackalloc byte[8];
        for (int i = 0; i < bytes.Length; i += 8)
        {
            bytes.Slice(i, 8).CopyTo(e);
            e.Reverse();
            s.Write(e);
        }
    }

}

/// <summary>
/// Strict parser for the NPY header, a Python dict literal such as
/// <c>{'descr': '&lt;f8', 'fortran_order': False, 'shape': (3, 4), }</c>: exactly the keys
/// descr, fortran_order and shape, each once, in any order; strings in single or double
/// quotes; shape a tuple of non-negative decimal integers (a 1-tuple needs its comma);
/// only spaces/newlines after the closing brace.
/// </summary>
internal ref struct NpyHeader
{
    readonly ReadOnlySpan<byte> _b;
    readonly string _name;
    int _i;

    NpyHeader(ReadOnlySpan<byte> b, string name) { _b = b; _name = name; _i = 0; }

    public static (NpyDtype, int[]) Parse(ReadOnlySpan<byte> header, string name)
    {
        foreach (byte c in header)
            if (c > 0x7E || (c < 0x20 && c != (byte)'\n' && c != (byte)'\t' && c != (byte)'\r'))
                throw Npy.Bad(name, $"header contains byte 0x{c:X2}; expected printable ASCII (a Python dict literal)");
        var p = new NpyHeader(header, name);
        return p.ParseDict();
    }

    InvalidDataException Fail(string what) =>
        Npy.Bad(_name, $"malformed header at offset {_i} ({what}) in {Quote()}; expected {{'descr': '<f8', 'fortran_order': False, 'shape': (rows, cols)}} (descr one of {Npy.Accepted})");

    string Quote()
    {
        string text = Encoding.ASCII.GetString(_b).TrimEnd(' ', '\n', '\r', '\t').Replace("\n", "\\n").Replace("\r", "\\r").Replace("\t", "\\t");
        return text.Length > 120 ? "'" + text[..120] + "…'" : "'" + text + "'";
    }

    void SkipSpace()
    {
        while (_i < _b.Length && (_b[_i] == ' ' || _b[_i] == '\n' || _b[_i] == '\r' || _b[_i] == '\t')) _i++;
    }

    bool TryTake(char c)
    {
        SkipSpace();
        if (_i < _b.Length && _b[_i] == c) { _i++; return true; }
        return false;
    }

    void Expect(char c)
    {
        if (!TryTake(c)) throw Fail($"'{c}' missing");
    }

    (NpyDtype, int[]) ParseDict()
    {
        string? descr = null; bool? fortran = null; int[]? shape = null;
        SkipSpace();
        Expect('{');
        while (true)
        {
            if (TryTake('}')) break;
            string key = ParseString();
            Expect(':');
            switch (key)
            {
                case "descr":
                    if (descr is not null) throw Fail("duplicate key 'descr'");
                    descr = ParseString();
                    break;
                case "fortran_order":
                    if (fortran is not null) throw Fail("duplicate key 'fortran_order'");
                    fortran = ParseBool();
                    break;
                case "shape":
                    if (shape is not null) throw Fail("duplicate key 'shape'");
                    shape = ParseTuple();
                    break;
                default:
                    throw Npy.Bad(_name, $"header has key '{Sanitize(key)}'; expected only 'descr', 'fortran_order' and 'shape'");
            }
            if (TryTake(',')) continue;
            Expect('}');
            break;
        }
        SkipSpace();
        if (_i != _b.Length) throw Fail("text after the closing brace");
        if (descr is null) throw Npy.Bad(_name, $"header lacks the key 'descr'; expected 'descr': one of {Npy.Accepted}");
        if (fortran is null) throw Npy.Bad(_name, "header lacks the key 'fortran_order'; expected 'fortran_order': False");
        if (shape is null) throw Npy.Bad(_name, "header lacks the key 'shape'; expected 'shape': (n,) or (rows, cols)");

        NpyDtype dtype = descr switch
        {
            "<f8" => NpyDtype.Float64,
            "<i8" => NpyDtype.Int64,
            "<f4" => NpyDtype.Float32,
            "<i4" => NpyDtype.Int32,
            "|u1" or "<u1" or ">u1" or "u1" => NpyDtype.UInt8,
            ">f8" or ">i8" or ">f4" or ">i4" => throw Npy.Bad(_name, $"dtype '{descr}' is big-endian; expected little-endian {Npy.Accepted}"),
            _ => throw Npy.Bad(_name, $"dtype '{Sanitize(descr)}' is not supported; expected {Npy.Accepted}, read as double or integer"),
        };
        if (fortran.Value)
            throw Npy.Bad(_name, "fortran_order is True; expected C order (fortran_order False; in numpy save np.ascontiguousarray(a))");
        if (shape.Length > Npy.MaxRank)
            throw Npy.Bad(_name, $"shape {Npy.FormatShape(shape)} has {shape.Length} dimensions; expected at most {Npy.MaxRank}");
        return (dtype, shape);
    }

    static string Sanitize(string s) => s.Length > 40 ? s[..40] + "…" : s;

    string ParseString()
    {
        SkipSpace();
        if (_i >= _b.Length || (_b[_i] != '\'' && _b[_i] != '"')) throw Fail("a quoted string missing");
        byte q = _b[_i++];
        int start = _i;
        while (_i < _b.Length && _b[_i] != q)
        {
            if (_b[_i] == '\\' || _b[_i] == '\n') throw Fail("escape or newline inside a string");
            _i++;
        }
        if (_i >= _b.Length) throw Fail("unterminated string");
        string s = Encoding.ASCII.GetString(_b[start.._i]);
        _i++;
        return s;
    }

    bool ParseBool()
    {
        SkipSpace();
        if (Word("True")) return true;
        if (Word("False")) return false;
        throw Fail("True or False missing");
    }

    bool Word(string w)
    {
        if (_b.Length - _i < w.Length) return false;
        for (int k = 0; k < w.Length; k++) if (_b[_i + k] != w[k]) return false;
        int end = _i + w.Length;
        if (end < _b.Length && (char.IsAsciiLetterOrDigit((char)_b[end]) || _b[end] == '_')) return false;
        _i = end;
        return true;
    }

    int[] ParseTuple()
    {
        Expect('(');
        var dims = new List<int>();
        bool trailingComma = false;
        while (true)
        {
            if (TryTake(')')) break;
            if (dims.Count > 0 && !trailingComma) throw Fail("',' missing between dimensions");
            dims.Add(ParseDim());
            trailingComma = TryTake(',');
        }
        if (dims.Count == 1 && !trailingComma) throw Fail("a 1-tuple needs a trailing comma, as in (n,)");
        return [.. dims];
    }

    int ParseDim()
    {
        SkipSpace();
        int start = _i;
        long v = 0;
        while (_i < _b.Length && _b[_i] >= '0' && _b[_i] <= '9')
        {
            v = v * 10 + (_b[_i] - '0');
            if (v > int.MaxValue) throw Npy.Bad(_name, $"a dimension in the shape exceeds {int.MaxValue}; expected dimensions that fit a 32-bit index");
            _i++;
        }
        if (_i == start) throw Fail("a non-negative integer dimension missing");
        if (_i - start > 1 && _b[start] == '0') throw Fail("a dimension with a leading zero");
        return (int)v;
    }
}

/// <summary>
/// Reader and writer for NumPy's <c>.npz</c> archives: a zip file whose entries are
/// <c>NAME.npy</c> arrays, stored (<c>numpy.savez</c>) or deflated
/// (<c>numpy.savez_compressed</c>). Curvature uses it for named per-layer weights in the
/// layout of a PyTorch <c>nn.Sequential</c>'s <c>state_dict</c>: <c>0.weight</c> [out, in]
/// (or [out, in, kH, kW] for a convolution), <c>0.bias</c> [out], <c>2.weight</c>, … — so
/// <c>np.savez("w.npz", **{k: v.double().numpy() for k, v in model.state_dict().items()})</c>
/// and <c>torch.from_numpy(np.load("w.npz")[k])</c> exchange weights without <c>torch.save</c>.
/// <para>
/// Reading accepts each entry's dtype as <see cref="Npy.Read(string)"/> does (float64,
/// float32, int64, int32, uint8), of rank 0 to <see cref="Npy.MaxRank"/>, C order only.
/// Sizes are bounded before allocation: at most <see cref="MaxEntries"/> entries and
/// <see cref="Npy.MaxElements"/> elements over the whole archive, each entry's declared
/// shape checked against the remaining budget and against the bytes the entry really
/// delivers. Bad content raises <see cref="InvalidDataException"/> whose one-line message
/// names the file and the entry; a missing file raises <see cref="FileNotFoundException"/>.
/// </para>
/// </summary>
public static class Npz
{
    /// <summary>The most entries an archive may hold (a deep network has a few hundred).</summary>
    public const int MaxEntries = 4096;

    // Stored entries carry a fixed date so the same arrays always give the same bytes.
    static readonly DateTimeOffset EntryTime = new(1980, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Reads every array of the archive at <paramref name="path"/>, keyed by entry
    /// name without its <c>.npy</c> suffix, in archive order.</summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">Not a zip archive, an entry that is not an
    /// <c>.npy</c> array, a duplicate name, a refused dtype or order, or a size beyond the limits.</exception>
    public static IReadOnlyDictionary<string, NpyArray> Read(string path)
    {
        Guard.NotNull(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"File '{path}' does not exist; expected an .npz archive.", path);
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Read(fs, path);
    }

    /// <summary>Reads every array of the archive in <paramref name="stream"/> (seekable, or it
    /// is buffered first); <paramref name="name"/> names the source in error messages.</summary>
    /// <exception cref="InvalidDataException">As for <see cref="Read(string)"/>.</exception>
    public static IReadOnlyDictionary<string, NpyArray> Read(Stream stream, string name)
    {
        Guard.NotNull(stream);
        Guard.NotNull(name);
        using var zip = Open(stream, name);
        var result = new OrderedDictionary<string, NpyArray>(StringComparer.Ordinal);
        long budget = Npy.MaxElements;
        foreach (var entry in zip.Entries)
        {
            string key = Key(entry, name, result.ContainsKey);
            string where = $"{name}: entry '{Sanitize(entry.FullName)}'";
            NpyArray array;
            try
            {
                using var s = entry.Open();
                array = Npy.Read(s, where, minRank: 0, maxRank: Npy.MaxRank, maxElements: budget);
            }
            catch (Exception e) when (Unnamed(e, where) is { } named)
            {
                throw named;
            }
            budget -= (long)(array.Float64?.Length ?? array.Int64!.Length);
            result.Add(key, array);
        }
        return new System.Collections.ObjectModel.ReadOnlyDictionary<string, NpyArray>(result);
    }

    /// <summary>
    /// The name, dtype and shape of every array in the archive at <paramref name="path"/>, in archive
    /// order, from each entry's NPY header alone: no array is decoded, so a caller can check names and
    /// shapes (and refuse a small file that claims huge arrays) before <see cref="Read(string)"/> allocates.
    /// </summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">As for <see cref="Read(string)"/>, for the archive and the headers.</exception>
    public static IReadOnlyList<(string Name, NpyDtype Dtype, int[] Shape)> Headers(string path)
    {
        Guard.NotNull(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"File '{path}' does not exist; expected an .npz archive.", path);
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        using var zip = Open(fs, path);
        var result = new List<(string Name, NpyDtype Dtype, int[] Shape)>();
        foreach (var entry in zip.Entries)
        {
            string key = Key(entry, path, k => result.Exists(r => r.Name == k));
            string where = $"{path}: entry '{Sanitize(entry.FullName)}'";
            try
            {
                using var s = entry.Open();
                var (dtype, shape) = Npy.ReadHeaderOnly(s, where);
                result.Add((key, dtype, shape));
            }
            catch (Exception e) when (Unnamed(e, where) is { } named)
            {
                throw named;
            }
        }
        return result;
    }

    static ZipArchive Open(Stream stream, string name)
    {
        ZipArchive zip;
        try
        {
            zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (InvalidDataException e)
        {
            throw Npy.Bad(name, $"not a zip archive ({OneLine(e.Message)}); expected an .npz written by numpy.savez or numpy.savez_compressed");
        }
        if (zip.Entries.Count > MaxEntries)
        {
            int count = zip.Entries.Count;
            zip.Dispose();
            throw Npy.Bad(name, $"archive has {count} entries; expected at most {MaxEntries} (Npz.MaxEntries)");
        }
        return zip;
    }

    /// <summary>The array name of an entry (NAME.npy), refusing other entries and repeated names.</summary>
    static string Key(ZipArchiveEntry entry, string name, Func<string, bool> seen)
    {
        string entryName = entry.FullName;
        if (!entryName.EndsWith(".npy", StringComparison.Ordinal) || entryName.Length == 4)
            throw Npy.Bad(name, $"entry '{Sanitize(entryName)}' is not an array; expected only NAME.npy entries as numpy.savez writes them");
        string key = entryName[..^4];
        if (seen(key))
            throw Npy.Bad(name, $"entry '{Sanitize(entryName)}' appears twice; expected unique array names");
        return key;
    }

    /// <summary>The zip layer's own complaints (bad deflate data, CRC mismatch) carry no name: the same error naming the entry, or null for ours.</summary>
    static InvalidDataException? Unnamed(Exception e, string where) => e switch
    {
        InvalidDataException when !e.Message.StartsWith(where, StringComparison.Ordinal) =>
            Npy.Bad(where, $"corrupt entry data ({OneLine(e.Message)}); expected a valid stored or deflated zip entry"),
        IOException and not FileNotFoundException =>
            Npy.Bad(where, $"unreadable entry ({OneLine(e.Message)}); expected a valid stored or deflated zip entry"),
        _ => null,
    };

    /// <summary>Writes <paramref name="arrays"/> as an <c>.npz</c> archive at
    /// <paramref name="path"/>, through a temporary file and a rename
    /// (<see cref="AtomicFile"/>): one float64 C-order entry <c>NAME.npy</c> per array, in
    /// the given order, stored like <c>numpy.savez</c> or deflated like
    /// <c>numpy.savez_compressed</c>.</summary>
    /// <param name="path">The output file.</param>
    /// <param name="arrays">Name (e.g. <c>0.weight</c>; no '/', '\', control characters or
    /// duplicates), shape (0 to <see cref="Npy.MaxRank"/> dimensions whose product is the data
    /// length) and data in C order.</param>
    /// <param name="compress">Deflate the entries (as savez_compressed) instead of storing them.</param>
    /// <exception cref="ArgumentException">A name, shape or data is invalid; nothing is written.</exception>
    public static void Write(string path, IEnumerable<(string Name, int[] Shape, double[] Data)> arrays, bool compress = false)
    {
        var list = Validate(arrays);
        AtomicFile.Write(path, (Stream s) => WriteArchive(s, list, compress));
    }

    /// <summary>Writes the archive to <paramref name="stream"/>; see
    /// <see cref="Write(string, IEnumerable{ValueTuple{string, int[], double[]}}, bool)"/>.</summary>
    /// <exception cref="ArgumentException">A name, shape or data is invalid; nothing is written.</exception>
    public static void Write(Stream stream, IEnumerable<(string Name, int[] Shape, double[] Data)> arrays, bool compress = false)
    {
        Guard.NotNull(stream);
        WriteArchive(stream, Validate(arrays), compress);
    }

    static List<(string Name, int[] Shape, double[] Data)> Validate(IEnumerable<(string Name, int[] Shape, double[] Data)> arrays)
    {
        Guard.NotNull(arrays);
        var list = arrays.ToList();
        if (list.Count > MaxEntries)
            throw new ArgumentException($"Argument 'arrays' has {list.Count} arrays; expected at most {MaxEntries}.", nameof(arrays));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (n, shape, data) in list)
        {
            if (string.IsNullOrEmpty(n) || n.Any(c => c == '/' || c == '\\' || char.IsControl(c)))
                throw new ArgumentException($"Argument 'arrays' has an array named '{n}'; expected a non-empty name without '/', '\\' or control characters, such as '0.weight'.", nameof(arrays));
            if (!seen.Add(n))
                throw new ArgumentException($"Argument 'arrays' names '{n}' twice; expected unique names.", nameof(arrays));
            if (shape is null || data is null)
                throw new ArgumentException($"Argument 'arrays' has array '{n}' without {(shape is null ? "a shape" : "data")}; expected both.", nameof(arrays));
            if (shape.Length > Npy.MaxRank || shape.Any(d => d < 0))
                throw new ArgumentException($"Argument 'arrays' has array '{n}' of shape {Npy.FormatShape(shape)}; expected 0 to {Npy.MaxRank} non-negative dimensions.", nameof(arrays));
            long count = 1;
            foreach (int d in shape) count = Math.Min(count * d, long.MaxValue / int.MaxValue);
            if (shape.Contains(0)) count = 0;
            if (count != data.Length)
                throw new ArgumentException($"Argument 'arrays' has array '{n}' of shape {Npy.FormatShape(shape)} but {data.Length} values; expected the product of the shape.", nameof(arrays));
        }
        return list;
    }

    static void WriteArchive(Stream stream, List<(string Name, int[] Shape, double[] Data)> arrays, bool compress)
    {
        using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
        foreach (var (n, shape, data) in arrays)
        {
            var entry = zip.CreateEntry(n + ".npy", compress ? CompressionLevel.Optimal : CompressionLevel.NoCompression);
            entry.LastWriteTime = EntryTime;
            using var s = entry.Open();
            Npy.WriteAnyRank(s, data, shape, "arrays");
        }
    }

    static string Sanitize(string s)
    {
        var clean = new string(s.Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return clean.Length > 80 ? clean[..80] + "…" : clean;
    }

    static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim().TrimEnd('.');
}

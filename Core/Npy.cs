using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Curvature.Core;

/// <summary>The two element types Curvature exchanges as <c>.npy</c>.</summary>
public enum NpyDtype
{
    /// <summary>Little-endian IEEE double, descr <c>'&lt;f8'</c>.</summary>
    Float64,

    /// <summary>Little-endian signed 64-bit integer, descr <c>'&lt;i8'</c>.</summary>
    Int64,
}

/// <summary>One array read from a <c>.npy</c> file: its element type, its shape (1-D or
/// 2-D, C order) and exactly one of <see cref="Float64"/> / <see cref="Int64"/>.</summary>
public sealed class NpyArray
{
    public NpyDtype Dtype { get; }

    /// <summary>[n] or [rows, cols].</summary>
    public int[] Shape { get; }

    /// <summary>The elements in C order when <see cref="Dtype"/> is Float64, else null.</summary>
    public double[]? Float64 { get; }

    /// <summary>The elements in C order when <see cref="Dtype"/> is Int64, else null.</summary>
    public long[]? Int64 { get; }

    internal NpyArray(int[] shape, double[] data) { Dtype = NpyDtype.Float64; Shape = shape; Float64 = data; }

    internal NpyArray(int[] shape, long[] data) { Dtype = NpyDtype.Int64; Shape = shape; Int64 = data; }

    /// <summary>The shape as numpy prints it, e.g. (3, 4) or (5,).</summary>
    public string ShapeText => Npy.FormatShape(Shape);

    /// <summary>'&lt;f8' or '&lt;i8'.</summary>
    public string Descr => Dtype == NpyDtype.Float64 ? "<f8" : "<i8";
}

/// <summary>
/// Reader and writer for NumPy's <c>.npy</c> format, restricted to what Curvature exchanges
/// with PyTorch/JAX: float64 ('&lt;f8') and int64 ('&lt;i8'), C order, 1-D or 2-D.
/// Format versions 1.0 and 2.0 are read; 1.0 is written.
/// <para>
/// Every reader throws <see cref="InvalidDataException"/> (System.IO) for bad content —
/// bad magic, unsupported version, malformed or unexpected header, big-endian or other
/// dtypes, Fortran order, 0-D or 3-D+ shapes, truncated or trailing data — with a one-line
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

    // ---------------------------------------------------------------- reading

    /// <summary>Reads a float64 or int64 array, 1-D or 2-D.</summary>
    public static NpyArray Read(string path)
    {
        using var s = OpenForRead(path);
        return Read(s, path);
    }

    /// <summary>Reads a float64 or int64 array from <paramref name="stream"/>, which must
    /// end where the data ends; <paramref name="name"/> names the source in error messages.</summary>
    public static NpyArray Read(Stream stream, string name)
    {
        Guard.NotNull(stream);
        Guard.NotNull(name);
        var (dtype, shape) = ReadHeader(stream, name);
        long count = ElementCount(shape, name);
        byte[] raw = ReadPayload(stream, count * 8, name, dtype, shape);
        if (dtype == NpyDtype.Float64)
        {
            var data = new double[count];
            CopyLittleEndian(raw, MemoryMarshal.AsBytes(data.AsSpan()));
            return new NpyArray(shape, data);
        }
        else
        {
            var data = new long[count];
            CopyLittleEndian(raw, MemoryMarshal.AsBytes(data.AsSpan()));
            return new NpyArray(shape, data);
        }
    }

    /// <summary>Reads a float64 array as a matrix: [r, c] → r×c, [n] → n×1.</summary>
    public static Matrix ReadMatrix(string path)
    {
        using var s = OpenForRead(path);
        return ReadMatrix(s, path);
    }

    /// <inheritdoc cref="ReadMatrix(string)"/>
    public static Matrix ReadMatrix(Stream stream, string name)
    {
        var a = Read(stream, name);
        double[] data = RequireFloat64(a, name);
        return a.Shape.Length == 2 ? new Matrix(a.Shape[0], a.Shape[1], data) : new Matrix(a.Shape[0], 1, data);
    }

    /// <summary>Reads a 1-D float64 array (e.g. a flat parameter vector θ).</summary>
    public static double[] ReadVector(string path)
    {
        using var s = OpenForRead(path);
        return ReadVector(s, path);
    }

    /// <inheritdoc cref="ReadVector(string)"/>
    public static double[] ReadVector(Stream stream, string name)
    {
        var a = Read(stream, name);
        double[] data = RequireFloat64(a, name);
        if (a.Shape.Length != 1)
            throw Bad(name, $"shape is {a.ShapeText}; expected a 1-D array (n,)");
        return data;
    }

    /// <summary>Reads an int64 array, 1-D or 2-D, with its shape.</summary>
    public static (long[] Data, int[] Shape) ReadInt64(string path)
    {
        using var s = OpenForRead(path);
        return ReadInt64(s, path);
    }

    /// <inheritdoc cref="ReadInt64(string)"/>
    public static (long[] Data, int[] Shape) ReadInt64(Stream stream, string name)
    {
        var a = Read(stream, name);
        if (a.Int64 is null)
            throw Bad(name, $"dtype is '{a.Descr}'; expected '<i8' (int64)");
        return (a.Int64, a.Shape);
    }

    static double[] RequireFloat64(NpyArray a, string name) =>
        a.Float64 ?? throw Bad(name, $"dtype is '{a.Descr}'; expected '<f8' (float64)");

    static FileStream OpenForRead(string path)
    {
        Guard.NotNull(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"File '{path}' does not exist; expected a .npy file.", path);
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
    }

    internal static InvalidDataException Bad(string name, string what) => new($"{name}: {what}.");

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

    static long ElementCount(int[] shape, string name)
    {
        long count = 1;
        foreach (int d in shape)
        {
            count *= d; // each d ≤ int.MaxValue and at most two of them: no overflow in long
        }
        if (count > Array.MaxLength / 8)
            throw Bad(name, $"shape {FormatShape(shape)} has {count} elements; expected at most {Array.MaxLength / 8}");
        return count;
    }

    static byte[] ReadPayload(Stream s, long bytes, string name, NpyDtype dtype, int[] shape)
    {
        string what = $"shape {FormatShape(shape)} '{(dtype == NpyDtype.Float64 ? "<f8" : "<i8")}'";
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
        // Unknown length: grow with what actually arrives, so a corrupt shape cannot make
        // us allocate more than the stream really holds.
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
        Npy.Bad(_name, $"malformed header at offset {_i} ({what}) in {Quote()}; expected {{'descr': '<f8' or '<i8', 'fortran_order': False, 'shape': (n,) or (rows, cols)}}");

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
        if (descr is null) throw Npy.Bad(_name, "header lacks the key 'descr'; expected 'descr': '<f8' or '<i8'");
        if (fortran is null) throw Npy.Bad(_name, "header lacks the key 'fortran_order'; expected 'fortran_order': False");
        if (shape is null) throw Npy.Bad(_name, "header lacks the key 'shape'; expected 'shape': (n,) or (rows, cols)");

        NpyDtype dtype = descr switch
        {
            "<f8" => NpyDtype.Float64,
            "<i8" => NpyDtype.Int64,
            ">f8" or ">i8" => throw Npy.Bad(_name, $"dtype '{descr}' is big-endian; expected little-endian '<f8' (float64) or '<i8' (int64)"),
            _ => throw Npy.Bad(_name, $"dtype '{Sanitize(descr)}' is not supported; expected '<f8' (float64) or '<i8' (int64)"),
        };
        if (fortran.Value)
            throw Npy.Bad(_name, "fortran_order is True; expected C order (fortran_order False)");
        if (shape.Length is < 1 or > 2)
            throw Npy.Bad(_name, $"shape {Npy.FormatShape(shape)} has {shape.Length} dimensions; expected a 1-D (n,) or 2-D (rows, cols) array");
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

using System.Buffers.Binary;
using System.Text;
using Curvature.Core;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

public class NpyTests
{
    string _dir = "";

    [SetUp]
    public void MakeDir()
    {
        _dir = Path.Combine(Path.GetTempPath(), "curvature-npy-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveDir()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    string PathOf(string name) => Path.Combine(_dir, name);

    /// <summary>Builds an NPY file byte by byte from the format description (magic, version,
    /// little-endian header length, ASCII dict header, raw little-endian data), without
    /// going through Npy's writer.</summary>
    static byte[] HandMade(string header, ReadOnlySpan<byte> data, int major = 1, bool pad = true)
    {
        int lenBytes = major == 1 ? 2 : 4;
        if (pad)
        {
            int unpadded = 6 + 2 + lenBytes + header.Length + 1;
            int padded = (unpadded + 63) / 64 * 64;
            header = header + new string(' ', padded - unpadded) + "\n";
        }
        var bytes = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0 };
        if (major == 1) { bytes.Add((byte)(header.Length & 0xFF)); bytes.Add((byte)(header.Length >> 8)); }
        else { for (int k = 0; k < 4; k++) bytes.Add((byte)(header.Length >> (8 * k))); }
        bytes.AddRange(Encoding.Latin1.GetBytes(header));
        bytes.AddRange(data.ToArray());
        return [.. bytes];
    }

    static byte[] LittleEndianDoubles(params double[] v)
    {
        var b = new byte[8 * v.Length];
        for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(b.AsSpan(8 * i), v[i]);
        return b;
    }

    static byte[] LittleEndianLongs(params long[] v)
    {
        var b = new byte[8 * v.Length];
        for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(8 * i), v[i]);
        return b;
    }

    [Test]
    public void A_2D_float64_matrix_survives_a_write_read_round_trip_bit_for_bit()
    {
        var rng = new Rng(7UL);
        var m = new Matrix(5, 3);
        rng.FillGaussian(m.Data);
        m[0, 0] = -0.0; m[1, 1] = double.PositiveInfinity; m[2, 2] = double.NaN; m[3, 0] = double.Epsilon; m[4, 2] = double.MaxValue;
        string p = PathOf("m.npy");
        Npy.Write(p, m);
        Matrix back = Npy.ReadMatrix(p);
        back.Rows.Should().Be(5);
        back.Cols.Should().Be(3);
        back.Data.Select(BitConverter.DoubleToInt64Bits).Should().Equal(m.Data.Select(BitConverter.DoubleToInt64Bits));
    }

    [Test]
    public void A_1D_int64_array_survives_a_round_trip_including_the_extreme_values()
    {
        long[] v = [0, 1, -1, long.MinValue, long.MaxValue, 1234567890123];
        string p = PathOf("v.npy");
        Npy.Write(p, v);
        var (data, shape) = Npy.ReadInt64(p);
        shape.Should().Equal(6);
        data.Should().Equal(v);
    }

    [Test]
    public void A_1D_float64_file_reads_as_a_vector_and_as_an_n_by_1_matrix()
    {
        double[] v = [1.5, -2.25, 3e300];
        string p = PathOf("v.npy");
        Npy.Write(p, v);
        Npy.ReadVector(p).Should().Equal(v);
        Matrix m = Npy.ReadMatrix(p);
        m.Shape.Should().Be("3x1");
        m.Data.Should().Equal(v);
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(2)]
    public void Arrays_with_an_empty_dimension_round_trip_with_their_shape(int which)
    {
        int[] shape = which switch { 0 => [0], 1 => [0, 5], _ => [3, 0] };
        string pf = PathOf("f.npy"), pi = PathOf("i.npy");
        Npy.Write(pf, ReadOnlySpan<double>.Empty, shape);
        Npy.Write(pi, ReadOnlySpan<long>.Empty, shape);
        var f = Npy.Read(pf);
        f.Dtype.Should().Be(NpyDtype.Float64);
        f.Shape.Should().Equal(shape);
        f.Float64.Should().BeEmpty();
        var (data, ishape) = Npy.ReadInt64(pi);
        ishape.Should().Equal(shape);
        data.Should().BeEmpty();
    }

    [Test]
    public void Written_files_follow_the_NPY_1_0_layout_byte_for_byte()
    {
        string p = PathOf("w.npy");
        Npy.Write(p, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3);
        byte[] b = File.ReadAllBytes(p);
        byte[] expected = HandMade("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", LittleEndianDoubles(1, 2, 3, 4, 5, 6));
        b.Should().Equal(expected);
        int headerEnd = 10 + BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(8));
        (headerEnd % 64).Should().Be(0, "numpy aligns the data to 64 bytes");
        b[headerEnd - 1].Should().Be((byte)'\n');
    }

    [Test]
    public void A_version_1_0_file_built_by_hand_with_reordered_keys_and_double_quotes_is_read()
    {
        byte[] file = HandMade("{\"shape\": (2, 2), \"fortran_order\": False, \"descr\": \"<f8\"}", LittleEndianDoubles(1.25, -3, 0.5, 1e-300));
        var m = Npy.ReadMatrix(new MemoryStream(file), "hand.npy");
        m[0, 0].Should().Be(1.25);
        m[0, 1].Should().Be(-3);
        m[1, 0].Should().Be(0.5);
        m[1, 1].Should().Be(1e-300);
    }

    [Test]
    public void A_version_2_0_file_built_by_hand_with_a_4_byte_header_length_is_read()
    {
        byte[] file = HandMade("{'descr': '<i8', 'fortran_order': False, 'shape': (4,)}", LittleEndianLongs(9, -8, 7, long.MinValue), major: 2);
        var (data, shape) = Npy.ReadInt64(new MemoryStream(file), "v2.npy");
        shape.Should().Equal(4);
        data.Should().Equal(9, -8, 7, long.MinValue);
    }

    [Test]
    public void An_unpadded_header_without_a_trailing_newline_is_still_a_valid_dict_and_is_read()
    {
        byte[] file = HandMade("{'descr':'<f8','fortran_order':False,'shape':(1,)}", LittleEndianDoubles(42), pad: false);
        Npy.ReadVector(new MemoryStream(file), "tight.npy").Should().Equal(42.0);
    }

    [Test]
    public void Reading_from_a_non_seekable_stream_gives_the_same_array()
    {
        byte[] file = HandMade("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", LittleEndianDoubles(1, 2, 3));
        Npy.ReadVector(new ForwardOnlyStream(file), "pipe").Should().Equal(1.0, 2.0, 3.0);
    }

    static readonly byte[] SixDoubles = LittleEndianDoubles(1, 2, 3, 4, 5, 6);

    static IEnumerable<TestCaseData> Rejections()
    {
        const string ok = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
        byte[] good = HandMade(ok, SixDoubles);
        TestCaseData Case(string label, byte[] bytes, string expectedFragment) =>
            new TestCaseData(bytes, expectedFragment).SetName($"Npy_rejects_{label}");

        var badMagic = (byte[])good.Clone(); badMagic[1] = (byte)'X';
        yield return Case("a_file_with_bad_magic", badMagic, "expected the NPY magic");
        yield return Case("a_zip_archive_an_npz", [0x50, 0x4B, 0x03, 0x04, 0, 0, 0, 0, 0, 0], "expected the NPY magic");
        yield return Case("an_empty_file", [], "expected the NPY magic");
        var v3 = (byte[])good.Clone(); v3[6] = 3;
        yield return Case("format_version_3_0", v3, "expected version 1.0 or 2.0");
        yield return Case("a_big_endian_float64", HandMade(ok.Replace("<f8", ">f8"), SixDoubles), "big-endian");
        yield return Case("a_big_endian_int64", HandMade(ok.Replace("<f8", ">i8"), SixDoubles), "big-endian");
        yield return Case("Fortran_order", HandMade(ok.Replace("False", "True"), SixDoubles), "expected C order");
        const string accepted = "expected '<f8' (float64), '<f4' (float32), '<i8' (int64), '<i4' (int32) or '|u1' (uint8)";
        yield return Case("float16", HandMade(ok.Replace("<f8", "<f2"), SixDoubles[..12]), "dtype '<f2' is not supported; " + accepted);
        yield return Case("bool", HandMade(ok.Replace("<f8", "|b1"), SixDoubles[..6]), "dtype '|b1' is not supported; " + accepted);
        yield return Case("a_big_endian_float32", HandMade(ok.Replace("<f8", ">f4"), SixDoubles[..24]), "dtype '>f4' is big-endian; expected little-endian '<f8' (float64), '<f4' (float32)");
        yield return Case("truncated_float32_data", HandMade(ok.Replace("<f8", "<f4"), SixDoubles[..20]), "data is truncated: 20 of 24 bytes present for shape (2, 3) '<f4'");
        yield return Case("a_structured_dtype", HandMade(ok.Replace("'<f8'", "[('a', '<f8')]"), SixDoubles), "expected");
        yield return Case("a_3D_shape", HandMade(ok.Replace("(2, 3)", "(1, 2, 3)"), SixDoubles), "expected a 1-D (n,) or 2-D (rows, cols) array");
        yield return Case("a_0D_scalar", HandMade(ok.Replace("(2, 3)", "()"), SixDoubles[..8]), "expected a 1-D (n,) or 2-D (rows, cols) array");
        yield return Case("a_parenthesized_integer_that_is_not_a_tuple", HandMade(ok.Replace("(2, 3)", "(6)"), SixDoubles), "1-tuple");
        yield return Case("a_negative_dimension", HandMade(ok.Replace("(2, 3)", "(-2, 3)"), SixDoubles), "malformed header");
        yield return Case("a_dimension_beyond_32_bits", HandMade(ok.Replace("(2, 3)", "(99999999999, 3)"), SixDoubles), "expected dimensions that fit");
        yield return Case("a_shape_too_large_for_memory", HandMade(ok.Replace("(2, 3)", "(2000000000, 2000000000)"), SixDoubles), "shape (2000000000, 2000000000) has 4000000000000000000 elements; expected at most 134217728 (Npy.MaxElements 134217728)");
        yield return Case("a_shape_one_past_the_stated_limit", HandMade(ok.Replace("(2, 3)", "(134217729,)"), SixDoubles), "shape (134217729,) has 134217729 elements; expected at most 134217728");
        yield return Case("truncated_data", HandMade(ok, SixDoubles[..40]), "data is truncated: 40 of 48 bytes");
        yield return Case("bytes_after_the_data", HandMade(ok, [.. SixDoubles, 0]), "1 bytes follow the data");
        yield return Case("a_header_without_shape", HandMade("{'descr': '<f8', 'fortran_order': False}", SixDoubles), "lacks the key 'shape'");
        yield return Case("a_header_with_an_extra_key", HandMade(ok.Replace("}", "'extra': 1}"), SixDoubles), "expected only 'descr', 'fortran_order' and 'shape'");
        yield return Case("a_header_with_a_duplicate_key", HandMade(ok.Replace("}", "'descr': '<f8'}"), SixDoubles), "duplicate key 'descr'");
        yield return Case("a_header_with_text_after_the_dict", HandMade(ok + " x", SixDoubles), "text after the closing brace");
        yield return Case("a_header_that_is_not_a_dict", HandMade("['<f8', False, (2, 3)]", SixDoubles), "'{' missing");
        yield return Case("a_non_ASCII_header", HandMade(ok.Replace("descr", "d\u00e9scr"), SixDoubles), "expected printable ASCII");
        yield return Case("a_header_length_past_the_end_of_the_file", good[..30], "header is truncated");
        yield return Case("a_file_ending_inside_the_preamble", good[..7], "version bytes");
    }

    [TestCaseSource(nameof(Rejections))]
    public void Rejected_files_raise_one_line_InvalidDataException_naming_the_file_and_the_expectation(byte[] bytes, string expectedFragment)
    {
        var act = () => Npy.Read(new MemoryStream(bytes), "bad.npy");
        var e = act.Should().Throw<InvalidDataException>().Which;
        e.Message.Should().StartWith("bad.npy: ");
        e.Message.Should().Contain(expectedFragment);
        e.Message.Should().NotContain("\n");
    }

    [Test]
    public void The_same_rejection_happens_when_reading_from_a_file_and_names_its_path()
    {
        string p = PathOf("trunc.npy");
        File.WriteAllBytes(p, HandMade("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", SixDoubles[..16]));
        var act = () => Npy.ReadMatrix(p);
        act.Should().Throw<InvalidDataException>().WithMessage($"{p}: data is truncated*");
    }

    [Test]
    public void Truncated_data_is_detected_on_a_non_seekable_stream_too()
    {
        byte[] file = HandMade("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", LittleEndianDoubles(1, 2));
        var act = () => Npy.Read(new ForwardOnlyStream(file), "pipe");
        act.Should().Throw<InvalidDataException>().WithMessage("pipe: data is truncated: 16 of 24 bytes*");
    }

    [Test]
    public void A_missing_file_raises_FileNotFoundException_naming_it()
    {
        string p = PathOf("nope.npy");
        var act = () => Npy.Read(p);
        act.Should().Throw<FileNotFoundException>().WithMessage($"*'{p}'*");
    }

    [Test]
    public void Asking_for_the_wrong_dtype_or_rank_names_what_was_expected()
    {
        string pi = PathOf("i.npy"), pm = PathOf("m.npy");
        Npy.Write(pi, [1L, 2L]);
        Npy.Write(pm, [1.0, 2.0], 1, 2);
        FluentActions.Invoking(() => Npy.ReadMatrix(pi)).Should().Throw<InvalidDataException>().WithMessage("*'<i8'*expected '<f8' (float64)*");
        FluentActions.Invoking(() => Npy.ReadInt64(pm)).Should().Throw<InvalidDataException>().WithMessage("*'<f8'*expected '<i8' (int64)*");
        FluentActions.Invoking(() => Npy.ReadVector(pm)).Should().Throw<InvalidDataException>().WithMessage("*(1, 2)*expected a 1-D array*");
    }

    [Test]
    public void Writing_with_a_shape_that_does_not_match_the_data_is_an_argument_error_naming_both()
    {
        var act = () => Npy.Write(PathOf("x.npy"), [1.0, 2.0, 3.0], 2, 2);
        act.Should().Throw<ArgumentException>().WithMessage("*(2, 2) (4 elements)*'data' has 3*");
        var act3 = () => Npy.Write(PathOf("y.npy"), [1.0], 1, 1, 1);
        act3.Should().Throw<ArgumentException>().WithMessage("*expected 1 or 2 dimensions*");
        File.Exists(PathOf("x.npy")).Should().BeFalse();
    }

    [Test]
    public void Writing_replaces_an_existing_file_and_leaves_no_temporary_files_behind()
    {
        string p = PathOf("r.npy");
        Npy.Write(p, [1.0, 2.0]);
        Npy.Write(p, [3.0]);
        Npy.ReadVector(p).Should().Equal(3.0);
        Directory.GetFiles(_dir).Should().ContainSingle().Which.Should().Be(p);
    }

    // ------------------------------------------------------------ narrower dtypes

    [Test]
    public void Float32_files_are_widened_to_the_same_doubles_exactly()
    {
        float[] values = [1.5f, -0.1f, float.MaxValue, float.Epsilon, float.NegativeInfinity, 3e-39f];
        var raw = new byte[4 * values.Length];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(4 * i), values[i]);
        string p = PathOf("f4.npy");
        File.WriteAllBytes(p, HandMade("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", raw));
        var a = Npy.Read(p);
        a.Dtype.Should().Be(NpyDtype.Float64);
        a.StoredDtype.Should().Be(NpyDtype.Float32);
        a.Descr.Should().Be("<f4");
        a.Float64.Should().Equal(values.Select(v => (double)v));
        var m = Npy.ReadMatrix(p);
        (m.Rows, m.Cols).Should().Be((2, 3));
        m[1, 2].Should().Be((double)3e-39f);
    }

    [Test]
    public void Int32_and_uint8_files_are_widened_to_the_same_integers()
    {
        int[] ints = [0, -1, int.MinValue, int.MaxValue, 7];
        var raw = new byte[4 * ints.Length];
        for (int i = 0; i < ints.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(raw.AsSpan(4 * i), ints[i]);
        var i4 = Npy.Read(new MemoryStream(HandMade("{'descr': '<i4', 'fortran_order': False, 'shape': (5,), }", raw)), "i4");
        i4.StoredDtype.Should().Be(NpyDtype.Int32);
        i4.Int64.Should().Equal(ints.Select(v => (long)v));

        byte[] bytes = [0, 1, 9, 128, 255];
        var u1 = Npy.Read(new MemoryStream(HandMade("{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }", bytes)), "u1");
        (u1.Dtype, u1.StoredDtype, u1.Descr).Should().Be((NpyDtype.Int64, NpyDtype.UInt8, "|u1"));
        u1.Int64.Should().Equal(0L, 1L, 9L, 128L, 255L);
        string p = PathOf("labels.npy");
        File.WriteAllBytes(p, HandMade("{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }", bytes));
        Npy.ReadInt64(p).Data.Should().Equal(0L, 1L, 9L, 128L, 255L);
    }

    [Test]
    public void Refusing_an_integer_array_where_values_are_wanted_names_the_dtype_found_and_those_accepted()
    {
        string p = PathOf("u1.npy");
        File.WriteAllBytes(p, HandMade("{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", [1, 2]));
        FluentActions.Invoking(() => Npy.ReadVector(p)).Should().Throw<InvalidDataException>()
            .WithMessage($"{p}: dtype is '|u1'; expected '<f8' (float64) or '<f4' (float32) values.");
    }

    [Test]
    public void A_header_declaring_the_limit_with_a_short_file_is_refused_before_allocating_the_array()
    {
        byte[] file = HandMade("{'descr': '<f8', 'fortran_order': False, 'shape': (134217728,), }", SixDoubles);
        long before = GC.GetAllocatedBytesForCurrentThread();
        FluentActions.Invoking(() => Npy.Read(new MemoryStream(file), "big.npy")).Should().Throw<InvalidDataException>()
            .WithMessage("big.npy: data is truncated: 48 of 1073741824 bytes present*");
        FluentActions.Invoking(() => Npy.Read(new ForwardOnlyStream(file), "pipe.npy")).Should().Throw<InvalidDataException>()
            .WithMessage("pipe.npy: data is truncated: 48 of 1073741824 bytes present*");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(1 << 20, "neither a file nor a pipe makes the reader allocate the declared gigabyte");
    }
}

/// <summary>A read-only stream that cannot seek and returns at most 7 bytes per call,
/// like a pipe, so readers cannot rely on Length or on full reads.</summary>
internal sealed class ForwardOnlyStream(byte[] data) : Stream
{
    int _pos;
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
    public override int Read(Span<byte> buffer)
    {
        int n = Math.Min(Math.Min(buffer.Length, 7), data.Length - _pos);
        data.AsSpan(_pos, n).CopyTo(buffer);
        _pos += n;
        return n;
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

using System.Buffers.Binary;
using System.IO.Compression;
using Curvature.Models;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

public class IdxTests
{
    /// <summary>An IDX file built from the format description: 00 00 TYPE NDIMS, big-endian
    /// uint32 dimensions, then the payload — without Idx's writer.</summary>
    static byte[] HandMade(byte type, uint[] dims, byte[] payload)
    {
        var b = new byte[4 + 4 * dims.Length + payload.Length];
        b[2] = type; b[3] = (byte)dims.Length;
        for (int k = 0; k < dims.Length; k++) BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4 + 4 * k), dims[k]);
        payload.CopyTo(b, 4 + 4 * dims.Length);
        return b;
    }

    static byte[] Gzip(byte[] raw)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(raw);
        return ms.ToArray();
    }

    static byte[] Pattern(int n) => Enumerable.Range(0, n).Select(i => (byte)(i * 37 + 11)).ToArray();

    [TestCase(false)]
    [TestCase(true)]
    public void Hand_built_image_files_read_back_as_the_pixels_and_shape_written(bool gzip)
    {
        byte[] pixels = Pattern(3 * 4 * 5);
        byte[] file = HandMade(0x08, [3, 4, 5], pixels);
        if (gzip) file = Gzip(file);
        var (read, n, rows, cols) = Idx.ReadImages(new MemoryStream(file), "imgs");
        (n, rows, cols).Should().Be((3, 4, 5));
        read.Should().Equal(pixels);
    }

    [TestCase(false)]
    [TestCase(true)]
    public void Hand_built_label_files_read_back_as_the_labels_written(bool gzip)
    {
        byte[] labels = [3, 0, 9, 9, 1, 5];
        byte[] file = HandMade(0x08, [6], labels);
        if (gzip) file = Gzip(file);
        Idx.ReadLabels(new MemoryStream(file), "lbls").Should().Equal(labels);
    }

    [TestCase(false)]
    [TestCase(true)]
    public void The_writer_and_reader_round_trip_through_a_file_raw_and_gzip(bool gzip)
    {
        string dir = Path.Combine(Path.GetTempPath(), "curvature-idx-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string p = Path.Combine(dir, "a.idx");
            var a = new IdxArray(IdxType.UByte, [2, 3, 7], Pattern(42));
            Idx.Write(p, a, gzip);
            byte[] onDisk = File.ReadAllBytes(p);
            (onDisk[0] == 0x1F && onDisk[1] == 0x8B).Should().Be(gzip);
            var back = Idx.Read(p);
            back.Type.Should().Be(IdxType.UByte);
            back.Shape.Should().Equal(2, 3, 7);
            back.Payload.Should().Equal(a.Payload);
            Directory.GetFiles(dir).Should().ContainSingle();
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Test]
    public void The_writer_produces_exactly_the_bytes_of_the_format_description()
    {
        var ms = new MemoryStream();
        Idx.Write(ms, new IdxArray(IdxType.UByte, [2, 2], [1, 2, 3, 4]), gzip: false);
        ms.ToArray().Should().Equal(HandMade(0x08, [2, 2], [1, 2, 3, 4]));
    }

    [Test]
    public void Multi_byte_types_are_decoded_big_endian()
    {
        var i16 = new byte[4]; BinaryPrimitives.WriteInt16BigEndian(i16, -300); BinaryPrimitives.WriteInt16BigEndian(i16.AsSpan(2), 7);
        var i32 = new byte[4]; BinaryPrimitives.WriteInt32BigEndian(i32, -70000);
        var f32 = new byte[4]; BinaryPrimitives.WriteSingleBigEndian(f32, 0.25f);
        var f64 = new byte[8]; BinaryPrimitives.WriteDoubleBigEndian(f64, Math.PI);
        Idx.Read(new MemoryStream(HandMade(0x0B, [2], i16)), "s").ToDoubles().Should().Equal(-300, 7);
        Idx.Read(new MemoryStream(HandMade(0x0C, [1], i32)), "i").ToDoubles().Should().Equal(-70000);
        Idx.Read(new MemoryStream(HandMade(0x0D, [1], f32)), "f").ToDoubles().Should().Equal(0.25);
        Idx.Read(new MemoryStream(HandMade(0x0E, [1], f64)), "d").ToDoubles().Should().Equal(Math.PI);
        Idx.Read(new MemoryStream(HandMade(0x09, [2], [0xFF, 0x05])), "b").ToDoubles().Should().Equal(-1, 5);
    }

    [Test]
    public void A_non_seekable_gzip_stream_is_read_like_a_memory_stream()
    {
        byte[] labels = [1, 2, 3];
        Idx.ReadLabels(new ForwardOnlyStream(Gzip(HandMade(0x08, [3], labels))), "pipe").Should().Equal(labels);
    }

    static IEnumerable<TestCaseData> Corrupt()
    {
        byte[] images = HandMade(0x08, [2, 2, 2], Pattern(8));
        byte[] labels = HandMade(0x08, [4], [0, 1, 2, 3]);
        TestCaseData Case(string label, byte[] bytes, bool asImages, string fragment) =>
            new TestCaseData(bytes, asImages, fragment).SetName($"Idx_rejects_{label}");

        yield return Case("a_label_file_where_images_are_expected", labels, true, "IDX magic is 2049 (type 0x08, 1 dimensions); expected 2051 for MNIST images");
        yield return Case("an_image_file_where_labels_are_expected", images, false, "IDX magic is 2051 (type 0x08, 3 dimensions); expected 2049 for MNIST labels");
        yield return Case("float_images", HandMade(0x0D, [1, 1, 1], [0, 0, 0, 0]), true, "expected 2051");
        var nonzero = (byte[])images.Clone(); nonzero[0] = 1;
        yield return Case("a_magic_without_its_two_zero_bytes", nonzero, true, "expected IDX magic 0000TTNN");
        var badType = (byte[])images.Clone(); badType[2] = 0x0A;
        yield return Case("an_unknown_type_code", badType, true, "IDX type code is 0x0A; expected 08 (ubyte)");
        yield return Case("zero_dimensions", [0, 0, 8, 0], true, "0 dimensions; expected 1 to 8");
        yield return Case("a_file_shorter_than_the_magic", [0, 0], true, "only 2 bytes");
        yield return Case("an_empty_file", [], false, "only 0 bytes");
        yield return Case("a_header_cut_inside_the_dimensions", images[..9], true, "ends inside the 3 dimension sizes");
        yield return Case("truncated_pixels", images[..^1], true, "data is truncated: 7 of 8 bytes");
        yield return Case("truncated_gzip_pixels", Gzip(images[..^3]), true, "data is truncated: 5 of 8 bytes");
        yield return Case("trailing_bytes", [.. labels, 7], false, "bytes follow the 4 data bytes");
        yield return Case("a_dimension_product_overflow", HandMade(0x08, [65536, 65536, 65536], []), true, "dimensions [65536, 65536, 65536] of UByte declare 281474976710656 elements; expected at most 268435456 elements (268435456 bytes, Idx.MaxPayloadBytes)");
        yield return Case("a_dimension_beyond_int32", HandMade(0x08, [0x80000000u], []), false, "dimensions [2147483648] of UByte declare 2147483648 elements; expected at most 268435456");
        yield return Case("a_label_out_of_range", HandMade(0x08, [3], [0, 10, 1]), false, "label 10 at index 1 is out of range; expected a class in [0, 10)");
        var gz = Gzip(images); gz[10] ^= 0xFF; gz[11] ^= 0xFF; gz[12] ^= 0x5A;
        yield return Case("corrupt_gzip_data", gz, true, "corrupt gzip data");
        yield return Case("a_gzip_header_with_an_unknown_method", [0x1F, 0x8B, 0x07, 0, 0, 0, 0, 0, 0, 0xFF, 1, 2, 3], true, "corrupt gzip data");
    }

    [TestCaseSource(nameof(Corrupt))]
    public void Corrupt_files_raise_one_line_InvalidDataException_naming_the_file_and_the_expectation(byte[] bytes, bool asImages, string fragment)
    {
        Action act = asImages
            ? () => Idx.ReadImages(new MemoryStream(bytes), "digits.gz")
            : () => Idx.ReadLabels(new MemoryStream(bytes), "digits.gz");
        var e = act.Should().Throw<InvalidDataException>().Which;
        e.Message.Should().StartWith("digits.gz: ");
        e.Message.Should().Contain("expected");
        e.Message.Should().Contain(fragment);
        e.Message.Should().NotContain("\n");
    }

    [Test]
    public void A_missing_file_raises_FileNotFoundException_naming_it()
    {
        string p = Path.Combine(Path.GetTempPath(), "curvature-no-such-" + Guid.NewGuid().ToString("N") + ".gz");
        FluentActions.Invoking(() => Idx.ReadImages(p)).Should().Throw<FileNotFoundException>().WithMessage($"*'{p}'*");
    }

    // ------------------------------------------------------------ bounds (issue 13, item 4)

    [Test]
    public void A_small_gzip_file_declaring_gigabytes_is_refused_from_its_header_naming_file_dimensions_and_limit()
    {
        // 60000 × 28 × 28 × 8 doubles = 376 MB > 256 MiB: refused before any payload is read.
        string path = Path.Combine(Path.GetTempPath(), "curvature-bomb-" + Guid.NewGuid().ToString("N") + ".gz");
        try
        {
            File.WriteAllBytes(path, Gzip(HandMade(0x0E, [60000, 28, 28], new byte[64])));
            long before = GC.GetAllocatedBytesForCurrentThread();
            var act = () => Idx.Read(path);
            act.Should().Throw<InvalidDataException>()
                .WithMessage($"{path}: dimensions [60000, 28, 28] of Float64 declare 47040000 elements; expected at most 33554432 elements (268435456 bytes, Idx.MaxPayloadBytes).");
            (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(1 << 20);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void A_gzip_file_declaring_200_MB_but_delivering_1_KB_fails_as_truncated_without_allocating_the_declared_size()
    {
        byte[] bomb = Gzip(HandMade(0x08, [200, 1000, 1000], Pattern(1024)));
        long before = GC.GetAllocatedBytesForCurrentThread();
        var act = () => Idx.Read(new MemoryStream(bomb), "short.gz");
        act.Should().Throw<InvalidDataException>().WithMessage("short.gz: data is truncated: 1024 of 200000000 bytes present; expected 200000000.");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(4 << 20, "the buffer grows with delivered bytes, in chunks of at most 1 MiB");
    }

    [Test]
    public void A_gzip_stream_that_expands_far_past_its_declared_size_stops_one_byte_after_the_declared_payload()
    {
        // 10 declared bytes followed by 64 MiB of zeros (a 64 KiB gzip): read 11 bytes, refuse.
        var raw = new MemoryStream();
        raw.Write(HandMade(0x08, [10], Pattern(10)));
        raw.Write(new byte[64 << 20]);
        byte[] bomb = Gzip(raw.ToArray());
        bomb.Length.Should().BeLessThan(1 << 20);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var act = () => Idx.Read(new MemoryStream(bomb), "bomb.gz");
        act.Should().Throw<InvalidDataException>().WithMessage("bomb.gz: bytes follow the 10 data bytes; expected the file to end there.");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(1 << 20);
    }

    [Test]
    public void A_raw_file_shorter_than_its_declared_payload_is_refused_before_allocating_it()
    {
        byte[] file = HandMade(0x08, [100, 1000, 1000], Pattern(10));
        long before = GC.GetAllocatedBytesForCurrentThread();
        var act = () => Idx.Read(new MemoryStream(file), "cut.idx");
        act.Should().Throw<InvalidDataException>().WithMessage("cut.idx: data is truncated: 10 of 100000000 bytes present for dimensions [100, 1000, 1000]; expected 100000000.");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(1 << 20);
    }

    [Test]
    public void The_largest_accepted_payload_is_stated_and_one_element_more_is_refused()
    {
        Idx.MaxPayloadBytes.Should().Be(1L << 28);
        var act = () => Idx.Read(new MemoryStream(HandMade(0x0C, [(uint)(Idx.MaxPayloadBytes / 4) + 1], [])), "big.idx");
        act.Should().Throw<InvalidDataException>().WithMessage("big.idx: dimensions [67108865] of Int32 declare 67108865 elements; expected at most 67108864 elements (268435456 bytes, Idx.MaxPayloadBytes).");
    }
}

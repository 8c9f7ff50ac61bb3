using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using Curvature.Core;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>.npz archives as numpy.savez / savez_compressed write them: a zip of NAME.npy
/// entries, here holding a PyTorch nn.Sequential state_dict (0.weight [out, in], 0.bias [out]).</summary>
public class NpzTests
{
    string _dir = "";

    [SetUp]
    public void MakeDir() => _dir = Directory.CreateTempSubdirectory("curvature-npz-").FullName;

    [TearDown]
    public void RemoveDir() => Directory.Delete(_dir, recursive: true);

    string PathOf(string name) => Path.Combine(_dir, name);

    /// <summary>An NPY 1.0 file from the format description (not from Npy's writer): magic,
    /// version 1.0, little-endian uint16 header length, the dict padded with spaces and a
    /// newline so data starts at a multiple of 64, then raw little-endian data.</summary>
    static byte[] NpyFile(string descr, string shape, byte[] data, bool fortran = false)
    {
        string dict = $"{{'descr': '{descr}', 'fortran_order': {(fortran ? "True" : "False")}, 'shape': {shape}, }}";
        int total = (10 + dict.Length + 1 + 63) / 64 * 64;
        string header = dict + new string(' ', total - 10 - dict.Length - 1) + "\n";
        var b = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, (byte)(header.Length & 0xFF), (byte)(header.Length >> 8) };
        b.AddRange(Encoding.ASCII.GetBytes(header));
        b.AddRange(data);
        return [.. b];
    }

    static byte[] F8(params double[] v)
    {
        var b = new byte[8 * v.Length];
        for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(b.AsSpan(8 * i), v[i]);
        return b;
    }

    static byte[] F4(params float[] v)
    {
        var b = new byte[4 * v.Length];
        for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(4 * i), v[i]);
        return b;
    }

    /// <summary>A zip built with System.IO.Compression, entry by entry, as numpy's zipfile does.</summary>
    static byte[] Zip(bool deflate, params (string Entry, byte[] Bytes)[] entries)
    {
        var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (entry, bytes) in entries)
            {
                using var s = zip.CreateEntry(entry, deflate ? CompressionLevel.Optimal : CompressionLevel.NoCompression).Open();
                s.Write(bytes);
            }
        }
        return ms.ToArray();
    }

    // A 2-3-2 MLP's state_dict: 0.weight [3, 2], 0.bias [3], 2.weight [2, 3], 2.bias [2].
    static readonly double[] W0 = [0.5, -1.25, 2.0, 0.0, -0.0, 1e-300];
    static readonly double[] B0 = [0.1, 0.2, -0.3];
    static readonly double[] W2 = [1.0, 2.0, 3.0, -4.0, double.MaxValue, double.Epsilon];
    static readonly double[] B2 = [-7.5, 8.25];

    static (string, byte[])[] StateDictEntries() =>
    [
        ("0.weight.npy", NpyFile("<f8", "(3, 2)", F8(W0))),
        ("0.bias.npy", NpyFile("<f8", "(3,)", F8(B0))),
        ("2.weight.npy", NpyFile("<f8", "(2, 3)", F8(W2))),
        ("2.bias.npy", NpyFile("<f8", "(2,)", F8(B2))),
    ];

    [TestCase(false, TestName = "A_state_dict_archive_stored_as_numpy_savez_writes_it_reads_back_by_name_shape_and_value")]
    [TestCase(true, TestName = "A_state_dict_archive_deflated_as_numpy_savez_compressed_writes_it_reads_back_by_name_shape_and_value")]
    public void A_numpy_written_state_dict_reads_back(bool deflate)
    {
        string p = PathOf("weights.npz");
        File.WriteAllBytes(p, Zip(deflate, StateDictEntries()));
        var arrays = Npz.Read(p);
        arrays.Keys.Should().Equal("0.weight", "0.bias", "2.weight", "2.bias");
        arrays["0.weight"].Shape.Should().Equal(3, 2);
        arrays["0.weight"].Float64.Should().Equal(W0);
        arrays["0.bias"].Shape.Should().Equal(3);
        arrays["0.bias"].Float64.Should().Equal(B0);
        arrays["2.weight"].Float64.Should().Equal(W2);
        arrays["2.bias"].Float64.Should().Equal(B2);
        // θ in parameters_to_vector order is the entries concatenated as they come.
        arrays.Values.SelectMany(a => a.Float64!).Should().Equal([.. W0, .. B0, .. W2, .. B2]);
    }

    [Test]
    public void A_float32_state_dict_as_torch_saves_by_default_is_widened_to_the_same_doubles()
    {
        float[] w = [0.1f, -2.5f, 3.25f, 1e-30f];
        var arrays = Npz.Read(new MemoryStream(Zip(true, ("0.weight.npy", NpyFile("<f4", "(2, 2)", F4(w))))), "f32.npz");
        arrays["0.weight"].StoredDtype.Should().Be(NpyDtype.Float32);
        arrays["0.weight"].Float64.Should().Equal(w.Select(v => (double)v));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void Written_arrays_of_every_rank_survive_a_round_trip_bit_for_bit(bool compress)
    {
        var rng = new Rng(5);
        double[] conv = Enumerable.Range(0, 2 * 1 * 3 * 3).Select(_ => rng.NextGaussian()).ToArray();
        (string, int[], double[])[] arrays =
        [
            ("0.weight", [2, 1, 3, 3], conv),
            ("0.bias", [2], [double.NaN, double.NegativeInfinity]),
            ("scale", [], [-0.0]),
            ("empty", [0, 4], []),
            ("3.weight", [2, 18], Enumerable.Range(0, 36).Select(i => i / 7.0).ToArray()),
        ];
        string p = PathOf("rt.npz");
        Npz.Write(p, arrays, compress);
        var back = Npz.Read(p);
        back.Keys.Should().Equal("0.weight", "0.bias", "scale", "empty", "3.weight");
        foreach (var (name, shape, data) in arrays)
        {
            back[name].Shape.Should().Equal(shape);
            back[name].Float64!.Select(BitConverter.DoubleToInt64Bits).Should().Equal(data.Select(BitConverter.DoubleToInt64Bits), name);
        }
        Directory.GetFiles(_dir).Should().Equal(p);
    }

    [TestCase(false, (ushort)0)]
    [TestCase(true, (ushort)8)]
    public void The_writer_produces_numpy_entries_named_NAME_npy_with_NPY_1_0_headers_and_the_zip_method_of_savez(bool compress, ushort method)
    {
        var ms = new MemoryStream();
        Npz.Write(ms, [("0.weight", [3, 2], W0), ("0.bias", [3], B0)], compress);
        byte[] bytes = ms.ToArray();
        // Local file header: signature PK\3\4, compression method at offset 8 (0 stored, 8 deflated).
        BinaryPrimitives.ReadUInt32LittleEndian(bytes).Should().Be(0x04034b50u);
        BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)).Should().Be(method);
        using var zip = new ZipArchive(new MemoryStream(bytes), ZipArchiveMode.Read);
        zip.Entries.Select(e => e.FullName).Should().Equal("0.weight.npy", "0.bias.npy");
        var entry = new MemoryStream();
        using (var s = zip.Entries[0].Open()) s.CopyTo(entry);
        entry.ToArray().Should().Equal(NpyFile("<f8", "(3, 2)", F8(W0)), "the entry is exactly the .npy numpy writes");
    }

    [Test]
    public void Writing_the_same_arrays_twice_gives_the_same_bytes()
    {
        byte[] Once()
        {
            var ms = new MemoryStream();
            Npz.Write(ms, [("0.weight", [3, 2], W0)], compress: true);
            return ms.ToArray();
        }
        Once().Should().Equal(Once());
    }

    // ------------------------------------------------------------ refusals

    [Test]
    public void A_Fortran_order_entry_is_refused_naming_the_file_the_entry_and_C_order()
    {
        string p = PathOf("f.npz");
        File.WriteAllBytes(p, Zip(false, ("0.weight.npy", NpyFile("<f8", "(3, 2)", F8(W0), fortran: true))));
        FluentActions.Invoking(() => Npz.Read(p)).Should().Throw<InvalidDataException>()
            .WithMessage($"{p}: entry '0.weight.npy': fortran_order is True; expected C order (fortran_order False; in numpy save np.ascontiguousarray(a)).");
    }

    static IEnumerable<TestCaseData> Rejections()
    {
        TestCaseData Case(string label, byte[] bytes, string message) => new TestCaseData(bytes, message).SetName("Npz_rejects_" + label);
        yield return Case("a_file_that_is_not_a_zip", NpyFile("<f8", "(1,)", F8(1)), "w.npz: not a zip archive (*); expected an .npz written by numpy.savez or numpy.savez_compressed.");
        yield return Case("an_entry_that_is_not_an_npy", Zip(false, ("notes.txt", [1, 2])), "w.npz: entry 'notes.txt' is not an array; expected only NAME.npy entries as numpy.savez writes them.");
        yield return Case("an_entry_with_a_bad_dtype", Zip(true, ("x.npy", NpyFile("<c16", "(1,)", new byte[16]))), "w.npz: entry 'x.npy': dtype '<c16' is not supported; expected '<f8' (float64)*");
        yield return Case("a_truncated_deflated_entry", Zip(true, ("x.npy", NpyFile("<f8", "(4,)", F8(1, 2, 3)))), "w.npz: entry 'x.npy': data is truncated: 24 of 32 bytes present*");
        yield return Case("a_rank_beyond_the_limit", Zip(false, ("x.npy", NpyFile("<f8", "(1, 1, 1, 1, 1, 1, 1, 1, 1)", F8(1)))), "w.npz: entry 'x.npy': shape (1, 1, 1, 1, 1, 1, 1, 1, 1) has 9 dimensions; expected at most 8.");
        yield return Case("an_entry_declaring_a_gigabyte_with_8_bytes_of_data", Zip(true, ("x.npy", NpyFile("<f8", "(134217728,)", F8(1)))), "w.npz: entry 'x.npy': data is truncated: 8 of 1073741824 bytes present*");
        yield return Case("a_second_entry_past_the_archive_budget",
            Zip(false, ("a.npy", NpyFile("<f8", "(3,)", F8(1, 2, 3))), ("b.npy", NpyFile("<f8", "(134217726,)", F8(1)))),
            "w.npz: entry 'b.npy': shape (134217726,) has 134217726 elements; expected at most 134217725 (Npy.MaxElements 134217728).");
    }

    [TestCaseSource(nameof(Rejections))]
    public void Bad_archives_raise_one_line_InvalidDataException_naming_the_file(byte[] bytes, string message)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = FluentActions.Invoking(() => Npz.Read(new MemoryStream(bytes), "w.npz")).Should().Throw<InvalidDataException>().Which;
        e.Message.Should().Match(message);
        e.Message.Should().NotContain("\n");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(8 << 20, "no refusal allocates what a header declares");
    }

    [Test]
    public void A_missing_archive_raises_FileNotFoundException_naming_it()
    {
        string p = PathOf("none.npz");
        FluentActions.Invoking(() => Npz.Read(p)).Should().Throw<FileNotFoundException>().WithMessage($"File '{p}' does not exist; expected an .npz archive.");
    }

    [Test]
    public void Invalid_names_or_shapes_are_argument_errors_and_nothing_is_written()
    {
        string p = PathOf("bad.npz");
        FluentActions.Invoking(() => Npz.Write(p, [("0.weight", [2], [1.0]), ("0.weight", [1], [1.0])]))
            .Should().Throw<ArgumentException>().WithMessage("*array '0.weight' of shape (2,) but 1 values; expected the product of the shape*");
        FluentActions.Invoking(() => Npz.Write(p, [("a", [1], [1.0]), ("a", [1], [2.0])]))
            .Should().Throw<ArgumentException>().WithMessage("Argument 'arrays' names 'a' twice; expected unique names.*");
        FluentActions.Invoking(() => Npz.Write(p, [("../evil", [1], [1.0])]))
            .Should().Throw<ArgumentException>().WithMessage("Argument 'arrays' has an array named '../evil'; expected a non-empty name without '/'*");
        FluentActions.Invoking(() => Npz.Write(p, [("", [1], [1.0])]))
            .Should().Throw<ArgumentException>().WithMessage("Argument 'arrays' has an array named ''*");
        File.Exists(p).Should().BeFalse();
    }

    // ------------------------------------------------------------ numpy itself

    static bool NumpyAvailable()
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("python3", "-c \"import numpy\"") { RedirectStandardError = true, RedirectStandardOutput = true })!;
            p.WaitForExit();
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception) { return false; }
    }

    static string Python(string script)
    {
        var psi = new ProcessStartInfo("python3") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        p.StandardInput.Write(script);
        p.StandardInput.Close();
        string output = p.StandardOutput.ReadToEnd();
        string error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        p.ExitCode.Should().Be(0, error);
        return output.Trim();
    }

    [Test]
    public void Real_numpy_reads_what_we_write_and_we_read_what_it_writes_stored_and_compressed()
    {
        if (!NumpyAvailable())
            Assert.Ignore("python3 with numpy is not installed here: the cross-check against real numpy.savez/np.load did not run.");
        string ours = PathOf("ours.npz");
        Npz.Write(ours, [("0.weight", [3, 2], W0), ("0.bias", [3], B0), ("1.weight", [2, 1, 3, 3], Enumerable.Range(0, 18).Select(i => i * 0.5).ToArray())], compress: true);
        string sums = Python($"import numpy as np\nz = np.load(r'{ours}')\nprint(';'.join(f'{{k}}:{{z[k].shape}}:{{z[k].dtype}}:{{z[k].tobytes().hex()}}' for k in z.files))\n");
        sums.Should().Be(string.Join(";",
            $"0.weight:(3, 2):float64:{Convert.ToHexString(F8(W0)).ToLowerInvariant()}",
            $"0.bias:(3,):float64:{Convert.ToHexString(F8(B0)).ToLowerInvariant()}",
            $"1.weight:(2, 1, 3, 3):float64:{Convert.ToHexString(F8(Enumerable.Range(0, 18).Select(i => i * 0.5).ToArray())).ToLowerInvariant()}"));

        string stored = PathOf("np.npz"), packed = PathOf("npc.npz");
        Python($"import numpy as np\nd = {{'0.weight': np.arange(6.0).reshape(3, 2) / 3, '0.bias': np.array([1.5, -2.0, 0.25], dtype=np.float32), 'n': np.arange(4, dtype=np.int32)}}\nnp.savez(r'{stored}', **d)\nnp.savez_compressed(r'{packed}', **d)\n");
        foreach (string p in new[] { stored, packed })
        {
            var z = Npz.Read(p);
            z.Keys.Should().Equal("0.weight", "0.bias", "n");
            z["0.weight"].Float64.Should().Equal(Enumerable.Range(0, 6).Select(i => i / 3.0));
            z["0.bias"].Float64.Should().Equal(1.5, -2.0, 0.25);
            z["n"].Int64.Should().Equal(0L, 1L, 2L, 3L);
        }
    }

    /// <summary>The state dict of 2-3-2 plus an entry whose header claims 25,000,000 float64 values (200 MB) but carries none.</summary>
    static (string, byte[])[] WithForeignHugeEntry() => [.. StateDictEntries(), ("bogus.npy", NpyFile("<f8", "(25000000,)", []))];

    [Test]
    public void Headers_give_every_entrys_name_dtype_and_shape_without_decoding_its_data()
    {
        string p = PathOf("bomb.npz");
        File.WriteAllBytes(p, Zip(true, WithForeignHugeEntry()));
        var headers = Npz.Headers(p);
        headers.Select(h => h.Name).Should().Equal("0.weight", "0.bias", "2.weight", "2.bias", "bogus");
        headers[0].Shape.Should().Equal(3, 2);
        headers[4].Shape.Should().Equal(25_000_000);
        headers[4].Dtype.Should().Be(NpyDtype.Float64);
        // Decoding it, by contrast, finds the data missing: the headers were read without touching it.
        FluentActions.Invoking(() => Npz.Read(p)).Should().Throw<InvalidDataException>().WithMessage("*bogus*");
    }

    [Test]
    public void A_theta_archive_with_a_foreign_array_is_refused_by_its_name_before_any_array_is_decoded()
    {
        string p = PathOf("bomb.npz");
        File.WriteAllBytes(p, Zip(true, WithForeignHugeEntry()));
        var net = Curvature.Models.Sequential.Parse("2-3-2", Curvature.Models.Activation.Tanh);
        FluentActions.Invoking(() => Curvature.Optimizers.ThetaFiles.Read(p, net, "theta")).Should().Throw<ArgumentException>()
            .WithMessage($"Option '--theta' names '{p}', which has arrays 'bogus' that 2-3-2 does not have; expected exactly *");
    }
}

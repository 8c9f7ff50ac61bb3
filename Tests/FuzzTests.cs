using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Curvature.Core;
using Curvature.Models;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>
/// Seeded mutation fuzzing of both binary readers, in memory: each reader gets
/// <see cref="FilesPerReader"/> mutated files (bit flips, truncations, insertions,
/// deletions, header edits, and for gzip inputs edits behind the compression), and the only
/// exception allowed to escape is the documented InvalidDataException with a one-line
/// message naming the source.
/// </summary>
public class FuzzTests
{
    const int FilesPerReader = 10_000;

    static byte[] NpyBytes(Action<Stream> write)
    {
        var ms = new MemoryStream();
        write(ms);
        return ms.ToArray();
    }

    /// <summary>Rewrites an NPY 1.0 file as 2.0 (4-byte header length), keeping 64-byte alignment.</summary>
    static byte[] AsVersion2(byte[] v1)
    {
        int hl = BinaryPrimitives.ReadUInt16LittleEndian(v1.AsSpan(8));
        string header = Encoding.ASCII.GetString(v1, 10, hl).TrimEnd(' ', '\n');
        int unpadded = 12 + header.Length + 1;
        header += new string(' ', (unpadded + 63) / 64 * 64 - unpadded) + "\n";
        var b = new List<byte>(v1[..6]) { 2, 0 };
        var len = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(len, (uint)header.Length);
        b.AddRange(len);
        b.AddRange(Encoding.ASCII.GetBytes(header));
        b.AddRange(v1[(10 + hl)..]);
        return [.. b];
    }

    static byte[][] NpySeeds()
    {
        var rng = new Rng(1UL);
        var m = new double[12]; rng.FillGaussian(m);
        byte[] f2 = NpyBytes(s => Npy.Write(s, m, 3, 4));
        byte[] i1 = NpyBytes(s => Npy.Write(s, [5L, -1L, 0L, long.MaxValue, 3L]));
        byte[] empty = NpyBytes(s => Npy.Write(s, ReadOnlySpan<double>.Empty, 0, 3));
        byte[] f1 = NpyBytes(s => Npy.Write(s, [1.0, 2.0]));
        return [f2, i1, empty, f1, AsVersion2(f2), AsVersion2(i1)];
    }

    static byte[] IdxRaw(byte type, int[] dims, byte[] payload)
    {
        var ms = new MemoryStream();
        Idx.Write(ms, new IdxArray((IdxType)type, dims, payload), gzip: false);
        return ms.ToArray();
    }

    static byte[] Gzip(byte[] raw)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(raw);
        return ms.ToArray();
    }

    static byte[] Gunzip(byte[] gz)
    {
        using var z = new GZipStream(new MemoryStream(gz), CompressionMode.Decompress);
        var ms = new MemoryStream();
        z.CopyTo(ms);
        return ms.ToArray();
    }

    static byte[][] IdxSeeds()
    {
        byte[] images = IdxRaw(0x08, [3, 4, 4], Enumerable.Range(0, 48).Select(i => (byte)(i * 5)).ToArray());
        byte[] labels = IdxRaw(0x08, [6], [0, 9, 3, 3, 7, 1]);
        byte[] shorts = IdxRaw(0x0B, [2, 3], Enumerable.Range(0, 12).Select(i => (byte)i).ToArray());
        byte[] doubles = IdxRaw(0x0E, [2], new byte[16]);
        return [images, labels, Gzip(images), Gzip(labels), shorts, doubles];
    }

    static bool IsGzip(byte[] b) => b.Length >= 2 && b[0] == 0x1F && b[1] == 0x8B;

    static readonly byte[] HeaderAlphabet = Encoding.ASCII.GetBytes("0123456789(),: '\"{}<>fiTFx-\n\\").Concat(new byte[] { 0x00, 0xFF, 0x80 }).ToArray();

    /// <summary>One to three random edits; <paramref name="headerEnd"/> bounds header edits.</summary>
    static byte[] Mutate(Rng rng, byte[] seed, int headerEnd, bool npy)
    {
        var b = new List<byte>(seed);
        int edits = 1 + rng.NextInt(3);
        for (int e = 0; e < edits; e++)
        {
            switch (rng.NextInt(7))
            {
                case 0: // bit flips
                    if (b.Count == 0) break;
                    for (int k = 1 + rng.NextInt(4); k > 0; k--) { int i = rng.NextInt(b.Count); b[i] ^= (byte)(1 << rng.NextInt(8)); }
                    break;
                case 1: // truncation
                    if (b.Count > 0) { int cut = rng.NextInt(b.Count); b.RemoveRange(cut, b.Count - cut); }
                    break;
                case 2: // insertion of random bytes
                    {
                        int at = rng.NextInt(b.Count + 1);
                        var ins = new byte[1 + rng.NextInt(8)];
                        for (int k = 0; k < ins.Length; k++) ins[k] = (byte)rng.NextInt(256);
                        b.InsertRange(at, ins);
                        break;
                    }
                case 3: // deletion of a range
                    {
                        if (b.Count == 0) break;
                        int at = rng.NextInt(b.Count);
                        b.RemoveRange(at, Math.Min(b.Count - at, 1 + rng.NextInt(8)));
                        break;
                    }
                case 4: // header edit with syntax-relevant characters
                    {
                        int end = Math.Min(b.Count, headerEnd);
                        if (end == 0) break;
                        b[rng.NextInt(end)] = npy ? HeaderAlphabet[rng.NextInt(HeaderAlphabet.Length)] : (byte)rng.NextInt(256);
                        break;
                    }
                case 5: // length / dimension field rewritten with an arbitrary (often huge) value
                    {
                        int at = npy ? 8 : 4 + 4 * rng.NextInt(3);
                        int width = npy ? 2 : 4;
                        if (b.Count < at + width) break;
                        uint v = rng.NextInt(2) == 0 ? (uint)rng.NextInt(int.MaxValue) : (uint)rng.NextInt(300);
                        for (int k = 0; k < width; k++) b[at + k] = (byte)(npy ? v >> (8 * k) : v >> (8 * (width - 1 - k)));
                        break;
                    }
                default: // a shape digit replaced (npy) or the type/ndims byte changed (IDX)
                    {
                        if (npy)
                        {
                            int end = Math.Min(b.Count, headerEnd);
                            var digits = Enumerable.Range(0, end).Where(i => b[i] >= '0' && b[i] <= '9').ToList();
                            if (digits.Count > 0) b[digits[rng.NextInt(digits.Count)]] = (byte)('0' + rng.NextInt(10));
                        }
                        else if (b.Count >= 4)
                        {
                            b[2 + rng.NextInt(2)] = (byte)rng.NextInt(16);
                        }
                        break;
                    }
            }
        }
        return [.. b];
    }

    static string Check(Action read, string name, int iteration, ref int accepted, ref int rejected)
    {
        try
        {
            read();
            accepted++;
            return "";
        }
        catch (InvalidDataException e)
        {
            rejected++;
            if (!e.Message.StartsWith(name + ": ", StringComparison.Ordinal) || e.Message.Contains('\n'))
                return $"#{iteration}: message not one line naming the source: {e.Message}";
            return "";
        }
        catch (Exception e)
        {
            return $"#{iteration}: {e.GetType().Name}: {e.Message}";
        }
    }

    [Test]
    public void Ten_thousand_mutated_npy_files_raise_nothing_but_one_line_InvalidDataException()
    {
        byte[][] seeds = NpySeeds();
        var rng = new Rng(20240601UL);
        var failures = new List<string>();
        int accepted = 0, rejected = 0;
        for (int it = 0; it < FilesPerReader; it++)
        {
            byte[] seed = seeds[it % seeds.Length];
            int headerEnd = seed[6] == 1 ? 10 + BinaryPrimitives.ReadUInt16LittleEndian(seed.AsSpan(8)) : 12 + (int)BinaryPrimitives.ReadUInt32LittleEndian(seed.AsSpan(8));
            byte[] file = Mutate(rng, seed, headerEnd, npy: true);
            bool pipe = it % 4 == 3;
            string f = Check(() =>
            {
                var a = Npy.Read(pipe ? new ForwardOnlyStream(file) : new MemoryStream(file), "fuzz.npy");
                long count = a.Shape.Aggregate(1L, (p, d) => p * d);
                long held = a.Float64?.Length ?? a.Int64!.Length;
                if (held != count || a.Shape.Length is < 1 or > 2)
                    throw new InvalidOperationException($"accepted an array whose shape {a.ShapeText} disagrees with its {held} elements");
            }, "fuzz.npy", it, ref accepted, ref rejected);
            if (f.Length > 0) failures.Add(f);
        }
        failures.Should().BeEmpty();
        rejected.Should().BeGreaterThan(FilesPerReader / 2, "most mutations break a strict format");
        accepted.Should().BeGreaterThan(0, "mutations inside the data leave a valid file");
    }

    [Test]
    public void Ten_thousand_mutated_IDX_files_raw_and_gzip_raise_nothing_but_one_line_InvalidDataException()
    {
        byte[][] seeds = IdxSeeds();
        var rng = new Rng(19980101UL);
        var failures = new List<string>();
        int accepted = 0, rejected = 0;
        for (int it = 0; it < FilesPerReader; it++)
        {
            int which = it % seeds.Length;
            byte[] seed = seeds[which];
            byte[] file;
            if (IsGzip(seed) && rng.NextInt(2) == 0)
            {
                // Mutate behind the compression so the edit reaches the IDX parser itself.
                byte[] raw = Gunzip(seed);
                file = Gzip(Mutate(rng, raw, 16, npy: false));
            }
            else
            {
                file = Mutate(rng, seed, IsGzip(seed) ? 20 : 16, npy: false);
            }
            bool pipe = it % 4 == 3;
            Stream Open() => pipe ? new ForwardOnlyStream(file) : new MemoryStream(file);
            Action read = (which % 2) switch
            {
                0 when which < 4 => () => Idx.ReadImages(Open(), "fuzz.idx"),
                1 when which < 4 => () => Idx.ReadLabels(Open(), "fuzz.idx"),
                _ => () => Idx.Read(Open(), "fuzz.idx").ToDoubles(),
            };
            string f = Check(read, "fuzz.idx", it, ref accepted, ref rejected);
            if (f.Length > 0) failures.Add(f);
        }
        failures.Should().BeEmpty();
        rejected.Should().BeGreaterThan(FilesPerReader / 4);
        accepted.Should().BeGreaterThan(0);
    }
}

using System.Buffers.Binary;
using System.IO.Compression;
using System.Security.Cryptography;
using Curvature.Models;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>The embedded Fashion-MNIST images and their data specs (Models/Data/Fashion/README.md).</summary>
public class FashionTests
{
    // From Models/Data/Fashion/README.md, the provenance record of the embedded files.
    const string ImagesSha256 = "c72d329fb1f3dba94305c1f1c158ec23cfeafefa113f33cbc5b019a5de656f9b";
    const string LabelsSha256 = "7bde4f174080da113b6eee451bce27595f79feb9b31368a14ef1985bdab28a12";

    /// <summary>Gunzips a resource and skips the IDX header (magic and big-endian dimensions) without the Idx reader.</summary>
    static (int[] Dims, byte[] Payload) DecodeIndependently(string resource)
    {
        using var s = Mnist.OpenResource(resource);
        using var gz = new GZipStream(s, CompressionMode.Decompress);
        var ms = new MemoryStream();
        gz.CopyTo(ms);
        byte[] all = ms.ToArray();
        int nd = all[3];
        var dims = new int[nd];
        for (int k = 0; k < nd; k++) dims[k] = BinaryPrimitives.ReadInt32BigEndian(all.AsSpan(4 + 4 * k));
        return (dims, all[(4 + 4 * nd)..]);
    }

    static readonly Lazy<(int[] Dims, byte[] Payload)> RawImages = new(() => DecodeIndependently(Fashion.ImagesResource));
    static readonly Lazy<(int[] Dims, byte[] Payload)> RawLabels = new(() => DecodeIndependently(Fashion.LabelsResource));

    [TestCase(Fashion.ImagesResource, ImagesSha256)]
    [TestCase(Fashion.LabelsResource, LabelsSha256)]
    public void Embedded_Fashion_resources_have_the_SHA256_recorded_in_the_data_README(string resource, string sha)
    {
        using var s = Mnist.OpenResource(resource);
        Convert.ToHexStringLower(SHA256.HashData(s)).Should().Be(sha);
    }

    [Test]
    public void The_set_holds_1000_images_per_class_and_the_first_8000_hold_778_to_812_per_class()
    {
        RawImages.Value.Dims.Should().Equal(10_000, 28, 28);
        Fashion.PixelBytes.ToArray().Should().Equal(RawImages.Value.Payload);
        var all = new int[10];
        foreach (byte y in Fashion.LabelBytes) all[y]++;
        all.Should().OnlyContain(c => c == 1000);
        var train = DataSpec.Parse("fashion:8000");
        var counts = new int[10];
        foreach (int y in train.Labels!) counts[y]++;
        counts.Min().Should().Be(778);
        counts.Max().Should().Be(812);
    }

    [Test]
    public void Mean_pixel_over_all_10000_images_is_the_README_0_2845()
    {
        double sum = DataSpec.Parse("fashion:8000").X.Data.Sum() + DataSpec.Parse("fashion-test").X.Data.Sum();
        (sum / (10_000 * 784)).Should().BeApproximately(0.2845, 5e-5);
    }

    [TestCase("fashion:100", DataKind.Fashion, 100, 784, 0)]
    [TestCase("fashion14:50", DataKind.Fashion14, 50, 196, 0)]
    [TestCase("fashion-test", DataKind.FashionTest, 2000, 784, 8000)]
    [TestCase("fashion14-test", DataKind.Fashion14Test, 2000, 196, 8000)]
    public void Fashion_specs_take_the_first_N_or_the_last_2000_images_with_pixels_byte_over_255(string spec, DataKind kind, int n, int d, int start)
    {
        DataSpec.FromString(spec).Kind.Should().Be(kind);
        var data = DataSpec.Parse(spec);
        data.Count.Should().Be(n);
        data.Features.Should().Be(d);
        data.Classes.Should().Be(10);
        data.Name.Should().Be(spec);
        data.Labels.Should().Equal(RawLabels.Value.Payload[start..(start + n)].Select(b => (int)b));
        byte[] raw = RawImages.Value.Payload;
        double P(int i, int r, int c) => raw[(start + i) * 784 + r * 28 + c] / 255.0;
        int side = d == 784 ? 28 : 14;
        foreach (int i in new[] { 0, n / 2, n - 1 })
            for (int r = 0; r < side; r++)
                for (int c = 0; c < side; c++)
                {
                    double expected = side == 28 ? P(i, r, c)
                        : (P(i, 2 * r, 2 * c) + P(i, 2 * r, 2 * c + 1) + P(i, 2 * r + 1, 2 * c) + P(i, 2 * r + 1, 2 * c + 1)) / 4;
                    data.X[i, r * side + c].Should().BeApproximately(expected, 1e-15);
                }
    }

    [TestCase("fashion:0", "N = 0")]
    [TestCase("fashion14:8001", "N = 8001")]
    [TestCase("fashion", "lacks its fields")]
    [TestCase("fashion-test:5", "takes no fields")]
    public void Bad_fashion_specs_are_rejected_quoting_the_spec(string spec, string fragment)
    {
        var act = () => DataSpec.FromString(spec);
        act.Should().Throw<ArgumentException>().WithMessage($"*'{spec}'*{fragment}*");
    }

    [Test]
    public void Fashion_and_mnist_are_different_images_of_the_same_shape()
    {
        var f = DataSpec.Parse("fashion:10");
        var m = DataSpec.Parse("mnist:10");
        f.Features.Should().Be(m.Features);
        f.X.Data.Should().NotEqual(m.X.Data);
    }
}

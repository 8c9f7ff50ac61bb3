using System.Buffers.Binary;
using System.IO.Compression;
using System.Security.Cryptography;
using Curvature.Core;
using Curvature.Models;
using FluentAssertions;
using MathNet.Numerics.LinearAlgebra;
using NUnit.Framework;

namespace Curvature.Tests;

public class DatasetTests
{
    // From Models/Data/README.md, the provenance record of the embedded files.
    const string ImagesSha256 = "6b04b4f8d1b2cb7effaa48873657def81f5cd9127a69d948c6a98e2d69acc760";
    const string LabelsSha256 = "15ac8166d81312aa7c987077246181b773154de7a156bb6ddebcbc6da33c531d";
    static readonly int[] ReadmeClassCounts = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

    /// <summary>Decodes an embedded gzip IDX resource without the Idx reader: gunzip,
    /// skip the 4-byte magic and the big-endian dimensions, return dims and payload.</summary>
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

    static readonly Lazy<(int[] Dims, byte[] Payload)> RawImages = new(() => DecodeIndependently(Mnist.ImagesResource));
    static readonly Lazy<(int[] Dims, byte[] Payload)> RawLabels = new(() => DecodeIndependently(Mnist.LabelsResource));

    [TestCase(Mnist.ImagesResource, ImagesSha256)]
    [TestCase(Mnist.LabelsResource, LabelsSha256)]
    public void Embedded_MNIST_resources_have_the_SHA256_recorded_in_the_data_README(string resource, string sha)
    {
        using var s = Mnist.OpenResource(resource);
        Convert.ToHexStringLower(SHA256.HashData(s)).Should().Be(sha);
    }

    [Test]
    public void The_embedded_set_holds_10000_28x28_digits_with_the_README_class_counts()
    {
        Mnist.PixelBytes.Length.Should().Be(10_000 * 28 * 28);
        var counts = new int[10];
        foreach (byte y in Mnist.LabelBytes) counts[y]++;
        counts.Should().Equal(ReadmeClassCounts);
        RawImages.Value.Dims.Should().Equal(10_000, 28, 28);
    }

    [Test]
    public void Mnist_N_is_the_first_N_digits_with_pixels_byte_over_255_in_the_unit_interval()
    {
        Dataset d = Mnist.Train(8000);
        d.Count.Should().Be(8000);
        d.Features.Should().Be(784);
        d.Classes.Should().Be(10);
        byte[] raw = RawImages.Value.Payload;
        for (int k = 0; k < d.X.Data.Length; k++)
            if (d.X.Data[k] != raw[k] / 255.0) Assert.Fail($"pixel {k}: {d.X.Data[k]} != {raw[k]}/255");
        d.X.Data.Min().Should().Be(0.0);
        d.X.Data.Max().Should().Be(1.0);
        d.Labels.Should().Equal(RawLabels.Value.Payload[..8000].Select(b => (int)b));
    }

    [Test]
    public void Mnist_test_is_the_last_2000_digits_and_is_disjoint_from_the_training_pool()
    {
        Dataset t = Mnist.Test();
        t.Count.Should().Be(2000);
        t.Name.Should().Be("mnist-test");
        byte[] raw = RawImages.Value.Payload;
        t.X[0, 300].Should().Be(raw[8000 * 784 + 300] / 255.0);
        t.X[1999, 500].Should().Be(raw[9999 * 784 + 500] / 255.0);
        t.Labels.Should().Equal(RawLabels.Value.Payload[8000..].Select(b => (int)b));
        Mnist.Test(14).Count.Should().Be(2000);
    }

    [Test]
    public void Mnist14_pixel_r_c_is_the_mean_of_the_2x2_block_at_2r_2c_over_255()
    {
        const int image = 1234;
        Dataset d = Mnist.Train(image + 1, side: 14);
        d.Features.Should().Be(196);
        byte[] raw = RawImages.Value.Payload;
        double P(int r, int c) => raw[image * 784 + r * 28 + c] / 255.0;
        for (int r = 0; r < 14; r++)
            for (int c = 0; c < 14; c++)
            {
                double expected = (P(2 * r, 2 * c) + P(2 * r, 2 * c + 1) + P(2 * r + 1, 2 * c) + P(2 * r + 1, 2 * c + 1)) / 4;
                d.X[image, r * 14 + c].Should().BeApproximately(expected, 1e-15, $"pixel ({r}, {c})");
            }
        d.X.Data.Sum().Should().BeGreaterThan(0);
    }

    [Test]
    public void Mnist_rejects_N_outside_the_training_pool()
    {
        FluentActions.Invoking(() => Mnist.Train(8001)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*expected 1 ≤ N ≤ 8000*");
        FluentActions.Invoking(() => Mnist.Train(10, side: 7)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'side' was 7*");
    }

    [Test]
    public void Gmm_with_the_same_seed_gives_the_same_bits_and_another_seed_differs()
    {
        var a = Synthetic.Gmm(200, 5, 4, 42);
        var b = Synthetic.Gmm(200, 5, 4, 42);
        var c = Synthetic.Gmm(200, 5, 4, 43);
        a.X.Data.Select(BitConverter.DoubleToInt64Bits).Should().Equal(b.X.Data.Select(BitConverter.DoubleToInt64Bits));
        a.Labels.Should().Equal(b.Labels);
        a.X.Data.Should().NotEqual(c.X.Data);
    }

    [Test]
    public void Gmm_has_the_requested_shape_and_balanced_classes_in_random_order()
    {
        var g = Synthetic.Gmm(103, 6, 10, 5);
        g.Count.Should().Be(103);
        g.Features.Should().Be(6);
        g.Classes.Should().Be(10);
        g.Targets.Should().BeNull();
        var counts = new int[10];
        foreach (int y in g.Labels!) counts[y]++;
        (counts.Max() - counts.Min()).Should().BeLessThanOrEqualTo(1);
        for (int b = 0; b + 10 <= 103; b += 10)
            g.Labels.Skip(b).Take(10).Should().BeEquivalentTo(Enumerable.Range(0, 10), "each block of C examples is a permutation of the classes");
        g.Labels.Take(10).Should().NotEqual(Enumerable.Range(0, 10), "classes are shuffled");
    }

    [Test]
    public void A_smaller_gmm_or_teacher_set_is_a_prefix_of_a_larger_one_with_the_same_seed()
    {
        var small = Synthetic.Gmm(37, 3, 5, 9);
        var large = Synthetic.Gmm(80, 3, 5, 9);
        large.Take(37).X.Data.Should().Equal(small.X.Data);
        large.Labels!.Take(37).Should().Equal(small.Labels);
        var ts = Synthetic.Teacher(10, 4, 2);
        var tl = Synthetic.Teacher(25, 4, 2);
        tl.Take(10).X.Data.Should().Equal(ts.X.Data);
        tl.Take(10).Targets!.Data.Should().Equal(ts.Targets!.Data);
    }

    [Test]
    public void Gmm_noise_has_unit_variance_and_class_means_lie_about_separation_times_sqrt2_apart()
    {
        const int n = 4000, d = 400, c = 5;
        var g = Synthetic.Gmm(n, d, c, 11);
        var means = new double[c, d];
        var counts = new int[c];
        for (int i = 0; i < n; i++)
        {
            counts[g.Labels![i]]++;
            for (int j = 0; j < d; j++) means[g.Labels[i], j] += g.X[i, j];
        }
        for (int k = 0; k < c; k++) for (int j = 0; j < d; j++) means[k, j] /= counts[k];
        double ss = 0;
        for (int i = 0; i < n; i++) for (int j = 0; j < d; j++) { double e = g.X[i, j] - means[g.Labels![i], j]; ss += e * e; }
        (ss / ((n - c) * (double)d)).Should().BeApproximately(1.0, 0.02, "noise is N(0, I)");

        // E‖m_a − m_b‖² = E‖μ_a − μ_b‖² + 2D/n_k = 2s² + 2D/n_k for sample means m.
        double sum = 0; int pairs = 0;
        for (int a = 0; a < c; a++)
            for (int b = a + 1; b < c; b++, pairs++)
                for (int j = 0; j < d; j++) { double e = means[a, j] - means[b, j]; sum += e * e; }
        double s = Synthetic.DefaultSeparation;
        (sum / pairs - 2.0 * d / (n / c)).Should().BeApproximately(2 * s * s, 0.15 * 2 * s * s);
    }

    [Test]
    public void Teacher_targets_equal_w2_dot_tanh_W1_x_rebuilt_from_the_documented_draw_order()
    {
        const int n = 30, d = 7, h = Synthetic.DefaultTeacherHidden;
        const ulong seed = 123;
        var t = Synthetic.Teacher(n, d, seed);
        t.Labels.Should().BeNull();
        t.Classes.Should().Be(1);
        t.Targets!.Shape.Should().Be($"{n}x1");

        // Documented order: W₁ (h×D, row-major, N(0, 1/D)), then w₂ (h, N(0, 1/h)), then the rows of X.
        var rng = new Rng(seed);
        var w1 = Matrix<double>.Build.Dense(h, d);
        for (int i = 0; i < h; i++) for (int j = 0; j < d; j++) w1[i, j] = rng.NextGaussian() / Math.Sqrt(d);
        var w2 = Vector<double>.Build.Dense(h, _ => rng.NextGaussian() / Math.Sqrt(h));
        for (int i = 0; i < n; i++)
        {
            var x = Vector<double>.Build.Dense(d, _ => rng.NextGaussian());
            for (int j = 0; j < d; j++) t.X[i, j].Should().Be(x[j]);
            double y = w2.DotProduct((w1 * x).PointwiseTanh());
            t.Targets[i, 0].Should().BeApproximately(y, 1e-13 * (1 + Math.Abs(y)));
        }
    }

    [Test]
    public void Teacher_with_the_same_seed_gives_the_same_bits()
    {
        var a = Synthetic.Teacher(50, 3, 8);
        var b = Synthetic.Teacher(50, 3, 8);
        a.Targets!.Data.Select(BitConverter.DoubleToInt64Bits).Should().Equal(b.Targets!.Data.Select(BitConverter.DoubleToInt64Bits));
        a.X.Data.Should().Equal(b.X.Data);
        Synthetic.Teacher(50, 3, 9).Targets!.Data.Should().NotEqual(a.Targets.Data);
    }

    [Test]
    public void Subset_copies_the_chosen_rows_labels_and_targets_in_order()
    {
        var g = Synthetic.Gmm(10, 2, 3, 1);
        var s = g.Subset([7, 2, 7]);
        s.Count.Should().Be(3);
        s.X.Row(0).ToArray().Should().Equal(g.X.Row(7).ToArray());
        s.X.Row(1).ToArray().Should().Equal(g.X.Row(2).ToArray());
        s.Labels.Should().Equal(g.Labels![7], g.Labels[2], g.Labels[7]);
        s.Classes.Should().Be(3);
        var t = Synthetic.Teacher(6, 2, 1).Slice(2, 3);
        t.Targets!.Rows.Should().Be(3);
        FluentActions.Invoking(() => g.Subset([10])).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*10 at index 0; expected a row in [0, 10)*");
        FluentActions.Invoking(() => g.Slice(8, 3)).Should().Throw<ArgumentOutOfRangeException>();
    }
}

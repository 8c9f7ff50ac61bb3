using Curvature.Core;

namespace Curvature.Models;

/// <summary>
/// The 10,000 MNIST digits embedded in this assembly (Models/Data, see its README).
/// The first 8000 are the training pool (<c>mnist:N</c> takes the first N), the last 2000
/// (indices 8000–9999) the test set. Pixels are scaled to [0, 1] as byte/255; the 14×14
/// variant averages each 2×2 block: x'[r, c] = (p[2r, 2c] + p[2r, 2c+1] + p[2r+1, 2c] +
/// p[2r+1, 2c+1]) / (4·255).
/// </summary>
public static class Mnist
{
    /// <summary>Digits embedded.</summary>
    public const int Total = 10_000;

    /// <summary>Size of the training pool: the largest N of <c>mnist:N</c>.</summary>
    public const int TrainMax = 8_000;

    /// <summary>Index of the first test digit.</summary>
    public const int TestStart = 8_000;

    /// <summary>Test digits (the last ones).</summary>
    public const int TestCount = 2_000;

    /// <summary>Image side in pixels (28×28).</summary>
    public const int Side = 28;

    /// <summary>Digit classes.</summary>
    public const int Classes = 10;

    /// <summary>Logical name of the embedded image file.</summary>
    public const string ImagesResource = "Curvature.Models.Data.mnist10k-images-idx3-ubyte.gz";
    /// <summary>Logical name of the embedded label file.</summary>
    public const string LabelsResource = "Curvature.Models.Data.mnist10k-labels-idx1-ubyte.gz";

    // Decoded once per process; every Dataset built from it gets its own copy of the values.
    static readonly Lazy<(byte[] Pixels, byte[] Labels)> Raw = new(Decode, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Opens an embedded resource of this assembly (the gzip files as shipped).</summary>
    public static Stream OpenResource(string logicalName)
    {
        Guard.NotNull(logicalName);
        return typeof(Mnist).Assembly.GetManifestResourceStream(logicalName)
            ?? throw new FileNotFoundException($"Embedded resource '{logicalName}' is missing from {typeof(Mnist).Assembly.GetName().Name}; expected {ImagesResource} and {LabelsResource}.");
    }

    /// <summary>All 10,000 images as bytes, 784 per image, row-major.</summary>
    public static ReadOnlySpan<byte> PixelBytes => Raw.Value.Pixels;

    /// <summary>All 10,000 labels (0–9).</summary>
    public static ReadOnlySpan<byte> LabelBytes => Raw.Value.Labels;

    static (byte[], byte[]) Decode()
    {
        byte[] pixels; int count, rows, cols;
        using (var s = OpenResource(ImagesResource))
            (pixels, count, rows, cols) = Idx.ReadImages(s, "resource " + ImagesResource);
        byte[] labels;
        using (var s = OpenResource(LabelsResource))
            labels = Idx.ReadLabels(s, "resource " + LabelsResource, Classes);
        if (count != Total || rows != Side || cols != Side)
            throw new InvalidDataException($"resource {ImagesResource}: holds {count}x{rows}x{cols} images; expected {Total}x{Side}x{Side}.");
        if (labels.Length != Total)
            throw new InvalidDataException($"resource {LabelsResource}: holds {labels.Length} labels; expected {Total}.");
        return (pixels, labels);
    }

    /// <summary>The first <paramref name="n"/> digits (1 ≤ n ≤ 8000), 28×28 (side 28) or
    /// downsampled to 14×14 (side 14).</summary>
    public static Dataset Train(int n, int side = Side)
    {
        if (n < 1 || n > TrainMax)
            throw new ArgumentOutOfRangeException(nameof(n), $"Argument 'n' was {n}; expected 1 ≤ N ≤ {TrainMax} (the first {TrainMax} digits are the training pool).");
        return Range(0, n, side, side == Side ? $"mnist:{n}" : $"mnist14:{n}");
    }

    /// <summary>The 2000 test digits (indices 8000–9999).</summary>
    public static Dataset Test(int side = Side) =>
        Range(TestStart, TestCount, side, side == Side ? "mnist-test" : "mnist14-test");

    /// <summary>Digits [start, start + count) at side 28 or 14.</summary>
    public static Dataset Range(int start, int count, int side, string name)
    {
        if (side != Side && side != Side / 2)
            throw new ArgumentOutOfRangeException(nameof(side), $"Argument 'side' was {side}; expected 28 (full) or 14 (2×2 averaged).");
        if (start < 0 || count < 1 || start > Total - count)
            throw new ArgumentOutOfRangeException(nameof(count), $"Arguments 'start' = {start}, 'count' = {count}; expected 1 ≤ count and start + count ≤ {Total}.");
        var (pixels, allLabels) = Raw.Value;
        int d = side * side;
        var x = new Matrix(count, d);
        var labels = new int[count];
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> img = pixels.AsSpan((start + i) * Side * Side, Side * Side);
            Span<double> row = x.Row(i);
            if (side == Side)
            {
                for (int k = 0; k < d; k++) row[k] = img[k] / 255.0;
            }
            else
            {
                for (int r = 0; r < side; r++)
                    for (int c = 0; c < side; c++)
                    {
                        int top = 2 * r * Side + 2 * c, bottom = top + Side;
                        int sum = img[top] + img[top + 1] + img[bottom] + img[bottom + 1];
                        row[r * side + c] = sum / (4 * 255.0);
                    }
            }
            labels[i] = allLabels[start + i];
        }
        return new Dataset(x, labels, null, Classes, name);
    }
}

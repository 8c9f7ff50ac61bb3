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
    static readonly EmbeddedImages Set = new(ImagesResource, LabelsResource, "mnist", "digits");

    /// <summary>Opens an embedded resource of this assembly (the gzip files as shipped).</summary>
    public static Stream OpenResource(string logicalName) => EmbeddedImages.Open(logicalName);

    /// <summary>All 10,000 images as bytes, 784 per image, row-major.</summary>
    public static ReadOnlySpan<byte> PixelBytes => Set.Pixels;

    /// <summary>All 10,000 labels (0–9).</summary>
    public static ReadOnlySpan<byte> LabelBytes => Set.Labels;

    /// <summary>The first <paramref name="n"/> digits (1 ≤ n ≤ 8000), 28×28 (side 28) or
    /// downsampled to 14×14 (side 14).</summary>
    public static Dataset Train(int n, int side = Side) => Set.Train(n, side);

    /// <summary>The 2000 test digits (indices 8000–9999).</summary>
    public static Dataset Test(int side = Side) => Set.Test(side);

    /// <summary>Digits [start, start + count) at side 28 or 14.</summary>
    public static Dataset Range(int start, int count, int side, string name) => Set.Range(start, count, side, name);
}

/// <summary>
/// The 10,000 Fashion-MNIST images (H. Xiao, K. Rasul, R. Vollgraf, Zalando Research, 2017)
/// embedded in this assembly (Models/Data/Fashion, see its README): 1,000 per class, shuffled
/// once. Same conventions as <see cref="Mnist"/>: the first 8000 are the training pool
/// (<c>fashion:N</c> takes the first N), the last 2000 the test set (<c>fashion-test</c>);
/// pixels byte/255; <c>fashion14</c> averages 2×2 blocks. Classes: 0 T-shirt/top, 1 trouser,
/// 2 pullover, 3 dress, 4 coat, 5 sandal, 6 shirt, 7 sneaker, 8 bag, 9 ankle boot.
/// </summary>
public static class Fashion
{
    /// <summary>Logical name of the embedded image file.</summary>
    public const string ImagesResource = "Curvature.Models.Data.fashion10k-images-idx3-ubyte.gz";
    /// <summary>Logical name of the embedded label file.</summary>
    public const string LabelsResource = "Curvature.Models.Data.fashion10k-labels-idx1-ubyte.gz";

    static readonly EmbeddedImages Set = new(ImagesResource, LabelsResource, "fashion", "images");

    /// <summary>All 10,000 images as bytes, 784 per image, row-major.</summary>
    public static ReadOnlySpan<byte> PixelBytes => Set.Pixels;

    /// <summary>All 10,000 labels (0–9).</summary>
    public static ReadOnlySpan<byte> LabelBytes => Set.Labels;

    /// <summary>The first <paramref name="n"/> images (1 ≤ n ≤ 8000) at side 28 or 14.</summary>
    /// <exception cref="ArgumentOutOfRangeException">When n or the side is out of range.</exception>
    public static Dataset Train(int n, int side = Mnist.Side) => Set.Train(n, side);

    /// <summary>The 2000 test images (indices 8000–9999) at side 28 or 14.</summary>
    public static Dataset Test(int side = Mnist.Side) => Set.Test(side);

    /// <summary>Images [start, start + count) at side 28 or 14, named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">When the range or the side is out of range.</exception>
    public static Dataset Range(int start, int count, int side, string name) => Set.Range(start, count, side, name);
}

/// <summary>
/// One embedded IDX pair of 10,000 28×28 images and labels 0–9 (MNIST or Fashion-MNIST),
/// decoded once per process; the split convention and the 14×14 averaging are shared.
/// </summary>
sealed class EmbeddedImages(string imagesResource, string labelsResource, string prefix, string noun)
{
    readonly Lazy<(byte[] Pixels, byte[] Labels)> _raw = new(() => Decode(imagesResource, labelsResource), LazyThreadSafetyMode.ExecutionAndPublication);

    public ReadOnlySpan<byte> Pixels => _raw.Value.Pixels;
    public ReadOnlySpan<byte> Labels => _raw.Value.Labels;

    public static Stream Open(string logicalName)
    {
        Guard.NotNull(logicalName);
        return typeof(Mnist).Assembly.GetManifestResourceStream(logicalName)
            ?? throw new FileNotFoundException($"Embedded resource '{logicalName}' is missing from {typeof(Mnist).Assembly.GetName().Name}; expected {Mnist.ImagesResource}, {Mnist.LabelsResource}, {Fashion.ImagesResource} and {Fashion.LabelsResource}.");
    }

    static (byte[], byte[]) Decode(string imagesResource, string labelsResource)
    {
        byte[] pixels; int count, rows, cols;
        using (var s = Open(imagesResource))
            (pixels, count, rows, cols) = Idx.ReadImages(s, "resource " + imagesResource);
        byte[] labels;
        using (var s = Open(labelsResource))
            labels = Idx.ReadLabels(s, "resource " + labelsResource, Mnist.Classes);
        if (count != Mnist.Total || rows != Mnist.Side || cols != Mnist.Side)
            throw new InvalidDataException($"resource {imagesResource}: holds {count}x{rows}x{cols} images; expected {Mnist.Total}x{Mnist.Side}x{Mnist.Side}.");
        if (labels.Length != Mnist.Total)
            throw new InvalidDataException($"resource {labelsResource}: holds {labels.Length} labels; expected {Mnist.Total}.");
        return (pixels, labels);
    }

    public Dataset Train(int n, int side)
    {
        if (n < 1 || n > Mnist.TrainMax)
            throw new ArgumentOutOfRangeException(nameof(n), $"Argument 'n' was {n}; expected 1 ≤ N ≤ {Mnist.TrainMax} (the first {Mnist.TrainMax} {noun} are the training pool).");
        return Range(0, n, side, side == Mnist.Side ? $"{prefix}:{n}" : $"{prefix}14:{n}");
    }

    public Dataset Test(int side) =>
        Range(Mnist.TestStart, Mnist.TestCount, side, side == Mnist.Side ? $"{prefix}-test" : $"{prefix}14-test");

    public Dataset Range(int start, int count, int side, string name)
    {
        const int Side = Mnist.Side;
        if (side != Side && side != Side / 2)
            throw new ArgumentOutOfRangeException(nameof(side), $"Argument 'side' was {side}; expected 28 (full) or 14 (2×2 averaged).");
        if (start < 0 || count < 1 || start > Mnist.Total - count)
            throw new ArgumentOutOfRangeException(nameof(count), $"Arguments 'start' = {start}, 'count' = {count}; expected 1 ≤ count and start + count ≤ {Mnist.Total}.");
        var (pixels, allLabels) = _raw.Value;
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
        return new Dataset(x, labels, null, Mnist.Classes, name);
    }
}

using System.Globalization;

namespace Curvature.Autodiff;

/// <summary>
/// The shape of one image, channels × height × width. On the tape a batch of images is a
/// batch×(C·H·W) tensor: one image per row, entries in (C, H, W) row-major order, which is
/// PyTorch's NCHW batch reshaped with <c>x.reshape(n, -1)</c>.
/// </summary>
public sealed record ImageShape
{
    /// <summary>Largest number of entries of one image (C·H·W), so every size fits an int.</summary>
    public const int MaxSize = 1 << 26;

    /// <summary>An image shape; each dimension positive and C·H·W at most <see cref="MaxSize"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is not positive or the product exceeds <see cref="MaxSize"/>.</exception>
    public ImageShape(int channels, int height, int width)
    {
        Positive(channels, nameof(channels));
        Positive(height, nameof(height));
        Positive(width, nameof(width));
        long size = (long)channels * height * width;
        if (size > MaxSize)
            throw new ArgumentOutOfRangeException(nameof(channels), string.Create(CultureInfo.InvariantCulture,
                $"Image shape {channels}x{height}x{width} has {size} entries; expected at most {MaxSize}."));
        Channels = channels;
        Height = height;
        Width = width;
    }

    /// <summary>Channels C.</summary>
    public int Channels { get; }

    /// <summary>Height H (rows of each channel).</summary>
    public int Height { get; }

    /// <summary>Width W (columns of each channel).</summary>
    public int Width { get; }

    /// <summary>Entries of one image, C·H·W: the column count of its batch tensor.</summary>
    public int Size => Channels * Height * Width;

    /// <summary>Entries of one channel, H·W.</summary>
    public int Plane => Height * Width;

    /// <summary>"CxHxW", the spelling of architecture strings.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Channels}x{Height}x{Width}");

    internal static void Positive(int value, string name)
    {
        if (value <= 0)
            throw new ArgumentOutOfRangeException(name, string.Create(CultureInfo.InvariantCulture, $"Argument '{name}' was {value}; expected a positive integer."));
    }

    /// <summary>Throws unless <paramref name="x"/> is a batch of images of this shape.</summary>
    internal void CheckBatch(Tensor x, string op, string name)
    {
        if (x.Cols != Size)
            throw new ArgumentException($"{op}: argument '{name}' is {x.Shape}; expected batch x {Size} (images of shape {this}, one per row).", name);
    }
}

/// <summary>
/// The geometry of a 2-D convolution (PyTorch's <c>nn.Conv2d(C, N, K, stride=S, padding=P)</c>):
/// input C×H×W, N output channels, a square K×K kernel, stride S, zero padding P on every
/// side; output N×Ho×Wo with Ho = ⌊(H + 2P − K)/S⌋ + 1 (Wo likewise). The weight is
/// [N, C, K, K] row-major, held on the tape as an N×(C·K·K) tensor; the bias is 1×N.
/// </summary>
public sealed record Conv2dGeometry
{
    /// <summary>Largest im2col buffer of one image, (C·K·K)·(Ho·Wo) entries.</summary>
    public const int MaxPatchMatrix = 1 << 27;

    /// <summary>Validates and derives the output shape.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive, the padding is negative, or a buffer would exceed its bound.</exception>
    /// <exception cref="ArgumentException">The kernel is larger than the padded input.</exception>
    public Conv2dGeometry(ImageShape input, int outChannels, int kernel, int stride = 1, int padding = 0)
    {
        ArgumentNullException.ThrowIfNull(input);
        ImageShape.Positive(outChannels, nameof(outChannels));
        ImageShape.Positive(kernel, nameof(kernel));
        ImageShape.Positive(stride, nameof(stride));
        if (padding < 0)
            throw new ArgumentOutOfRangeException(nameof(padding), string.Create(CultureInfo.InvariantCulture, $"Argument 'padding' was {padding}; expected a non-negative integer."));
        long paddedH = input.Height + 2L * padding, paddedW = input.Width + 2L * padding;
        if (kernel > paddedH || kernel > paddedW)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"Argument 'kernel' was {kernel}; expected at most the padded input {paddedH}x{paddedW} (input {input} with padding {padding})."), nameof(kernel));
        int outH = (int)((paddedH - kernel) / stride + 1), outW = (int)((paddedW - kernel) / stride + 1);
        long patch = (long)input.Channels * kernel * kernel;
        if (patch * outH * outW > MaxPatchMatrix || (long)outChannels * outH * outW > ImageShape.MaxSize || patch * outChannels > ImageShape.MaxSize)
            throw new ArgumentOutOfRangeException(nameof(outChannels), string.Create(CultureInfo.InvariantCulture,
                $"Convolution {input} -> {outChannels} channels, kernel {kernel}, stride {stride}, padding {padding} needs a {patch}x{(long)outH * outW} patch matrix per image; expected at most {MaxPatchMatrix} entries."));
        Input = input;
        OutChannels = outChannels;
        Kernel = kernel;
        Stride = stride;
        Padding = padding;
        Output = new ImageShape(outChannels, outH, outW);
    }

    /// <summary>Input image shape C×H×W.</summary>
    public ImageShape Input { get; }

    /// <summary>Output channels N.</summary>
    public int OutChannels { get; }

    /// <summary>Kernel side K (the kernel is K×K).</summary>
    public int Kernel { get; }

    /// <summary>Stride S in both directions.</summary>
    public int Stride { get; }

    /// <summary>Zero padding P on each of the four sides.</summary>
    public int Padding { get; }

    /// <summary>Output image shape N×Ho×Wo.</summary>
    public ImageShape Output { get; }

    /// <summary>C·K·K: the fan-in of one output (PyTorch's init bound is 1/√fan_in) and the columns of the weight tensor.</summary>
    public int PatchSize => Input.Channels * Kernel * Kernel;

    /// <summary>Weights N·C·K·K, laid out [N, C, K, K].</summary>
    public int WeightCount => OutChannels * PatchSize;

    /// <summary>Multiply–adds of the forward GEMM for one image, N·(C·K·K)·(Ho·Wo); each of the backward GEMMs costs the same.</summary>
    public long MultiplyAddsPerImage => (long)OutChannels * PatchSize * Output.Plane;

    /// <summary>E.g. "1x28x28 -> 16x24x24 (k5 s1 p0)".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Input} -> {Output} (k{Kernel} s{Stride} p{Padding})");

    /// <summary>
    /// im2col of one C×H×W <paramref name="image"/>: the (C·K·K)×(Ho·Wo) patch matrix U(x), row
    /// (c, ki, kj) and column (oh, ow) holding x[c, oh·S − P + ki, ow·S − P + kj] (0 in the
    /// padding), written row-major at the start of <paramref name="patches"/>; the output of
    /// the convolution is W·U(x) + b1ᵀ.
    /// </summary>
    /// <exception cref="ArgumentException">A length does not match the geometry.</exception>
    public void Patches(ReadOnlySpan<double> image, double[] patches)
    {
        Core.Guard.Length(image, Input.Size, nameof(image));
        ArgumentNullException.ThrowIfNull(patches);
        if (patches.Length < (long)PatchSize * Output.Plane)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Argument 'patches' has length {patches.Length}; expected at least {PatchSize * Output.Plane} ({PatchSize}x{Output.Plane})."), nameof(patches));
        Conv2dOp.Im2Col(this, image, patches, 0, Output.Plane);
    }
}

/// <summary>
/// The geometry of 2-D max or average pooling with kernel = stride = K, no padding, floor
/// mode (PyTorch's <c>nn.MaxPool2d(K)</c> / <c>nn.AvgPool2d(K)</c>): input C×H×W, output
/// C×⌊H/K⌋×⌊W/K⌋; trailing rows and columns that fill no window are ignored.
/// </summary>
public sealed record Pool2dGeometry
{
    /// <summary>Validates and derives the output shape.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The kernel is not positive.</exception>
    /// <exception cref="ArgumentException">The kernel is larger than the input.</exception>
    public Pool2dGeometry(ImageShape input, int kernel)
    {
        ArgumentNullException.ThrowIfNull(input);
        ImageShape.Positive(kernel, nameof(kernel));
        if (kernel > input.Height || kernel > input.Width)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"Argument 'kernel' was {kernel}; expected at most the input's height and width ({input})."), nameof(kernel));
        Input = input;
        Kernel = kernel;
        Output = new ImageShape(input.Channels, input.Height / kernel, input.Width / kernel);
    }

    /// <summary>Input image shape C×H×W.</summary>
    public ImageShape Input { get; }

    /// <summary>Window side and stride K.</summary>
    public int Kernel { get; }

    /// <summary>Output image shape C×⌊H/K⌋×⌊W/K⌋.</summary>
    public ImageShape Output { get; }

    /// <summary>E.g. "16x24x24 -> 16x12x12 (k2)".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Input} -> {Output} (k{Kernel})");
}

using Curvature.Autodiff;
using Curvature.Core;

namespace Curvature.Models;

/// <summary>
/// PyTorch's <c>nn.Conv2d(C, N, K, stride=S, padding=P)</c> on images C×H×W: <c>weight</c>
/// [N, C, K, K] row-major, then <c>bias</c> [N]; output N×Ho×Wo with
/// Ho = ⌊(H + 2P − K)/S⌋ + 1 (Wo likewise). Records the tape's <see cref="Tape.Conv2d"/>,
/// whose four rules give every derivative.
/// </summary>
public sealed class Conv2d : ILayer
{
    readonly ParameterBlock[] _parameters;

    /// <summary>A convolution of <paramref name="input"/> images to <paramref name="outChannels"/> channels with a <paramref name="kernel"/>×<paramref name="kernel"/> kernel.</summary>
    /// <exception cref="ArgumentException">When <paramref name="input"/> is not an image, or the kernel is larger than the padded input.</exception>
    /// <exception cref="ArgumentOutOfRangeException">When a size is not positive, the padding is negative, or a buffer would exceed its bound.</exception>
    public Conv2d(FeatureShape input, int outChannels, int kernel, int stride = 1, int padding = 0)
    {
        if (!input.IsImage)
            throw new ArgumentException($"Argument 'input' was {input}; expected an image CxHxW for a convolution.", nameof(input));
        Geometry = new Conv2dGeometry(new ImageShape(input.Channels, input.Height, input.Width), outChannels, kernel, stride, padding);
        InputShape = input;
        OutputShape = FeatureShape.Image(outChannels, Geometry.Output.Height, Geometry.Output.Width);
        ParameterCount = Geometry.WeightCount + outChannels;
        _parameters =
        [
            new ParameterBlock("weight", [outChannels, input.Channels, kernel, kernel], 0),
            new ParameterBlock("bias", [outChannels], Geometry.WeightCount),
        ];
    }

    /// <summary>Kernel, stride, padding and the input and output images.</summary>
    public Conv2dGeometry Geometry { get; }

    /// <summary>C·K·K, the fan-in of one output: the init bound is 1/√FanIn.</summary>
    public int FanIn => Geometry.PatchSize;

    /// <inheritdoc/>
    public FeatureShape InputShape { get; }

    /// <inheritdoc/>
    public FeatureShape OutputShape { get; }

    /// <inheritdoc/>
    public IReadOnlyList<ParameterBlock> Parameters => _parameters;

    /// <inheritdoc/>
    public int ParameterCount { get; }

    /// <summary>
    /// PyTorch's default: weight and bias uniform on [−1/√(C·K·K), 1/√(C·K·K)), weight first
    /// (<c>kaiming_uniform_(a=√5)</c> gives bound √(1/3)·√(3/fan_in) = 1/√fan_in).
    /// </summary>
    public void Initialize(Rng rng, Span<double> parameters)
    {
        Guard.NotNull(rng);
        Guard.Length<double>(parameters, ParameterCount, nameof(parameters));
        double bound = 1.0 / Math.Sqrt(FanIn);
        rng.FillUniform(parameters, -bound, bound);
    }

    /// <inheritdoc/>
    public Tensor Forward(Tape tape, Tensor theta, int offset, Tensor input)
    {
        var w = tape.Slice(theta, offset, Geometry.OutChannels, Geometry.PatchSize);
        var b = tape.Slice(theta, offset + Geometry.WeightCount, 1, Geometry.OutChannels);
        return tape.Conv2d(input, w, b, Geometry);
    }

    /// <summary>As PyTorch prints it: <c>Conv2d(1, 16, kernel_size=(5, 5), stride=(1, 1))</c>.</summary>
    public override string ToString()
    {
        var g = Geometry;
        string pad = g.Padding > 0 ? $", padding=({g.Padding}, {g.Padding})" : "";
        return $"Conv2d({g.Input.Channels}, {g.OutChannels}, kernel_size=({g.Kernel}, {g.Kernel}), stride=({g.Stride}, {g.Stride}){pad})";
    }
}

/// <summary>Which reduction a <see cref="Pool2d"/> layer takes over each window.</summary>
public enum PoolKind
{
    /// <summary>The window maximum (ties to the first in row-major order), <c>nn.MaxPool2d</c>.</summary>
    Max,

    /// <summary>The window mean, <c>nn.AvgPool2d</c>.</summary>
    Average,
}

/// <summary>
/// PyTorch's <c>nn.MaxPool2d(K)</c> or <c>nn.AvgPool2d(K)</c>: kernel = stride = K, no padding,
/// floor mode; C×H×W becomes C×⌊H/K⌋×⌊W/K⌋. No parameters.
/// </summary>
public sealed class Pool2d : ILayer
{
    /// <summary>Pooling of <paramref name="input"/> images with <paramref name="kernel"/>×<paramref name="kernel"/> windows.</summary>
    /// <exception cref="ArgumentException">When <paramref name="input"/> is not an image or the kernel is larger than it.</exception>
    /// <exception cref="ArgumentOutOfRangeException">When the kernel is not positive or <paramref name="kind"/> is not defined.</exception>
    public Pool2d(PoolKind kind, FeatureShape input, int kernel)
    {
        if (!Enum.IsDefined(kind))
            throw new ArgumentOutOfRangeException(nameof(kind), $"Argument 'kind' was {kind}; expected Max or Average.");
        if (!input.IsImage)
            throw new ArgumentException($"Argument 'input' was {input}; expected an image CxHxW for pooling.", nameof(input));
        Kind = kind;
        Geometry = new Pool2dGeometry(new ImageShape(input.Channels, input.Height, input.Width), kernel);
        InputShape = input;
        OutputShape = FeatureShape.Image(input.Channels, Geometry.Output.Height, Geometry.Output.Width);
    }

    /// <summary>Max or average.</summary>
    public PoolKind Kind { get; }

    /// <summary>Kernel and the input and output images.</summary>
    public Pool2dGeometry Geometry { get; }

    /// <inheritdoc/>
    public FeatureShape InputShape { get; }

    /// <inheritdoc/>
    public FeatureShape OutputShape { get; }

    /// <inheritdoc/>
    public IReadOnlyList<ParameterBlock> Parameters => [];

    /// <inheritdoc/>
    public int ParameterCount => 0;

    /// <summary>Draws nothing.</summary>
    public void Initialize(Rng rng, Span<double> parameters) { }

    /// <inheritdoc/>
    public Tensor Forward(Tape tape, Tensor theta, int offset, Tensor input) =>
        Kind == PoolKind.Max ? tape.MaxPool2d(input, Geometry) : tape.AvgPool2d(input, Geometry);

    /// <summary>As PyTorch prints it: <c>MaxPool2d(kernel_size=2, stride=2)</c> or <c>AvgPool2d(kernel_size=2, stride=2)</c>.</summary>
    public override string ToString() =>
        $"{(Kind == PoolKind.Max ? "MaxPool2d" : "AvgPool2d")}(kernel_size={Geometry.Kernel}, stride={Geometry.Kernel})";
}

using Curvature.Autodiff;
using Curvature.Core;

namespace Curvature.Models;

/// <summary>
/// The shape of one example's features as they flow between layers: a flat vector of
/// width D, or an image of C channels × H rows × W columns. On the tape an example is
/// always one row of <see cref="Size"/> numbers; an image row holds its values in
/// (C, H, W) order, as <c>x.reshape(n, -1)</c> of an NCHW batch in PyTorch.
/// </summary>
public readonly record struct FeatureShape
{
    FeatureShape(int size, int channels, int height, int width)
    {
        Size = size;
        Channels = channels;
        Height = height;
        Width = width;
    }

    /// <summary>Numbers per example: D, or C·H·W.</summary>
    public int Size { get; }

    /// <summary>Channels C of an image; 0 for a flat vector.</summary>
    public int Channels { get; }

    /// <summary>Rows H of an image; 0 for a flat vector.</summary>
    public int Height { get; }

    /// <summary>Columns W of an image; 0 for a flat vector.</summary>
    public int Width { get; }

    /// <summary>Whether this is an image C×H×W (else a flat vector).</summary>
    public bool IsImage => Channels > 0;

    /// <summary>A flat vector of <paramref name="size"/> features.</summary>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="size"/> is not positive.</exception>
    public static FeatureShape Flat(int size)
    {
        Guard.Positive(size);
        return new FeatureShape(size, 0, 0, 0);
    }

    /// <summary>An image of <paramref name="channels"/>×<paramref name="height"/>×<paramref name="width"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">When a dimension is not positive.</exception>
    /// <exception cref="ArgumentException">When C·H·W exceeds <see cref="int.MaxValue"/>.</exception>
    public static FeatureShape Image(int channels, int height, int width)
    {
        Guard.Positive(channels);
        Guard.Positive(height);
        Guard.Positive(width);
        long size = (long)channels * height * width;
        if (size > int.MaxValue)
            throw new ArgumentException($"Image shape {channels}x{height}x{width} has {size} values; expected at most {int.MaxValue}.", nameof(channels));
        return new FeatureShape((int)size, channels, height, width);
    }

    /// <summary>"D" for a vector, "CxHxW" for an image: the spelling of architecture strings.</summary>
    public override string ToString() => IsImage ? $"{Channels}x{Height}x{Width}" : Size.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>
/// One named parameter tensor inside θ: <see cref="Count"/> numbers from <see cref="Offset"/>,
/// row-major in <see cref="Shape"/>. In a network the name is the PyTorch <c>state_dict</c>
/// key of the equivalent <c>nn.Sequential</c> (<c>0.weight</c>, <c>0.bias</c>, <c>2.weight</c>,
/// …); inside a layer it is the local name (<c>weight</c>, <c>bias</c>) and the offset is
/// relative to the layer's first parameter.
/// </summary>
/// <param name="Name">The key, e.g. <c>2.weight</c>.</param>
/// <param name="Shape">Dimensions, outermost first (a dense weight is [out, in]).</param>
/// <param name="Offset">Index of the first number in θ (or in the layer's slice).</param>
public sealed record ParameterBlock(string Name, IReadOnlyList<int> Shape, int Offset)
{
    /// <summary>Numbers in the block: the product of <see cref="Shape"/>.</summary>
    public int Count
    {
        get
        {
            int count = 1;
            foreach (int d in Shape) count *= d;
            return count;
        }
    }

    /// <summary>The block's numbers inside <paramref name="theta"/> (no copy).</summary>
    /// <exception cref="ArgumentException">When θ is too short to hold the block.</exception>
    public ReadOnlySpan<double> Of(ReadOnlySpan<double> theta)
    {
        if (Offset + (long)Count > theta.Length)
            throw new ArgumentException($"Argument 'theta' has length {theta.Length}; block '{Name}' needs [{Offset}, {Offset + (long)Count}).", nameof(theta));
        return theta.Slice(Offset, Count);
    }

    /// <summary>The name and shape as PyTorch prints them, e.g. <c>0.weight [200, 784]</c>.</summary>
    public override string ToString() => $"{Name} [{string.Join(", ", Shape)}]";
}

/// <summary>
/// A network f(x; θ) over a flat parameter vector θ: what <see cref="Objective"/>, the
/// trainer and the solvers need and all they may assume. θ is laid out as
/// <c>parameters_to_vector</c> of the equivalent PyTorch <c>nn.Sequential</c>, in the named
/// <see cref="Blocks"/>. Implemented by <see cref="Sequential"/> (and so by <see cref="Mlp"/>);
/// any other implementation must record its forward pass with tape ops, whose rules give
/// the gradient and every curvature product.
/// </summary>
public interface INetwork
{
    /// <summary>The architecture, e.g. <c>784-200-200-10</c>, for messages and reports.</summary>
    string Spec { get; }

    /// <summary>Length of θ.</summary>
    int ParameterCount { get; }

    /// <summary>Named parameter blocks in θ order; they tile θ without gaps.</summary>
    IReadOnlyList<ParameterBlock> Blocks { get; }

    /// <summary>Shape of one input example.</summary>
    FeatureShape InputShape { get; }

    /// <summary>Numbers per input example (<see cref="InputShape"/>.Size): the data's feature count.</summary>
    int InputWidth { get; }

    /// <summary>Outputs (logits) per example.</summary>
    int OutputWidth { get; }

    /// <summary>
    /// Writes the seeded default initialization into <paramref name="theta"/> (PyTorch's:
    /// uniform ±1/√fan_in for weights and biases). Same seed, same bits.
    /// </summary>
    /// <exception cref="ArgumentException">When θ's length is not <see cref="ParameterCount"/>.</exception>
    void Initialize(ulong seed, Span<double> theta);

    /// <summary>A new θ with the seeded default initialization.</summary>
    double[] Initialize(ulong seed);

    /// <summary>
    /// Records the outputs (batch × <see cref="OutputWidth"/>) for the rows of
    /// <paramref name="input"/> (batch × <see cref="InputWidth"/>) on the tape, reading
    /// weights from the parameter <paramref name="theta"/> (1 × <see cref="ParameterCount"/>).
    /// </summary>
    /// <exception cref="ArgumentException">When θ or the input has the wrong size.</exception>
    Tensor Forward(Tape tape, Tensor theta, Tensor input);

    /// <summary>The outputs for the rows of <paramref name="x"/> (allocates; for tests and tools).</summary>
    Matrix Predict(ReadOnlySpan<double> theta, Matrix x);
}

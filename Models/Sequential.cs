using System.Globalization;
using Curvature.Autodiff;
using Curvature.Core;

namespace Curvature.Models;

/// <summary>
/// Layers applied in order, as PyTorch's <c>nn.Sequential</c>: θ is the layers'
/// parameters concatenated in layer order, and layer i's tensors are named
/// <c>i.weight</c>, <c>i.bias</c>, … where i counts every module (activations and
/// flatten too), so <see cref="Blocks"/> are the <c>state_dict</c> keys. Initialization
/// draws every layer from one seeded <see cref="Rng"/>, layer after layer.
/// </summary>
public class Sequential : INetwork
{
    readonly ILayer[] _layers;
    readonly int[] _offsets;
    readonly ParameterBlock[] _blocks;

    /// <summary>
    /// A network of <paramref name="layers"/>; each layer's input shape must equal the
    /// previous layer's output shape. <paramref name="spec"/> names the architecture in
    /// messages (default: the layers as PyTorch prints them).
    /// </summary>
    /// <exception cref="ArgumentException">When there are no layers, a layer is null, shapes do not chain, or θ would exceed <see cref="int.MaxValue"/> numbers.</exception>
    public Sequential(IReadOnlyList<ILayer> layers, string? spec = null)
    {
        Guard.NotNull(layers);
        if (layers.Count == 0)
            throw new ArgumentException("Argument 'layers' is empty; expected at least one layer.", nameof(layers));
        _layers = new ILayer[layers.Count];
        _offsets = new int[layers.Count];
        var blocks = new List<ParameterBlock>();
        long offset = 0;
        for (int i = 0; i < layers.Count; i++)
        {
            var layer = layers[i] ?? throw new ArgumentException($"Argument 'layers' has null at index {i}; expected a layer.", nameof(layers));
            if (i > 0 && layer.InputShape != _layers[i - 1].OutputShape)
                throw new ArgumentException($"Argument 'layers' has {layer} at index {i} taking {layer.InputShape}, but layer {i - 1} ({_layers[i - 1]}) outputs {_layers[i - 1].OutputShape}; expected equal shapes.", nameof(layers));
            _layers[i] = layer;
            _offsets[i] = (int)offset;
            foreach (var p in layer.Parameters)
                blocks.Add(new ParameterBlock($"{i}.{p.Name}", p.Shape, (int)offset + p.Offset));
            offset += layer.ParameterCount;
            if (offset > MaxParameters)
                throw new ArgumentException($"Architecture '{spec ?? string.Join("-", layers)}' has {offset}+ parameters; expected at most {MaxParameters} (Sequential.MaxParameters: θ, gradient, momentum and k basis vectors are each this long).", "arch");
        }
        _blocks = [.. blocks];
        ParameterCount = (int)offset;
        Spec = spec ?? string.Join(", ", _layers.Select(l => l.ToString()));
    }

    /// <summary>
    /// Builds a network from an architecture string: tokens joined by <c>-</c>, the first the
    /// input (a width <c>D</c> or an image <c>CxHxW</c>), the last an integer (the outputs).
    /// An integer is a dense layer (after image layers a flatten comes first); the activation
    /// follows every layer but the last. <c>784-200-200-10</c> gives an <see cref="Mlp"/>.
    /// Convolution (<c>cN[kK][sS][pP]</c>) and pooling (<c>mK</c>, <c>aK</c>) tokens are
    /// recognized but not available yet.
    /// </summary>
    /// <exception cref="ArgumentException">When the string is malformed; the message quotes it.</exception>
    public static Sequential Parse(string arch, Activation activation)
    {
        Guard.NotNull(arch);
        var tokens = arch.Trim().Split('-');
        if (tokens.All(t => t.Length > 0 && t.All(char.IsAsciiDigit))) return Mlp.Parse(arch, activation);
        var layers = ArchitectureParser.Layers(arch, tokens, activation);
        return new Sequential(layers, arch.Trim());
    }

    /// <summary><see cref="Parse(string, Activation)"/> with the activation by name (tanh | relu | gelu | softplus).</summary>
    public static Sequential Parse(string arch, string activation) => Parse(arch, ActivationNames.Parse(activation));

    /// <summary>The layers, in order.</summary>
    public IReadOnlyList<ILayer> Layers => _layers;

    /// <summary>Offset in θ of layer <paramref name="index"/>'s first parameter.</summary>
    public int LayerOffset(int index)
    {
        if ((uint)index >= (uint)_layers.Length)
            throw new ArgumentOutOfRangeException(nameof(index), $"Argument 'index' was {index}; expected a layer index in [0, {_layers.Length}).");
        return _offsets[index];
    }

    /// <inheritdoc/>
    public string Spec { get; }

    /// <inheritdoc/>
    public int ParameterCount { get; }

    /// <summary>Most parameters a network may have (50 million: 400 MB per float64 vector), checked from the layer shapes before any weight is allocated.</summary>
    public const long MaxParameters = 50_000_000;

    /// <inheritdoc/>
    public IReadOnlyList<ParameterBlock> Blocks => _blocks;

    /// <inheritdoc/>
    public FeatureShape InputShape => _layers[0].InputShape;

    /// <summary>Shape of one output example.</summary>
    public FeatureShape OutputShape => _layers[^1].OutputShape;

    /// <inheritdoc/>
    public int InputWidth => InputShape.Size;

    /// <inheritdoc/>
    public int OutputWidth => OutputShape.Size;

    /// <summary>The block named <paramref name="name"/> (a <c>state_dict</c> key such as <c>0.weight</c>).</summary>
    /// <exception cref="ArgumentException">When there is no such block.</exception>
    public ParameterBlock Block(string name)
    {
        Guard.NotNull(name);
        foreach (var b in _blocks) if (b.Name == name) return b;
        throw new ArgumentException($"Argument 'name' was '{name}'; expected one of {string.Join(", ", _blocks.Select(b => b.Name))}.", nameof(name));
    }

    /// <inheritdoc/>
    public void Initialize(ulong seed, Span<double> theta)
    {
        Guard.Length<double>(theta, ParameterCount, nameof(theta));
        var rng = new Rng(seed);
        for (int i = 0; i < _layers.Length; i++)
            _layers[i].Initialize(rng, theta.Slice(_offsets[i], _layers[i].ParameterCount));
    }

    /// <inheritdoc/>
    public double[] Initialize(ulong seed)
    {
        var theta = new double[ParameterCount];
        Initialize(seed, theta);
        return theta;
    }

    /// <inheritdoc/>
    public Tensor Forward(Tape tape, Tensor theta, Tensor input)
    {
        Guard.NotNull(tape);
        Guard.NotNull(theta);
        Guard.NotNull(input);
        if (theta.Size != ParameterCount)
            throw new ArgumentException($"Argument 'theta' has {theta.Size} entries; expected {ParameterCount} parameters for the {Spec} network.", nameof(theta));
        if (input.Cols != InputWidth)
            throw new ArgumentException($"Argument 'input' is {input.Shape}; expected batch x {InputWidth} for the {Spec} network.", nameof(input));
        var h = input;
        for (int i = 0; i < _layers.Length; i++) h = _layers[i].Forward(tape, theta, _offsets[i], h);
        return h;
    }

    /// <inheritdoc/>
    public Matrix Predict(ReadOnlySpan<double> theta, Matrix x)
    {
        Guard.NotNull(x);
        Guard.Length(theta, ParameterCount, nameof(theta));
        var tape = new Tape();
        tape.Begin();
        var p = tape.Parameter(theta.ToArray());
        var z = Forward(tape, p, tape.Constant(x));
        var outputs = new Matrix(z.Rows, z.Cols);
        z.Value.CopyTo(outputs.Data);
        return outputs;
    }

    /// <summary>The architecture string.</summary>
    public override string ToString() => Spec;
}

/// <summary>Architecture string → layer list (tokens → layers), shared by <see cref="Sequential"/> and <see cref="Mlp"/>.</summary>
static class ArchitectureParser
{
    internal static List<ILayer> Layers(string arch, string[] tokens, Activation activation)
    {
        if (tokens.Length < 2)
            throw Error(arch, "at least an input and an output token, e.g. 784-10 or 1x28x28-10");
        var shape = Input(arch, tokens[0]);
        var layers = new List<ILayer>();
        for (int i = 1; i < tokens.Length; i++)
        {
            string token = tokens[i];
            bool last = i == tokens.Length - 1;
            if (token.Length > 0 && token.All(char.IsAsciiDigit))
            {
                int outputs = Positive(arch, token);
                if (shape.IsImage) layers.Add(new Flatten(shape));
                var dense = new Dense(shape.Size, outputs);
                layers.Add(dense);
                shape = dense.OutputShape;
                if (!last) layers.Add(new ActivationLayer(activation, shape));
                continue;
            }
            if (last)
                throw Error(arch, $"an integer output count as the last token, not '{token}'");
            if (token.Length > 1 && token[0] is 'c' or 'm' or 'a' && char.IsAsciiDigit(token[1]))
                throw new ArgumentException($"Argument 'arch' was '{arch}': token '{token}' is a convolution or pooling layer, which this build does not provide yet; expected dense widths.", "arch");
            throw Error(arch, $"a width, CxHxW, cN[kK][sS][pP], mK or aK, not '{token}'");
        }
        return layers;
    }

    static FeatureShape Input(string arch, string token)
    {
        var parts = token.Split('x');
        if (parts.Length == 1) return FeatureShape.Flat(Positive(arch, token));
        if (parts.Length == 3) return FeatureShape.Image(Positive(arch, parts[0]), Positive(arch, parts[1]), Positive(arch, parts[2]));
        throw Error(arch, $"an input width D or an image CxHxW as the first token, not '{token}'");
    }

    static int Positive(string arch, string token)
    {
        if (!int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value <= 0)
            throw Error(arch, $"positive integers, not '{token}'");
        return value;
    }

    static ArgumentException Error(string arch, string expected) =>
        new($"Argument 'arch' was '{arch}'; expected {expected}, e.g. 784-200-200-10.", "arch");
}

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
    /// <c>cN[kK][sS][pP]</c> is a convolution (N channels, kernel K default 3, stride S
    /// default 1, zero padding P default 0) followed by the activation; <c>mK</c> / <c>aK</c>
    /// max / average pooling with kernel = stride = K and no activation after it. Module
    /// indices count every layer, as <c>nn.Sequential</c>: <c>1x28x28-c16k5-m2-c32k5-m2-10</c>
    /// has blocks <c>0.weight</c>, <c>0.bias</c>, <c>3.weight</c>, <c>3.bias</c>, <c>7.weight</c>, <c>7.bias</c>.
    /// </summary>
    /// <exception cref="ArgumentException">When the string is malformed, a kernel does not fit its input, or a pool does not fit; the message quotes the string and the token.</exception>
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
    public double[] Initialize(ulong seed) => NetworkDefaults.Initialize(this, seed);

    /// <inheritdoc/>
    public Tensor Forward(Tape tape, Tensor theta, Tensor input)
    {
        NetworkDefaults.CheckForward(this, tape, theta, input);
        var h = input;
        for (int i = 0; i < _layers.Length; i++) h = _layers[i].Forward(tape, theta, _offsets[i], h);
        return h;
    }

    /// <inheritdoc/>
    public Matrix Predict(ReadOnlySpan<double> theta, Matrix x) => NetworkDefaults.Predict(this, theta, x);

    /// <summary>The architecture string.</summary>
    public override string ToString() => Spec;
}

/// <summary>Architecture string → layer list (tokens → layers), shared by <see cref="Sequential"/> and <see cref="Mlp"/>.</summary>
static partial class ArchitectureParser
{
    internal const string Grammar = "D or CxHxW first, then widths N, convolutions cN[kK][sS][pP], pools mK or aK, and an integer output count last";

    [System.Text.RegularExpressions.GeneratedRegex(@"^c(\d+)(?:k(\d+))?(?:s(\d+))?(?:p(\d+))?$", System.Text.RegularExpressions.RegexOptions.CultureInvariant)]
    private static partial System.Text.RegularExpressions.Regex ConvToken();

    [System.Text.RegularExpressions.GeneratedRegex(@"^([ma])(\d+)$", System.Text.RegularExpressions.RegexOptions.CultureInvariant)]
    private static partial System.Text.RegularExpressions.Regex PoolToken();

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
            var conv = ConvToken().Match(token);
            var pool = PoolToken().Match(token);
            if (!conv.Success && !pool.Success)
                throw Error(arch, $"a width N, cN[kK][sS][pP] (convolution), mK or aK (pooling) at token {i + 1}, not '{token}'");
            if (!shape.IsImage)
                throw TokenError(arch, token, $"an image input: it follows {(i == 1 ? "the flat input" : "a dense layer")} of width {shape.Size}; convolution and pooling need a CxHxW input and must come before the dense layers");
            if (conv.Success)
            {
                int channels = TokenInt(arch, token, "channel count N", conv.Groups[1].Value, 1);
                int kernel = conv.Groups[2].Success ? TokenInt(arch, token, "kernel K", conv.Groups[2].Value, 1) : 3;
                int stride = conv.Groups[3].Success ? TokenInt(arch, token, "stride S", conv.Groups[3].Value, 1) : 1;
                int padding = conv.Groups[4].Success ? TokenInt(arch, token, "padding P", conv.Groups[4].Value, 0) : 0;
                long paddedH = shape.Height + 2L * padding, paddedW = shape.Width + 2L * padding;
                if (kernel > paddedH || kernel > paddedW)
                    throw TokenError(arch, token, $"a kernel of at most {Math.Min(paddedH, paddedW)} for its input {shape} with padding {padding} (padded {paddedH}x{paddedW}), not {kernel}");
                Conv2d layer;
                try { layer = new Conv2d(shape, channels, kernel, stride, padding); }
                catch (ArgumentException e) { throw TokenError(arch, token, $"a convolution that fits in memory ({e.Message})"); }
                layers.Add(layer);
                shape = layer.OutputShape;
                layers.Add(new ActivationLayer(activation, shape));
            }
            else
            {
                var kind = pool.Groups[1].Value == "m" ? PoolKind.Max : PoolKind.Average;
                int kernel = TokenInt(arch, token, "kernel K", pool.Groups[2].Value, 1);
                if (kernel > shape.Height || kernel > shape.Width)
                    throw TokenError(arch, token, $"a pooling kernel of at most {Math.Min(shape.Height, shape.Width)}, the smaller side of its input {shape}, not {kernel}");
                var layer = new Pool2d(kind, shape, kernel);
                layers.Add(layer);
                shape = layer.OutputShape;
            }
        }
        return layers;
    }

    static FeatureShape Input(string arch, string token)
    {
        var parts = token.Split('x');
        if (parts.Length == 1) return FeatureShape.Flat(Positive(arch, token));
        if (parts.Length == 3)
        {
            int c = Positive(arch, parts[0]), h = Positive(arch, parts[1]), w = Positive(arch, parts[2]);
            if ((long)c * h * w > ImageShape.MaxSize)
                throw Error(arch, $"an input image of at most {ImageShape.MaxSize} values, not '{token}'");
            return FeatureShape.Image(c, h, w);
        }
        throw Error(arch, $"an input width D or an image CxHxW as the first token, not '{token}'");
    }

    static int Positive(string arch, string token)
    {
        if (!int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value <= 0)
            throw Error(arch, $"positive integers, not '{token}'");
        return value;
    }

    static int TokenInt(string arch, string token, string what, string text, int min)
    {
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value < min || value > ImageShape.MaxSize)
            throw TokenError(arch, token, $"a {what} in [{min}, {ImageShape.MaxSize}], not {text}");
        return value;
    }

    static ArgumentException TokenError(string arch, string token, string expected) =>
        new($"Argument 'arch' was '{arch}': token '{token}' expected {expected}.", "arch");

    static ArgumentException Error(string arch, string expected) =>
        new($"Argument 'arch' was '{arch}'; expected {expected}, e.g. 784-200-200-10 or 1x28x28-c16k5-m2-c32k5-m2-10.", "arch");
}

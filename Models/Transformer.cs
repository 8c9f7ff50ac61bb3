using System.Globalization;
using System.Text.RegularExpressions;
using Curvature.Autodiff;
using Curvature.Core;

namespace Curvature.Models;

/// <summary>
/// A Transformer encoder classifier over token ids, laid out as this PyTorch module
/// (scripts/transformer_reference.py builds it):
/// <code>
/// pos_embedding = nn.Parameter(torch.zeros(1, L, d))            # learned positions
/// embedding     = nn.Embedding(V, d)
/// encoder       = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, nhead, dim_feedforward,
///                     dropout=0.0, activation="gelu", batch_first=True, norm_first=True), N)
/// classifier    = nn.Linear(d, C)
/// forward(ids): m = ids != 0; h = embedding(ids) + pos_embedding
///               h = encoder(h, src_key_padding_mask=~m); z = classifier(masked mean of h)
/// </code>
/// θ is <c>parameters_to_vector</c> of that module: <c>pos_embedding</c> (the module's own
/// parameter comes first), <c>embedding.weight</c>, then per layer i
/// <c>encoder.layers.i.self_attn.in_proj_weight</c>, <c>…in_proj_bias</c>,
/// <c>…out_proj.weight</c>, <c>…out_proj.bias</c>, <c>…linear1.weight</c>, <c>…linear1.bias</c>,
/// <c>…linear2.weight</c>, <c>…linear2.bias</c>, <c>…norm1.weight</c>, <c>…norm1.bias</c>,
/// <c>…norm2.weight</c>, <c>…norm2.bias</c>, and <c>classifier.weight</c>, <c>classifier.bias</c>.
/// An input example is a row of L token ids (as doubles); id 0 is padding.
/// </summary>
public sealed partial class TransformerClassifier : INetwork
{
    /// <summary>The padding token id: masked out of attention keys and of the pooling.</summary>
    public const int PadId = 0;

    /// <summary>LayerNorm's ε (PyTorch's default).</summary>
    public const double LayerNormEpsilon = 1e-5;

    /// <summary>Standard deviation of the positional embedding's initial N(0, σ²) draw.</summary>
    public const double PositionalInitStd = 0.02;

    readonly ParameterBlock[] _blocks;
    readonly int _layerStart, _layerSize, _classifierStart;

    /// <summary>A classifier over <paramref name="vocabulary"/> tokens and sequences of <paramref name="length"/>.</summary>
    /// <exception cref="ArgumentException">A size is not positive, the width is not divisible by the heads (names <c>heads</c>), or θ would be too long.</exception>
    public TransformerClassifier(int vocabulary, int length, int width, int heads, int feedForward, int layers, int classes, string? spec = null)
    {
        Guard.Positive(vocabulary, nameof(vocabulary));
        Guard.Positive(length, nameof(length));
        Guard.Positive(width, nameof(width));
        Guard.Positive(heads, nameof(heads));
        Guard.Positive(feedForward, nameof(feedForward));
        Guard.Positive(layers, nameof(layers));
        Guard.Positive(classes, nameof(classes));
        if (width % heads != 0)
            throw new ArgumentException($"Argument 'heads' was {heads}; the width d = {width} is not divisible by it (expected a number of heads that divides d).", nameof(heads));
        Vocabulary = vocabulary; Length = length; Width = width; Heads = heads; FeedForward = feedForward; Layers = layers; Classes = classes;
        long d = width, f = feedForward;
        long perLayer = 3 * d * d + 3 * d + d * d + d + f * d + f + d * f + d + 4 * d;
        long total = length * d + (long)vocabulary * d + layers * perLayer + classes * d + classes;
        if (total > Sequential.MaxParameters)
            throw new ArgumentException($"Architecture '{spec}' has {total} parameters; expected at most {Sequential.MaxParameters}.", "arch");
        var blocks = new List<ParameterBlock>();
        int offset = 0;
        void Add(string name, params int[] shape)
        {
            var b = new ParameterBlock(name, shape, offset);
            blocks.Add(b);
            offset += b.Count;
        }
        Add("pos_embedding", 1, length, width);
        Add("embedding.weight", vocabulary, width);
        _layerStart = offset;
        for (int i = 0; i < layers; i++)
        {
            string p = $"encoder.layers.{i}.";
            Add(p + "self_attn.in_proj_weight", 3 * width, width);
            Add(p + "self_attn.in_proj_bias", 3 * width);
            Add(p + "self_attn.out_proj.weight", width, width);
            Add(p + "self_attn.out_proj.bias", width);
            Add(p + "linear1.weight", feedForward, width);
            Add(p + "linear1.bias", feedForward);
            Add(p + "linear2.weight", width, feedForward);
            Add(p + "linear2.bias", width);
            Add(p + "norm1.weight", width);
            Add(p + "norm1.bias", width);
            Add(p + "norm2.weight", width);
            Add(p + "norm2.bias", width);
        }
        _layerSize = (int)perLayer;
        _classifierStart = offset;
        Add("classifier.weight", classes, width);
        Add("classifier.bias", classes);
        _blocks = [.. blocks];
        ParameterCount = offset;
        Spec = spec ?? $"tok{vocabulary}x{length}-e{width}-t{heads}f{feedForward}x{layers}-{classes}";
    }

    /// <summary>Vocabulary size V (rows of the embedding table).</summary>
    public int Vocabulary { get; }
    /// <summary>Sequence length L (tokens per example, padding included).</summary>
    public int Length { get; }
    /// <summary>Model width d.</summary>
    public int Width { get; }
    /// <summary>Attention heads per layer.</summary>
    public int Heads { get; }
    /// <summary>Feed-forward width.</summary>
    public int FeedForward { get; }
    /// <summary>Encoder layers N.</summary>
    public int Layers { get; }
    /// <summary>Classes C (logits per example).</summary>
    public int Classes { get; }

    /// <inheritdoc/>
    public string Spec { get; }
    /// <inheritdoc/>
    public int ParameterCount { get; }
    /// <inheritdoc/>
    public IReadOnlyList<ParameterBlock> Blocks => _blocks;
    /// <inheritdoc/>
    public FeatureShape InputShape => FeatureShape.Flat(Length);
    /// <inheritdoc/>
    public int InputWidth => Length;
    /// <inheritdoc/>
    public int OutputWidth => Classes;

    /// <summary>
    /// PyTorch's initialization of the module: positions N(0, 0.02²); the embedding N(0, 1);
    /// in_proj_weight Xavier-uniform ±√(6/(d + 3d)) and both attention biases 0;
    /// out_proj.weight, linear1 and linear2 (weights and biases) uniform ±1/√fan_in;
    /// LayerNorm γ = 1, β = 0; the classifier uniform ±1/√d. Every layer starts equal to
    /// the first, as in nn.TransformerEncoder, which deep-copies one layer N times.
    /// </summary>
    public void Initialize(ulong seed, Span<double> theta)
    {
        Guard.Length<double>(theta, ParameterCount, nameof(theta));
        var rng = new Rng(seed);
        int d = Width, f = FeedForward;
        int o = 0;
        var pos = Next(theta, ref o, Length * d);
        rng.FillGaussian(pos);
        foreach (ref double v in pos) v *= PositionalInitStd;
        rng.FillGaussian(Next(theta, ref o, Vocabulary * d));
        double xavier = Math.Sqrt(6.0 / (d + 3.0 * d));
        rng.FillUniform(Next(theta, ref o, 3 * d * d), -xavier, xavier);
        Next(theta, ref o, 3 * d).Clear();
        rng.FillUniform(Next(theta, ref o, d * d), -1 / Math.Sqrt(d), 1 / Math.Sqrt(d));
        Next(theta, ref o, d).Clear();
        rng.FillUniform(Next(theta, ref o, f * d + f), -1 / Math.Sqrt(d), 1 / Math.Sqrt(d));
        rng.FillUniform(Next(theta, ref o, d * f + d), -1 / Math.Sqrt(f), 1 / Math.Sqrt(f));
        for (int norm = 0; norm < 2; norm++)
        {
            Next(theta, ref o, d).Fill(1.0);
            Next(theta, ref o, d).Clear();
        }
        var first = theta.Slice(_layerStart, _layerSize);
        for (int i = 1; i < Layers; i++) first.CopyTo(Next(theta, ref o, _layerSize));
        rng.FillUniform(Next(theta, ref o, Classes * d + Classes), -1 / Math.Sqrt(d), 1 / Math.Sqrt(d));
    }

    static Span<double> Next(Span<double> theta, ref int offset, int count)
    {
        var s = theta.Slice(offset, count);
        offset += count;
        return s;
    }

    /// <inheritdoc/>
    public double[] Initialize(ulong seed) => NetworkDefaults.Initialize(this, seed);

    /// <inheritdoc/>
    public Tensor Forward(Tape tape, Tensor theta, Tensor input)
    {
        NetworkDefaults.CheckForward(this, tape, theta, input);
        int d = Width, f = FeedForward, o = 0;
        Tensor Next(int rows, int cols) { var t = tape.Slice(theta, o, rows, cols); o += rows * cols; return t; }
        var mask = tape.TokenMask(input, PadId);
        var pos = Next(Length, d);
        var h = tape.AddPositional(tape.Embedding(Next(Vocabulary, d), input), pos);
        for (int i = 0; i < Layers; i++)
        {
            var inW = Next(3 * d, d); var inB = Next(1, 3 * d);
            var outW = Next(d, d); var outB = Next(1, d);
            var w1 = Next(f, d); var b1 = Next(1, f);
            var w2 = Next(d, f); var b2 = Next(1, d);
            var g1 = Next(1, d); var n1 = Next(1, d);
            var g2 = Next(1, d); var n2 = Next(1, d);
            var a = tape.SelfAttention(tape.LayerNorm(h, g1, n1, LayerNormEpsilon), inW, inB, outW, outB, Heads, Length, mask);
            h = tape.Add(h, a);
            var ff = tape.Linear(tape.Gelu(tape.Linear(tape.LayerNorm(h, g2, n2, LayerNormEpsilon), w1, b1)), w2, b2);
            h = tape.Add(h, ff);
        }
        var pooled = tape.MaskedMeanPool(h, mask);
        return tape.Linear(pooled, Next(Classes, d), Next(1, Classes));
    }

    /// <inheritdoc/>
    public Matrix Predict(ReadOnlySpan<double> theta, Matrix x) => NetworkDefaults.Predict(this, theta, x);

    /// <summary>The architecture string.</summary>
    public override string ToString() => Spec;

    /// <summary>The grammar of Transformer architecture strings, for help texts and messages.</summary>
    public const string Grammar = "tokVxL (or spam) first, then eD (embedding width), tH[fF][xN] (N encoder layers of H heads, feed-forward F, default 4D), and the class count last, e.g. spam-e64-t8f256x2-2";

    [GeneratedRegex(@"^tok(\d+)x(\d+)$", RegexOptions.CultureInvariant)]
    private static partial Regex InputToken();

    [GeneratedRegex(@"^e(\d+)$", RegexOptions.CultureInvariant)]
    private static partial Regex WidthToken();

    [GeneratedRegex(@"^t(\d+)(?:f(\d+))?(?:x(\d+))?$", RegexOptions.CultureInvariant)]
    private static partial Regex LayerToken();

    /// <summary>Whether <paramref name="arch"/> is a Transformer architecture string (its input token is <c>tokVxL</c> or <c>spam</c>).</summary>
    public static bool IsTransformer(string arch)
    {
        Guard.NotNull(arch);
        string first = arch.Trim().Split('-')[0];
        return first == "spam" || first.StartsWith("tok", StringComparison.Ordinal);
    }

    /// <summary>
    /// Parses <c>tokVxL-eD-tH[fF][xN]…-C</c>: vocabulary V and length L (<c>spam</c> is the
    /// spam-subjects data's, see <see cref="SpamSubjects"/>), width D, one or more groups of
    /// N pre-norm encoder layers (H heads, feed-forward F, default 4D), and C classes.
    /// Song et al.'s setting on the spam data is <c>spam-e64-t8f256x2-2</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The string is malformed or D is not divisible by H; the parameter is <c>arch</c> and the message quotes the token.</exception>
    public static TransformerClassifier Parse(string arch)
    {
        Guard.NotNull(arch);
        string spec = arch.Trim();
        var tokens = spec.Split('-');
        ArgumentException Error(string expected) => new($"Argument 'arch' was '{spec}'; expected {expected} ({Grammar}).", "arch");
        if (tokens.Length < 4) throw Error("at least an input, a width, an encoder and a class-count token");
        int vocabulary, length;
        if (tokens[0] == "spam") (vocabulary, length) = (SpamSubjects.Vocabulary.Count, SpamSubjects.SequenceLength);
        else
        {
            var m = InputToken().Match(tokens[0]);
            if (!m.Success) throw Error($"an input token tokVxL or spam, not '{tokens[0]}'");
            vocabulary = Number(m.Groups[1].Value, tokens[0], "vocabulary V");
            length = Number(m.Groups[2].Value, tokens[0], "length L");
        }
        var w = WidthToken().Match(tokens[1]);
        if (!w.Success) throw Error($"a width token eD second, not '{tokens[1]}'");
        int width = Number(w.Groups[1].Value, tokens[1], "width D");
        int heads = 0, ff = 0, layers = 0;
        for (int i = 2; i < tokens.Length - 1; i++)
        {
            var t = LayerToken().Match(tokens[i]);
            if (!t.Success) throw Error($"an encoder token tH[fF][xN] at token {i + 1}, not '{tokens[i]}'");
            int h = Number(t.Groups[1].Value, tokens[i], "head count H");
            int f = t.Groups[2].Success ? Number(t.Groups[2].Value, tokens[i], "feed-forward width F") : 4 * width;
            int n = t.Groups[3].Success ? Number(t.Groups[3].Value, tokens[i], "layer count N") : 1;
            if (width % h != 0)
                throw new ArgumentException($"Argument 'arch' was '{spec}': token '{tokens[i]}' has {h} heads, which do not divide the width {width}; expected a head count that divides {width}.", "arch");
            if (layers > 0 && (h != heads || f != ff))
                throw Error($"encoder tokens that agree on H and F (one TransformerEncoder), not '{tokens[i]}' after t{heads}f{ff}");
            heads = h; ff = f; layers += n;
        }
        int classes = Number(tokens[^1], tokens[^1], "class count C");
        return new TransformerClassifier(vocabulary, length, width, heads, ff, layers, classes, spec);

        int Number(string text, string token, string what)
        {
            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v <= 0 || v > 1_000_000)
                throw new ArgumentException($"Argument 'arch' was '{spec}': token '{token}' expected a {what} in [1, 1000000], not '{text}'.", "arch");
            return v;
        }
    }
}

/// <summary>Architecture strings of every network family: MLPs and CNNs (<see cref="Sequential"/>) and Transformers (<see cref="TransformerClassifier"/>).</summary>
public static class Architecture
{
    /// <summary>
    /// Parses an architecture string: a Transformer when its input token is <c>tokVxL</c> or
    /// <c>spam</c> (its feed-forward activation is GELU, as the PyTorch layer's
    /// <c>activation="gelu"</c>; <paramref name="activation"/> does not apply), else a
    /// <see cref="Sequential"/>.
    /// </summary>
    public static INetwork Parse(string arch, Activation activation) =>
        TransformerClassifier.IsTransformer(arch) ? TransformerClassifier.Parse(arch) : Sequential.Parse(arch, activation);
}

/// <summary>What every <see cref="INetwork"/> implementation does the same way.</summary>
internal static class NetworkDefaults
{
    /// <summary>A new θ with the network's seeded initialization.</summary>
    public static double[] Initialize(INetwork network, ulong seed)
    {
        var theta = new double[network.ParameterCount];
        network.Initialize(seed, theta);
        return theta;
    }

    /// <summary>Throws unless θ has the network's length and the input its width.</summary>
    public static void CheckForward(INetwork network, Tape tape, Tensor theta, Tensor input)
    {
        Guard.NotNull(tape);
        Guard.NotNull(theta);
        Guard.NotNull(input);
        if (theta.Size != network.ParameterCount)
            throw new ArgumentException($"Argument 'theta' has {theta.Size} entries; expected {network.ParameterCount} parameters for the {network.Spec} network.", nameof(theta));
        if (input.Cols != network.InputWidth)
            throw new ArgumentException($"Argument 'input' is {input.Shape}; expected batch x {network.InputWidth} for the {network.Spec} network.", nameof(input));
    }

    /// <summary>The outputs of a network for a batch, recorded on a fresh tape (allocates; for tests and tools).</summary>
    public static Matrix Predict(INetwork network, ReadOnlySpan<double> theta, Matrix x)
    {
        Guard.NotNull(x);
        Guard.Length(theta, network.ParameterCount, nameof(theta));
        var tape = new Tape();
        tape.Begin();
        var p = tape.Parameter(theta.ToArray());
        var z = network.Forward(tape, p, tape.Constant(x));
        var outputs = new Matrix(z.Rows, z.Cols);
        z.Value.CopyTo(outputs.Data);
        return outputs;
    }
}

using System.Globalization;
using Curvature.Autodiff;
using Curvature.Core;

namespace Curvature.Models;

/// <summary>The nonlinearity between dense layers (none follows the last layer).</summary>
public enum Activation
{
    Tanh,
    Relu,
    Gelu,
    Softplus,
}

public static class ActivationNames
{
    /// <summary>Parses tanh | relu | gelu | softplus (case-insensitive).</summary>
    public static Activation Parse(string name)
    {
        Guard.NotNull(name);
        return name.Trim().ToLowerInvariant() switch
        {
            "tanh" => Activation.Tanh,
            "relu" => Activation.Relu,
            "gelu" => Activation.Gelu,
            "softplus" => Activation.Softplus,
            _ => throw new ArgumentException($"Argument 'activation' was '{name}'; expected tanh, relu, gelu or softplus.", nameof(name)),
        };
    }

    /// <summary>The spelling used on the command line and in files.</summary>
    public static string Name(this Activation activation) => activation switch
    {
        Activation.Tanh => "tanh",
        Activation.Relu => "relu",
        Activation.Gelu => "gelu",
        Activation.Softplus => "softplus",
        _ => throw new ArgumentOutOfRangeException(nameof(activation), $"Argument 'activation' was {activation}; expected tanh, relu, gelu or softplus."),
    };
}

/// <summary>
/// Where one dense layer y = x·Wᵀ + b lives in the flat θ: W (outputs×inputs, row-major)
/// at <see cref="WeightOffset"/>, then b (outputs) at <see cref="BiasOffset"/>.
/// </summary>
public readonly record struct DenseLayer(int Inputs, int Outputs, int WeightOffset, int BiasOffset)
{
    public int WeightCount => Inputs * Outputs;
    public int ParameterCount => Inputs * Outputs + Outputs;
}

/// <summary>
/// A multilayer perceptron: dense layers with an activation between them and none after
/// the last. θ holds, layer by layer, the weight [out, in] row-major and then the bias
/// [out]: the order of PyTorch's nn.Linear parameters and parameters_to_vector.
/// </summary>
public sealed class Mlp
{
    readonly int[] _widths;
    readonly DenseLayer[] _layers;

    public Mlp(IReadOnlyList<int> widths, Activation activation)
    {
        Guard.NotNull(widths);
        if (widths.Count < 2)
            throw new ArgumentException($"Argument 'widths' has {widths.Count} entries; expected at least 2 (inputs and outputs).", nameof(widths));
        for (int i = 0; i < widths.Count; i++)
            if (widths[i] <= 0)
                throw new ArgumentException($"Argument 'widths' has {widths[i]} at index {i}; expected positive layer widths.", nameof(widths));
        if (!Enum.IsDefined(activation))
            throw new ArgumentOutOfRangeException(nameof(activation), $"Argument 'activation' was {activation}; expected tanh, relu, gelu or softplus.");
        _widths = [.. widths];
        _layers = new DenseLayer[_widths.Length - 1];
        long offset = 0;
        for (int l = 0; l < _layers.Length; l++)
        {
            int inputs = _widths[l], outputs = _widths[l + 1];
            long weight = offset, bias = offset + (long)inputs * outputs;
            offset = bias + outputs;
            if (offset > int.MaxValue)
                throw new ArgumentException($"Argument 'widths' ({string.Join('-', _widths)}) gives {offset}+ parameters; expected at most {int.MaxValue}.", nameof(widths));
            _layers[l] = new DenseLayer(inputs, outputs, (int)weight, (int)bias);
        }
        ParameterCount = (int)offset;
        Activation = activation;
    }

    /// <summary>Parses a spec such as "784-200-200-10" (layer widths, inputs first).</summary>
    public static Mlp Parse(string spec, Activation activation)
    {
        Guard.NotNull(spec);
        var parts = spec.Trim().Split('-');
        var widths = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out widths[i]) || widths[i] <= 0)
                throw new ArgumentException($"Argument 'arch' was '{spec}'; expected positive layer widths joined by '-', e.g. 784-200-200-10.", nameof(spec));
        if (widths.Length < 2)
            throw new ArgumentException($"Argument 'arch' was '{spec}'; expected at least an input and an output width, e.g. 784-10.", nameof(spec));
        return new Mlp(widths, activation);
    }

    public static Mlp Parse(string spec, string activation) => Parse(spec, ActivationNames.Parse(activation));

    public IReadOnlyList<int> Widths => _widths;
    public IReadOnlyList<DenseLayer> Layers => _layers;
    public Activation Activation { get; }
    public int ParameterCount { get; }
    public int InputWidth => _widths[0];
    public int OutputWidth => _widths[^1];

    /// <summary>The architecture spec, e.g. "784-200-200-10".</summary>
    public string Spec => string.Join('-', _widths);

    public override string ToString() => $"{Spec} {Activation.Name()}";

    /// <summary>
    /// PyTorch's nn.Linear default, seeded: every weight and bias of a layer with fan-in n
    /// uniform on [−1/√n, 1/√n), drawn in θ order.
    /// </summary>
    public void Initialize(ulong seed, Span<double> theta)
    {
        Guard.Length<double>(theta, ParameterCount, nameof(theta));
        var rng = new Rng(seed);
        foreach (var layer in _layers)
        {
            double bound = 1.0 / Math.Sqrt(layer.Inputs);
            rng.FillUniform(theta.Slice(layer.WeightOffset, layer.ParameterCount), -bound, bound);
        }
    }

    public double[] Initialize(ulong seed)
    {
        var theta = new double[ParameterCount];
        Initialize(seed, theta);
        return theta;
    }

    /// <summary>Records the network's outputs (logits) for the rows of <paramref name="input"/> on the tape.</summary>
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
        for (int l = 0; l < _layers.Length; l++)
        {
            var layer = _layers[l];
            var w = tape.Slice(theta, layer.WeightOffset, layer.Outputs, layer.Inputs);
            var b = tape.Slice(theta, layer.BiasOffset, 1, layer.Outputs);
            h = tape.Linear(h, w, b);
            if (l < _layers.Length - 1) h = Activate(tape, h);
        }
        return h;
    }

    Tensor Activate(Tape tape, Tensor x) => Activation switch
    {
        Activation.Tanh => tape.Tanh(x),
        Activation.Relu => tape.Relu(x),
        Activation.Gelu => tape.Gelu(x),
        _ => tape.Softplus(x),
    };

    /// <summary>The outputs for the rows of <paramref name="x"/> (allocates; for tests and tools).</summary>
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
}

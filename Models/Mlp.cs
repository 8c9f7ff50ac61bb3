using System.Globalization;
using Curvature.Core;

namespace Curvature.Models;

/// <summary>The nonlinearity between dense layers (none follows the last layer).</summary>
public enum Activation
{
    /// <summary>tanh(x).</summary>
    [CliName("tanh")]
    Tanh,

    /// <summary>max(x, 0).</summary>
    [CliName("relu")]
    Relu,

    /// <summary>x·Φ(x), the exact (erf) GELU.</summary>
    [CliName("gelu")]
    Gelu,

    /// <summary>log(1 + eˣ).</summary>
    [CliName("softplus")]
    Softplus,
}

/// <summary>The command-line spellings of <see cref="Activation"/>.</summary>
public static class ActivationNames
{
    /// <summary>Parses tanh | relu | gelu | softplus (case-insensitive); an unknown name throws naming the field 'activation'.</summary>
    public static Activation Parse(string name) => CliNames.Parse<Activation>(name, "activation");

    /// <summary>The spelling used on the command line and in files.</summary>
    public static string Name(this Activation activation) => CliNames.Name(activation);
}

/// <summary>
/// A multilayer perceptron: a <see cref="Sequential"/> of <see cref="Dense"/> layers with
/// an <see cref="ActivationLayer"/> between them and none after the last, built from the
/// widths. θ holds, layer by layer, the weight [out, in] row-major and then the bias
/// [out]: PyTorch's parameters_to_vector of nn.Sequential(Linear, act, Linear, …).
/// </summary>
public sealed class Mlp : Sequential
{
    readonly int[] _widths;

    /// <summary>An MLP with layer <paramref name="widths"/> (inputs first, outputs last).</summary>
    /// <exception cref="ArgumentException">When there are fewer than two widths, a width is not positive, or θ would be too long.</exception>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="activation"/> is not defined.</exception>
    public Mlp(IReadOnlyList<int> widths, Activation activation)
        : base(Build(widths, activation), string.Join('-', widths))
    {
        _widths = [.. widths];
        Activation = activation;
    }

    static List<ILayer> Build(IReadOnlyList<int> widths, Activation activation)
    {
        Guard.NotNull(widths);
        if (widths.Count < 2)
            throw new ArgumentException($"Argument 'widths' has {widths.Count} entries; expected at least 2 (inputs and outputs).", nameof(widths));
        for (int i = 0; i < widths.Count; i++)
            if (widths[i] <= 0)
                throw new ArgumentException($"Argument 'widths' has {widths[i]} at index {i}; expected positive layer widths.", nameof(widths));
        if (!Enum.IsDefined(activation))
            throw new ArgumentOutOfRangeException(nameof(activation), $"Argument 'activation' was {activation}; expected tanh, relu, gelu or softplus.");
        long total = 0;
        for (int l = 0; l + 1 < widths.Count; l++) total += (long)widths[l] * widths[l + 1] + widths[l + 1];
        if (total > int.MaxValue)
            throw new ArgumentException($"Argument 'widths' ({string.Join('-', widths)}) gives {total} parameters; expected at most {int.MaxValue}.", nameof(widths));
        var layers = new List<ILayer>();
        for (int l = 0; l + 1 < widths.Count; l++)
        {
            layers.Add(new Dense(widths[l], widths[l + 1]));
            if (l + 2 < widths.Count) layers.Add(new ActivationLayer(activation, FeatureShape.Flat(widths[l + 1])));
        }
        return layers;
    }

    /// <summary>Parses a spec such as "784-200-200-10" (layer widths, inputs first).</summary>
    /// <exception cref="ArgumentException">When the spec is not at least two positive widths joined by '-'.</exception>
    public static new Mlp Parse(string spec, Activation activation)
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

    /// <summary><see cref="Parse(string, Activation)"/> with the activation by name (tanh | relu | gelu | softplus).</summary>
    public static new Mlp Parse(string spec, string activation) => Parse(spec, ActivationNames.Parse(activation));

    /// <summary>The layer widths, inputs first.</summary>
    public IReadOnlyList<int> Widths => _widths;

    /// <summary>The nonlinearity between dense layers.</summary>
    public Activation Activation { get; }

    /// <summary>The architecture and activation, e.g. "784-200-200-10 tanh".</summary>
    public override string ToString() => $"{Spec} {Activation.Name()}";
}

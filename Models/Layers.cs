using Curvature.Autodiff;
using Curvature.Core;

namespace Curvature.Models;

/// <summary>
/// One module of a <see cref="Sequential"/>: its input and output shapes, its parameter
/// tensors (local names such as <c>weight</c> and <c>bias</c>, offsets relative to its
/// first parameter), its seeded initialization and its forward pass on the tape. A new
/// layer type (convolution, pooling, a test-only layer) implements this and nothing else:
/// the tape's op rules give its gradient and curvature products, so
/// <see cref="Objective"/>, the trainer and the solvers need no change.
/// </summary>
public interface ILayer
{
    /// <summary>Shape of one input example.</summary>
    FeatureShape InputShape { get; }

    /// <summary>Shape of one output example.</summary>
    FeatureShape OutputShape { get; }

    /// <summary>Parameter tensors in θ order (local names and offsets); empty for a layer without parameters.</summary>
    IReadOnlyList<ParameterBlock> Parameters { get; }

    /// <summary>Numbers in all <see cref="Parameters"/>.</summary>
    int ParameterCount { get; }

    /// <summary>
    /// Draws the layer's parameters into <paramref name="parameters"/> (length
    /// <see cref="ParameterCount"/>) from <paramref name="rng"/>, which the network passes
    /// from layer to layer in order.
    /// </summary>
    void Initialize(Rng rng, Span<double> parameters);

    /// <summary>
    /// Records the layer on the tape: <paramref name="input"/> is batch × InputShape.Size,
    /// the result batch × OutputShape.Size. The layer's parameters start at
    /// <paramref name="offset"/> in <paramref name="theta"/>; cut them out with
    /// <see cref="Tape.Slice"/>.
    /// </summary>
    Tensor Forward(Tape tape, Tensor theta, int offset, Tensor input);
}

/// <summary>
/// PyTorch's <c>nn.Linear(inputs, outputs)</c>: y = x·Wᵀ + b with <c>weight</c> W
/// [outputs, inputs] row-major, then <c>bias</c> b [outputs].
/// </summary>
public sealed class Dense : ILayer
{
    readonly ParameterBlock[] _parameters;

    /// <summary>A dense layer from <paramref name="inputs"/> to <paramref name="outputs"/> features.</summary>
    /// <exception cref="ArgumentOutOfRangeException">When a width is not positive.</exception>
    /// <exception cref="ArgumentException">When the layer would hold more than <see cref="int.MaxValue"/> parameters.</exception>
    public Dense(int inputs, int outputs)
    {
        Guard.Positive(inputs);
        Guard.Positive(outputs);
        long count = (long)inputs * outputs + outputs;
        if (count > int.MaxValue)
            throw new ArgumentException($"A dense layer {inputs} -> {outputs} has {count} parameters; expected at most {int.MaxValue}.", nameof(inputs));
        Inputs = inputs;
        Outputs = outputs;
        ParameterCount = (int)count;
        _parameters = [new ParameterBlock("weight", [outputs, inputs], 0), new ParameterBlock("bias", [outputs], inputs * outputs)];
    }

    /// <summary>Input features (fan-in).</summary>
    public int Inputs { get; }

    /// <summary>Output features.</summary>
    public int Outputs { get; }

    /// <inheritdoc/>
    public FeatureShape InputShape => FeatureShape.Flat(Inputs);

    /// <inheritdoc/>
    public FeatureShape OutputShape => FeatureShape.Flat(Outputs);

    /// <inheritdoc/>
    public IReadOnlyList<ParameterBlock> Parameters => _parameters;

    /// <inheritdoc/>
    public int ParameterCount { get; }

    /// <summary>PyTorch's default: weight and bias uniform on [−1/√inputs, 1/√inputs), weight first.</summary>
    public void Initialize(Rng rng, Span<double> parameters)
    {
        Guard.NotNull(rng);
        Guard.Length<double>(parameters, ParameterCount, nameof(parameters));
        double bound = 1.0 / Math.Sqrt(Inputs);
        rng.FillUniform(parameters, -bound, bound);
    }

    /// <inheritdoc/>
    public Tensor Forward(Tape tape, Tensor theta, int offset, Tensor input)
    {
        var w = tape.Slice(theta, offset, Outputs, Inputs);
        var b = tape.Slice(theta, offset + Inputs * Outputs, 1, Outputs);
        return tape.Linear(input, w, b);
    }

    /// <summary>As PyTorch prints it: <c>Linear(784, 200)</c>.</summary>
    public override string ToString() => $"Linear({Inputs}, {Outputs})";
}

/// <summary>An elementwise nonlinearity (PyTorch's <c>nn.Tanh()</c>, <c>nn.ReLU()</c>, …); no parameters.</summary>
public sealed class ActivationLayer : ILayer
{
    /// <summary>The nonlinearity <paramref name="function"/> on features of <paramref name="shape"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="function"/> is not a defined <see cref="Models.Activation"/>.</exception>
    public ActivationLayer(Activation function, FeatureShape shape)
    {
        if (!Enum.IsDefined(function))
            throw new ArgumentOutOfRangeException(nameof(function), $"Argument 'function' was {function}; expected tanh, relu, gelu or softplus.");
        if (shape.Size <= 0)
            throw new ArgumentException($"Argument 'shape' was {shape}; expected a shape made by FeatureShape.Flat or FeatureShape.Image.", nameof(shape));
        Function = function;
        InputShape = shape;
    }

    /// <summary>The nonlinearity.</summary>
    public Activation Function { get; }

    /// <inheritdoc/>
    public FeatureShape InputShape { get; }

    /// <inheritdoc/>
    public FeatureShape OutputShape => InputShape;

    /// <inheritdoc/>
    public IReadOnlyList<ParameterBlock> Parameters => [];

    /// <inheritdoc/>
    public int ParameterCount => 0;

    /// <summary>Draws nothing.</summary>
    public void Initialize(Rng rng, Span<double> parameters) { }

    /// <inheritdoc/>
    public Tensor Forward(Tape tape, Tensor theta, int offset, Tensor input) => Function switch
    {
        Activation.Tanh => tape.Tanh(input),
        Activation.Relu => tape.Relu(input),
        Activation.Gelu => tape.Gelu(input),
        _ => tape.Softplus(input),
    };

    /// <summary>As PyTorch prints it: <c>Tanh()</c>, <c>ReLU()</c>, <c>GELU()</c>, <c>Softplus()</c>.</summary>
    public override string ToString() => Function switch
    {
        Activation.Tanh => "Tanh()",
        Activation.Relu => "ReLU()",
        Activation.Gelu => "GELU()",
        _ => "Softplus()",
    };
}

/// <summary>
/// PyTorch's <c>nn.Flatten()</c>: an image C×H×W becomes a vector of C·H·W features in
/// (C, H, W) order. Rows on the tape already hold images in that order, so it records
/// nothing; it exists so that shapes check and module indices match <c>nn.Sequential</c>.
/// </summary>
public sealed class Flatten : ILayer
{
    /// <summary>Flattens images of <paramref name="shape"/>.</summary>
    /// <exception cref="ArgumentException">When <paramref name="shape"/> is not an image.</exception>
    public Flatten(FeatureShape shape)
    {
        if (!shape.IsImage)
            throw new ArgumentException($"Argument 'shape' was {shape}; expected an image CxHxW to flatten.", nameof(shape));
        InputShape = shape;
    }

    /// <inheritdoc/>
    public FeatureShape InputShape { get; }

    /// <inheritdoc/>
    public FeatureShape OutputShape => FeatureShape.Flat(InputShape.Size);

    /// <inheritdoc/>
    public IReadOnlyList<ParameterBlock> Parameters => [];

    /// <inheritdoc/>
    public int ParameterCount => 0;

    /// <summary>Draws nothing.</summary>
    public void Initialize(Rng rng, Span<double> parameters) { }

    /// <summary>Returns <paramref name="input"/> itself: its rows are already flat.</summary>
    public Tensor Forward(Tape tape, Tensor theta, int offset, Tensor input) => input;

    /// <summary>As PyTorch prints it.</summary>
    public override string ToString() => "Flatten()";
}

using Curvature.Models;
using Curvature.Optimizers;

namespace Curvature.Experiments;

/// <summary>
/// The network, loss and data a <see cref="RunSpec"/> names, loaded: the datasets and their
/// objectives. Errors name the CLI option.
/// </summary>
public sealed class Problem
{
    /// <summary>The spec it was loaded from.</summary>
    public required RunSpec Spec { get; init; }

    /// <summary>The network.</summary>
    public required INetwork Model { get; init; }

    /// <summary>The loss.</summary>
    public required LossKind Loss { get; init; }

    /// <summary>The training examples.</summary>
    public required Dataset Train { get; init; }

    /// <summary>The test examples, or null.</summary>
    public required Dataset? Test { get; init; }

    /// <summary>Mean loss over <see cref="Train"/>.</summary>
    public required Objective TrainObjective { get; init; }

    /// <summary>Mean loss over <see cref="Test"/>, or null.</summary>
    public required Objective? TestObjective { get; init; }

    /// <summary>Length of θ.</summary>
    public int ParameterCount => Model.ParameterCount;

    /// <summary>Loads the spec's network and data (the test data only when <paramref name="withTest"/>).</summary>
    public static Problem Load(RunSpec spec, bool withTest = true)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        var model = spec.Network();
        var loss = spec.LossKind();
        var train = DataSpec.Parse(spec.Data);
        var test = !withTest || string.IsNullOrWhiteSpace(spec.TestData) ? null : DataSpec.Parse(spec.TestData, "test-data");
        var options = spec.ObjectiveOptions();
        return new Problem
        {
            Spec = spec,
            Model = model,
            Loss = loss,
            Train = train,
            Test = test,
            TrainObjective = new Objective(model, loss, train, options),
            TestObjective = test is null ? null : new Objective(model, loss, test, options),
        };
    }

    /// <summary>Checks k against the parameter count: a dominant subspace needs 1 ≤ k &lt; n.</summary>
    public void CheckK(int k, string option = "k")
    {
        if (k < 1 || k >= ParameterCount)
            throw new ArgumentOutOfRangeException(option, $"Option '--{option}' was {k}; expected an integer in [1, {ParameterCount - 1}] (below the {Model.Spec} network's {ParameterCount} parameters).");
    }

    /// <summary>The fixed examples the curvature is measured on for the spec's seed and Hessian batch (null: all).</summary>
    public int[]? CurvatureExamples() => HessianBatchDraw.Draw(Train.Count, Spec.HessianBatch, Spec.TrackerSeed);
}

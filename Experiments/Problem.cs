using System.Globalization;
using Curvature.Autodiff;
using Curvature.Models;
using Curvature.Optimizers;

namespace Curvature.Experiments;

/// <summary>
/// The network, loss and data a <see cref="RunSpec"/> names, loaded: the datasets and their
/// objectives. The one builder of a run's problem (train, compare, sweep, spectrum, decompose);
/// it validates the spec, once. Errors name the field.
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

    /// <summary>
    /// One line per default that was clamped to the data (a minibatch or Hessian batch larger than
    /// the training set), for the CLI to print; a value the user gave is refused instead.
    /// </summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>
    /// Validates the spec (once) and loads its network and data: the test data only when
    /// <paramref name="withTest"/>; <see cref="RunSpec.FamilyTestData"/> is resolved to the
    /// training data's own test set, and <see cref="Spec"/> holds the resolved spec.
    /// </summary>
    public static Problem Load(RunSpec spec, bool withTest = true)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        var model = spec.Network();
        var train = DataSpec.Parse(spec.Data);
        spec = spec.Resolved();
        var test = !withTest || string.IsNullOrWhiteSpace(spec.TestData) ? null : DataSpec.Parse(spec.TestData, "test-data");
        var options = spec.ObjectiveOptions();
        var c = CultureInfo.InvariantCulture;
        var notes = new List<string>();
        int defaultBatch = TrainerOptions.DefaultBatchSize, defaultHessianBatch = TrackerOptions.DefaultHessianBatch;
        if (spec.Batch is null && defaultBatch > train.Count)
            notes.Add(string.Create(c, $"note: the default minibatch of {defaultBatch} is more than the {train.Count} examples of '{spec.Data}'; using {train.Count} (full batch)."));
        if (spec.HessianBatch is null && spec.K > 0 && defaultHessianBatch > train.Count)
            notes.Add(string.Create(c, $"note: the default Hessian batch of {defaultHessianBatch} is more than the {train.Count} examples of '{spec.Data}'; measuring on all of them."));
        var problem = new Problem
        {
            Spec = spec,
            Model = model,
            Loss = spec.Loss,
            Train = train,
            Test = test,
            TrainObjective = new Objective(model, spec.Loss, train, options),
            TestObjective = test is null ? null : new Objective(model, spec.Loss, test, options),
            Notes = notes,
        };
        if (spec.K > 0) problem.CheckCurvature(spec.Curvature);
        return problem;
    }

    /// <summary>
    /// Refuses a curvature the network cannot give before any work: K-FAC on a network it does not
    /// cover (tried on one example at θ₀, which costs one forward and C backward sweeps).
    /// </summary>
    /// <exception cref="ArgumentException">The message names <c>--curvature</c>, the value and what is supported.</exception>
    public void CheckCurvature(CurvatureKind kind)
    {
        if (kind != CurvatureKind.Kfac) return;
        try { TrainObjective.KfacOperator(Model.Initialize(Spec.Seed), [0]); }
        catch (InvalidOperationException e)
        {
            throw new ArgumentException($"Option '--curvature' was kfac; expected a network whose every parameter lies in a layer K-FAC supports (Objective.KroneckerFactors), or another of h, g, ef, cov or fisher: {e.Message}", "curvature", e);
        }
    }

    /// <summary>θ₀: the seeded initialization, or the θ in <paramref name="thetaFile"/> (a flat float64 .npy or a named .npz; errors name --theta).</summary>
    public double[] InitialTheta(string? thetaFile = null) =>
        thetaFile is null ? Model.Initialize(Spec.Seed) : ThetaFiles.Read(thetaFile, Model, "theta");

    /// <summary>Checks k against the parameter count: a dominant subspace needs 1 ≤ k &lt; n.</summary>
    public void CheckK(int k, string option = "k")
    {
        if (k < 1 || k >= ParameterCount)
            throw new ArgumentOutOfRangeException(option, $"Option '--{option}' was {k}; expected an integer in [1, {ParameterCount - 1}] (below the {Model.Spec} network's {ParameterCount} parameters).");
    }

    /// <summary>
    /// The fixed examples the curvature is measured on for the spec's seed and Hessian batch (null:
    /// all). Without a Hessian batch in the spec, the tracker's default clamped to the data, or,
    /// with <paramref name="allByDefault"/> (spectrum, decompose), every example.
    /// </summary>
    public int[]? CurvatureExamples(bool allByDefault = false)
    {
        int size = Spec.HessianBatch ?? (allByDefault ? 0 : Spec.HessianBatchFor(Train.Count));
        if (size < 0 || size > Train.Count)
            throw new ArgumentOutOfRangeException("hessian-batch", $"Field 'hessian-batch' was {size}; expected an integer in [0, {Train.Count}] (0: every training example of '{Spec.Data}').");
        return CurvatureBatch.Draw(Spec.TrackerSeed, Train.Count, size == 0 ? null : size);
    }
}

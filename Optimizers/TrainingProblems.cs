using Curvature.Core;
using Curvature.Models;

namespace Curvature.Optimizers;

/// <summary>Builds the network objectives and the starting θ a <see cref="TrainingConfig"/> names.</summary>
public static class TrainingProblems
{
    /// <summary>
    /// Loads the data specs, builds the MLP objectives (mean loss over the training and test
    /// examples) and θ₀: the seeded PyTorch-style initialization, or the --init vector.
    /// </summary>
    public static TrainingProblem Build(TrainingConfig config)
    {
        Guard.NotNull(config);
        var activation = ActivationNames.Parse(config.Activation);
        var loss = LossNames.Parse(config.Loss);
        var model = Sequential.Parse(config.Arch, activation);
        var options = config.Threads > 0 ? new ObjectiveOptions { Threads = config.Threads } : null;
        var train = new Objective(model, loss, DataSpec.Parse(config.Data), options);
        var test = config.TestData is null ? null : new Objective(model, loss, DataSpec.Parse(config.TestData), options);
        var theta0 = config.Init is null ? model.Initialize(config.Seed) : ReadInit(config.Init, model);
        return new TrainingProblem(train, test, theta0);
    }

    static double[] ReadInit(string path, INetwork model)
    {
        var theta = Npy.ReadVector(path);
        if (theta.Length != model.ParameterCount)
            throw new ArgumentException($"Option 'init' names '{path}' with {theta.Length} values; expected {model.ParameterCount}, the parameter count of {model.Spec}.", "init");
        for (int i = 0; i < theta.Length; i++)
            if (!double.IsFinite(theta[i]))
                throw new ArgumentException($"Option 'init' names '{path}', which has {theta[i]} at index {i}; expected finite values.", "init");
        return theta;
    }
}

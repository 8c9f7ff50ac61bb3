using Curvature.Optimizers;

namespace Curvature.Examples;

/// <summary>README example 2: a Bulk-SGD run through the library's <see cref="Trainer"/>, with the CLI's defaults.</summary>
public static class BulkSgdRun
{
    /// <summary>300 Bulk-SGD steps of a 196-32-32-10 tanh MLP on 2000 MNIST digits; returns the trainer (θ, metrics, status).</summary>
    public static Trainer Run()
    {
        var spec = new RunSpec { Optimizer = "bulk", Steps = 300 };    // every other field: the CLI's defaults
        var problem = TrainingProblem.Build(spec);                      // network, data, θ₀ from the seed
        var trainer = new Trainer(problem.Train, problem.Test, spec.TrainerOptions(), problem.InitialTheta);
        TrainingResult result = trainer.Run();
        // result.Status (Completed / Diverged at result.StoppedAt), trainer.Metrics, trainer.Theta
        return trainer;
    }
}

using Curvature.Experiments;
using Curvature.Optimizers;

namespace Curvature.Examples;

/// <summary>README example 2: a Bulk-SGD run through the library's <see cref="Trainer"/>, with the CLI's defaults.</summary>
public static class BulkSgdRun
{
    /// <summary>300 Bulk-SGD steps of a 196-32-32-10 tanh MLP on 2000 MNIST digits; returns the trainer (θ, metrics, status).</summary>
    public static Trainer Run()
    {
        var spec = new RunSpec { Optimizer = OptimizerKind.Bulk, Steps = 300 };  // every other field: the CLI's defaults
        var problem = Problem.Load(spec);                                        // network, data (test set: mnist14-test), validated once
        var trainer = new Trainer(problem.TrainObjective, problem.TestObjective, problem.Spec.TrainerOptions(problem.Train.Count), problem.InitialTheta());
        TrainingResult result = trainer.Run();
        // result.Status (Completed / Diverged at result.StoppedAt), trainer.Metrics, trainer.Theta
        return trainer;
    }
}

using Curvature.Core;
using Curvature.Experiments;
using Curvature.Optimizers;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>The experiments as a library: called straight from code, no executable involved.</summary>
public class ExperimentsLibraryTests
{
    static readonly RunSpec Tiny = new()
    {
        Arch = "4-8-3", Data = "gmm:90:4:3:1", TestData = null, LearningRate = 0.1, Batch = 10, Steps = 20,
        EvalEvery = 5, K = 2, Refresh = 5, HessianBatch = 0, Seed = 3,
    };

    [Test]
    public void Energy_shares_of_H_G_F_in_the_dominant_subspace_match_a_dense_eigendecomposition()
    {
        var problem = Problem.Load(Tiny, withTest: false);
        var theta = problem.Model.Initialize(Tiny.Seed);
        var point = CurvatureAnalysis.Decompose(problem.TrainObjective, 0, theta, null, 2, NormMethod.Dense, 0, 1, tolerance: 1e-10);

        // Independent route: dense H, G by applying the operators to unit vectors, U from MathNet's eigendecomposition.
        int n = problem.ParameterCount;
        var h = Dense(problem, Autodiff.CurvatureKind.Hessian, theta, n);
        var g = Dense(problem, Autodiff.CurvatureKind.GaussNewton, theta, n);
        var f = h - g;
        var evd = h.Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric);
        var order = Enumerable.Range(0, n).OrderByDescending(i => evd.EigenValues[i].Real).Take(2).ToArray();
        var u = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.DenseOfColumnVectors(order.Select(i => evd.EigenVectors.Column(i)));
        double Share(MathNet.Numerics.LinearAlgebra.Matrix<double> a) => Math.Pow((u.Transpose() * a * u).FrobeniusNorm(), 2) / Math.Pow(a.FrobeniusNorm(), 2);

        point.H.EnergyShare.Should().BeApproximately(Share(h), 1e-8);
        point.G.EnergyShare.Should().BeApproximately(Share(g), 1e-8);
        point.F.EnergyShare.Should().BeApproximately(Share(f), 1e-8);
        point.Eigenvalues[0].Should().BeApproximately(evd.EigenValues[order[0]].Real, 1e-8);
    }

    static MathNet.Numerics.LinearAlgebra.Matrix<double> Dense(Problem p, Autodiff.CurvatureKind kind, double[] theta, int n)
    {
        var op = p.TrainObjective.CurvatureOperator(kind, theta);
        var m = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(n, n);
        var e = new double[n];
        var col = new double[n];
        for (int j = 0; j < n; j++)
        {
            Array.Clear(e);
            e[j] = 1;
            op.Apply(e, col);
            m.SetColumn(j, col);
        }
        (op as IDisposable)?.Dispose();
        return m;
    }

    [Test]
    public void Compare_from_the_library_trains_two_optimizers_from_one_theta0_without_writing_a_file()
    {
        string outDir = Path.Combine(Path.GetTempPath(), "curvature-never-written-" + Guid.NewGuid().ToString("N"));
        var spec = new CompareSpec { Run = Tiny, Optimizers = ["sgd", "bulk"], Analysis = new AnalysisOptions { Points = 2 }, Out = outDir };
        var result = CompareExperiment.Measure(spec);

        Directory.Exists(outDir).Should().BeFalse("measuring writes nothing");
        result.Runs.Select(r => r.Name).Should().Equal("sgd", "bulk");
        result.Runs.Should().OnlyContain(r => r.Result.Status == TrainingStatus.Completed && r.Result.Steps == 20);
        result.Runs[0].Trainer.Metrics[0].TrainLoss.Should().Be(result.Runs[1].Trainer.Metrics[0].TrainLoss, "both start from the same θ₀");
        result.Runs[0].Trainer.Theta.ToArray().Should().NotEqual(result.Runs[1].Trainer.Theta.ToArray(), "Bulk-SGD removes the dominant part of each step");
        result.Summary.Decomposition.Should().HaveCount(2);
        result.Summary.Decomposition.Should().OnlyContain(d => d.HEnergy > 0 && d.HEnergy <= 1 && d.GEnergy >= 0 && d.GEnergy <= 1);

        // Same spec, same bits: the library is deterministic for a caller too.
        var again = CompareExperiment.Measure(spec);
        again.Runs[1].Trainer.Theta.ToArray().Should().Equal(result.Runs[1].Trainer.Theta.ToArray());
    }

    [Test]
    public void Compare_refreshes_the_reference_runs_curvature_log_every_T_like_the_projected_runs_unless_told_otherwise()
    {
        // train alone logs an unprojected run's curvature every max(T, 10·M) = 50 steps here: once in 40 steps.
        var run = Tiny with { Steps = 40 };
        var spec = new CompareSpec { Run = run, Optimizers = ["sgd", "bulk"], Analysis = new AnalysisOptions { Points = 0 }, Out = "unused" };
        var result = CompareExperiment.Measure(spec);
        int Refreshes(int i) => result.Runs[i].Trainer.Metrics[^1].Refreshes;
        Refreshes(0).Should().Be(Refreshes(1), "SGD's χ_k sits beside Bulk-SGD's, both from a basis at most T steps old");
        Refreshes(0).Should().Be(run.Steps / run.Refresh + 1, "a refresh at steps 0, T, …, 40, the last before the final row");

        var sparse = CompareExperiment.Measure(spec with { Run = run with { CurvatureLogEvery = 20 } });
        sparse.Runs[0].Trainer.Metrics[^1].Refreshes.Should().Be(run.Steps / 20 + 1, "an explicit --curvature-log-every is kept: steps 0, 20 and 40");
        sparse.Runs[0].Trainer.Theta.ToArray().Should().Equal(result.Runs[0].Trainer.Theta.ToArray(), "the log never touches θ");
    }

    [Test]
    public void A_Bulk_SGD_run_through_Trainer_gives_the_same_bits_with_the_callers_BLAS_on_one_or_two_threads()
    {
        // The case: 196-64-64-10 on mnist14:1000, Bulk-SGD, 30 steps, Trainer called directly.
        var spec = new RunSpec { Arch = "196-64-64-10", Data = "mnist14:1000", TestData = null, Optimizer = OptimizerKind.Bulk, Steps = 30, EvalEvery = 10 };
        double[] Train(int threads)
        {
            using (Blas.UseThreads(threads))
            {
                var problem = Problem.Load(spec);
                var trainer = new Trainer(problem.TrainObjective, problem.TestObjective, spec.TrainerOptions(problem.Train.Count), problem.InitialTheta());
                trainer.Run().Status.Should().Be(TrainingStatus.Completed);
                return trainer.Theta.ToArray();
            }
        }
        var one = Train(1);
        var two = Train(2);
        int differing = one.Zip(two).Count(p => BitConverter.DoubleToInt64Bits(p.First) != BitConverter.DoubleToInt64Bits(p.Second));
        differing.Should().Be(0, "the caller's BLAS thread count must not change the bits");
    }

    [Test]
    public void Library_defaults_are_the_CLIs()
    {
        var o = new TrainerOptions();
        var t = new TrackerOptions();
        var d = RunSpec.Defaults;
        (o.BatchSize, o.Steps, o.EvalEvery, o.Step.LearningRate).Should().Be((d.BatchFor(int.MaxValue), d.Steps, d.EvalEveryOrDefault, d.LearningRate));
        (t.K, t.RefreshEvery, t.HessianBatch, t.Tolerance, t.WarmStart).Should().Be((d.K, d.Refresh, d.HessianBatchFor(int.MaxValue), d.Tolerance, d.WarmStart));
        d.Refresh.Should().BeGreaterThan(1, "refreshing every step cost a README library run 227 s where the CLI took 9.4 s");
        d.HessianBatchFor(int.MaxValue).Should().BeGreaterThan(0);
        d.HessianBatchFor(300).Should().Be(0, "a default Hessian batch larger than the data is clamped to all of it");
        d.BatchFor(50).Should().Be(50, "a default minibatch larger than the data is clamped to it");
    }
}

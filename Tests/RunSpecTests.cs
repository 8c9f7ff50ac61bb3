using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Experiments;
using Curvature.Models;
using Curvature.Optimizers;
using Curvature.Spectral;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>
/// The typed run description: enums by their command-line names in every JSON file, aliases
/// stored canonically, old config.json files still read, the version written with a literal
/// '+', one validation per train, and defaults that fit the data.
/// </summary>
public class RunSpecTests
{
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-runspec-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    static RunSpec Tiny => new()
    {
        Arch = "4-8-3", Data = "gmm:60:4:3:1", Optimizer = OptimizerKind.Bulk, LearningRate = 0.1, Batch = 10,
        Steps = 6, K = 2, Refresh = 3, EvalEvery = 3, Seed = 5,
    };

    [Test]
    public void A_train_validates_its_spec_once()
    {
        int before = RunSpec.ValidationsOnThisThread;
        var summary = TrainingRun.Execute(new TrainSpec { Run = Tiny, Out = Path.Combine(_dir, "run") });
        summary.Status.Should().Be(TrainingStatus.Completed);
        (RunSpec.ValidationsOnThisThread - before).Should().Be(1, "Problem.Load is the one place a train validates its spec");
    }

    [Test]
    public void Config_json_writes_enums_by_their_cli_names_and_an_alias_by_its_canonical_name()
    {
        var spec = new TrainSpec
        {
            Run = Tiny with { Curvature = CliNames.Parse<CurvatureKind>("gn", "curvature"), Solver = EigenSolver.Lobpcg, Loss = LossKind.TorchMeanSquaredError, Update = UpdateRule.Adam },
        };
        string json = RunJson.Serialize(spec);
        json.Should().Contain("\"optimizer\": \"bulk\"").And.Contain("\"curvature\": \"g\"").And.Contain("\"solver\": \"lobpcg\"")
            .And.Contain("\"loss\": \"torch-mse\"").And.Contain("\"update\": \"adam\"").And.Contain("\"activation\": \"tanh\"");
        json.Should().NotContain("\"resume\"", "a resume is an action, not part of the recorded run");
        string file = Path.Combine(_dir, "config.json");
        RunJson.Save(file, spec);
        RunJson.LoadStrict<TrainSpec>(file, "run").Should().BeEquivalentTo(spec);
    }

    [Test]
    public void A_config_json_of_format_1_with_string_names_aliases_and_resume_still_loads()
    {
        // As 0.2.0 wrote it: no format, a resume key, the alias gn, every enum a lower-case string.
        string file = Path.Combine(_dir, "old.json");
        File.WriteAllText(file, """
            {
              "run": { "arch": "4-8-3", "activation": "relu", "loss": "ce", "data": "gmm:60:4:3:1", "test_data": null,
                       "optimizer": "interp", "alpha_dom": 0.2, "alpha_bulk": 2, "learning_rate": 0.05, "batch": 10, "steps": 40,
                       "update": "sgd", "k": 3, "refresh": 5, "hessian_batch": 500, "solver": "block-lanczos", "curvature": "gn",
                       "tolerance": 0.0001, "warm_start": true, "eval_every": null, "seed": 2, "threads": 0 },
              "out": "runs/old", "init": null, "save_theta": true, "resume": "runs/old/checkpoint.bin", "checkpoint_every": 0
            }
            """);
        var spec = RunJson.LoadStrict<TrainSpec>(file, "run");
        spec.Resume.Should().BeNull("config.json's resume is not part of the run");
        var r = spec.Run;
        (r.Activation, r.Loss, r.Optimizer, r.Curvature, r.Solver, r.Update).Should().Be(
            (Activation.Relu, LossKind.CrossEntropy, OptimizerKind.Interp, CurvatureKind.GaussNewton, EigenSolver.BlockLanczos, UpdateRule.Sgd));
        (r.AlphaDom, r.AlphaBulk, r.HessianBatch, r.Batch, r.EvalEvery).Should().Be((0.2, 2.0, 500, 10, (int?)null));
        RunJson.Serialize(spec).Should().Contain("\"curvature\": \"g\"");
    }

    [Test]
    public void Every_json_file_writes_a_plus_as_itself_and_the_version_literally()
    {
        RunJson.Serialize(new { version = "0.2.0+abc123", lambda = "λ₁ ‖z‖" }).Should().Contain("\"0.2.0+abc123\"").And.Contain("λ₁ ‖z‖").And.NotContain("\\u");
        TrainingRun.Execute(new TrainSpec { Run = Tiny, Out = Path.Combine(_dir, "run") });
        foreach (var file in Directory.GetFiles(Path.Combine(_dir, "run"), "*.json"))
            File.ReadAllText(file).Should().NotContain("\\u002B", file);
        File.ReadAllText(Path.Combine(_dir, "run", "summary.json")).Should().Contain($"\"version\": \"{RunJson.Version}\"");
    }

    [TestCase("mnist14:100", "mnist14-test")]
    [TestCase("mnist:100", "mnist-test")]
    [TestCase("fashion14:100", "fashion14-test")]
    [TestCase("fashion:100", "fashion-test")]
    [TestCase("gmm:60:4:3:1", null)]
    [TestCase("teacher:60:4:1", null)]
    public void The_test_set_defaults_to_the_training_datas_own_family(string data, string? test)
    {
        var problem = Problem.Load(new RunSpec { Arch = data.StartsWith("mnist:", StringComparison.Ordinal) || data.StartsWith("fashion:", StringComparison.Ordinal) ? "784-4-10" : data.StartsWith("gmm", StringComparison.Ordinal) ? "4-8-3" : data.StartsWith("teacher", StringComparison.Ordinal) ? "4-8-1" : "196-4-10", Data = data });
        problem.Spec.TestData.Should().Be(test);
        if (test is null) problem.Test.Should().BeNull();
        else problem.Test!.Name.Should().Be(test);
    }

    [Test]
    public void Default_batches_larger_than_the_data_are_clamped_with_a_note_and_typed_ones_refused()
    {
        var problem = Problem.Load(Tiny with { Data = "gmm:40:4:3:1", Batch = null, HessianBatch = null });
        problem.Notes.Should().HaveCount(2);
        problem.Notes[0].Should().Contain("minibatch of 100").And.Contain("40 examples");
        problem.Notes[1].Should().Contain("Hessian batch of 500").And.Contain("all of them");
        var options = problem.Spec.TrainerOptions(problem.Train.Count);
        (options.BatchSize, options.Tracker!.HessianBatch).Should().Be((40, 0));
        var typed = (Tiny with { Batch = 41 }).TrainerOptions(40);
        FluentActions.Invoking(() => typed.Validate(problem.ParameterCount, 40)).Should().Throw<ArgumentException>().WithMessage("*'batch' was 41*40 training examples*");
    }

    [Test]
    public void A_divergence_message_names_lambda_1_and_the_stable_bound_two_over_lambda_1()
    {
        // 2/λ₁ for λ₁ = 8 is 0.25, an independent closed form.
        TrainingStatusText.DivergenceAdvice(8.0, 0.5).Should().Contain("λ₁ = 8").And.Contain("2/λ₁ = 0.25").And.Contain("η was 0.5");
        TrainingStatusText.DivergenceAdvice(null, 0.5).Should().Contain("not measured");
    }
}

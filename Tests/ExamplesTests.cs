using Curvature.Examples;
using Curvature.Optimizers;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>The README's library examples (Examples/, the same code) build and run.</summary>
public class ExamplesTests
{
    [Test]
    public void Top_k_of_H_example_returns_ten_converged_eigenpairs_largest_first()
    {
        var top = TopKOfHessian.Run();
        top.Count.Should().Be(10);
        top.Converged.Should().OnlyContain(c => c);
        top.Values.Take(10).Should().BeInDescendingOrder();
    }

    [Test]
    public void Bulk_SGD_example_completes_and_lowers_the_training_loss()
    {
        var trainer = BulkSgdRun.Run();
        trainer.Status.Should().Be(TrainingStatus.Completed);
        trainer.Metrics[^1].TrainLoss.Should().BeLessThan(trainer.Metrics[0].TrainLoss);
    }

    [Test]
    public void Energy_example_gives_shares_in_the_unit_interval()
    {
        var point = EnergyInDominantSubspace.Run();
        foreach (var s in new[] { point.H, point.G, point.F })
            s.EnergyShare.Should().BeInRange(0, 1);
        point.Eigenvalues.Should().HaveCount(10).And.BeInDescendingOrder();
    }

    [Test]
    public void Checking_example_finds_Hv_equal_to_the_gradient_difference_G_psd_H_indefinite_and_H_equal_G_plus_F()
    {
        var (hvError, minG, minH, splitError) = CheckingCurvature.Run();
        hvError.Should().BeLessThan(1e-8);
        minG.Should().BeGreaterThan(-1e-12, "G = Jᵀ(∇²ℓ)J with ∇²ℓ of cross-entropy PSD");
        minH.Should().BeLessThan(-1e-6, "F's indefinite part shows in H at this point");
        splitError.Should().BeLessThan(1e-12);
    }

    [TestCase("CheckingCurvature.cs")]
    [TestCase("TopKOfHessian.cs")]
    [TestCase("BulkSgdRun.cs")]
    [TestCase("EnergyInDominantSubspace.cs")]
    public void The_README_shows_each_example_file_character_for_character(string file)
    {
        string root = CliProcess.RepoRoot;
        string readme = File.ReadAllText(Path.Combine(root, "README.md")).ReplaceLineEndings("\n");
        string code = File.ReadAllText(Path.Combine(root, "Examples", file)).ReplaceLineEndings("\n").TrimEnd('\n');
        readme.Should().Contain("```csharp\n" + code + "\n```", "README and Examples/ are the same code");
    }
}

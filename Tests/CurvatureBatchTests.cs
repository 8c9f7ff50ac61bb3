using Curvature.Core;
using Curvature.Models;
using Curvature.Optimizers;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>The one Hessian-batch draw shared by training, spectrum and decompose.</summary>
public class CurvatureBatchTests
{
    [Test]
    public void Draw_is_the_sorted_prefix_of_a_seeded_shuffle_of_the_example_indices()
    {
        // Rebuilt from the documented rule: Fisher–Yates with Rng(seed ^ Salt), first m, sorted.
        var all = Enumerable.Range(0, 50).ToArray();
        new Rng(7UL ^ CurvatureBatch.Salt).Shuffle(all.AsSpan());
        var expected = all[..12].Order().ToArray();
        CurvatureBatch.Draw(7, 50, 12).Should().Equal(expected);
        expected.Should().OnlyHaveUniqueItems().And.BeInAscendingOrder();
    }

    [Test]
    public void Same_seed_gives_the_same_examples_and_another_seed_others()
    {
        CurvatureBatch.Draw(3, 1000, 100).Should().Equal(CurvatureBatch.Draw(3, 1000, 100));
        CurvatureBatch.Draw(4, 1000, 100).Should().NotEqual(CurvatureBatch.Draw(3, 1000, 100));
    }

    [Test]
    public void No_size_or_every_example_means_all_examples()
    {
        CurvatureBatch.Draw(3, 40, null).Should().BeNull();
        CurvatureBatch.Draw(3, 40, 40).Should().BeNull();
    }

    [TestCase(0)]
    [TestCase(41)]
    [TestCase(-3)]
    public void A_size_outside_one_to_the_example_count_is_rejected_naming_it(int size)
    {
        var act = () => CurvatureBatch.Draw(3, 40, size);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage($"*'size'*{size}*[1, 40]*");
    }

    [Test]
    public void The_subspace_tracker_measures_the_examples_of_the_shared_draw()
    {
        // Training's curvature batch: what the tracker already drew, so runs keep their numbers.
        var data = ObjectiveTests.Classification(200, 10, 4, 5);
        var obj = new Objective(Mlp.Parse("10-8-4", Activation.Tanh), LossKind.CrossEntropy, data);
        var tracker = new SubspaceTracker(obj, new TrackerOptions { K = 2, HessianBatch = 64, Seed = 11 });
        tracker.HessianBatch.Should().Equal(CurvatureBatch.Draw(11, 200, 64));
    }
}

using Curvature.Cli.Experiments;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

public class SweepCommandTests
{
    [Test]
    public void Grid_is_the_cartesian_product_with_the_last_axis_varying_fastest()
    {
        var axes = new[]
        {
            SweepGrid.ParseAxis("lr", "0.05,0.1", integer: false, min: 0, minExclusive: true),
            SweepGrid.ParseAxis("k", "5,10,20", integer: true, min: 1),
        };
        var points = SweepGrid.Expand(axes);
        points.Should().HaveCount(6);
        points.Select(p => (p["lr"], p["k"])).Should().Equal(
            (0.05, 5.0), (0.05, 10.0), (0.05, 20.0), (0.1, 5.0), (0.1, 10.0), (0.1, 20.0));
        points.Select(p => p.Index).Should().Equal(0, 1, 2, 3, 4, 5);
        points[4].Label.Should().Be("lr=0.1_k=10");
    }

    [TestCase("0.1,-0.2", "*'--lr'*'-0.2'*> 0*")]
    [TestCase("0.1,abc", "*'--lr'*'abc'*numbers*")]
    [TestCase("0.1,0.1", "*'--lr'*twice*")]
    [TestCase("", "*'--lr'*empty*")]
    public void Invalid_learning_rate_lists_are_rejected_naming_the_option_and_value(string list, string message)
    {
        var act = () => SweepGrid.ParseAxis("lr", list, integer: false, min: 0, minExclusive: true);
        act.Should().Throw<ArgumentException>().WithMessage(message);
    }

    [Test]
    public void A_fractional_k_is_rejected()
    {
        var act = () => SweepGrid.ParseAxis("k", "2.5", integer: true, min: 1);
        act.Should().Throw<ArgumentException>().WithMessage("*'--k'*'2.5'*whole*");
    }
}

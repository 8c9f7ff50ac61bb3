using Curvature.Core;
using Curvature.Models;
using Curvature.Spectral;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>The public checking API (Models/Checks.cs) against closed forms.</summary>
public class CheckApiTests
{
    // f(x) = x₀³·x₁ + sin(x₂): ∇f = (3x₀²x₁, x₀³, cos x₂), ∇²f·v = (6x₀x₁v₀ + 3x₀²v₁, 3x₀²v₀, −sin(x₂)v₂).
    static double F(double[] x) => x[0] * x[0] * x[0] * x[1] + Math.Sin(x[2]);
    static double[] GradF(double[] x) => [3 * x[0] * x[0] * x[1], x[0] * x[0] * x[0], Math.Cos(x[2])];

    static readonly double[] Theta = [0.7, -1.3, 0.4];
    static readonly double[] V = [0.5, 2.0, -1.5];

    [Test]
    public void Central_differences_of_a_loss_equal_the_closed_form_gradient()
    {
        Checks.RelativeError(Checks.Gradient(F, Theta), GradF(Theta)).Should().BeLessThan(1e-11);
        // docs/autodiff.md §8's worked numbers.
        Checks.Gradient(F, Theta).Should().Equal([-1.911, 0.343, 0.921061], (a, b) => Math.Abs(a - b) < 1e-6);
    }

    [Test]
    public void Central_differences_of_a_gradient_equal_the_closed_form_Hv()
    {
        double[] x = Theta, v = V;
        double[] expected = [6 * x[0] * x[1] * v[0] + 3 * x[0] * x[0] * v[1], 3 * x[0] * x[0] * v[0], -Math.Sin(x[2]) * v[2]];
        Checks.RelativeError(Checks.HessianVectorProduct(GradF, x, v), expected).Should().BeLessThan(1e-11);
        Checks.HessianVectorProduct(GradF, x, v).Should().Equal([0.21, 0.735, 0.584128], (a, b) => Math.Abs(a - b) < 1e-6);
    }

    [Test]
    public void Directional_difference_of_a_linear_map_is_the_map_applied_to_v_and_the_stencil_is_fourth_order()
    {
        // f(t) = t⁵ has f′(0) = 0, and the stencil's O(h⁴) error term is exact for it: −4h⁴.
        double[] At(double[] x) => [2 * x[0] - x[1], x[0] + 3 * x[1]];
        Checks.Directional(At, [1.0, 2.0], [1.0, -1.0]).Should().Equal([3.0, -2.0], (a, b) => Math.Abs(a - b) < 1e-12);
        double h = 1e-1;
        double error = Checks.Directional(x => [Math.Pow(x[0], 5)], [0.0], [1.0], h)[0];
        error.Should().BeApproximately(-4 * Math.Pow(h, 4), 1e-15, "[−32h⁵ + 8h⁵ + 8h⁵ − 32h⁵]/(12h) = −4h⁴");
    }

    [Test]
    public void Dense_of_an_operator_is_the_matrix_it_applies_and_reports_its_asymmetry()
    {
        var a = Matrix.FromRows(new double[,] { { 1, 2, 0 }, { 0, 3, 1 }, { 4, 0, 5 } });
        var dense = Checks.Dense(new MatrixOperator(a));
        dense.Data.Should().Equal(a.Data);
        Checks.Asymmetry(dense).Should().BeApproximately(4.0 / 5.0, 1e-15);
        Checks.Asymmetry(Matrix.Identity(3)).Should().Be(0);
    }

    [Test]
    public void Eigenvalues_of_a_symmetric_matrix_come_ascending_and_leave_it_unchanged()
    {
        // [[2, 1], [1, 2]] has eigenvalues 1 and 3.
        var a = Matrix.FromRows(new double[,] { { 2, 1 }, { 1, 2 } });
        Checks.Eigenvalues(a).Should().Equal([1.0, 3.0], (x, y) => Math.Abs(x - y) < 1e-14);
        a.Data.Should().Equal(2, 1, 1, 2);
    }

    [Test]
    public void Dense_Hessian_of_an_objective_by_differences_equals_the_dense_H_operator()
    {
        var model = Mlp.Parse("3-4-2", "tanh");
        var objective = new Objective(model, LossKind.CrossEntropy, DataSpec.Parse("gmm:20:3:2:4"));
        var theta = model.Initialize(2);
        var byDifferences = Checks.Hessian(objective, theta);
        var byTape = Checks.Dense(objective.CurvatureOperator(Autodiff.CurvatureKind.Hessian, theta));
        Checks.RelativeError(byDifferences.Data, byTape.Data).Should().BeLessThan(1e-8);
        Checks.Gradient(objective, theta).Length.Should().Be(model.ParameterCount);
    }

    [Test]
    public void Dense_refuses_an_operator_larger_than_max_size_and_names_it()
    {
        var act = () => Checks.Dense(new MatrixOperator(Matrix.Identity(5)), maxSize: 4);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*size 5*maxSize = 4*");
    }

    [TestCase(0.0)]
    [TestCase(-1e-3)]
    [TestCase(double.NaN)]
    public void A_step_that_is_not_positive_and_finite_is_refused_by_name(double step)
    {
        var act = () => Checks.Gradient(F, Theta, step);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'step'*h > 0*");
    }

    [Test]
    public void A_direction_of_the_wrong_length_is_refused_by_name()
    {
        var act = () => Checks.HessianVectorProduct(GradF, Theta, [1.0, 2.0]);
        act.Should().Throw<ArgumentException>().WithMessage("*'v'*");
    }

    sealed class MatrixOperator(Matrix a) : ILinearOperator
    {
        public int Size => a.Rows;
        public void Apply(ReadOnlySpan<double> x, Span<double> y)
        {
            for (int i = 0; i < a.Rows; i++)
            {
                double s = 0;
                for (int j = 0; j < a.Cols; j++) s += a[i, j] * x[j];
                y[i] = s;
            }
        }
    }
}

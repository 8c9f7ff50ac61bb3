using Curvature.Autodiff;
using Curvature.Spectral;

namespace Curvature.Models;

/// <summary>Mean loss and accuracy on a set of examples.</summary>
public readonly record struct Evaluation(double Loss, double Accuracy);

/// <summary>
/// What the optimizers need from a training problem: the mean loss and its gradient on
/// any subset of examples, and the curvature operators at a point. <c>examples</c> are
/// row indices into the data; null means every example. Implemented by the network
/// <c>Objective</c> and, in tests, by quadratics with known spectra.
/// </summary>
public interface IObjective
{
    /// <summary>Length of θ.</summary>
    int ParameterCount { get; }

    /// <summary>Number of examples.</summary>
    int ExampleCount { get; }

    /// <summary>Mean loss over <paramref name="examples"/>; writes its gradient into <paramref name="gradient"/>.</summary>
    double LossAndGradient(ReadOnlySpan<double> theta, Span<double> gradient, int[]? examples = null);

    /// <summary>Mean loss and accuracy over all examples (accuracy is NaN where it has no meaning).</summary>
    Evaluation Evaluate(ReadOnlySpan<double> theta);

    /// <summary>The curvature matrix of the mean loss over <paramref name="examples"/> at θ (θ is copied).</summary>
    ILinearOperator CurvatureOperator(CurvatureKind kind, ReadOnlySpan<double> theta, int[]? examples = null);
}

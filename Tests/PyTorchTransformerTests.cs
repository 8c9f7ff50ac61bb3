using Curvature.Core;
using Curvature.Models;
using Curvature.Optimizers;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.AutodiffTestSupport;

namespace Curvature.Tests;

/// <summary>
/// Weights written by PyTorch load into the Transformer and give PyTorch's loss and gradient.
/// The fixture Tests/Data/transformer was made by <c>scripts/transformer_reference.py fixture</c>
/// with Debian's python3-torch (float64, nn.TransformerEncoder with norm_first, GELU, a key
/// padding mask, masked mean pooling): theta.npz is the module's state_dict, X.npy/y.npy a batch
/// of six padded sequences (one of length 1), expected.npz PyTorch's mean cross-entropy and
/// the gradient as parameters_to_vector.
/// </summary>
public class PyTorchTransformerTests
{
    const string Arch = "tok12x5-e4-t2f6x2-2";

    static string Fixture(string file)
    {
        return Path.Combine(CliProcess.RepoRoot, "Tests", "Data", "transformer", file);
    }

    static string DataSpecText => $"npy:{Fixture("X.npy")},{Fixture("y.npy")},2";

    [Test]
    public void PyTorch_state_dict_loads_and_gives_PyTorch_loss_and_gradient_to_1e_10()
    {
        var model = TransformerClassifier.Parse(Arch);
        var theta = ThetaFiles.Read(Fixture("theta.npz"), model, "theta");
        var objective = new Objective(model, LossKind.CrossEntropy, DataSpec.Parse(DataSpecText));
        var expected = Npz.Read(Fixture("expected.npz"));
        var gradient = new double[model.ParameterCount];
        double loss = objective.LossAndGradient(theta, gradient);
        double torchLoss = expected["loss"].Float64![0];
        Math.Abs(loss - torchLoss).Should().BeLessThan(1e-10 * Math.Abs(torchLoss));
        Checks.RelativeError(gradient, expected["grad"].Float64!).Should().BeLessThan(1e-10);
        expected["grad"].Float64!.Length.Should().Be(386, "the fixture's parameter count as PyTorch printed it");
    }

    [Test]
    public void Grad_command_with_the_PyTorch_npz_as_theta_writes_PyTorch_gradient()
    {
        string dir = Directory.CreateTempSubdirectory("curvature-torch-transformer-").FullName;
        try
        {
            var r = CliProcess.Run(["grad", "--arch", Arch, "--loss", "ce", "--data", DataSpecText, "--theta", Fixture("theta.npz"), "--out", dir]);
            r.Code.Should().Be(0, r.Stderr);
            Checks.RelativeError(Npy.ReadVector(Path.Combine(dir, "grad.npy")), Npz.Read(Fixture("expected.npz"))["grad"].Float64!).Should().BeLessThan(1e-10);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}

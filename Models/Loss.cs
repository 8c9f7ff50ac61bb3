using Curvature.Autodiff;
using Curvature.Core;

namespace Curvature.Models;

/// <summary>The per-example loss, averaged over examples.</summary>
public enum LossKind
{
    /// <summary>`ce`: −log softmax(zᵢ)[yᵢ].</summary>
    [CliName("ce")]
    CrossEntropy,

    /// <summary>`mse`: ½‖zᵢ − tᵢ‖², with tᵢ the one-hot label or a real target.</summary>
    [CliName("mse")]
    MeanSquaredError,

    /// <summary>
    /// `torch-mse`: PyTorch's <c>nn.MSELoss()</c>, (1/C)‖zᵢ − tᵢ‖² averaged over examples, i.e.
    /// the mean over examples AND the C outputs of (z − t)², with no ½. It is mse scaled by 2/C,
    /// so its loss, gradient, H, G and F are (2/C)× those of mse (eigenvalues differ by C/2).
    /// </summary>
    [CliName("torch-mse")]
    TorchMeanSquaredError,
}

/// <summary>The command-line spellings of <see cref="LossKind"/>, and the loss recorder.</summary>
public static class LossNames
{
    /// <summary>The accepted spellings, for messages.</summary>
    public const string Expected = "ce, mse or torch-mse";

    /// <summary>Parses ce | mse | torch-mse (case-insensitive); an unknown name throws naming the field 'loss'.</summary>
    public static LossKind Parse(string name) => CliNames.Parse<LossKind>(name, "loss");

    /// <summary>Parses like <see cref="Parse"/>, returning false instead of throwing.</summary>
    public static bool TryParse(string? name, out LossKind loss) => CliNames.TryParse(name, out loss);

    /// <summary>The spelling used on the command line and in files: ce | mse | torch-mse.</summary>
    public static string Name(this LossKind loss) => CliNames.Name(loss);

    /// <summary>
    /// Records scale·Σᵣ ℓ(zᵣ) for rows of outputs z: cross-entropy against labels, or mse
    /// against the targets (rows <paramref name="targetOffset"/>… of a row-major array with
    /// z's width) when given, else against one-hot labels. torch-mse is mse with the scale
    /// multiplied by 2/C (C = z's width): the op's four rules (value, tangent, adjoint,
    /// adjoint tangent) are linear in the scale, so H, G and F all carry the same 2/C.
    /// </summary>
    public static Tensor Record(Tape tape, LossKind loss, Tensor z, int[]? labels, int labelOffset,
        double[]? targets, int targetOffset, double scale)
    {
        if (loss == LossKind.CrossEntropy)
        {
            if (labels is null)
                throw new ArgumentException("Loss 'ce' needs class labels; the data has only real-valued targets.", nameof(labels));
            return tape.SoftmaxCrossEntropy(z, labels, labelOffset, scale);
        }
        if (loss == LossKind.TorchMeanSquaredError) scale *= 2.0 / z.Cols;
        if (targets is not null)
            return tape.MeanSquaredError(z, tape.Constant(targets, targetOffset * z.Cols, z.Rows, z.Cols), scale);
        if (labels is null)
            throw new ArgumentException("Loss 'mse' needs targets or class labels; the data has neither.", nameof(labels));
        return tape.MeanSquaredError(z, labels, labelOffset, scale);
    }
}

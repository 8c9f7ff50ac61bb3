using Curvature.Autodiff;
using Curvature.Core;

namespace Curvature.Models;

/// <summary>The per-example loss, averaged over examples.</summary>
public enum LossKind
{
    /// <summary>`ce`: −log softmax(zᵢ)[yᵢ].</summary>
    CrossEntropy,

    /// <summary>`mse`: ½‖zᵢ − tᵢ‖², with tᵢ the one-hot label or a real target.</summary>
    MeanSquaredError,
}

/// <summary>The command-line spellings of <see cref="LossKind"/>, and the loss recorder.</summary>
public static class LossNames
{
    /// <summary>Parses ce | mse (case-insensitive).</summary>
    public static LossKind Parse(string name)
    {
        Guard.NotNull(name);
        return name.Trim().ToLowerInvariant() switch
        {
            "ce" => LossKind.CrossEntropy,
            "mse" => LossKind.MeanSquaredError,
            _ => throw new ArgumentException($"Argument 'loss' was '{name}'; expected ce or mse.", nameof(name)),
        };
    }

    /// <summary>The spelling used on the command line and in files: ce | mse.</summary>
    public static string Name(this LossKind loss) => loss switch
    {
        LossKind.CrossEntropy => "ce",
        LossKind.MeanSquaredError => "mse",
        _ => throw new ArgumentOutOfRangeException(nameof(loss), $"Argument 'loss' was {loss}; expected ce or mse."),
    };

    /// <summary>
    /// Records scale·Σᵣ ℓ(zᵣ) for rows of outputs z: cross-entropy against labels, or mse
    /// against the targets (rows <paramref name="targetOffset"/>… of a row-major array with
    /// z's width) when given, else against one-hot labels.
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
        if (targets is not null)
            return tape.MeanSquaredError(z, tape.Constant(targets, targetOffset * z.Cols, z.Rows, z.Cols), scale);
        if (labels is null)
            throw new ArgumentException("Loss 'mse' needs targets or class labels; the data has neither.", nameof(labels));
        return tape.MeanSquaredError(z, labels, labelOffset, scale);
    }
}

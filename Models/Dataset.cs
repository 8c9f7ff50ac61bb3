using Curvature.Core;

namespace Curvature.Models;

/// <summary>
/// Examples as rows of <see cref="X"/> (n×d), with integer class labels (classification:
/// `ce`, or `mse` against one-hot targets) and/or real-valued targets (regression: `mse`).
/// </summary>
public sealed class Dataset
{
    /// <summary>Inputs, one example per row.</summary>
    public Matrix X { get; }

    /// <summary>Class labels in [0, Classes), or null for a regression set.</summary>
    public int[]? Labels { get; }

    /// <summary>Real-valued targets (n×outputs), or null when targets are one-hot labels.</summary>
    public Matrix? Targets { get; }

    /// <summary>Number of classes (labels), or the target width (regression).</summary>
    public int Classes { get; }

    /// <summary>A short description, e.g. the data spec it was made from.</summary>
    public string Name { get; }

    /// <summary>Number of examples n.</summary>
    public int Count => X.Rows;

    /// <summary>Numbers per example d (for an image, C·H·W in (C, H, W) order).</summary>
    public int Features => X.Cols;

    /// <summary>A dataset over <paramref name="x"/> (not copied) with labels and/or targets.</summary>
    /// <exception cref="ArgumentException">When both are null, a label lies outside [0, classes), or a size disagrees with x.</exception>
    public Dataset(Matrix x, int[]? labels, Matrix? targets, int classes, string name)
    {
        Guard.NotNull(x);
        if (labels is null && targets is null)
            throw new ArgumentException("A dataset needs labels or targets; both were null.", nameof(labels));
        if (labels is not null)
        {
            if (labels.Length != x.Rows)
                throw new ArgumentException($"Argument 'labels' has {labels.Length} entries but 'x' has {x.Rows} rows; expected one label per row.", nameof(labels));
            for (int i = 0; i < labels.Length; i++)
                if (labels[i] < 0 || labels[i] >= classes)
                    throw new ArgumentException($"Argument 'labels' has {labels[i]} at index {i}; expected a class in [0, {classes}).", nameof(labels));
        }
        if (targets is not null && (targets.Rows != x.Rows || targets.Cols != classes))
            throw new ArgumentException($"Argument 'targets' is {targets.Shape} but 'x' has {x.Rows} rows and {classes} outputs; expected {x.Rows}x{classes}.", nameof(targets));
        Guard.Positive(classes);
        X = x; Labels = labels; Targets = targets; Classes = classes; Name = name;
    }
}

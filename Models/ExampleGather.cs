using Curvature.Core;

namespace Curvature.Models;

/// <summary>
/// The inputs, labels and targets of one chunk of examples, as windows over arrays the
/// tape reads without copying: the dataset's own arrays for a run of consecutive rows,
/// or this object's reused buffers, into which the rows of an example subset are gathered.
/// </summary>
sealed class ExampleGather
{
    double[] _x = [];
    double[] _targets = [];
    int[] _labels = [];

    /// <summary>Inputs, row-major, from <see cref="XOffset"/>.</summary>
    public double[] X { get; private set; } = [];

    public int XOffset { get; private set; }

    /// <summary>Labels from <see cref="LabelOffset"/>, or null.</summary>
    public int[]? Labels { get; private set; }

    public int LabelOffset { get; private set; }

    /// <summary>Real targets (rows of the output width) from row <see cref="TargetOffset"/>, or null.</summary>
    public double[]? Targets { get; private set; }

    public int TargetOffset { get; private set; }

    /// <summary>
    /// Points at examples [start, start + rows) of <paramref name="subset"/> (or of the
    /// whole data when null). <paramref name="targets"/> is the dataset's target array when
    /// the loss uses it, else null.
    /// </summary>
    public void Load(Dataset data, double[]? targets, int[]? subset, int start, int rows)
    {
        int d = data.Features, c = data.Classes;
        Labels = data.Labels;
        Targets = targets;
        if (subset is null)
        {
            X = data.X.Data;
            XOffset = start * d;
            LabelOffset = TargetOffset = start;
            return;
        }
        Grow(ref _x, rows * d);
        var source = data.X.Data;
        for (int r = 0; r < rows; r++) source.AsSpan(subset[start + r] * d, d).CopyTo(_x.AsSpan(r * d, d));
        X = _x;
        XOffset = 0;
        if (Labels is not null)
        {
            Grow(ref _labels, rows);
            for (int r = 0; r < rows; r++) _labels[r] = Labels[subset[start + r]];
            Labels = _labels;
        }
        LabelOffset = 0;
        if (targets is not null)
        {
            Grow(ref _targets, rows * c);
            for (int r = 0; r < rows; r++) targets.AsSpan(subset[start + r] * c, c).CopyTo(_targets.AsSpan(r * c, c));
            Targets = _targets;
        }
        TargetOffset = 0;
    }

    static void Grow<T>(ref T[] buffer, int length)
    {
        if (buffer.Length < length) buffer = new T[length];
    }
}

using Curvature.Core;

namespace Curvature.Models;

/// <summary>Row selections of a <see cref="Dataset"/> (copies: the result owns its arrays).</summary>
public static class DatasetExtensions
{
    /// <summary>The examples at <paramref name="rows"/>, in that order (repeats allowed).</summary>
    public static Dataset Subset(this Dataset data, ReadOnlySpan<int> rows, string? name = null)
    {
        Guard.NotNull(data);
        int n = data.Count, d = data.Features;
        var x = new Matrix(rows.Length, d);
        int[]? labels = data.Labels is null ? null : new int[rows.Length];
        Matrix? targets = data.Targets is null ? null : new Matrix(rows.Length, data.Targets.Cols);
        for (int k = 0; k < rows.Length; k++)
        {
            int i = rows[k];
            if ((uint)i >= (uint)n)
                throw new ArgumentOutOfRangeException(nameof(rows), $"Argument 'rows' has {i} at index {k}; expected a row in [0, {n}).");
            data.X.Row(i).CopyTo(x.Row(k));
            if (labels is not null) labels[k] = data.Labels![i];
            if (targets is not null) data.Targets!.Row(i).CopyTo(targets.Row(k));
        }
        return new Dataset(x, labels, targets, data.Classes, name ?? $"{data.Name}[{rows.Length} rows]");
    }

    /// <summary>Rows [start, start + count).</summary>
    public static Dataset Slice(this Dataset data, int start, int count)
    {
        Guard.NotNull(data);
        if (start < 0 || count < 0 || start > data.Count - count)
            throw new ArgumentOutOfRangeException(nameof(count), $"Arguments 'start' = {start}, 'count' = {count}; expected 0 ≤ start and start + count ≤ {data.Count} (the dataset's size).");
        var rows = new int[count];
        for (int k = 0; k < count; k++) rows[k] = start + k;
        return data.Subset(rows, $"{data.Name}[{start}..{start + count}]");
    }

    /// <summary>The first <paramref name="n"/> rows.</summary>
    public static Dataset Take(this Dataset data, int n) => data.Slice(0, n);
}

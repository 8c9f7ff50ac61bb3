using System.Globalization;

namespace Curvature.Experiments;

/// <summary>One swept setting and the values it takes.</summary>
public sealed record GridAxis(string Name, IReadOnlyList<double> Values);

/// <summary>One point of a sweep: a value for every axis, in axis order.</summary>
public sealed record GridPoint(int Index, IReadOnlyList<string> Names, IReadOnlyList<double> Values)
{
    /// <summary>The point's value of the named setting.</summary>
    public double this[string name]
    {
        get
        {
            for (int i = 0; i < Names.Count; i++)
                if (Names[i] == name) return Values[i];
            throw new ArgumentException($"Argument 'name' was '{name}'; expected one of the swept settings: {string.Join(",", Names)}.", nameof(name));
        }
    }

    /// <summary>A directory-safe label such as "lr=0.1_k=10".</summary>
    public string Label => string.Join("_", Names.Select((n, i) => $"{n}={SweepGrid.Show(Values[i])}"));
}

/// <summary>
/// The cartesian product of comma-separated lists ("--lr 0.05,0.1 --k 5,10" is four runs),
/// expanded with the last axis varying fastest so related runs sit next to each other in
/// the table.
/// </summary>
public static class SweepGrid
{
    /// <summary>Shortest round-trip form of a number.</summary>
    public static string Show(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Parses "0.05,0.1,0.2". <paramref name="integer"/> demands whole numbers; <paramref name="min"/> is the smallest allowed value.</summary>
    public static GridAxis ParseAxis(string name, string list, bool integer, double min, bool minExclusive = false)
    {
        if (string.IsNullOrWhiteSpace(list))
            throw new ArgumentException($"Option '--{name}' was empty; expected a comma-separated list of numbers.", name);
        var values = new List<double>();
        foreach (var raw in list.Split(','))
        {
            string s = raw.Trim();
            if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
                throw new ArgumentException($"Option '--{name}' has '{s}'; expected a comma-separated list of finite numbers.", name);
            if (integer && v != Math.Floor(v))
                throw new ArgumentException($"Option '--{name}' has '{s}'; expected whole numbers.", name);
            if (minExclusive ? !(v > min) : !(v >= min))
                throw new ArgumentException($"Option '--{name}' has '{s}'; expected numbers {(minExclusive ? ">" : ">=")} {Show(min)}.", name);
            if (values.Contains(v))
                throw new ArgumentException($"Option '--{name}' lists '{s}' twice; expected distinct values.", name);
            values.Add(v);
        }
        return new GridAxis(name, values);
    }

    /// <summary>The cartesian product of the axes, last axis fastest.</summary>
    public static IReadOnlyList<GridPoint> Expand(IReadOnlyList<GridAxis> axes)
    {
        ArgumentNullException.ThrowIfNull(axes);
        var names = axes.Select(a => a.Name).ToArray();
        if (names.Distinct().Count() != names.Length)
            throw new ArgumentException($"Argument 'axes' repeats a name ({string.Join(",", names)}); expected distinct settings.", nameof(axes));
        long total = 1;
        foreach (var a in axes)
        {
            if (a.Values.Count == 0)
                throw new ArgumentException($"Axis '{a.Name}' has no values; expected at least one.", nameof(axes));
            total *= a.Values.Count;
        }
        if (total > 10_000)
            throw new ArgumentException($"The sweep grid has {total} points; expected at most 10000.", nameof(axes));
        var points = new List<GridPoint>((int)total);
        var digit = new int[axes.Count];
        for (int p = 0; p < total; p++)
        {
            var values = new double[axes.Count];
            for (int i = 0; i < axes.Count; i++) values[i] = axes[i].Values[digit[i]];
            points.Add(new GridPoint(p, names, values));
            for (int i = axes.Count - 1; i >= 0; i--)
            {
                if (++digit[i] < axes[i].Values.Count) break;
                digit[i] = 0;
            }
        }
        return points;
    }
}

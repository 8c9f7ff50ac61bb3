namespace Curvature.Experiments;

/// <summary>Mean and spread over seeds, for the tables (mean ± standard deviation) and the figures' bands.</summary>
public static class Stats
{
    /// <summary>
    /// Mean and sample standard deviation √(Σ(x − x̄)²/(n − 1)) of the finite values; (NaN, NaN)
    /// for none, (x, NaN) for one (a spread needs two values).
    /// </summary>
    public static (double Mean, double Std) MeanStd(IEnumerable<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var v = values.Where(double.IsFinite).ToList();
        if (v.Count == 0) return (double.NaN, double.NaN);
        double mean = v.Sum() / v.Count;
        if (v.Count == 1) return (mean, double.NaN);
        double ss = 0;
        foreach (var x in v) ss += (x - mean) * (x - mean);
        return (mean, Math.Sqrt(ss / (v.Count - 1)));
    }

    /// <summary>
    /// A band over curves measured at the same x (the seeds of one setting): for each x that every
    /// curve has with a finite y, the mean and mean ± one standard deviation. A curve that stops early
    /// (diverged) ends the band there, so the band never averages over fewer seeds than it shows.
    /// </summary>
    public static PlotSeries Band(string name, IReadOnlyList<(IReadOnlyList<double> X, IReadOnlyList<double> Y)> curves)
    {
        ArgumentNullException.ThrowIfNull(curves);
        var xs = new List<double>();
        var mean = new List<double>();
        var lo = new List<double>();
        var hi = new List<double>();
        if (curves.Count > 0)
        {
            var first = curves[0];
            for (int i = 0; i < first.X.Count; i++)
            {
                double x = first.X[i];
                var ys = new List<double>(curves.Count);
                foreach (var c in curves)
                {
                    int j = i < c.X.Count && c.X[i] == x ? i : -1;
                    if (j < 0 || !double.IsFinite(c.Y[j])) break;
                    ys.Add(c.Y[j]);
                }
                if (ys.Count < curves.Count) break;
                var (m, s) = MeanStd(ys);
                if (!double.IsFinite(s)) s = 0;
                xs.Add(x); mean.Add(m); lo.Add(m - s); hi.Add(m + s);
            }
        }
        return new PlotSeries(name, xs, mean) { Lower = lo, Upper = hi };
    }
}

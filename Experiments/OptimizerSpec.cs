using System.Globalization;
using Curvature.Core;
using Curvature.Optimizers;

namespace Curvature.Experiments;

/// <summary>
/// One entry of `--optimizers`: sgd, dom, bulk, or interp:A_DOM:A_BULK (the step
/// −η(α_dom·P_dom u + α_bulk·P_bulk u) of the run's base rule), or adam, dom-adam, bulk-adam
/// (the same projections of Adam's update). <paramref name="Update"/> is the base rule the entry
/// sets (adam), or null to keep the run's own (<c>--update</c>, <c>--momentum</c>). The entry
/// edits <see cref="StepOptions"/> directly (<see cref="Apply(StepOptions)"/>).
/// </summary>
public sealed record OptimizerSpec(OptimizerKind Optimizer, double? AlphaDom, double? AlphaBulk, UpdateRule? Update = null)
{
    /// <summary>The accepted forms, for messages.</summary>
    public const string Forms = "sgd, dom, bulk, interp:A_DOM:A_BULK, adam, dom-adam, bulk-adam";

    /// <summary>Whether the entry runs Adam whatever the run's <c>--update</c>.</summary>
    public bool IsAdam => Update == UpdateRule.Adam;

    /// <summary>(α_dom, α_bulk) of the rule: <see cref="StepOptions.Alphas"/>, the one table.</summary>
    public (double Dom, double Bulk) Alphas => Apply(new StepOptions()).Alphas;

    bool IsInterp => Optimizer == OptimizerKind.Interp;

    /// <summary>Name in tables and legends, e.g. "interp(0.2,2)".</summary>
    public string Label => IsInterp ? $"interp({Show(AlphaDom!.Value)},{Show(AlphaBulk!.Value)})" : AdamName ?? CliNames.Name(Optimizer);

    /// <summary>Name of the run's directory, e.g. "interp_0.2_2".</summary>
    public string DirectoryName => IsInterp ? $"interp_{Show(AlphaDom!.Value)}_{Show(AlphaBulk!.Value)}" : AdamName ?? CliNames.Name(Optimizer);

    /// <summary>The entry as written on the command line, e.g. interp:0.2:2.</summary>
    public string Text => IsInterp ? $"interp:{Show(AlphaDom!.Value)}:{Show(AlphaBulk!.Value)}" : AdamName ?? CliNames.Name(Optimizer);

    /// <summary>adam, dom-adam or bulk-adam for an Adam entry; null otherwise.</summary>
    string? AdamName => !IsAdam ? null : Optimizer == OptimizerKind.Sgd ? "adam" : $"{CliNames.Name(Optimizer)}-adam";

    static string Show(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>
    /// The step with this entry's rule (kind and, for interp, the α's). An Adam entry also sets
    /// the Adam base rule and momentum 0 (Adam's first moment decays with β1).
    /// </summary>
    public StepOptions Apply(StepOptions step)
    {
        ArgumentNullException.ThrowIfNull(step);
        var applied = step with { Kind = Optimizer, AlphaDom = IsInterp ? AlphaDom!.Value : 1.0, AlphaBulk = IsInterp ? AlphaBulk!.Value : 1.0 };
        return IsAdam ? applied with { Update = UpdateRule.Adam, Momentum = 0 } : applied;
    }

    /// <summary>
    /// The run with this entry's rule (<see cref="Apply(StepOptions)"/> on the run's fields), so
    /// one list can hold momentum entries (via the run's <c>--momentum</c>) and Adam entries.
    /// </summary>
    public RunSpec Apply(RunSpec run)
    {
        ArgumentNullException.ThrowIfNull(run);
        var applied = run with { Optimizer = Optimizer, AlphaDom = IsInterp ? AlphaDom : null, AlphaBulk = IsInterp ? AlphaBulk : null };
        return IsAdam ? applied with { Update = UpdateRule.Adam, Momentum = 0 } : applied;
    }

    /// <summary>Parses one entry; throws naming <paramref name="option"/>.</summary>
    public static OptimizerSpec Parse(string text, string option = "optimizers")
    {
        string s = text.Trim().ToLowerInvariant();
        switch (s)
        {
            case "sgd" or "dom" or "bulk":
                return new OptimizerSpec(CliNames.Parse<OptimizerKind>(s, option), null, null);
            case "adam":
                return new OptimizerSpec(OptimizerKind.Sgd, null, null, UpdateRule.Adam);
            case "dom-adam" or "bulk-adam":
                return new OptimizerSpec(CliNames.Parse<OptimizerKind>(s[..^"-adam".Length], option), null, null, UpdateRule.Adam);
        }
        var parts = s.Split(':');
        if (parts[0] != "interp")
            throw new ArgumentException($"Option '--{option}' has '{text}'; expected one of {Forms}.", option);
        if (parts.Length != 3
            || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double a)
            || !double.TryParse(parts[2], NumberStyles.Float, CultureInfo.InvariantCulture, out double b)
            || !double.IsFinite(a) || !double.IsFinite(b))
            throw new ArgumentException($"Option '--{option}' has '{text}'; expected interp:A_DOM:A_BULK with two finite numbers, e.g. interp:0.2:2.", option);
        return new OptimizerSpec(OptimizerKind.Interp, a, b);
    }

    /// <summary>Parses a comma-separated list of distinct entries; throws naming <paramref name="option"/>.</summary>
    public static IReadOnlyList<OptimizerSpec> ParseList(string list, string option = "optimizers")
    {
        if (string.IsNullOrWhiteSpace(list))
            throw new ArgumentException($"Option '--{option}' was empty; expected a comma-separated list of {Forms}.", option);
        var specs = list.Split(',').Select(t => Parse(t, option)).ToList();
        var dup = specs.GroupBy(o => o.DirectoryName).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null)
            throw new ArgumentException($"Option '--{option}' lists '{dup.Key}' twice; expected distinct optimizers.", option);
        return specs;
    }
}

using Curvature.Models;

namespace Curvature.Cli.Experiments;

/// <summary>
/// The network, loss and data an experiment runs on, built from the shared options
/// (--arch --act --loss --data --test-data --threads), with errors that name the option.
/// </summary>
public sealed class Problem
{
    public required INetwork Model { get; init; }
    public required LossKind Loss { get; init; }
    public required Dataset Train { get; init; }
    public required Dataset? Test { get; init; }
    public required Objective TrainObjective { get; init; }
    public required Objective? TestObjective { get; init; }

    public int ParameterCount => Model.ParameterCount;

    public static Problem Load(string arch, string activation, string loss, string data, string? testData, int threads)
    {
        if (threads < 0)
            throw new ArgumentOutOfRangeException("threads", $"Option '--threads' was {threads}; expected 0 (all cores) or a positive count.");
        var act = Wrap("act", activation, () => ActivationNames.Parse(activation));
        var model = Wrap("arch", arch, () => Sequential.Parse(arch, act));
        var lossKind = Wrap("loss", loss, () => LossNames.Parse(loss));
        var train = DataSpec.Parse(data);
        var test = string.IsNullOrWhiteSpace(testData) ? null : DataSpec.Parse(testData);
        var options = threads > 0 ? new ObjectiveOptions { Threads = threads } : ObjectiveOptions.Default;
        return new Problem
        {
            Model = model,
            Loss = lossKind,
            Train = train,
            Test = test,
            TrainObjective = new Objective(model, lossKind, train, options),
            TestObjective = test is null ? null : new Objective(model, lossKind, test, options),
        };
    }

    /// <summary>Re-throws a parser's error with the CLI option's name in front when the message lacks it.</summary>
    static T Wrap<T>(string option, string value, Func<T> parse)
    {
        try
        {
            return parse();
        }
        catch (ArgumentException e) when (!e.Message.Contains("--" + option, StringComparison.Ordinal))
        {
            throw new ArgumentException($"Option '--{option}' was '{value}': {e.Message}", option, e);
        }
    }

    /// <summary>Checks k against the parameter count: a dominant subspace needs 1 ≤ k &lt; n.</summary>
    public void CheckK(int k, string option = "k")
    {
        if (k < 1 || k >= ParameterCount)
            throw new ArgumentOutOfRangeException(option, $"Option '--{option}' was {k}; expected an integer in [1, {ParameterCount - 1}] (below the {Model.Spec} network's {ParameterCount} parameters).");
    }

    /// <summary>The first <paramref name="m"/> examples of a seeded shuffle (sorted), or null for all.</summary>
    public int[]? CurvatureBatch(int? m, ulong seed)
    {
        int n = Train.Count;
        if (m is not int size || size >= n) return null;
        if (size < 1)
            throw new ArgumentOutOfRangeException("hessian-batch", $"Option '--hessian-batch' was {size}; expected an integer in [1, {n}].");
        var all = Enumerable.Range(0, n).ToArray();
        new Core.Rng(seed ^ 0x43555256415455UL).Shuffle(all.AsSpan());
        var batch = all[..size];
        Array.Sort(batch);
        return batch;
    }
}

namespace Curvature.Experiments;

/// <summary>What a long computation reports as it goes.</summary>
public interface IProgressSink
{
    /// <summary>
    /// <paramref name="done"/> of the command's total work units are finished; the current
    /// phase (a run name, a checkpoint) is at <paramref name="step"/> of <paramref name="steps"/>,
    /// with its latest loss and λ₁ (NaN when not measured yet).
    /// </summary>
    void Report(string phase, long done, long step, long steps, double loss, double lambda1);

    /// <summary>A line that should stay visible (a run finished, a file written).</summary>
    void Message(string text);
}

/// <summary>A sink that drops every report.</summary>
public sealed class NullProgress : IProgressSink
{
    /// <summary>The one instance.</summary>
    public static readonly NullProgress Instance = new();

    NullProgress() { }

    /// <inheritdoc />
    public void Report(string phase, long done, long step, long steps, double loss, double lambda1) { }

    /// <inheritdoc />
    public void Message(string text) { }
}

namespace Curvature.Cli;

/// <summary>
/// Declares, beside the option's description, that it changes only <see cref="What"/> ("speed"
/// or "printing"), never what a run computes or writes. The help states it from this
/// declaration, and the test that every listed option is read exempts exactly these.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class OnlyAffectsAttribute(string what) : Attribute
{
    /// <summary>What the option changes: "speed" or "printing".</summary>
    public string What { get; } = what;

    /// <summary>The sentence the help adds to the option's description.</summary>
    public string Sentence => $"Only {What}: what a run computes and writes does not depend on it.";
}

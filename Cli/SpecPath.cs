namespace Curvature.Cli;

/// <summary>
/// Where an option's value lives in the command's spec, as written to config.json (a dotted path
/// of snake_case fields, e.g. run.learning_rate). The help page shows the default from the
/// command's default spec at this path (<see cref="RunSettings.DefaultSpec"/>), so the help and
/// the run read one declaration; a test compares both with config.json.
/// </summary>
/// <param name="path">The dotted path.</param>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class SpecPathAttribute(string path) : Attribute
{
    /// <summary>The dotted path.</summary>
    public string Path { get; } = path;
}

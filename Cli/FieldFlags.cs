using System.Text.RegularExpressions;

namespace Curvature.Cli;

/// <summary>
/// The one table from the library's field names (an ArgumentException's ParamName, and the
/// "Field 'x'" its message starts with) to the CLI's flags. The library never needs to spell a
/// flag; the CLI rewrites its messages here before printing them.
/// </summary>
internal static partial class FieldFlags
{
    /// <summary>Fields whose flag is not "--" + the field name.</summary>
    static readonly Dictionary<string, string> Renamed = new(StringComparer.Ordinal)
    {
        ["activation"] = "--act",
        ["init"] = "--theta",
        ["operator"] = "--curvature",
        ["learning_rate"] = "--lr",
        ["warm_start"] = "--cold-start",
        ["save_theta"] = "--save-theta",
    };

    /// <summary>Every flag some command declares.</summary>
    static readonly HashSet<string> Known = CurvatureApp.Commands.SelectMany(c => c.AllOptions).SelectMany(o => o.Names).ToHashSet(StringComparer.Ordinal);

    /// <summary>The flag of <paramref name="field"/>: --act for activation, --theta for init, else --field.</summary>
    public static string Flag(string field) =>
        Renamed.TryGetValue(field, out var flag) ? flag : "--" + field.Replace('_', '-');

    /// <summary>
    /// The message with every "Field 'x'" naming the flag instead, and every "Option 'x'" or
    /// "Argument 'x'" whose x is a flag the CLI declares (the typed layer's own wording).
    /// </summary>
    public static string Rewrite(string message) => FieldPattern().Replace(message, m =>
    {
        string word = m.Groups[1].Value, field = m.Groups[2].Value, flag = Flag(field);
        bool isField = word is "Field" or "Fields" or "field";
        if (!isField && !Known.Contains(flag) && !Known.Contains("-" + field)) return m.Value;
        string shown = word switch { "Fields" => "Options", "field" => "option", _ => "Option" };
        return $"{shown} '{flag}'";
    });

    [GeneratedRegex(@"\b(Field|Fields|field|Option|Argument) '([a-z][a-z0-9_-]*)'")]
    private static partial Regex FieldPattern();
}

using System.Text.RegularExpressions;

namespace Curvature.Cli;

/// <summary>
/// The one table from the library's field names (an ArgumentException's ParamName, and the
/// "Field 'x'" its message starts with) to the CLI's flags. The library never spells a flag;
/// the CLI rewrites its messages here before printing them.
/// </summary>
internal static partial class FieldFlags
{
    /// <summary>Fields whose flag is not "--" + the field name.</summary>
    static readonly Dictionary<string, string> Renamed = new(StringComparer.Ordinal)
    {
        ["activation"] = "--act",
        ["init"] = "--theta",
        ["learning_rate"] = "--lr",
        ["learning-rate"] = "--lr",
        ["operator"] = "--curvature",
    };

    /// <summary>The flag of <paramref name="field"/>: --act for activation, -k for k, else --field.</summary>
    public static string Flag(string field) =>
        Renamed.TryGetValue(field, out var flag) ? flag : field.StartsWith('-') ? field : "--" + field.Replace('_', '-');

    /// <summary>The message with every "Field 'x'" / "Option 'x'" / "Fields 'x'" naming the flag instead.</summary>
    public static string Rewrite(string message) =>
        FieldPattern().Replace(message, m => $"{Word(m.Groups[1].Value)} '{Flag(m.Groups[2].Value)}'");

    static string Word(string w) => w switch { "Fields" or "Options" => "Options", "field" or "option" => "option", _ => "Option" };

    [GeneratedRegex(@"\b(Field|Fields|Option|Options|field|option) '([a-z][a-z0-9_-]*)'")]
    private static partial Regex FieldPattern();
}

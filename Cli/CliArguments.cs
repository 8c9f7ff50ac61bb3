using System.Globalization;

namespace Curvature.Cli;

/// <summary>
/// Checks the command line against the command's declared options before the parser sees
/// it, in one place for every command: an option that needs a value and has none (last on
/// the line, or followed by another option), a value the option's type cannot hold, and an
/// empty path. The parser itself would take `__default_command` as the missing value and
/// report conversion failures without the option's name.
/// </summary>
internal static class CliArguments
{
    /// <summary>Throws an ArgumentException naming the first option whose value is missing, empty or of the wrong type.</summary>
    public static void Check(IReadOnlyList<string> args, IReadOnlyList<CommandEntry> commands)
    {
        var entry = commands.FirstOrDefault(c => c.Path.Length <= args.Count && c.Path.Select((w, i) => args[i] == w).All(x => x));
        if (entry is null) return;                       // unknown command or help: the parser answers
        var options = entry.AllOptions;
        var byName = new Dictionary<string, OptionInfo>(StringComparer.Ordinal);
        foreach (var o in options) foreach (var n in o.Names) byName[n] = o;
        string command = "curvature " + string.Join(" ", entry.Path);
        bool IsOptionName(string a) => a is "-h" or "--help" or "-?" || byName.ContainsKey(a.Split('=')[0]);
        for (int i = entry.Path.Length; i < args.Count; i++)
        {
            string a = args[i];
            if (a is "-h" or "--help" or "-?") return;     // help wins over everything else
            if (!a.StartsWith('-')) continue;
            int eq = a.IndexOf('=');
            string name = eq < 0 ? a : a[..eq];
            if (!byName.TryGetValue(name, out var option)) continue;
            if (option.Names.Any(entry.Unread.Contains))
                throw new ArgumentException($"Option '{name}' is not read by `{command}`; expected only the options `{command} --help` lists.", name.TrimStart('-'));
            if (!option.TakesValue) continue;
            string value;
            if (eq >= 0) value = a[(eq + 1)..];
            else if (i + 1 < args.Count && !IsOptionName(args[i + 1])) value = args[++i];
            else if (option.ValueIsOptional) continue;
            else throw new ArgumentException($"Option '{name}' needs a value; expected {option.ValueName ?? "a value"} after it.", name.TrimStart('-'));
            CheckValue(name, value, option);
        }
    }

    /// <summary>The value must convert to the option's type (the parser's own message names no option).</summary>
    static void CheckValue(string name, string value, OptionInfo option)
    {
        var type = Nullable.GetUnderlyingType(option.Property.PropertyType) ?? option.Property.PropertyType;
        var c = CultureInfo.InvariantCulture;
        string? expected = null;
        if (type == typeof(int) && !int.TryParse(value, NumberStyles.Integer, c, out _))
            expected = long.TryParse(value, NumberStyles.Integer, c, out _) ? $"an integer in [{int.MinValue}, {int.MaxValue}]" : "an integer";
        else if (type == typeof(long) && !long.TryParse(value, NumberStyles.Integer, c, out _)) expected = "an integer";
        else if (type == typeof(ulong) && !ulong.TryParse(value, NumberStyles.None, c, out _)) expected = "a non-negative integer";
        else if (type == typeof(double) && !double.TryParse(value, NumberStyles.Float, c, out _)) expected = "a number";
        else if (type.IsEnum && !Enum.TryParse(type, value, ignoreCase: true, out _))
            expected = "one of " + string.Join(", ", Enum.GetNames(type).Select(n => n.ToLowerInvariant()));
        else if (type == typeof(string) && value.Length == 0 && IsPath(option))
            throw new ArgumentException($"Option '{name}' was empty; expected a path.", name.TrimStart('-'));
        if (expected is not null)
            throw new ArgumentException($"Option '{name}' was '{value}'; expected {expected}.", name.TrimStart('-'));
    }

    static bool IsPath(OptionInfo option) =>
        option.ValueName is { } v && (v.Contains("DIR", StringComparison.Ordinal) || v.Contains("FILE", StringComparison.Ordinal)
            || v.Contains("PATH", StringComparison.Ordinal) || v.Contains("NPY", StringComparison.Ordinal) || v.Contains("CHECKPOINT", StringComparison.Ordinal));
}

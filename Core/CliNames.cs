using System.Reflection;

namespace Curvature.Core;

/// <summary>
/// The command-line spelling of an enum member (<c>--optimizer bulk</c>, <c>--curvature h</c>),
/// with the other spellings accepted on input. The same name is what every JSON file records
/// (<see cref="RunJson"/>), so config.json says "bulk" and "h" and an alias is stored by its
/// canonical name.
/// </summary>
/// <param name="name">The canonical spelling.</param>
/// <param name="aliases">Other spellings accepted on input (case-insensitive).</param>
[AttributeUsage(AttributeTargets.Field)]
public sealed class CliNameAttribute(string name, params string[] aliases) : Attribute
{
    /// <summary>The canonical spelling.</summary>
    public string Name { get; } = name;

    /// <summary>Other accepted spellings.</summary>
    public IReadOnlyList<string> Aliases { get; } = aliases;

    /// <summary>What the name means, shown after it in messages ("h (Hessian)"); null shows the name alone.</summary>
    public string? Meaning { get; init; }
}

/// <summary>Parsing and naming of enums by their <see cref="CliNameAttribute"/> (or, without one, the member name in kebab case).</summary>
public static class CliNames
{
    /// <summary>The canonical name of <paramref name="value"/>.</summary>
    public static string Name<T>(T value) where T : struct, Enum => Table<T>.Names.TryGetValue(value, out var n)
        ? n
        : throw new ArgumentOutOfRangeException(nameof(value), $"Argument 'value' was {value}; expected one of {Expected<T>()}.");

    /// <summary>The canonical name of a value of any enum type.</summary>
    public static string Name(Enum value)
    {
        Guard.NotNull(value);
        var field = value.GetType().GetField(value.ToString(), BindingFlags.Public | BindingFlags.Static);
        return field?.GetCustomAttribute<CliNameAttribute>()?.Name ?? Kebab(value.ToString());
    }

    /// <summary>The accepted canonical names, for messages: "a, b or c".</summary>
    public static string Expected<T>() where T : struct, Enum => Table<T>.Expected;

    /// <summary>The canonical names in declaration order.</summary>
    public static IReadOnlyList<string> All<T>() where T : struct, Enum => Table<T>.Ordered;

    /// <summary>Parses a canonical name or alias (case-insensitive, trimmed).</summary>
    public static bool TryParse<T>(string? text, out T value) where T : struct, Enum =>
        Table<T>.Parse.TryGetValue(text?.Trim() ?? "", out value);

    /// <summary>Parses like <see cref="TryParse{T}"/>; an unknown name throws naming <paramref name="field"/>, the value and the accepted names.</summary>
    public static T Parse<T>(string? text, string field) where T : struct, Enum =>
        TryParse<T>(text, out var v) ? v : throw new ArgumentException($"Field '{field}' was '{text}'; expected {Expected<T>()}.", field);

    /// <summary>Parses a name of any enum type; null when it is not one.</summary>
    public static object? TryParse(Type enumType, string? text)
    {
        Guard.NotNull(enumType);
        string t = text?.Trim() ?? "";
        foreach (var f in enumType.GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            var a = f.GetCustomAttribute<CliNameAttribute>();
            var names = a is null ? [Kebab(f.Name), f.Name] : a.Aliases.Prepend(a.Name).Append(f.Name);
            if (names.Any(n => string.Equals(n, t, StringComparison.OrdinalIgnoreCase)
                || string.Equals(n.Replace('-', '_'), t, StringComparison.OrdinalIgnoreCase)))
                return f.GetValue(null);
        }
        return null;
    }

    /// <summary>PascalCase as kebab-case: BlockLanczos → block-lanczos.</summary>
    static string Kebab(string name) => string.Concat(name.Select((c, i) => char.IsUpper(c) && i > 0 ? "-" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));

    static class Table<T> where T : struct, Enum
    {
        public static readonly Dictionary<T, string> Names = Enum.GetValues<T>().ToDictionary(v => v, v => Name((Enum)(object)v));
        public static readonly IReadOnlyList<string> Ordered = Enum.GetValues<T>().Select(v => Names[v]).ToList();
        static readonly List<string> Shown = Enum.GetValues<T>().Select(v => typeof(T).GetField(v.ToString())!.GetCustomAttribute<CliNameAttribute>()?.Meaning is { } m ? $"{Names[v]} ({m})" : Names[v]).ToList();
        public static readonly string Expected = Shown.Count == 1 ? Shown[0] : string.Join(", ", Shown.Take(Shown.Count - 1)) + " or " + Shown[^1];
        public static readonly Dictionary<string, T> Parse = Build();

        static Dictionary<string, T> Build()
        {
            var d = new Dictionary<string, T>(StringComparer.OrdinalIgnoreCase);
            foreach (var v in Enum.GetValues<T>())
            {
                var f = typeof(T).GetField(v.ToString(), BindingFlags.Public | BindingFlags.Static)!;
                var a = f.GetCustomAttribute<CliNameAttribute>();
                d[Names[v]] = v;
                if (a is not null) foreach (var alias in a.Aliases) d[alias] = v;
            }
            return d;
        }
    }
}

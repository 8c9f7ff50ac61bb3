using System.Collections;
using System.Globalization;
using System.Text;
using Spectre.Console;
using Spectre.Console.Cli.Help;
using Spectre.Console.Rendering;

namespace Curvature.Cli;

/// <summary>
/// The help pages, as plain text: descriptions are never read as markup (a description may
/// hold `[0, 1)`), and every option line shows its default — from the description when it
/// states one, else from the settings class's initial value — or says it has none.
/// </summary>
internal sealed class PlainHelp(IReadOnlyList<CommandEntry> commands) : IHelpProvider
{
    /// <summary>The help page of <paramref name="command"/>, or the command list without one.</summary>
    /// <remarks>Written straight to stdout, one line per option: a renderable would be wrapped at the console width.</remarks>
    public IEnumerable<IRenderable> Write(ICommandModel model, ICommandInfo? command)
    {
        Console.Out.Write(Page(command));
        Console.Out.Flush();
        return [];
    }

    string Page(ICommandInfo? command)
    {
        var path = new List<string>();
        for (var c = command; c is not null; c = c.Parent) path.Insert(0, c.Name);
        var sb = new StringBuilder();
        var entry = commands.FirstOrDefault(e => e.Path.SequenceEqual(path));
        if (entry is null)
        {
            // The application or a branch (`bench`): the commands under it.
            var under = commands.Where(e => e.Path.Length > path.Count && e.Path.Take(path.Count).SequenceEqual(path)).ToList();
            sb.Append("USAGE:\n    curvature ").Append(string.Concat(path.Select(p => p + " "))).Append("<COMMAND> [OPTIONS]\n\nCOMMANDS:\n");
            var rows = under.Select(e => (string.Join(" ", e.Path.Skip(path.Count)), e.Description)).ToList();
            int w = rows.Max(r => r.Item1.Length);
            foreach (var (name, description) in rows) sb.Append("    ").Append(name.PadRight(w + 4)).Append(description).Append('\n');
            sb.Append("\nRun `curvature ").Append(string.Concat(path.Select(p => p + " "))).Append("<COMMAND> --help` for a command's options.\n");
            return sb.ToString();
        }
        sb.Append("DESCRIPTION:\n    ").Append(entry.Description).Append("\n\nUSAGE:\n    curvature ").Append(string.Join(" ", entry.Path)).Append(" [OPTIONS]\n\nOPTIONS:\n");
        object? fresh = null;
        try { fresh = Activator.CreateInstance(entry.Settings); }
        catch (MissingMethodException) { }
        var lines = new List<(string Left, string Right)> { ("-h, --help", "Prints help information.") };
        // Old spellings still parse but are not advertised.
        foreach (var o in entry.Options.Where(o => !o.IsHidden))
        {
            string left = string.Join(", ", o.Names.OrderBy(n => n.StartsWith("--", StringComparison.Ordinal) ? 1 : 0)) + (o.ValueName is null ? "" : $" <{o.ValueName}>");
            lines.Add((left, Describe(o, fresh)));
        }
        int width = lines.Max(l => l.Left.Length);
        foreach (var (left, right) in lines) sb.Append("    ").Append(left.PadRight(width + 4)).Append(right).Append('\n');
        return sb.ToString();
    }

    /// <summary>
    /// The description with its default: stated in it; else read from the command's default spec
    /// at the option's <see cref="SpecPathAttribute"/> (the value a run records in config.json);
    /// else the settings' initial value; or "no default".
    /// </summary>
    public static string Describe(OptionInfo o, object? fresh)
    {
        string d = (o.Description ?? "").Trim();
        if (o.OnlyAffects is { } only) d = (d.Length == 0 ? "" : d + " ") + only.Sentence;
        if (!o.TakesValue || d.Contains("default", StringComparison.OrdinalIgnoreCase)) return d;
        if (fresh is RunSettings settings && settings.DefaultAt(o) is { } fromSpec)
            return (d.Length == 0 ? "" : d.TrimEnd('.') + " ") + $"(default {fromSpec}).";
        object? value = fresh is null ? null : o.Property.GetValue(fresh);
        string? shown = value switch
        {
            null => null,
            string s when s.Length == 0 => null,
            string s => s,
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            IEnumerable e => string.Join(",", e.Cast<object>()),
            _ => value.ToString(),
        };
        return (d.Length == 0 ? "" : d + " ") + (shown is null ? "(no default)" : $"(default {shown})");
    }
}

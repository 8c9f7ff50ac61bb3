using System.Globalization;
using System.Text;
using Curvature.Core;

namespace Curvature.Experiments;

/// <summary>
/// Builds report.md: a title, free text, tables, and figures. Figures are collected as
/// they are added and listed in a table of figures right under the title, each linking to
/// its section, so a reader sees at once what the run produced.
/// </summary>
public sealed partial class ReportWriter
{
    readonly string _title;
    readonly StringBuilder _body = new();
    readonly List<(int Number, string File, string Caption, string Anchor)> _figures = new();

    /// <summary>A report titled <paramref name="title"/>.</summary>
    public ReportWriter(string title)
    {
        _title = title;
    }

    /// <summary>The PNG files referenced so far, in order.</summary>
    public IReadOnlyList<string> FigureFiles => _figures.Select(f => f.File).ToArray();

    /// <summary>Adds a heading.</summary>
    public ReportWriter Heading(string text, int level = 2)
    {
        _body.Append('\n').Append(new string('#', Math.Clamp(level, 2, 6))).Append(' ').Append(text).Append("\n\n");
        return this;
    }

    /// <summary>Adds a paragraph.</summary>
    public ReportWriter Paragraph(string text)
    {
        _body.Append(text.Trim()).Append("\n\n");
        return this;
    }

    /// <summary>Adds a bulleted list.</summary>
    public ReportWriter Bullets(IEnumerable<string> items)
    {
        foreach (var item in items) _body.Append("- ").Append(item).Append('\n');
        _body.Append('\n');
        return this;
    }

    /// <summary>Adds a code block.</summary>
    public ReportWriter Code(string text, string language = "bash")
    {
        _body.Append("```").Append(language).Append('\n').Append(text.TrimEnd()).Append("\n```\n\n");
        return this;
    }

    /// <summary>A Markdown table; cells are escaped so a '|' in a value cannot break it.</summary>
    public ReportWriter Table(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows)
    {
        _body.Append("| ").Append(string.Join(" | ", header.Select(Escape))).Append(" |\n");
        _body.Append('|').Append(string.Concat(header.Select(_ => "---|"))).Append('\n');
        foreach (var row in rows)
        {
            if (row.Count != header.Count)
                throw new ArgumentException($"Argument 'rows' has a row of {row.Count} cells; expected {header.Count} (one per header column).", nameof(rows));
            _body.Append("| ").Append(string.Join(" | ", row.Select(Escape))).Append(" |\n");
        }
        _body.Append('\n');
        return this;
    }

    /// <summary>Embeds a PNG (path relative to the report) with a numbered caption.</summary>
    public ReportWriter Figure(string relativeFile, string caption)
    {
        int number = _figures.Count + 1;
        string anchor = $"figure-{number}";
        _figures.Add((number, relativeFile, caption, anchor));
        _body.Append($"<a id=\"{anchor}\"></a>\n\n");
        _body.Append($"![Figure {number}]({relativeFile.Replace('\\', '/')})\n\n");
        _body.Append($"*Figure {number}.* {caption}\n\n");
        return this;
    }

    /// <summary>The report as Markdown.</summary>
    public string Render()
    {
        var sb = new StringBuilder();
        sb.Append("# ").Append(_title).Append("\n\n");
        if (_figures.Count > 0)
        {
            sb.Append("| figure | file | shows |\n|---|---|---|\n");
            foreach (var f in _figures)
                sb.Append($"| [{f.Number}](#{f.Anchor}) | `{f.File.Replace('\\', '/')}` | {Escape(f.Caption)} |\n");
            sb.Append('\n');
        }
        sb.Append(_body);
        return sb.ToString().TrimEnd() + "\n";
    }

    /// <summary>
    /// Writes the Markdown atomically, with every absolute path of an existing file or
    /// directory rewritten relative to the report's directory (<see cref="WithRelativePaths"/>),
    /// so a report reads the same on another machine and its links work when the run
    /// directory is moved.
    /// </summary>
    public void Save(string path) =>
        AtomicFile.WriteAllText(path, WithRelativePaths(Render(), Path.GetDirectoryName(Path.GetFullPath(path)) ?? "."));

    /// <summary>
    /// <paramref name="text"/> with each rooted path that names an existing file or directory
    /// (a θ file, a config.json, a run directory) replaced by its path relative to
    /// <paramref name="directory"/>, with '/' separators. Tokens that name nothing on disk
    /// (e.g. "/η" in a formula) are left alone.
    /// </summary>
    public static string WithRelativePaths(string text, string directory)
    {
        ArgumentNullException.ThrowIfNull(text);
        string root = Path.GetFullPath(directory);
        return RootedPath().Replace(text, m =>
        {
            string token = m.Value.TrimEnd('.', ':');
            if (!Path.IsPathFullyQualified(token) || !(File.Exists(token) || Directory.Exists(token))) return m.Value;
            string relative = Path.GetRelativePath(root, token).Replace('\\', '/');
            return relative + m.Value[token.Length..];
        });
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"(?<![\w.~/])(?:/|[A-Za-z]:[\\/])[^\s`'""|()\[\]<>,;*]+")]
    private static partial System.Text.RegularExpressions.Regex RootedPath();

    static string Escape(string s) => s.Replace("|", "\\|").ReplaceLineEndings(" ");

    /// <summary>Numbers in reports: 4 significant digits, scientific when tiny or huge, "—" for NaN.</summary>
    public static string Num(double v)
    {
        if (double.IsNaN(v)) return "—";
        if (double.IsPositiveInfinity(v)) return "∞";
        if (double.IsNegativeInfinity(v)) return "−∞";
        if (v == 0) return "0";
        double a = Math.Abs(v);
        return a is >= 1e-3 and < 1e5
            ? v.ToString("G4", CultureInfo.InvariantCulture)
            : v.ToString("0.###e+0", CultureInfo.InvariantCulture);
    }
}

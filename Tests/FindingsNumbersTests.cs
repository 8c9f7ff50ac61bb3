using System.Globalization;
using System.Text.RegularExpressions;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>
/// "Every number generated": each number quoted in docs/findings.md must appear in a committed table
/// under docs/findings/. The rules (what is a number, what is a table, what matches, what is exempt)
/// are stated in docs/findings.md, "How the numbers are checked", and implemented by
/// <see cref="FindingsNumbers"/>; the synthetic cases below pin each rule so the check itself can fail.
/// </summary>
public class FindingsNumbersTests
{
    static string Root => CliProcess.RepoRoot;

    [Test]
    public void Every_number_in_findings_md_appears_in_a_committed_table_under_docs_findings()
    {
        string dir = Path.Combine(Root, "docs", "findings");
        var tables = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".md", StringComparison.Ordinal) || f.EndsWith(".csv", StringComparison.Ordinal))
            .Select(f => (f, File.ReadAllText(f))).ToList();
        tables.Should().NotBeEmpty("docs/findings/ holds the committed tables");
        var values = FindingsNumbers.TableValues(tables);
        var missing = FindingsNumbers.Unmatched(File.ReadAllText(Path.Combine(Root, "docs", "findings.md")), values);
        string.Join("; ", missing).Should().BeEmpty("every number in docs/findings.md must be in a table under docs/findings/ (line: number)");
    }

    static IReadOnlyList<string> Check(string prose, string table) =>
        FindingsNumbers.Unmatched(prose, FindingsNumbers.TableValues([("t.md", table)])).Select(m => m.Split(": ")[1]).ToList();

    [Test]
    public void A_quoted_number_matches_a_table_value_rounded_to_the_quoted_digits_and_no_other()
    {
        const string table = "| a | b |\n|---|---|\n| 0.1992 ± 0.003756 | 397.4 |\n";
        Check("SGD ends at 0.1992 ± 0.0038, λ₁ 397.", table).Should().BeEmpty();
        Check("SGD ends at 0.199 and 0.20.", table).Should().BeEmpty();
        Check("SGD ends at 0.1993 ± 0.0037; λ₁ 383.", table).Should().Equal("0.1993", "0.0037", "383");
    }

    [Test]
    public void A_percentage_matches_a_table_fraction_times_one_hundred()
    {
        const string table = "| share |\n|---|\n| 0.6516 |\n| 0.7365 |\n";
        Check("65–74 % of the energy", table).Should().BeEmpty();
        Check("68–74 % of the energy", table).Should().Equal("68");
        Check("65 of them", table).Should().Equal("65");
    }

    [Test]
    public void Only_table_rows_of_md_files_count_not_their_prose()
    {
        const string table = "A run diverges above 100× the initial loss (0.5476).\n\n| x |\n|---|\n| 0.1 |\n";
        Check("it starts at 0.5476", table).Should().Equal("0.5476");
    }

    [Test]
    public void Code_link_targets_years_and_run_parameters_are_exempt_and_nothing_else()
    {
        const string table = "| x |\n|---|\n| 1 |\n";
        Check("`--lr 0.37` [a](b/c0.91.png) Song (ICLR 2025) and (2018, x) at η = 0.37, k = 17 for 2,000 steps, 7 seeds", table)
            .Should().BeEmpty();
        Check("```bash\ncurvature --lr 0.37\n```\nλ₁ = 0.37 at step 17", table).Should().Equal("0.37", "17");
        Check("`784-200-200-10` 784-200-200-10 mnist:5000 c8k4s2", table).Should().BeEmpty("identifiers are not quantities");
    }

    [Test]
    public void Thousands_separators_and_exponents_are_read_as_one_number()
    {
        const string table = "| x | y |\n|---|---|\n| 1.853E+04 | 20000 |\n";
        Check("it reached 1.853E+04 (18,530) after 20,000 of them", table).Should().BeEmpty();
        Check("it reached 18,531", table).Should().Equal("18,531");
    }
}

/// <summary>The number check of docs/findings.md; rules in docs/findings.md, "How the numbers are checked".</summary>
static class FindingsNumbers
{
    // A quoted number: digits (with optional thousands commas), an optional fraction and exponent,
    // not glued to a letter, digit, '_', '.', ':' or an ASCII hyphen (identifiers such as
    // 784-200-200-10, mnist:5000, c8k4s2, λ₁₀ are names, not quantities).
    static readonly Regex Quoted = new(
        @"(?<![\p{L}\p{N}_.:\-])([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?(?![\p{L}\p{N}_]|\.[0-9]|-[0-9])(\s?%|(?=\s?–\s?[0-9][0-9.,]*\s?%))?",
        RegexOptions.Compiled);

    static readonly Regex TableNumber = new(@"(?<![\p{L}0-9.])[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?", RegexOptions.Compiled);

    // Exempt spans: fenced code, code spans, link and image targets, a year after "(" or "(ICLR ",
    // and run parameters — a value list after "η|k|T|m|τ|μ|α_dom|α_bulk|batch =" or "∈ {…}",
    // or an integer directly before "steps" or "seeds".
    static readonly Regex[] Exempt =
    [
        new(@"```.*?```", RegexOptions.Singleline | RegexOptions.Compiled),
        new(@"`[^`\n]*`", RegexOptions.Compiled),
        new(@"\]\([^)\s]*\)", RegexOptions.Compiled),
        new(@"\((?:ICLR )?(?:19|20)[0-9]{2}\b", RegexOptions.Compiled),
        new(@"(?<![\p{L}_])(?:η|k|T|m|τ|μ|α_dom|α_bulk|batch)\s*(?:=|∈)\s*\{?[0-9][0-9.,]*(?:(?:, | / |\s?–\s?)[0-9][0-9.,]*)*\}?", RegexOptions.Compiled),
        new(@"(?<![\p{L}\p{N}_.:\-])[0-9]{1,3}(?:,[0-9]{3})*(?=\s(?:steps|seeds)\b)|(?<![\p{L}\p{N}_.:\-])[0-9]+(?=\s(?:steps|seeds)\b)", RegexOptions.Compiled),
    ];

    /// <summary>Every number of the table rows of .md files (lines starting with '|') and every field of .csv files.</summary>
    public static IReadOnlyList<decimal> TableValues(IEnumerable<(string Path, string Text)> files)
    {
        var values = new List<decimal>();
        foreach (var (path, text) in files)
        {
            bool csv = path.EndsWith(".csv", StringComparison.Ordinal);
            foreach (var line in text.Split('\n'))
            {
                if (!csv && !line.TrimStart().StartsWith('|')) continue;
                foreach (Match m in TableNumber.Matches(line))
                    if (double.TryParse(m.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && Math.Abs(v) < 1e20)
                        values.Add((decimal)v);
            }
        }
        return values;
    }

    /// <summary>"line: number" for each quoted number of <paramref name="prose"/> that no table value matches.</summary>
    public static IReadOnlyList<string> Unmatched(string prose, IReadOnlyList<decimal> table)
    {
        foreach (var rule in Exempt)
            prose = rule.Replace(prose, m => new string(m.Value.Select(c => c == '\n' ? '\n' : ' ').ToArray()));
        var missing = new List<string>();
        foreach (Match m in Quoted.Matches(prose))
        {
            int digits = m.Groups[2].Success ? m.Groups[2].Value.Length : 0;
            decimal x = decimal.Parse(m.Groups[1].Value.Replace(",", "") + (digits > 0 ? "." + m.Groups[2].Value : ""), CultureInfo.InvariantCulture);
            bool ok;
            if (m.Groups[3].Success)
            {
                // An exponent form is quoted as the table prints it: equal values.
                decimal e = (decimal)Math.Pow(10, int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture));
                ok = table.Contains(x * e);
            }
            else
            {
                // A percentage (or the first end of a percentage range "a–b %") is a fraction × 100.
                ok = m.Groups[4].Success ? table.Any(v => Rounds(v * 100m, digits, x)) : table.Any(v => Rounds(v, digits, x));
            }
            if (!ok)
            {
                int line = prose[..m.Index].Count(c => c == '\n') + 1;
                missing.Add($"{line}: {m.Value.Trim()}");
            }
        }
        return missing;
    }

    // A quote with d digits after the point matches v when v rounds to it (either rounding of a tie).
    static bool Rounds(decimal v, int digits, decimal x) =>
        Math.Round(v, digits, MidpointRounding.AwayFromZero) == x || Math.Round(v, digits, MidpointRounding.ToEven) == x;
}

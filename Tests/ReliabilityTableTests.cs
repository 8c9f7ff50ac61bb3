using System.Text;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>
/// The bad-input table: every case of Tests/Data/reliability-cases.tsv runs the built CLI and
/// must give exit 0 ("ok") or a non-zero exit with exactly one stderr line matching the pattern.
/// docs/reliability.md embeds the same table; a test checks it is the rendering of the file, so
/// the doc cannot drift (CURVATURE_WRITE_DOCS=1 rewrites it).
/// </summary>
[NonParallelizable]
public class ReliabilityTableTests
{
    static ReliabilityFixtures _files = null!;

    [OneTimeSetUp]
    public void CreateFiles() => _files = new ReliabilityFixtures();

    [OneTimeTearDown]
    public void DeleteFiles() => _files.Dispose();

    static string Root
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Curvature.sln"))) return d.FullName;
            throw new DirectoryNotFoundException("No Curvature.sln above the test binaries; expected to run inside the repository.");
        }
    }

    /// <summary>(command line, expectation) pairs of the case file.</summary>
    public static IEnumerable<(string Line, string Expect)> Cases() =>
        File.ReadAllLines(Path.Combine(Root, "Tests", "Data", "reliability-cases.tsv"))
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split('\t'))
            .Select(f => (f[0], f[1]));

    static IEnumerable<TestCaseData> CaseData() => Cases().Select((c, i) => new TestCaseData(c.Line, c.Expect).SetName($"Case {i + 1:D3}: curvature {c.Line}"));

    [TestCaseSource(nameof(CaseData))]
    public void Each_bad_input_gives_one_line_naming_the_option_and_each_good_one_exits_zero(string line, string expect)
    {
        string outputs = Path.Combine(_files.Dir, "o"), eig = Path.Combine(_files.Dir, "e");
        foreach (var d in new[] { outputs, eig }) if (Directory.Exists(d)) Directory.Delete(d, recursive: true);
        var (code, _, stderr) = CliProcess.Run(_files.Args(line), new Dictionary<string, string> { ["CURVATURE_BLAS"] = "libopenblas.so.0" });
        if (expect == "ok")
        {
            code.Should().Be(0, $"the input is valid; stderr was: {stderr}");
            return;
        }
        code.Should().NotBe(0);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Should().ContainSingle("an error is one line, never a stack trace");
        lines[0].Should().StartWith("error: ").And.Match(_files.Fill(expect));
        lines[0].Should().NotContain("__default_command").And.NotContain("(Parameter ").And.NotContain("Failed to convert");
    }

    [Test]
    public void The_table_has_at_least_one_hundred_cases() => Cases().Count().Should().BeGreaterThanOrEqualTo(100);

    const string Begin = "<!-- cases: generated from Tests/Data/reliability-cases.tsv by ReliabilityTableTests -->";
    const string End = "<!-- end of cases -->";

    /// <summary>The doc's table: one row per case, with the result the test above requires of it.</summary>
    static string Table()
    {
        var sb = new StringBuilder();
        sb.Append(Begin).Append('\n').Append("| # | command line | expected | result |\n|---|---|---|---|\n");
        int i = 0;
        foreach (var (line, expect) in Cases())
        {
            string e = expect == "ok" ? "exit 0" : "`" + expect.Replace("|", "\\|", StringComparison.Ordinal) + "`";
            sb.Append($"| {++i} | `curvature {line.Replace("|", "\\|", StringComparison.Ordinal)}` | {e} | pass |\n");
        }
        return sb.Append(End).ToString();
    }

    [Test]
    public void The_reliability_doc_embeds_exactly_the_case_table()
    {
        string path = Path.Combine(Root, "docs", "reliability.md");
        string doc = File.ReadAllText(path);
        int b = doc.IndexOf(Begin, StringComparison.Ordinal), e = doc.IndexOf(End, StringComparison.Ordinal);
        b.Should().BeGreaterThanOrEqualTo(0, "the doc marks where the generated table starts");
        e.Should().BeGreaterThan(b);
        string embedded = doc[b..(e + End.Length)];
        if (Environment.GetEnvironmentVariable("CURVATURE_WRITE_DOCS") == "1" && embedded != Table())
        {
            File.WriteAllText(path, doc[..b] + Table() + doc[(e + End.Length)..]);
            return;
        }
        embedded.Should().Be(Table(), "docs/reliability.md lists the cases the test runs (CURVATURE_WRITE_DOCS=1 regenerates it)");
    }
}

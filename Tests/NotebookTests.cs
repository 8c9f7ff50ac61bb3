using System.Diagnostics;
using System.Text.Json;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>The notebooks under notebooks/: committed executed, each with a figure or table and final checks; the headless runner fails on a failing cell.</summary>
public class NotebookTests
{
    static readonly string Root = CliProcess.RepoRoot;

    static string[] Notebooks() => Directory.GetFiles(Path.Combine(Root, "notebooks"), "*.ipynb").Order().ToArray();

    static IEnumerable<JsonElement> Cells(string file) =>
        JsonDocument.Parse(File.ReadAllText(file)).RootElement.GetProperty("cells").EnumerateArray().ToList();

    static string Text(JsonElement e) => e.ValueKind == JsonValueKind.Array ? string.Concat(e.EnumerateArray().Select(s => s.GetString())) : e.GetString() ?? "";

    [Test]
    public void There_are_five_lessons_each_executed_without_error_with_a_figure_or_table_and_ending_in_checks()
    {
        var files = Notebooks();
        files.Should().HaveCount(5);
        foreach (var file in files)
        {
            var cells = Cells(file).ToList();
            var code = cells.Where(c => c.GetProperty("cell_type").GetString() == "code").ToList();
            var outputs = code.SelectMany(c => c.GetProperty("outputs").EnumerateArray()).ToList();
            outputs.Should().NotContain(o => o.GetProperty("output_type").GetString() == "error", $"{Path.GetFileName(file)} is committed executed without errors");
            code.Should().OnlyContain(c => c.GetProperty("outputs").GetArrayLength() > 0 || !Text(c.GetProperty("source")).Contains("Show("),
                $"{Path.GetFileName(file)}: every cell that draws has its output committed");
            string html = string.Concat(outputs.Where(o => o.TryGetProperty("data", out _)).Select(o => o.GetProperty("data").TryGetProperty("text/html", out var h) ? Text(h) : ""));
            (html.Contains("data:image/png;base64,") || html.Contains("<table>")).Should().BeTrue($"{Path.GetFileName(file)} shows a figure or a table");
            Text(code[^1].GetProperty("source")).Should().Contain("Check(", $"{Path.GetFileName(file)} ends with assertions");
            Text(code[^1].GetProperty("outputs")[0].GetProperty("text")).Should().Contain("✓", $"{Path.GetFileName(file)}'s checks ran");
        }
    }

    static (int Code, string Output) RunNotebooks(params string[] files)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(Root, "scripts", "notebooks.sh"));
        foreach (var f in files) psi.ArgumentList.Add(f);
        using var process = Process.Start(psi)!;
        var err = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit(600_000).Should().BeTrue("the notebooks finish in 10 minutes");
        return (process.ExitCode, stdout + err.Result);
    }

    [Test]
    public void The_headless_runner_passes_a_notebook_and_exits_non_zero_on_a_deliberately_broken_copy()
    {
        // A copy in a folder laid out like the repository (notebooks/ beside Cli/), so its relative #r paths resolve.
        string dir = Directory.CreateTempSubdirectory("curvature-notebooks-").FullName;
        try
        {
            string nbDir = Path.Combine(dir, "notebooks");
            Directory.CreateDirectory(nbDir);
            Directory.CreateSymbolicLink(Path.Combine(dir, "Cli"), Path.Combine(Root, "Cli"));
            File.Copy(Path.Combine(Root, "notebooks", "Notebook.csx"), Path.Combine(nbDir, "Notebook.csx"));
            string source = File.ReadAllText(Path.Combine(Root, "notebooks", "01-reverse-mode.ipynb"));
            string intact = Path.Combine(nbDir, "intact.ipynb"), broken = Path.Combine(nbDir, "broken.ipynb");
            File.WriteAllText(intact, source);
            // The break: the tape's gradient is compared with the hand derivation to 0 instead of 1e-14.
            const string check = "Checks.RelativeError(gradient, byHand) < 1e-14";
            source.Should().Contain(check);
            File.WriteAllText(broken, source.Replace(check, "Checks.RelativeError(gradient, byHand) < 0"));

            var ok = RunNotebooks(intact);
            ok.Code.Should().Be(0, ok.Output);
            ok.Output.Should().Contain("intact.ipynb passed");

            var failed = RunNotebooks(broken);
            failed.Code.Should().NotBe(0, failed.Output);
            failed.Output.Should().Contain("broken.ipynb FAILED").And.Contain("Check failed: the tape's gradient equals the hand derivation");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}

using System.Diagnostics;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>
/// The CLI is a .NET tool: `dotnet pack Cli` makes Curvature.Cli.VERSION.nupkg, and
/// `dotnet tool install --tool-path DIR` from that folder alone (no other package source, so
/// it works offline) installs a `curvature` that runs. One pack and one install for the class.
/// </summary>
[NonParallelizable]
public class ToolPackageTests
{
    string _root = "";
    string _tool = "";
    string _packageVersion = "";

    static string RepoRoot => CliProcess.RepoRoot;

    // The configuration the tests were built with (the CLI beside them is built the same way).
    static string Configuration => Path.GetFileName(Path.GetDirectoryName(Path.GetDirectoryName(CliProcess.Dll)))!;

    [OneTimeSetUp]
    public void PackAndInstall()
    {
        _root = Directory.CreateTempSubdirectory("curvature-tool-").FullName;
        string feed = Path.Combine(_root, "feed");
        // The CLI is already built by the test project: pack without building again.
        Dotnet(RepoRoot, "pack", Path.Combine(RepoRoot, "Cli", "Curvature.Cli.csproj"), "-c", Configuration, "--no-build", "-o", feed, "-nologo");
        var package = Directory.GetFiles(feed, "Curvature.Cli.*.nupkg").Should().ContainSingle().Subject;
        _packageVersion = Path.GetFileNameWithoutExtension(package)["Curvature.Cli.".Length..];
        // A NuGet.config with only the local folder: the install must not need a remote source.
        string config = Path.Combine(_root, "nuget.config");
        File.WriteAllText(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        string tools = Path.Combine(_root, "tools");
        Dotnet(_root, "tool", "install", "--tool-path", tools, "--configfile", config, "Curvature.Cli", "--version", _packageVersion);
        _tool = Path.Combine(tools, OperatingSystem.IsWindows() ? "curvature.exe" : "curvature");
    }

    [OneTimeTearDown]
    public void Remove()
    {
        if (_root.Length > 0 && Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    static string Dotnet(string workingDirectory, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        p.ExitCode.Should().Be(0, $"dotnet {string.Join(" ", args)} failed:\n{output}\n{err.Result}");
        return output;
    }

    (int Code, string Stdout, string Stderr) Tool(params string[] args)
    {
        var psi = new ProcessStartInfo(_tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output, err.Result);
    }

    [Test]
    public void The_installed_tool_prints_the_package_version()
    {
        var (code, stdout, err) = Tool("--version");
        code.Should().Be(0, err);
        // The informational version is the package version, possibly followed by +commit.
        stdout.Trim().Should().Match(v => v == _packageVersion || v.StartsWith(_packageVersion + "+", StringComparison.Ordinal));
    }

    [Test]
    public void The_installed_tool_runs_info()
    {
        var (code, stdout, err) = Tool("info");
        code.Should().Be(0, err);
        stdout.Should().Contain("backend:").And.Contain("simd:");
    }
}

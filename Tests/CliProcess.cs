using System.Diagnostics;
using System.Reflection;

namespace Curvature.Tests;

/// <summary>
/// Runs the `curvature` tool as users meet it: a child process (`dotnet curvature.dll ARGS`),
/// its exit code, stdout and stderr. The test project builds the CLI but references no executable.
/// </summary>
public static class CliProcess
{
    /// <summary>Path of the built CLI (set by the test project's build).</summary>
    public static string Dll { get; } = Path.GetFullPath(typeof(CliProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "CurvatureCliDll").Value!);

    /// <summary>Starts the CLI with <paramref name="args"/> in the background (output redirected, not read): for the tests that signal or race it.</summary>
    public static Process Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        if (!File.Exists(Dll)) throw new FileNotFoundException($"The CLI is not built at '{Dll}'; expected the test project's build to build it.", Dll);
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (environment is not null) foreach (var (k, v) in environment) psi.Environment[k] = v;
        return Process.Start(psi)!;
    }

    /// <summary>Runs the CLI with <paramref name="args"/> and returns its exit code, stdout and stderr.</summary>
    public static (int Code, string Stdout, string Stderr) Run(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        if (!File.Exists(Dll)) throw new FileNotFoundException($"The CLI is not built at '{Dll}'; expected the test project's build to build it.", Dll);
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (workingDirectory is not null) psi.WorkingDirectory = workingDirectory;
        psi.ArgumentList.Add(Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (environment is not null) foreach (var (k, v) in environment) psi.Environment[k] = v;
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(600_000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"curvature {string.Join(" ", args)} did not finish in 600 s.");
        }
        return (process.ExitCode, stdout, stderr.Result);
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Curvature.Tests;

/// <summary>
/// Runs the `curvature` tool as users meet it: a child process (`dotnet curvature.dll ARGS`),
/// its exit code, stdout and stderr. The test project builds the CLI but references no executable.
/// </summary>
public static partial class CliProcess
{
    /// <summary>Path of the built CLI (set by the test project's build).</summary>
    public static string Dll { get; } = Path.GetFullPath(typeof(CliProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "CurvatureCliDll").Value!);

    /// <summary>The repository's root folder (set by the test project's build): docs, scripts and fixtures are read from it.</summary>
    public static string RepoRoot { get; } = typeof(CliProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "CurvatureRepoRoot").Value!;

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

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>POSIX signal numbers (Linux) the tests send.</summary>
    public const int SigInt = 2, SigKill = 9, SigTerm = 15;

    /// <summary>Sends the POSIX <paramref name="signal"/> to <paramref name="process"/>.</summary>
    public static void Signal(Process process, int signal)
    {
        ArgumentNullException.ThrowIfNull(process);
        if (Kill(process.Id, signal) != 0)
            throw new IOException($"kill({process.Id}, {signal}) failed with errno {Marshal.GetLastPInvokeError()}.");
    }

    /// <summary>
    /// Runs the CLI with <paramref name="args"/> and sends it <paramref name="signal"/> as soon as a line of its output
    /// (stdout or stderr) satisfies <paramref name="when"/>; returns its exit code and every line it printed, in order.
    /// Throws when the process ends before that line, or either wait exceeds two minutes.
    /// </summary>
    public static (int Code, IReadOnlyList<string> Output) RunAndSignal(IEnumerable<string> args, Func<string, bool> when, int signal = SigTerm,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        ArgumentNullException.ThrowIfNull(when);
        using var process = Start(args, environment);
        var output = new ConcurrentQueue<string>();
        using var seen = new ManualResetEventSlim();
        void Line(string? line)
        {
            if (line is null) return;
            output.Enqueue(line);
            if (when(line)) seen.Set();
        }
        process.OutputDataReceived += (_, e) => Line(e.Data);
        process.ErrorDataReceived += (_, e) => Line(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var clock = Stopwatch.StartNew();
        while (!seen.Wait(50))
            if (process.HasExited || clock.Elapsed.TotalSeconds > 120)
            {
                if (!process.HasExited) process.Kill(entireProcessTree: true);
                throw new TimeoutException($"curvature {string.Join(" ", args)} printed no line to signal after: {string.Join("\n", output)}");
            }
        Signal(process, signal);
        if (!process.WaitForExit(120_000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"curvature {string.Join(" ", args)} did not exit within 120 s of signal {signal}.");
        }
        process.WaitForExit();
        return (process.ExitCode, output.ToList());
    }

    /// <summary>The lines of a CSV file with their last cell (the wall-clock seconds of metrics.csv and sweep.csv) taken off: what two runs of one spec share bit for bit.</summary>
    public static IEnumerable<string> WithoutSeconds(string path) => File.ReadAllLines(path).Select(l => l[..l.LastIndexOf(',')]);
}

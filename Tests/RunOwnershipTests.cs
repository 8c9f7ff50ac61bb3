using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Curvature.Core;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>
/// One writer per run directory (issue 26): a second `train` into a folder another process is
/// writing is refused naming that process; a fresh run into a reused folder never leaves an
/// earlier run's summary or θ beside its own rows, and a folder holding an unfinished run is
/// resumed, not silently restarted. Every case runs the built CLI as real, concurrent processes.
/// </summary>
public class RunOwnershipTests
{
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-ownership-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    static readonly Dictionary<string, string> Env = new() { ["CURVATURE_BLAS"] = "libopenblas.so.0" };

    static (int Code, string Stdout, string Stderr) Cli(params string[] args) => CliProcess.Run(args, Env);

    static readonly string[] Tiny = ["train", "--arch", "4-16-3", "--data", "gmm:200:4:3:1", "--test-data", "none", "--loss", "mse", "--batch", "20", "-k", "2",
        "--refresh", "10", "--hessian-batch", "0", "--eval-every", "5", "--seed", "3", "--save-theta", "--quiet"];

    [DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int signal);

    /// <summary>Starts a long run into <paramref name="run"/> and waits until it has written its first checkpoint.</summary>
    static Process StartLong(string run, params string[] extra)
    {
        var started = DateTime.UtcNow;
        var p = CliProcess.Start([.. Tiny, "--steps", "1000000", "--checkpoint-every", "20", "--out", run, .. extra], Env);
        var sw = Stopwatch.StartNew();
        // Its own checkpoint, not one an earlier run left in the folder.
        while (!(File.Exists(Path.Combine(run, "checkpoint.bin")) && File.GetLastWriteTimeUtc(Path.Combine(run, "checkpoint.bin")) > started)
               && !p.HasExited && sw.ElapsedMilliseconds < 60_000) Thread.Sleep(20);
        p.HasExited.Should().BeFalse($"the long run is still training: {(p.HasExited ? p.StandardError.ReadToEnd() : "")}");
        return p;
    }

    static void Kill9(Process p)
    {
        kill(p.Id, 9).Should().Be(0);
        p.WaitForExit(60_000).Should().BeTrue();
    }

    [Test]
    public void A_second_writer_of_a_running_runs_folder_is_refused_naming_the_holders_process_id_and_kill_9_releases_the_lock()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("flock and kill -9: Linux only.");
        string run = Path.Combine(_dir, "r");
        using var holder = StartLong(run);
        try
        {
            string expected = $"error: Option '--out' names '{run}', which process {holder.Id} is writing*expected one writer at a time*";
            var fresh = Cli([.. Tiny, "--steps", "30", "--out", run]);
            fresh.Code.Should().NotBe(0);
            fresh.Stderr.Trim().Should().Match(expected).And.NotContain("\n", "one line");
            var resumed = Cli([.. Tiny, "--steps", "1000000", "--checkpoint-every", "20", "--resume", Path.Combine(run, "checkpoint.bin"), "--out", run]);
            resumed.Code.Should().NotBe(0);
            resumed.Stderr.Trim().Should().Match(expected).And.NotContain("\n");
            holder.HasExited.Should().BeFalse("the refused writers did not disturb the holder");
        }
        finally
        {
            if (!holder.HasExited) Kill9(holder);
        }
        // The kernel dropped the lock with the process: the run resumes in place and finishes, leaving no lock file.
        long at = Curvature.Optimizers.TrainerCheckpoint.Load(Path.Combine(run, "checkpoint.bin")).Step;
        var after = Cli([.. Tiny, "--steps", (at + 10).ToString(System.Globalization.CultureInfo.InvariantCulture), "--checkpoint-every", "20",
            "--resume", Path.Combine(run, "checkpoint.bin"), "--out", run]);
        after.Code.Should().Be(0, after.Stderr);
        File.Exists(Path.Combine(run, DirectoryLock.FileName)).Should().BeFalse("a finished writer removes its lock file");
    }

    [Test]
    public void Two_trains_with_different_options_racing_into_one_folder_leave_only_the_first_runs_files()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("flock: Linux only.");
        string run = Path.Combine(_dir, "mix");
        using var first = StartLong(run, "--lr", "0.05");
        var second = Cli([.. Tiny, "--steps", "40", "--lr", "0.2", "--out", run]);
        first.HasExited.Should().BeFalse();
        // SIGTERM: the first run ends its step and writes its own summary; nothing of the second is there.
        kill(first.Id, 15).Should().Be(0);
        first.WaitForExit(120_000).Should().BeTrue();
        second.Code.Should().NotBe(0);
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "config.json")));
        config.RootElement.GetProperty("run").GetProperty("learning_rate").GetDouble().Should().Be(0.05);
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "summary.json")));
        summary.RootElement.GetProperty("status").GetString().Should().Be("interrupted");
        long stopped = summary.RootElement.GetProperty("stopped_at").GetInt64();
        var steps = File.ReadAllLines(Path.Combine(run, "metrics.csv")).Skip(1).Select(l => long.Parse(l[..l.IndexOf(',')], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        steps.Should().BeInAscendingOrder().And.OnlyHaveUniqueItems();
        steps[^1].Should().BeLessThanOrEqualTo(stopped, "every row is the first run's, up to its interrupted step");
    }

    [Test]
    public void A_fresh_run_into_a_reused_folder_clears_the_old_summary_and_theta_and_records_its_own_config_at_once()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("kill -9: Linux only.");
        string run = Path.Combine(_dir, "reuse");
        Cli([.. Tiny, "--steps", "20", "--lr", "0.2", "--out", run]).Code.Should().Be(0);
        File.Exists(Path.Combine(run, "summary.json")).Should().BeTrue();
        // A second, different run killed midway: the folder must not claim that the first one completed.
        using var second = StartLong(run, "--lr", "0.05");
        Kill9(second);
        File.Exists(Path.Combine(run, "summary.json")).Should().BeFalse("the old run's completed summary went when the new run began");
        File.Exists(Path.Combine(run, "theta.npy")).Should().BeFalse("the old θ went too");
        File.Exists(Path.Combine(run, "theta.npz")).Should().BeFalse();
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "config.json")));
        config.RootElement.GetProperty("run").GetProperty("learning_rate").GetDouble().Should().Be(0.05, "config.json is the running run's from its start");
    }

    [Test]
    public void A_fresh_run_into_a_folder_with_an_unfinished_run_is_refused_with_the_resume_command_which_then_gives_the_uninterrupted_bits()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("kill -9: Linux only.");
        string run = Path.Combine(_dir, "unfinished"), straight = Path.Combine(_dir, "straight");
        string[] b = [.. Tiny, "--steps", "3000", "--checkpoint-every", "10", "--lr", "0.05"];
        using (var p = CliProcess.Start([.. b, "--out", run], Env))
        {
            var sw = Stopwatch.StartNew();
            while (!File.Exists(Path.Combine(run, "checkpoint.bin")) && sw.ElapsedMilliseconds < 60_000) Thread.Sleep(20);
            Thread.Sleep(300);
            Kill9(p);
        }
        File.Exists(Path.Combine(run, "summary.json")).Should().BeFalse("killed before its end");
        long at = Curvature.Optimizers.TrainerCheckpoint.Load(Path.Combine(run, "checkpoint.bin")).Step;
        at.Should().BeInRange(10, 2990);
        byte[] metricsBefore = File.ReadAllBytes(Path.Combine(run, "metrics.csv"));

        var (code, _, err) = Cli([.. b, "--out", run]);
        code.Should().Be(2);
        err.Trim().Should().Match($"error: Option '--out' names '{run}', which holds an unfinished run (checkpoint.bin at step {at}, no summary); expected *Resume it with: curvature train --config * --resume {run}/checkpoint.bin*")
            .And.NotContain("\n");
        File.ReadAllBytes(Path.Combine(run, "metrics.csv")).Should().Equal(metricsBefore, "the refused run changed nothing");

        // The printed command, as a user would paste it.
        string command = err[(err.IndexOf("Resume it with: curvature ", StringComparison.Ordinal) + "Resume it with: curvature ".Length)..err.IndexOf(" (or delete", StringComparison.Ordinal)];
        var resumed = Cli(command.Split(' '));
        resumed.Code.Should().Be(0, resumed.Stderr);
        resumed.Stdout.Trim().Split('\n')[^1].Should().StartWith("completed: 3000 steps");
        Cli([.. b, "--out", straight]).Code.Should().Be(0);
        Npy.ReadVector(Path.Combine(run, "theta.npy")).Should().Equal(Npy.ReadVector(Path.Combine(straight, "theta.npy")), "resumed to the uninterrupted bits");
    }
}

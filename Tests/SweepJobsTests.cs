using System.Diagnostics;
using Curvature.Core;
using Curvature.Experiments;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>
/// `sweep --emit` / `sweep --collect`: the grid × seeds as independent `curvature train` jobs run
/// by GNU parallel, collected into the table the in-process sweep writes.
/// </summary>
[TestFixture]
public sealed class SweepJobsTests
{
    string _dir = "";

    // A 2×2 grid (η × k) × 2 seeds of 4-8-3 runs on 90 Gaussian-mixture points, 20 steps each.
    static readonly string[] Grid =
    [
        "sweep", "--arch", "4-8-3", "--act", "tanh", "--loss", "mse", "--data", "gmm:90:4:3:1", "--test-data", "none", "--batch", "10",
        "--steps", "20", "--eval-every", "5", "--refresh", "5", "--hessian-batch", "0", "--optimizer", "bulk",
        "--lr", "0.1,0.2", "--k", "1,2", "--seeds", "0,1",
    ];

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-jobs-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    string Dir(string name) => Path.Combine(_dir, name);

    static void Ok(params string[] args)
    {
        var (code, stdout, stderr) = CliProcess.Run(args);
        code.Should().Be(0, $"curvature {string.Join(" ", args)} failed: {stderr}{stdout}");
    }

    static void RunJobs(string dir)
    {
        if (!File.Exists("/usr/bin/parallel") && !File.Exists("/usr/local/bin/parallel"))
            Assert.Ignore("GNU parallel is not installed (scripts/setup-parallel.sh installs it); the emitted jobs were not run.");
        var psi = new ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add($"parallel --will-cite -j 2 < {Path.Combine(dir, SweepJobs.JobsFile)}");
        psi.Environment["CURVATURE"] = $"dotnet {CliProcess.Dll}";
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit(600_000).Should().BeTrue("the jobs finish");
        p.ExitCode.Should().Be(0, $"every job succeeds: {err.Result}{output}");
    }

    static IEnumerable<string> WithoutSeconds(string file)
    {
        var lines = File.ReadAllLines(file);
        int col = Array.IndexOf(lines[0].Split(','), "seconds");
        return lines.Select(l => string.Join(",", l.Split(',').Where((_, i) => i != col)));
    }

    [Test]
    public void Emitted_jobs_run_by_gnu_parallel_collect_to_the_in_process_sweep_table_bit_for_bit()
    {
        Ok([.. Grid, "--out", Dir("inproc")]);
        Ok([.. Grid, "--emit", Dir("jobs")]);
        File.ReadAllLines(Path.Combine(Dir("jobs"), SweepJobs.JobsFile)).Should().HaveCount(8, "2 η × 2 k × 2 seeds");
        File.ReadAllText(Path.Combine(Dir("jobs"), SweepJobs.SlurmFile)).Should().Contain("#SBATCH --array=1-8").And.Contain("SLURM_ARRAY_TASK_ID");
        RunJobs(Dir("jobs"));
        Ok(["sweep", "--collect", Dir("jobs")]);

        var inproc = WithoutSeconds(Path.Combine(Dir("inproc"), "sweep.csv")).ToList();
        inproc.Should().HaveCount(9);
        WithoutSeconds(Path.Combine(Dir("jobs"), "sweep.csv")).Should().Equal(inproc, "each job trains its cell exactly as the in-process sweep does");
        File.ReadAllLines(Path.Combine(Dir("jobs"), "sweep_seeds.csv")).Should().Equal(File.ReadAllLines(Path.Combine(Dir("inproc"), "sweep_seeds.csv")));
    }

    [Test]
    public void A_job_cut_off_at_a_checkpoint_resumes_on_rerun_and_collects_to_the_uninterrupted_result()
    {
        Ok([.. Grid, "--emit", Dir("jobs")]);
        RunJobs(Dir("jobs"));
        Ok(["sweep", "--collect", Dir("jobs")]);
        var uninterrupted = WithoutSeconds(Path.Combine(Dir("jobs"), "sweep.csv")).ToList();

        // Put one run back to the state a kill after its step-10 checkpoint leaves: the checkpoint
        // of the same run stopped at step 10 with the metrics.csv it counts, and none of the other files a finished run writes.
        string cell = Directory.GetDirectories(Dir("jobs")).Order().ElementAt(5);
        Ok(["train", "--config", Path.Combine(cell, "config.json"), "--steps", "10", "--quiet", "--out", Dir("half")]);
        foreach (var f in new[] { "summary.json", "theta.npy" }) File.Delete(Path.Combine(cell, f));
        File.Copy(Path.Combine(Dir("half"), "checkpoint.bin"), Path.Combine(cell, "checkpoint.bin"), overwrite: true);
        File.Copy(Path.Combine(Dir("half"), "metrics.csv"), Path.Combine(cell, "metrics.csv"), overwrite: true);

        Ok(["sweep", "--collect", Dir("jobs")]);
        var gap = CsvTable.Load(Path.Combine(Dir("jobs"), "sweep.csv"));
        gap.Column("missing").Sum().Should().Be(1, "the cut-off run is reported missing, not dropped");
        gap.RowCount.Should().Be(8);

        RunJobs(Dir("jobs"));
        Ok(["sweep", "--collect", Dir("jobs")]);
        WithoutSeconds(Path.Combine(Dir("jobs"), "sweep.csv")).Should().Equal(uninterrupted);
    }

    [Test]
    public void A_job_stopped_by_sigterm_leaves_an_interrupted_summary_and_still_resumes_on_rerun()
    {
        Ok([.. Grid, "--emit", Dir("jobs")]);
        RunJobs(Dir("jobs"));
        Ok(["sweep", "--collect", Dir("jobs")]);
        var uninterrupted = WithoutSeconds(Path.Combine(Dir("jobs"), "sweep.csv")).ToList();

        // What SIGTERM at step 10 leaves: the step-10 checkpoint, its metrics.csv and a summary
        // whose status is "interrupted" (a finished run's guard must not mistake it for done).
        string cell = Directory.GetDirectories(Dir("jobs")).Order().ElementAt(2);
        Ok(["train", "--config", Path.Combine(cell, "config.json"), "--steps", "10", "--quiet", "--out", Dir("half")]);
        File.Delete(Path.Combine(cell, "theta.npy"));
        File.Copy(Path.Combine(Dir("half"), "checkpoint.bin"), Path.Combine(cell, "checkpoint.bin"), overwrite: true);
        File.Copy(Path.Combine(Dir("half"), "metrics.csv"), Path.Combine(cell, "metrics.csv"), overwrite: true);
        string summary = File.ReadAllText(Path.Combine(Dir("half"), "summary.json"));
        summary.Should().Contain("\"status\": \"completed\"");
        File.WriteAllText(Path.Combine(cell, "summary.json"), summary.Replace("\"status\": \"completed\"", "\"status\": \"interrupted\""));

        RunJobs(Dir("jobs"));
        File.ReadAllText(Path.Combine(cell, "summary.json")).Should().Contain("\"status\": \"completed\"", "the rerun resumed the interrupted cell");
        Ok(["sweep", "--collect", Dir("jobs")]);
        WithoutSeconds(Path.Combine(Dir("jobs"), "sweep.csv")).Should().Equal(uninterrupted);
    }
}

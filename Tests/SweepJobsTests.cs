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
        var (code, output) = Finish(StartJobs(dir));
        code.Should().Be(0, $"every job succeeds: {output}");
    }

    /// <summary>Starts GNU parallel on the emitted jobs.txt (2 at a time), as a user would.</summary>
    static Process StartJobs(string dir)
    {
        if (!File.Exists("/usr/bin/parallel") && !File.Exists("/usr/local/bin/parallel"))
            Assert.Ignore("GNU parallel is not installed (scripts/setup-parallel.sh installs it); the emitted jobs were not run.");
        var psi = new ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add($"parallel --will-cite -j 2 < {Path.Combine(dir, SweepJobs.JobsFile)}");
        psi.Environment["CURVATURE"] = $"dotnet {CliProcess.Dll}";
        return Process.Start(psi)!;
    }

    static (int Code, string Output) Finish(Process p)
    {
        using (p)
        {
            var err = p.StandardError.ReadToEndAsync();
            string output = p.StandardOutput.ReadToEnd();
            p.WaitForExit(600_000).Should().BeTrue("the jobs finish");
            return (p.ExitCode, err.Result + output);
        }
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

    [Test]
    public void One_jobs_txt_run_twice_at_once_keeps_one_writer_per_run_and_collects_to_the_in_process_table()
    {
        Ok([.. Grid, "--out", Dir("inproc")]);
        Ok([.. Grid, "--emit", Dir("jobs")]);
        // The issue's repro: `parallel -j 2 < jobs.txt & sleep 1.3; parallel -j 2 < jobs.txt`.
        var first = StartJobs(Dir("jobs"));
        Thread.Sleep(1300);
        var (_, second) = Finish(StartJobs(Dir("jobs")));
        Finish(first);
        // A job refused by a run's lock names the process that held it; nothing else fails.
        foreach (var line in second.Split('\n').Where(l => l.StartsWith("error:", StringComparison.Ordinal)))
            line.Should().MatchRegex("^error: Option '--out' names '.*', which process [0-9]+ is writing");
        RunJobs(Dir("jobs")); // whatever was refused and not finished by the other is done now; finished runs are skipped
        Ok(["sweep", "--collect", Dir("jobs")]);
        WithoutSeconds(Path.Combine(Dir("jobs"), "sweep.csv")).Should().Equal(WithoutSeconds(Path.Combine(Dir("inproc"), "sweep.csv")),
            "no run's metrics.csv was written by two processes");
        foreach (var cell in Directory.GetDirectories(Dir("jobs")))
            File.Exists(Path.Combine(cell, Curvature.Core.DirectoryLock.FileName)).Should().BeFalse("every writer released its run");
    }

    [Test]
    public void Collect_reports_truncated_header_only_and_foreign_cells_damaged_collects_the_rest_and_the_next_jobs_run_redoes_them()
    {
        Ok([.. Grid, "--emit", Dir("jobs")]);
        RunJobs(Dir("jobs"));
        Ok(["sweep", "--collect", Dir("jobs")]);
        var whole = WithoutSeconds(Path.Combine(Dir("jobs"), "sweep.csv")).ToList();
        var cells = Directory.GetDirectories(Dir("jobs")).Order().ToList();

        // Truncated: the last two rows gone, summary.json still "completed".
        string truncated = Path.Combine(cells[1], "metrics.csv");
        var lines = File.ReadAllLines(truncated);
        File.WriteAllLines(truncated, lines[..^2]);
        // Header only.
        File.WriteAllLines(Path.Combine(cells[3], "metrics.csv"), [File.ReadAllLines(Path.Combine(cells[3], "metrics.csv"))[0]]);
        // A finished run of another cell (same k and seed, another η) dropped in whole.
        foreach (var f in Directory.GetFiles(cells[4])) File.Copy(f, Path.Combine(cells[0], Path.GetFileName(f)), overwrite: true);

        var (code, stdout, stderr) = CliProcess.Run(["sweep", "--collect", Dir("jobs")]);
        code.Should().Be(0, stderr);
        var damaged = stdout.Split('\n').Where(l => l.Contains(": damaged (", StringComparison.Ordinal)).ToList();
        damaged.Should().HaveCount(3, stdout);
        damaged.Should().ContainSingle(l => l.StartsWith(Path.GetFileName(cells[1]), StringComparison.Ordinal) && l.Contains($"metrics.csv ends at step 10 but summary.json records step 20", StringComparison.Ordinal));
        damaged.Should().ContainSingle(l => l.StartsWith(Path.GetFileName(cells[3]), StringComparison.Ordinal) && l.Contains("metrics.csv has no rows", StringComparison.Ordinal));
        damaged.Should().ContainSingle(l => l.StartsWith(Path.GetFileName(cells[0]), StringComparison.Ordinal) && l.Contains("config.json describes another run: run.learning_rate is 0.2, expected 0.1", StringComparison.Ordinal));
        stdout.Should().Contain("(8 runs, 3 missing, 3 damaged, 0 diverged)");
        var table = CsvTable.Load(Path.Combine(Dir("jobs"), "sweep.csv"));
        table.Column("missing").Should().Equal(1, 1, 0, 1, 0, 0, 0, 0);
        var now = WithoutSeconds(Path.Combine(Dir("jobs"), "sweep.csv")).ToList();
        foreach (int i in new[] { 2, 4, 5, 6, 7 })
            now[i + 1].Should().Be(whole[i + 1], "the intact cells are collected as before");
        File.ReadAllText(Path.Combine(Dir("jobs"), "report.md")).Should().Contain("**damaged**");

        // The next run of jobs.txt trains exactly the damaged cells again: the table is whole.
        RunJobs(Dir("jobs"));
        Ok(["sweep", "--collect", Dir("jobs")]);
        WithoutSeconds(Path.Combine(Dir("jobs"), "sweep.csv")).Should().Equal(whole);
    }

    [Test]
    public void Jobs_run_on_another_thread_count_are_the_same_runs_and_collect_takes_every_one()
    {
        Ok([.. Grid, "--out", Dir("inproc")]);
        Ok([.. Grid, "--emit", Dir("jobs")]);
        // As scripts/findings.sh does: each job on cores/JOBS threads, which its config.json then records.
        string jobs = Path.Combine(Dir("jobs"), SweepJobs.JobsFile);
        File.WriteAllLines(jobs, File.ReadAllLines(jobs).Select(l => l + " --threads 1"));
        RunJobs(Dir("jobs"));
        File.ReadAllText(Directory.GetFiles(Dir("jobs"), "config.json", SearchOption.AllDirectories).First(f => Path.GetDirectoryName(f) != Dir("jobs")))
            .Should().Contain("\"threads\": 1", "the runs record the thread count they ran on");
        var (code, stdout, stderr) = CliProcess.Run(["sweep", "--collect", Dir("jobs")]);
        code.Should().Be(0, stderr);
        stdout.Should().Contain("(8 runs, 0 missing, 0 damaged, 0 diverged)");
        WithoutSeconds(Path.Combine(Dir("jobs"), "sweep.csv")).Should().Equal(WithoutSeconds(Path.Combine(Dir("inproc"), "sweep.csv")),
            "a run on one thread is the in-process run on all cores, bit for bit");
    }

    [Test]
    public void Emit_refuses_a_folder_emitted_under_another_spec_and_collect_refuses_a_folder_not_emitted()
    {
        Ok([.. Grid, "--emit", Dir("jobs")]);
        byte[] jobs = File.ReadAllBytes(Path.Combine(Dir("jobs"), SweepJobs.JobsFile));
        Ok([.. Grid, "--emit", Dir("jobs")]); // the same spec again: allowed
        var (code, _, err) = CliProcess.Run([.. Grid.Select(a => a == "20" ? "30" : a), "--emit", Dir("jobs")]);
        code.Should().Be(2);
        err.Trim().Should().Be($"error: Option '--emit' names '{Dir("jobs")}', which holds a sweep emitted under another spec (config.json: run.steps is 20, expected 30); expected a new folder or one emitted with the same spec: remove it or choose another --emit.");
        File.ReadAllBytes(Path.Combine(Dir("jobs"), SweepJobs.JobsFile)).Should().Equal(jobs, "the refused emit changed nothing");

        // A train run's folder: collect refuses it and leaves its files as they were.
        string run = Dir("train");
        Ok(["train", "--arch", "4-8-3", "--data", "gmm:90:4:3:1", "--test-data", "none", "--steps", "5", "--batch", "10", "-k", "2", "--hessian-batch", "0", "--quiet", "--out", run]);
        var before = Directory.GetFiles(run).ToDictionary(f => f, File.ReadAllBytes);
        var (code2, _, err2) = CliProcess.Run(["sweep", "--collect", run]);
        code2.Should().Be(2);
        err2.Trim().Should().Be($"error: Option '--collect' names '{run}', which has no jobs.txt; expected a directory written by `curvature sweep --emit`.");
        Directory.GetFiles(run).Should().BeEquivalentTo(before.Keys);
        foreach (var (f, bytes) in before) File.ReadAllBytes(f).Should().Equal(bytes, $"{f} is untouched");
        // Nor can a train run be emitted over.
        var (code3, _, err3) = CliProcess.Run([.. Grid, "--emit", run]);
        code3.Should().Be(2);
        err3.Should().Contain($"Option '--emit' names '{run}', which holds a sweep emitted under another spec");
    }

    static (int Code, string Stdout, string Stderr) Task(string script, string taskId)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(script);
        psi.Environment["SLURM_ARRAY_TASK_ID"] = taskId;
        psi.Environment["CURVATURE"] = "echo"; // the job prints the train command it would run
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit(60_000).Should().BeTrue();
        return (p.ExitCode, output, err.Result);
    }

    [Test]
    public void Slurm_scripts_split_a_grid_past_max_array_size_cover_every_job_once_refuse_other_task_ids_and_append_their_logs()
    {
        Ok([.. Grid, "--emit", Dir("jobs"), "--slurm-max-array", "4", "--slurm-time", "00:30:00", "--slurm-mem", "2G"]);
        string[] scripts = ["slurm.sh", "slurm-2.sh", "slurm-3.sh"];
        File.Exists(Path.Combine(Dir("jobs"), "slurm-4.sh")).Should().BeFalse("8 jobs in arrays of at most 3 tasks (indices below MaxArraySize 4) make 3 scripts");
        var run = new List<string>();
        foreach (var script in scripts.Select(f => Path.Combine(Dir("jobs"), f)))
        {
            string text = File.ReadAllText(script);
            text.Should().Contain("#SBATCH --open-mode=append").And.Contain("#SBATCH --time=00:30:00").And.Contain("#SBATCH --mem=2G");
            int count = int.Parse(System.Text.RegularExpressions.Regex.Match(text, "#SBATCH --array=1-([0-9]+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            count.Should().BeLessThan(4);
            for (int task = 1; task <= count; task++)
            {
                var (code, stdout, stderr) = Task(script, task.ToString(System.Globalization.CultureInfo.InvariantCulture));
                code.Should().Be(0, stderr);
                run.Add(stdout.Split(' ')[2]); // train --config <cell>/config.json …
            }
            foreach (var outside in new[] { "0", (count + 1).ToString(System.Globalization.CultureInfo.InvariantCulture) })
            {
                var (code, stdout, stderr) = Task(script, outside);
                code.Should().Be(2, $"task {outside} of {script} is outside its array");
                stdout.Should().BeEmpty("no job runs");
                stderr.Trim().Should().StartWith($"error: SLURM_ARRAY_TASK_ID is '{outside}'; expected 1-{count}");
            }
        }
        run.Should().Equal(Directory.GetDirectories(Dir("jobs")).Order().Select(d => Path.Combine(d, "config.json")), "every job once, in jobs.txt order");
        File.ReadAllText(Path.Combine(Dir("jobs"), SweepJobs.ParallelFile)).Should().Contain("parallel --will-cite --termseq INT,30000,KILL,25 -j");
        CliProcess.Run([.. Grid, "--emit", Dir("bad"), "--slurm-time", "2 hours"]).Stderr.Trim()
            .Should().Be("error: Option '--slurm-time' was '2 hours'; expected a Slurm time such as 30, 02:00:00 or 1-12:00:00.");
    }
}

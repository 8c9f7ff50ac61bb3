using System.Diagnostics;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>
/// scripts/long-checkpoints.sh, which findings.sh uses to read a long run at fixed steps: checked
/// on a run directory written here by hand, so that the expected rows come from the data, not the script.
/// </summary>
[TestFixture]
public sealed class LongCheckpointsScriptTests
{
    static string[] Run(params string[] args)
    {
        var psi = new ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(CliProcess.RepoRoot, "scripts", "long-checkpoints.sh"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        p.ExitCode.Should().Be(0, stderr);
        return stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    [Test]
    public void A_run_is_read_at_each_step_it_planned_with_the_last_logged_lambdas_and_not_beyond_its_planned_steps()
    {
        string sweep = Directory.CreateTempSubdirectory("curvature-long-").FullName;
        try
        {
            string run = Path.Combine(sweep, "000_lr=0.5_seed=0");
            Directory.CreateDirectory(run);
            File.WriteAllText(Path.Combine(run, "config.json"), "{\n  \"format\": 2,\n  \"run\": {\n    \"steps\": 30,\n    \"seed\": 0\n  }\n}\n");
            // λ₁ is logged at steps 0 and 20 only, λ₁ on every example at step 10 only.
            File.WriteAllLines(Path.Combine(run, "metrics.csv"),
            [
                "step,train_loss,train_acc,test_loss,test_acc,chi_k,lambda_1,lambda_1_full",
                "0,0.5,0.1,0.51,0.12,0.9,10.5,",
                "10,0.25,0.6,0.26,0.58,0.95,,11.25",
                "20,0.125,0.8,0.13,0.79,0.97,12.75,",
                "30,0.0625,0.9,0.07,0.88,0.98,,",
            ]);
            var lines = Run("10,20,40", run + "/");
            lines.Should().HaveCount(4, "a header, its rule and the steps 10 and 20: step 40 lies beyond the 30 planned");
            string name = "000_lr=0.5_seed=0";
            string sweepName = Path.GetFileName(sweep);
            lines[2].Should().Be($"| {sweepName} {name} | 10 | 0.25 | 0.6 | 0.26 | 0.58 | 0.95 | 10.5 | 11.25 |");
            lines[3].Should().Be($"| {sweepName} {name} | 20 | 0.125 | 0.8 | 0.13 | 0.79 | 0.97 | 12.75 | 11.25 |");

            // Diverged at step 20: its metrics end there, and step 30 (planned) shows dashes.
            File.WriteAllLines(Path.Combine(run, "metrics.csv"), File.ReadAllLines(Path.Combine(run, "metrics.csv"))[..^1]);
            Run("20,30", run).Last().Should().Be($"| {sweepName} {name} | 30 | — | — | — | — | — | — | — |");
        }
        finally
        {
            Directory.Delete(sweep, recursive: true);
        }
    }
}

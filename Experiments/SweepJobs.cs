using System.Globalization;
using System.Text;
using Curvature.Core;
using Curvature.Optimizers;

namespace Curvature.Experiments;

/// <summary>
/// A sweep on an existing scheduler: <see cref="Emit"/> writes every (grid point, seed) run as an
/// independent, resumable `curvature train` job — one shell line each in jobs.txt (for GNU
/// parallel) and a Slurm job-array script running line $SLURM_ARRAY_TASK_ID — and
/// <see cref="Collect"/> builds sweep.csv and the report from the run directories, reporting
/// missing and diverged runs in the table. Each job trains exactly what the in-process sweep
/// trains for that cell (same θ₀, minibatch order and Hessian batch for its seed), so the collected
/// table equals the in-process one in every column but the wall time.
/// </summary>
public static class SweepJobs
{
    /// <summary>The job list, one shell line per run.</summary>
    public const string JobsFile = "jobs.txt";

    /// <summary>The Slurm job-array script.</summary>
    public const string SlurmFile = "slurm.sh";

    /// <summary>
    /// Writes <paramref name="directory"/>/config.json (the sweep), one run directory per cell holding its
    /// config.json (a <see cref="TrainSpec"/> with periodic checkpoints), jobs.txt and slurm.sh.
    /// Each line of jobs.txt skips a finished run (summary.json says completed or diverged), resumes
    /// one that left a checkpoint (a killed or SIGTERM-stopped job), and otherwise starts it; it runs the tool as <c>$CURVATURE</c> when
    /// that variable is set, else as <paramref name="defaultCommand"/> (e.g. "dotnet /path/curvature.dll").
    /// Returns the number of jobs.
    /// </summary>
    public static int Emit(SweepSpec spec, string directory, string defaultCommand, int? checkpointEvery = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (string.IsNullOrWhiteSpace(directory)) throw new ArgumentException("Option '--emit' was empty; expected a directory.", "emit");
        if (string.IsNullOrWhiteSpace(defaultCommand)) throw new ArgumentException("Argument 'defaultCommand' was empty; expected the command that runs curvature.", nameof(defaultCommand));
        string dir = Path.GetFullPath(directory);
        if (dir.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"' or '$' or '`' or '\\'))
            throw new ArgumentException($"Option '--emit' was '{dir}'; expected a path without spaces, quotes, '$', '`' or '\\' (it is written into shell lines).", "emit");
        spec = spec with { Out = dir };
        spec.Validate();
        int every = checkpointEvery ?? Math.Max(1, spec.Run.Steps / 10);
        if (every < 1) throw new ArgumentOutOfRangeException("checkpoint-every", $"Option '--checkpoint-every' was {every}; expected a positive number of steps.");
        Directory.CreateDirectory(dir);
        RunJson.Save(Path.Combine(dir, "config.json"), spec);
        var jobs = new StringBuilder();
        var cells = spec.Cells();
        foreach (var cell in cells)
        {
            string cellDir = Path.Combine(dir, cell.Name);
            Directory.CreateDirectory(cellDir);
            RunJson.Save(Path.Combine(cellDir, TrainingRun.ConfigFile), CellSpec(spec, cell, cellDir) with { CheckpointEvery = every });
            string summary = Path.Combine(cellDir, TrainingRun.SummaryFile);
            string checkpoint = Path.Combine(cellDir, TrainingRun.CheckpointFile);
            jobs.Append(CultureInfo.InvariantCulture,
                $"grep -qsE '\"status\": \"(completed|diverged)\"' {summary} || ${{CURVATURE:-{defaultCommand}}} train --config {Path.Combine(cellDir, TrainingRun.ConfigFile)} --out {cellDir} --quiet $(test -f {checkpoint} && echo --resume {checkpoint})\n");
        }
        AtomicFile.WriteAllText(Path.Combine(dir, JobsFile), jobs.ToString());
        AtomicFile.WriteAllText(Path.Combine(dir, SlurmFile), Slurm(dir, cells.Count));
        return cells.Count;
    }

    /// <summary>The train spec of one cell: the run the in-process sweep trains there.</summary>
    public static TrainSpec CellSpec(SweepSpec spec, SweepCell cell, string cellDirectory)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(cell);
        var o = SweepExperiment.At(spec, cell.Point) with { Seed = cell.Seed };
        var ospec = new OptimizerSpec(spec.Run.Optimizer, o.AlphaDom, o.AlphaBulk);
        return new TrainSpec { Run = ospec.Apply(o), Out = cellDirectory, SaveTheta = true };
    }

    static string Slurm(string dir, int count) => string.Create(CultureInfo.InvariantCulture, $$"""
        #!/bin/bash
        # Runs the sweep's jobs as a Slurm job array, one array task per line of jobs.txt:
        #   sbatch {{Path.Combine(dir, SlurmFile)}}
        # then, when they have finished: curvature sweep --collect {{dir}}
        # Set CURVATURE (e.g. export CURVATURE="dotnet /path/to/curvature.dll") if the tool lives
        # elsewhere on the cluster. A rerun of a task resumes its run from the last checkpoint.
        #SBATCH --job-name=curvature-sweep
        #SBATCH --array=1-{{count}}
        #SBATCH --cpus-per-task=1
        #SBATCH --output={{Path.Combine(dir, "slurm-%A_%a.out")}}
        set -eu
        line=$(sed -n "${SLURM_ARRAY_TASK_ID}p" {{Path.Combine(dir, JobsFile)}})
        exec sh -c "$line"

        """);

    /// <summary>
    /// Reads the sweep in <paramref name="directory"/> (its config.json and run directories) into a
    /// result: a finished run (completed or diverged) is read back; a run directory without a finished
    /// run (never started, killed, interrupted) is a row marked missing with NaN numbers.
    /// </summary>
    public static SweepResult Collect(string directory, IProgressSink? progress = null)
    {
        if (string.IsNullOrWhiteSpace(directory)) throw new ArgumentException("Option '--collect' was empty; expected a directory written by `sweep --emit`.", "collect");
        string dir = Path.GetFullPath(directory);
        string config = Path.Combine(dir, "config.json");
        if (!File.Exists(config))
            throw new FileNotFoundException($"Option '--collect' names '{dir}', which has no config.json; expected a directory written by `curvature sweep --emit`.", config);
        var spec = RunJson.Load<SweepSpec>(config) with { Out = dir };
        spec.Validate();
        // The first cell's run: the sweep's own run may lack the α's an interp run needs to validate.
        var problem = Problem.Load(SweepExperiment.At(spec, spec.Grid()[0]));
        double initialLoss = problem.TrainObjective.Evaluate(problem.Model.Initialize(spec.Run.Seed)).Loss;
        double target = spec.TargetLoss ?? 0.25 * initialLoss;
        var rows = new List<SweepRow>();
        foreach (var cell in spec.Cells())
        {
            var o = SweepExperiment.At(spec, cell.Point) with { Seed = cell.Seed };
            var ospec = new OptimizerSpec(spec.Run.Optimizer, o.AlphaDom, o.AlphaBulk);
            string cellDir = Path.Combine(dir, cell.Name);
            TrainingSummary? s = RunDirectory.IsFinished(cellDir) ? RunDirectory.Summary(cellDir) : null;
            if (s is { Status: TrainingStatus.Completed or TrainingStatus.Diverged })
            {
                var summary = RunDirectory.Read(cellDir, cell.Name, ospec, o.LearningRate, out var metrics);
                summary = summary.WithTarget(target, metrics) with { Name = cell.Name };
                rows.Add(new SweepRow(cell.Point, cell.Seed, cell.Name, ospec, o, summary, summary.Diverged ? summary.StoppedAt : null, metrics));
            }
            else
            {
                rows.Add(new SweepRow(cell.Point, cell.Seed, cell.Name, ospec, o, RunSummary.Missing(cell.Name, ospec, o.LearningRate), null, [], Missing: true));
                progress?.Message($"{cell.Name}: missing ({(s is null ? "no finished run" : s.Status.ToString().ToLowerInvariant())})");
            }
        }
        var result = new SweepSummary
        {
            Optimizer = spec.Run.Optimizer,
            TargetLoss = target,
            Runs = rows.Select(r => r.Summary).ToList(),
            Seconds = rows.Where(r => !r.Missing).Sum(r => r.Summary.Seconds),
        };
        return new SweepResult(spec, problem, rows, result, initialLoss);
    }
}

using System.Globalization;
using System.Text;
using Curvature.Core;
using Curvature.Optimizers;

namespace Curvature.Experiments;

/// <summary>
/// A sweep on an existing scheduler: <see cref="Emit(SweepSpec, string, string, int?)"/> writes every (grid point, seed) run as an
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
    public static int Emit(SweepSpec spec, string directory, string defaultCommand, int? checkpointEvery = null) =>
        Emit(spec, directory, defaultCommand, new SlurmOptions(), checkpointEvery);

    /// <summary>
    /// <see cref="Emit(SweepSpec, string, string, int?)"/> with the Slurm script's settings: time and memory
    /// limits, and the cluster's MaxArraySize — a larger grid is split into several array scripts
    /// (slurm.sh, slurm-2.sh, …), each task running its own line of jobs.txt.
    /// </summary>
    public static int Emit(SweepSpec spec, string directory, string defaultCommand, SlurmOptions slurm, int? checkpointEvery = null)
    {
        ArgumentNullException.ThrowIfNull(slurm);
        slurm.Validate();
        ArgumentNullException.ThrowIfNull(spec);
        if (string.IsNullOrWhiteSpace(directory)) throw new ArgumentException("Option '--emit' was empty; expected a directory.", "emit");
        if (string.IsNullOrWhiteSpace(defaultCommand)) throw new ArgumentException("Argument 'defaultCommand' was empty; expected the command that runs curvature.", nameof(defaultCommand));
        string dir = Path.GetFullPath(directory);
        if (dir.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"' or '$' or '`' or '\\'))
            throw new ArgumentException($"Option '--emit' was '{dir}'; expected a path without spaces, quotes, '$', '`' or '\\' (it is written into shell lines).", "emit");
        spec = spec with { Out = dir };
        spec.Validate();
        int every = checkpointEvery ?? DefaultCheckpointEvery(spec);
        if (every < 1) throw new ArgumentOutOfRangeException("checkpoint-every", $"Option '--checkpoint-every' was {every}; expected a positive number of steps.");
        if (File.Exists(dir)) throw new ArgumentException($"Option '--emit' names '{dir}', which is a file; expected a directory.", "emit");
        RefuseOtherSpec(spec, dir);
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
        int parts = (cells.Count + slurm.MaxArraySize - 2) / (slurm.MaxArraySize - 1);
        var scripts = Enumerable.Range(1, Math.Max(1, parts)).Select(i => Path.Combine(dir, SlurmScript(i))).ToList();
        for (int i = 0; i < scripts.Count; i++)
            AtomicFile.WriteAllText(scripts[i], Slurm(dir, cells.Count, i * (slurm.MaxArraySize - 1), Math.Min(slurm.MaxArraySize - 1, cells.Count - i * (slurm.MaxArraySize - 1)), scripts, slurm));
        AtomicFile.WriteAllText(Path.Combine(dir, ParallelFile), string.Create(CultureInfo.InvariantCulture, $$"""
            #!/bin/sh
            # Runs the sweep's jobs with GNU parallel, JOBS (default 2) at a time. On Ctrl-C parallel sends
            # SIGINT to every job and waits 30 s — a job ends its step and writes an interrupted checkpoint —
            # before it kills; rerun this script to resume. Then: curvature sweep --collect {{dir}}
            exec parallel --will-cite --termseq INT,30000,KILL,25 -j "${JOBS:-2}" < {{Path.Combine(dir, JobsFile)}}

            """));
        return cells.Count;
    }

    /// <summary>The script that runs jobs with GNU parallel, with the signal sequence a job needs to stop cleanly.</summary>
    public const string ParallelFile = "parallel.sh";

    /// <summary>The name of the <paramref name="part"/>-th Slurm array script (slurm.sh, slurm-2.sh, …).</summary>
    public static string SlurmScript(int part) => part == 1 ? SlurmFile : string.Create(CultureInfo.InvariantCulture, $"slurm-{part}.sh");

    /// <summary>Checkpoints every tenth of the run unless the caller says otherwise.</summary>
    static int DefaultCheckpointEvery(SweepSpec spec) => Math.Max(1, spec.Run.Steps / 10);

    /// <summary>
    /// Refuses to emit into a folder whose config.json records a different sweep (or is not a sweep's):
    /// its run directories would be collected as this sweep's cells.
    /// </summary>
    static void RefuseOtherSpec(SweepSpec spec, string dir)
    {
        string config = Path.Combine(dir, "config.json");
        if (!File.Exists(config)) return;
        string? difference;
        try
        {
            var old = RunJson.Load<SweepSpec>(config) with { Out = dir };
            difference = RunDirectory.FirstDifference(RunJson.Serialize(old), RunJson.Serialize(spec));
        }
        catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException or NotSupportedException)
        {
            difference = $"it is not a sweep's ({e.Message.TrimEnd('.')})";
        }
        if (difference is not null)
            throw new ArgumentException($"Option '--emit' names '{dir}', which holds a sweep emitted under another spec (config.json: {difference}); expected a new folder or one emitted with the same spec: remove it or choose another --emit.", "emit");
    }

    /// <summary>The train spec of one cell: the run the in-process sweep trains there.</summary>
    public static TrainSpec CellSpec(SweepSpec spec, SweepCell cell, string cellDirectory)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(cell);
        var o = SweepExperiment.At(spec, cell.Point) with { Seed = cell.Seed };
        var ospec = new OptimizerSpec(spec.Run.Optimizer, o.AlphaDom, o.AlphaBulk);
        // The test set resolved as the run will record it, so a cell's config.json is its spec before and after.
        return new TrainSpec { Run = ospec.Apply(o).Resolved(), Out = cellDirectory, SaveTheta = true };
    }

    static string Slurm(string dir, int total, int offset, int count, IReadOnlyList<string> scripts, SlurmOptions o) => string.Create(CultureInfo.InvariantCulture, $$"""
        #!/bin/bash
        # Runs the sweep's jobs as a Slurm job array, one array task per line of jobs.txt
        # (this script: lines {{offset + 1}}-{{offset + count}} of {{total}}). Submit every part:
        {{string.Join("\n", scripts.Select(f => "#   sbatch " + f))}}
        # then, when they have finished: curvature sweep --collect {{dir}}
        # Set CURVATURE (e.g. export CURVATURE="dotnet /path/to/curvature.dll") if the tool lives
        # elsewhere on the cluster. A rerun or requeue of a task resumes its run from the last checkpoint
        # and appends to its log.
        #SBATCH --job-name=curvature-sweep
        #SBATCH --array=1-{{count}}
        #SBATCH --cpus-per-task=1
        #SBATCH --open-mode=append
        #SBATCH --output={{Path.Combine(dir, "slurm-%A_%a.out")}}
        {{(o.Time is null ? "" : "#SBATCH --time=" + o.Time + "\n")}}{{(o.Memory is null ? "" : "#SBATCH --mem=" + o.Memory + "\n")}}set -eu
        line_number=$(( ${SLURM_ARRAY_TASK_ID:-0} + {{offset}} ))
        if [ "${SLURM_ARRAY_TASK_ID:-0}" -lt 1 ] || [ "${SLURM_ARRAY_TASK_ID:-0}" -gt {{count}} ]; then
          echo "error: SLURM_ARRAY_TASK_ID is '${SLURM_ARRAY_TASK_ID:-}'; expected 1-{{count}} (line $line_number is not one of the {{total}} jobs)" >&2
          exit 2
        fi
        line=$(sed -n "${line_number}p" {{Path.Combine(dir, JobsFile)}})
        exec sh -c "$line"

        """);

    /// <summary>
    /// Reads the sweep in <paramref name="directory"/> (its config.json and run directories) into a
    /// result: a finished run (completed or diverged) is read back; a run directory without a finished
    /// run (never started, killed, interrupted, or being written) is a row marked missing with NaN numbers.
    /// Every cell is verified first: its config.json must describe the cell's run, and a finished run's
    /// metrics.csv must parse and end at the step its summary.json records. A cell that fails is a
    /// missing row marked damaged; its files are moved into a damaged-… folder inside it and its
    /// config.json rewritten, so the next run of jobs.txt trains it again.
    /// </summary>
    public static SweepResult Collect(string directory, IProgressSink? progress = null)
    {
        if (string.IsNullOrWhiteSpace(directory)) throw new ArgumentException("Option '--collect' was empty; expected a directory written by `sweep --emit`.", "collect");
        string dir = Path.GetFullPath(directory);
        string config = Path.Combine(dir, "config.json");
        if (!File.Exists(config))
            throw new FileNotFoundException($"Option '--collect' names '{dir}', which has no config.json; expected a directory written by `curvature sweep --emit`.", config);
        // A train run's or an in-process sweep's folder is never collected into (collect would overwrite its files).
        if (!File.Exists(Path.Combine(dir, JobsFile)))
            throw new ArgumentException($"Option '--collect' names '{dir}', which has no {JobsFile}; expected a directory written by `curvature sweep --emit`.", "collect");
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
            var expected = CellSpec(spec, cell, cellDir) with { CheckpointEvery = DefaultCheckpointEvery(spec) };
            var state = Inspect(cellDir, expected, out var s, out var metrics);
            if (state.Length == 0)
            {
                rows.Add(FinishedRow(cell, ospec, o, s!, metrics!, target));
                continue;
            }
            rows.Add(new SweepRow(cell.Point, cell.Seed, cell.Name, ospec, o, RunSummary.Missing(cell.Name, ospec, o.LearningRate), null, [], Missing: true)
            {
                Damage = state.StartsWith("damaged", StringComparison.Ordinal) ? state : null,
            });
            progress?.Message($"{cell.Name}: {state}");
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

    /// <summary>The row of a cell whose directory holds its finished run (<paramref name="summary"/> and <paramref name="metrics"/> read from it).</summary>
    internal static SweepRow FinishedRow(SweepCell cell, OptimizerSpec ospec, RunSpec run, TrainingSummary summary, IReadOnlyList<MetricsRow> metrics, double target)
    {
        var s = RunDirectory.Summarize(summary, metrics, cell.Name, ospec, run.LearningRate).WithTarget(target, metrics) with { Name = cell.Name };
        return new SweepRow(cell.Point, cell.Seed, cell.Name, ospec, run, s, s.Diverged ? s.StoppedAt : null, metrics);
    }

    /// <summary>
    /// Verifies one cell: "" when it holds a finished run of its own spec (then <paramref name="summary"/> and
    /// <paramref name="metrics"/> are its files), else why it is missing ("missing (…)") or damaged ("damaged (…); …").
    /// </summary>
    static string Inspect(string cellDir, TrainSpec expected, out TrainingSummary? summary, out IReadOnlyList<MetricsRow>? metrics)
    {
        summary = null;
        metrics = null;
        if (!Directory.Exists(cellDir)) return "missing (no run directory)";
        DirectoryLock held;
        try { held = DirectoryLock.Acquire(cellDir, "collect"); }
        catch (IOException e) { return $"missing (being written: {e.Message.TrimEnd('.')})"; }
        using (held)
        {
            var state = RunDirectory.Check(cellDir, expected.Run, out summary, out metrics, out string? damage);
            if (state is RunState.Damaged or RunState.Absent) return Quarantine(cellDir, expected, damage!);
            if (state is RunState.Finished) return "";
            var status = File.Exists(Path.Combine(cellDir, TrainingRun.SummaryFile)) ? RunDirectory.Summary(cellDir).Status.ToString().ToLowerInvariant() : "no finished run";
            return $"missing ({status})";
        }
    }

    /// <summary>Moves a damaged cell's files into a damaged-… folder inside it and writes its config.json afresh, so its job starts it again.</summary>
    static string Quarantine(string cellDir, TrainSpec expected, string damage)
    {
        string aside = Path.Combine(cellDir, "damaged-" + DateTime.UtcNow.ToString("yyyyMMddTHHmmssfff", CultureInfo.InvariantCulture));
        Directory.CreateDirectory(aside);
        foreach (var file in Directory.GetFiles(cellDir).Where(f => Path.GetFileName(f) != DirectoryLock.FileName))
            File.Move(file, Path.Combine(aside, Path.GetFileName(file)));
        RunJson.Save(Path.Combine(cellDir, TrainingRun.ConfigFile), expected);
        return $"damaged ({damage}); its files were moved to {aside} and the next run of {JobsFile} trains it again";
    }
}

/// <summary>Settings of the emitted Slurm scripts.</summary>
/// <param name="Time">#SBATCH --time (e.g. 02:00:00), or none (the partition's default).</param>
/// <param name="Memory">#SBATCH --mem (e.g. 4G), or none.</param>
/// <param name="MaxArraySize">The cluster's MaxArraySize (slurm.conf; default 1001): array indices stay below it, a larger grid is split.</param>
public sealed record SlurmOptions(string? Time = null, string? Memory = null, int MaxArraySize = 1001)
{
    /// <summary>Checks the values that go into #SBATCH lines; messages name the option.</summary>
    public void Validate()
    {
        if (MaxArraySize < 2)
            throw new ArgumentOutOfRangeException("slurm-max-array", $"Option '--slurm-max-array' was {MaxArraySize}; expected the cluster's MaxArraySize, at least 2.");
        if (Time is not null && !System.Text.RegularExpressions.Regex.IsMatch(Time, @"^[0-9]+([-:][0-9]+){0,3}$"))
            throw new ArgumentException($"Option '--slurm-time' was '{Time}'; expected a Slurm time such as 30, 02:00:00 or 1-12:00:00.", "slurm-time");
        if (Memory is not null && !System.Text.RegularExpressions.Regex.IsMatch(Memory, @"^[0-9]+[KMGT]?$"))
            throw new ArgumentException($"Option '--slurm-mem' was '{Memory}'; expected a Slurm memory size such as 4000, 4G or 512M.", "slurm-mem");
    }
}

using System.Diagnostics;
using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using Curvature.Optimizers;
using Curvature.Spectral;

namespace Curvature.Experiments;

/// <summary>What spectrum measured, as written to its summary.json.</summary>
public sealed record SpectrumSummary
{
    /// <summary>H, G, F, EF, Σ, Fisher or K-FAC.</summary>
    public required string Operator { get; init; }
    /// <summary>The θ file.</summary>
    public required string Theta { get; init; }
    /// <summary>The checkpoint's step, or null for a .npy θ.</summary>
    public long? Step { get; init; }
    /// <summary>Length of θ.</summary>
    public required int Parameters { get; init; }
    /// <summary>Examples the curvature was measured on.</summary>
    public required int Examples { get; init; }
    /// <summary>Top-k eigenvalues, largest first.</summary>
    public required double[] Eigenvalues { get; init; }
    /// <summary>‖Av − λv‖ of each pair.</summary>
    public required double[] Residuals { get; init; }
    /// <summary>Whether each pair met the tolerance.</summary>
    public required bool[] Converged { get; init; }
    /// <summary>The top-k eigensolver (<c>--solver</c>): block-lanczos, lanczos, lobpcg or power.</summary>
    public required EigenSolver Solver { get; init; }
    /// <summary>Operator applications of the top-k solve.</summary>
    public required int LanczosMatvecs { get; init; }
    /// <summary>Whether the solver ruled out a more wanted eigenvalue missing from the set (<see cref="EigenResult.Certified"/>).</summary>
    public required bool Certified { get; init; }
    /// <summary>Why the set is or is not certified, in the solver's words (<see cref="EigenResult.Certificate"/>).</summary>
    public required string Certificate { get; init; }
    /// <summary>Gaussian width σ of the smoothed density.</summary>
    public required double DensitySigma { get; init; }
    /// <summary>SLQ probes.</summary>
    public required int DensityProbes { get; init; }
    /// <summary>Lanczos steps per probe.</summary>
    public required int DensitySteps { get; init; }
    /// <summary>Operator applications of the density.</summary>
    public required int DensityMatvecs { get; init; }
    /// <summary>Wall-clock seconds of the top-k eigensolve alone (operator construction included, density excluded).</summary>
    public required double EigenSeconds { get; init; }
    /// <summary>Operator applications of the top-k eigensolve (a block of b counts b); the same count as <see cref="LanczosMatvecs"/>, under the name every solver uses.</summary>
    public required int EigenMatvecs { get; init; }
    /// <summary>Wall-clock seconds of the spectral density alone.</summary>
    public required double DensitySeconds { get; init; }
    /// <summary>Smallest quadrature node.</summary>
    public required double LowestNode { get; init; }
    /// <summary>Largest quadrature node.</summary>
    public required double HighestNode { get; init; }
    /// <summary>η of the run, for the 2/η line.</summary>
    public double? LearningRate { get; init; }
    /// <summary>Wall-clock seconds.</summary>
    public required double Seconds { get; init; }
}

/// <summary>What `curvature spectrum` measures: the top-k and spectral density of H, G or F at one θ.</summary>
public sealed record SpectrumSpec
{
    /// <summary>The format of this config.json (<see cref="RunJson.ConfigFormat"/>); absent in files of format 1.</summary>
    public int Format { get; init; } = RunJson.ConfigFormat;

    /// <summary>Network, loss, data, k, Hessian batch, seed and threads (the other fields are not used).</summary>
    public RunSpec Run { get; init; } = new();

    /// <summary>θ from a checkpoint (<c>--checkpoint</c>); exactly one of this and <see cref="Theta"/>.</summary>
    public string? Checkpoint { get; init; }

    /// <summary>θ as a float64 .npy vector (<c>--theta</c>).</summary>
    public string? Theta { get; init; }

    /// <summary>h, g, f, ef, cov, fisher or kfac (<c>--curvature</c>; <c>--operator</c> is a hidden old spelling).</summary>
    public CurvatureKind Operator { get; init; } = CurvatureKind.Hessian;

    /// <summary>Solver tolerance and density quadrature.</summary>
    public AnalysisOptions Analysis { get; init; } = new() { DensityProbes = 8, DensitySteps = 80 };

    /// <summary>Output directory (<c>--out</c>).</summary>
    public string Out { get; init; } = "runs/spectrum";

    /// <summary>Where the network and data came from, for the report.</summary>
    public string Source { get; init; } = "command line and defaults";

    /// <summary>Validates; messages name the option.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Run);
        if ((Checkpoint is null) == (Theta is null))
            throw new ArgumentException(Checkpoint is null
                ? "Options '--checkpoint' and '--theta' are both missing; expected exactly one source of θ."
                : $"Options '--checkpoint' ('{Checkpoint}') and '--theta' ('{Theta}') were both given; expected exactly one.", "theta");
        if (Run.K < 1) throw new ArgumentOutOfRangeException("k", $"Option '--k' was {Run.K}; expected a positive integer below the parameter count.");
        Analysis.Validate();
        if (string.IsNullOrWhiteSpace(Out)) throw new ArgumentException("Option '--out' was empty; expected an output directory.", "out");
    }
}

/// <summary>What spectrum measured, in memory.</summary>
/// <param name="Spec">What was measured.</param>
/// <param name="Problem">The loaded network and data.</param>
/// <param name="Top">The top-k eigenpairs.</param>
/// <param name="Curve">The spectral density.</param>
/// <param name="Summary">The summary (summary.json).</param>
public sealed record SpectrumResult(SpectrumSpec Spec, Problem Problem, EigenResult Top, DensityCurve Curve, SpectrumSummary Summary);

/// <summary>
/// `curvature spectrum`: the top-k eigenpairs of H, G or F at one θ (thick-restart Lanczos)
/// and the operator's spectral density (stochastic Lanczos quadrature).
/// </summary>
public static class SpectrumExperiment
{
    /// <summary>Measures and writes.</summary>
    public static SpectrumResult Run(SpectrumSpec spec, IProgressSink? progress = null)
    {
        var r = Measure(spec, progress);
        Write(r);
        return r;
    }

    /// <summary>Loads θ, computes the top-k and the density; touches no file.</summary>
    public static SpectrumResult Measure(SpectrumSpec spec, IProgressSink? progress = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        progress ??= NullProgress.Instance;
        var clock = Stopwatch.StartNew();
        var kind = spec.Operator;
        string option = spec.Checkpoint is null ? "theta" : "checkpoint";
        var theta = ThetaSource.Load(spec.Checkpoint ?? spec.Theta!, option, spec.Run.Network());
        var problem = Problem.Load(spec.Run, withTest: false);
        ThetaSource.Check(theta, problem.ParameterCount, problem.Model.Spec, option);
        int k = spec.Run.K;
        problem.CheckK(k);
        problem.CheckCurvature(kind);
        var examples = problem.CurvatureExamples(allByDefault: true);
        ulong seed = spec.Run.Seed;
        progress.Report("top-k", 0, 0, 2, double.NaN, double.NaN);
        var eigenClock = Stopwatch.StartNew();
        var top = CurvatureAnalysis.TopK(problem.TrainObjective, kind, theta.Theta, examples, k, seed, spec.Analysis.Tolerance, spec.Run.Solver);
        double eigenSeconds = eigenClock.Elapsed.TotalSeconds;
        progress.Report("density", 1, 1, 2, double.NaN, top.Values[0]);
        var densityClock = Stopwatch.StartNew();
        var op = problem.TrainObjective.CurvatureOperator(kind, theta.Theta, examples);
        var curve = CurvatureAnalysis.Density(op, spec.Analysis.DensitySteps, spec.Analysis.DensityProbes, seed + 1);
        progress.Report("density", 2, 2, 2, double.NaN, top.Values[0]);
        var summary = new SpectrumSummary
        {
            Operator = CurvatureAnalysis.Letter(kind),
            Solver = spec.Run.Solver,
            Theta = theta.Path,
            Step = theta.Step,
            Parameters = problem.ParameterCount,
            Examples = examples?.Length ?? problem.Train.Count,
            Eigenvalues = top.Values.AsSpan(0, k).ToArray(),
            Residuals = top.Residuals.AsSpan(0, k).ToArray(),
            Converged = top.Converged.AsSpan(0, k).ToArray(),
            LanczosMatvecs = top.Matvecs,
            Certified = top.Certified,
            Certificate = top.Certificate,
            DensitySigma = curve.Sigma,
            DensityProbes = curve.Probes,
            DensitySteps = curve.LanczosSteps,
            DensityMatvecs = curve.Matvecs,
            EigenSeconds = eigenSeconds,
            EigenMatvecs = top.Matvecs,
            DensitySeconds = densityClock.Elapsed.TotalSeconds,
            LowestNode = curve.LowestNode,
            HighestNode = curve.HighestNode,
            LearningRate = spec.Run.LearningRate,
            Seconds = clock.Elapsed.TotalSeconds,
        };
        return new SpectrumResult(spec, problem, top, curve, summary);
    }

    /// <summary>Writes config.json, eigenvalues.csv, eigenvectors.npy, density.csv, report.md and summary.json.</summary>
    public static void Write(SpectrumResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var spec = result.Spec;
        string outDir = Path.GetFullPath(spec.Out);
        Directory.CreateDirectory(outDir);
        RunJson.Save(Path.Combine(outDir, "config.json"), spec);
        int k = spec.Run.K, n = result.Problem.ParameterCount;
        var top = result.Top;
        var eig = new CsvTable(["index", "eigenvalue", "residual", "converged"]);
        for (int j = 0; j < k; j++) eig.AddRow(j + 1, top.Values[j], top.Residuals[j], top.Converged[j] ? 1 : 0);
        eig.Save(Path.Combine(outDir, "eigenvalues.csv"));
        Npy.Write(Path.Combine(outDir, "eigenvectors.npy"), top.Vectors.AsSpan(0, k * n), k, n);
        var dens = new CsvTable(["lambda", "density"]);
        for (int i = 0; i < result.Curve.Grid.Length; i++) dens.AddRow(result.Curve.Grid[i], result.Curve.Density[i]);
        dens.Save(Path.Combine(outDir, "density.csv"));
        SpectrumReport.Write(outDir, spec, result.Problem, result.Summary, result.Curve);
        RunJson.Save(Path.Combine(outDir, "summary.json"), result.Summary);
    }
}

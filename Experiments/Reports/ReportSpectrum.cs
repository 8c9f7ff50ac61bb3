using System.Globalization;
using Curvature.Models;
using Curvature.Optimizers;
using Curvature.Spectral;

namespace Curvature.Experiments;

/// <summary>The figures and report.md of `curvature spectrum`.</summary>
public static class SpectrumReport
{
    /// <summary>Writes spectrum's figures and report.md into <paramref name="outDir"/>.</summary>
    public static void Write(string outDir, SpectrumSpec spec, Problem problem, SpectrumSummary s, DensityCurve curve)
    {
        string a = s.Operator;
        var report = new ReportWriter($"Curvature spectrum: {a} of {problem.Model.Spec} {spec.Run.Activation.Name()}, {spec.Run.Loss.Name()}, {spec.Run.Data}");
        report.Paragraph($"θ from `{s.Theta}`{(s.Step is long st ? $" (step {st})" : "")}; the network, loss and data from the {spec.Source}. "
            + $"{a} is the {(a == "H" ? "Hessian" : a == "G" ? "Gauss–Newton matrix" : "functional Hessian F = H − G")} of the mean training loss over {s.Examples} examples.");
        report.Code("curvature spectrum --config config.json");
        var references = s.LearningRate is double lr ? new List<ReferenceLine> { new($"2/η = {ReportWriter.Num(2 / lr)} (η of the run)", 2 / lr) } : [];

        report.Heading($"Top-{s.Eigenvalues.Length} eigenvalues");
        report.Paragraph($"Top-{s.Eigenvalues.Length} by {SolverText(s.Solver)}, {s.LanczosMatvecs} products with {a}; {s.Converged.Count(c => c)} of {s.Converged.Length} pairs converged to the tolerance. "
            + $"The set is {(s.Certified ? "certified" : "not certified")}: {s.Certificate}");
        report.Table(["i", "λᵢ", "residual ‖Av − λv‖", "converged"], s.Eigenvalues.Select((v, i) => (IReadOnlyList<string>)
            [(i + 1).ToString(CultureInfo.InvariantCulture), ReportWriter.Num(v), ReportWriter.Num(s.Residuals[i]), s.Converged[i] ? "yes" : "no"]));
        var idx = Enumerable.Range(1, s.Eigenvalues.Length).Select(i => (double)i).ToArray();
        Plots.Lines(Path.Combine(outDir, "topk.png"), $"Top-{s.Eigenvalues.Length} eigenvalues of {a}", "index i", "λᵢ",
            [new PlotSeries($"λᵢ({a})", idx, s.Eigenvalues)], references: references, markers: true);
        report.Figure("topk.png", $"The top-{s.Eigenvalues.Length} eigenvalues of {a}" + (s.LearningRate is double eta ? $", with the run's stability threshold 2/η = {ReportWriter.Num(2 / eta)} dashed." : "."));

        report.Heading("Spectral density");
        Plots.Lines(Path.Combine(outDir, "density.png"), $"Spectral density of {a} (stochastic Lanczos quadrature)", "eigenvalue", "density (log scale)",
            [new PlotSeries(a, curve.Grid, CompareReport.Floor(curve.Density))], logY: true);
        report.Figure("density.png", $"Density of the eigenvalues of {a}: {s.DensityProbes} Rademacher probes × {s.DensitySteps} Lanczos steps "
            + $"({s.DensityMatvecs} products), Gaussian width σ = {ReportWriter.Num(s.DensitySigma)}, extreme Ritz values [{ReportWriter.Num(s.LowestNode)}, {ReportWriter.Num(s.HighestNode)}]; "
            + "values below 10⁻⁷ of the peak are drawn at that floor.");

        report.Heading("Files");
        report.Bullets(["`eigenvalues.csv`: index, eigenvalue, residual, converged", "`eigenvectors.npy`: k×n float64, one eigenvector per row",
            "`density.csv`: grid and density", "`summary.json`, `config.json`"]);
        report.Save(Path.Combine(outDir, "report.md"));
    }

    static string SolverText(EigenSolver solver) => solver switch
    {
        EigenSolver.BlockLanczos => "thick-restart block Lanczos",
        EigenSolver.Lanczos => "thick-restart Lanczos",
        EigenSolver.Lobpcg => "LOBPCG",
        _ => "power iteration with deflation",
    };
}

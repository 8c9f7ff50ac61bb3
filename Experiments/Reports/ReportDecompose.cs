using System.Globalization;
using Curvature.Models;

namespace Curvature.Experiments;

/// <summary>The decomposition figures and table (shared by compare and decompose) and decompose's report.md.</summary>
public static class DecomposeReport
{
    /// <summary>Adds energy.png, trace_share.png, split.png and the decomposition table to <paramref name="report"/>.</summary>
    public static void AddDecomposition(ReportWriter report, string outDir, IReadOnlyList<DecompositionRow> d, int k, string along,
        NormMethod method, int probes)
    {
        var x = d.Select(r => (double)r.Step).ToArray();
        Plots.Lines(Path.Combine(outDir, "energy.png"), $"Curvature energy inside the top-{k} subspace of H", "step", "‖UᵀAU‖² / ‖A‖² (Frobenius)",
        [
            new PlotSeries("A = H", x, d.Select(r => r.HEnergy).ToArray()),
            new PlotSeries("A = G", x, d.Select(r => r.GEnergy).ToArray()),
            new PlotSeries("A = F", x, d.Select(r => r.FEnergy).ToArray()),
        ], markers: true);
        report.Figure("energy.png", $"Share of the squared Frobenius norm of H, G and F inside the dominant subspace U of H {along}.");

        Plots.Lines(Path.Combine(outDir, "trace_share.png"), $"Trace share inside the top-{k} subspace of H", "step", "tr(UᵀAU) / tr(A)",
        [
            new PlotSeries("A = H", x, d.Select(r => r.HTraceShare).ToArray()),
            new PlotSeries("A = G", x, d.Select(r => r.GTraceShare).ToArray()),
        ], markers: true);
        report.Figure("trace_share.png", $"Share of the trace of H and G inside U {along} (F is left out: its trace is a small difference of large terms, so the ratio is erratic; see the table).");

        var last = d[^1];
        Plots.StackedShares(Path.Combine(outDir, "split.png"), $"Where the curvature lives at step {last.Step}", "share of ‖A‖² (Frobenius), %", ["H", "G", "F"],
        [
            ("dominant ‖PAP‖²", [last.HEnergy, last.GEnergy, last.FEnergy]),
            ("cross 2‖P⊥AP‖²", [last.HCross, last.GCross, last.FCross]),
            ("bulk ‖P⊥AP⊥‖²", [last.HBulk, last.GBulk, last.FBulk]),
        ]);
        report.Figure("split.png", $"‖A‖²_F of H, G and F split into the dominant block, the cross terms and the bulk block at step {last.Step} (P = UUᵀ projects onto U), as a 100% stacked bar.");

        report.Heading("Curvature decomposition");
        report.Paragraph($"U is the top-{k} eigenvectors of H at each step (Lanczos). The inside terms ‖UᵀAU‖²_F and tr(UᵀAU) are exact; the totals ‖A‖²_F and tr(A) are "
            + (method == NormMethod.Dense
                ? "exact, from the dense matrices (one product per parameter)."
                : $"Hutchinson estimates with {probes} Rademacher probes on the complement of U (the part in U exact); standard errors of the energy shares are in energy.csv.")
            + " \"G/H inside\" is ‖UᵀGU‖²_F / ‖UᵀHU‖²_F. The trace share of F is tr(UᵀFU)/tr(F), where tr F is a small difference of positive and negative curvature, so it swings widely.");
        report.Table(["step", "λ₁", $"λ{k}", "energy H", "energy G", "energy F", "bulk share F", "trace share H", "trace share G", "trace share F", "G/H inside"],
            d.Select(r => (IReadOnlyList<string>)
            [
                r.Step.ToString(CultureInfo.InvariantCulture), ReportWriter.Num(r.Eigenvalues[0]), ReportWriter.Num(r.Eigenvalues[^1]),
                WithError(r.HEnergy, r.HEnergyError), WithError(r.GEnergy, r.GEnergyError), WithError(r.FEnergy, r.FEnergyError), ReportWriter.Num(r.FBulk),
                ReportWriter.Num(r.HTraceShare), ReportWriter.Num(r.GTraceShare), ReportWriter.Num(r.FTraceShare), ReportWriter.Num(r.GOverHInside),
            ]));
    }

    static string WithError(double v, double se) => se > 0 && double.IsFinite(se) ? $"{ReportWriter.Num(v)} ± {ReportWriter.Num(se)}" : ReportWriter.Num(v);

    /// <summary>Writes decompose's figures and report.md into <paramref name="outDir"/>.</summary>
    public static void Write(string outDir, DecomposeSpec spec, Problem problem, DecomposeSummary s, AnalysisOptions analysis, NormMethod method)
    {
        var report = new ReportWriter($"Curvature decompose: H = G + F of {problem.Model.Spec} {spec.Run.Activation.Name()}, {spec.Run.Loss.Name()}, {spec.Run.Data}");
        report.Paragraph($"How much of the Hessian H, the Gauss–Newton matrix G and the functional Hessian F = H − G lies in the dominant subspace U "
            + $"(top-{s.K} eigenvectors of H), at {s.Rows.Count} parameter vectors: {s.Source}. The network, loss and data come from the {spec.Source}; "
            + $"the curvature is measured on {s.Examples} examples.");
        report.Code("curvature decompose --config config.json");
        report.Table(["θ", "step", "file"], s.Inputs.Select((p, i) => (IReadOnlyList<string>)
            [(i + 1).ToString(CultureInfo.InvariantCulture), s.StepLabel(i)["step ".Length..], p]));
        AddDecomposition(report, outDir, s.Rows, s.K, "at each θ", method, analysis.Probes);
        report.Heading("Files");
        report.Bullets(["`energy.csv`: one row per θ (energy, cross and bulk shares, trace shares, totals, standard errors)", "`summary.json`, `config.json`"]);
        report.Save(Path.Combine(outDir, "report.md"));
    }
}

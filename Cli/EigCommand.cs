using System.ComponentModel;
using System.Globalization;
using Curvature.Core;
using Curvature.Experiments;
using Curvature.Optimizers;
using Curvature.Spectral;
using Spectre.Console.Cli;

namespace Curvature.Cli;

/// <summary>
/// `curvature eig`: k eigenpairs of a dense symmetric matrix read from .npy, by Lanczos,
/// LOBPCG or power iteration. Writes eigenvalues.npy [k], eigenvectors.npy [k, n] (row j is
/// the eigenvector of eigenvalue j, as spectrum writes them), residuals.npy [k] and result.json
/// (snake_case, <see cref="RunJson"/>).
/// </summary>
internal sealed class EigCommand : Command<EigCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--matrix <PATH>")]
        [Description("Symmetric n x n float64 matrix (.npy).")]
        public string? Matrix { get; init; }

        [CommandOption("-k <K>")]
        [Description("Number of eigenpairs, 1 <= k < n; spelled --k or -k.")]
        [DefaultValue(6)]
        public int K { get; init; } = 6;

        [CommandOption("--top-k <K>", IsHidden = true)]
        [Description("Old spelling of --k.")]
        public int? TopK { get; init; }

        [CommandOption("--which <WHICH>")]
        [Description("la (largest algebraic), lm (largest magnitude) or sa (smallest algebraic).")]
        [DefaultValue("la")]
        public string Which { get; init; } = "la";

        [CommandOption("--solver <SOLVER>")]
        [Description("block-lanczos, lanczos, lobpcg or power.")]
        [DefaultValue("block-lanczos")]
        public string Solver { get; init; } = "block-lanczos";

        [CommandOption("--tolerance <T>")]
        [Description("Relative residual tolerance: |Av - lv| <= T max(|l|, floor).")]
        [DefaultValue(1e-8)]
        public double Tolerance { get; init; } = 1e-8;

        [CommandOption("--tol <T>", IsHidden = true)]
        [Description("Old spelling of --tolerance.")]
        public double? Tol { get; init; }

        [CommandOption("--seed <S>")]
        [Description("Seed of the random start.")]
        [DefaultValue(0UL)]
        public ulong Seed { get; init; }

        [CommandOption("--out <DIR>")]
        [Description("Output directory (created if missing).")]
        public string? Out { get; init; }

        [CommandOption("--threads <N>")]
        [Description("Threads of the BLAS facade (0: all cores); results do not depend on it.")]
        public int Threads { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(settings.Matrix))
            throw new ArgumentException("Option '--matrix' is missing; expected the path of a symmetric n x n float64 .npy file.");
        if (string.IsNullOrWhiteSpace(settings.Out))
            throw new ArgumentException("Option '--out' is missing; expected an output directory.");
        var which = settings.Which.ToLowerInvariant() switch
        {
            "la" => Which.LargestAlgebraic,
            "lm" => Which.LargestMagnitude,
            "sa" => Which.SmallestAlgebraic,
            _ => throw new ArgumentException($"Option '--which' was '{settings.Which}'; expected la, lm or sa."),
        };
        var solverKind = Eigensolver.Parse(settings.Solver.Trim().ToLowerInvariant(), "--solver");
        double tolerance = settings.Tol ?? settings.Tolerance;
        int k = settings.TopK ?? settings.K;
        string solver = Eigensolver.Name(solverKind);
        if (!(tolerance > 0) || !double.IsFinite(tolerance))
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Option '--tolerance' was {tolerance:R}; expected a positive finite number."));

        if (settings.Threads < 0 || settings.Threads > Models.ObjectiveOptions.MaxThreads)
            throw new ArgumentException($"Option '--threads' was {settings.Threads}; expected 0 (all cores) or a count up to {Models.ObjectiveOptions.MaxThreads}.");
        using var threads = Blas.UseThreads(settings.Threads > 0 ? settings.Threads : Environment.ProcessorCount);
        var matrix = Npy.ReadMatrix(settings.Matrix);
        if (matrix.Rows != matrix.Cols || matrix.Rows < 2)
            throw new ArgumentException($"Option '--matrix' ({settings.Matrix}) holds a {matrix.Shape} array; expected a square n x n matrix with n >= 2.");
        int n = matrix.Rows;
        if (k < 1 || k >= n)
            throw new ArgumentException($"Option '--k' was {k}; expected 1 <= k < n = {n}.");
        DenseOperator op;
        try
        {
            op = new DenseOperator(matrix);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"Option '--matrix' ({settings.Matrix}): {e.Message}");
        }

        var result = Eigensolver.TopK(op, k, solverKind, new EigenOptions { Which = which, Tolerance = tolerance, Seed = settings.Seed });

        Directory.CreateDirectory(settings.Out);
        var rows = new double[k * n];
        for (int j = 0; j < k; j++) result.Vector(j).CopyTo(rows.AsSpan(j * n, n));
        Npy.Write(Path.Combine(settings.Out, "eigenvalues.npy"), result.Values, k);
        Npy.Write(Path.Combine(settings.Out, "eigenvectors.npy"), rows, k, n);
        Npy.Write(Path.Combine(settings.Out, "residuals.npy"), result.Residuals, k);
        var summary = new
        {
            solver,
            which = settings.Which.ToLowerInvariant(),
            n,
            k,
            tolerance,
            seed = settings.Seed,
            matvecs = result.Matvecs,
            iterations = result.Iterations,
            AllConverged = result.AllConverged,
            certified = result.Certified,
            certificate = result.Certificate,
            converged = result.Converged,
            eigenvalues = result.Values,
            residuals = result.Residuals,
        };
        RunJson.Save(Path.Combine(settings.Out, "result.json"), summary);

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{solver} {summary.which} k={k} n={n}: {result.Matvecs} matvecs, {result.Iterations} iterations"));
        for (int j = 0; j < k; j++)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {j,3}  {Value(result.Values[j]),24}  residual {result.Residuals[j]:0.00e+00}  {(result.Converged[j] ? "converged" : "NOT converged")}"));
        if (!result.AllConverged)
            Console.WriteLine($"warning: {result.Converged.Count(c => !c)} of {k} pairs did not reach --tolerance; they are flagged in result.json.");
        return 0;
    }

    /// <summary>λ to its full precision: plain between 10⁻⁴ and 10⁶, else as d.ddd…e±xx (never .NET's 1E-012 form).</summary>
    static string Value(double v)
    {
        double a = Math.Abs(v);
        return v == 0 || !double.IsFinite(v) || a is >= 1e-4 and < 1e6
            ? v.ToString("R", CultureInfo.InvariantCulture)
            : v.ToString("0.################e+00", CultureInfo.InvariantCulture);
    }
}

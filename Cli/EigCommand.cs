using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using Curvature.Core;
using Curvature.Spectral;
using Spectre.Console.Cli;

namespace Curvature.Cli;

/// <summary>
/// `curvature eig`: k eigenpairs of a dense symmetric matrix read from .npy, by Lanczos,
/// LOBPCG or power iteration. Writes eigenvalues.npy [k], eigenvectors.npy [n, k] (column
/// j is the eigenvector of eigenvalue j), residuals.npy [k] and result.json.
/// </summary>
public sealed class EigCommand : Command<EigCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--matrix <PATH>")]
        [Description("Symmetric n x n float64 matrix (.npy).")]
        public string? Matrix { get; init; }

        [CommandOption("-k|--top-k <K>")]
        [Description("Number of eigenpairs, 1 <= k < n (Spectre.Console.Cli rejects the one-letter long name --k).")]
        public int K { get; init; } = 6;

        [CommandOption("--which <WHICH>")]
        [Description("la (largest algebraic), lm (largest magnitude) or sa (smallest algebraic).")]
        public string Which { get; init; } = "la";

        [CommandOption("--solver <SOLVER>")]
        [Description("block-lanczos (default), lanczos, lobpcg or power.")]
        public string Solver { get; init; } = "block-lanczos";

        [CommandOption("--tol <T>")]
        [Description("Relative residual tolerance: |Av - lv| <= T max(|l|, floor).")]
        public double Tolerance { get; init; } = 1e-8;

        [CommandOption("--seed <S>")]
        [Description("Seed of the random start.")]
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
        var solverKind = Eigensolver.Parse(settings.Solver, "--solver");
        string solver = Eigensolver.Name(solverKind);
        if (!(settings.Tolerance > 0) || !double.IsFinite(settings.Tolerance))
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Option '--tol' was {settings.Tolerance:R}; expected a positive finite number."));

        if (settings.Threads < 0 || settings.Threads > Models.ObjectiveOptions.MaxThreads)
            throw new ArgumentException($"Option '--threads' was {settings.Threads}; expected 0 (all cores) or a count up to {Models.ObjectiveOptions.MaxThreads}.");
        using var threads = Blas.UseThreads(settings.Threads > 0 ? settings.Threads : Environment.ProcessorCount);
        var matrix = Npy.ReadMatrix(settings.Matrix);
        if (matrix.Rows != matrix.Cols || matrix.Rows < 2)
            throw new ArgumentException($"Option '--matrix' ({settings.Matrix}) holds a {matrix.Shape} array; expected a square n x n matrix with n >= 2.");
        int n = matrix.Rows;
        if (settings.K < 1 || settings.K >= n)
            throw new ArgumentException($"Option '-k|--top-k' was {settings.K}; expected 1 <= k < n = {n}.");
        DenseOperator op;
        try
        {
            op = new DenseOperator(matrix);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"Option '--matrix' ({settings.Matrix}): {e.Message}");
        }

        int k = settings.K;
        var result = Eigensolver.TopK(op, k, solverKind, new EigenOptions { Which = which, Tolerance = settings.Tolerance, Seed = settings.Seed });

        Directory.CreateDirectory(settings.Out);
        var columns = new double[n * k];
        for (int j = 0; j < k; j++)
        {
            var v = result.Vector(j);
            for (int i = 0; i < n; i++) columns[i * k + j] = v[i];
        }
        Npy.Write(Path.Combine(settings.Out, "eigenvalues.npy"), result.Values, k);
        Npy.Write(Path.Combine(settings.Out, "eigenvectors.npy"), columns, n, k);
        Npy.Write(Path.Combine(settings.Out, "residuals.npy"), result.Residuals, k);
        var summary = new
        {
            solver,
            which = settings.Which.ToLowerInvariant(),
            n,
            k,
            tolerance = settings.Tolerance,
            seed = settings.Seed,
            matvecs = result.Matvecs,
            iterations = result.Iterations,
            allConverged = result.AllConverged,
            certified = result.Certified,
            certificate = result.Certificate,
            converged = result.Converged,
            eigenvalues = result.Values,
            residuals = result.Residuals,
        };
        AtomicFile.WriteAllText(Path.Combine(settings.Out, "result.json"),
            JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true }) + "\n");

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{solver} {summary.which} k={k} n={n}: {result.Matvecs} matvecs, {result.Iterations} iterations"));
        for (int j = 0; j < k; j++)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {j,3}  {result.Values[j],24:R}  residual {result.Residuals[j]:E2}  {(result.Converged[j] ? "converged" : "NOT converged")}"));
        if (!result.AllConverged)
            Console.WriteLine($"warning: {result.Converged.Count(c => !c)} of {k} pairs did not reach --tol; they are flagged in result.json.");
        return 0;
    }
}

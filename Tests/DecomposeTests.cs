using Curvature.Core;
using Curvature.Experiments;
using Curvature.Spectral;
using FluentAssertions;
using MathNet.Numerics.LinearAlgebra;
using NUnit.Framework;

namespace Curvature.Tests;

public class DecomposeTests
{
    /// <summary>A dense symmetric matrix seen only through Apply, as the curvature operators are.</summary>
    sealed class DenseOperator(Matrix<double> a) : ILinearOperator
    {
        public int Size => a.RowCount;
        public int Applications { get; private set; }

        public void Apply(ReadOnlySpan<double> x, Span<double> y)
        {
            Applications++;
            var r = a * Vector<double>.Build.DenseOfArray(x.ToArray());
            r.AsArray().CopyTo(y);
        }
    }

    static Matrix<double> RandomSymmetric(int n, int seed, double[]? spectrum = null)
    {
        var rnd = new System.Random(seed);
        var g = Matrix<double>.Build.Dense(n, n, (_, _) => rnd.NextDouble() * 2 - 1);
        var q = g.QR().Q;
        var d = spectrum ?? Enumerable.Range(0, n).Select(_ => rnd.NextDouble() * 2 - 1).ToArray();
        return q * Matrix<double>.Build.DenseOfDiagonalArray(d) * q.Transpose();
    }

    /// <summary>The top-k eigenvectors (largest eigenvalues) as k rows of length n.</summary>
    static double[] TopEigenvectorRows(Matrix<double> a, int k)
    {
        var evd = a.Evd(Symmetricity.Symmetric);
        int n = a.RowCount;
        var order = Enumerable.Range(0, n).OrderByDescending(i => evd.EigenValues[i].Real).Take(k).ToArray();
        var rows = new double[k * n];
        for (int r = 0; r < k; r++)
            for (int j = 0; j < n; j++) rows[r * n + j] = evd.EigenVectors[j, order[r]];
        return rows;
    }

    [Test]
    public void Energy_of_a_matrix_in_its_own_top_k_eigenspace_is_the_top_k_squared_eigenvalues_over_all()
    {
        var spectrum = new[] { 9.0, 5.0, 3.0, 0.5, -0.4, 0.3, 0.2, -0.1, 0.05, 0.01 };
        var a = RandomSymmetric(10, 1, spectrum);
        var u = TopEigenvectorRows(a, 3);

        var share = CurvatureEnergy.Measure(new DenseOperator(a), u, 3, NormMethod.Dense);

        double top = 81 + 25 + 9, all = spectrum.Sum(l => l * l);
        share.EnergyShare.Should().BeApproximately(top / all, 1e-12);
        share.TraceShare.Should().BeApproximately(17.0 / spectrum.Sum(), 1e-12);
        share.CrossShare.Should().BeApproximately(0, 1e-12);
        share.BulkShare.Should().BeApproximately((all - top) / all, 1e-12);
    }

    [Test]
    public void Dense_energy_and_trace_in_an_arbitrary_subspace_match_the_dense_formulas()
    {
        int n = 12, k = 4;
        var a = RandomSymmetric(n, 2);
        var rnd = new System.Random(3);
        var q = Matrix<double>.Build.Dense(n, k, (_, _) => rnd.NextDouble() - 0.5).QR().Q.SubMatrix(0, n, 0, k);
        var rows = q.Transpose().ToRowMajorArray();

        var share = CurvatureEnergy.Measure(new DenseOperator(a), rows, k, NormMethod.Dense);

        var inside = q.Transpose() * a * q;
        var p = q * q.Transpose();
        var perp = Matrix<double>.Build.DenseIdentity(n) - p;
        double frob2 = Math.Pow(a.FrobeniusNorm(), 2);
        share.FrobeniusSquared.Should().BeApproximately(frob2, 1e-10);
        share.Trace.Should().BeApproximately(a.Trace(), 1e-12);
        share.EnergyShare.Should().BeApproximately(Math.Pow(inside.FrobeniusNorm(), 2) / frob2, 1e-12);
        share.TraceShare.Should().BeApproximately(inside.Trace() / a.Trace(), 1e-10);
        share.CrossShare.Should().BeApproximately(2 * Math.Pow((perp * a * p).FrobeniusNorm(), 2) / frob2, 1e-10);
        share.BulkShare.Should().BeApproximately(Math.Pow((perp * a * perp).FrobeniusNorm(), 2) / frob2, 1e-10);
    }

    [Test]
    public void Deflated_hutchinson_totals_agree_with_the_dense_ones_within_sampling_error()
    {
        int n = 40, k = 3;
        var spectrum = Enumerable.Range(0, n).Select(i => i < k ? 20.0 - 5 * i : 0.3 * Math.Sin(i)).ToArray();
        var a = RandomSymmetric(n, 4, spectrum);
        var u = TopEigenvectorRows(a, k);

        var est = CurvatureEnergy.Measure(new DenseOperator(a), u, k, NormMethod.Hutchinson, probes: 400, seed: 7);

        double frob2 = spectrum.Sum(l => l * l), bulkFrob2 = spectrum.Skip(k).Sum(l => l * l);
        // Only the bulk part is sampled, so the error scales with the bulk's size, not the whole.
        est.FrobeniusSquared.Should().BeApproximately(frob2, 0.2 * bulkFrob2);
        est.Trace.Should().BeApproximately(spectrum.Sum(), 0.5);
        est.EnergyShare.Should().BeApproximately((400 + 225 + 100) / frob2, 0.01);
        est.Probes.Should().Be(400);
    }

    [Test]
    public void Basis_of_the_wrong_length_is_rejected_naming_it()
    {
        var a = new DenseOperator(RandomSymmetric(5, 5));
        var act = () => CurvatureEnergy.Measure(a, new double[9], 2, NormMethod.Dense);
        act.Should().Throw<ArgumentException>().WithMessage("*basis*9*10*");
    }
}

public class DecomposeCommandTests
{
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-decompose-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void Decompose_matches_the_energy_of_dense_finite_difference_H_G_F_in_the_dense_top_k_of_H()
    {
        var (objective, theta, file) = SpectrumCommandTests.TinyTheta(_dir);
        string outDir = Path.Combine(_dir, "d");
        var (code, err) = CompareCommandTests.Run(["decompose", "--theta", file, "--hessian-batch", "0", "--arch", "4-8-3", "--act", "tanh", "--loss", "mse",
            "--data", "gmm:90:4:3:1", "--k", "3", "--norms", "dense", "--out", outDir]);
        err.Should().BeEmpty();
        code.Should().Be(0);

        var (h, g, f) = FiniteDifferenceCurvature.Build(objective, theta);
        var evd = h.Evd(Symmetricity.Symmetric);
        var order = Enumerable.Range(0, h.RowCount).OrderByDescending(i => evd.EigenValues[i].Real).Take(3).ToArray();
        var u = Matrix<double>.Build.Dense(h.RowCount, 3, (i, j) => evd.EigenVectors[i, order[j]]);
        double Energy(Matrix<double> a) => Math.Pow((u.Transpose() * a * u).FrobeniusNorm(), 2) / Math.Pow(a.FrobeniusNorm(), 2);
        double TraceShare(Matrix<double> a) => (u.Transpose() * a * u).Trace() / a.Trace();

        var row = CsvTable.Load(Path.Combine(outDir, "energy.csv"));
        row.RowCount.Should().Be(1);
        row[0, "h_energy"].Should().BeApproximately(Energy(h), 1e-6);
        row[0, "g_energy"].Should().BeApproximately(Energy(g), 1e-6);
        row[0, "f_energy"].Should().BeApproximately(Energy(f), 1e-6);
        row[0, "h_trace_share"].Should().BeApproximately(TraceShare(h), 1e-6);
        row[0, "g_trace_share"].Should().BeApproximately(TraceShare(g), 1e-6);
        row[0, "h_frobenius2"].Should().BeApproximately(Math.Pow(h.FrobeniusNorm(), 2), 1e-6 * Math.Pow(h.FrobeniusNorm(), 2));
        row[0, "f_trace"].Should().BeApproximately(f.Trace(), 1e-6 * (Math.Abs(h.Trace()) + Math.Abs(g.Trace())));
        row[0, "lambda_1"].Should().BeApproximately(evd.EigenValues[order[0]].Real, 1e-6);
    }

    [Test]
    public void Decompose_along_its_own_sgd_run_writes_one_row_per_point_and_the_figures()
    {
        string outDir = Path.Combine(_dir, "run");
        var (code, err) = CompareCommandTests.Run(["decompose", "--hessian-batch", "0", "--test-data", "none", "--arch", "4-8-3", "--data", "gmm:90:4:3:1", "--lr", "0.1",
            "--batch", "10", "--steps", "20", "--points", "3", "--k", "2", "--out", outDir]);
        err.Should().BeEmpty();
        code.Should().Be(0);
        CsvTable.Load(Path.Combine(outDir, "energy.csv")).Column("step").Should().Equal(0, 10, 20);
        foreach (var png in new[] { "energy.png", "trace_share.png", "split.png" })
            PlotTests.IsPng(Path.Combine(outDir, png)).Should().BeTrue();
        File.Exists(Path.Combine(outDir, "sgd", "metrics.csv")).Should().BeTrue();
        File.Exists(Path.Combine(outDir, "config.json")).Should().BeTrue();
        string report = File.ReadAllText(Path.Combine(outDir, "report.md"));
        report.Should().Contain("](energy.png)").And.Contain("](split.png)").And.Contain("exact, from the dense matrices");
    }

    [Test]
    public void Decompose_at_a_runs_theta_npz_reports_the_step_the_run_recorded_and_calls_it_a_theta_file()
    {
        string run = Path.Combine(_dir, "train");
        var (code, _, err) = CliProcess.Run(["train", "--arch", "4-8-3", "--data", "gmm:90:4:3:1", "--test-data", "none", "--lr", "0.1", "--batch", "10",
            "--steps", "15", "--hessian-batch", "0", "--save-theta", "--out", run]);
        err.Should().BeEmpty();
        code.Should().Be(0);
        string outDir = Path.Combine(_dir, "d");
        var (code2, stdout, err2) = CliProcess.Run(["decompose", "--theta", Path.Combine(run, "theta.npz"), "--hessian-batch", "0", "--k", "2", "--norms", "dense", "--out", outDir]);
        err2.Should().BeEmpty();
        code2.Should().Be(0);
        stdout.Should().Contain("energy in top-2 of H at step 15:");
        CsvTable.Load(Path.Combine(outDir, "energy.csv")).Column("step").Should().Equal(15);
        string report = File.ReadAllText(Path.Combine(outDir, "report.md"));
        report.Should().Contain("the 1 given θ files").And.NotContain(".npy vectors").And.Contain("| 1 | 15 |");
    }

    [Test]
    public void Decompose_at_a_theta_with_no_run_beside_it_says_the_step_is_unknown()
    {
        var (_, _, file) = SpectrumCommandTests.TinyTheta(_dir);
        string outDir = Path.Combine(_dir, "d");
        var (code, stdout, err) = CliProcess.Run(["decompose", "--theta", file, "--hessian-batch", "0", "--arch", "4-8-3", "--act", "tanh", "--loss", "mse",
            "--data", "gmm:90:4:3:1", "--k", "2", "--norms", "dense", "--out", outDir]);
        err.Should().BeEmpty();
        code.Should().Be(0);
        stdout.Should().Contain("energy in top-2 of H at theta.npy (step unknown):").And.NotContain("at step");
        File.ReadAllText(Path.Combine(outDir, "report.md")).Should().Contain("| 1 | unknown |");
    }
}

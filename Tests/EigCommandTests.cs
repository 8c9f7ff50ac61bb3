using System.Text.Json;
using Curvature.Core;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.SpectralFixtures;

namespace Curvature.Tests;

public class EigCommandTests
{
    string _dir = "";

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "curvature-eig-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    string WriteMatrix(MathNet.Numerics.LinearAlgebra.Matrix<double> a, string name = "A.npy")
    {
        string path = Path.Combine(_dir, name);
        Npy.Write(path, ToCore(a));
        return path;
    }

    [Test]
    public void Eig_prints_small_and_large_numbers_as_d_dd_e_minus_12_not_the_dotnet_E_minus_012_form()
    {
        var d = Linspace(1, 2, 12);
        d[0] = 3e7; d[1] = 2.5e-12; d[2] = -4e-9;
        string path = WriteMatrix(Similarity(d, 3));
        var (code, stdout, err) = CliProcess.Run(["eig", "--matrix", path, "-k", "11", "--which", "la", "--solver", "lanczos", "--out", Path.Combine(_dir, "fmt")]);
        code.Should().Be(0, err);
        var rows = stdout.Split('\n').Select(l => l.TrimEnd()).Where(l => l.Contains("residual")).ToList();
        rows.Should().HaveCount(11);
        foreach (var row in rows)
            row.Should().MatchRegex(@"^\s+\d+\s+-?\d+(\.\d+)?(e[-+]\d\d)?\s+residual \d\.\d\de[-+]\d\d\s+(NOT )?converged$").And.NotContain("E");
        rows[0].Should().MatchRegex(@"\s3(\.0*\d*)?e\+07\s");
    }

    [TestCase("lanczos", "la")]
    [TestCase("lobpcg", "sa")]
    [TestCase("power", "lm")]
    public void Eig_writes_eigenvalues_eigenvectors_residuals_and_a_json_summary(string solver, string which)
    {
        var d = Linspace(-2, 1, 40);
        d[0] = 3; d[1] = -2.8; d[2] = 2.5; d[3] = -2.4;
        var a = Similarity(d, 2);
        string path = WriteMatrix(a);
        string outDir = Path.Combine(_dir, "out");
        var (code, _, err) = CliProcess.Run(["eig", "--matrix", path, "-k", "3", "--which", which, "--solver", solver,
            "--tolerance", "1e-10", "--seed", "4", "--out", outDir]);
        code.Should().Be(0, err);

        var values = Npy.ReadVector(Path.Combine(outDir, "eigenvalues.npy"));
        var vectors = Npy.Read(Path.Combine(outDir, "eigenvectors.npy"));
        var residuals = Npy.ReadVector(Path.Combine(outDir, "residuals.npy"));
        vectors.Shape.Should().Equal(3, 40);
        residuals.Should().HaveCount(3);
        var w = which switch { "la" => Spectral.Which.LargestAlgebraic, "sa" => Spectral.Which.SmallestAlgebraic, _ => Spectral.Which.LargestMagnitude };
        var expected = Expected(DenseEigenvalues(a), 3, w);
        for (int j = 0; j < 3; j++)
        {
            values[j].Should().BeApproximately(expected[j], 1e-10);
            // One eigenvector per row, k × n, as spectrum writes them.
            var row = vectors.Float64!.AsSpan(j * 40, 40).ToArray();
            double res = TrueResidual(a, row, values[j]);
            residuals[j].Should().BeApproximately(res, 1e-12);
            res.Should().BeLessThan(1e-9);
        }

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "result.json")));
        var root = json.RootElement;
        root.GetProperty("solver").GetString().Should().Be(solver);
        root.GetProperty("all_converged").GetBoolean().Should().BeTrue();
        root.GetProperty("converged").EnumerateArray().Select(e => e.GetBoolean()).Should().Equal(true, true, true);
        root.GetProperty("matvecs").GetInt32().Should().BePositive();
        root.GetProperty("iterations").GetInt32().Should().BeGreaterThanOrEqualTo(0);
        Directory.GetFiles(outDir).Select(Path.GetFileName).Should()
            .BeEquivalentTo("eigenvalues.npy", "eigenvectors.npy", "residuals.npy", "result.json");
    }

    [Test]
    public void Invalid_options_fail_with_one_line_naming_the_option()
    {
        string path = WriteMatrix(Similarity(Linspace(0, 1, 10), 3));
        string outDir = Path.Combine(_dir, "out");
        (int code, string line) Run(params string[] args)
        {
            var r = CliProcess.Run(args);
            return (r.Code, r.Stderr.TrimEnd());
        }

        var r = Run("eig", "--matrix", path, "--top-k", "10", "--out", outDir);
        r.code.Should().NotBe(0);
        r.line.Should().Contain("'--k' was 10").And.Contain("1 <= k < n = 10").And.NotContain("\n");
        Run("eig", "--matrix", path, "--which", "big", "--out", outDir).line.Should().Contain("'--which' was 'big'; expected la, lm or sa");
        Run("eig", "--matrix", path, "--solver", "arpack", "--out", outDir).line.Should().Contain("'--solver' was 'arpack'");
        Run("eig", "--matrix", path, "--tol", "0", "--out", outDir).line.Should().Contain("'--tolerance' was 0");
        Run("eig", "--matrix", path, "--tolerance", "-1", "--out", outDir).line.Should().Contain("'--tolerance' was -1");
        Run("eig", "--matrix", path).line.Should().Contain("'--out' is missing");

        var m = Matrix.Identity(4);
        m[0, 2] = 1;
        string bad = Path.Combine(_dir, "bad.npy");
        Npy.Write(bad, m);
        var nonSym = Run("eig", "--matrix", bad, "-k", "1", "--out", outDir);
        nonSym.code.Should().NotBe(0);
        nonSym.line.Should().Contain("'--matrix'").And.Contain("not symmetric");
        Directory.Exists(outDir).Should().BeFalse("nothing is written when the input is rejected");
    }

    [TestCase("block-lanczos")]
    [TestCase("lanczos")]
    public void Eig_finds_four_fives_and_six_threes_and_flags_them_converged(string solver)
    {
        string path = WriteMatrix(RepeatedEigenvalueTests.FourFivesSixThrees());
        foreach (string seed in new[] { "1", "2", "3" })
        {
            string outDir = Path.Combine(_dir, "out-" + solver + seed);
            var (code, _, err) = CliProcess.Run(["eig", "--matrix", path, "-k", "10", "--which", "la", "--solver", solver,
                "--tol", "1e-10", "--seed", seed, "--out", outDir]);
            code.Should().Be(0, err);
            var values = Npy.ReadVector(Path.Combine(outDir, "eigenvalues.npy"));
            for (int j = 0; j < 10; j++) values[j].Should().BeApproximately(j < 4 ? 5 : 3, 1e-8, $"{solver} seed {seed} value {j}");
            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "result.json")));
            json.RootElement.GetProperty("all_converged").GetBoolean().Should().BeTrue();
            json.RootElement.GetProperty("certified").GetBoolean().Should().BeTrue();
            json.RootElement.GetProperty("solver").GetString().Should().Be(solver);
        }
    }
}

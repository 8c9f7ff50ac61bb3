using System.Diagnostics;
using System.Globalization;
using Curvature.Core;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>
/// The commands on Intel MKL, each in a child process with CURVATURE_BLAS pointing at
/// libmkl_rt.so (the probe runs once per process, so this is the only way to pick MKL
/// next to another backend). Ignored, visibly, where MKL is not installed
/// (<c>bash scripts/setup.sh --mkl</c> installs it). Also: a library that cannot serve
/// falls through to the next backend with one line on stderr.
/// </summary>
[NonParallelizable]
public class MklBackendTests
{
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-mkl-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    static readonly string[] MklDirectories =
        ["/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/opt/intel/oneapi/mkl/latest/lib/intel64", "/opt/intel/mkl/lib/intel64"];

    /// <summary>Path of libmkl_rt.so (MKLROOT first), or null.</summary>
    internal static string? FindMkl()
    {
        var dirs = new List<string>();
        if (Environment.GetEnvironmentVariable("MKLROOT") is { Length: > 0 } root) dirs.Add(Path.Combine(root, "lib", "intel64"));
        dirs.AddRange(MklDirectories);
        foreach (var dir in dirs)
            foreach (var name in new[] { "libmkl_rt.so", "libmkl_rt.so.2" })
                if (File.Exists(Path.Combine(dir, name))) return Path.Combine(dir, name);
        return null;
    }

    static string RequireMkl() =>
        FindMkl() ?? Ignore<string>("Intel MKL (libmkl_rt.so) is not installed here; bash scripts/setup.sh --mkl installs it.");

    static T Ignore<T>(string why)
    {
        Assert.Ignore(why);
        return default!;
    }

    internal static (int code, string stdout, string stderr) RunCli(string curvatureBlas, params string[] args)
    {
        string dll = CliProcess.Dll;
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment[NativeBlas.EnvironmentVariable] = curvatureBlas;
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit(300_000).Should().BeTrue($"curvature {string.Join(' ', args)} returns");
        return (process.ExitCode, stdout, stderr.Result);
    }

    [Test]
    public void Info_reports_mkl_with_the_sequential_layer_and_a_reproducibility_branch()
    {
        string mkl = RequireMkl();
        var (code, stdout, stderr) = RunCli(mkl, "info");
        code.Should().Be(0, stderr);
        stderr.Should().BeEmpty("MKL starts without complaint");
        stdout.Should().Contain("backend:  mkl").And.Contain("threading layer: sequential").And.MatchRegex("CBWR: (AUTO|AVX2|COMPATIBLE)");
    }

    [Test]
    public void Grad_hvp_spectrum_and_train_run_on_mkl_and_give_the_same_bits_on_one_and_two_threads()
    {
        string mkl = RequireMkl();
        const string arch = "196-64-32-10", data = "mnist14:600";
        string theta = Path.Combine(_dir, "theta.npy");
        var init = RunCli(mkl, "init", "--arch", arch, "--seed", "5", "--out", theta);
        init.code.Should().Be(0, init.stderr);

        string Products(int threads)
        {
            string dir = Path.Combine(_dir, $"p{threads}");
            string t = threads.ToString(CultureInfo.InvariantCulture);
            var g = RunCli(mkl, "grad", "--arch", arch, "--loss", "ce", "--data", data, "--theta", theta, "--threads", t, "--out", dir);
            g.code.Should().Be(0, g.stderr);
            var h = RunCli(mkl, "hvp", "--arch", arch, "--loss", "ce", "--data", data, "--theta", theta, "--seed", "11", "--threads", t, "--out", dir);
            h.code.Should().Be(0, h.stderr);
            return dir;
        }
        string p1 = Products(1), p2 = Products(2);
        foreach (var file in new[] { "grad.npy", "hv.npy" })
            File.ReadAllBytes(Path.Combine(p2, file)).Should().Equal(File.ReadAllBytes(Path.Combine(p1, file)), $"{file} on MKL, 1 vs 2 threads");
        Npy.ReadVector(Path.Combine(p1, "grad.npy")).Should().OnlyContain(x => double.IsFinite(x));

        string Spectrum(int threads)
        {
            string dir = Path.Combine(_dir, $"s{threads}");
            var s = RunCli(mkl, "spectrum", "--theta", theta, "--arch", arch, "--data", data, "--k", "3", "--hessian-batch", "300", "--density-probes", "2", "--density-steps", "20",
                "--threads", threads.ToString(CultureInfo.InvariantCulture), "--out", dir);
            s.code.Should().Be(0, s.stderr);
            return dir;
        }
        string s1 = Spectrum(1), s2 = Spectrum(2);
        File.ReadAllText(Path.Combine(s2, "eigenvalues.csv")).Should().Be(File.ReadAllText(Path.Combine(s1, "eigenvalues.csv")));

        string Train(int threads)
        {
            string dir = Path.Combine(_dir, $"t{threads}");
            var t = RunCli(mkl, "train", "--arch", arch, "--act", "tanh", "--loss", "mse", "--data", data,
                "--optimizer", "bulk", "--lr", "0.5", "--batch", "100", "--steps", "12", "--k", "4", "--refresh", "6",
                "--hessian-batch", "200", "--eval-every", "6", "--seed", "3", "--threads", threads.ToString(CultureInfo.InvariantCulture),
                "--save-theta", "--quiet", "--out", dir);
            t.code.Should().Be(0, t.stderr);
            return dir;
        }
        string t1 = Train(1), t2 = Train(2);
        File.ReadAllBytes(Path.Combine(t2, "theta.npy")).Should().Equal(File.ReadAllBytes(Path.Combine(t1, "theta.npy")), "train on MKL, 1 vs 2 threads");
    }

    [Test]
    public void A_library_without_the_kernels_falls_through_to_the_next_backend_with_one_line_saying_why()
    {
        // libc loads fine but exports no cblas_dgemm: the probe must move on, not crash.
        string? libc = new[] { "/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib64/libc.so.6" }.FirstOrDefault(File.Exists);
        if (libc is null) Assert.Ignore("No libc.so.6 at the usual paths.");
        var (code, stdout, stderr) = RunCli(libc!, "info");
        code.Should().Be(0, stderr);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Should().ContainSingle().Which.Should().Contain(libc!).And.Contain("lacks cblas_dgemm").And.Contain("next backend");
        stdout.Should().MatchRegex("backend:  (mkl|openblas|native|managed)");
    }
}

using System.Diagnostics;
using Curvature.Core;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>
/// Every kernel of every backend against a naive loop written here, on shapes that hit
/// the empty, tiny, tall, wide, padded-leading-dimension and blocked (k &gt; KC, m &gt; MC,
/// parallel) paths. Errors are measured componentwise against the size of the terms:
/// |C − C_ref| ≤ 1e−12·(|α|·|op(A)|·|op(B)| + |β|·|C₀|), which is the bound a correct
/// summation meets with k·ε ≈ 1e−13 to spare and a wrong one misses by orders.
/// </summary>
public class BlasTests
{
    const double Tol = 1e-12;

    /// <summary>"native" (skipped when no library loads), "managed" (best kernel), "portable" (Vector&lt;T&gt; kernel), "avx2" and "avx512" (skipped where the CPU lacks them).</summary>
    public static readonly string[] Backends = ["native", "managed", "portable", "avx2", "avx512"];

    static BlasBackend Resolve(string name)
    {
        switch (name)
        {
            case "native":
                var native = Blas.Native;
                if (native is null) Assert.Ignore("No native BLAS on this machine: " + Blas.ProbeDiagnostics);
                return native!;
            case "managed": return Blas.Managed;
            case "portable": return ManagedBlas.Portable;
            case "avx2":
                if (ManagedBlas.Avx2Kernel is null) Assert.Ignore("This CPU has no AVX2/FMA: the AVX2 kernel cannot run here.");
                return ManagedBlas.Avx2Kernel!;
            case "avx512":
                if (ManagedBlas.Avx512Kernel is null) Assert.Ignore("This CPU has no AVX-512F: the AVX-512 kernel cannot run here.");
                return ManagedBlas.Avx512Kernel!;
            default: throw new ArgumentException($"Unknown backend '{name}'.", nameof(name));
        }
    }

    static double[] Random(Rng rng, int length)
    {
        var x = new double[length];
        rng.FillGaussian(x);
        return x;
    }

    // (m, n, k, pad): pad is added to each leading dimension.
    static readonly (int m, int n, int k, int pad)[] GemmShapes =
    [
        (0, 5, 3, 0), (5, 0, 3, 1), (4, 5, 0, 2), (0, 0, 0, 0), (1, 1, 1, 0), (1, 1, 1, 3),
        (2, 3, 4, 0), (200, 3, 17, 1), (3, 200, 17, 2), (1, 300, 40, 0), (300, 1, 40, 0),
        (7, 9, 300, 5), (77, 83, 65, 3), (13, 14, 600, 0), (130, 150, 270, 7),
    ];

    static readonly (double alpha, double beta)[] Scalars = [(1, 0), (-2.5, 0), (0.75, 1), (1.5, -0.5), (0, 0.5), (0, 0)];

    static (int rows, int cols) OpShape(Transpose t, int r, int c) => t == Transpose.No ? (r, c) : (c, r);

    [Test]
    public void Gemm_equals_the_naive_triple_loop_for_every_transpose_alpha_beta_and_shape(
        [ValueSource(nameof(Backends))] string backend,
        [Values(Transpose.No, Transpose.Yes)] Transpose transA,
        [Values(Transpose.No, Transpose.Yes)] Transpose transB)
    {
        var blas = Resolve(backend);
        var rng = new Rng(11UL + (ulong)transA * 2 + (ulong)transB);
        foreach (var (m, n, k, pad) in GemmShapes)
            foreach (var (alpha, beta) in Scalars)
            {
                // Stored shapes: A is m×k or k×m, B is k×n or n×k; C is m×n; each row padded.
                var (ar, ac) = OpShape(transA, m, k);
                var (br, bc) = OpShape(transB, k, n);
                int lda = ac + pad, ldb = bc + pad, ldc = n + pad;
                lda = Math.Max(lda, 1); ldb = Math.Max(ldb, 1); ldc = Math.Max(ldc, 1);
                var a = Random(rng, ar * lda);
                var b = Random(rng, br * ldb);
                var c0 = Random(rng, m * ldc);
                if (beta == 0)
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < n; j++)
                            c0[i * ldc + j] = double.NaN; // β = 0 must overwrite, never read
                var c = (double[])c0.Clone();

                blas.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

                string what = $"{backend} {transA}/{transB} m={m} n={n} k={k} pad={pad} alpha={alpha} beta={beta}";
                for (int i = 0; i < m; i++)
                {
                    for (int j = 0; j < n; j++)
                    {
                        double s = 0, scale = 0;
                        for (int p = 0; p < k; p++)
                        {
                            double aip = transA == Transpose.No ? a[i * lda + p] : a[p * lda + i];
                            double bpj = transB == Transpose.No ? b[p * ldb + j] : b[j * ldb + p];
                            s += aip * bpj;
                            scale += Math.Abs(aip * bpj);
                        }
                        double c0ij = c0[i * ldc + j];
                        double expected = beta == 0 ? alpha * s : alpha * s + beta * c0ij;
                        double bound = Tol * (Math.Abs(alpha) * scale + (beta == 0 ? 0 : Math.Abs(beta * c0ij)));
                        double got = c[i * ldc + j];
                        if (!(Math.Abs(got - expected) <= bound))
                            Assert.Fail($"{what}: C[{i},{j}] = {got:R}, expected {expected:R} (bound {bound:R}).");
                    }
                    // The padding between rows of C is not part of C and must be left alone.
                    for (int j = n; j < ldc && i * ldc + j < c.Length; j++)
                        c[i * ldc + j].Should().Be(c0[i * ldc + j], $"{what}: padding C[{i},{j}] must not be written");
                }
            }
    }

    [Test]
    public void Managed_gemm_gives_the_same_bits_on_one_and_two_threads(
        [Values(Transpose.No, Transpose.Yes)] Transpose transA,
        [Values(Transpose.No, Transpose.Yes)] Transpose transB)
    {
        // Large enough for the parallel path and several KC blocks (k > 256).
        const int m = 301, n = 173, k = 611;
        var rng = new Rng(5UL);
        var a = Random(rng, m * k);
        var b = Random(rng, k * n);
        var c1 = Random(rng, m * n);
        var c2 = (double[])c1.Clone();
        var blas = Blas.Managed;
        using (Blas.UseThreads(1))
            blas.Gemm(transA, transB, m, n, k, 1.25, a, transA == Transpose.No ? k : m, b, transB == Transpose.No ? n : k, 0.5, c1, n);
        using (Blas.UseThreads(2))
            blas.Gemm(transA, transB, m, n, k, 1.25, a, transA == Transpose.No ? k : m, b, transB == Transpose.No ? n : k, 0.5, c2, n);
        c2.Should().Equal(c1);
    }

    static readonly (int m, int n, int pad)[] GemvShapes =
        [(0, 5, 0), (5, 0, 2), (1, 1, 0), (1, 1, 4), (3, 7, 1), (300, 7, 3), (7, 300, 0), (1, 513, 0), (513, 1, 2), (600, 500, 5)];

    [Test]
    public void Gemv_equals_the_naive_double_loop_for_both_transposes(
        [ValueSource(nameof(Backends))] string backend,
        [Values(Transpose.No, Transpose.Yes)] Transpose transA)
    {
        var blas = Resolve(backend);
        var rng = new Rng(21UL + (ulong)transA);
        foreach (var (m, n, pad) in GemvShapes)
            foreach (var (alpha, beta) in Scalars)
            {
                int lda = Math.Max(1, n + pad);
                var a = Random(rng, m * lda);
                int xLen = transA == Transpose.No ? n : m, yLen = transA == Transpose.No ? m : n;
                var x = Random(rng, xLen);
                var y0 = Random(rng, yLen);
                if (beta == 0) Array.Fill(y0, double.NaN);
                var y = (double[])y0.Clone();

                blas.Gemv(transA, m, n, alpha, a, lda, x, beta, y);

                for (int i = 0; i < yLen; i++)
                {
                    double s = 0, scale = 0;
                    for (int p = 0; p < xLen; p++)
                    {
                        double aip = transA == Transpose.No ? a[i * lda + p] : a[p * lda + i];
                        s += aip * x[p];
                        scale += Math.Abs(aip * x[p]);
                    }
                    double expected = beta == 0 ? alpha * s : alpha * s + beta * y0[i];
                    double bound = Tol * (Math.Abs(alpha) * scale + (beta == 0 ? 0 : Math.Abs(beta * y0[i])));
                    if (!(Math.Abs(y[i] - expected) <= bound))
                        Assert.Fail($"{backend} {transA} m={m} n={n} alpha={alpha} beta={beta}: y[{i}] = {y[i]:R}, expected {expected:R}.");
                }
            }
    }

    [Test]
    public void Managed_gemv_gives_the_same_bits_on_one_and_two_threads([Values(Transpose.No, Transpose.Yes)] Transpose transA)
    {
        const int m = 700, n = 900;
        var rng = new Rng(8UL);
        var a = Random(rng, m * n);
        var x = Random(rng, transA == Transpose.No ? n : m);
        var y1 = Random(rng, transA == Transpose.No ? m : n);
        var y2 = (double[])y1.Clone();
        var blas = Blas.Managed;
        using (Blas.UseThreads(1)) blas.Gemv(transA, m, n, 0.5, a, n, x, -1.5, y1);
        using (Blas.UseThreads(2)) blas.Gemv(transA, m, n, 0.5, a, n, x, -1.5, y2);
        y2.Should().Equal(y1);
    }

    static readonly int[] Lengths = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 1000, 1003];

    [Test]
    public void Dot_axpy_and_scal_equal_their_naive_loops([ValueSource(nameof(Backends))] string backend)
    {
        var blas = Resolve(backend);
        var rng = new Rng(31UL);
        foreach (int len in Lengths)
        {
            var x = Random(rng, len);
            var y = Random(rng, len);

            double s = 0, scale = 0;
            for (int i = 0; i < len; i++) { s += x[i] * y[i]; scale += Math.Abs(x[i] * y[i]); }
            double dot = blas.Dot(x, y);
            Math.Abs(dot - s).Should().BeLessThanOrEqualTo(Tol * scale, $"{backend} dot, length {len}");

            var z = (double[])y.Clone();
            blas.Axpy(-0.3, x, z);
            for (int i = 0; i < len; i++)
                Math.Abs(z[i] - (y[i] + -0.3 * x[i])).Should().BeLessThanOrEqualTo(Tol * (Math.Abs(y[i]) + Math.Abs(0.3 * x[i])), $"{backend} axpy, length {len}, index {i}");

            var w = (double[])x.Clone();
            blas.Scal(-1.7, w);
            for (int i = 0; i < len; i++)
                w[i].Should().Be(-1.7 * x[i], $"{backend} scal, length {len}, index {i}: one rounded product");
        }
    }

    [Test]
    public void Axpy_with_alpha_zero_leaves_y_unchanged_and_scal_with_alpha_one_leaves_x_unchanged([ValueSource(nameof(Backends))] string backend)
    {
        var blas = Resolve(backend);
        var rng = new Rng(32UL);
        var x = Random(rng, 33);
        var y = Random(rng, 33);
        var y0 = (double[])y.Clone();
        blas.Axpy(0, x, y);
        y.Should().Equal(y0);
        blas.Scal(1, y);
        y.Should().Equal(y0);
    }

    [Test]
    public void Nrm2_equals_the_norm_of_a_moderate_vector_times_its_scale_for_huge_and_tiny_scales(
        [ValueSource(nameof(Backends))] string backend,
        [Values(1.0, 1e250, 1e-250, 1e300, 1e-300, 1e-310)] double scale)
    {
        // ‖c·u‖ = |c|·‖u‖: ‖u‖ is summed naively here (u is moderate), and c·u overflows or
        // underflows when squared naively for the extreme scales.
        var blas = Resolve(backend);
        var rng = new Rng(41UL);
        foreach (int len in Lengths)
        {
            if (len == 0) continue;
            var u = new double[len];
            rng.FillUniform(u, 0.5, 1.0);
            for (int i = 0; i < len; i += 2) u[i] = -u[i];
            double sumSq = 0;
            for (int i = 0; i < len; i++) sumSq += u[i] * u[i];
            var x = new double[len];
            for (int i = 0; i < len; i++) x[i] = scale * u[i];
            // At 1e-310 each x_i is subnormal but still carries ~13 significant digits.
            double expected = scale * Math.Sqrt(sumSq);
            double got = blas.Nrm2(x);
            Math.Abs(got - expected).Should().BeLessThanOrEqualTo(Tol * expected, $"{backend} nrm2, length {len}, scale {scale:R}: got {got:R}");
        }
    }

    [Test]
    public void Nrm2_is_exact_on_pythagorean_pairs_at_the_ends_of_the_exponent_range([ValueSource(nameof(Backends))] string backend)
    {
        var blas = Resolve(backend);
        foreach (int e in new[] { 1000, 1020, -1000, -1030, -1070, 0 })
        {
            double three = Math.ScaleB(3, e), four = Math.ScaleB(4, e), five = Math.ScaleB(5, e);
            blas.Nrm2([three, -four]).Should().Be(five, $"{backend}: ‖(3, −4)·2^{e}‖ = 5·2^{e}");
            blas.Nrm2([0, 0, four, 0, three]).Should().Be(five, $"{backend}: zeros do not change the norm at 2^{e}");
        }
        blas.Nrm2([double.MaxValue, double.MaxValue]).Should().Be(double.PositiveInfinity, $"{backend}: the true norm √2·max exceeds the range");
        blas.Nrm2([1e308, 1e308]).Should().BeApproximately(Math.Sqrt(2) * 1e308, 1e296, $"{backend}: representable result must not overflow");
        blas.Nrm2([0.0, 0.0]).Should().Be(0);
    }

    [Test]
    public void Empty_problems_touch_nothing_but_the_beta_scaling([ValueSource(nameof(Backends))] string backend)
    {
        var blas = Resolve(backend);
        var c = new[] { 1.0, 2, 3, 4 };
        blas.Gemm(Transpose.No, Transpose.No, 2, 2, 0, 1, [], 1, [], 2, 3, c, 2);
        c.Should().Equal(3.0, 6, 9, 12); // k = 0: C ← β·C
        var y = new[] { double.NaN, double.NaN };
        blas.Gemv(Transpose.No, 2, 0, 1, [], 1, [], 0, y);
        y.Should().Equal(0.0, 0); // n = 0, β = 0: y ← 0 without reading NaN
        blas.Dot([], []).Should().Be(0);
        blas.Nrm2([]).Should().Be(0);
    }

    [Test]
    public void Gemm_on_spans_that_are_too_short_throws_naming_the_operand_and_both_shapes()
    {
        var a = new double[6];
        var b = new double[5];
        var c = new double[4];
        var act = () => Blas.Managed.Gemm(Transpose.No, Transpose.No, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2);
        act.Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "b" && e.Message.Contains("3x2") && e.Message.Contains("op(A) 2x3") && e.Message.Contains("op(B) 3x2"));

        var act2 = () => Blas.Managed.Gemm(Transpose.No, Transpose.No, 2, 2, 3, 1, a, 2, new double[6], 2, 0, c, 2);
        act2.Should().Throw<ArgumentException>().Where(e => e.ParamName == "lda" && e.Message.Contains("was 2") && e.Message.Contains("at least 3"));

        var act3 = () => Blas.Managed.Gemm(Transpose.No, Transpose.No, -1, 2, 3, 1, a, 3, b, 2, 0, c, 2);
        act3.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.Message.Contains("-1"));
    }

    [Test]
    public void Gemv_dot_and_axpy_with_mismatched_lengths_throw_naming_both_lengths()
    {
        var a = new double[12];
        var gemv = () => Blas.Managed.Gemv(Transpose.Yes, 3, 4, 1, a, 4, new double[2], 0, new double[4]);
        gemv.Should().Throw<ArgumentException>().Where(e => e.ParamName == "x" && e.Message.Contains("length 2") && e.Message.Contains("expected 3") && e.Message.Contains("3x4"));
        var gemvY = () => Blas.Managed.Gemv(Transpose.No, 3, 4, 1, a, 4, new double[4], 0, new double[2]);
        gemvY.Should().Throw<ArgumentException>().Where(e => e.ParamName == "y" && e.Message.Contains("length 2") && e.Message.Contains("expected 3") && e.Message.Contains("3x4"));

        var dot = () => Blas.Managed.Dot(new double[3], new double[4]);
        dot.Should().Throw<ArgumentException>().Where(e => e.Message.Contains("length 3") && e.Message.Contains("length 4"));

        var axpy = () => Blas.Managed.Axpy(1, new double[5], new double[2]);
        axpy.Should().Throw<ArgumentException>().Where(e => e.Message.Contains("length 5") && e.Message.Contains("length 2"));
    }

    [Test]
    public void Kernel_calls_allocate_nothing_in_steady_state([ValueSource(nameof(Backends))] string backend)
    {
        // Hot paths call these once per step; any per-call allocation (even a formatted
        // error context built eagerly) shows up here (parallel calls: BlasThreadingTests).
        // The managed eigensolver is MathNet's and allocates its own matrices.
        var blas = Resolve(backend);
        var rng = new Rng(51UL);
        var a = Random(rng, 48 * 48);
        var b = Random(rng, 48 * 48);
        var c = new double[48 * 48];
        var x = Random(rng, 48);
        var y = new double[48];
        var w = new double[4];
        using (Blas.UseThreads(1))
        {
            void Step()
            {
                blas.Gemm(Transpose.No, Transpose.Yes, 48, 48, 48, 1, a, 48, b, 48, 0, c, 48); // packed path
                blas.Gemm(Transpose.Yes, Transpose.No, 4, 4, 4, 1, a, 48, b, 48, 1, c, 48);    // small path
                blas.Gemv(Transpose.No, 48, 48, 1, a, 48, x, 0, y);
                blas.Gemv(Transpose.Yes, 48, 48, 1, a, 48, x, 0.5, y);
                blas.Axpy(0.1, x, y);
                blas.Scal(0.9, y);
                _ = blas.Dot(x, y) + blas.Nrm2(y);
            }
            void Eigen()
            {
                var s = new Span<double>(c, 0, 4);
                s.Clear(); s[0] = 2; s[3] = 2; s[1] = s[2] = 1;
                blas.SymmetricEigen(2, s, w);
            }
            Step(); Eigen(); // warm-up: buffers, JIT, pools
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 20; i++) Step();
            (GC.GetAllocatedBytesForCurrentThread() - before).Should().Be(0, $"{backend}: GEMM, GEMV and level-1 calls reuse their buffers");
            if (backend == "native")
            {
                before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 20; i++) Eigen();
                (GC.GetAllocatedBytesForCurrentThread() - before).Should().Be(0, "dsyevd's workspace comes from a pool");
            }
        }
    }

    [Test]
    public void Native_backend_is_loaded_on_a_machine_set_up_by_the_setup_script()
    {
        if (string.Equals(Environment.GetEnvironmentVariable(NativeBlas.EnvironmentVariable), "managed", StringComparison.OrdinalIgnoreCase))
            Assert.Ignore("CURVATURE_BLAS=managed asks for the managed backend (CI's managed run).");
        Blas.Native.Should().NotBeNull(Blas.ProbeDiagnostics);
        Blas.Backend.Should().BeSameAs(Blas.Native);
        Blas.Native!.LibraryPath.Should().NotBeNullOrEmpty();
        Blas.ProbeDiagnostics.Should().StartWith("loaded ");
    }

    [Test]
    public void Curvature_blas_managed_makes_the_probe_return_no_native_backend()
    {
        string? previous = Environment.GetEnvironmentVariable(NativeBlas.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(NativeBlas.EnvironmentVariable, "managed");
            NativeBlas.TryLoad(out var diagnostics).Should().BeNull();
            diagnostics.Should().Contain("CURVATURE_BLAS=managed");
        }
        finally
        {
            Environment.SetEnvironmentVariable(NativeBlas.EnvironmentVariable, previous);
        }
    }

    static (int exitCode, string stdout) RunCliInfo(string curvatureBlas)
    {
        string dll = CliProcess.Dll;
        File.Exists(dll).Should().BeTrue($"the CLI is built next to the tests ({dll})");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        psi.ArgumentList.Add("info");
        psi.Environment[NativeBlas.EnvironmentVariable] = curvatureBlas;
        using var process = Process.Start(psi)!;
        string stdout = process.StandardOutput.ReadToEnd();
        process.StandardError.ReadToEnd();
        process.WaitForExit(60_000).Should().BeTrue("curvature info returns promptly");
        return (process.ExitCode, stdout);
    }

    [Test]
    public void A_fresh_process_with_curvature_blas_managed_runs_on_the_managed_backend()
    {
        var (exit, stdout) = RunCliInfo("managed");
        exit.Should().Be(0, stdout);
        stdout.Should().Contain("backend:  managed").And.Contain("CURVATURE_BLAS=managed");
    }

    [Test]
    public void A_fresh_process_with_a_missing_curvature_blas_library_falls_through_the_probe_order()
    {
        if (Blas.Native is null) Assert.Ignore("No native BLAS on this machine: " + Blas.ProbeDiagnostics);
        var (exit, stdout) = RunCliInfo("/nonexistent/libnothing.so");
        exit.Should().Be(0, stdout);
        // The child falls through to the probe order's first library, which is this process's
        // backend unless CURVATURE_BLAS chose another one here (CI's MKL run).
        if (string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(NativeBlas.EnvironmentVariable)))
            stdout.Should().Contain("backend:  " + Blas.Native!.Name).And.Contain("loaded ");
        else
            stdout.Should().MatchRegex("backend:  (openblas|mkl|native)").And.Contain("loaded ");
    }

    [Test]
    public void Set_threads_on_a_backend_is_the_calling_threads_override_and_returns_the_previous_count()
    {
        int before = Blas.Threads;
        using (Blas.UseThreads(1))
        {
            Blas.Managed.SetThreads(2).Should().Be(1);
            Blas.Threads.Should().Be(2);
            Blas.Managed.Threads.Should().Be(2);
        }
        Blas.Threads.Should().Be(before, "the enclosing scope restores what was there before it");
        var bad = () => Blas.Managed.SetThreads(0);
        bad.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.Message.Contains("was 0"));
    }

    [Test]
    public void Counting_decorator_counts_2mnk_per_GEMM_on_its_thread_only_and_keeps_the_bits()
    {
        const int m = 7, n = 5, k = 9;
        var rng = new Rng(31);
        var a = new double[m * k];
        var b = new double[k * n];
        rng.FillGaussian(a);
        rng.FillGaussian(b);
        var plain = new double[m * n];
        Blas.Gemm(Transpose.No, Transpose.No, m, n, k, 1.0, a, k, b, n, 0.0, plain, n);
        var before = Blas.Backend;
        var counted = new double[m * n];
        using (var gemms = CountingBlas.Start())
        {
            Blas.Backend.Should().BeSameAs(gemms);
            Blas.Gemm(Transpose.No, Transpose.No, m, n, k, 1.0, a, k, b, n, 0.0, counted, n);
            Blas.Gemm(Transpose.Yes, Transpose.No, k, n, m, 1.0, a, k, counted, n, 0.0, new double[k * n], n);
            var other = new Thread(() => Blas.Gemm(Transpose.No, Transpose.No, m, n, k, 1.0, a, k, b, n, 0.0, new double[m * n], n));
            other.Start();
            other.Join();
            gemms.Calls.Should().Be(2, "the GEMM on another thread goes to that thread's own backend");
            gemms.Flops.Should().Be(2L * (2L * m * n * k));
            gemms.Name.Should().Be(before.Name, "the decorator reports the backend it wraps");
        }
        counted.Should().Equal(plain, "the decorator forwards to the same kernel");
        Blas.Backend.Should().BeSameAs(before, "disposing restores the thread's backend");
    }
}

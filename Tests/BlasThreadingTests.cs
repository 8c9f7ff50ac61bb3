using Curvature.Core;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>
/// The facade's promise: the thread count a caller chooses (<see cref="Blas.UseThreads"/>)
/// changes speed only, never a bit of a result, and it is the calling thread's own setting
/// (no process-wide state, so concurrent callers cannot race on it). The native library
/// is pinned to one thread when loaded; the facade's own threads compute a fixed
/// partition of each GEMM.
/// </summary>
public class BlasThreadingTests
{
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

    // Small (one call), split by rows (m ≥ n), split by columns, uneven last panels,
    // the MLP's shapes (batch × width, width × width, stacked block products), k across
    // several KC blocks, padded leading dimensions, and a solver's Gram matrices: a short C
    // over a long inner dimension, split in two below the usual narrowest panel.
    static readonly (int m, int n, int k, int pad)[] Shapes =
    [
        (1, 1, 1, 0), (17, 33, 9, 1), (96, 96, 96, 0), (130, 150, 270, 3), (150, 130, 270, 0),
        (257, 129, 300, 5), (129, 257, 64, 0), (500, 200, 784, 0), (200, 784, 500, 2), (500, 784, 200, 0),
        (1000, 10, 200, 0), (10, 1000, 200, 1), (5000, 200, 200, 0), (64, 512, 64, 0), (311, 7, 611, 4),
        (256, 256, 256, 0), (520, 520, 100, 0), (42, 42, 9000, 0), (10, 22, 8192, 3),
    ];

    static double[] RunGemm(BlasBackend blas, int threads, Transpose transA, Transpose transB, int m, int n, int k, int pad,
        double[] a, double[] b, double[] c0, double alpha, double beta)
    {
        int lda = (transA == Transpose.No ? k : m) + pad, ldb = (transB == Transpose.No ? n : k) + pad, ldc = n + pad;
        var c = (double[])c0.Clone();
        using (Blas.UseThreads(threads))
            blas.Gemm(transA, transB, m, n, k, alpha, a, Math.Max(1, lda), b, Math.Max(1, ldb), beta, c, Math.Max(1, ldc));
        return c;
    }

    static (double[] a, double[] b, double[] c) Operands(Rng rng, Transpose transA, Transpose transB, int m, int n, int k, int pad, bool nanC)
    {
        int ar = transA == Transpose.No ? m : k, ac = (transA == Transpose.No ? k : m) + pad;
        int br = transB == Transpose.No ? k : n, bc = (transB == Transpose.No ? n : k) + pad;
        var c = Random(rng, m * (n + pad));
        if (nanC) Array.Fill(c, double.NaN);
        return (Random(rng, ar * ac), Random(rng, br * bc), c);
    }

    [Test]
    public void Gemm_gives_the_same_bits_on_one_two_and_three_threads_for_every_shape_and_transpose(
        [Values("native", "managed", "portable", "avx2", "avx512")] string backend,
        [Values(Transpose.No, Transpose.Yes)] Transpose transA,
        [Values(Transpose.No, Transpose.Yes)] Transpose transB)
    {
        var blas = Resolve(backend);
        var rng = new Rng(71UL + (ulong)transA * 2 + (ulong)transB);
        foreach (var (m, n, k, pad) in Shapes)
            foreach (var (alpha, beta) in new[] { (1.0, 0.0), (-0.75, 1.5) })
            {
                var (a, b, c0) = Operands(rng, transA, transB, m, n, k, pad, nanC: beta == 0);
                var one = RunGemm(blas, 1, transA, transB, m, n, k, pad, a, b, c0, alpha, beta);
                var two = RunGemm(blas, 2, transA, transB, m, n, k, pad, a, b, c0, alpha, beta);
                var three = RunGemm(blas, 3, transA, transB, m, n, k, pad, a, b, c0, alpha, beta);
                string what = $"{backend} {transA}/{transB} {m}x{n}x{k} pad {pad} alpha {alpha} beta {beta}";
                for (int i = 0; i < one.Length; i++)
                {
                    if (BitConverter.DoubleToInt64Bits(one[i]) != BitConverter.DoubleToInt64Bits(two[i])
                        || BitConverter.DoubleToInt64Bits(one[i]) != BitConverter.DoubleToInt64Bits(three[i]))
                        Assert.Fail($"{what}: element {i} is {one[i]:R} on 1 thread, {two[i]:R} on 2, {three[i]:R} on 3.");
                }
                for (int i = 0; i < m * (n + pad); i++)
                    if (i % (n + pad) < n) double.IsNaN(one[i]).Should().BeFalse($"{what}: β = 0 never reads C");
            }
    }

    [Test]
    public void The_avx512_and_avx2_kernels_give_the_same_bits_because_each_element_is_the_same_fma_chain(
        [Values(Transpose.No, Transpose.Yes)] Transpose transA, [Values(Transpose.No, Transpose.Yes)] Transpose transB)
    {
        var avx512 = Resolve("avx512");
        var avx2 = Resolve("avx2");
        var rng = new Rng(89UL);
        foreach (var (m, n, k, pad) in Shapes)
        {
            var (a, b, c0) = Operands(rng, transA, transB, m, n, k, pad, nanC: false);
            var wide = RunGemm(avx512, 2, transA, transB, m, n, k, pad, a, b, c0, 1.25, -0.5);
            var narrow = RunGemm(avx2, 1, transA, transB, m, n, k, pad, a, b, c0, 1.25, -0.5);
            wide.Should().Equal(narrow, $"{transA}/{transB} {m}x{n}x{k}");
        }
    }

    [TestCase("AuthenticAMD", 0x00A10F11u, false, TestName = "Zen 4 (EPYC family 19h model 11h) keeps every GEMM native")]
    [TestCase("AuthenticAMD", 0x00A00F11u, false, TestName = "Zen 3 (family 19h model 01h) keeps every GEMM native")]
    [TestCase("AuthenticAMD", 0x00B00F21u, true, TestName = "Zen 5 (family 1Ah model 02h) routes large GEMMs to the AVX-512 kernel")]
    [TestCase("GenuineIntel", 0x000806F8u, false, TestName = "An unmeasured Intel CPU keeps every GEMM native")]
    public void Gemm_routing_follows_the_cpu_family(string vendor, uint signature, bool expected) =>
        Blas.FullWidthAvx512(vendor, signature).Should().Be(expected);

    [Test]
    public void The_facade_routes_large_gemms_to_the_avx512_kernel_only_for_a_probed_library_and_by_shape_alone()
    {
        bool probed = string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(NativeBlas.EnvironmentVariable));
        Blas.RoutesLargeGemmsToManaged.Should().Be(Blas.Native is not null && ManagedBlas.Avx512Kernel is not null && probed
            && Blas.FullWidthAvx512(Blas.CpuVendor(), Blas.CpuSignature()));
        Blas.GemmBackend(64, 64, 64).Should().BeSameAs(Blas.Backend, "small products stay on the active backend");
        Blas.GemmBackend(500, 200, 784).Should().BeSameAs(Blas.RoutesLargeGemmsToManaged ? Blas.Managed : Blas.Backend);
        Blas.GemmBackend(6, 94, 199210).Should().BeSameAs(Blas.Backend, "skinny products are memory-bound and stay on the active backend");
        // The facade's result is the chosen backend's, bit for bit, on any thread count.
        var rng = new Rng(97UL);
        var (a, b, c0) = Operands(rng, Transpose.No, Transpose.Yes, 500, 200, 784, 0, nanC: false);
        var viaFacade = (double[])c0.Clone();
        using (Blas.UseThreads(2)) Blas.Gemm(Transpose.No, Transpose.Yes, 500, 200, 784, 1, a, 784, b, 784, 0.5, viaFacade, 200);
        var direct = RunGemm(Blas.GemmBackend(500, 200, 784), 1, Transpose.No, Transpose.Yes, 500, 200, 784, 0, a, b, c0, 1, 0.5);
        viaFacade.Should().Equal(direct);
    }

    [Test]
    public void Gemv_gives_the_same_bits_on_one_and_two_threads([Values("native", "managed", "portable", "avx2", "avx512")] string backend,
        [Values(Transpose.No, Transpose.Yes)] Transpose transA)
    {
        var blas = Resolve(backend);
        var rng = new Rng(73UL);
        foreach (var (m, n) in new[] { (700, 900), (2000, 300), (3, 70000) })
        {
            var a = Random(rng, m * n);
            var x = Random(rng, transA == Transpose.No ? n : m);
            var y0 = Random(rng, transA == Transpose.No ? m : n);
            var y1 = (double[])y0.Clone();
            var y2 = (double[])y0.Clone();
            using (Blas.UseThreads(1)) blas.Gemv(transA, m, n, 0.5, a, n, x, -1.5, y1);
            using (Blas.UseThreads(2)) blas.Gemv(transA, m, n, 0.5, a, n, x, -1.5, y2);
            y2.Should().Equal(y1, $"{backend} {transA} {m}x{n}");
        }
    }

    [Test]
    public void Two_threads_calling_gemm_at_once_with_different_thread_counts_get_the_bits_of_serial_calls(
        [Values("native", "managed")] string backend)
    {
        var blas = Resolve(backend);
        var rng = new Rng(79UL);
        var problems = new[] { (m: 500, n: 200, k: 784), (m: 200, n: 784, k: 500), (m: 300, n: 300, k: 300) };
        var operands = problems.Select(p => Operands(rng, Transpose.No, Transpose.Yes, p.m, p.n, p.k, 0, nanC: false)).ToArray();
        var serial = problems.Select((p, i) => RunGemm(blas, 1, Transpose.No, Transpose.Yes, p.m, p.n, p.k, 0,
            operands[i].a, operands[i].b, operands[i].c, 1.0, 0.25)).ToArray();

        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        int rounds = 6;
        using var start = new Barrier(2);
        void Caller(int threads)
        {
            start.SignalAndWait();
            for (int r = 0; r < rounds; r++)
            {
                for (int i = 0; i < problems.Length; i++)
                {
                    int q = (i + threads + r) % problems.Length; // the two callers interleave different shapes
                    var p = problems[q];
                    using var scope = Blas.UseThreads(threads);
                    if (Blas.Threads != threads) failures.Add($"thread {threads} saw Blas.Threads = {Blas.Threads}");
                    var c = (double[])operands[q].c.Clone();
                    blas.Gemm(Transpose.No, Transpose.Yes, p.m, p.n, p.k, 1.0, operands[q].a, p.k, operands[q].b, p.k, 0.25, c, p.n);
                    if (!c.SequenceEqual(serial[q])) failures.Add($"threads {threads}, round {r}, problem {p}");
                }
            }
        }
        var t1 = new Thread(() => Caller(1));
        var t2 = new Thread(() => Caller(2));
        t1.Start(); t2.Start();
        t1.Join(); t2.Join();
        failures.Should().BeEmpty("concurrent callers with their own thread counts compute the serial bits");
    }

    [Test]
    public void Use_threads_is_the_calling_threads_own_setting_and_the_native_library_stays_on_one_thread()
    {
        int outside = Blas.Threads;
        outside.Should().Be(Blas.DefaultThreads);
        int seenByOther = 0;
        using (Blas.UseThreads(1))
        {
            Blas.Threads.Should().Be(1);
            using (Blas.UseThreads(3)) Blas.Threads.Should().Be(3);
            Blas.Threads.Should().Be(1, "an inner scope restores the outer one");
            var other = new Thread(() => seenByOther = Blas.Threads);
            other.Start();
            other.Join();
        }
        seenByOther.Should().Be(Blas.DefaultThreads, "another thread does not see this thread's scope");
        Blas.Threads.Should().Be(outside);
        var bad = () => Blas.UseThreads(0);
        bad.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.Message.Contains("'threads'") && e.Message.Contains("was 0"));
        if (Blas.Native is { } native)
        {
            using (Blas.UseThreads(2))
            {
                var a = new double[300 * 300];
                var c = new double[300 * 300];
                native.Gemm(Transpose.No, Transpose.No, 300, 300, 300, 1, a, 300, a, 300, 0, c, 300);
            }
            native.NativeThreads.Should().Be(1, "the library is pinned to one thread when loaded and never changed");
        }
    }

    [Test]
    public void A_parallel_gemm_allocates_nothing_on_the_calling_thread_in_steady_state([Values("native", "managed")] string backend)
    {
        var blas = Resolve(backend);
        var rng = new Rng(83UL);
        const int m = 400, n = 300, k = 350;
        var a = Random(rng, m * k);
        var b = Random(rng, k * n);
        var c = new double[m * n];
        var x = Random(rng, 1000);
        var y = new double[1000];
        var big = Random(rng, 1000 * 1000);
        using var scope = Blas.UseThreads(2);
        void Step()
        {
            blas.Gemm(Transpose.No, Transpose.No, m, n, k, 1, a, k, b, n, 0, c, n);
            blas.Gemm(Transpose.Yes, Transpose.No, k, n, m, 1, a, k, c, n, 0, b, n);
            blas.Gemv(Transpose.No, 1000, 1000, 1, big, 1000, x, 0, y);
        }
        Step(); Step();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++) Step();
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().Be(0, $"{backend}: the facade's threads need no tasks, closures or work items");
    }

    [Test]
    public void A_host_that_sets_the_native_library_to_two_threads_after_load_changes_no_bit_of_a_bulk_sgd_run()
    {
        if (Blas.Native is not { LibraryPath: { } path }) { Assert.Ignore("No native BLAS on this machine: " + Blas.ProbeDiagnostics); return; }
        var handle = System.Runtime.InteropServices.NativeLibrary.Load(path);
        if (!System.Runtime.InteropServices.NativeLibrary.TryGetExport(handle, "openblas_set_num_threads", out var set)
            && !System.Runtime.InteropServices.NativeLibrary.TryGetExport(handle, "MKL_Set_Num_Threads", out set))
            Assert.Ignore($"'{path}' exports no thread setter a host could call.");
        var pinned = Curvature.Examples.BulkSgdRun.Run().Theta.ToArray();
        unsafe
        {
            // What another library in the process (or the host) may do after Curvature loaded the BLAS.
            ((delegate* unmanaged<int, void>)set)(2);
        }
        try
        {
            var hosted = Curvature.Examples.BulkSgdRun.Run().Theta.ToArray();
            hosted.Length.Should().Be(pinned.Length);
            Enumerable.Range(0, pinned.Length).Count(i => BitConverter.DoubleToInt64Bits(hosted[i]) != BitConverter.DoubleToInt64Bits(pinned[i]))
                .Should().Be(0, "the facade puts the library back on one thread before every call");
            Blas.Native.NativeThreads.Should().Be(1);
        }
        finally
        {
            unsafe { ((delegate* unmanaged<int, void>)set)(1); }
        }
    }
}

using System.Globalization;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Curvature.Core;
using MathNet.Numerics;
using MathNet.Numerics.LinearAlgebra;

namespace Curvature.Benchmarks;

/// <summary>
/// Short job (the machine is shared), plus a GFLOP/s column: 2n³ flops per GEMM and 2n²
/// per GEMV, divided by the median time (the median shrugs off the other tenants' bursts). Run with
/// <c>cd Benchmarks &amp;&amp; dotnet run -c Release -- --filter '*Blas*'</c>.
/// </summary>
public sealed class BlasBenchmarkConfig : ManualConfig
{
    public BlasBenchmarkConfig()
    {
        AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(10));
        AddColumn(new GflopsColumn());
        HideColumns(Column.Error, Column.RatioSD);
    }

    sealed class GflopsColumn : IColumn
    {
        public string Id => "GFLOPs";
        public string ColumnName => "GFLOP/s";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "2n^3 (GEMM) or 2n^2 (GEMV) floating-point operations divided by the median time";
        public bool IsAvailable(Summary summary) => true;
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var stats = summary[benchmarkCase]?.ResultStatistics;
            if (stats is null || benchmarkCase.Parameters["N"] is not int n) return "NA";
            double flops = benchmarkCase.Descriptor.Type.Name.Contains("Gemv", StringComparison.Ordinal) ? 2.0 * n * n : 2.0 * n * n * n;
            return (flops / stats.Median).ToString("F2", CultureInfo.InvariantCulture); // flop per ns = GFLOP/s
        }
    }
}

/// <summary>The raw binding the facade is compared against: no shape checks, no spans, no virtual call.</summary>
static unsafe class RawOpenBlas
{
    [DllImport("libopenblas.so.0", EntryPoint = "cblas_dgemm")]
    public static extern void Dgemm(int order, int transA, int transB, int m, int n, int k,
        double alpha, double* a, int lda, double* b, int ldb, double beta, double* c, int ldc);

    /// <summary>OpenBLAS's own thread count: only the "before" row changes it, and puts back 1 (the facade's pin).</summary>
    [DllImport("libopenblas.so.0", EntryPoint = "openblas_set_num_threads")]
    public static extern void SetNumThreads(int threads);
}

/// <summary>C ← A·B for n×n matrices: facade on native, raw cblas_dgemm, managed on 2 threads and on 1.</summary>
[Config(typeof(BlasBenchmarkConfig))]
public class BlasGemmBenchmarks
{
    [Params(64, 256, 1024)] public int N;

    double[] _a = [], _b = [], _c = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Rng(1UL);
        _a = new double[N * N]; _b = new double[N * N]; _c = new double[N * N];
        rng.FillGaussian(_a); rng.FillGaussian(_b);
        if (Blas.Native is null) throw new InvalidOperationException("No native BLAS: " + Blas.ProbeDiagnostics);
    }

    [Benchmark(Baseline = true, Description = "raw cblas_dgemm, OpenBLAS on 2 threads (before)")]
    public unsafe void RawTwoThreads()
    {
        // What the facade did before it pinned the library: OpenBLAS's own two threads.
        RawOpenBlas.SetNumThreads(2);
        fixed (double* pa = _a, pb = _b, pc = _c)
            RawOpenBlas.Dgemm(101, 111, 111, N, N, N, 1.0, pa, N, pb, N, 0.0, pc, N);
        RawOpenBlas.SetNumThreads(1);
    }

    [Benchmark(Description = "raw cblas_dgemm, 1 thread")]
    public unsafe void Raw()
    {
        fixed (double* pa = _a, pb = _b, pc = _c)
            RawOpenBlas.Dgemm(101, 111, 111, N, N, N, 1.0, pa, N, pb, N, 0.0, pc, N);
    }

    [Benchmark(Description = "Blas.Gemm (native), 2 threads")]
    public void Facade()
    {
        using var threads = Blas.UseThreads(2);
        Blas.Native!.Gemm(Transpose.No, Transpose.No, N, N, N, 1.0, _a, N, _b, N, 0.0, _c, N);
    }

    [Benchmark(Description = "Blas.Gemm (native), 1 thread")]
    public void Facade1()
    {
        using var threads = Blas.UseThreads(1);
        Blas.Native!.Gemm(Transpose.No, Transpose.No, N, N, N, 1.0, _a, N, _b, N, 0.0, _c, N);
    }

    [Benchmark(Description = "managed, 2 threads")]
    public void Managed()
    {
        using var threads = Blas.UseThreads(2);
        Blas.Managed.Gemm(Transpose.No, Transpose.No, N, N, N, 1.0, _a, N, _b, N, 0.0, _c, N);
    }

    [Benchmark(Description = "managed, 1 thread")]
    public void Managed1()
    {
        using var threads = Blas.UseThreads(1);
        Blas.Managed.Gemm(Transpose.No, Transpose.No, N, N, N, 1.0, _a, N, _b, N, 0.0, _c, N);
    }
}

/// <summary>
/// The facade's cost over a raw P/Invoke with OpenBLAS on one thread: two pthreads spinning
/// on a shared 2-core machine make the multi-threaded timings swing far more than any
/// per-call overhead. n = 8 shows the overhead in absolute terms.
/// </summary>
[Config(typeof(BlasBenchmarkConfig))]
public class BlasGemmOverheadBenchmarks
{
    [Params(8, 256, 1024)] public int N;

    double[] _a = [], _b = [], _c = [];
    [GlobalSetup]
    public void Setup()
    {
        var rng = new Rng(1UL);
        _a = new double[N * N]; _b = new double[N * N]; _c = new double[N * N];
        rng.FillGaussian(_a); rng.FillGaussian(_b);
        _ = Blas.Native ?? throw new InvalidOperationException("No native BLAS: " + Blas.ProbeDiagnostics);
    }

    [Benchmark(Baseline = true, Description = "raw P/Invoke cblas_dgemm, 1 thread")]
    public unsafe void Raw()
    {
        fixed (double* pa = _a, pb = _b, pc = _c)
            RawOpenBlas.Dgemm(101, 111, 111, N, N, N, 1.0, pa, N, pb, N, 0.0, pc, N);
    }

    [Benchmark(Description = "Blas.Gemm (native), 1 thread")]
    public void Facade()
    {
        using var threads = Blas.UseThreads(1);
        Blas.Gemm(Transpose.No, Transpose.No, N, N, N, 1.0, _a, N, _b, N, 0.0, _c, N);
    }
}

/// <summary>MathNet's managed provider and our portable Vector&lt;T&gt; kernel at n = 256, for reference.</summary>
[Config(typeof(BlasBenchmarkConfig))]
public class BlasGemmReferenceBenchmarks
{
    [Params(256)] public int N;

    Matrix<double> _ma = null!, _mb = null!, _mc = null!;
    double[] _a = [], _b = [], _c = [];

    [GlobalSetup]
    public void Setup()
    {
        Control.UseManaged();
        var rng = new Rng(1UL);
        _a = new double[N * N]; _b = new double[N * N]; _c = new double[N * N];
        rng.FillGaussian(_a); rng.FillGaussian(_b);
        _ma = Matrix<double>.Build.Dense(N, N, _a);
        _mb = Matrix<double>.Build.Dense(N, N, _b);
        _mc = Matrix<double>.Build.Dense(N, N);
    }

    [Benchmark(Baseline = true, Description = "MathNet managed Multiply")]
    public void MathNetMultiply() => _ma.Multiply(_mb, _mc);

    [Benchmark(Description = "managed portable kernel, 1 thread")]
    public void Portable()
    {
        using var threads = Blas.UseThreads(1);
        ManagedBlas.Portable.Gemm(Transpose.No, Transpose.No, N, N, N, 1.0, _a, N, _b, N, 0.0, _c, N);
    }
}

/// <summary>y ← A·x and y ← Aᵀ·x for an n×n matrix: facade on native, managed on 2 threads and on 1.</summary>
[Config(typeof(BlasBenchmarkConfig))]
public class BlasGemvBenchmarks
{
    [Params(1024, 4096)] public int N;

    [Params(Transpose.No, Transpose.Yes)] public Transpose Op;

    double[] _a = [], _x = [], _y = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Rng(2UL);
        _a = new double[N * N]; _x = new double[N]; _y = new double[N];
        rng.FillGaussian(_a); rng.FillGaussian(_x);
        if (Blas.Native is null) throw new InvalidOperationException("No native BLAS: " + Blas.ProbeDiagnostics);
    }

    [Benchmark(Baseline = true, Description = "Blas.Gemv (native)")]
    public void Facade() => Blas.Gemv(Op, N, N, 1.0, _a, N, _x, 0.0, _y);

    [Benchmark(Description = "managed, 2 threads")]
    public void Managed()
    {
        using var threads = Blas.UseThreads(2);
        Blas.Managed.Gemv(Op, N, N, 1.0, _a, N, _x, 0.0, _y);
    }

    [Benchmark(Description = "managed, 1 thread")]
    public void Managed1()
    {
        using var threads = Blas.UseThreads(1);
        Blas.Managed.Gemv(Op, N, N, 1.0, _a, N, _x, 0.0, _y);
    }
}

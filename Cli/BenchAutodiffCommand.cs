using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using Spectre.Console.Cli;

namespace Curvature.Cli;

/// <summary>
/// `curvature bench autodiff`: median wall-clock times of loss + gradient, one Hessian-vector
/// product (loss, gradient and H·v from one forward-over-reverse sweep) and one block of
/// H·V for several vectors, on seeded random data (or a named data set, which a Transformer
/// needs), printed as JSON with the GEMM work of each sweep, the machine's dgemm rate measured
/// in the same process and the gradient's share of it.
/// </summary>
public sealed class BenchAutodiffCommand : Command<BenchAutodiffCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--arch <SPEC>")]
        [Description("Architecture: widths, inputs first (784-200-200-10), a CNN (1x28x28-c16k5-m2-c32k5-m2-10) or a Transformer (spam-e64-t8f256x2-2; docs/models.md).")]
        [DefaultValue("784-200-200-10")]
        public string Arch { get; init; } = "784-200-200-10";

        [CommandOption("--act <NAME>")]
        [Description("tanh | relu | gelu | softplus.")]
        [DefaultValue("tanh")]
        public string Act { get; init; } = "tanh";

        [CommandOption("--loss <NAME>")]
        [Description("ce | mse.")]
        [DefaultValue("ce")]
        public string Loss { get; init; } = "ce";

        [CommandOption("--batch <N>")]
        [Description("Examples per evaluation.")]
        [DefaultValue(1000)]
        public int Batch { get; init; } = 1000;

        [CommandOption("--data <SPEC>")]
        [Description("Data instead of seeded random inputs: its first --batch examples (spam:N for a Transformer on the spam subjects; a spam Transformer defaults to spam:BATCH).")]
        public string? Data { get; init; }

        [CommandOption("--block <M>")]
        [Description("Vectors in the block product.")]
        [DefaultValue(10)]
        public int Block { get; init; } = 10;

        [CommandOption("--repeat <N>")]
        [Description("Timed runs of each operation (the median is reported).")]
        [DefaultValue(15)]
        public int Repeat { get; init; } = 15;

        [CommandOption("--warmup <N>")]
        [Description("Untimed runs first.")]
        [DefaultValue(3)]
        public int Warmup { get; init; } = 3;

        [CommandOption("--chunk <N>")]
        [Description("Examples per chunk (chunks run in parallel).")]
        [DefaultValue(500)]
        public int Chunk { get; init; } = 500;

        [CommandOption("--threads <N>")]
        [Description("Chunks processed at once (default: all cores).")]
        public int? Threads { get; init; }

        [CommandOption("--seed <N>")]
        [Description("Seed of the data, θ and the vectors.")]
        [DefaultValue(0L)]
        public long Seed { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var activation = ParseActivation(settings.Act);
        var mlp = ParseArch(settings.Arch, activation);
        bool transformer = mlp is TransformerClassifier;
        var loss = ParseLoss(settings.Loss);
        Positive(settings.Batch, "--batch");
        Positive(settings.Block, "--block");
        Positive(settings.Repeat, "--repeat");
        NonNegative(settings.Warmup, "--warmup");
        Positive(settings.Chunk, "--chunk");
        int threads = settings.Threads ?? Environment.ProcessorCount;
        Positive(threads, "--threads");
        // Every size is bounded before it is allocated: the random data (batch × input width)
        // and the block's vectors and products (2 × block × parameters) each stay below 2 GiB.
        AtMost((long)settings.Batch * mlp.InputWidth, MaxDoubles, "--batch", settings.Batch,
            $"at most {MaxDoubles / mlp.InputWidth} examples of width {mlp.InputWidth} (2 GiB of data)");
        AtMost(2L * settings.Block * mlp.ParameterCount, MaxDoubles, "--block", settings.Block,
            $"at most {MaxDoubles / (2L * mlp.ParameterCount)} vectors of {mlp.ParameterCount} parameters (2 GiB of vectors and products)");

        var rng = new Rng(settings.Seed);
        string? dataSpec = settings.Data ?? (transformer && settings.Arch.Trim().StartsWith("spam-", StringComparison.Ordinal)
            ? string.Create(CultureInfo.InvariantCulture, $"spam:{settings.Batch}") : null);
        if (transformer && dataSpec is null)
            throw new ArgumentException($"Option '--data' was not given; a Transformer ('{settings.Arch}') needs token data, e.g. --data spam:{settings.Batch}.");
        var data = dataSpec is null ? RandomData(rng, mlp, settings.Batch) : LoadData(dataSpec, settings.Batch);
        var objective = new Objective(mlp, loss, data,
            new ObjectiveOptions { ChunkSize = settings.Chunk, Threads = threads, MaxBlock = Math.Max(16, settings.Block) });

        int n = mlp.ParameterCount, m = settings.Block;
        var theta = mlp.Initialize(unchecked((ulong)settings.Seed) + 1);
        var gradient = new double[n];
        var vectors = new double[m * n];
        rng.FillGaussian(vectors);
        var products = new double[m * n];

        // The GEMM work is counted on a single-threaded twin: the counter is per thread,
        // and with one lane every chunk runs on the calling thread. The twin is counted and
        // dropped before anything is timed, so its tape never doubles the process's memory.
        var (gradFlops, hvpFlops, blockFlops, largest) = CountGemms(new Objective(mlp, loss, data, objective.Options with { Threads = 1 }),
            theta, vectors, products, gradient, m);
        GC.Collect();
        Action gradientRun = () => objective.LossAndGradient(theta, gradient);
        Action hvpRun = () => objective.CurvatureProduct(CurvatureKind.Hessian, theta, vectors.AsSpan(0, n), products.AsSpan(0, n), gradient);
        Action blockRun = () => objective.CurvatureBlockProduct(CurvatureKind.Hessian, theta, vectors, m, products, gradient);
        var (gradMs, gradCpu) = Median(gradientRun, settings, cancellationToken);
        var (hvpMs, hvpCpu) = Median(hvpRun, settings, cancellationToken);
        var (blockMs, blockCpu) = Median(blockRun, settings, cancellationToken);

        // The machine's rate: a square dgemm through the same facade and threads, of the
        // size of the gradient's largest product (n = ∛(m·n·k)), timed as the sweeps are.
        int dgemmN = Math.Max(1, (int)Math.Round(Math.Cbrt(largest)));
        double dgemmGflops = DgemmRate(dgemmN, rng, settings, cancellationToken);
        double gradientGflops = gradFlops / (gradMs * 1e6);

        var report = new
        {
            arch = mlp.Spec,
            act = transformer ? "gelu" : activation.Name(),
            loss = loss.Name(),
            data = data.Name,
            batch = data.Count,
            block = m,
            parameters = n,
            threads,
            chunk = settings.Chunk,
            blas = Blas.Backend.Name,
            repeat = settings.Repeat,
            gradient_ms = Round(gradMs),
            hvp_ms = Round(hvpMs),
            block_hvp_ms = Round(blockMs),
            hvp_over_gradient = Round(hvpMs / gradMs),
            block_over_hvp = Round(blockMs / hvpMs),
            cpu_ms = new { gradient = Round(gradCpu), hvp = Round(hvpCpu), block_hvp = Round(blockCpu) },
            load_average = LoadAverage(),
            gemm_gflop = new { gradient = Math.Round(gradFlops / 1e9, 4), hvp = Math.Round(hvpFlops / 1e9, 4), block_hvp = Math.Round(blockFlops / 1e9, 4) },
            gemm_flop_ratios = new { hvp_over_gradient = Round(hvpFlops / gradFlops), block_over_hvp = Round(blockFlops / hvpFlops) },
            dgemm = new { n = dgemmN, gflops = Round(dgemmGflops), backend = Blas.GemmBackend(dgemmN, dgemmN, dgemmN).Name },
            gradient_gemm_gflops = Round(gradientGflops),
            gradient_share_of_dgemm = Round(gradientGflops / dgemmGflops),
        };
        Console.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }

    static double Round(double v) => Math.Round(v, 3);

    /// <summary>GEMM flops of one gradient, one H·v and one block on <paramref name="counting"/> (calling thread), and the gradient's largest m·n·k.</summary>
    static (double Gradient, double Hvp, double Block, long Largest) CountGemms(Objective counting, double[] theta, double[] vectors,
        double[] products, double[] gradient, int m)
    {
        int n = counting.ParameterCount;
        using var gemms = CountingBlas.Start();
        counting.LossAndGradient(theta, gradient);
        var (g, largest) = ((double)gemms.Flops, gemms.LargestMultiplyAdds);
        gemms.Reset();
        counting.CurvatureProduct(CurvatureKind.Hessian, theta, vectors.AsSpan(0, n), products.AsSpan(0, n), gradient);
        double h = gemms.Flops;
        gemms.Reset();
        counting.CurvatureBlockProduct(CurvatureKind.Hessian, theta, vectors, m, products, gradient);
        return (g, h, gemms.Flops, largest);
    }

    /// <summary>Uniform inputs in [0, 1) and uniform labels, seeded.</summary>
    static Dataset RandomData(Rng rng, INetwork network, int batch)
    {
        var x = new Matrix(batch, network.InputWidth);
        rng.FillUniform(x.Data, 0, 1);
        var labels = new int[batch];
        for (int i = 0; i < labels.Length; i++) labels[i] = rng.NextInt(network.OutputWidth);
        return new Dataset(x, labels, null, network.OutputWidth, $"random:{batch}");
    }

    /// <summary>The first <paramref name="batch"/> examples of a named data set (all of them when it has fewer).</summary>
    static Dataset LoadData(string spec, int batch)
    {
        var data = DataSpec.Parse(spec);
        if (data.Count <= batch) return data;
        var first = new int[batch];
        for (int i = 0; i < batch; i++) first[i] = i;
        return data.Subset(first);
    }

    /// <summary>
    /// GFLOP/s of C ← A·B, n×n, through <see cref="Blas.Gemm(Transpose, Transpose, int, int, int, double, ReadOnlySpan{double}, int, ReadOnlySpan{double}, int, double, Span{double}, int)"/>
    /// on the facade's default threads: the median of --repeat timed runs (each long enough to
    /// time, about 20 ms), after one untimed run.
    /// </summary>
    static double DgemmRate(int n, Rng rng, Settings s, CancellationToken cancel)
    {
        var a = new double[(long)n * n];
        var b = new double[(long)n * n];
        var c = new double[(long)n * n];
        rng.FillGaussian(a);
        rng.FillGaussian(b);
        double flops = 2.0 * n * n * n;
        int inner = (int)Math.Clamp(4e8 / flops, 1, 10_000);
        void Run()
        {
            for (int i = 0; i < inner; i++) Blas.Gemm(Transpose.No, Transpose.No, n, n, n, 1.0, a, n, b, n, 0.0, c, n);
        }
        var (ms, _) = Median(Run, s, cancel);
        return flops * inner / (ms * 1e6);
    }

    /// <summary>The 1-minute load average where the system reports one (Linux), else null.</summary>
    static double? LoadAverage()
    {
        try
        {
            var first = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            return double.Parse(first, CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    /// <summary>
    /// Median wall-clock milliseconds over the timed runs (after the warm-up runs), and the
    /// median process CPU milliseconds of the same runs: on a shared machine the CPU time
    /// is the steadier measure of the work, and wall ≈ CPU / threads shows the scaling.
    /// </summary>
    static (double Wall, double Cpu) Median(Action run, Settings s, CancellationToken cancel)
    {
        for (int i = 0; i < s.Warmup; i++) run();
        var wall = new double[s.Repeat];
        var cpu = new double[s.Repeat];
        for (int i = 0; i < s.Repeat; i++)
        {
            cancel.ThrowIfCancellationRequested();
            double cpu0 = ProcessCpuMilliseconds();
            var sw = Stopwatch.StartNew();
            run();
            wall[i] = sw.Elapsed.TotalMilliseconds;
            cpu[i] = ProcessCpuMilliseconds() - cpu0;
        }
        return (MedianOf(wall), MedianOf(cpu));
    }

    [StructLayout(LayoutKind.Sequential)]
    struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    static extern int ClockGetTime(int clock, out TimeSpec time);

    /// <summary>CPU time of all the process's threads: CLOCK_PROCESS_CPUTIME_ID on Linux (ns resolution), else the runtime's figure.</summary>
    static double ProcessCpuMilliseconds()
    {
        if (OperatingSystem.IsLinux())
        {
            const int ClockProcessCpuTimeId = 2;
            if (ClockGetTime(ClockProcessCpuTimeId, out var t) == 0) return t.Seconds * 1e3 + t.Nanoseconds * 1e-6;
        }
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime.TotalMilliseconds;
    }

    static double MedianOf(double[] values)
    {
        Array.Sort(values);
        int n = values.Length;
        return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
    }

    static INetwork ParseArch(string spec, Activation act)
    {
        try { return Models.Architecture.Parse(spec, act); }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"Option '--arch' was '{spec}': {e.Message}");
        }
    }

    static Activation ParseActivation(string name)
    {
        try { return ActivationNames.Parse(name); }
        catch (ArgumentException)
        {
            throw new ArgumentException($"Option '--act' was '{name}'; expected tanh, relu, gelu or softplus.");
        }
    }

    static LossKind ParseLoss(string name)
    {
        try { return LossNames.Parse(name); }
        catch (ArgumentException)
        {
            throw new ArgumentException($"Option '--loss' was '{name}'; expected ce or mse.");
        }
    }

    static void Positive(int value, string option)
    {
        if (value <= 0)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Option '{option}' was {value}; expected a positive integer."));
    }

    const long MaxDoubles = 1L << 28;

    static void AtMost(long size, long max, string option, int value, string expected)
    {
        if (size > max)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Option '{option}' was {value}; expected {expected}."));
    }

    static void NonNegative(int value, string option)
    {
        if (value < 0)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Option '{option}' was {value}; expected a non-negative integer."));
    }
}

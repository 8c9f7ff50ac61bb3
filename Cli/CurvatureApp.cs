using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using Spectre.Console.Cli;

namespace Curvature.Cli;

/// <summary>
/// The `curvature` tool. Every command is registered here; every failure, from the
/// parser or from the engine, ends as one line on stderr and a non-zero exit code.
/// </summary>
internal static partial class CurvatureApp
{
    /// <summary>Exit code of a run stopped by SIGINT/SIGTERM after writing its checkpoint and summary (128 + SIGINT, as shells report it).</summary>
    public const int InterruptedExitCode = 130;

    /// <summary>The training options spectrum does not read: it measures one θ (its --tolerance, like --analysis-tolerance, is the top-k solve's).</summary>
    static readonly HashSet<string> SpectrumUnread =
    [
        "--test-data", "--batch", "--steps", "--warmup", "--momentum", "--update", "--beta1", "--beta2", "--adam-eps", "--weight-decay",
        "--switch-chi", "--switch-step", "--chi-ema", "--subspace", "--cold-start", "--eval-every", "--divergence-factor", "--refresh", "--points", "--norms", "--probes",
        "--switch-chi-source", "--full-lambda-every", "--curvature-log-every", "--curvature-log-tolerance",
    ];

    /// <summary>What decompose does not read: its own SGD run never projects (--switch-chi, --chi-ema) and it draws no density.</summary>
    static readonly HashSet<string> DecomposeUnread = ["--switch-chi", "--switch-step", "--switch-chi-source", "--chi-ema", "--subspace", "--density-probes", "--density-steps"];

    /// <summary>What the products other than grad do not read: only grad writes per-example gradients.</summary>
    static readonly HashSet<string> PerExampleUnread = ["--per-example"];

    /// <summary>Every command: its path (a branch and a name for `bench autodiff`), its class and one line of description.</summary>
    public static readonly IReadOnlyList<CommandEntry> Commands =
    [
        new(["info"], typeof(InfoCommand), "Active BLAS backend, library, threads and SIMD support."),
        new(["eig"], typeof(EigCommand), "Eigenpairs of a dense symmetric .npy matrix (Lanczos, LOBPCG or power iteration)."),
        new(["train"], typeof(TrainCommand), "One training run (sgd, dom, bulk, interp) with metrics and a checkpoint."),
        new(["compare"], typeof(CompareCommand), "Several optimizers from one initialization; report with plots."),
        new(["sweep"], typeof(SweepCommand), "Ablation grid over lr, k, refresh, Hessian batch, alpha; table and report."),
        new(["spectrum"], typeof(SpectrumCommand), "Top-k eigenvalues and spectral density of H, G, F, EF, Σ, the Fisher or K-FAC at one θ.") { Unread = SpectrumUnread },
        new(["decompose"], typeof(DecomposeCommand), "Curvature energy of H, G, F inside the dominant subspace of H.") { Unread = DecomposeUnread },
        new(["bench", "autodiff"], typeof(BenchAutodiffCommand), "Gradient, HVP and block-HVP timings as JSON."),
        new(["export-data"], typeof(ExportDataCommand), "Write any --data spec as X.npy (float64) and y.npy (int64 labels or float64 targets)."),
        new(["init"], typeof(InitCommand), "Write θ at the seeded default initialization as theta.npy and theta.npz."),
        new(["grad"], typeof(ProductCommand), "Write the gradient of the mean loss as grad.npy (and, with --per-example, the per-example gradients).") { Unread = new HashSet<string> { "--vector", "-v" } },
        new(["hvp"], typeof(ProductCommand), "Write the Hessian-vector product H·v as hv.npy.") { Unread = PerExampleUnread },
        new(["ggnvp"], typeof(ProductCommand), "Write the Gauss-Newton product G·v as gv.npy.") { Unread = PerExampleUnread },
        new(["fvp"], typeof(ProductCommand), "Write the functional-Hessian product F·v as fv.npy.") { Unread = PerExampleUnread },
    ];

    /// <summary>Runs the tool; returns the exit code.</summary>
    public static int Run(string[] args, TextWriter? stderr = null)
    {
        stderr ??= Console.Error;
        var app = new CommandApp();
        app.Configure(config =>
        {
            config.SetApplicationName("curvature");
            config.SetApplicationVersion(Curvature.Core.RunJson.Version);
            config.PropagateExceptions();
            // An unknown option is an error, not an argument silently left over.
            config.UseStrictParsing();
            config.SetHelpProvider(new PlainHelp(Commands));
            foreach (var group in Commands.GroupBy(c => c.Path.Length == 1 ? "" : c.Path[0]))
            {
                if (group.Key.Length == 0)
                    foreach (var c in group) RegisterRoot(config, c.Path[0], c);
                else
                    config.AddBranch(group.Key, branch => { foreach (var c in group) RegisterBranch(branch, c.Path[1], c); });
            }
        });
        IgnoreFileSizeSignal();
        using var cancel = new CancellationTokenSource();
        // SIGINT/SIGTERM: the running command finishes its step, writes what it has and returns;
        // the default (killing the process at once) is cancelled. A second signal then kills.
        var handlers = new List<PosixSignalRegistration>();
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM })
            handlers.Add(PosixSignalRegistration.Create(signal, ctx =>
            {
                if (cancel.IsCancellationRequested) return;
                ctx.Cancel = true;
                cancel.Cancel();
            }));
        try
        {
            var normalized = SingleLetterLongOptions(args);
            CliArguments.Check(normalized, Commands);
            int code = app.Run(normalized, cancel.Token);
            return cancel.IsCancellationRequested && code == 0 ? InterruptedExitCode : code;
        }
        catch (Exception e)
        {
            stderr.WriteLine("error: " + OneLine(e));
            if (Environment.GetEnvironmentVariable("CURVATURE_TRACE") == "1") stderr.WriteLine(e.ToString());
            if (cancel.IsCancellationRequested && e is OperationCanceledException) return InterruptedExitCode;
            return !IsFileTooLarge(Innermost(e)) && e is CommandParseException or CommandRuntimeException or ArgumentException or FormatException ? 2 : 1;
        }
        finally
        {
            foreach (var h in handlers) h.Dispose();
        }
    }

    /// <summary>
    /// Under a file-size limit (ulimit -f) the kernel kills a writer with SIGXFSZ, leaving no error line. Ignored,
    /// the write fails with EFBIG instead: an IOException the caller reports in one line like any full disk.
    /// </summary>
    static void IgnoreFileSizeSignal()
    {
        if (!OperatingSystem.IsLinux()) return;
        const int SigXfsz = 25;
        try { _ = Signal(SigXfsz, 1 /* SIG_IGN */); }
        catch (EntryPointNotFoundException) { }
        catch (DllNotFoundException) { }
    }

    [LibraryImport("libc", EntryPoint = "signal")]
    private static partial nint Signal(int signal, nint handler);

    static void RegisterBranch(IConfigurator<CommandSettings> config, string name, CommandEntry entry) =>
        typeof(CurvatureApp).GetMethod(nameof(AddTyped), BindingFlags.NonPublic | BindingFlags.Static)!
            .MakeGenericMethod(entry.Command).Invoke(null, [config, name, entry.Description]);

    static void RegisterRoot(IConfigurator config, string name, CommandEntry entry) =>
        typeof(CurvatureApp).GetMethod(nameof(AddRoot), BindingFlags.NonPublic | BindingFlags.Static)!
            .MakeGenericMethod(entry.Command).Invoke(null, [config, name, entry.Description]);

    static void AddRoot<T>(IConfigurator config, string name, string description) where T : class, ICommand =>
        config.AddCommand<T>(name).WithDescription(description);

    static void AddTyped<T>(IConfigurator<CommandSettings> config, string name, string description) where T : class, ICommandLimiter<CommandSettings> =>
        config.AddCommand<T>(name).WithDescription(description);

    /// <summary>
    /// The parser only accepts one-letter options in short form, but the shared spelling is
    /// `--k 10`: `--x` and `--x=v` with a single letter x become `-x` and `-x=v`.
    /// </summary>
    static string[] SingleLetterLongOptions(string[] args) => args
        .Select(a => a.Length >= 3 && a.StartsWith("--", StringComparison.Ordinal) && char.IsAsciiLetter(a[2]) && (a.Length == 3 || a[3] == '=') ? a[1..] : a)
        .ToArray();

    /// <summary>EFBIG from a write: .NET reports it as an ArgumentOutOfRangeException with this text (invariant globalization).</summary>
    static bool IsFileTooLarge(Exception e) =>
        e is ArgumentOutOfRangeException && e.Message.StartsWith("Specified file length was too large for the file system", StringComparison.Ordinal);

    static Exception Innermost(Exception e)
    {
        var inner = e;
        while (inner is System.Reflection.TargetInvocationException or AggregateException && inner.InnerException != null)
            inner = inner.InnerException;
        return inner;
    }

    static string OneLine(Exception e)
    {
        var inner = Innermost(e);
        string message = inner switch
        {
            OutOfMemoryException => "Out of memory; expected sizes within the stated limits (see docs/reliability.md) — reduce --arch, --data, --batch, --hessian-batch or -k.",
            OverflowException => $"A size overflowed ({inner.Message}); expected sizes within the stated limits (see docs/reliability.md).",
            _ when IsFileTooLarge(inner) => "A file grew past the file-size limit (ulimit -f) or the file system's largest file; the write failed (EFBIG) and the run stopped; expected room for the outputs (raise the limit, then resume from the last checkpoint).",
            _ => inner.Message,
        };
        // ArgumentException appends " (Parameter 'x')", also inside wrapped messages; ours already name the option.
        message = System.Text.RegularExpressions.Regex.Replace(message, @" \(Parameter '[^']*'\)", "");
        return FieldFlags.Rewrite(message).ReplaceLineEndings(" ").Trim();
    }
}

/// <summary>One registered command.</summary>
/// <param name="Path">Its words on the command line (`train`, or `bench autodiff`).</param>
/// <param name="Command">The command class.</param>
/// <param name="Description">One line for the help page.</param>
internal sealed record CommandEntry(string[] Path, Type Command, string Description)
{
    /// <summary>The settings class: the T of the command's Command&lt;T&gt; base.</summary>
    public Type Settings
    {
        get
        {
            for (var t = Command; t is not null; t = t.BaseType)
                if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(Command<>)) return t.GetGenericArguments()[0];
            throw new InvalidOperationException($"Command {Command.Name} derives from no Command<T>.");
        }
    }

    /// <summary>Every option its settings class declares, from the [CommandOption] attributes (including those the command does not read).</summary>
    public IReadOnlyList<OptionInfo> AllOptions => OptionInfo.Of(Settings);

    /// <summary>The options the command reads: <see cref="AllOptions"/> less those it names in <see cref="Unread"/>. Help lists these; the others are refused.</summary>
    public IReadOnlyList<OptionInfo> Options => AllOptions.Where(o => !o.Names.Any(Unread.Contains)).ToList();

    /// <summary>Options inherited from a shared settings class that this command does not read.</summary>
    public IReadOnlySet<string> Unread { get; init; } = new HashSet<string>();
}

/// <summary>An option as declared: its names, value name (null for a flag), property and description.</summary>
internal sealed record OptionInfo(string[] Names, string? ValueName, bool ValueIsOptional, PropertyInfo Property, string? Description, bool IsHidden = false)
{
    /// <summary>The options of a settings class, in declaration order (base class first).</summary>
    public static IReadOnlyList<OptionInfo> Of(Type settings)
    {
        var chain = new List<Type>();
        for (var t = settings; t is not null && t != typeof(CommandSettings); t = t.BaseType) chain.Insert(0, t);
        var list = new List<OptionInfo>();
        foreach (var type in chain)
            foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            {
                var attr = p.GetCustomAttribute<CommandOptionAttribute>();
                if (attr is null) continue;
                var names = attr.LongNames.Select(n => "--" + n).Concat(attr.ShortNames.Select(n => "-" + n)).ToArray();
                list.Add(new OptionInfo(names, attr.ValueName, attr.ValueIsOptional, p,
                    p.GetCustomAttribute<System.ComponentModel.DescriptionAttribute>()?.Description, attr.IsHidden));
            }
        return list;
    }

    /// <summary>The name shown first: the long name, else the short one.</summary>
    public string Display => Names[0];

    /// <summary>What the option alone changes when it is declared <see cref="OnlyAffectsAttribute"/> (speed or printing), else null.</summary>
    public OnlyAffectsAttribute? OnlyAffects => Property.GetCustomAttribute<OnlyAffectsAttribute>();

    /// <summary>Whether the option takes a value (not a flag).</summary>
    public bool TakesValue => Property.PropertyType != typeof(bool) && Property.PropertyType != typeof(bool?);
}

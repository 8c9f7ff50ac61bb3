using System.Diagnostics;
using System.Globalization;
using Curvature.Experiments;
using Spectre.Console;

namespace Curvature.Cli;

/// <summary>
/// Progress for long commands: a live Spectre.Console bar with step, loss, λ₁ and ETA when
/// stdout is an interactive terminal, and plain throttled lines (one every few percent or
/// every few seconds) when it is redirected to a file or a pipe, so logs stay readable.
/// </summary>
public static class ProgressDisplay
{
    /// <summary>True when live rendering makes sense: stdout is a terminal Spectre can redraw.</summary>
    public static bool Interactive =>
        !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive && AnsiConsole.Profile.Capabilities.Ansi;

    public static T Run<T>(string title, long totalUnits, Func<IProgressSink, T> work, TextWriter? plain = null, bool? interactive = null)
    {
        ArgumentNullException.ThrowIfNull(work);
        if (totalUnits <= 0)
            throw new ArgumentOutOfRangeException(nameof(totalUnits), $"Argument 'totalUnits' was {totalUnits}; expected a positive count.");
        if (interactive ?? Interactive)
        {
            T result = default!;
            AnsiConsole.Progress()
                .AutoClear(false)
                .HideCompleted(false)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(),
                    new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask(Markup.Escape(title), maxValue: totalUnits);
                    var sink = new LiveSink(task, title);
                    result = work(sink);
                    task.Value = totalUnits;
                    task.StopTask();
                });
            return result;
        }
        var plainSink = new PlainSink(plain ?? Console.Out, title, totalUnits);
        var value = work(plainSink);
        plainSink.Finish();
        return value;
    }

    public static string Describe(string phase, long step, long steps, double loss, double lambda1)
    {
        var parts = new List<string> { phase, $"step {step}/{steps}" };
        if (double.IsFinite(loss) || double.IsInfinity(loss)) parts.Add("loss " + ReportWriter.Num(loss));
        if (double.IsFinite(lambda1)) parts.Add("λ₁ " + ReportWriter.Num(lambda1));
        return string.Join("  ", parts);
    }

    public static string Duration(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:00}m"
        : t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes}m{t.Seconds:00}s"
        : $"{t.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)}s";

    sealed class LiveSink(ProgressTask task, string title) : IProgressSink
    {
        public void Report(string phase, long done, long step, long steps, double loss, double lambda1)
        {
            task.Description = Markup.Escape($"{title}: {Describe(phase, step, steps, loss, lambda1)}");
            task.Value = Math.Min(done, (long)task.MaxValue);
        }

        public void Message(string text) => AnsiConsole.MarkupLine(Markup.Escape(text));
    }

    sealed class PlainSink(TextWriter output, string title, long total) : IProgressSink
    {
        readonly Stopwatch _clock = Stopwatch.StartNew();
        double _lastFraction = -1;
        double _lastSeconds = double.NegativeInfinity;
        string _lastPhase = "";
        long _lastDone = -1;

        public void Report(string phase, long done, long step, long steps, double loss, double lambda1)
        {
            double fraction = Math.Clamp((double)done / total, 0, 1);
            double seconds = _clock.Elapsed.TotalSeconds;
            bool phaseEnd = step >= steps;
            if (phase == _lastPhase && !phaseEnd && fraction - _lastFraction < 0.05 && seconds - _lastSeconds < 10)
                return;
            if (done == _lastDone && phase == _lastPhase) return;
            _lastFraction = fraction; _lastSeconds = seconds; _lastPhase = phase; _lastDone = done;
            // The first percent is mostly start-up (JIT, first eigensolve); extrapolating from it misleads.
            string eta = fraction >= 0.01 && done < total
                ? "  ETA " + Duration(TimeSpan.FromSeconds(seconds / done * (total - done)))
                : "";
            output.WriteLine($"[{title}] {(fraction * 100).ToString("0", CultureInfo.InvariantCulture),3}%  {Describe(phase, step, steps, loss, lambda1)}  elapsed {Duration(_clock.Elapsed)}{eta}");
            output.Flush();
        }

        public void Message(string text)
        {
            output.WriteLine($"[{title}] {text}");
            output.Flush();
        }

        public void Finish()
        {
            output.WriteLine($"[{title}] done in {Duration(_clock.Elapsed)}");
            output.Flush();
        }
    }
}

using System.Diagnostics;
using System.Globalization;
using Curvature.Experiments;
using Spectre.Console;

namespace Curvature.Cli;

/// <summary>
/// Progress for long commands: a live Spectre.Console bar with step, loss, λ₁ and ETA when
/// stdout is an interactive terminal, and plain throttled lines (one every few percent or
/// every few seconds) when it is redirected to a file or a pipe, so logs stay readable.
/// The loss on a progress line is the last minibatch's ("batch loss"), not the full training
/// loss that the final line and summary.json report. The ETA (<see cref="EtaEstimator"/>)
/// leaves out start-up (JIT, data loading, the first eigensolve) and appears only after a few
/// percent of the work.
/// </summary>
internal static class ProgressDisplay
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
            int width = AnsiConsole.Profile.Width;
            // A description longer than its share of the line makes Spectre wrap the line or
            // collapse the description to "…": the bar shrinks on narrow terminals and the
            // description is fitted to what is left (FitDescription).
            int bar = Math.Clamp(width - 90, 10, 40);
            int descriptionWidth = width - bar - FixedColumnsWidth;
            AnsiConsole.Progress()
                .AutoClear(false)
                .HideCompleted(false)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn { Width = bar },
                    new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask(Markup.Escape(FitDescription(title, title, 0, 0, double.NaN, double.NaN, "", descriptionWidth)), maxValue: totalUnits);
                    var sink = new LiveSink(task, title, totalUnits, descriptionWidth);
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

    /// <summary>The progress text; <paramref name="loss"/> is a minibatch's loss and is labelled so.</summary>
    public static string Describe(string phase, long step, long steps, double loss, double lambda1)
    {
        var parts = new List<string> { phase, $"step {step}/{steps}" };
        if (double.IsFinite(loss) || double.IsInfinity(loss)) parts.Add("batch loss " + ReportWriter.Num(loss));
        if (double.IsFinite(lambda1)) parts.Add("λ₁ " + ReportWriter.Num(lambda1));
        return string.Join("  ", parts);
    }

    /// <summary>Columns beside the description and the bar: percentage (4), elapsed (8), spinner (1), four gaps, and one column spare.</summary>
    const int FixedColumnsWidth = 4 + 8 + 1 + 4 + 1;

    /// <summary>
    /// The live description in at most <paramref name="width"/> characters: the full
    /// "title: phase  step s/n  batch loss …  λ₁ …  ETA …" when it fits, else single spaces
    /// and "loss", then without the title, λ₁, the loss, the ETA, and last with the phase
    /// cut short, so the step count always shows.
    /// </summary>
    public static string FitDescription(string title, string phase, long step, long steps, double loss, double lambda1, string eta, int width)
    {
        string full = (phase == title ? title : $"{title}: {Describe(phase, step, steps, loss, lambda1)}") + eta;
        if (full.Length <= width || phase == title) return Cut(full, width);
        string Compact(bool withTitle, bool withLambda, bool withLoss, bool withEta)
        {
            var parts = new List<string> { withTitle ? $"{title}: {phase}" : phase, $"step {step}/{steps}" };
            if (withLoss && (double.IsFinite(loss) || double.IsInfinity(loss))) parts.Add("loss " + ReportWriter.Num(loss));
            if (withLambda && double.IsFinite(lambda1)) parts.Add("λ₁ " + ReportWriter.Num(lambda1));
            if (withEta && eta.Length > 0) parts.Add(eta.Trim());
            return string.Join(" ", parts);
        }
        foreach (var text in new[]
        {
            Compact(true, true, true, true), Compact(false, true, true, true), Compact(false, false, true, true),
            Compact(false, false, false, true), Compact(false, false, false, false),
        })
            if (text.Length <= width) return text;
        string counter = $" step {step}/{steps}";
        return Cut(phase, Math.Max(1, width - counter.Length)) + counter;
    }

    static string Cut(string text, int width) => text.Length <= width ? text : width <= 1 ? "…" : text[..(width - 1)] + "…";

    public static string Duration(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:00}m"
        : t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes}m{t.Seconds:00}s"
        : $"{t.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)}s";

    sealed class LiveSink(ProgressTask task, string title, long total, int width) : IProgressSink
    {
        readonly Stopwatch _clock = Stopwatch.StartNew();
        readonly EtaEstimator _eta = new(total);

        public void Report(string phase, long done, long step, long steps, double loss, double lambda1)
        {
            string eta = _eta.Update(done, _clock.Elapsed.TotalSeconds) is double left ? "  ETA " + Duration(TimeSpan.FromSeconds(left)) : "";
            task.Description = Markup.Escape(FitDescription(title, phase, step, steps, loss, lambda1, eta, width));
            task.Value = Math.Min(done, (long)task.MaxValue);
        }

        public void Message(string text) => AnsiConsole.MarkupLine(Markup.Escape(text));
    }

    sealed class PlainSink(TextWriter output, string title, long total) : IProgressSink
    {
        readonly Stopwatch _clock = Stopwatch.StartNew();
        readonly EtaEstimator _eta = new(total);
        double _lastFraction = -1;
        double _lastSeconds = double.NegativeInfinity;
        string _lastPhase = "";
        long _lastDone = -1;

        public void Report(string phase, long done, long step, long steps, double loss, double lambda1)
        {
            double fraction = Math.Clamp((double)done / total, 0, 1);
            double seconds = _clock.Elapsed.TotalSeconds;
            double? left = _eta.Update(done, seconds);
            bool phaseEnd = step >= steps;
            if (phase == _lastPhase && !phaseEnd && fraction - _lastFraction < 0.05 && seconds - _lastSeconds < 10)
                return;
            if (done == _lastDone && phase == _lastPhase) return;
            _lastFraction = fraction; _lastSeconds = seconds; _lastPhase = phase; _lastDone = done;
            string eta = left is double l ? "  ETA " + Duration(TimeSpan.FromSeconds(l)) : "";
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

    /// <summary>
    /// Remaining time from the measured mean time per unit of work, start-up excluded. The
    /// clock starts at the first report with work done (before it: JIT, data loading, the first
    /// eigensolve, which made compare's first ETA twice too high when averaged in). No estimate
    /// until the work since then is at least <see cref="MinFraction"/> of the total and
    /// <see cref="MinUnits"/> units, so the first ETA rests on several steps and refreshes.
    /// </summary>
    public sealed class EtaEstimator(long total)
    {
        /// <summary>The least share of the total measured before an ETA is shown.</summary>
        public const double MinFraction = 0.03;

        /// <summary>The least units (steps) measured before an ETA is shown.</summary>
        public const long MinUnits = 3;

        long _anchorDone = -1;
        double _anchorSeconds;

        /// <summary>Seconds left after <paramref name="done"/> units at <paramref name="seconds"/>, or null while too little is measured or when finished.</summary>
        public double? Update(long done, double seconds)
        {
            if (done <= 0) return null;
            if (_anchorDone < 0)
            {
                _anchorDone = done;
                _anchorSeconds = seconds;
                return null;
            }
            long measured = done - _anchorDone;
            if (done >= total || measured < MinUnits || measured < MinFraction * total) return null;
            return (seconds - _anchorSeconds) / measured * (total - done);
        }
    }
}

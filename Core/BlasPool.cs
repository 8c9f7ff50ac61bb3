namespace Curvature.Core;

/// <summary>
/// A piece of facade work cut into a fixed number of panels. The cut is decided by the
/// caller from the problem's shape alone, never from the thread count; threads only decide
/// who computes which panel and when, so the result has the same bits on any number of
/// threads. Instances are reused (one per calling thread and kind of work), so a call
/// allocates nothing.
/// </summary>
internal abstract class ParallelWork
{
    int _panels;
    int _next;
    int _done;
    int _slots;
    // Helpers currently holding a reference to this object. Never reset: a helper that
    // looked at a finished job may still bump it on its way out (see BlasPool.HelperLoop).
    internal int Inside;
    Exception? _error;

    /// <summary>Number of panels of the current problem.</summary>
    internal int Panels => _panels;

    /// <summary>Computes panel <paramref name="index"/>; panels write disjoint parts of the output.</summary>
    protected abstract void RunPanel(int index);

    internal void Reset(int panels, int helperSlots)
    {
        _panels = panels;
        _next = 0;
        _done = 0;
        _slots = helperSlots;
        _error = null;
    }

    internal bool TryTakeSlot() => Interlocked.Decrement(ref _slots) >= 0;

    internal bool Finished => Volatile.Read(ref _done) >= _panels;

    /// <summary>Claims and runs panels until none are left (or, for a helper, until the cores are all taken).</summary>
    internal void Drain(bool helper)
    {
        while (true)
        {
            // A helper steps back when every core already has a calling thread inside the
            // facade (two Objective lanes, say): the callers finish the panels themselves.
            if (helper && Volatile.Read(ref BlasPool.Callers) >= BlasPool.Cores) return;
            int p = Interlocked.Increment(ref _next) - 1;
            if (p >= _panels) return;
            try
            {
                RunPanel(p);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _error, e, null);
            }
            Interlocked.Increment(ref _done);
        }
    }

    internal void ThrowIfFailed()
    {
        var e = _error;
        if (e is not null)
        {
            _error = null;
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw();
        }
    }
}

/// <summary>
/// The facade's own threads: background helpers that join the calling thread on the
/// panels of one <see cref="ParallelWork"/> at a time. No .NET thread-pool work items, no
/// closures, no tasks, so a call allocates nothing. A caller that finds the helpers busy
/// (another thread's call owns them) computes all its panels alone, which gives the same
/// bits. The calling thread always works too, and waits for the last panel by spinning
/// and yielding (panels are at least tens of microseconds of work).
/// </summary>
internal static class BlasPool
{
    /// <summary>Cores of the machine: the most threads that run facade work at once.</summary>
    internal static readonly int Cores = Math.Max(1, Environment.ProcessorCount);

    /// <summary>Most helper threads ever started (a caller may ask for more threads than cores).</summary>
    const int MaxHelpers = 63;

    /// <summary>Threads currently inside a call that may run in parallel (callers, not helpers).</summary>
    internal static int Callers;

    static ParallelWork? _current;
    static readonly SemaphoreSlim Wake = new(0);
    static readonly object StartGate = new();
    static int _started;

    /// <summary>
    /// Runs every panel of <paramref name="work"/> (already reset to its panel count) with
    /// up to <paramref name="threads"/> threads including the caller, and returns when all
    /// are done; an exception thrown by a panel is rethrown here.
    /// </summary>
    internal static void Run(ParallelWork work, int panels, int threads)
    {
        int callers = Interlocked.Increment(ref Callers);
        try
        {
            int helpers = Math.Min(Math.Min(threads, panels) - 1, Math.Min(Cores - callers, MaxHelpers));
            if (helpers <= 0)
            {
                work.Reset(panels, 0);
                work.Drain(helper: false);
            }
            else
            {
                work.Reset(panels, helpers);
                if (Interlocked.CompareExchange(ref _current, work, null) is not null)
                {
                    // Another caller owns the helpers: same panels, this thread alone.
                    work.Drain(helper: false);
                }
                else
                {
                    EnsureStarted(helpers);
                    Wake.Release(helpers);
                    work.Drain(helper: false);
                    var spin = new SpinWait();
                    while (!work.Finished) spin.SpinOnce(sleep1Threshold: -1);
                    Volatile.Write(ref _current, null);
                    // No helper may still be looking at this object when the caller reuses it.
                    while (Volatile.Read(ref work.Inside) != 0) spin.SpinOnce(sleep1Threshold: -1);
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref Callers);
        }
        work.ThrowIfFailed();
    }

    static void EnsureStarted(int helpers)
    {
        if (Volatile.Read(ref _started) >= helpers) return;
        lock (StartGate)
        {
            while (_started < helpers)
            {
                var t = new Thread(HelperLoop) { IsBackground = true, Name = $"curvature-blas-{_started + 1}" };
                t.Start();
                _started++;
            }
        }
    }

    static void HelperLoop()
    {
        while (true)
        {
            Wake.Wait();
            var work = Volatile.Read(ref _current);
            if (work is null) continue;
            // Announce first, then check the job is still the published one: the caller
            // reuses the object only after unpublishing it and seeing Inside = 0, so a
            // helper that passes this check sees a fully set-up job.
            Interlocked.Increment(ref work.Inside);
            if (ReferenceEquals(Volatile.Read(ref _current), work) && work.TryTakeSlot())
                work.Drain(helper: true);
            Interlocked.Decrement(ref work.Inside);
        }
    }
}

using System.Runtime.ExceptionServices;
using Curvature.Core;

namespace Curvature.Models;

/// <summary>Work split into numbered chunks, run by a <see cref="ChunkPool"/>.</summary>
interface IChunkJob
{
    /// <summary>Runs chunk <paramref name="chunk"/> on lane <paramref name="lane"/>, touching only that lane's state (any thread).</summary>
    void RunChunk(int lane, int chunk);
}

/// <summary>
/// A fixed set of lanes that run a job's chunks in waves of one chunk per lane (lane 0 on
/// the caller's thread, the others on the thread pool). The caller then reads the lanes'
/// results in chunk order, so sums do not depend on the number of lanes. Lanes are
/// reused: once warm, a wave allocates nothing. One wave at a time per pool; separate
/// pools share no state. While several lanes run, each lane's facade calls are held to one
/// thread (a thread-local <see cref="Blas.UseThreads"/> scope), so lanes and the facade's
/// own helpers do not oversubscribe the cores; the facade's bits do not depend on it.
/// </summary>
sealed class ChunkPool
{
    readonly Lane[] _lanes;
    readonly CountdownEvent _pending = new(0);
    IChunkJob? _job;

    public ChunkPool(int threads)
    {
        Guard.Positive(threads);
        _lanes = new Lane[threads];
        for (int i = 0; i < threads; i++) _lanes[i] = new Lane(this, i);
    }

    /// <summary>Lanes, i.e. chunks run at once.</summary>
    public int Threads => _lanes.Length;

    /// <summary>
    /// Runs chunks [first, first + active) with active = min(<see cref="Threads"/>,
    /// chunks − first), lane w on chunk first + w, and returns active once all are done.
    /// The first exception of a lane is rethrown after every lane has finished.
    /// </summary>
    public int RunWave(IChunkJob job, int first, int chunks)
    {
        int active = Math.Min(_lanes.Length, chunks - first);
        if (active == 1)
        {
            job.RunChunk(0, first);
            return 1;
        }
        _job = job;
        try
        {
            _pending.Reset(active - 1);
            for (int w = 1; w < active; w++)
            {
                _lanes[w].Chunk = first + w;
                ThreadPool.UnsafeQueueUserWorkItem(_lanes[w], preferLocal: false);
            }
            // Even when this lane fails, the others must finish before the next wave reuses them.
            try
            {
                using var serial = Blas.UseThreads(1);
                job.RunChunk(0, first);
            }
            finally { _pending.Wait(); }
            for (int w = 1; w < active; w++)
            {
                var error = _lanes[w].Error;
                if (error is not null)
                {
                    _lanes[w].Error = null;
                    ExceptionDispatchInfo.Capture(error).Throw();
                }
            }
        }
        finally { _job = null; }
        return active;
    }

    sealed class Lane(ChunkPool pool, int index) : IThreadPoolWorkItem
    {
        public int Chunk;
        public Exception? Error;

        public void Execute()
        {
            Error = null;
            try
            {
                using var serial = Blas.UseThreads(1);
                pool._job!.RunChunk(index, Chunk);
            }
            catch (Exception e) { Error = e; }
            finally { pool._pending.Signal(); }
        }
    }
}

using Curvature.Core;

namespace Curvature.Models;

/// <summary>Execution options of an <see cref="Objective"/>. None of them changes the result's bits.</summary>
public sealed record ObjectiveOptions
{
    /// <summary>
    /// Most examples per chunk. Partial sums are formed per chunk and added in chunk order,
    /// so the chunking (unlike the thread count) does change the last bits of a result.
    /// </summary>
    public int ChunkSize { get; init; } = 500;

    /// <summary>
    /// Calls with at least <see cref="MinChunkRows"/> examples per chunk are split into at
    /// least this many chunks, so that small batches still keep two cores busy. A fixed
    /// number, not the thread count: the chunking must not depend on the threads.
    /// </summary>
    public int MinChunks { get; init; } = 2;

    /// <summary>Smallest chunk <see cref="MinChunks"/> may create.</summary>
    public const int MinChunkRows = 32;

    /// <summary>
    /// Chunks processed at once, each on its own thread with a single-threaded BLAS. A call
    /// whose examples fit in one chunk runs on one thread.
    /// </summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>Most tangent directions carried by one sweep; larger blocks run as several sweeps.</summary>
    public int MaxBlock { get; init; } = 16;

    /// <summary>Chunks of 500, at least 2 chunks, every core, blocks of 16.</summary>
    public static ObjectiveOptions Default { get; } = new();

    /// <summary>
    /// Numbers a curvature sweep's chunk may hold in its values and tangents, rows × (1 + m) × (values per
    /// example), before its chunks narrow (<see cref="CurvatureChunkRows"/>): 2²⁴ (128 MB a lane).
    /// </summary>
    public long BlockChunkBudget { get; init; } = 1L << 24;

    /// <summary>
    /// Chunks for <paramref name="examples"/> examples: ⌈N/ChunkSize⌉, raised to
    /// min(MinChunks, ⌊N/MinChunkRows⌋); chunk k then holds examples [⌊kN/K⌋, ⌊(k+1)N/K⌋).
    /// Depends on N and the options only.
    /// </summary>
    public int ChunkCount(int examples) => ChunkCount(examples, 0, 0);

    /// <summary>
    /// Chunks for <paramref name="examples"/> examples swept with <paramref name="tangents"/>
    /// tangent directions (a block product of that width; 0 for loss and gradient) through a network
    /// whose forward pass records <paramref name="valuesPerExample"/> numbers per example: as
    /// <see cref="ChunkCount(int)"/> with the chunk capped at <see cref="CurvatureChunkRows"/> rows.
    /// Depends on N, m, the network and the options only, never on the threads (docs/curvature.md,
    /// "Chunks of a block product").
    /// </summary>
    public int ChunkCount(int examples, int tangents, long valuesPerExample)
    {
        Guard.Positive(examples);
        long rows = CurvatureChunkRows(tangents, valuesPerExample);
        int byCapacity = (int)((examples + rows - 1) / rows);
        return Math.Max(byCapacity, Math.Min(MinChunks, examples / MinChunkRows));
    }

    /// <summary>
    /// Most examples per chunk of a sweep carrying m tangents: ChunkSize for loss and gradient (m = 0)
    /// and while ChunkSize × (1 + m) × <paramref name="valuesPerExample"/> fits
    /// <see cref="BlockChunkBudget"/> B (every product of a small network keeps its chunks and bits);
    /// beyond it ⌊B / (2·(1 + m)·v)⌋, at least 1, so a lane's memory is bounded by the budget, not by
    /// the chunk or the block (docs/curvature.md, "Chunks of a curvature sweep").
    /// </summary>
    public int CurvatureChunkRows(int tangents, long valuesPerExample)
    {
        Guard.NonNegative(tangents);
        Guard.NonNegative(valuesPerExample);
        if (tangents == 0 || (double)ChunkSize * (1 + tangents) * valuesPerExample <= BlockChunkBudget) return ChunkSize;
        // Half the budget: a node keeps its buffers at the largest size any sweep asked for, and a lane
        // alternates single products (values grown) with blocks (tangents grown), so it holds up to twice one sweep.
        return (int)Math.Max(1, Math.Min(ChunkSize, BlockChunkBudget / (2 * (1 + (long)tangents) * valuesPerExample)));
    }

    internal void Validate()
    {
        int chunkSize = ChunkSize, threads = Threads, maxBlock = MaxBlock, minChunks = MinChunks;
        Guard.Positive(minChunks);
        if (BlockChunkBudget < 1)
            throw new ArgumentOutOfRangeException("block-chunk-budget", $"Option 'BlockChunkBudget' was {BlockChunkBudget}; expected a positive number of values.");
        Guard.Positive(maxBlock);
        if (threads < 1 || threads > MaxThreads)
            throw new ArgumentOutOfRangeException("threads", $"Option '--threads' was {threads}; expected an integer in [1, {MaxThreads}] (4 × the {Environment.ProcessorCount} processors, at least 256).");
        if (chunkSize < 1 || chunkSize > MaxChunkSize)
            throw new ArgumentOutOfRangeException("chunk", $"Option '--chunk' was {chunkSize}; expected an integer in [1, {MaxChunkSize}] (examples per chunk).");
    }

    /// <summary>Most worker threads: 4 × the processor count, at least 256 (each holds its own chunk buffers).</summary>
    public static int MaxThreads => Math.Max(256, 4 * Environment.ProcessorCount);

    /// <summary>Most examples per chunk (each thread's buffers scale with it).</summary>
    public const int MaxChunkSize = 100_000;
}

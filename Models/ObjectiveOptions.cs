using Curvature.Core;

namespace Curvature.Models;

/// <summary>Execution options of an <see cref="Objective"/>. None of them changes the result's bits.</summary>
public sealed record ObjectiveOptions
{
    /// <summary>
    /// Examples per chunk. Partial sums are formed per chunk and added in chunk order, so
    /// the chunk size (unlike the thread count) does change the last bits of a result.
    /// </summary>
    public int ChunkSize { get; init; } = 500;

    /// <summary>
    /// Chunks processed at once, each on its own thread with a single-threaded BLAS. A call
    /// whose examples fit in one chunk runs on one thread.
    /// </summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>Most tangent directions carried by one sweep; larger blocks run as several sweeps.</summary>
    public int MaxBlock { get; init; } = 16;

    public static ObjectiveOptions Default { get; } = new();

    internal void Validate()
    {
        int chunkSize = ChunkSize, threads = Threads, maxBlock = MaxBlock;
        Guard.Positive(chunkSize);
        Guard.Positive(threads);
        Guard.Positive(maxBlock);
    }
}

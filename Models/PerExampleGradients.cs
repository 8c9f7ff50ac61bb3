using Curvature.Autodiff;
using Curvature.Core;

namespace Curvature.Models;

public sealed partial class Objective
{
    /// <summary>Most entries n·P <see cref="PerExampleGradients(ReadOnlySpan{double}, int[])"/> materializes (2²⁶ doubles, 512 MB).</summary>
    public const long MaxPerExampleEntries = 1L << 26;

    /// <summary>
    /// The per-example gradients gᵢ = ∇_θ ℓ(f(xᵢ; θ), yᵢ), one row per example of
    /// <paramref name="examples"/> (all when null), in θ's layout. Their mean is the
    /// gradient of the mean loss. One forward and one backward sweep per chunk, after which
    /// each parameter op splits its adjoint by example (docs/curvature.md §6).
    /// </summary>
    /// <exception cref="InvalidOperationException">n·P exceeds <see cref="MaxPerExampleEntries"/>; use <see cref="PerExampleGradientNorms"/> or the operators instead.</exception>
    public Matrix PerExampleGradients(ReadOnlySpan<double> theta, int[]? examples = null)
    {
        int n = examples?.Length ?? ExampleCount;
        long entries = (long)n * ParameterCount;
        if (entries > MaxPerExampleEntries)
            throw new InvalidOperationException($"Per-example gradients of {n} examples × {ParameterCount} parameters are {entries} numbers; at most {MaxPerExampleEntries} are materialized. Use fewer examples, PerExampleGradientNorms or the matrix-free operators.");
        var result = new Matrix(Math.Max(1, n), ParameterCount);
        PerExampleGradients(theta, result, examples);
        return result;
    }

    /// <summary>As <see cref="PerExampleGradients(ReadOnlySpan{double}, int[])"/>, into a caller's n×P matrix.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is not n×P.</exception>
    public void PerExampleGradients(ReadOnlySpan<double> theta, Matrix destination, int[]? examples = null)
    {
        Guard.NotNull(destination);
        int n = examples?.Length ?? ExampleCount;
        if (destination.Rows != n || destination.Cols != ParameterCount)
            throw new ArgumentException($"Argument 'destination' is {destination.Shape}; expected {n}x{ParameterCount} (examples x parameters).", nameof(destination));
        RunJob(new MaterializeJob(this, destination.Data), theta, examples);
    }

    /// <summary>
    /// ‖gᵢ‖ for every example of <paramref name="examples"/> (all when null), without the
    /// n×P array: from closed forms per parameter op (‖ȳxᵀ‖ = ‖ȳ‖‖x‖ for dense layers; one
    /// small GEMM per image for convolutions) when the ops read disjoint parts of θ, else by
    /// forming a few rows at a time in a lane buffer of at most <see cref="PerExampleBlockEntries"/> numbers.
    /// </summary>
    public double[] PerExampleGradientNorms(ReadOnlySpan<double> theta, int[]? examples = null)
    {
        var norms = new double[examples?.Length ?? ExampleCount];
        RunJob(new NormJob(this, norms), theta, examples);
        return norms;
    }

    /// <summary>Entries of the per-lane buffer that holds a few examples' gradients at once.</summary>
    public const int PerExampleBlockEntries = 1 << 18;

    /// <summary>Examples per block of per-example gradients: as many as fit <see cref="PerExampleBlockEntries"/>, at least 1.</summary>
    internal int PerExampleBlockRows => Math.Max(1, PerExampleBlockEntries / ParameterCount);

    /// <summary>
    /// Runs a backward sweep from <paramref name="output"/> (which must sum one term per row)
    /// and hands the per-row adjoints of θ to <paramref name="visit"/> a block at a time:
    /// rows [r0, r0 + count) of the chunk in <paramref name="buffer"/> (count×P).
    /// </summary>
    internal void ForEachExampleBlock(in ExampleChunk chunk, Tensor output, ref double[] buffer, ExampleBlockVisitor visit)
    {
        chunk.Tape.Backward(output);
        int block = Math.Min(PerExampleBlockRows, chunk.Rows), p = ParameterCount;
        if (buffer.Length < block * p) buffer = new double[block * p];
        for (int r0 = 0; r0 < chunk.Rows; r0 += block)
        {
            int count = Math.Min(block, chunk.Rows - r0);
            chunk.Tape.PerExampleAdjoints(chunk.Theta, r0, count, buffer, 0);
            visit(r0, count, buffer);
        }
    }

    internal delegate void ExampleBlockVisitor(int firstRow, int count, double[] block);

    sealed class MaterializeJob(Objective objective, double[] destination) : IExampleJob
    {
        public void Chunk(int lane, in ExampleChunk c)
        {
            var loss = objective.RecordLoss(c.Tape, c.Z, c.Gather, 1.0);
            c.Tape.Backward(loss);
            c.Tape.PerExampleAdjoints(c.Theta, 0, c.Rows, destination, c.Start * objective.ParameterCount);
        }

        public void Reduce(int lane, int chunk) { }
    }

    sealed class NormJob(Objective objective, double[] norms) : IExampleJob
    {
        readonly double[][] _buffers = new double[objective.Options.Threads][];

        public void Chunk(int lane, in ExampleChunk c)
        {
            var loss = objective.RecordLoss(c.Tape, c.Z, c.Gather, 1.0);
            int p = objective.ParameterCount, start = c.Start;
            c.Tape.Backward(loss);
            var mine = norms.AsSpan(start, c.Rows);
            if (c.Tape.TryPerExampleSquaredNorms(c.Theta, mine))
            {
                foreach (ref double v in mine) v = Math.Sqrt(v);
                return;
            }
            ref var buffer = ref _buffers[lane];
            buffer ??= [];
            objective.ForEachExampleBlock(c, loss, ref buffer, (r0, count, block) =>
            {
                for (int r = 0; r < count; r++) norms[start + r0 + r] = Blas.Nrm2(block.AsSpan(r * p, p));
            });
        }

        public void Reduce(int lane, int chunk) { }
    }
}

using Curvature.Autodiff;
using Curvature.Core;

namespace Curvature.Models;

public sealed partial class Objective
{
    /// <summary>
    /// The exact diagonal of the Gauss–Newton matrix G over <paramref name="examples"/> (all
    /// when null) at θ, by per-output backpropagation: with ∇²_zℓᵢ = Σ_c sᵢ,c sᵢ,cᵀ
    /// (sᵢ,c = √pᵢ,c (e_c − pᵢ) for ce, e_c for mse, √(2/C) e_c for torch-mse),
    /// diag G = (1/n) Σᵢ Σ_c (Jᵢᵀ sᵢ,c)∘(Jᵢᵀ sᵢ,c): C backward sweeps per chunk, each split
    /// by example and squared — in closed form per op ((Ȳ∘Ȳ)ᵀ(X∘X) for a dense layer) when the
    /// ops read disjoint parts of θ, else by forming the rows a few at a time (docs/curvature.md §8).
    /// </summary>
    public double[] GaussNewtonDiagonal(ReadOnlySpan<double> theta, int[]? examples = null)
    {
        var job = new GaussNewtonDiagonalJob(this);
        using (Blas.UseThreads(1)) RunJob(job, theta, examples);
        double inverse = 1.0 / JobExampleCount;
        for (int a = 0; a < job.Result.Length; a++) job.Result[a] *= inverse;
        return job.Result;
    }

    /// <summary>Writes sᵢ,c for the chunk's rows into <paramref name="weights"/> (rows×C), the loss Hessian's factor column c.</summary>
    void LossHessianFactor(ReadOnlySpan<double> z, int rows, int classes, int c, Span<double> weights)
    {
        weights[..(rows * classes)].Clear();
        for (int r = 0; r < rows; r++)
        {
            var w = weights.Slice(r * classes, classes);
            if (LossKind == LossKind.CrossEntropy)
            {
                var zr = z.Slice(r * classes, classes);
                double max = double.NegativeInfinity, total = 0;
                foreach (double v in zr) max = Math.Max(max, v);
                for (int k = 0; k < classes; k++) total += w[k] = Math.Exp(zr[k] - max);
                for (int k = 0; k < classes; k++) w[k] /= total;
                // √p_c (e_c − p): Σ_c of its outer products is diag p − ppᵀ.
                double root = Math.Sqrt(w[c]);
                for (int k = 0; k < classes; k++) w[k] = -root * w[k];
                w[c] += root;
            }
            else w[c] = LossKind == LossKind.TorchMeanSquaredError ? Math.Sqrt(2.0 / classes) : 1.0;
        }
    }

    sealed class GaussNewtonDiagonalJob(Objective objective) : IExampleJob
    {
        public readonly double[] Result = new double[objective.ParameterCount];
        readonly Lane[] _lanes = Enumerable.Range(0, objective.Options.Threads).Select(_ => new Lane()).ToArray();

        public void Chunk(int laneIndex, in ExampleChunk c)
        {
            var lane = _lanes[laneIndex];
            int p = objective.ParameterCount, classes = c.Z.Cols;
            if (lane.Sum.Length < p) lane.Sum = new double[p];
            Array.Clear(lane.Sum);
            if (lane.Weights.Length < c.Rows * classes) lane.Weights = new double[c.Rows * classes];
            var sum = lane.Sum;
            for (int k = 0; k < classes; k++)
            {
                objective.LossHessianFactor(c.Z.Value, c.Rows, classes, k, lane.Weights);
                var output = c.Tape.WeightedSum(c.Z, lane.Weights.AsSpan(0, c.Rows * classes));
                c.Tape.Backward(output);
                if (c.Tape.TryPerExampleSquaredSums(c.Theta, sum)) continue;
                objective.ForEachExampleBlock(c, output, ref lane.Buffer, (r0, count, block) =>
                {
                    for (int r = 0; r < count; r++)
                    {
                        var g = block.AsSpan(r * p, p);
                        for (int a = 0; a < p; a++) sum[a] += g[a] * g[a];
                    }
                });
            }
        }

        public void Reduce(int laneIndex, int chunk)
        {
            var sum = _lanes[laneIndex].Sum;
            if (chunk == 0) sum.CopyTo(Result, 0);
            else Blas.Axpy(1.0, sum, Result);
        }

        sealed class Lane
        {
            public double[] Buffer = [], Sum = [], Weights = [];
        }
    }
}

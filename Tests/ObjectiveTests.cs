using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using Curvature.Spectral;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.AutodiffTestSupport;

namespace Curvature.Tests;

/// <summary>The Objective: loss, gradient and the H, G, F operators over a dataset.</summary>
public class ObjectiveTests
{
    internal static Dataset Classification(int n, int features, int classes, ulong seed)
    {
        var rng = new Rng(seed);
        var x = new Matrix(n, features);
        rng.FillGaussian(x.Data);
        var labels = Enumerable.Range(0, n).Select(_ => rng.NextInt(classes)).ToArray();
        return new Dataset(x, labels, null, classes, $"random:{n}");
    }

    static Dataset Rows(Dataset data, int[] rows)
    {
        var x = new Matrix(rows.Length, data.Features);
        for (int r = 0; r < rows.Length; r++) data.X.Row(rows[r]).CopyTo(x.Row(r));
        return new Dataset(x, rows.Select(i => data.Labels![i]).ToArray(), null, data.Classes, "subset");
    }

    static Objective Make(string arch, Activation act, LossKind loss, Dataset data, ObjectiveOptions? options = null) =>
        new(Mlp.Parse(arch, act), loss, data, options);

    static readonly CurvatureKind[] Kinds = [CurvatureKind.Hessian, CurvatureKind.GaussNewton, CurvatureKind.FunctionalHessian];

    [TestCase(LossKind.CrossEntropy, Activation.Tanh)]
    [TestCase(LossKind.MeanSquaredError, Activation.Softplus)]
    public void Gradient_agrees_with_finite_differences_of_the_loss(LossKind loss, Activation act)
    {
        var obj = Make("4-5-3", act, loss, Classification(9, 4, 3, 1), new ObjectiveOptions { ChunkSize = 4 });
        var theta = obj.Model.Initialize(2);
        var g = new double[obj.ParameterCount];
        double l = obj.LossAndGradient(theta, g);
        l.Should().Be(obj.Loss(theta));
        var fd = Checks.Gradient(x => obj.Loss(x), theta, 1e-3);
        Checks.RelativeError(g, fd).Should().BeLessThan(1e-8);
    }

    [Test]
    public void Dense_Hessian_agrees_with_finite_differences_of_the_gradient()
    {
        var obj = Make("3-4-3", Activation.Tanh, LossKind.CrossEntropy, Classification(8, 3, 3, 3), new ObjectiveOptions { ChunkSize = 3 });
        var theta = obj.Model.Initialize(4);
        var h = obj.DenseMatrix(CurvatureKind.Hessian, theta);
        int n = obj.ParameterCount;
        var e = new double[n];
        var fd = new double[n * n];
        for (int j = 0; j < n; j++)
        {
            e[j] = 1;
            var col = Checks.Directional(x => { var g = new double[n]; obj.LossAndGradient(x, g); return g; }, theta, e, 1e-3);
            e[j] = 0;
            for (int i = 0; i < n; i++) fd[i * n + j] = col[i];
        }
        Checks.RelativeError(h.Data, fd).Should().BeLessThan(1e-7);
    }

    [Test]
    public void Operators_agree_with_their_dense_matrices()
    {
        var obj = Make("3-4-2", Activation.Gelu, LossKind.CrossEntropy, Classification(7, 3, 2, 5), new ObjectiveOptions { ChunkSize = 3, MaxBlock = 2 });
        var theta = obj.Model.Initialize(6);
        int n = obj.ParameterCount;
        var rng = new Rng(7);
        var block = new Matrix(3, n);
        rng.FillGaussian(block.Data);
        foreach (var kind in Kinds)
        {
            var dense = ToMathNet(obj.DenseMatrix(kind, theta));
            ILinearOperator op = obj.CurvatureOperator(kind, theta);
            op.Size.Should().Be(n);
            var y = new double[n];
            op.Apply(block.Row(0), y);
            Checks.RelativeError(y, (dense * MathNet.Numerics.LinearAlgebra.Vector<double>.Build.DenseOfArray(block.Row(0).ToArray())).ToArray())
                .Should().BeLessThan(1e-12, kind.ToString());
            var yBlock = new double[3 * n];
            op.ApplyBlock(block.Data, yBlock, 3);
            var expected = (dense * ToMathNet(block).Transpose()).Transpose();
            Checks.RelativeError(yBlock, Flatten(expected)).Should().BeLessThan(1e-12, kind.ToString());
        }
    }

    static double[] Flatten(MathNet.Numerics.LinearAlgebra.Matrix<double> m)
    {
        var a = new double[m.RowCount * m.ColumnCount];
        for (int i = 0; i < m.RowCount; i++) for (int j = 0; j < m.ColumnCount; j++) a[i * m.ColumnCount + j] = m[i, j];
        return a;
    }

    [Test]
    public void Chunked_sums_equal_the_unchunked_ones()
    {
        var data = Classification(23, 4, 3, 8);
        var whole = Make("4-6-3", Activation.Tanh, LossKind.CrossEntropy, data, new ObjectiveOptions { ChunkSize = 1000 });
        var chunked = Make("4-6-3", Activation.Tanh, LossKind.CrossEntropy, data, new ObjectiveOptions { ChunkSize = 5 });
        var theta = whole.Model.Initialize(9);
        var v = Gaussian(new Rng(10), whole.ParameterCount);
        int n = whole.ParameterCount;
        double[] g1 = new double[n], g2 = new double[n], h1 = new double[n], h2 = new double[n];
        whole.LossAndGradient(theta, g1).Should().BeApproximately(chunked.LossAndGradient(theta, g2), 1e-14);
        Checks.RelativeError(g2, g1).Should().BeLessThan(1e-12);
        whole.HessianVectorProduct(theta, v, h1);
        chunked.HessianVectorProduct(theta, v, h2);
        Checks.RelativeError(h2, h1).Should().BeLessThan(1e-12);
    }

    [TestCase(1000, 500, 2)]
    [TestCase(1001, 500, 3)]
    [TestCase(60000, 500, 120)]
    [TestCase(64, 500, 2)]
    [TestCase(63, 500, 1)]
    [TestCase(5, 2, 3)]
    public void Chunk_count_depends_on_the_example_count_and_options_only(int examples, int chunkSize, int expected)
    {
        new ObjectiveOptions { ChunkSize = chunkSize, Threads = 1 }.ChunkCount(examples).Should().Be(expected);
        new ObjectiveOptions { ChunkSize = chunkSize, Threads = 7 }.ChunkCount(examples).Should().Be(expected);
    }

    // (chunk size, tangents m): the CNN of issue 20 records 26,138 numbers per example, over the budget for every m ≥ 1.
    static readonly object[] ChunkRowCases = [new object[] { 500, 0 }, new object[] { 500, 1 }, new object[] { 500, 2 },
        new object[] { 500, 10 }, new object[] { 500, 16 }, new object[] { 4, 10 }, new object[] { 100_000, 1 }];

    [TestCaseSource(nameof(ChunkRowCases))]
    public void A_curvature_sweep_over_the_budget_takes_the_most_rows_whose_values_and_tangents_fit_half_of_it(int chunkSize, int tangents)
    {
        var options = new ObjectiveOptions { ChunkSize = chunkSize };
        const long v = 26_138;
        long half = options.BlockChunkBudget / 2;
        int rows = options.CurvatureChunkRows(tangents, v);
        if (tangents == 0)
            rows.Should().Be(chunkSize, "loss and gradient keep their chunks");
        else
        {
            ((long)rows * (1 + tangents) * v <= half || rows == 1).Should().BeTrue("a chunk's values and tangents fit half the budget");
            if (rows < chunkSize) ((rows + 1L) * (1 + tangents) * v).Should().BeGreaterThan(half, "no more rows would fit");
            rows.Should().BeInRange(1, chunkSize);
        }
        // 1,000 examples: ⌈1000/rows⌉ chunks, the same for any thread count.
        options.ChunkCount(1000, tangents, v).Should().Be(Math.Max((1000 + rows - 1) / rows, options.ChunkCount(1000)));
        (options with { Threads = 7 }).ChunkCount(1000, tangents, v).Should().Be(options.ChunkCount(1000, tangents, v));
    }

    [Test]
    public void A_sweep_whose_chunk_fits_the_budget_keeps_the_gradients_chunks()
    {
        // The MLP of issue 20 records 1,594 numbers per example: 500 × 17 × 1,594 = 1.4·10⁷ ≤ 2²⁴, so its
        // single products and blocks up to MaxBlock = 16 keep the gradient's 500-row chunks (and their bits).
        var options = new ObjectiveOptions { ChunkSize = 500 };
        options.CurvatureChunkRows(16, 1_594).Should().Be(500);
        options.ChunkCount(1000, 16, 1_594).Should().Be(options.ChunkCount(1000));
        // One more value per example than the budget allows narrows the chunk to what fits half of it.
        long limit = options.BlockChunkBudget / (500 * 11);
        options.CurvatureChunkRows(10, limit).Should().Be(500);
        int rows = options.CurvatureChunkRows(10, limit + 1);
        rows.Should().BeLessThan(500);
        ((long)rows * 11 * (limit + 1)).Should().BeLessThanOrEqualTo(options.BlockChunkBudget / 2);
        ((rows + 1L) * 11 * (limit + 1)).Should().BeGreaterThan(options.BlockChunkBudget / 2);
    }

    [Test]
    public void Values_per_example_count_the_nodes_of_the_forward_pass_that_grow_with_the_batch()
    {
        // 6-8-3 tanh: per example the input (6), one linear node per layer (x Wᵀ + b: 8, then 3) and the
        // hidden tanh (8); θ and the views of its blocks are shared by the batch and do not count.
        var obj = Make("6-8-3", Activation.Tanh, LossKind.CrossEntropy, Classification(5, 6, 3, 1), new ObjectiveOptions());
        obj.ValuesPerExample.Should().Be(6 + 8 + 8 + 3);
    }

    [Test]
    public void A_block_product_on_narrower_chunks_equals_its_columns_single_products_and_keeps_its_bits_on_one_and_two_threads()
    {
        // 300 examples in chunks of 100 and a budget of 2,000 values (6-8-3 records 25 per example): a
        // single H·v sweeps chunks of 20 rows (15 chunks), a block of 6 chunks of 5 rows (60 chunks),
        // so the sums are grouped differently.
        var data = Classification(300, 6, 3, 31);
        int[] threads = [1, 2];
        var results = threads.Select(t =>
        {
            var obj = Make("6-8-3", Activation.Tanh, LossKind.CrossEntropy, data, new ObjectiveOptions { ChunkSize = 100, Threads = t, BlockChunkBudget = 2_000 });
            var theta = obj.Model.Initialize(32);
            int n = obj.ParameterCount;
            var vectors = Gaussian(new Rng(33), 6 * n);
            var block = new double[6 * n];
            obj.CurvatureBlockProduct(CurvatureKind.Hessian, theta, vectors, 6, block);
            for (int j = 0; j < 6; j++)
            {
                var single = new double[n];
                obj.HessianVectorProduct(theta, vectors.AsSpan(j * n, n), single);
                Checks.RelativeError(block.AsSpan(j * n, n), single).Should().BeLessThan(1e-12, $"column {j}");
            }
            return block;
        }).ToArray();
        results[1].Should().Equal(results[0], "the chunking depends on the block width, never on the threads");
    }

    static void AllResults(Objective obj, double[] theta, double[] vectors, int[]? examples,
        out double loss, out double[] gradient, out double[] hv, out double[] block, out Evaluation eval)
    {
        int n = obj.ParameterCount;
        gradient = new double[n];
        hv = new double[n];
        block = new double[vectors.Length];
        loss = obj.LossAndGradient(theta, gradient, examples);
        obj.CurvatureProduct(CurvatureKind.Hessian, theta, vectors.AsSpan(0, n), hv, default, examples);
        obj.CurvatureBlockProduct(CurvatureKind.GaussNewton, theta, vectors, vectors.Length / n, block, examples);
        eval = obj.Evaluate(theta);
    }

    [Test]
    public void One_thread_and_two_threads_give_identical_bits()
    {
        // Shapes where OpenBLAS itself would round differently on 1 and 2 threads.
        var data = Classification(300, 40, 10, 11);
        var one = Make("40-96-64-10", Activation.Tanh, LossKind.CrossEntropy, data,
            new ObjectiveOptions { ChunkSize = 70, Threads = 1 });
        var two = Make("40-96-64-10", Activation.Tanh, LossKind.CrossEntropy, data,
            new ObjectiveOptions { ChunkSize = 70, Threads = 2 });
        var theta = one.Model.Initialize(12);
        var vectors = Gaussian(new Rng(13), 3 * one.ParameterCount);
        int[] subset = Enumerable.Range(0, 150).Select(i => (i * 7) % 300).ToArray();
        foreach (var examples in new[] { null, subset })
        {
            AllResults(one, theta, vectors, examples, out var l1, out var g1, out var h1, out var b1, out var e1);
            AllResults(two, theta, vectors, examples, out var l2, out var g2, out var h2, out var b2, out var e2);
            l2.Should().Be(l1);
            g2.Should().Equal(g1);
            h2.Should().Equal(h1);
            b2.Should().Equal(b1);
            e2.Should().Be(e1);
        }
    }

    [Test]
    public void Two_objectives_evaluated_concurrently_from_two_threads_give_the_bits_of_one_after_the_other()
    {
        // Each objective parallelizes over two lanes of its own while the other runs, and
        // both hold the BLAS on one thread: neither may change the other's results.
        var dataA = Classification(300, 40, 10, 31);
        var dataB = Classification(260, 24, 6, 32);
        var a = Make("40-96-64-10", Activation.Tanh, LossKind.CrossEntropy, dataA, new ObjectiveOptions { ChunkSize = 70, Threads = 2 });
        var b = Make("24-48-6", Activation.Relu, LossKind.MeanSquaredError, dataB, new ObjectiveOptions { ChunkSize = 50, Threads = 2 });
        var thetaA = a.Model.Initialize(33);
        var thetaB = b.Model.Initialize(34);
        var vectorsA = Gaussian(new Rng(35), 3 * a.ParameterCount);
        var vectorsB = Gaussian(new Rng(36), 3 * b.ParameterCount);
        int[] subset = Enumerable.Range(0, 120).Select(i => (i * 7) % 260).ToArray();

        AllResults(a, thetaA, vectorsA, null, out var la, out var ga, out var ha, out var ba, out var ea);
        AllResults(b, thetaB, vectorsB, subset, out var lb, out var gb, out var hb, out var bb, out var eb);

        const int rounds = 8;
        var start = new Barrier(2);
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        void Loop(Objective obj, double[] theta, double[] vectors, int[]? examples,
            double l0, double[] g0, double[] h0, double[] b0, Evaluation e0, string name)
        {
            start.SignalAndWait();
            for (int r = 0; r < rounds; r++)
            {
                AllResults(obj, theta, vectors, examples, out var l, out var g, out var h, out var bl, out var e);
                if (l != l0 || !g.SequenceEqual(g0) || !h.SequenceEqual(h0) || !bl.SequenceEqual(b0) || e != e0)
                    failures.Enqueue($"{name} differs in round {r}");
            }
        }
        var threadA = new Thread(() => Loop(a, thetaA, vectorsA, null, la, ga, ha, ba, ea, "A"));
        var threadB = new Thread(() => Loop(b, thetaB, vectorsB, subset, lb, gb, hb, bb, eb, "B"));
        threadA.Start();
        threadB.Start();
        threadA.Join();
        threadB.Join();
        failures.Should().BeEmpty();
    }

    [Test]
    public void Loss_on_a_subset_equals_the_loss_of_a_dataset_of_those_rows()
    {
        var data = Classification(20, 3, 3, 14);
        int[] rows = [17, 2, 2, 9, 0, 11, 5];
        var obj = Make("3-5-3", Activation.Relu, LossKind.CrossEntropy, data, new ObjectiveOptions { ChunkSize = 3 });
        var sub = Make("3-5-3", Activation.Relu, LossKind.CrossEntropy, Rows(data, rows), new ObjectiveOptions { ChunkSize = 3 });
        var theta = obj.Model.Initialize(15);
        int n = obj.ParameterCount;
        double[] g1 = new double[n], g2 = new double[n];
        obj.LossAndGradient(theta, g1, rows).Should().BeApproximately(sub.LossAndGradient(theta, g2), 1e-15);
        Checks.RelativeError(g1, g2).Should().BeLessThan(1e-14);
    }

    [Test]
    public void Evaluate_reports_mean_loss_and_the_accuracy_of_the_argmax()
    {
        var data = Classification(40, 3, 4, 16);
        var obj = Make("3-8-4", Activation.Tanh, LossKind.CrossEntropy, data, new ObjectiveOptions { ChunkSize = 7 });
        var theta = obj.Model.Initialize(17);
        var outputs = obj.Model.Predict(theta, data.X);
        int correct = 0;
        for (int r = 0; r < 40; r++)
        {
            int best = 0;
            for (int c = 1; c < 4; c++) if (outputs[r, c] > outputs[r, best]) best = c;
            if (best == data.Labels![r]) correct++;
        }
        var e = obj.Evaluate(theta);
        e.Accuracy.Should().Be(correct / 40.0);
        e.Loss.Should().BeApproximately(obj.Loss(theta), 1e-15);
    }

    [Test]
    public void Accuracy_is_NaN_for_regression_targets()
    {
        var rng = new Rng(18);
        var x = new Matrix(6, 2);
        var t = new Matrix(6, 3);
        rng.FillGaussian(x.Data);
        rng.FillGaussian(t.Data);
        var obj = Make("2-3", Activation.Tanh, LossKind.MeanSquaredError, new Dataset(x, null, t, 3, "regression"));
        var e = obj.Evaluate(obj.Model.Initialize(1));
        double.IsNaN(e.Accuracy).Should().BeTrue();
        double.IsFinite(e.Loss).Should().BeTrue();
    }

    [Test]
    public void Invalid_inputs_are_rejected_with_messages_naming_both_sides()
    {
        var data = Classification(5, 3, 2, 19);
        var features = () => Make("4-2", Activation.Tanh, LossKind.CrossEntropy, data);
        features.Should().Throw<ArgumentException>().WithMessage("*3 features*4-2*4 inputs*");
        var outputs = () => Make("3-5", Activation.Tanh, LossKind.CrossEntropy, data);
        outputs.Should().Throw<ArgumentException>().WithMessage("*2 classes*3-5*5 outputs*");
        var obj = Make("3-2", Activation.Tanh, LossKind.CrossEntropy, data);
        var theta = () => obj.Loss(new double[7]);
        theta.Should().Throw<ArgumentException>().WithMessage("*length 7*8 parameters*3-2*");
        var examples = () => obj.Loss(new double[8], [0, 5]);
        examples.Should().Throw<ArgumentException>().WithMessage("*5 at index 1*[0, 5)*");
        var nan = () => obj.Loss([0, 0, double.NaN, 0, 0, 0, 0, 0]);
        nan.Should().Throw<ArgumentException>().WithMessage("*NaN at index 2*");
        var options = () => Make("3-2", Activation.Tanh, LossKind.CrossEntropy, data, new ObjectiveOptions { ChunkSize = 0 });
        options.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'--chunk' was 0*expected an integer in ?1, *");
    }

    [Test]
    public void Dense_matrix_of_a_large_network_is_refused()
    {
        var obj = Make("100-60-10", Activation.Tanh, LossKind.CrossEntropy, Classification(2, 100, 10, 20));
        var act = () => obj.DenseMatrix(CurvatureKind.Hessian, new double[obj.ParameterCount]);
        act.Should().Throw<InvalidOperationException>().WithMessage("*at most 5000*100-60-10*6670*");
    }

    [Test]
    public void Blocks_larger_than_the_sweep_limit_equal_their_columns()
    {
        var obj = Make("3-4-3", Activation.Tanh, LossKind.CrossEntropy, Classification(10, 3, 3, 21),
            new ObjectiveOptions { ChunkSize = 4, MaxBlock = 2 });
        var theta = obj.Model.Initialize(22);
        int n = obj.ParameterCount;
        var vectors = Gaussian(new Rng(23), 5 * n);
        var block = new double[5 * n];
        var gradient = new double[n];
        obj.CurvatureBlockProduct(CurvatureKind.Hessian, theta, vectors, 5, block, gradient);
        var expectedGradient = new double[n];
        obj.LossAndGradient(theta, expectedGradient);
        Checks.RelativeError(gradient, expectedGradient).Should().BeLessThan(1e-14);
        for (int j = 0; j < 5; j++)
        {
            var single = new double[n];
            obj.HessianVectorProduct(theta, vectors.AsSpan(j * n, n), single);
            Checks.RelativeError(block.AsSpan(j * n, n), single).Should().BeLessThan(1e-12);
        }
    }

    [Test]
    public void A_warm_minibatch_step_allocates_nothing()
    {
        var (obj, theta, gradient, batch) = MinibatchProblem(threads: 1);
        using var gemms = CountingBlas.Start();
        long allocated = AllocatedByWarmSteps(obj, theta, gradient, batch, steps: 5);
        gemms.Calls.Should().BeGreaterThan(0);
        allocated.Should().Be(0, "chunks, tapes and the BLAS facade reuse their buffers");
    }

    [Test]
    public void A_warm_minibatch_step_on_two_lanes_allocates_nothing_of_its_own()
    {
        // Two chunk lanes hand one chunk to the thread pool and block until it is done; the
        // runtime's blocking wait occasionally allocates a few bytes of its own (24 B seen,
        // once in several runs). Our buffers must not: 20 steps stay under one 64-B object
        // per step even in the worst case, where a per-step buffer would cost kilobytes.
        var (obj, theta, gradient, batch) = MinibatchProblem(threads: 2);
        long allocated = AllocatedByWarmSteps(obj, theta, gradient, batch, steps: 20);
        allocated.Should().BeLessThan(20 * 64);
    }

    (Objective obj, double[] theta, double[] gradient, int[] batch) MinibatchProblem(int threads)
    {
        var data = Classification(200, 20, 5, 24);
        var obj = Make("20-30-5", Activation.Tanh, LossKind.CrossEntropy, data, new ObjectiveOptions { ChunkSize = 1000, Threads = threads });
        var theta = obj.Model.Initialize(25);
        var batch = Enumerable.Range(0, 64).Select(i => (i * 13) % 200).ToArray();
        return (obj, theta, new double[obj.ParameterCount], batch);
    }

    static long AllocatedByWarmSteps(Objective obj, double[] theta, double[] gradient, int[] batch, int steps)
    {
        obj.LossAndGradient(theta, gradient, batch);
        obj.LossAndGradient(theta, gradient, batch);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < steps; i++) obj.LossAndGradient(theta, gradient, batch);
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }


    [Test]
    public void Worked_example_two_chunks_of_one_example_each_add_their_scaled_losses_to_the_mean()
    {
        // docs/curvature.md §4: chunk i records ½rᵢ² with scale 1/N = 1/2; r = (1, 2) gives 0.25 + 1 = 1.25 = mean(0.5, 2).
        var (obj, theta, _, r) = PerExampleGradientTests.TwoPointLine();
        double[] chunkLosses = [0.5 * 0.5 * r[0] * r[0], 0.5 * 0.5 * r[1] * r[1]];
        chunkLosses.Should().Equal(0.25, 1);
        var g = new double[3];
        obj.LossAndGradient(theta, g).Should().Be(chunkLosses[0] + chunkLosses[1]);
        g.Should().Equal(0.5, 2, 1.5);
    }
}

using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.AutodiffTestSupport;

namespace Curvature.Tests;

/// <summary>
/// Convolutional networks built by <see cref="Sequential.Parse(string, Activation)"/>: PyTorch's
/// layout, names and initialization, and their curvature through the unchanged Objective.
/// </summary>
public class CnnTests
{
    const string Mnist28 = "1x28x28-c16k5-m2-c32k5-m2-10";
    const string Mnist14 = "1x14x14-c8k3-m2-c16k3-m2-10";
    // Small enough for dense matrices; has stride, padding, both poolings and a floor.
    const string Small = "2x7x7-c3k3s2p1-a2-c2k2p1-m2-3";

    static Dataset Images(int n, int c, int h, int w, int classes, ulong seed)
    {
        var rng = new Rng(seed);
        var x = new Matrix(n, c * h * w);
        rng.FillGaussian(x.Data);
        var labels = Enumerable.Range(0, n).Select(_ => rng.NextInt(classes)).ToArray();
        return new Dataset(x, labels, null, classes, $"random-images:{n}");
    }

    static double FrobeniusNorm(Matrix m) => Math.Sqrt(m.Data.Sum(v => v * v));

    [Test]
    public void The_mnist_cnn_has_the_modules_parameter_count_and_state_dict_of_the_equivalent_nn_Sequential()
    {
        // nn.Sequential(Conv2d(1,16,5), Tanh(), MaxPool2d(2), Conv2d(16,32,5), Tanh(), MaxPool2d(2), Flatten(), Linear(512,10)):
        // 16·25 + 16 + 32·16·25 + 32 + 512·10 + 10 = 18,378.
        var net = Sequential.Parse(Mnist28, Activation.Tanh);
        net.Layers.Select(l => l.ToString()).Should().Equal(
            "Conv2d(1, 16, kernel_size=(5, 5), stride=(1, 1))", "Tanh()", "MaxPool2d(kernel_size=2, stride=2)",
            "Conv2d(16, 32, kernel_size=(5, 5), stride=(1, 1))", "Tanh()", "MaxPool2d(kernel_size=2, stride=2)",
            "Flatten()", "Linear(512, 10)");
        net.Blocks.Select(b => b.ToString()).Should().Equal(
            "0.weight [16, 1, 5, 5]", "0.bias [16]", "3.weight [32, 16, 5, 5]", "3.bias [32]", "7.weight [10, 512]", "7.bias [10]");
        net.ParameterCount.Should().Be(18_378);
        net.InputShape.Should().Be(FeatureShape.Image(1, 28, 28));
        net.InputWidth.Should().Be(784);
        net.OutputWidth.Should().Be(10);
        net.Spec.Should().Be(Mnist28);
        int offset = 0;
        foreach (var b in net.Blocks)
        {
            b.Offset.Should().Be(offset, "blocks tile θ in order without gaps");
            offset += b.Count;
        }
        offset.Should().Be(net.ParameterCount);
    }

    [Test]
    public void The_14_pixel_cnn_has_1898_parameters_named_as_nn_Sequential()
    {
        // 14 → 12 (k3) → 6 (m2) → 4 (k3) → 2 (m2): 8·9 + 8 + 16·8·9 + 16 + 64·10 + 10 = 1,898.
        var net = Sequential.Parse(Mnist14, Activation.Relu);
        net.ParameterCount.Should().Be(1_898);
        net.Blocks.Select(b => b.ToString()).Should().Equal(
            "0.weight [8, 1, 3, 3]", "0.bias [8]", "3.weight [16, 8, 3, 3]", "3.bias [16]", "7.weight [10, 64]", "7.bias [10]");
        net.Layers[1].ToString().Should().Be("ReLU()");
    }

    [Test]
    public void Default_stride_padding_and_average_pooling_tokens_give_the_pytorch_shapes()
    {
        // c3 = Conv2d(2,3,3): 7 → 5; a2: 5 → 2 (floor); c4k2s2p1: (2 + 2 − 2)/2 + 1 = 2.
        var net = Sequential.Parse("2x7x7-c3-a2-c4k2s2p1-5-3", Activation.Tanh);
        net.Layers.Select(l => l.OutputShape.ToString()).Should().Equal("3x5x5", "3x5x5", "3x2x2", "4x2x2", "4x2x2", "16", "5", "5", "3");
        net.Layers[2].ToString().Should().Be("AvgPool2d(kernel_size=2, stride=2)");
        net.Layers[3].ToString().Should().Be("Conv2d(3, 4, kernel_size=(2, 2), stride=(2, 2), padding=(1, 1))");
        net.Blocks.Select(b => b.Name).Should().Equal("0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias", "8.weight", "8.bias");
    }

    [Test]
    public void Initialization_draws_conv_and_dense_blocks_in_module_order_uniform_within_one_over_root_fan_in()
    {
        // Rebuilt from the documented rule: one Rng(seed); per layer, weight then bias uniform
        // on [−1/√fan_in, 1/√fan_in), fan_in = C·K·K for a convolution, the inputs for a dense layer.
        var net = Sequential.Parse(Mnist28, Activation.Tanh);
        var theta = net.Initialize(17);
        var rng = new Rng(17);
        var expected = new double[net.ParameterCount];
        (int Start, int Count, int FanIn)[] layers = [(0, 416, 25), (416, 12_832, 400), (13_248, 5_130, 512)];
        foreach (var (start, count, fanIn) in layers)
            rng.FillUniform(expected.AsSpan(start, count), -1 / Math.Sqrt(fanIn), 1 / Math.Sqrt(fanIn));
        theta.Should().Equal(expected);

        // Per block: inside the bound, nearly reaching it, mean ≈ 0 and variance ≈ bound²/3.
        var fan = new Dictionary<string, int> { ["0.weight"] = 25, ["0.bias"] = 25, ["3.weight"] = 400, ["3.bias"] = 400, ["7.weight"] = 512, ["7.bias"] = 512 };
        foreach (var block in net.Blocks)
        {
            var values = block.Of(theta).ToArray();
            double bound = 1 / Math.Sqrt(fan[block.Name]);
            values.Should().OnlyContain(v => v >= -bound && v < bound, block.Name);
            if (values.Length < 1000) continue;
            double mean = values.Average(), variance = values.Select(v => (v - mean) * (v - mean)).Average();
            // Standard error of the mean is bound/√(3n); of the variance about 0.9·(bound²/3)/√n.
            Math.Abs(mean).Should().BeLessThan(5 * bound / Math.Sqrt(3 * values.Length), block.Name);
            variance.Should().BeApproximately(bound * bound / 3, 5 * 0.9 * bound * bound / 3 / Math.Sqrt(values.Length), block.Name);
            values.Max(Math.Abs).Should().BeGreaterThan(0.99 * bound, block.Name);
        }
        net.Initialize(17).Should().Equal(theta, "same seed, same bits");
        net.Initialize(18).Should().NotEqual(theta);
    }

    [Test]
    public void Outputs_equal_a_direct_NCHW_loop_over_the_pytorch_parameter_layout()
    {
        // An independent forward written from PyTorch's definitions: weight [N, C, K, K],
        // zero padding, stride, floor-mode pooling, flatten in (C, H, W) order, Linear.
        var net = Sequential.Parse(Small, Activation.Tanh);
        var theta = net.Initialize(4);
        var data = Images(3, 2, 7, 7, 3, 5);
        var actual = net.Predict(theta, data.X);
        int p = 0;
        for (int n = 0; n < data.Count; n++)
        {
            var x = Tensor3(data.X.Row(n).ToArray(), 2, 7, 7);
            var h = Conv(x, theta, ref p, 3, 3, 2, 1).Select(Math.Tanh).ToArray();
            var a = Pool(Tensor3(h, 3, 4, 4), 2, max: false);
            var h2 = Conv(Tensor3(a, 3, 2, 2), theta, ref p, 2, 2, 1, 1).Select(Math.Tanh).ToArray();
            var m = Pool(Tensor3(h2, 2, 3, 3), 2, max: true);
            for (int o = 0; o < 3; o++)
            {
                double z = theta[p + 3 * m.Length + o];
                for (int i = 0; i < m.Length; i++) z += theta[p + o * m.Length + i] * m[i];
                actual[n, o].Should().BeApproximately(z, 1e-13);
            }
            p = 0;
        }
    }

    static double[,,] Tensor3(double[] v, int c, int h, int w)
    {
        var t = new double[c, h, w];
        for (int i = 0; i < c; i++) for (int j = 0; j < h; j++) for (int k = 0; k < w; k++) t[i, j, k] = v[(i * h + j) * w + k];
        return t;
    }

    static double[] Conv(double[,,] x, double[] theta, ref int p, int outC, int k, int s, int pad)
    {
        int c = x.GetLength(0), h = x.GetLength(1), w = x.GetLength(2);
        int ho = (h + 2 * pad - k) / s + 1, wo = (w + 2 * pad - k) / s + 1;
        var y = new double[outC * ho * wo];
        int bias = p + outC * c * k * k;
        for (int o = 0; o < outC; o++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++)
                {
                    double sum = theta[bias + o];
                    for (int ci = 0; ci < c; ci++)
                        for (int a = 0; a < k; a++)
                            for (int b = 0; b < k; b++)
                            {
                                int r = i * s - pad + a, q = j * s - pad + b;
                                if (r >= 0 && r < h && q >= 0 && q < w) sum += theta[p + ((o * c + ci) * k + a) * k + b] * x[ci, r, q];
                            }
                    y[(o * ho + i) * wo + j] = sum;
                }
        p = bias + outC;
        return y;
    }

    static double[] Pool(double[,,] x, int k, bool max)
    {
        int c = x.GetLength(0), ho = x.GetLength(1) / k, wo = x.GetLength(2) / k;
        var y = new double[c * ho * wo];
        for (int ci = 0; ci < c; ci++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++)
                {
                    double acc = max ? double.NegativeInfinity : 0;
                    for (int a = 0; a < k; a++)
                        for (int b = 0; b < k; b++)
                            acc = max ? Math.Max(acc, x[ci, i * k + a, j * k + b]) : acc + x[ci, i * k + a, j * k + b] / (k * k);
                    y[(ci * ho + i) * wo + j] = acc;
                }
        return y;
    }

    [TestCase(LossKind.CrossEntropy, Activation.Tanh)]
    [TestCase(LossKind.MeanSquaredError, Activation.Gelu)]
    public void Hessian_equals_Gauss_Newton_plus_functional_Hessian_on_a_cnn(LossKind loss, Activation act)
    {
        var obj = new Objective(Sequential.Parse(Small, act), loss, Images(9, 2, 7, 7, 3, 1), new ObjectiveOptions { ChunkSize = 4, MaxBlock = 8 });
        var theta = obj.Model.Initialize(2);
        var h = obj.DenseMatrix(CurvatureKind.Hessian, theta);
        var g = obj.DenseMatrix(CurvatureKind.GaussNewton, theta);
        var f = obj.DenseMatrix(CurvatureKind.FunctionalHessian, theta);
        var sum = g.Data.Zip(f.Data, (a, b) => a + b).ToArray();
        Checks.RelativeError(sum, h.Data).Should().BeLessThan(1e-10);
        FrobeniusNorm(f).Should().BeGreaterThan(1e-3 * FrobeniusNorm(h), "the network's own curvature is not negligible here");
    }

    [TestCase(LossKind.CrossEntropy)]
    [TestCase(LossKind.MeanSquaredError)]
    public void Gauss_Newton_matrix_of_a_cnn_is_positive_semidefinite_while_its_Hessian_is_not(LossKind loss)
    {
        var obj = new Objective(Sequential.Parse(Small, Activation.Tanh), loss, Images(10, 2, 7, 7, 3, 3), new ObjectiveOptions { ChunkSize = 4 });
        var theta = obj.Model.Initialize(4);
        var g = obj.DenseMatrix(CurvatureKind.GaussNewton, theta);
        double norm = FrobeniusNorm(g);
        var ge = ToMathNet(g).Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric).EigenValues.Select(e => e.Real).ToArray();
        ge.Min().Should().BeGreaterThanOrEqualTo(-1e-12 * norm);
        ge.Max().Should().BeGreaterThan(1e-3 * norm);
        var he = ToMathNet(obj.DenseMatrix(CurvatureKind.Hessian, theta)).Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric);
        he.EigenValues.Select(e => e.Real).Min().Should().BeLessThan(-1e-6 * norm, "so the check above can fail");
    }

    [Test]
    public void Dense_Hessian_of_the_14_pixel_cnn_matches_central_differences_of_the_gradient()
    {
        // Every column H e_j against (∇L(θ + h e_j) − ∇L(θ − h e_j)) / 2h, 1,898 columns.
        var obj = new Objective(Sequential.Parse(Mnist14, Activation.Tanh), LossKind.CrossEntropy, Images(8, 1, 14, 14, 10, 6),
            new ObjectiveOptions { ChunkSize = 8, MaxBlock = 32 });
        int n = obj.ParameterCount;
        n.Should().Be(1898);
        var theta = obj.Model.Initialize(8);
        var hess = obj.DenseMatrix(CurvatureKind.Hessian, theta);
        const double h = 1e-5;
        var fd = new double[n * n];
        var gp = new double[n];
        var gm = new double[n];
        var t = (double[])theta.Clone();
        for (int j = 0; j < n; j++)
        {
            t[j] = theta[j] + h;
            obj.LossAndGradient(t, gp);
            t[j] = theta[j] - h;
            obj.LossAndGradient(t, gm);
            t[j] = theta[j];
            for (int i = 0; i < n; i++) fd[i * n + j] = (gp[i] - gm[i]) / (2 * h);
        }
        Checks.RelativeError(hess.Data, fd).Should().BeLessThan(1e-6);
        double scale = hess.Data.Max(Math.Abs);
        for (int i = 0; i < n; i += 37)
            for (int j = 0; j < n; j += 41)
                hess[i, j].Should().BeApproximately(hess[j, i], 1e-12 * scale, "H is symmetric");
    }

    [Test]
    public void A_cnn_theta_written_as_npy_and_as_named_npz_reads_back_bit_for_bit()
    {
        var net = Sequential.Parse(Mnist28, Activation.Tanh);
        var theta = net.Initialize(3);
        string dir = Directory.CreateTempSubdirectory("curvature-cnn-").FullName;
        try
        {
            string npy = Path.Combine(dir, "theta.npy");
            Npy.Write(npy, theta);
            Npy.ReadVector(npy).Should().Equal(theta);

            string npz = Path.Combine(dir, "theta.npz");
            Npz.Write(npz, net.Blocks.Select(b => (b.Name, b.Shape.ToArray(), b.Of(theta).ToArray())));
            var read = Npz.Read(npz);
            read.Keys.Should().Equal(net.Blocks.Select(b => b.Name));
            read["3.weight"].Shape.Should().Equal(32, 16, 5, 5);
            read.Values.SelectMany(a => a.Float64!).Should().Equal(theta);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void Npy_rows_in_C_H_W_order_feed_a_cnn_as_the_same_images()
    {
        // X [n, C·H·W] as x.reshape(n, -1) of an NCHW batch: the objective on the files equals
        // the objective on the in-memory dataset, and the spec needs no shape.
        var data = Images(6, 2, 7, 7, 3, 9);
        string dir = Directory.CreateTempSubdirectory("curvature-cnn-npy-").FullName;
        try
        {
            string x = Path.Combine(dir, "X.npy"), y = Path.Combine(dir, "y.npy");
            Npy.Write(x, data.X);
            Npy.Write(y, data.Labels!.Select(l => (long)l).ToArray());
            var fromFiles = DataSpec.Parse($"npy:{x},{y},3");
            fromFiles.Features.Should().Be(98);
            var net = Sequential.Parse(Small, Activation.Tanh);
            var theta = net.Initialize(1);
            new Objective(net, LossKind.CrossEntropy, fromFiles).Loss(theta)
                .Should().Be(new Objective(net, LossKind.CrossEntropy, data).Loss(theta));
            var wrong = () => new Objective(Sequential.Parse("1x7x7-c2-3", Activation.Tanh), LossKind.CrossEntropy, fromFiles);
            wrong.Should().Throw<ArgumentException>().WithMessage("*98 features*49 inputs*");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void Fashion_images_train_a_cnn_through_the_objective_with_a_gradient_matching_differences_of_the_loss()
    {
        var obj = new Objective(Sequential.Parse("1x14x14-c4k3-m2-a2-10", Activation.Tanh), LossKind.CrossEntropy, DataSpec.Parse("fashion14:40"));
        var theta = obj.Model.Initialize(5);
        var g = new double[obj.ParameterCount];
        obj.LossAndGradient(theta, g);
        var fd = Checks.Gradient(t => obj.Loss(t), theta, 1e-6);
        Checks.RelativeError(g, fd).Should().BeLessThan(1e-7);
    }
}

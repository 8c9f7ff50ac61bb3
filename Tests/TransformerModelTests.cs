using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.AutodiffTestSupport;

namespace Curvature.Tests;

/// <summary>The Transformer encoder classifier: layout, count, initialization and curvature.</summary>
public class TransformerModelTests
{
    const string Tiny = "tok7x4-e4-t2f6x2-2";

    /// <summary>Six sequences of up to four tokens over a vocabulary of 7, padded with 0 (one of length 1).</summary>
    internal static Dataset TinyData() => new(new Matrix(6, 4,
        [
            3, 5, 2, 0,
            1, 0, 0, 0,
            6, 6, 4, 2,
            2, 3, 0, 0,
            5, 1, 4, 0,
            4, 2, 6, 3,
        ]), [0, 1, 1, 0, 1, 0], null, 2, "tiny tokens");

    static Objective TinyObjective() => new(TransformerClassifier.Parse(Tiny), LossKind.CrossEntropy, TinyData(), new ObjectiveOptions { ChunkSize = 4, MaxBlock = 8 });

    /// <summary>The initialization perturbed, so that the two layers differ and every block matters.</summary>
    static double[] Point(Objective obj, ulong seed)
    {
        var theta = obj.Model.Initialize(seed);
        var noise = Gaussian(new Rng(seed + 100), theta.Length);
        for (int i = 0; i < theta.Length; i++) theta[i] += 0.3 * noise[i];
        return theta;
    }

    [TestCase(12, 5, 4, 2, 6, 2, 2)]
    [TestCase(5491, 24, 64, 8, 256, 2, 2)]
    [TestCase(100, 1, 6, 1, 24, 1, 3)]
    public void Parameter_count_equals_the_sum_over_PyTorch_modules(int v, int l, int d, int h, int f, int n, int c)
    {
        // sum(p.numel() for p in model.parameters()), module by module as PyTorch defines them.
        long embedding = (long)v * d, positions = (long)l * d;
        long attention = 3L * d * d + 3 * d + d * d + d;            // in_proj weight and bias, out_proj
        long feedForward = (long)f * d + f + (long)d * f + d;       // linear1, linear2
        long norms = 2 * (2L * d);                                  // norm1, norm2: weight and bias
        long head = (long)c * d + c;
        long expected = embedding + positions + n * (attention + feedForward + norms) + head;
        var model = new TransformerClassifier(v, l, d, h, f, n, c);
        model.ParameterCount.Should().Be((int)expected);
        model.Blocks.Sum(b => b.Count).Should().Be((int)expected);
    }

    [Test]
    public void Blocks_carry_the_state_dict_names_and_shapes_PyTorch_prints()
    {
        // As printed by named_parameters() of the module in scripts/transformer_reference.py
        // for V = 12, L = 5, d = 4, nhead = 2, dim_feedforward = 6, 2 layers, 2 classes.
        string[] expected =
        [
            "pos_embedding [1, 5, 4]", "embedding.weight [12, 4]",
            "encoder.layers.0.self_attn.in_proj_weight [12, 4]", "encoder.layers.0.self_attn.in_proj_bias [12]",
            "encoder.layers.0.self_attn.out_proj.weight [4, 4]", "encoder.layers.0.self_attn.out_proj.bias [4]",
            "encoder.layers.0.linear1.weight [6, 4]", "encoder.layers.0.linear1.bias [6]",
            "encoder.layers.0.linear2.weight [4, 6]", "encoder.layers.0.linear2.bias [4]",
            "encoder.layers.0.norm1.weight [4]", "encoder.layers.0.norm1.bias [4]",
            "encoder.layers.0.norm2.weight [4]", "encoder.layers.0.norm2.bias [4]",
            "encoder.layers.1.self_attn.in_proj_weight [12, 4]", "encoder.layers.1.self_attn.in_proj_bias [12]",
            "encoder.layers.1.self_attn.out_proj.weight [4, 4]", "encoder.layers.1.self_attn.out_proj.bias [4]",
            "encoder.layers.1.linear1.weight [6, 4]", "encoder.layers.1.linear1.bias [6]",
            "encoder.layers.1.linear2.weight [4, 6]", "encoder.layers.1.linear2.bias [4]",
            "encoder.layers.1.norm1.weight [4]", "encoder.layers.1.norm1.bias [4]",
            "encoder.layers.1.norm2.weight [4]", "encoder.layers.1.norm2.bias [4]",
            "classifier.weight [2, 4]", "classifier.bias [2]",
        ];
        TransformerClassifier.Parse("tok12x5-e4-t2f6x2-2").Blocks.Select(b => b.ToString()).Should().Equal(expected);
    }

    [Test]
    public void Initialization_follows_PyTorch_and_repeats_the_first_layer()
    {
        var model = new TransformerClassifier(50, 6, 8, 2, 16, 2, 3);
        var theta = model.Initialize(9);
        ReadOnlySpan<double> Block(string name) => model.Blocks.Single(b => b.Name == name).Of(theta);
        var pos = Block("pos_embedding").ToArray();
        Math.Sqrt(pos.Average(x => x * x)).Should().BeInRange(0.01, 0.03);
        var emb = Block("embedding.weight").ToArray();
        Math.Sqrt(emb.Average(x => x * x)).Should().BeInRange(0.85, 1.15);
        double xavier = Math.Sqrt(6.0 / (8 + 24));
        Block("encoder.layers.0.self_attn.in_proj_weight").ToArray().Should().OnlyContain(x => Math.Abs(x) <= xavier).And.Contain(x => Math.Abs(x) > 0.8 * xavier);
        Block("encoder.layers.0.self_attn.in_proj_bias").ToArray().Should().OnlyContain(x => x == 0);
        Block("encoder.layers.0.self_attn.out_proj.bias").ToArray().Should().OnlyContain(x => x == 0);
        Block("encoder.layers.0.linear2.weight").ToArray().Should().OnlyContain(x => Math.Abs(x) <= 0.25);
        Block("encoder.layers.1.norm1.weight").ToArray().Should().OnlyContain(x => x == 1);
        Block("encoder.layers.1.norm2.bias").ToArray().Should().OnlyContain(x => x == 0);
        Block("encoder.layers.1.linear1.weight").ToArray().Should().Equal(Block("encoder.layers.0.linear1.weight").ToArray());
        Block("classifier.weight").ToArray().Should().OnlyContain(x => Math.Abs(x) <= 1 / Math.Sqrt(8));
        model.Initialize(9).Should().Equal(theta);
        model.Initialize(10).Should().NotEqual(theta);
    }

    [Test]
    public void A_width_not_divisible_by_the_heads_is_refused_naming_the_arch_option()
    {
        var act = () => TransformerClassifier.Parse("tok10x4-e6-t4-2");
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "arch" && e.Message.Contains("'t4'") && e.Message.Contains("divide"));
        var direct = () => new TransformerClassifier(10, 4, 6, 4, 8, 1, 2);
        direct.Should().Throw<ArgumentException>().Where(e => e.ParamName == "heads");
    }

    [Test]
    public void Padding_tokens_do_not_change_the_logits()
    {
        // The pad row of the table and the pad positions' inputs must not reach the output.
        var model = TransformerClassifier.Parse(Tiny);
        var theta = model.Initialize(3);
        var data = TinyData();
        var before = model.Predict(theta, data.X);
        var emb = model.Blocks.Single(b => b.Name == "embedding.weight");
        for (int c = 0; c < 4; c++) theta[emb.Offset + c] += 5.0;            // row 0 = <pad>
        var after = model.Predict(theta, data.X);
        Checks.RelativeError(after.Data, before.Data).Should().BeLessThan(1e-14);
        theta[emb.Offset + 4] += 5.0;                                          // row 1 is a real token
        Checks.RelativeError(model.Predict(theta, data.X).Data, before.Data).Should().BeGreaterThan(1e-3);
    }

    [Test]
    public void Warm_gradient_and_block_Hv_steps_allocate_nothing()
    {
        // Typed op state (LayerNormState, SoftmaxState, HeadProductState, …) is pooled with
        // the tape's nodes, so a repeated sweep reuses every buffer and state object.
        var obj = new Objective(TransformerClassifier.Parse(Tiny), LossKind.CrossEntropy, TinyData(),
            new ObjectiveOptions { ChunkSize = 100, Threads = 1 });
        var theta = Point(obj, 3);
        int n = obj.ParameterCount;
        var gradient = new double[n];
        var v = Gaussian(new Rng(4), 3 * n);
        var products = new double[3 * n];
        var batch = new[] { 0, 2, 3, 5 };
        for (int warm = 0; warm < 2; warm++)
        {
            obj.LossAndGradient(theta, gradient, batch);
            obj.CurvatureBlockProduct(CurvatureKind.Hessian, theta, v, 3, products, batch);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 5; i++)
        {
            obj.LossAndGradient(theta, gradient, batch);
            obj.CurvatureBlockProduct(CurvatureKind.Hessian, theta, v, 3, products, batch);
        }
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().Be(0);
    }

    [Test]
    public void Hessian_equals_Gauss_Newton_plus_functional_Hessian_and_G_is_PSD()
    {
        var obj = TinyObjective();
        var theta = Point(obj, 5);
        var h = obj.DenseMatrix(CurvatureKind.Hessian, theta);
        var g = obj.DenseMatrix(CurvatureKind.GaussNewton, theta);
        var f = obj.DenseMatrix(CurvatureKind.FunctionalHessian, theta);
        Checks.RelativeError(g.Data.Zip(f.Data, (a, b) => a + b).ToArray(), h.Data).Should().BeLessThan(1e-10);
        double norm = Math.Sqrt(g.Data.Sum(x => x * x));
        var eig = ToMathNet(g).Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric).EigenValues.Select(e => e.Real).ToArray();
        eig.Min().Should().BeGreaterThanOrEqualTo(-1e-12 * norm);
        Math.Sqrt(f.Data.Sum(x => x * x)).Should().BeGreaterThan(1e-3 * norm, "the network's own curvature is not negligible");
    }

    [Test]
    public void Dense_Hessian_of_a_tiny_Transformer_equals_finite_differences_of_its_gradient()
    {
        // The stencil's error falls as h⁴ here (6e-3, 7e-5, 9e-7 at h = 1e-2, 3e-3, 1e-3):
        // h = 1e-4 puts truncation below 1e-10 and rounding near 1e-9.
        const double Step = 1e-4;
        var obj = TinyObjective();
        obj.ParameterCount.Should().BeLessThanOrEqualTo(2000);
        var theta = Point(obj, 7);
        var h = obj.DenseMatrix(CurvatureKind.Hessian, theta);
        int n = obj.ParameterCount;
        var fd = new double[n * n];
        var e = new double[n];
        var grad = new double[n];
        for (int j = 0; j < n; j++)
        {
            e[j] = 1;
            var col = Checks.Directional(x => { obj.LossAndGradient(x, grad); return (double[])grad.Clone(); }, theta, e, Step);
            e[j] = 0;
            for (int i = 0; i < n; i++) fd[i * n + j] = col[i];
        }
        Checks.RelativeError(h.Data, fd).Should().BeLessThan(1e-7);
    }
}

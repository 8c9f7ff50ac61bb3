using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;
using FluentAssertions;
using NUnit.Framework;
using static Curvature.Tests.AutodiffTestSupport;

namespace Curvature.Tests;

/// <summary>Forward-over-reverse on whole functions whose Hessians are known in closed form.</summary>
public class HessianVectorProductTests
{
    static Matrix SymmetricMatrix(int n, ulong seed)
    {
        var rng = new Rng(seed);
        var a = new Matrix(n, n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
                a[i, j] = a[j, i] = rng.NextGaussian();
        return a;
    }

    static double[] Multiply(Matrix a, ReadOnlySpan<double> v)
    {
        var y = new double[a.Rows];
        for (int i = 0; i < a.Rows; i++)
        {
            double s = 0;
            for (int j = 0; j < a.Cols; j++) s += a[i, j] * v[j];
            y[i] = s;
        }
        return y;
    }

    [Test]
    public void Hessian_vector_product_of_a_quadratic_equals_A_times_v()
    {
        const int n = 20;
        var a = SymmetricMatrix(n, 1);
        // f(x) = ½ xᵀAx, built with θ itself as the 1×n row x: ∇f = Ax, H = A.
        TapeFunction f = (t, x) => t.Scale(t.Sum(t.Mul(x, t.MatMul(x, t.Constant(a)))), 0.5);
        var rng = new Rng(2);
        var x = Gaussian(rng, n);
        var v = Gaussian(rng, n);
        var r = new Tape().HessianVectorProduct(f, x, v);
        var av = Multiply(a, v);
        Checks.RelativeError(r.Product, av).Should().BeLessThan(1e-12);
        Checks.RelativeError(r.Gradient, Multiply(a, x)).Should().BeLessThan(1e-12);
        r.Loss.Should().BeApproximately(0.5 * x.Zip(Multiply(a, x), (p, q) => p * q).Sum(), 1e-10);
    }

    static Tensor Rosenbrock(Tape t, Tensor theta)
    {
        var x = t.Slice(theta, 0, 1, 1);
        var y = t.Slice(theta, 1, 1, 1);
        var first = t.Square(t.Sub(t.Constant(1.0), x));
        var second = t.Scale(t.Square(t.Sub(y, t.Square(x))), 100.0);
        return t.Add(first, second);
    }

    [TestCase(-1.2, 1.0)]
    [TestCase(1.0, 1.0)]
    [TestCase(0.3, -2.0)]
    [TestCase(2.5, 4.0)]
    public void Hessian_vector_products_of_Rosenbrock_equal_the_closed_form_Hessian(double x, double y)
    {
        // f = (1 − x)² + 100(y − x²)²:
        // H = [[2 − 400(y − x²) + 800x², −400x], [−400x, 200]].
        double hxx = 2 - 400 * (y - x * x) + 800 * x * x, hxy = -400 * x, hyy = 200;
        var tape = new Tape();
        var e1 = tape.HessianVectorProduct(Rosenbrock, [x, y], [1.0, 0.0]);
        var e2 = tape.HessianVectorProduct(Rosenbrock, [x, y], [0.0, 1.0]);
        e1.Product[0].Should().BeApproximately(hxx, 1e-12 * Math.Abs(hxx) + 1e-12);
        e1.Product[1].Should().BeApproximately(hxy, 1e-12 * Math.Abs(hxy) + 1e-12);
        e2.Product[0].Should().BeApproximately(hxy, 1e-12 * Math.Abs(hxy) + 1e-12);
        e2.Product[1].Should().BeApproximately(hyy, 1e-12 * hyy);
        e1.Gradient[0].Should().BeApproximately(-2 * (1 - x) - 400 * x * (y - x * x), 1e-10);
        e1.Gradient[1].Should().BeApproximately(200 * (y - x * x), 1e-10);
        e1.Loss.Should().BeApproximately((1 - x) * (1 - x) + 100 * (y - x * x) * (y - x * x), 1e-12);
    }

    /// <summary>A two-layer tanh network with cross-entropy on fixed random data, θ = [W1, b1, W2, b2].</summary>
    sealed class SmallNetwork
    {
        const int In = 4, Hidden = 5, Out = 3, Batch = 7;
        readonly Matrix _x;
        readonly int[] _labels;
        public int Size => Hidden * In + Hidden + Out * Hidden + Out;

        public SmallNetwork(ulong seed)
        {
            var rng = new Rng(seed);
            _x = new Matrix(Batch, In);
            rng.FillGaussian(_x.Data);
            _labels = Enumerable.Range(0, Batch).Select(_ => rng.NextInt(Out)).ToArray();
        }

        public Tensor Loss(Tape t, Tensor theta)
        {
            int o = 0;
            var w1 = t.Slice(theta, o, Hidden, In); o += Hidden * In;
            var b1 = t.Slice(theta, o, 1, Hidden); o += Hidden;
            var w2 = t.Slice(theta, o, Out, Hidden); o += Out * Hidden;
            var b2 = t.Slice(theta, o, 1, Out);
            var h = t.Tanh(t.Linear(t.Constant(_x), w1, b1));
            var z = t.Linear(h, w2, b2);
            t.MarkNetworkOutput(z);
            return t.SoftmaxCrossEntropy(z, _labels);
        }
    }

    [Test]
    public void Hessian_vector_products_are_symmetric_bilinear_forms()
    {
        var net = new SmallNetwork(3);
        var rng = new Rng(4);
        var theta = Gaussian(rng, net.Size);
        var u = Gaussian(rng, net.Size);
        var v = Gaussian(rng, net.Size);
        var tape = new Tape();
        var hu = tape.HessianVectorProduct(net.Loss, theta, u).Product;
        var hv = tape.HessianVectorProduct(net.Loss, theta, v).Product;
        double uHv = u.Zip(hv, (a, b) => a * b).Sum(), vHu = v.Zip(hu, (a, b) => a * b).Sum();
        Math.Abs(uHv - vHu).Should().BeLessThan(1e-10 * Math.Abs(uHv));
    }

    [Test]
    public void Block_product_equals_the_products_of_its_columns_one_at_a_time()
    {
        var net = new SmallNetwork(5);
        var rng = new Rng(6);
        var theta = Gaussian(rng, net.Size);
        var vectors = new Matrix(4, net.Size);
        rng.FillGaussian(vectors.Data);
        var tape = new Tape();
        foreach (var mode in new[] { CurvatureKind.Hessian, CurvatureKind.GaussNewton, CurvatureKind.FunctionalHessian })
        {
            var block = tape.HessianBlockProduct(net.Loss, theta, vectors, mode);
            for (int j = 0; j < vectors.Rows; j++)
            {
                var single = tape.HessianVectorProduct(net.Loss, theta, vectors.Row(j), mode);
                Checks.RelativeError(block.Products.Row(j), single.Product).Should().BeLessThan(1e-12, $"{mode}, column {j}");
            }
        }
    }

    [Test]
    public void Hessian_product_agrees_with_finite_differences_of_the_gradient_on_a_network()
    {
        var net = new SmallNetwork(7);
        var rng = new Rng(8);
        var theta = Gaussian(rng, net.Size);
        var v = Gaussian(rng, net.Size);
        var tape = new Tape();
        var hv = tape.HessianVectorProduct(net.Loss, theta, v).Product;
        var fd = Checks.Directional(x => new Tape().Gradient(net.Loss, x).Gradient, theta, v, 1e-3);
        Checks.RelativeError(hv, fd).Should().BeLessThan(1e-8);
    }

    [Test]
    public void Gauss_Newton_and_functional_Hessian_sweeps_add_up_to_the_Hessian_sweep()
    {
        var net = new SmallNetwork(9);
        var rng = new Rng(10);
        var theta = Gaussian(rng, net.Size);
        var v = Gaussian(rng, net.Size);
        var tape = new Tape();
        var h = tape.HessianVectorProduct(net.Loss, theta, v, CurvatureKind.Hessian).Product;
        var g = tape.HessianVectorProduct(net.Loss, theta, v, CurvatureKind.GaussNewton).Product;
        var f = tape.HessianVectorProduct(net.Loss, theta, v, CurvatureKind.FunctionalHessian).Product;
        Checks.RelativeError(g.Zip(f, (a, b) => a + b).ToArray(), h).Should().BeLessThan(1e-12);
        // G is positive semi-definite: vᵀGv ≥ 0, and F is not the whole of H.
        v.Zip(g, (a, b) => a * b).Sum().Should().BeGreaterThan(0);
        Checks.RelativeError(f, h).Should().BeGreaterThan(1e-3);
    }

    [Test]
    public void Gradient_from_the_second_order_sweep_equals_the_plain_gradient()
    {
        var net = new SmallNetwork(11);
        var rng = new Rng(12);
        var theta = Gaussian(rng, net.Size);
        var v = Gaussian(rng, net.Size);
        var tape = new Tape();
        var plain = tape.Gradient(net.Loss, theta);
        var second = tape.HessianVectorProduct(net.Loss, theta, v);
        second.Loss.Should().Be(plain.Loss);
        Checks.RelativeError(second.Gradient, plain.Gradient).Should().BeLessThan(1e-14);
    }

    [Test]
    public void Jvp_of_a_linear_map_is_the_matrix_times_the_direction()
    {
        var m = new Matrix(3, 5);
        new Rng(13).FillGaussian(m.Data);
        // y = θ·Mᵀ for θ a 1×5 row, so J = M and J·v = M·v.
        TapeFunction f = (t, x) => t.MatMul(x, t.Constant(m), transposeB: true);
        var rng = new Rng(14);
        var theta = Gaussian(rng, 5);
        var v = new Matrix(2, 5);
        rng.FillGaussian(v.Data);
        var r = new Tape().Jvp(f, theta, v);
        for (int j = 0; j < 2; j++) Checks.RelativeError(r.Tangents.Row(j), Multiply(m, v.Row(j))).Should().BeLessThan(1e-14);
        Checks.RelativeError(r.Value.Data, Multiply(m, theta)).Should().BeLessThan(1e-14);
    }

    [Test]
    public void A_warm_tape_allocates_nothing_for_gradients_and_Hessian_products()
    {
        var net = new SmallNetwork(15);
        var rng = new Rng(16);
        var theta = Gaussian(rng, net.Size);
        var vectors = Gaussian(rng, 3 * net.Size);
        var gradient = new double[net.Size];
        var products = new double[3 * net.Size];
        var tape = new Tape();
        TapeFunction f = net.Loss;
        void Step()
        {
            tape.Gradient(f, theta, gradient);
            tape.HessianVectorProduct(f, theta, vectors.AsSpan(0, net.Size), gradient, products.AsSpan(0, net.Size));
            tape.HessianBlockProduct(f, theta, vectors, 3, gradient, products, CurvatureKind.GaussNewton);
        }
        Step();
        Step();
        using var gemms = CountingBlas.Start();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 5; i++) Step();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        gemms.Calls.Should().BeGreaterThan(0);
        gemms.FacadeAllocatedBytes.Should().Be(0, "the BLAS facade reuses its buffers");
        allocated.Should().Be(0, "the tape reuses its nodes and buffers");
    }

    [Test]
    public void Overlapping_views_and_direct_use_of_theta_accumulate_into_one_gradient()
    {
        // f(θ) = Σ θ² + Σ (θ[0..3) ∘ θ[1..4)) · θ[2]: θ read whole and through overlapping views.
        TapeFunction f = (t, th) =>
        {
            var a = t.Slice(th, 0, 1, 3);
            var b = t.Slice(th, 1, 1, 3);
            var c = t.Slice(th, 2, 1, 1);
            return t.Add(t.Sum(t.Square(th)), t.Mul(t.Sum(t.Mul(a, b)), c));
        };
        var rng = new Rng(17);
        var theta = Gaussian(rng, 4);
        var v = Gaussian(rng, 4);
        var r = new Tape().HessianVectorProduct(f, theta, v);
        Checks.RelativeError(r.Gradient, Checks.Gradient(x => Evaluate(f, x)[0], theta, 1e-3)).Should().BeLessThan(1e-10);
        Checks.RelativeError(r.Product, Checks.Directional(x => new Tape().Gradient(f, x).Gradient, theta, v, 1e-3)).Should().BeLessThan(1e-10);
    }

    [Test]
    public void Parameters_no_op_reads_get_zero_gradient_and_zero_curvature()
    {
        // Only θ[2..4) is used; θ[0..2) and θ[4..6) must come back exactly zero even though
        // the pooled buffers held other numbers from an earlier sweep.
        TapeFunction used = (t, th) => t.Sum(t.Exp(t.Slice(th, 2, 1, 2)));
        TapeFunction all = (t, th) => t.Sum(t.Exp(t.Slice(th, 0, 1, 6)));
        var tape = new Tape();
        double[] theta = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], v = [1, 2, 3, 4, 5, 6];
        tape.HessianBlockProduct(all, theta, new Matrix(1, 6, (double[])v.Clone()));
        var r = tape.HessianVectorProduct(used, theta, v);
        r.Gradient.Should().Equal(0, 0, Math.Exp(0.3), Math.Exp(0.4), 0, 0);
        r.Product.Should().Equal(0, 0, 3 * Math.Exp(0.3), 4 * Math.Exp(0.4), 0, 0);
    }

    [Test]
    public void Gauss_Newton_mode_without_a_network_output_is_rejected()
    {
        var act = () => new Tape().HessianVectorProduct(Rosenbrock, [1.0, 2.0], [1.0, 0.0], CurvatureKind.GaussNewton);
        act.Should().Throw<InvalidOperationException>().WithMessage("*MarkNetworkOutput*");
    }

    [Test]
    public void Worked_example_of_one_tanh_layer_gives_the_hand_computed_tangents_adjoints_and_Hv()
    {
        // docs/autodiff.md §2: z = Wx + b, y = tanh z, L = ½Σy², x = (1, −0.5, 2), v = e_W00 + 0.5e_b0 − e_b1.
        double[] x = [1, -0.5, 2];
        double[] theta = [0.3, -0.2, 0.1, 0.05, 0.4, -0.3, 0.1, -0.2];
        double[] v = [1, 0, 0, 0, 0, 0, 0.5, -1];
        Tensor Layer(Tape t, Tensor p)
        {
            var y = t.Tanh(t.Linear(t.Constant(x, 1, 3), t.Slice(p, 0, 2, 3), t.Slice(p, 6, 1, 2)));
            return t.Scale(t.Sum(t.Square(y)), 0.5);
        }
        var r = new Tape().HessianVectorProduct(Layer, theta, v);
        double[] hv = [-0.091194, 0.045597, -0.182388, 0.290573, -0.145287, 0.581146, -0.091194, 0.290573];
        r.Product.Should().Equal(hv, (a, b) => Math.Abs(a - b) < 1e-6);
        r.Gradient[6].Should().BeApproximately(0.383616, 1e-6, "b̄₀ = z̄₀ = (1 − y₀²)y₀");
        r.Loss.Should().BeApproximately(0.456270, 1e-6);
    }


    [Test]
    public void Worked_example_block_of_three_directions_on_theta0_squared_theta1_gives_the_rows_of_V_times_the_hand_Hessian()
    {
        // docs/autodiff.md §3: f = θ₀²θ₁ at (1, 2); H = [[2θ₁, 2θ₀], [2θ₀, 0]] = [[4, 2], [2, 0]].
        static Tensor F(Tape t, Tensor p) => t.Sum(t.Mul(t.Square(t.Slice(p, 0, 1, 1)), t.Slice(p, 1, 1, 1)));
        double[] theta = [1, 2];
        var v = Matrix.FromRows(new double[,] { { 1, 0 }, { 0, 1 }, { 1, -1 } });
        var h = new double[,] { { 2 * theta[1], 2 * theta[0] }, { 2 * theta[0], 0 } };
        var r = new Tape().HessianBlockProduct(F, theta, v);
        r.Loss.Should().Be(theta[0] * theta[0] * theta[1]);
        r.Gradient.Should().Equal(2 * theta[0] * theta[1], theta[0] * theta[0]);
        for (int j = 0; j < 3; j++)
            for (int i = 0; i < 2; i++)
                r.Products[j, i].Should().Be(h[i, 0] * v[j, 0] + h[i, 1] * v[j, 1], $"(H·v{j})[{i}]");
        r.Products.Data.Should().Equal(4, 2, 2, 0, 2, 2);
    }


    [Test]
    public void Worked_example_ab_plus_a_writes_a_bar_first_then_accumulates_and_a_warm_tape_gives_the_same_b_plus_1()
    {
        // docs/autodiff.md §4: L = ab + a at (2, 3); ā = b (first write, by the product) + 1 (accumulated, by the sum).
        static Tensor F(Tape t, Tensor p)
        {
            var a = t.Slice(p, 0, 1, 1);
            return t.Sum(t.Add(t.Mul(a, t.Slice(p, 1, 1, 1)), a));
        }
        double[] theta = [2, 3], v = [1, 1];
        double[] gradient = [theta[1] + 1, theta[0]], hv = [v[1], v[0]];
        gradient.Should().Equal(4, 2);
        var tape = new Tape();
        for (int recording = 0; recording < 3; recording++)
        {
            var r = tape.HessianVectorProduct(F, theta, v);
            r.Loss.Should().Be(theta[0] * theta[1] + theta[0]);
            r.Gradient.Should().Equal(gradient, $"recording {recording} overwrites the previous adjoints instead of adding to them");
            r.Product.Should().Equal(hv, "H = [[0, 1], [1, 0]]");
        }
    }
}

using BenchmarkDotNet.Attributes;
using Curvature.Autodiff;
using Curvature.Core;
using Curvature.Models;

namespace Curvature.Benchmarks;

/// <summary>
/// Loss + gradient, one Hessian-vector product and a block of ten on the 784-200-200-10
/// tanh network with cross-entropy on 1000 seeded random examples (the shape PyTorch is
/// compared on), through the Objective with its default options; and the bare tape on a
/// 128-example minibatch, whose allocation column shows the steady state of a training step.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 10)]
public class AutodiffBenchmarks
{
    const int Batch = 1000, Block = 10, Minibatch = 128;
    Objective _objective = null!;
    double[] _theta = [], _gradient = [], _vectors = [], _products = [];
    int _n;
    readonly Tape _tape = new();
    TapeFunction _minibatchLoss = null!;

    [GlobalSetup]
    public void Setup()
    {
        (var mlp, var x, var labels, _objective, var rng) = BenchmarkProblems.RandomMlp(Batch);
        _n = mlp.ParameterCount;
        _theta = mlp.Initialize(1);
        _gradient = new double[_n];
        _vectors = new double[Block * _n];
        rng.FillGaussian(_vectors);
        _products = new double[Block * _n];
        _minibatchLoss = (t, theta) =>
        {
            var z = mlp.Forward(t, theta, t.Constant(x.Data, 0, Minibatch, mlp.InputWidth));
            return t.SoftmaxCrossEntropy(z, labels);
        };
    }

    [Benchmark(Baseline = true)]
    public double LossAndGradient() => _objective.LossAndGradient(_theta, _gradient);

    [Benchmark]
    public double HessianVectorProduct() =>
        _objective.CurvatureProduct(CurvatureKind.Hessian, _theta, _vectors.AsSpan(0, _n), _products.AsSpan(0, _n), _gradient);

    [Benchmark]
    public double HessianBlockProduct10() =>
        _objective.CurvatureBlockProduct(CurvatureKind.Hessian, _theta, _vectors, Block, _products, _gradient);

    [Benchmark]
    public double TapeGradientMinibatch128() => _tape.Gradient(_minibatchLoss, _theta, _gradient);
}

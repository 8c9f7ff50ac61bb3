using BenchmarkDotNet.Attributes;
using Curvature.Core;
using Curvature.Models;
using Curvature.Spectral;

namespace Curvature.Benchmarks;

/// <summary>
/// Issue 24's operations on the 784-200-200-10 tanh network with cross-entropy on seeded
/// random examples, each beside one gradient of the same batch (docs/benchmarks.md):
/// per-example gradient norms (batch 1000, no n×P array), materialized per-example
/// gradients (batch 128, the n×P write), one empirical-Fisher product (batch 1000, matrix-free)
/// and the exact diag(G) (batch 1000, C = 10 backward sweeps). Indicative only on a shared machine.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 2, iterationCount: 5)]
public class PerExampleBenchmarks
{
    const int Batch = 1000, Small = 128;
    Objective _objective = null!;
    double[] _theta = [], _gradient = [], _v = [], _product = [];
    int[] _small = [];
    Matrix _rows = null!;
    GradientOuterProductOperator _fisher = null!;

    [GlobalSetup]
    public void Setup()
    {
        (var mlp, _, _, _objective, var rng) = BenchmarkProblems.RandomMlp(Batch);
        _theta = mlp.Initialize(1);
        _gradient = new double[mlp.ParameterCount];
        _v = new double[mlp.ParameterCount];
        rng.FillGaussian(_v);
        _product = new double[mlp.ParameterCount];
        _small = Enumerable.Range(0, Small).ToArray();
        _rows = new Matrix(Small, mlp.ParameterCount);
        _fisher = _objective.EmpiricalFisher(_theta);
    }

    [Benchmark(Baseline = true)]
    public double Gradient1000() => _objective.LossAndGradient(_theta, _gradient);

    [Benchmark]
    public double[] PerExampleNorms1000() => _objective.PerExampleGradientNorms(_theta);

    [Benchmark]
    public double Gradient128() => _objective.LossAndGradient(_theta, _gradient, _small);

    [Benchmark]
    public void PerExampleGradients128() => _objective.PerExampleGradients(_theta, _rows, _small);

    [Benchmark]
    public void EmpiricalFisherProduct1000() => _fisher.Apply(_v, _product);

    [Benchmark]
    public double[] GaussNewtonDiagonal1000() => _objective.GaussNewtonDiagonal(_theta);
}

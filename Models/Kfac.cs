using Curvature.Autodiff;
using Curvature.Core;

namespace Curvature.Models;

public sealed partial class Objective
{
    /// <summary>
    /// The K-FAC factors of every dense and convolution layer over <paramref name="examples"/>
    /// (all when null) at θ: for a dense layer A = (1/n) Σᵢ āᵢāᵢᵀ with āᵢ = [aᵢ; 1] the layer's
    /// input and a bias coordinate, and B = (1/n) Σᵢ Σ_c ĝᵢ,c ĝᵢ,cᵀ with ĝᵢ,c the gradient at the
    /// layer's output of sᵢ,cᵀzᵢ, the loss Hessian's factor column c (the exact output-gradient
    /// convention: no label sampling). Then G's block of the layer is ≈ B ⊗ A, exactly when
    /// n = 1 (docs/curvature.md §9). For a convolution (KFC, Grosse and Martens 2016) āᵢ,t are
    /// the im2col patches with a bias coordinate and ĝᵢ,c,t the output gradients at each of the
    /// T = Ho·Wo output locations: A = (1/n) Σᵢ Σ_t āᵢ,tāᵢ,tᵀ sums over locations and
    /// B = (1/(nT)) Σᵢ Σ_c Σ_t ĝᵢ,c,t ĝᵢ,c,tᵀ averages over them (docs/curvature.md §10).
    /// One forward and C backward sweeps per chunk.
    /// </summary>
    /// <exception cref="InvalidOperationException">The network has no dense or convolution layer, or a weight is not used by one.</exception>
    /// <exception cref="NotSupportedException">A dense layer sees several rows per example (a Transformer's token rows).</exception>
    public Kfac KroneckerFactors(ReadOnlySpan<double> theta, int[]? examples = null)
    {
        var layers = new List<KfacLayer>();
        var blocks = Model.Blocks;
        for (int i = 0; i < blocks.Count; i++)
        {
            var w = blocks[i];
            bool convolution = w.Shape.Count == 4;
            if (w.Shape.Count != 2 && !convolution) continue;
            int outs = w.Shape[0], ins = w.Count / outs;
            bool bias = i + 1 < blocks.Count && blocks[i + 1].Shape.Count == 1 && blocks[i + 1].Shape[0] == outs && blocks[i + 1].Offset == w.Offset + outs * ins;
            layers.Add(new KfacLayer(w.Name, w.Offset, outs, ins, bias ? blocks[i + 1].Offset : -1, convolution));
        }
        if (layers.Count == 0)
            throw new InvalidOperationException($"K-FAC needs dense or convolution layers; the {Model.Spec} network has none.");
        var job = new KfacJob(this, layers);
        using (Blas.UseThreads(1)) RunJob(job, theta, examples);
        double inverse = 1.0 / JobExampleCount;
        foreach (var l in layers)
        {
            Blas.Scal(inverse, l.A.Data);
            Blas.Scal(inverse / l.Locations, l.B.Data);
        }
        return new Kfac(layers, ParameterCount);
    }

    sealed class KfacJob(Objective objective, List<KfacLayer> layers) : IExampleJob
    {
        readonly Lane[] _lanes = Enumerable.Range(0, objective.Options.Threads).Select(_ => new Lane(layers)).ToArray();

        public void Chunk(int laneIndex, in ExampleChunk c)
        {
            var lane = _lanes[laneIndex];
            int rows = c.Rows, classes = c.Z.Cols;
            for (int l = 0; l < layers.Count; l++)
            {
                var layer = layers[l];
                int m = layer.FactorInputs, ins = layer.Inputs;
                Tensor input;
                if (layer.IsConvolution)
                {
                    var (x, y, g) = c.Tape.ConvolutionLayer(c.Theta, layer.WeightOffset)
                        ?? throw new InvalidOperationException($"K-FAC: the weight '{layer.Name}' is not used by a convolution; expected Conv2d layers for 4-D weights.");
                    (input, lane.Outputs[l], lane.Geometries[l]) = (x, y, g);
                }
                else
                {
                    (input, lane.Outputs[l]) = c.Tape.DenseLayer(c.Theta, layer.WeightOffset)
                        ?? throw new InvalidOperationException($"K-FAC: the weight '{layer.Name}' is not used by a dense layer; expected Linear layers.");
                    if (input.Rows != rows)
                        throw new NotSupportedException($"K-FAC: the dense layer '{layer.Name}' sees {input.Rows} rows for {rows} examples; K-FAC is implemented for networks with one row per example (MLPs and CNNs).");
                }
                Array.Clear(lane.A[l]);
                Array.Clear(lane.B[l]);
                if (layer.IsConvolution) AddPatchMoments(lane, l, input, rows);
                else
                {
                    // A += ĀᵀĀ with Ā = [X, 1].
                    if (lane.Augmented.Length < rows * m) lane.Augmented = new double[rows * m];
                    var x = input.Value;
                    for (int r = 0; r < rows; r++)
                    {
                        x.Slice(r * ins, ins).CopyTo(lane.Augmented.AsSpan(r * m, ins));
                        if (m > ins) lane.Augmented[r * m + ins] = 1.0;
                    }
                    Blas.Gemm(Transpose.Yes, Transpose.No, m, m, rows, 1.0, lane.Augmented, m, lane.Augmented, m, 0.0, lane.A[l], m);
                }
            }
            if (lane.Weights.Length < rows * classes) lane.Weights = new double[rows * classes];
            for (int k = 0; k < classes; k++)
            {
                objective.LossHessianFactor(c.Z.Value, rows, classes, k, lane.Weights);
                c.Tape.Backward(c.Tape.WeightedSum(c.Z, lane.Weights.AsSpan(0, rows * classes)));
                for (int l = 0; l < layers.Count; l++)
                {
                    var adjoint = lane.Outputs[l]!.Adjoint;
                    int outs = layers[l].Outputs;
                    // B += ĜᵀĜ, Ĝ the rows' output gradients (every layer feeds z, so each sweep reaches it);
                    // for a convolution Σ_b Ȳ_bȲ_bᵀ, each image's N×T output gradient summed over locations.
                    if (!layers[l].IsConvolution)
                        Blas.Gemm(Transpose.Yes, Transpose.No, outs, outs, rows, 1.0, adjoint, outs, adjoint, outs, 1.0, lane.B[l], outs);
                    else
                    {
                        int locations = lane.Geometries[l]!.Output.Plane, size = outs * locations;
                        for (int r = 0; r < rows; r++)
                            Blas.Gemm(Transpose.No, Transpose.Yes, outs, outs, locations, 1.0, adjoint.Slice(r * size, size), locations,
                                adjoint.Slice(r * size, size), locations, 1.0, lane.B[l], outs);
                    }
                }
            }
        }

        /// <summary>A += Σ_b Ū_bŪ_bᵀ over the chunk's images, Ū_b = [U(x_b); 1ᵀ] the patch matrix with a row of ones for the bias.</summary>
        static void AddPatchMoments(Lane lane, int l, Tensor input, int rows)
        {
            var g = lane.Geometries[l]!;
            int locations = g.Output.Plane, patch = g.PatchSize, m = lane.Sides[l];
            if (lane.Augmented.Length < m * locations) lane.Augmented = new double[m * locations];
            for (int r = 0; r < rows; r++)
            {
                g.Patches(input.Value.Slice(r * g.Input.Size, g.Input.Size), lane.Augmented);
                if (m > patch) lane.Augmented.AsSpan(patch * locations, locations).Fill(1.0);
                Blas.Gemm(Transpose.No, Transpose.Yes, m, m, locations, 1.0, lane.Augmented, locations, lane.Augmented, locations, 1.0, lane.A[l], m);
            }
        }

        public void Reduce(int laneIndex, int chunk)
        {
            var lane = _lanes[laneIndex];
            for (int l = 0; l < layers.Count; l++)
            {
                if (lane.Geometries[l] is { } g) layers[l].Locations = g.Output.Plane;
                if (chunk == 0)
                {
                    lane.A[l].CopyTo(layers[l].A.Data, 0);
                    lane.B[l].CopyTo(layers[l].B.Data, 0);
                }
                else
                {
                    Blas.Axpy(1.0, lane.A[l], layers[l].A.Data);
                    Blas.Axpy(1.0, lane.B[l], layers[l].B.Data);
                }
            }
        }

        sealed class Lane(List<KfacLayer> layers)
        {
            public readonly double[][] A = layers.Select(l => new double[l.FactorInputs * l.FactorInputs]).ToArray();
            public readonly double[][] B = layers.Select(l => new double[l.Outputs * l.Outputs]).ToArray();
            public readonly int[] Sides = layers.Select(l => l.FactorInputs).ToArray();
            public readonly Tensor?[] Outputs = new Tensor?[layers.Count];
            public readonly Conv2dGeometry?[] Geometries = new Conv2dGeometry?[layers.Count];
            public double[] Augmented = [], Weights = [];
        }
    }
}

/// <summary>
/// One dense or convolution layer's K-FAC factors (see <see cref="Objective.KroneckerFactors"/>):
/// its G block in θ order, entries W[o, k] then b[o], is approximated by B ⊗ A with A's last
/// coordinate the bias. A convolution's weight [N, C, K, K] is read as N×(C·K·K), so its
/// entry (o, k) sits where a dense layer's would.
/// </summary>
public sealed class KfacLayer
{
    internal KfacLayer(string name, int weightOffset, int outputs, int inputs, int biasOffset, bool convolution)
    {
        IsConvolution = convolution;
        Name = name;
        WeightOffset = weightOffset;
        Outputs = outputs;
        Inputs = inputs;
        BiasOffset = biasOffset;
        A = new Matrix(FactorInputs, FactorInputs);
        B = new Matrix(outputs, outputs);
    }

    /// <summary>The weight block's name (<c>0.weight</c>, …).</summary>
    public string Name { get; }

    /// <summary>Where W [out, in] starts in θ.</summary>
    public int WeightOffset { get; }

    /// <summary>Where the bias starts in θ, or −1 without one.</summary>
    public int BiasOffset { get; }

    /// <summary>Output width (a convolution's output channels N).</summary>
    public int Outputs { get; }

    /// <summary>Input width (a convolution's patch size C·K·K).</summary>
    public int Inputs { get; }

    /// <summary>Whether the layer is a convolution (KFC factors, docs/curvature.md §10).</summary>
    public bool IsConvolution { get; }

    /// <summary>Output locations T = Ho·Wo of a convolution over which A sums and B averages; 1 for a dense layer.</summary>
    public int Locations { get; internal set; } = 1;

    /// <summary>Side of A: inputs, plus one for the bias coordinate.</summary>
    public int FactorInputs => Inputs + (BiasOffset >= 0 ? 1 : 0);

    /// <summary>A = E[āāᵀ], the input second moment with the bias coordinate last (for a convolution summed over the T locations' patches).</summary>
    public Matrix A { get; }

    /// <summary>B = E[Σ_c ĝ_c ĝ_cᵀ], the output-gradient second moment (for a convolution averaged over the T locations).</summary>
    public Matrix B { get; }

    /// <summary>θ's index of entry (o, k) of the layer's out×(in+1) matrix [W, b].</summary>
    public int ThetaIndex(int o, int k) => k < Inputs ? WeightOffset + o * Inputs + k : BiasOffset + o;
}

/// <summary>K-FAC factors of a network's dense and convolution layers and the approximate eigenpairs of G they give.</summary>
public sealed class Kfac
{
    readonly int _parameters;

    internal Kfac(IReadOnlyList<KfacLayer> layers, int parameters)
    {
        Layers = layers;
        _parameters = parameters;
    }

    /// <summary>The dense and convolution layers in θ order.</summary>
    public IReadOnlyList<KfacLayer> Layers { get; }

    /// <summary>
    /// The <paramref name="k"/> largest eigenpairs of the block-diagonal B ⊗ A over all K-FAC
    /// layers: with A = U_A diag(α) U_Aᵀ and B = U_B diag(β) U_Bᵀ, each layer's pairs are
    /// β_j α_l with vector u_B,j u_A,lᵀ laid out in θ (zero outside the layer). Vectors are
    /// returned one per row (k×P), orthonormal, values descending.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="k"/> lies outside [1, the K-FAC layers' parameter count].</exception>
    public (double[] Values, double[] Vectors) TopEigenpairs(int k)
    {
        var candidates = new List<(double Value, int Layer, int J, int L)>();
        var decompositions = new (double[] Alpha, double[] UA, double[] Beta, double[] UB)[Layers.Count];
        for (int i = 0; i < Layers.Count; i++)
        {
            var layer = Layers[i];
            int m = layer.FactorInputs, o = layer.Outputs;
            var ua = (double[])layer.A.Data.Clone(); var alpha = new double[m];
            var ub = (double[])layer.B.Data.Clone(); var beta = new double[o];
            Blas.SymmetricEigen(m, ua, alpha);
            Blas.SymmetricEigen(o, ub, beta);
            decompositions[i] = (alpha, ua, beta, ub);
            for (int j = 0; j < o; j++)
                for (int l = 0; l < m; l++) candidates.Add((beta[j] * alpha[l], i, j, l));
        }
        if (k < 1 || k > candidates.Count)
            throw new ArgumentOutOfRangeException(nameof(k), $"Argument 'k' was {k}; expected an integer in [1, {candidates.Count}] (the K-FAC layers' parameters).");
        var top = candidates.OrderByDescending(c => c.Value).Take(k).ToArray();
        var values = new double[k];
        var vectors = new double[k * _parameters];
        for (int t = 0; t < k; t++)
        {
            var (value, i, j, l) = top[t];
            values[t] = value;
            var layer = Layers[i];
            var (_, ua, _, ub) = decompositions[i];
            int m = layer.FactorInputs, o = layer.Outputs;
            for (int r = 0; r < o; r++)
                for (int c = 0; c < m; c++)
                    vectors[t * _parameters + layer.ThetaIndex(r, c)] = ub[r * o + j] * ua[c * m + l];
        }
        return (values, vectors);
    }

    /// <summary>
    /// The subspace overlap ‖U_Aᵀ U_B‖²_F / k of two sets of <paramref name="k"/> orthonormal
    /// vectors of length <paramref name="size"/> stored one per row: 1 when they span the same
    /// subspace, 0 when orthogonal.
    /// </summary>
    public static double Overlap(ReadOnlySpan<double> a, ReadOnlySpan<double> b, int k, int size)
    {
        Guard.Positive(k);
        Guard.Positive(size);
        Guard.Length(a, k * size, nameof(a));
        Guard.Length(b, k * size, nameof(b));
        double sum = 0;
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
            {
                double d = Blas.Dot(a.Slice(i * size, size), b.Slice(j * size, size));
                sum += d * d;
            }
        return sum / k;
    }
}

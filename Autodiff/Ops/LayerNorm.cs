namespace Curvature.Autodiff;

public sealed partial class Tape
{
    /// <summary>
    /// Layer normalization of each row (PyTorch's <c>nn.LayerNorm(d, eps)</c>):
    /// y = γ∘(x − μ)/√(σ² + ε) + β with the row's mean μ and biased variance σ²;
    /// <paramref name="gamma"/> and <paramref name="beta"/> are 1×d.
    /// </summary>
    /// <exception cref="ArgumentException">γ or β is not 1×d, or ε is not positive and finite.</exception>
    public Tensor LayerNorm(Tensor x, Tensor gamma, Tensor beta, double epsilon = 1e-5)
    {
        Check(x, nameof(x));
        Check(gamma, nameof(gamma));
        Check(beta, nameof(beta));
        if (gamma.Rows != 1 || gamma.Cols != x.Cols)
            throw new ArgumentException($"LayerNorm: argument 'gamma' is {gamma.Shape}; expected 1x{x.Cols} for input {x.Shape}.", nameof(gamma));
        if (beta.Rows != 1 || beta.Cols != x.Cols)
            throw new ArgumentException($"LayerNorm: argument 'beta' is {beta.Shape}; expected 1x{x.Cols} for input {x.Shape}.", nameof(beta));
        if (!(epsilon > 0) || !double.IsFinite(epsilon))
            throw new ArgumentException($"LayerNorm: argument 'epsilon' was {epsilon}; expected a positive finite number.", nameof(epsilon));
        var y = Node(LayerNormOp.Instance, out var s, x.Rows, x.Cols, x, gamma, beta);
        s.Epsilon = epsilon;
        return Run(y);
    }
}

/// <summary>
/// Row-wise y = γ∘x̂ + β with x̂ = r(x − μ1), r = (σ² + ε)^{−1/2}; per row, with ⟨·⟩ the
/// mean over the d entries, a = ⟨x̂∘ẋ⟩ and Jᵀg = r(g − ⟨g⟩1 − x̂⟨g∘x̂⟩) the pullback of x̂:
/// Forward: y = γ∘x̂ + β (x̂ and r kept).
/// Tangent: ẋ̂ = r(ẋ − ⟨ẋ⟩1 − x̂a); ẏ = γ∘ẋ̂ + γ̇∘x̂ + β̇.
/// Backward: x̄ += Jᵀ(γ∘ȳ); γ̄ += Σ_rows ȳ∘x̂; β̄ += Σ_rows ȳ.
/// Backward tangent: x̄̇ += Jᵀ(γ∘ȳ̇) + [Jᵀ(γ̇∘ȳ) − ra·Jᵀ(γ∘ȳ) − r(ẋ̂⟨g∘x̂⟩ + x̂⟨g∘ẋ̂⟩)] with g = γ∘ȳ;
/// γ̄̇ += Σ ȳ̇∘x̂ + [ȳ∘ẋ̂]; β̄̇ += Σ ȳ̇ (derived in docs/autodiff.md).
/// </summary>
internal sealed class LayerNormOp : Op<LayerNormState>, IPerExampleOp, IFormedPerExampleOp
{
    public static readonly LayerNormOp Instance = new();
    public override string Name => "layer_norm";

    public override void Forward(Tensor y, LayerNormState s)
    {
        int rows = y.Rows, d = y.Cols;
        var x = y.A!.Value;
        var g = y.B!.Value; var b = y.C!.Value;
        var xh = Tensor.Grow(ref s.Normalized, y.Size).AsSpan(0, y.Size);
        var rs = Tensor.Grow(ref s.InverseStd, rows).AsSpan(0, rows);
        var v = y.ValueMut;
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * d, d);
            double mean = Kernels.Sum(xr) / d, var = 0;
            for (int c = 0; c < d; c++) { double e = xr[c] - mean; var += e * e; }
            double inv = 1.0 / Math.Sqrt(var / d + s.Epsilon);
            rs[r] = inv;
            for (int c = 0; c < d; c++)
            {
                double h = (xr[c] - mean) * inv;
                xh[r * d + c] = h;
                v[r * d + c] = g[c] * h + b[c];
            }
        }
    }

    /// <summary>dst (+)= r(g − ⟨g⟩1 − x̂⟨g∘x̂⟩) for one row, g = γ∘u (γ null: g = u).</summary>
    static void Pullback(ReadOnlySpan<double> u, ReadOnlySpan<double> gamma, ReadOnlySpan<double> xh, double inv, Span<double> dst, bool accumulate)
    {
        int d = u.Length;
        double mg = 0, mgx = 0;
        for (int c = 0; c < d; c++) { double gc = gamma.IsEmpty ? u[c] : gamma[c] * u[c]; mg += gc; mgx += gc * xh[c]; }
        mg /= d; mgx /= d;
        for (int c = 0; c < d; c++)
        {
            double gc = gamma.IsEmpty ? u[c] : gamma[c] * u[c];
            double val = inv * (gc - mg - xh[c] * mgx);
            if (accumulate) dst[c] += val;
            else dst[c] = val;
        }
    }

    /// <summary>ẋ̂ of one row into <paramref name="dst"/>; returns a = ⟨x̂∘ẋ⟩.</summary>
    static double NormalizedTangent(ReadOnlySpan<double> xd, ReadOnlySpan<double> xh, double inv, Span<double> dst)
    {
        int d = xd.Length;
        double mean = 0, a = 0;
        for (int c = 0; c < d; c++) { mean += xd[c]; a += xh[c] * xd[c]; }
        mean /= d; a /= d;
        for (int c = 0; c < d; c++) dst[c] = inv * (xd[c] - mean - xh[c] * a);
        return a;
    }

    public override void Tangent(Tensor y, LayerNormState s)
    {
        var x = y.A!; var gamma = y.B!; var beta = y.C!;
        int rows = y.Rows, d = y.Cols;
        var xh = s.Normalized.AsSpan(0, y.Size);
        var g = gamma.Value;
        for (int j = 0; j < y.Tape.TangentCount; j++)
        {
            var t = y.TangentMut(j);
            for (int r = 0; r < rows; r++)
            {
                var tr = t.Slice(r * d, d);
                var xhr = xh.Slice(r * d, d);
                if (x.HasTangent)
                {
                    NormalizedTangent(x.TangentMut(j).Slice(r * d, d), xhr, s.InverseStd[r], tr);
                    for (int c = 0; c < d; c++) tr[c] *= g[c];
                }
                else tr.Clear();
                if (gamma.HasTangent) Kernels.PutMul(gamma.TangentMut(j), xhr, tr, true);
                if (beta.HasTangent) Kernels.Put(beta.TangentMut(j), tr, true);
            }
        }
    }

    public override void Backward(Tensor y, LayerNormState s)
    {
        var x = y.A!; var gamma = y.B!; var beta = y.C!;
        int rows = y.Rows, d = y.Cols;
        var xh = s.Normalized.AsSpan(0, y.Size);
        var yBar = y.AdjointMut;
        if (x.RequiresGrad)
        {
            bool acc = x.BeginAdjoint();
            var xBar = x.AdjointMut;
            for (int r = 0; r < rows; r++)
                Pullback(yBar.Slice(r * d, d), gamma.Value, xh.Slice(r * d, d), s.InverseStd[r], xBar.Slice(r * d, d), acc);
        }
        if (gamma.RequiresGrad)
        {
            bool acc = gamma.BeginAdjoint();
            for (int r = 0; r < rows; r++) Kernels.PutMul(yBar.Slice(r * d, d), xh.Slice(r * d, d), gamma.AdjointMut, acc || r > 0);
        }
        if (beta.RequiresGrad)
        {
            bool acc = beta.BeginAdjoint();
            Kernels.PutColumnSums(yBar, rows, d, beta.AdjointMut, acc);
        }
    }

    public override void BackwardTangent(Tensor y, LayerNormState s, bool curvature)
    {
        var x = y.A!; var gamma = y.B!; var beta = y.C!;
        int rows = y.Rows, d = y.Cols, m = y.Tape.TangentCount;
        bool linear = y.AdjointTangentTouched;
        bool haveYBar = curvature && y.AdjointTouched;
        var xh = s.Normalized.AsSpan(0, y.Size);
        var g = gamma.Value;
        var xhd = Tensor.Grow(ref s.Scratch, 2 * d).AsSpan(0, 2 * d);
        var xhDot = xhd[..d];
        var gv = xhd[d..];
        bool curvX = haveYBar && (x.HasTangent || gamma.HasTangent);
        if (x.RequiresGrad && (linear || curvX))
        {
            bool acc = x.BeginAdjointTangent();
            for (int j = 0; j < m; j++)
            {
                var dst = x.AdjointTangentMut(j);
                for (int r = 0; r < rows; r++)
                {
                    var xhr = xh.Slice(r * d, d);
                    double inv = s.InverseStd[r];
                    var dr = dst.Slice(r * d, d);
                    bool accR = acc;
                    if (linear) { Pullback(y.AdjointTangentMut(j).Slice(r * d, d), g, xhr, inv, dr, accR); accR = true; }
                    if (!curvX) continue;
                    var yb = y.AdjointMut.Slice(r * d, d);
                    if (gamma.HasTangent)
                    {
                        Kernels.PutMul(gamma.TangentMut(j), yb, gv, false);
                        Pullback(gv, default, xhr, inv, dr, accR);
                        accR = true;
                    }
                    if (x.HasTangent)
                    {
                        double a = NormalizedTangent(x.TangentMut(j).Slice(r * d, d), xhr, inv, xhDot);
                        // g = γ∘ȳ; the tangent of r and of x̂ inside Jᵀg.
                        double mg = 0, mgx = 0, mgxd = 0;
                        for (int c = 0; c < d; c++) { double gc = g[c] * yb[c]; mg += gc; mgx += gc * xhr[c]; mgxd += gc * xhDot[c]; }
                        mg /= d; mgx /= d; mgxd /= d;
                        for (int c = 0; c < d; c++)
                        {
                            double gc = g[c] * yb[c];
                            double val = -inv * a * inv * (gc - mg - xhr[c] * mgx) - inv * (xhDot[c] * mgx + xhr[c] * mgxd);
                            if (accR) dr[c] += val;
                            else dr[c] = val;
                        }
                        accR = true;
                    }
                    if (!accR) dr.Clear();
                }
            }
        }
        bool curvG = haveYBar && x.HasTangent;
        if (gamma.RequiresGrad && (linear || curvG))
        {
            bool acc = gamma.BeginAdjointTangent();
            for (int j = 0; j < m; j++)
            {
                var dst = gamma.AdjointTangentMut(j);
                bool accJ = acc;
                for (int r = 0; r < rows; r++)
                {
                    var xhr = xh.Slice(r * d, d);
                    if (linear) { Kernels.PutMul(y.AdjointTangentMut(j).Slice(r * d, d), xhr, dst, accJ); accJ = true; }
                    if (curvG)
                    {
                        NormalizedTangent(x.TangentMut(j).Slice(r * d, d), xhr, s.InverseStd[r], xhDot);
                        Kernels.PutMul(y.AdjointMut.Slice(r * d, d), xhDot, dst, accJ);
                        accJ = true;
                    }
                }
            }
        }
        if (beta.RequiresGrad && linear)
        {
            bool acc = beta.BeginAdjointTangent();
            for (int j = 0; j < m; j++) Kernels.PutColumnSums(y.AdjointTangentMut(j), rows, d, beta.AdjointTangentMut(j), acc);
        }
    }

    /// <summary>Example r may own g rows (a Transformer's tokens); γ̄_r and β̄_r sum over them.</summary>
    public bool GroupsRows => true;

    /// <summary>
    /// Per example r (rows s of the example): γ̄_r = Σ_s ȳ_s∘x̂_s and β̄_r = Σ_s ȳ_s, the backward
    /// rule's sums over rows restricted to the example; 2d numbers, formed directly.
    /// </summary>
    public void Form(Tensor y, in PerExampleTarget t, int r, double[] part, int atB, int atC)
    {
        if (t.Locate(y.A, out _))
            throw new NotSupportedException($"Per-example gradients: layer_norm (node #{y.Index}) reads θ as its input; expected θ as γ and β only.");
        var s = (LayerNormState)y.State!;
        int g = t.Group(y), d = y.Cols;
        var yBar = y.AdjointMut.Slice(r * g * d, g * d);
        if (atB >= 0)
        {
            var xh = s.Normalized.AsSpan(r * g * d, g * d);
            for (int row = 0; row < g; row++) Kernels.PutMul(yBar.Slice(row * d, d), xh.Slice(row * d, d), part.AsSpan(atB, d), row > 0);
        }
        if (atC >= 0) Kernels.PutColumnSums(yBar, g, d, part.AsSpan(atC, d), false);
    }

    /// <inheritdoc cref="Form"/>
    public void PerExampleBackward(Tensor y, in PerExampleTarget t) => FormedPerExample.Backward(this, y, t);
    /// <summary>‖γ̄_r‖² + ‖β̄_r‖² from the formed 2d numbers.</summary>
    public void PerExampleSquaredNorms(Tensor y, in PerExampleTarget t, Span<double> sums) => FormedPerExample.SquaredNorms(this, y, t, sums);
    /// <summary>γ̄_r·v_γ + β̄_r·v_β from the formed 2d numbers.</summary>
    public void PerExampleDots(Tensor y, in PerExampleTarget t, double[] v, int k, Span<double> dots) => FormedPerExample.Dots(this, y, t, v, k, dots);
    /// <summary>Σ_r w_r (γ̄_r, β̄_r) from the formed 2d numbers.</summary>
    public void PerExampleWeightedSums(Tensor y, in PerExampleTarget t, ReadOnlySpan<double> weights, int k, double[] sums) => FormedPerExample.WeightedSums(this, y, t, weights, k, sums);
    /// <summary>Σ_r (γ̄_r∘γ̄_r, β̄_r∘β̄_r) from the formed 2d numbers.</summary>
    public void PerExampleSquaredSums(Tensor y, in PerExampleTarget t, double[] sums) => FormedPerExample.SquaredSums(this, y, t, sums);
}

/// <summary>ε, the normalized rows x̂ and each row's r = (σ² + ε)^{−1/2} from the forward sweep, and a 2·d scratch row.</summary>
internal sealed class LayerNormState : OpState
{
    public double Epsilon;
    public double[] Normalized = [], InverseStd = [], Scratch = [];
}

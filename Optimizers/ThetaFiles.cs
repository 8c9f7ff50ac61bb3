using System.Globalization;
using Curvature.Core;
using Curvature.Models;

namespace Curvature.Optimizers;

/// <summary>
/// θ on disk, in the two layouts PyTorch users exchange. A flat <c>.npy</c> is θ itself
/// (float64, or float32 widened; length = parameter count). A named <c>.npz</c> holds one array
/// per parameter tensor, named and shaped as the <c>state_dict</c> of the equivalent
/// <c>nn.Sequential</c> (<see cref="INetwork.Blocks"/>: <c>0.weight</c> [out, in], <c>0.bias</c>
/// [out], <c>2.weight</c>, …), so <c>np.savez(path, **{k: v.double().numpy() for k, v in
/// model.state_dict().items()})</c> writes one and <c>model.load_state_dict({k: torch.from_numpy(v)
/// for k, v in np.load(path).items()})</c> reads one. Reading picks the layout by the extension.
/// </summary>
public static class ThetaFiles
{
    /// <summary>
    /// θ for <paramref name="network"/> from <paramref name="path"/> (.npz by names, else flat
    /// .npy). Throws naming <c>--<paramref name="option"/></c> when the file is missing, a name is
    /// missing or unknown, a shape or the length is wrong, or a value is not finite.
    /// </summary>
    public static double[] Read(string path, INetwork network, string option)
    {
        Guard.NotNull(path);
        Guard.NotNull(network);
        if (!File.Exists(path))
            throw new FileNotFoundException($"Option '--{option}' names '{path}', which does not exist; expected θ as a flat float64 .npy vector or a named .npz ({Names(network)}).", path);
        double[] theta = IsNpz(path) ? ReadNpz(path, network, option) : Npy.ReadVector(path);
        if (theta.Length != network.ParameterCount)
            throw new ArgumentException($"Option '--{option}' names '{path}' with {theta.Length} values; expected {network.ParameterCount}, the parameter count of {network.Spec}.", option);
        for (int i = 0; i < theta.Length; i++)
            if (!double.IsFinite(theta[i]))
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Option '--{option}' names '{path}', which has {theta[i]} at index {i}; expected finite values."), option);
        return theta;
    }

    /// <summary>True when the path names an .npz archive (by its extension, any case).</summary>
    public static bool IsNpz(string path) => path.EndsWith(".npz", StringComparison.OrdinalIgnoreCase);

    /// <summary>Writes θ as a named .npz (one float64 array per block, in θ order), atomically.</summary>
    public static void WriteNpz(string path, INetwork network, ReadOnlySpan<double> theta)
    {
        Guard.NotNull(network);
        Guard.Length(theta, network.ParameterCount, nameof(theta));
        var arrays = new List<(string, int[], double[])>(network.Blocks.Count);
        foreach (var b in network.Blocks)
            arrays.Add((b.Name, b.Shape.ToArray(), theta.Slice(b.Offset, b.Count).ToArray()));
        Npz.Write(path, arrays);
    }

    /// <summary>Writes θ as <paramref name="path"/> (.npz named, else flat .npy).</summary>
    public static void Write(string path, INetwork network, ReadOnlySpan<double> theta)
    {
        Guard.NotNull(path);
        if (IsNpz(path)) WriteNpz(path, network, theta);
        else Npy.Write(path, theta, theta.Length);
    }

    static double[] ReadNpz(string path, INetwork network, string option)
    {
        // Names, shapes and dtypes from the headers first: a small file claiming huge or foreign arrays is refused before any is decoded.
        var headers = Npz.Headers(path);
        foreach (var b in network.Blocks)
        {
            int i = headers.ToList().FindIndex(h => h.Name == b.Name);
            if (i < 0)
                throw new ArgumentException($"Option '--{option}' names '{path}', which has no array '{b.Name}'; expected the state_dict names of {network.Spec}: {Names(network)}.", option);
            var (_, dtype, shape) = headers[i];
            if (!shape.SequenceEqual(b.Shape))
                throw new ArgumentException($"Option '--{option}' names '{path}', whose '{b.Name}' has shape [{string.Join(", ", shape)}]; expected [{string.Join(", ", b.Shape)}] for {network.Spec}.", option);
            if (dtype is not (NpyDtype.Float64 or NpyDtype.Float32))
                throw new ArgumentException($"Option '--{option}' names '{path}', whose '{b.Name}' is an integer array ({dtype.ToString().ToLowerInvariant()}); expected float64 or float32 weights.", option);
        }
        var extra = headers.Select(h => h.Name).Where(k => !network.Blocks.Any(b => b.Name == k)).ToList();
        if (extra.Count > 0)
            throw new ArgumentException($"Option '--{option}' names '{path}', which has arrays {string.Join(", ", extra.Select(e => $"'{e}'"))} that {network.Spec} does not have; expected exactly {Names(network)}.", option);
        var arrays = Npz.Read(path);
        var theta = new double[network.ParameterCount];
        foreach (var b in network.Blocks)
            arrays[b.Name].Float64!.AsSpan().CopyTo(theta.AsSpan(b.Offset, b.Count));
        return theta;
    }

    static string Names(INetwork network) => string.Join(", ", network.Blocks.Select(b => b.ToString()));
}

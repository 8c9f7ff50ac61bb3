using System.Text;
using Curvature.Core;

namespace Curvature.Tests;

/// <summary>The broken and valid input files the reliability cases use, in a fresh temporary directory.</summary>
public sealed class ReliabilityFixtures : IDisposable
{
    /// <summary>The directory all files live in.</summary>
    public string Dir { get; } = Directory.CreateTempSubdirectory("curvature-reliability-").FullName;

    /// <summary>Placeholder → value, for the case table's command lines and patterns.</summary>
    public IReadOnlyDictionary<string, string> Placeholders { get; }

    public ReliabilityFixtures()
    {
        var m = new Matrix(8, 8);
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < 8; j++) m[i, j] = i == j ? i + 1 : 0.1 / (1 + i + j);
        Npy.Write(P("m8.npy"), m);
        var theta = new double[67];
        for (int i = 0; i < 67; i++) theta[i] = 0.01 * (i % 7 - 3);
        Npy.Write(P("theta67.npy"), theta, 67);
        var nan = (double[])theta.Clone();
        nan[5] = double.NaN;
        Npy.Write(P("nan67.npy"), nan, 67);
        Npy.Write(P("short.npy"), new double[10], 10);
        File.WriteAllText(P("garbage.npy"), "this is not a numpy file\n");
        File.WriteAllText(P("a-file"), "x");
        File.WriteAllBytes(P("crafted.bin"), CraftedCheckpoint());
        Placeholders = new Dictionary<string, string>
        {
            ["{dir}"] = Dir, ["{m8}"] = P("m8.npy"), ["{theta67}"] = P("theta67.npy"), ["{nan67}"] = P("nan67.npy"),
            ["{short}"] = P("short.npy"), ["{garbage}"] = P("garbage.npy"), ["{file}"] = P("a-file"), ["{crafted}"] = P("crafted.bin"),
        };
    }

    /// <summary>A checkpoint with a valid header whose option count claims 2^31 − 1 entries: a reader that trusts it allocates gigabytes.</summary>
    public static byte[] CraftedCheckpoint()
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true))
        {
            w.Write("CURVATURE-CHECKPOINT");
            w.Write(3);
            w.Write(int.MaxValue);
        }
        return ms.ToArray();
    }

    string P(string name) => Path.Combine(Dir, name);

    /// <summary>The command line of a case, split on spaces, placeholders filled; {empty} is an empty argument.</summary>
    public string[] Args(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(a => a == "{empty}" ? "" : Fill(a)).ToArray();

    /// <summary>The text with every placeholder replaced.</summary>
    public string Fill(string text)
    {
        foreach (var (k, v) in Placeholders) text = text.Replace(k, v, StringComparison.Ordinal);
        return text;
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}

using System.Globalization;
using Curvature.Core;

namespace Curvature.Models;

/// <summary>The kinds of data a <c>--data</c> spec can name.</summary>
public enum DataKind
{
    /// <summary><c>mnist:N</c>: the first N embedded digits, 28×28.</summary>
    Mnist,
    /// <summary><c>mnist14:N</c>: the first N digits, 2×2-averaged to 14×14.</summary>
    Mnist14,
    /// <summary><c>mnist-test</c>: digits 8000–9999, 28×28.</summary>
    MnistTest,
    /// <summary><c>mnist14-test</c>: digits 8000–9999, 14×14.</summary>
    Mnist14Test,
    /// <summary><c>gmm:N:D:C:SEED</c>: Gaussian mixture classification.</summary>
    Gmm,
    /// <summary><c>teacher:N:D:SEED</c>: teacher–student regression.</summary>
    Teacher,
    /// <summary><c>npy:X.npy,y.npy[,CLASSES]</c>: arrays from files.</summary>
    Npy,
    /// <summary><c>fashion:N</c>: the first N embedded Fashion-MNIST images, 28×28.</summary>
    Fashion,
    /// <summary><c>fashion14:N</c>: the first N Fashion-MNIST images, 2×2-averaged to 14×14.</summary>
    Fashion14,
    /// <summary><c>fashion-test</c>: Fashion-MNIST images 8000–9999, 28×28.</summary>
    FashionTest,
    /// <summary><c>fashion14-test</c>: Fashion-MNIST images 8000–9999, 14×14.</summary>
    Fashion14Test,

    /// <summary><c>spam:N</c>: the first N spam-subject training lines as token ids (<see cref="SpamSubjects"/>).</summary>
    Spam,

    /// <summary><c>spam-test</c>: the 800 spam-subject test lines as token ids.</summary>
    SpamTest,
}

/// <summary>
/// A parsed <c>--data</c> spec. <see cref="FromString"/> checks the syntax and the ranges
/// (no I/O); <see cref="Load"/> builds the <see cref="Dataset"/>; <see cref="Parse"/> does
/// both. Every error begins "Option '--data' was 'SPEC'" (or '--test-data', as the caller says):
/// syntax and range errors throw ArgumentException (ParamName the option) whose one-line
/// message says what was expected; a missing file throws FileNotFoundException; bad file
/// content throws InvalidDataException naming the file; X and y with different row counts
/// throw ArgumentException naming both files and shapes.
/// </summary>
public sealed record DataSpec
{
    /// <summary>The accepted forms, as shown in error messages.</summary>
    public const string Forms = "mnist:N, mnist14:N, mnist-test, mnist14-test, fashion:N, fashion14:N, fashion-test, fashion14-test, spam:N, spam-test, gmm:N:D:C:SEED, teacher:N:D:SEED, npy:X.npy,y.npy[,CLASSES]";

    /// <summary>Largest D for gmm/teacher.</summary>
    public const int MaxFeatures = 1_000_000;

    /// <summary>Largest number of classes for gmm and for int64 labels read from .npy.</summary>
    public const int MaxClasses = 1 << 20;

    /// <summary>Which source the spec names.</summary>
    public DataKind Kind { get; init; }

    /// <summary>The spec as given (becomes the dataset's name).</summary>
    public string Text { get; init; } = "";

    /// <summary>Number of examples (0 for npy, whose size comes from the file).</summary>
    public int N { get; init; }

    /// <summary>Input dimension D for gmm/teacher (0 otherwise).</summary>
    public int D { get; init; }

    /// <summary>Number of classes C for gmm; for npy the CLASSES given, or 0 for max+1.</summary>
    public int C { get; init; }

    /// <summary>Seed of gmm/teacher data (0 otherwise).</summary>
    public ulong Seed { get; init; }

    /// <summary>The option the spec was given with, without dashes (data, test-data): its load errors name it.</summary>
    public string Option { get; init; } = "data";

    string Where => $"Option '--{Option}' was '{Text}'";

    /// <summary>Path of the inputs .npy for npy (null otherwise).</summary>
    public string? XPath { get; init; }

    /// <summary>Path of the labels or targets .npy for npy (null otherwise).</summary>
    public string? YPath { get; init; }

    /// <summary>
    /// The test set of the training data's own family, used when none is named: mnist14 →
    /// mnist14-test, mnist → mnist-test, fashion14 → fashion14-test, fashion → fashion-test,
    /// spam → spam-test; null for gmm, teacher, npy and the test sets themselves.
    /// </summary>
    public string? DefaultTestSet => Kind switch
    {
        DataKind.Mnist => "mnist-test",
        DataKind.Mnist14 => "mnist14-test",
        DataKind.Fashion => "fashion-test",
        DataKind.Fashion14 => "fashion14-test",
        DataKind.Spam => "spam-test",
        _ => null,
    };

    /// <summary>Parses and loads in one step; errors name the option the spec came from (<paramref name="option"/> without dashes: data, test-data).</summary>
    public static Dataset Parse(string spec, string option = "data") => FromString(spec, option).Load();

    /// <summary>
    /// Checks the syntax and ranges of <paramref name="spec"/> without touching files. Every error
    /// names <paramref name="option"/> (without dashes: data, test-data) and quotes the spec.
    /// </summary>
    public static DataSpec FromString(string spec, string option = "data")
    {
        Guard.NotNull(spec);
        Guard.NotNull(option);
        if (spec.Length == 0)
            throw Error(option, spec, $"is empty; expected one of {Forms}");
        int colon = spec.IndexOf(':');
        string kind = colon < 0 ? spec : spec[..colon];
        string rest = colon < 0 ? "" : spec[(colon + 1)..];
        switch (kind)
        {
            case "mnist-test":
            case "mnist14-test":
                if (colon >= 0)
                    throw Error(option, spec, $"takes no fields after '{kind}'; expected exactly '{kind}' (the fixed 2000 test digits)");
                return new DataSpec { Option = option, Kind = kind == "mnist-test" ? DataKind.MnistTest : DataKind.Mnist14Test, Text = spec, N = Mnist.TestCount };

            case "fashion-test":
            case "fashion14-test":
                if (colon >= 0)
                    throw Error(option, spec, $"takes no fields after '{kind}'; expected exactly '{kind}' (the fixed 2000 test images)");
                return new DataSpec { Option = option, Kind = kind == "fashion-test" ? DataKind.FashionTest : DataKind.Fashion14Test, Text = spec, N = Mnist.TestCount };

            case "spam-test":
                if (colon >= 0)
                    throw Error(option, spec, "takes no fields after 'spam-test'; expected exactly 'spam-test' (the fixed 800 test lines)");
                return new DataSpec { Option = option, Kind = DataKind.SpamTest, Text = spec, N = SpamSubjects.TestCount };

            case "spam":
                {
                    const string form = "spam:N";
                    string[] f = Fields(option, spec, colon, rest, 1, form);
                    int n = Int(option, spec, "N", f[0], 1, SpamSubjects.TrainCount, form);
                    return new DataSpec { Option = option, Kind = DataKind.Spam, Text = spec, N = n };
                }

            case "mnist":
            case "mnist14":
                {
                    string form = $"{kind}:N";
                    string[] f = Fields(option, spec, colon, rest, 1, form);
                    int n = Int(option, spec, "N", f[0], 1, Mnist.TrainMax, form);
                    return new DataSpec { Option = option, Kind = kind == "mnist" ? DataKind.Mnist : DataKind.Mnist14, Text = spec, N = n };
                }

            case "fashion":
            case "fashion14":
                {
                    string form = $"{kind}:N";
                    string[] f = Fields(option, spec, colon, rest, 1, form);
                    int n = Int(option, spec, "N", f[0], 1, Mnist.TrainMax, form);
                    return new DataSpec { Option = option, Kind = kind == "fashion" ? DataKind.Fashion : DataKind.Fashion14, Text = spec, N = n };
                }

            case "gmm":
                {
                    const string form = "gmm:N:D:C:SEED";
                    string[] f = Fields(option, spec, colon, rest, 4, form);
                    int n = Int(option, spec, "N", f[0], 1, int.MaxValue, form);
                    int d = Int(option, spec, "D", f[1], 1, MaxFeatures, form);
                    int c = Int(option, spec, "C", f[2], 2, MaxClasses, form);
                    ulong seed = Seed64(option, spec, f[3], form);
                    CheckSize(option, spec, n, d);
                    if ((long)c * d > Synthetic.MaxElements)
                        throw Error(option, spec, $"asks for C·D = {(long)c * d} class-mean values; expected C·D ≤ {Synthetic.MaxElements}");
                    return new DataSpec { Option = option, Kind = DataKind.Gmm, Text = spec, N = n, D = d, C = c, Seed = seed };
                }

            case "teacher":
                {
                    const string form = "teacher:N:D:SEED";
                    string[] f = Fields(option, spec, colon, rest, 3, form);
                    int n = Int(option, spec, "N", f[0], 1, int.MaxValue, form);
                    int d = Int(option, spec, "D", f[1], 1, MaxFeatures, form);
                    ulong seed = Seed64(option, spec, f[2], form);
                    CheckSize(option, spec, n, d);
                    return new DataSpec { Option = option, Kind = DataKind.Teacher, Text = spec, N = n, D = d, Seed = seed };
                }

            case "npy":
                {
                    const string form = "npy:X.npy,y.npy[,CLASSES]";
                    if (colon < 0 || rest.Length == 0)
                        throw Error(option, spec, $"names no files; expected {form}");
                    string[] parts = rest.Split(',');
                    if (parts.Length is < 2 or > 3)
                        throw Error(option, spec, $"has {parts.Length} comma-separated field(s) after 'npy:'; expected {form}");
                    if (parts[0].Length == 0 || parts[1].Length == 0)
                        throw Error(option, spec, $"has an empty file name; expected {form}");
                    int classes = parts.Length == 3 ? Int(option, spec, "CLASSES", parts[2], 1, MaxClasses, form) : 0;
                    return new DataSpec { Option = option, Kind = DataKind.Npy, Text = spec, XPath = parts[0], YPath = parts[1], C = classes };
                }

            default:
                throw Error(option, spec, $"has unknown kind '{kind}'; expected one of {Forms}");
        }
    }

    /// <summary>Builds the dataset this spec names.</summary>
    public Dataset Load() => Kind switch
    {
        DataKind.Mnist => Mnist.Range(0, N, Mnist.Side, Text),
        DataKind.Mnist14 => Mnist.Range(0, N, Mnist.Side / 2, Text),
        DataKind.MnistTest => Mnist.Range(Mnist.TestStart, Mnist.TestCount, Mnist.Side, Text),
        DataKind.Mnist14Test => Mnist.Range(Mnist.TestStart, Mnist.TestCount, Mnist.Side / 2, Text),
        DataKind.Fashion => Fashion.Range(0, N, Mnist.Side, Text),
        DataKind.Fashion14 => Fashion.Range(0, N, Mnist.Side / 2, Text),
        DataKind.FashionTest => Fashion.Range(Mnist.TestStart, Mnist.TestCount, Mnist.Side, Text),
        DataKind.Fashion14Test => Fashion.Range(Mnist.TestStart, Mnist.TestCount, Mnist.Side / 2, Text),
        DataKind.Spam => SpamSubjects.Train(N, Text),
        DataKind.SpamTest => SpamSubjects.Test(Text),
        DataKind.Gmm => Synthetic.Gmm(N, D, C, Seed, name: Text),
        DataKind.Teacher => Synthetic.Teacher(N, D, Seed, name: Text),
        _ => LoadNpy(),
    };

    Dataset LoadNpy()
    {
        string xPath = XPath!, yPath = YPath!;
        foreach (var (path, role) in new[] { (xPath, "X.npy with float64 [n, d] inputs"), (yPath, "y.npy with int64 [n] labels or float64 [n, c] targets") })
            if (!File.Exists(path))
                throw new FileNotFoundException($"{Where}: file '{path}' does not exist; expected {role}.", path);

        NpyArray xa = Npy.Read(xPath);
        if (xa.Dtype != NpyDtype.Float64 || xa.Shape.Length != 2)
            throw new InvalidDataException($"{Where}: {xPath}: X is '{xa.Descr}' {xa.ShapeText}; expected float64 '<f8' inputs of shape (n, d).");
        int n = xa.Shape[0], d = xa.Shape[1];
        if (n == 0 || d == 0)
            throw new InvalidDataException($"{Where}: {xPath}: X has shape {xa.ShapeText}; expected at least one example and one feature.");
        var x = new Matrix(n, d, xa.Float64!);
        RequireFinite(x.Data, d, $"{Where}: {xPath}", "inputs");

        NpyArray ya = Npy.Read(yPath);
        if (ya.Shape[0] != n)
            throw new ArgumentException($"{Where}: {xPath} has shape {xa.ShapeText} but {yPath} has shape {ya.ShapeText}; expected the same number of rows.", Option);

        if (ya.Dtype == NpyDtype.Int64)
        {
            if (ya.Shape.Length != 1)
                throw new InvalidDataException($"{Where}: {yPath}: labels are '<i8' {ya.ShapeText}; expected int64 labels of shape (n,) or float64 targets.");
            long[] raw = ya.Int64!;
            long max = 0;
            for (int i = 0; i < raw.Length; i++)
            {
                if (raw[i] < 0)
                    throw new InvalidDataException($"{Where}: {yPath}: label {raw[i]} at index {i} is negative; expected class labels ≥ 0.");
                if (C > 0 && raw[i] >= C)
                    throw new InvalidDataException($"{Where}: {yPath}: label {raw[i]} at index {i} is out of range; expected a class in [0, {C}) as given by CLASSES.");
                if (raw[i] >= MaxClasses)
                    throw new InvalidDataException($"{Where}: {yPath}: label {raw[i]} at index {i} is too large; expected labels below {MaxClasses}.");
                max = Math.Max(max, raw[i]);
            }
            int classes = C > 0 ? C : (int)max + 1;
            var labels = new int[n];
            for (int i = 0; i < n; i++) labels[i] = (int)raw[i];
            return new Dataset(x, labels, null, classes, Text);
        }

        if (C > 0)
            throw new ArgumentException($"{Where}: CLASSES = {C} was given but {yPath} holds float64 targets; expected CLASSES only with int64 labels.", Option);
        int width = ya.Shape.Length == 2 ? ya.Shape[1] : 1;
        if (width == 0)
            throw new InvalidDataException($"{Where}: {yPath}: targets have shape {ya.ShapeText}; expected at least one output column.");
        var targets = new Matrix(n, width, ya.Float64!);
        RequireFinite(targets.Data, width, $"{Where}: {yPath}", "targets");
        return new Dataset(x, null, targets, width, Text);
    }

    static void RequireFinite(double[] values, int cols, string path, string what)
    {
        for (int k = 0; k < values.Length; k++)
            if (!double.IsFinite(values[k]))
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                    $"{path}: element [{k / cols}, {k % cols}] is {values[k]}; expected finite {what}."));
    }

    static ArgumentException Error(string option, string spec, string what) => new($"Option '--{option}' was '{spec}'; it {what}.", option);

    static string[] Fields(string option, string spec, int colon, string rest, int count, string form)
    {
        if (colon < 0)
            throw Error(option, spec, $"lacks its fields; expected {form}");
        string[] f = rest.Split(':');
        if (f.Length != count)
            throw Error(option, spec, $"has {f.Length} field(s) after the kind; expected {count}, as in {form}");
        return f;
    }

    static int Int(string option, string spec, string field, string text, int lo, int hi, string form)
    {
        if (text.Length == 0 || !text.All(char.IsAsciiDigit))
            throw Error(option, spec, $"has {field} = '{text}', which is not a whole number; expected {lo} ≤ {field} ≤ {hi} in {form}");
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v < lo || v > hi)
            throw Error(option, spec, $"has {field} = {text}, out of range; expected {lo} ≤ {field} ≤ {hi} in {form}");
        return v;
    }

    static ulong Seed64(string option, string spec, string text, string form)
    {
        if (text.Length == 0 || !text.All(char.IsAsciiDigit))
            throw Error(option, spec, $"has SEED = '{text}', which is not a whole number; expected {form} with 0 ≤ SEED ≤ {ulong.MaxValue}");
        if (!ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong v))
            throw Error(option, spec, $"has SEED = {text}, out of range; expected 0 ≤ SEED ≤ {ulong.MaxValue} in {form}");
        return v;
    }

    static void CheckSize(string option, string spec, int n, int d)
    {
        if ((long)n * d > Synthetic.MaxElements)
            throw Error(option, spec, $"asks for N·D = {(long)n * d} input values; expected N·D ≤ {Synthetic.MaxElements}");
    }
}

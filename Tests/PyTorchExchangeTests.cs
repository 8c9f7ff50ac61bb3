using System.Text.Json;
using Curvature.Core;
using Curvature.Experiments;
using Curvature.Models;
using Curvature.Optimizers;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>
/// θ and data exchanged with PyTorch: a named .npz in the state_dict layout of the equivalent
/// nn.Sequential (docs/cli.md), written here by hand as numpy's savez would, reads as the same θ
/// as the flat .npy, and the reverse; export-data writes X.npy / y.npy that read back as the data.
/// </summary>
public class PyTorchExchangeTests
{
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-torch-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    // nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)): θ is 0.weight [6, 4] row-major,
    // 0.bias [6], 2.weight [3, 6], 2.bias [3] concatenated (module 1, the Tanh, has no parameters).
    static readonly (string Name, int[] Shape)[] StateDict = [("0.weight", [6, 4]), ("0.bias", [6]), ("2.weight", [3, 6]), ("2.bias", [3])];

    static List<(string, int[], double[])> Split(double[] theta)
    {
        var arrays = new List<(string, int[], double[])>();
        int offset = 0;
        foreach (var (name, shape) in StateDict)
        {
            int count = shape.Aggregate(1, (a, b) => a * b);
            arrays.Add((name, shape, theta[offset..(offset + count)]));
            offset += count;
        }
        offset.Should().Be(theta.Length);
        return arrays;
    }

    static double[] Theta()
    {
        var theta = new double[51];
        new Rng(17).FillGaussian(theta);
        return theta;
    }

    [Test]
    public void A_state_dict_npz_written_as_numpy_would_reads_as_the_same_theta_as_the_flat_npy()
    {
        var theta = Theta();
        var network = Mlp.Parse("4-6-3", "tanh");
        string npz = Path.Combine(_dir, "weights.npz"), npy = Path.Combine(_dir, "theta.npy");
        // numpy's savez order is the dict's; the reader goes by name, so write it reversed.
        var arrays = Split(theta);
        arrays.Reverse();
        Npz.Write(npz, arrays);
        Npy.Write(npy, theta, theta.Length);
        ThetaFiles.Read(npz, network, "theta").Should().Equal(ThetaFiles.Read(npy, network, "theta"));
        ThetaFiles.Read(npz, network, "theta").Should().Equal(theta);
    }

    [Test]
    public void Init_writes_an_npz_whose_arrays_are_the_state_dict_slices_of_the_flat_theta()
    {
        var (code, _, err) = CliProcess.Run(["init", "--arch", "4-6-3", "--seed", "7", "--out", _dir]);
        code.Should().Be(0, err);
        var flat = Npy.ReadVector(Path.Combine(_dir, "theta.npy"));
        flat.Should().Equal(Mlp.Parse("4-6-3", "tanh").Initialize(7));
        var named = Npz.Read(Path.Combine(_dir, "theta.npz"));
        named.Keys.Should().Equal(StateDict.Select(e => e.Name));
        foreach (var (name, shape, data) in Split(flat))
        {
            named[name].Shape.Should().Equal(shape);
            named[name].Float64.Should().Equal(data);
        }
    }

    [Test]
    public void A_gradient_at_the_named_npz_equals_the_gradient_at_the_flat_npy()
    {
        var theta = Theta();
        string npz = Path.Combine(_dir, "w.npz"), npy = Path.Combine(_dir, "w.npy");
        Npz.Write(npz, Split(theta));
        Npy.Write(npy, theta, theta.Length);
        string[] common = ["--arch", "4-6-3", "--loss", "torch-mse", "--data", "gmm:30:4:3:2"];
        CliProcess.Run(["grad", .. common, "--theta", npz, "--out", Path.Combine(_dir, "a")]).Code.Should().Be(0);
        CliProcess.Run(["grad", .. common, "--theta", npy, "--out", Path.Combine(_dir, "b")]).Code.Should().Be(0);
        Npy.ReadVector(Path.Combine(_dir, "a", "grad.npy")).Should().Equal(Npy.ReadVector(Path.Combine(_dir, "b", "grad.npy")));
    }

    [Test]
    public void An_npz_with_a_wrong_shape_or_a_missing_name_is_refused_naming_the_array()
    {
        var network = Mlp.Parse("4-6-3", "tanh");
        var arrays = Split(Theta());
        string bad = Path.Combine(_dir, "bad.npz");
        Npz.Write(bad, arrays.Select(a => a.Item1 == "0.weight" ? (a.Item1, new[] { 4, 6 }, a.Item3) : a));
        var act = () => ThetaFiles.Read(bad, network, "theta");
        act.Should().Throw<ArgumentException>().WithMessage("*'--theta'*'0.weight'*[4, 6]*expected [6, 4]*");
        Npz.Write(bad, arrays.Where(a => a.Item1 != "2.bias"));
        act.Should().Throw<ArgumentException>().WithMessage("*'--theta'*no array '2.bias'*");
    }

    [TestCase("gmm:30:4:3:2")]
    [TestCase("teacher:25:3:4")]
    public void Export_data_writes_X_and_y_that_read_back_as_the_data_spec(string spec)
    {
        var (code, _, err) = CliProcess.Run(["export-data", "--data", spec, "--out", _dir]);
        code.Should().Be(0, err);
        var expected = DataSpec.Parse(spec);
        var x = Npy.Read(Path.Combine(_dir, "X.npy"));
        x.Dtype.Should().Be(NpyDtype.Float64);
        x.Shape.Should().Equal(expected.Count, expected.Features);
        x.Float64.Should().Equal(expected.X.Data);
        var y = Npy.Read(Path.Combine(_dir, "y.npy"));
        if (expected.Labels is { } labels)
        {
            y.Dtype.Should().Be(NpyDtype.Int64);
            y.Int64.Should().Equal(labels.Select(l => (long)l));
        }
        else
        {
            y.Dtype.Should().Be(NpyDtype.Float64);
            y.Shape.Should().Equal(expected.Count, expected.Classes);
            y.Float64.Should().Equal(expected.Targets!.Data);
        }
        var back = DataSpec.Parse($"npy:{Path.Combine(_dir, "X.npy")},{Path.Combine(_dir, "y.npy")}{(expected.Labels is null ? "" : "," + expected.Classes)}");
        back.X.Data.Should().Equal(expected.X.Data);
        back.Classes.Should().Be(expected.Classes);
    }
}

/// <summary>One JSON style: snake_case, NaN and ±∞ as null; every summary.json names the version.</summary>
public class RunJsonStyleTests
{
    sealed record Sample(double FinalLoss, double? Lambda1, double[] Values);

    [Test]
    public void Non_finite_numbers_are_written_as_null_and_read_back_as_NaN()
    {
        string text = RunJson.Serialize(new Sample(double.NaN, double.PositiveInfinity, [1.5, double.NegativeInfinity]));
        using var doc = JsonDocument.Parse(text);
        doc.RootElement.GetProperty("final_loss").ValueKind.Should().Be(JsonValueKind.Null);
        doc.RootElement.GetProperty("lambda1").ValueKind.Should().Be(JsonValueKind.Null);
        doc.RootElement.GetProperty("values")[1].ValueKind.Should().Be(JsonValueKind.Null);
        text.Should().NotContain("NaN").And.NotContain("Infinity");
        var back = JsonSerializer.Deserialize<Sample>(text, RunJson.Options)!;
        back.FinalLoss.Should().Be(double.NaN);
        back.Lambda1.Should().BeNull();
        back.Values[0].Should().Be(1.5);
        double.IsNaN(back.Values[1]).Should().BeTrue();
    }

    [Test]
    public void Files_written_with_NaN_strings_before_still_read()
    {
        var back = JsonSerializer.Deserialize<Sample>("""{"final_loss": "NaN", "lambda1": "Infinity", "values": ["-Infinity"]}""", RunJson.Options)!;
        double.IsNaN(back.FinalLoss).Should().BeTrue();
        back.Lambda1.Should().Be(double.PositiveInfinity);
        back.Values[0].Should().Be(double.NegativeInfinity);
    }

    [Test]
    public void A_summary_json_starts_with_the_version_and_other_files_do_not_get_one()
    {
        string dir = Directory.CreateTempSubdirectory("curvature-json-").FullName;
        try
        {
            RunJson.Save(Path.Combine(dir, "summary.json"), new Sample(1, null, []));
            RunJson.Save(Path.Combine(dir, "config.json"), new Sample(1, null, []));
            using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "summary.json")));
            summary.RootElement.EnumerateObject().First().Name.Should().Be("version");
            summary.RootElement.GetProperty("version").GetString().Should().Be(RunJson.Version).And.StartWith("0.");
            summary.RootElement.GetProperty("final_loss").GetDouble().Should().Be(1);
            using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "config.json")));
            config.RootElement.TryGetProperty("version", out _).Should().BeFalse();
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void Version_flag_prints_the_informational_version_that_summaries_record()
    {
        var (code, stdout, err) = CliProcess.Run(["--version"]);
        code.Should().Be(0, err);
        stdout.Trim().Should().Be(RunJson.Version);
    }
}

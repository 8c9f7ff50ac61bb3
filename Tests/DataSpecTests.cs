using Curvature.Core;
using Curvature.Models;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

public class DataSpecTests
{
    string _dir = "";

    [SetUp]
    public void MakeDir()
    {
        _dir = Path.Combine(Path.GetTempPath(), "curvature-spec-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveDir()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    string PathOf(string name) => Path.Combine(_dir, name);

    [TestCase("mnist:100", DataKind.Mnist, 100, 784, 10)]
    [TestCase("mnist14:50", DataKind.Mnist14, 50, 196, 10)]
    [TestCase("mnist-test", DataKind.MnistTest, 2000, 784, 10)]
    [TestCase("mnist14-test", DataKind.Mnist14Test, 2000, 196, 10)]
    [TestCase("gmm:30:4:3:9", DataKind.Gmm, 30, 4, 3)]
    [TestCase("teacher:20:5:1", DataKind.Teacher, 20, 5, 1)]
    public void Each_spec_form_loads_a_dataset_of_the_named_size_width_and_class_count(string spec, DataKind kind, int n, int d, int classes)
    {
        DataSpec.FromString(spec).Kind.Should().Be(kind);
        Dataset data = DataSpec.Parse(spec);
        data.Count.Should().Be(n);
        data.Features.Should().Be(d);
        data.Classes.Should().Be(classes);
        data.Name.Should().Be(spec);
    }

    [Test]
    public void Gmm_fields_are_read_in_the_order_N_D_C_SEED()
    {
        var s = DataSpec.FromString("gmm:1000:20:7:18446744073709551615");
        (s.N, s.D, s.C, s.Seed).Should().Be((1000, 20, 7, ulong.MaxValue));
    }

    static IEnumerable<TestCaseData> SyntaxErrors()
    {
        TestCaseData Case(string spec, string fragment) => new TestCaseData(spec, fragment).SetName($"Spec_{spec.Replace(':', '_').Replace(',', '_').Replace('.', '_')}_is_rejected_with_{fragment.Length}_char_hint");
        yield return Case("mnist:9000", "expected 1 ≤ N ≤ 8000");
        yield return Case("mnist:0", "expected 1 ≤ N ≤ 8000");
        yield return Case("mnist14:8001", "expected 1 ≤ N ≤ 8000");
        yield return Case("mnist:abc", "'abc', which is not a whole number");
        yield return Case("mnist:-5", "'-5', which is not a whole number");
        yield return Case("mnist: 5", "which is not a whole number");
        yield return Case("mnist:1e3", "which is not a whole number");
        yield return Case("mnist", "lacks its fields; expected mnist:N");
        yield return Case("mnist:5:6", "has 2 field(s)");
        yield return Case("mnist-test:100", "takes no fields");
        yield return Case("cifar:100", "unknown kind 'cifar'; expected one of mnist:N");
        yield return Case("MNIST:100", "unknown kind 'MNIST'");
        yield return Case("", "is empty");
        yield return Case("gmm:100:2:3", "has 3 field(s) after the kind; expected 4");
        yield return Case("gmm:100:2:1:0", "expected 2 ≤ C");
        yield return Case("gmm:100:0:3:0", "expected 1 ≤ D");
        yield return Case("gmm:100:2:3:-1", "SEED = '-1'");
        yield return Case("gmm:100:2:3:18446744073709551616", "expected 0 ≤ SEED ≤ 18446744073709551615");
        yield return Case("gmm:99999999999:2:3:1", "expected 1 ≤ N ≤ 2147483647");
        yield return Case("gmm:1000000:1000:3:1", "expected N·D ≤ 100000000");
        yield return Case("teacher:10:3", "expected 3, as in teacher:N:D:SEED");
        yield return Case("teacher:10:x:3", "D = 'x'");
        yield return Case("npy:", "names no files");
        yield return Case("npy:a.npy", "has 1 comma-separated field(s)");
        yield return Case("npy:a.npy,", "empty file name");
        yield return Case("npy:a.npy,b.npy,zero", "CLASSES = 'zero'");
        yield return Case("npy:a.npy,b.npy,3,4", "has 4 comma-separated field(s)");
    }

    [TestCaseSource(nameof(SyntaxErrors))]
    public void Malformed_or_out_of_range_specs_raise_one_line_ArgumentException_naming_the_option_and_quoting_the_spec(string spec, string fragment)
    {
        foreach (var option in new[] { "data", "test-data" })
        {
            var act = () => DataSpec.Parse(spec, option);
            var e = act.Should().Throw<ArgumentException>().Which;
            e.ParamName.Should().Be(option);
            e.Message.Should().StartWith($"Option '--{option}' was '{spec}'; it ");
            e.Message.Should().Contain(fragment);
            e.Message.Should().NotContain("\n");
        }
    }

    [Test]
    public void Npy_int64_labels_give_a_classification_set_with_classes_equal_to_max_label_plus_one()
    {
        string x = PathOf("x.npy"), y = PathOf("y.npy");
        Npy.Write(x, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3, 2);
        Npy.Write(y, [0L, 4L, 2L]);
        Dataset d = DataSpec.Parse($"npy:{x},{y}");
        d.Count.Should().Be(3);
        d.Features.Should().Be(2);
        d.Classes.Should().Be(5);
        d.Labels.Should().Equal(0, 4, 2);
        d.Targets.Should().BeNull();
        d.X[2, 1].Should().Be(6.0);
    }

    [Test]
    public void Npy_classes_given_in_the_spec_override_max_label_plus_one()
    {
        string x = PathOf("x.npy"), y = PathOf("y.npy");
        Npy.Write(x, [1.0, 2.0], 2, 1);
        Npy.Write(y, [0L, 1L]);
        DataSpec.Parse($"npy:{x},{y},10").Classes.Should().Be(10);
        FluentActions.Invoking(() => DataSpec.Parse($"npy:{x},{y},1"))
            .Should().Throw<InvalidDataException>().WithMessage($"Option '--data' was 'npy:*': {y}: label 1 at index 1 is out of range; expected a class in [0, 1)*");
    }

    [Test]
    public void Npy_float64_targets_give_a_regression_set_whose_classes_is_the_target_width()
    {
        string x = PathOf("x.npy"), y = PathOf("y.npy"), y1 = PathOf("y1.npy");
        Npy.Write(x, [1.0, 2.0, 3.0, 4.0], 2, 2);
        Npy.Write(y, [0.5, -0.5, 1.5, 2.5, 3.5, 4.5], 2, 3);
        Npy.Write(y1, [7.0, 8.0]);
        Dataset d = DataSpec.Parse($"npy:{x},{y}");
        d.Labels.Should().BeNull();
        d.Classes.Should().Be(3);
        d.Targets!.Data.Should().Equal(0.5, -0.5, 1.5, 2.5, 3.5, 4.5);
        Dataset d1 = DataSpec.Parse($"npy:{x},{y1}");
        d1.Classes.Should().Be(1);
        d1.Targets!.Shape.Should().Be("2x1");
    }

    [Test]
    public void Npy_row_count_mismatch_names_both_files_and_both_shapes()
    {
        string x = PathOf("x.npy"), y = PathOf("y.npy");
        Npy.Write(x, new double[12], 4, 3);
        Npy.Write(y, [0L, 1L, 1L]);
        var act = () => DataSpec.Parse($"npy:{x},{y}");
        var e = act.Should().Throw<ArgumentException>().Which;
        e.Message.Should().Contain($"{x} has shape (4, 3)").And.Contain($"{y} has shape (3,)").And.Contain("expected the same number of rows");
        e.Message.Should().NotContain("\n");
    }

    [Test]
    public void Npy_missing_files_raise_FileNotFoundException_naming_the_file()
    {
        string x = PathOf("x.npy"), y = PathOf("missing-y.npy");
        Npy.Write(x, [1.0], 1, 1);
        FluentActions.Invoking(() => DataSpec.Parse($"npy:{x},{y}"))
            .Should().Throw<FileNotFoundException>().WithMessage($"*file '{y}' does not exist*");
        FluentActions.Invoking(() => DataSpec.Parse($"npy:{PathOf("nox.npy")},{x}", "test-data"))
            .Should().Throw<FileNotFoundException>().WithMessage("Option '--test-data' was 'npy:*nox.npy' does not exist; expected X.npy*");
    }

    [Test]
    public void Npy_content_errors_name_the_file_and_the_expectation()
    {
        string x = PathOf("x.npy"), xi = PathOf("xi.npy"), xnan = PathOf("xnan.npy"), yneg = PathOf("yneg.npy"), y2 = PathOf("y2.npy"), y = PathOf("y.npy");
        Npy.Write(x, [1.0, 2.0], 2, 1);
        Npy.Write(xi, [1L, 2L], 2, 1);
        Npy.Write(xnan, [1.0, double.NaN], 2, 1);
        Npy.Write(yneg, [0L, -1L]);
        Npy.Write(y2, [0L, 1L], 2, 1);
        Npy.Write(y, [0L, 1L]);
        FluentActions.Invoking(() => DataSpec.Parse($"npy:{xi},{y}")).Should().Throw<InvalidDataException>().WithMessage($"Option '--data' was 'npy:*': {xi}: X is '<i8' (2, 1); expected float64*");
        FluentActions.Invoking(() => DataSpec.Parse($"npy:{xnan},{y}")).Should().Throw<InvalidDataException>().WithMessage($"Option '--data' was 'npy:*': {xnan}: element [1, 0] is NaN; expected finite inputs.");
        FluentActions.Invoking(() => DataSpec.Parse($"npy:{x},{yneg}")).Should().Throw<InvalidDataException>().WithMessage($"Option '--data' was 'npy:*': {yneg}: label -1 at index 1 is negative*");
        FluentActions.Invoking(() => DataSpec.Parse($"npy:{x},{y2}")).Should().Throw<InvalidDataException>().WithMessage($"Option '--data' was 'npy:*': {y2}: labels are '<i8' (2, 1); expected int64 labels of shape (n,)*");
    }

    [Test]
    public void Loading_the_same_spec_twice_gives_identical_data()
    {
        var a = DataSpec.Parse("mnist14:20");
        var b = DataSpec.Parse("mnist14:20");
        a.X.Data.Should().Equal(b.X.Data);
        a.Labels.Should().Equal(b.Labels);
        a.X.Data.Should().NotBeSameAs(b.X.Data, "each dataset owns its arrays");
    }
}

using Curvature.Core;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

public class CliErrorTests
{
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-errors-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    static readonly string[] Tiny = ["--arch", "4-8-3", "--data", "gmm:90:4:3:1", "--test-data", "none", "--steps", "5", "--batch", "10"];

    void ExpectOneLineError(string[] args, string pattern)
    {
        var (code, err) = CompareCommandTests.Run(args);
        code.Should().NotBe(0);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Should().ContainSingle("an error is one line, never a stack trace");
        lines[0].Should().Match(pattern);
    }

    string Out => Path.Combine(_dir, "out");

    [Test]
    public void Bench_autodiff_refuses_a_batch_too_large_to_allocate_before_allocating_it()
    {
        // 500 million examples of width 784 would be 3 TB: refused with the bound, not an out-of-memory crash.
        ExpectOneLineError(["bench", "autodiff", "--arch", "784-200-200-10", "--batch", "500000000"], "*'--batch'*500000000*at most 342392 examples*");
        ExpectOneLineError(["bench", "autodiff", "--arch", "784-200-200-10", "--block", "100000"], "*'--block'*100000*at most 673 vectors*");
    }

    [Test]
    public void Unknown_option_is_one_line_and_non_zero() =>
        ExpectOneLineError(["compare", .. Tiny, "--learning-rate", "0.1", "--out", Out], "*learning-rate*");

    [Test]
    public void Negative_learning_rate_names_the_option_and_value() =>
        ExpectOneLineError(["compare", .. Tiny, "--lr", "-0.1", "--out", Out], "*'--lr'*-0.1*positive*");

    [Test]
    public void A_guard_failure_in_train_is_one_line_without_the_runtime_parameter_suffix()
    {
        ExpectOneLineError(["train", "--arch", "4-8-3", "--data", "gmm:90:4:3:1", "--lr", "-1", "--out", Out], "*lr*-1*positive*");
        CompareCommandTests.Run(["train", "--arch", "4-8-3", "--data", "gmm:90:4:3:1", "--lr", "-1", "--out", Out]).Stderr
            .Should().NotContain("(Parameter", "the message already names the argument");
    }

    [Test]
    public void K_at_or_above_the_parameter_count_is_rejected_with_the_count() =>
        ExpectOneLineError(["compare", .. Tiny, "--k", "67", "--out", Out], "*'--k'*67*[1, 66]*67 parameters*");

    [Test]
    public void Unknown_optimizer_in_the_list_is_named() =>
        ExpectOneLineError(["compare", .. Tiny, "--optimizers", "sgd,rmsprop", "--out", Out], "*'--optimizers'*'rmsprop'*sgd, dom, bulk*adam*");

    [Test]
    public void Malformed_interp_is_named() =>
        ExpectOneLineError(["compare", .. Tiny, "--optimizers", "interp:0.5", "--out", Out], "*'interp:0.5'*interp:A_DOM:A_BULK*");

    [Test]
    public void Batch_larger_than_the_data_is_rejected() =>
        ExpectOneLineError(["compare", .. Tiny, "--batch", "500", "--out", Out], "*'--batch'*500*90 training examples*");

    [Test]
    public void Missing_checkpoint_file_is_named() =>
        ExpectOneLineError(["spectrum", "--checkpoint", Path.Combine(_dir, "nope.bin"), "--out", Out], "*'--checkpoint'*nope.bin*does not exist*");

    [Test]
    public void Missing_theta_file_for_decompose_is_named() =>
        ExpectOneLineError(["decompose", "--theta", Path.Combine(_dir, "nope.npy"), "--out", Out], "*'--theta'*nope.npy*does not exist*");

    [Test]
    public void Theta_of_the_wrong_length_is_rejected_with_both_lengths()
    {
        string file = Path.Combine(_dir, "short.npy");
        Npy.Write(file, new double[10], 10);
        ExpectOneLineError(["spectrum", "--theta", file, "--arch", "4-8-3", "--data", "gmm:90:4:3:1", "--k", "2", "--hessian-batch", "0", "--out", Out], "*10 parameters*expected 67*4-8-3*");
    }

    [Test]
    public void Spectrum_needs_exactly_one_source_of_theta() =>
        ExpectOneLineError(["spectrum", "--arch", "4-8-3", "--out", Out], "*'--checkpoint' and '--theta'*missing*");

    [Test]
    public void Unknown_operator_is_named()
    {
        string file = Path.Combine(_dir, "t.npy");
        Npy.Write(file, new double[67], 67);
        ExpectOneLineError(["spectrum", "--theta", file, "--arch", "4-8-3", "--data", "gmm:90:4:3:1", "--hessian-batch", "0", "--operator", "q", "--out", Out], "*'--curvature'*'q'*h (Hessian), g*f*");
    }

    [Test]
    public void Sweep_with_a_negative_learning_rate_in_the_list_is_named() =>
        ExpectOneLineError(["sweep", .. Tiny, "--lr", "0.1,-1", "--out", Out], "*'--lr'*'-1'*> 0*");

    [Test]
    public void Sweep_alphas_without_interp_are_rejected() =>
        ExpectOneLineError(["sweep", .. Tiny, "--optimizer", "bulk", "--alpha-bulk", "1,2", "--out", Out], "*alpha*'--optimizer' bulk*interp*");

    [Test]
    public void Bad_data_spec_is_one_line() =>
        ExpectOneLineError(["compare", "--arch", "4-8-3", "--data", "gmm:oops", "--out", Out], "*gmm:oops*");
}

using System.Text.Json;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>`curvature bench autodiff`: the dgemm rate beside the sweeps' timings, and Transformers.</summary>
public class BenchAutodiffCommandTests
{
    static JsonElement Bench(params string[] args)
    {
        var (code, stdout, stderr) = CliProcess.Run(["bench", "autodiff", "--repeat", "1", "--warmup", "0", "--block", "2", .. args]);
        code.Should().Be(0, stderr);
        return JsonDocument.Parse(stdout).RootElement;
    }

    [Test]
    public void Bench_reports_a_square_dgemm_of_the_gradients_largest_product_and_the_gradients_share_of_its_rate()
    {
        // 100-200-10 on 64 examples runs as 2 chunks of 32 rows; its largest GEMMs are 32×200×100
        // (first layer, forward) and 200×100×32 (its weight gradient): 640,000 multiply-adds, so
        // n = ∛640000 = 86.2 → 86.
        var r = Bench("--arch", "100-200-10", "--batch", "64");
        r.GetProperty("dgemm").GetProperty("n").GetInt32().Should().Be(86);
        double dgemm = r.GetProperty("dgemm").GetProperty("gflops").GetDouble();
        dgemm.Should().BePositive();
        double gflop = r.GetProperty("gemm_gflop").GetProperty("gradient").GetDouble();
        double ms = r.GetProperty("gradient_ms").GetDouble();
        double rate = r.GetProperty("gradient_gemm_gflops").GetDouble();
        // The GFLOP count is printed to 4 decimals (≈ 0.006 here), the rate to 3: 5 % covers the rounding.
        rate.Should().BeApproximately(gflop / (ms / 1000), 0.05 * rate);
        r.GetProperty("gradient_share_of_dgemm").GetDouble().Should().BeApproximately(rate / dgemm, 1e-3 + 1e-2 * rate / dgemm);
    }

    [Test]
    public void Bench_runs_a_spam_transformer_on_the_spam_subjects_by_default()
    {
        var r = Bench("--arch", "spam-e8-t2f16x1-2", "--batch", "40");
        r.GetProperty("data").GetString().Should().Be("spam:40");
        r.GetProperty("batch").GetInt32().Should().Be(40);
        r.GetProperty("act").GetString().Should().Be("gelu");
        r.GetProperty("hvp_ms").GetDouble().Should().BePositive();
    }

    [Test]
    public void Bench_refuses_a_token_transformer_without_data_naming_the_option()
    {
        var (code, _, stderr) = CliProcess.Run(["bench", "autodiff", "--arch", "tok7x4-e4-t2f6x2-2", "--repeat", "1"]);
        code.Should().NotBe(0);
        stderr.Trim().Split('\n').Should().ContainSingle().Which.Should().Match("*'--data'*Transformer*");
    }
}

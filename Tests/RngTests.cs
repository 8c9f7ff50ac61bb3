using Curvature.Core;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

public class RngTests
{
    [Test]
    public void The_same_seed_gives_the_same_stream_and_different_seeds_differ()
    {
        var a = new Rng(1234UL);
        var b = new Rng(1234UL);
        var c = new Rng(1235UL);
        var sa = Enumerable.Range(0, 1000).Select(_ => a.NextUInt64()).ToArray();
        var sb = Enumerable.Range(0, 1000).Select(_ => b.NextUInt64()).ToArray();
        var sc = Enumerable.Range(0, 1000).Select(_ => c.NextUInt64()).ToArray();
        sb.Should().Equal(sa);
        sc.Zip(sa).Count(p => p.First == p.Second).Should().Be(0, "neighbouring seeds give unrelated streams");
        new Rng(-5L).NextUInt64().Should().Be(new Rng(unchecked((ulong)-5L)).NextUInt64());
    }

    [Test]
    public void Seed_zero_still_produces_a_nonzero_stream()
    {
        // xoshiro's all-zero state is a fixed point; SplitMix64 seeding must avoid it.
        var r = new Rng(0UL);
        Enumerable.Range(0, 10).Select(_ => r.NextUInt64()).Should().Contain(x => x != 0);
    }

    [Test]
    public void Restoring_the_state_replays_the_stream_exactly_including_a_pending_gaussian()
    {
        var r = new Rng(77UL);
        for (int i = 0; i < 13; i++) r.NextUInt64();
        r.NextGaussian(); // leaves the second value of the polar pair pending
        var state = r.State;
        state.HasSpare.Should().BeTrue();
        var expected = new double[50];
        for (int i = 0; i < expected.Length; i++) expected[i] = i % 3 == 0 ? r.NextGaussian() : r.NextDouble();

        var replay = Rng.FromState(state);
        var got = new double[50];
        for (int i = 0; i < got.Length; i++) got[i] = i % 3 == 0 ? replay.NextGaussian() : replay.NextDouble();
        got.Should().Equal(expected);
        replay.State.Should().Be(r.State);
    }

    [Test]
    public void Next_int_is_uniform_by_a_chi_square_test_and_stays_in_range([Values(2, 7, 10, 1000)] int n)
    {
        var r = new Rng(2024UL + (ulong)n);
        int draws = 200 * n;
        var counts = new int[n];
        for (int i = 0; i < draws; i++)
        {
            int v = r.NextInt(n);
            v.Should().BeInRange(0, n - 1);
            counts[v]++;
        }
        double expected = (double)draws / n;
        double chi2 = counts.Sum(c => (c - expected) * (c - expected) / expected);
        // χ² with n−1 degrees of freedom has mean n−1 and sd √(2(n−1)); 6 sd is a loose bound
        // that a modulo-biased or broken generator (e.g. one value never drawn) blows through.
        int dof = n - 1;
        chi2.Should().BeLessThan(dof + 6 * Math.Sqrt(2.0 * dof) + 10, $"counts {string.Join(",", counts.Take(10))}...");
    }

    [Test]
    public void Next_int_rejects_a_non_positive_bound_naming_the_value()
    {
        var r = new Rng(1UL);
        var act = () => r.NextInt(0);
        act.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.Message.Contains("'n'") && e.Message.Contains("was 0"));
    }

    [Test]
    public void Gaussian_mean_and_variance_lie_within_their_confidence_intervals()
    {
        var r = new Rng(31337UL);
        const int n = 200_000;
        var x = new double[n];
        r.FillGaussian(x);
        double mean = x.Average();
        double variance = x.Sum(v => (v - mean) * (v - mean)) / (n - 1);
        double fourth = x.Average(v => v * v * v * v);
        // Standard errors: 1/√n for the mean, √(2/n) for the variance of a standard normal;
        // 5 standard errors leaves a false-alarm rate below 1e-6.
        Math.Abs(mean).Should().BeLessThan(5 / Math.Sqrt(n));
        Math.Abs(variance - 1).Should().BeLessThan(5 * Math.Sqrt(2.0 / n));
        Math.Abs(fourth - 3).Should().BeLessThan(5 * Math.Sqrt(96.0 / n), "E[x⁴] = 3 with variance 96 for a standard normal");
    }

    [Test]
    public void Uniform_doubles_lie_in_the_half_open_interval_with_the_right_mean()
    {
        var r = new Rng(8UL);
        var x = new double[100_000];
        r.FillUniform(x, -2, 3);
        x.Should().OnlyContain(v => v >= -2 && v < 3);
        Math.Abs(x.Average() - 0.5).Should().BeLessThan(5 * 5 / Math.Sqrt(12.0 * x.Length));
    }

    [Test]
    public void Rademacher_values_are_plus_or_minus_one_in_equal_shares()
    {
        var r = new Rng(9UL);
        var x = new double[100_000];
        r.FillRademacher(x);
        x.Should().OnlyContain(v => v == 1 || v == -1);
        Math.Abs(x.Sum()).Should().BeLessThan(5 * Math.Sqrt(x.Length));
    }

    [Test]
    public void Shuffle_is_a_permutation_and_moves_every_position_uniformly()
    {
        var r = new Rng(10UL);
        const int n = 5, trials = 50_000;
        var counts = new int[n, n]; // counts[original value, final position]
        for (int t = 0; t < trials; t++)
        {
            var items = Enumerable.Range(0, n).ToArray();
            r.Shuffle<int>(items);
            int seen = 0;
            for (int pos = 0; pos < n; pos++) { counts[items[pos], pos]++; seen |= 1 << items[pos]; }
            if (seen != (1 << n) - 1) Assert.Fail($"trial {t}: [{string.Join(",", items)}] is not a permutation of 0..{n - 1}");
        }
        double expected = trials / (double)n, chi2 = 0;
        foreach (int c in counts) chi2 += (c - expected) * (c - expected) / expected;
        chi2.Should().BeLessThan(16 + 6 * Math.Sqrt(32) + 10, "each value lands in each position with probability 1/n");
    }
}

using System.Security.Cryptography;
using Curvature.Models;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>The embedded spam-subject lines and their one tokenization.</summary>
public class SpamSubjectsTests
{
    [Test]
    public void Embedded_files_have_the_SHA256_their_README_states()
    {
        string Hash(string name)
        {
            using var s = Mnist.OpenResource($"Curvature.Models.Data.spamsubjects-{name}.tsv");
            return Convert.ToHexStringLower(SHA256.HashData(s));
        }
        Hash("train").Should().Be("f982423fcb381025cc965ea1ae11e283460d550e960580ee86fa518cc135aec4");
        Hash("test").Should().Be("4a2018ab0b48ebc27e7abb170718a93dd505584902cf87aa8e219f927eae769e");
    }

    [Test]
    public void Tokenizer_lower_cases_and_splits_words_from_punctuation()
    {
        SpamSubjects.Tokenize("Save 50% on Viagra!!").Should().Equal("save", "50", "%", "on", "viagra", "!", "!");
        SpamSubjects.Tokenize("CVS: lib/Conf.pm,1.92").Should().Equal("cvs", ":", "lib", "/", "conf", ".", "pm", ",", "1", ".", "92");
    }

    [Test]
    public void Vocabulary_and_length_are_fixed_by_the_data_not_by_N()
    {
        var small = DataSpec.Parse("spam:10");
        var large = DataSpec.Parse("spam:2934");
        small.Features.Should().Be(SpamSubjects.SequenceLength).And.Be(large.Features);
        for (int t = 0; t < small.Features; t++) small.X[3, t].Should().Be(large.X[3, t]);
        SpamSubjects.Vocabulary.Take(2).Should().Equal("<pad>", "<unk>");
        SpamSubjects.Vocabulary.Should().OnlyHaveUniqueItems();
        // Every training token is in the vocabulary, so <unk> never occurs in training lines.
        large.X.Data.Should().NotContain(SpamSubjects.UnknownId);
        large.Labels!.Count(l => l == 1).Should().Be(1234, "the README's spam count");
        DataSpec.Parse("spam-test").Count.Should().Be(800);
    }

    [Test]
    public void Sequence_length_is_the_smallest_that_holds_99_percent_of_training_lines()
    {
        var lengths = Enumerable.Range(0, SpamSubjects.TrainCount).Select(i => SpamSubjects.Tokenize(SpamSubjects.Text(i)).Count).ToArray();
        int l = SpamSubjects.SequenceLength;
        lengths.Count(n => n <= l).Should().BeGreaterThanOrEqualTo((int)Math.Ceiling(0.99 * lengths.Length));
        lengths.Count(n => n <= l - 1).Should().BeLessThan((int)Math.Ceiling(0.99 * lengths.Length));
    }

    [TestCase("spam:0")]
    [TestCase("spam:2935")]
    [TestCase("spam")]
    [TestCase("spam-test:5")]
    public void Malformed_spam_specs_are_refused_naming_the_option(string spec)
    {
        var act = () => DataSpec.FromString(spec);
        act.Should().Throw<ArgumentException>().Where(e => e.Message.Contains("--data") && e.Message.Contains(spec));
    }
}

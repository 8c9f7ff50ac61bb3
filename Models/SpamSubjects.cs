using System.Text;
using System.Text.RegularExpressions;
using Curvature.Core;

namespace Curvature.Models;

/// <summary>
/// The spam-subjects sentence set embedded in this assembly (Models/Data/SpamSubjects, see
/// its README): 2,934 training and 800 test e-mail subject lines from the Apache
/// SpamAssassin public mail corpus, labelled ham (0) or spam (1). <c>spam:N</c> is the first
/// N training lines, <c>spam-test</c> the 800 test lines.
/// <para>Tokenization (one, fixed by the data, never by N): lower-case the line (invariant
/// culture); its tokens are the maximal runs of ASCII letters and digits and every other
/// non-space character on its own (regex <c>[a-z0-9]+|[^a-z0-9\s]</c>). The vocabulary is
/// <c>&lt;pad&gt;</c> = 0, <c>&lt;unk&gt;</c> = 1, then every token of the whole training
/// file by descending count, ties in ordinal order. The sequence length L is the smallest
/// that holds all tokens of at least 99 % of the training lines; longer lines are cut to
/// their first L tokens, shorter ones padded with 0. A token outside the vocabulary (only
/// in test lines) is <c>&lt;unk&gt;</c>. A line without tokens becomes one <c>&lt;unk&gt;</c>.</para>
/// An example is the row of L ids as doubles; its mask is id ≠ 0.
/// </summary>
public static partial class SpamSubjects
{
    /// <summary>Training lines: the largest N of <c>spam:N</c>.</summary>
    public const int TrainCount = 2_934;
    /// <summary>Test lines (<c>spam-test</c>).</summary>
    public const int TestCount = 800;
    /// <summary>Classes: 0 ham, 1 spam.</summary>
    public const int Classes = 2;
    /// <summary>Id of the padding token.</summary>
    public const int PadId = 0;
    /// <summary>Id of the unknown-word token.</summary>
    public const int UnknownId = 1;
    /// <summary>Share of training lines whose tokens the sequence length must hold.</summary>
    public const double LengthCoverage = 0.99;

    const string TrainResource = "Curvature.Models.Data.spamsubjects-train.tsv";
    const string TestResource = "Curvature.Models.Data.spamsubjects-test.tsv";

    [GeneratedRegex(@"[a-z0-9]+|[^a-z0-9\s]", RegexOptions.CultureInvariant)]
    private static partial Regex TokenPattern();

    sealed record Corpus(string[] Texts, int[] Labels);

    sealed record Built(Corpus Train, Corpus Test, IReadOnlyList<string> Words, Dictionary<string, int> Ids, int Length);

    static readonly Lazy<Built> Data = new(Build);

    /// <summary>The vocabulary, id order: <c>&lt;pad&gt;</c>, <c>&lt;unk&gt;</c>, then the training tokens.</summary>
    public static IReadOnlyList<string> Vocabulary => Data.Value.Words;

    /// <summary>Sequence length L (tokens per example, padding included).</summary>
    public static int SequenceLength => Data.Value.Length;

    /// <summary>The tokens of one line (lower-cased, letters-and-digits runs and single other characters).</summary>
    public static IReadOnlyList<string> Tokenize(string line)
    {
        Guard.NotNull(line);
        return TokenPattern().Matches(line.ToLowerInvariant()).Select(m => m.Value).ToArray();
    }

    /// <summary>The L ids of one line (cut or padded), as the datasets hold them.</summary>
    public static int[] Encode(string line)
    {
        var d = Data.Value;
        var ids = new int[d.Length];
        var tokens = Tokenize(line);
        if (tokens.Count == 0) ids[0] = UnknownId;
        for (int i = 0; i < Math.Min(tokens.Count, d.Length); i++)
            ids[i] = d.Ids.TryGetValue(tokens[i], out int id) ? id : UnknownId;
        return ids;
    }

    /// <summary>The first <paramref name="n"/> training lines (1 ≤ n ≤ 2934).</summary>
    public static Dataset Train(int n, string? name = null)
    {
        if (n < 1 || n > TrainCount)
            throw new ArgumentOutOfRangeException(nameof(n), $"Argument 'n' was {n}; expected 1 ≤ n ≤ {TrainCount} training lines.");
        return Make(Data.Value.Train, n, name ?? $"spam:{n}");
    }

    /// <summary>The 800 test lines.</summary>
    public static Dataset Test(string? name = null) => Make(Data.Value.Test, TestCount, name ?? "spam-test");

    /// <summary>The text of training line <paramref name="index"/> (or test line, with <paramref name="test"/>).</summary>
    public static string Text(int index, bool test = false) => (test ? Data.Value.Test : Data.Value.Train).Texts[index];

    static Dataset Make(Corpus corpus, int n, string name)
    {
        int length = Data.Value.Length;
        var x = new Matrix(n, length);
        for (int i = 0; i < n; i++)
        {
            var ids = Encode(corpus.Texts[i]);
            for (int t = 0; t < length; t++) x[i, t] = ids[t];
        }
        return new Dataset(x, corpus.Labels[..n], null, Classes, name);
    }

    static Corpus Read(string resource, int expected)
    {
        using var stream = Mnist.OpenResource(resource);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        string? header = reader.ReadLine();
        if (header is null || !header.StartsWith("label\ttext", StringComparison.Ordinal))
            throw new InvalidDataException($"Embedded {resource}: header '{header}'; expected 'label<TAB>text<TAB>group<TAB>source'.");
        var texts = new List<string>();
        var labels = new List<int>();
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            var f = line.Split('\t');
            if (f.Length < 2 || f[0] is not ("0" or "1"))
                throw new InvalidDataException($"Embedded {resource}: line {texts.Count + 2} '{line}'; expected a 0/1 label and a text.");
            labels.Add(f[0][0] - '0');
            texts.Add(f[1]);
        }
        if (texts.Count != expected)
            throw new InvalidDataException($"Embedded {resource} has {texts.Count} lines; expected {expected}.");
        return new Corpus([.. texts], [.. labels]);
    }

    static Built Build()
    {
        var train = Read(TrainResource, TrainCount);
        var test = Read(TestResource, TestCount);
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        var lengths = new int[train.Texts.Length];
        for (int i = 0; i < train.Texts.Length; i++)
        {
            var tokens = Tokenize(train.Texts[i]);
            lengths[i] = Math.Max(1, tokens.Count);
            foreach (var t in tokens) counts[t] = counts.GetValueOrDefault(t) + 1;
        }
        var words = new List<string> { "<pad>", "<unk>" };
        words.AddRange(counts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key));
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 2; i < words.Count; i++) ids[words[i]] = i;
        Array.Sort(lengths);
        int length = lengths[(int)Math.Ceiling(LengthCoverage * lengths.Length) - 1];
        return new Built(train, test, words, ids, length);
    }
}

using System.ComponentModel;
using Curvature.Core;
using Curvature.Experiments;
using Curvature.Models;
using Curvature.Optimizers;
using Spectre.Console.Cli;

namespace Curvature.Cli;

/// <summary>
/// `curvature export-data`: any <c>--data</c> spec as NumPy arrays, so the same examples can be
/// fed to PyTorch or JAX: X.npy (float64 [n, features], row-major as the network reads it) and
/// y.npy (int64 [n] class labels, or float64 [n, outputs] real targets). `--data npy:X.npy,y.npy`
/// reads them back.
/// </summary>
internal sealed class ExportDataCommand : Command<ExportDataCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--data <SPEC>")]
        [Description("Data spec: mnist:N, mnist14:N, mnist-test, spam:N, spam-test, gmm:N:D:C:SEED, teacher:N:D:SEED, npy:X.npy,y.npy.")]
        [DefaultValue(RunSpec.DefaultData)]
        public string Data { get; set; } = RunSpec.DefaultData;

        [CommandOption("--out <DIR>")]
        [Description("Output folder for X.npy and y.npy (and, for token data such as spam:N, mask.npy).")]
        [DefaultValue("runs/data")]
        public string Out { get; set; } = "runs/data";
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var data = DataSpec.Parse(settings.Data);
        CliFiles.OutputDirectory(settings.Out, "out");
        string x = Path.Combine(settings.Out, "X.npy");
        string y = Path.Combine(settings.Out, "y.npy");
        Npy.Write(x, data.X);
        if (data.Labels is { } labels)
            Npy.Write(y, Array.ConvertAll(labels, l => (long)l), labels.Length);
        else
            Npy.Write(y, data.Targets!);
        if (DataSpec.FromString(settings.Data).Kind is DataKind.Spam or DataKind.SpamTest) WriteTokens(settings.Out, data);
        Console.WriteLine($"wrote {x} [{data.Count}, {data.Features}] and {y} ({(data.Labels is null ? $"float64 targets [{data.Count}, {data.Classes}]" : $"int64 labels [{data.Count}], {data.Classes} classes")}) from '{settings.Data}'; read back with --data npy:{x},{y}{(data.Labels is null ? "" : $",{data.Classes}")}");
        return 0;
    }

    /// <summary>
    /// Token data for a PyTorch user: ids.npy (int64 [n, L]), mask.npy (int64 [n, L], 1 for a
    /// token, 0 for padding; <c>src_key_padding_mask = mask == 0</c>) and vocab.txt (the token
    /// of id i on line i + 1).
    /// </summary>
    static void WriteTokens(string folder, Dataset data)
    {
        var ids = new long[data.X.Data.Length];
        var mask = new long[ids.Length];
        for (int i = 0; i < ids.Length; i++)
        {
            ids[i] = (long)data.X.Data[i];
            mask[i] = ids[i] == SpamSubjects.PadId ? 0 : 1;
        }
        Npy.Write(Path.Combine(folder, "ids.npy"), ids, data.Count, data.Features);
        Npy.Write(Path.Combine(folder, "mask.npy"), mask, data.Count, data.Features);
        AtomicFile.WriteAllText(Path.Combine(folder, "vocab.txt"), string.Join("\n", SpamSubjects.Vocabulary) + "\n");
        Console.WriteLine($"wrote ids.npy and mask.npy [{data.Count}, {data.Features}] and vocab.txt ({SpamSubjects.Vocabulary.Count} tokens) in {folder}");
    }
}

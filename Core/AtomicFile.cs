using System.Text;

namespace Curvature.Core;

/// <summary>
/// Writes every output through a temporary sibling and a rename, so a crash or a full disk
/// leaves either the previous file or no file — never a half-written one.
/// </summary>
public static class AtomicFile
{
    static readonly UTF8Encoding Utf8NoBom = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>
    /// Lets <paramref name="write"/> produce the file under a temporary name (in the same
    /// directory, so the rename stays on one file system) and then moves it into place.
    /// The temporary name keeps the extension because some writers (image encoders) choose
    /// the format from it.
    /// </summary>
    public static void Write(string path, Action<string> write)
    {
        Guard.NotNull(write);
        if (string.IsNullOrWhiteSpace(path))
            throw new ArgumentException($"Argument 'path' was '{path}'; expected a file path.", nameof(path));
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? ".";
        Directory.CreateDirectory(dir);
        string tmp = Path.Combine(dir, $".{Path.GetFileNameWithoutExtension(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp{Path.GetExtension(full)}");
        try
        {
            write(tmp);
            if (!File.Exists(tmp))
                throw new IOException($"Writing '{full}' produced no file at its temporary name '{tmp}'.");
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Writes through a stream, flushed to disk before the rename.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        Guard.NotNull(write);
        Write(path, tmp =>
        {
            using var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
            write(fs);
            fs.Flush(flushToDisk: true);
        });
    }

    public static void WriteAllText(string path, string text) =>
        Write(path, tmp => File.WriteAllText(tmp, text, Utf8NoBom));

    public static void WriteAllBytes(string path, byte[] bytes) =>
        Write(path, tmp => File.WriteAllBytes(tmp, bytes));
}

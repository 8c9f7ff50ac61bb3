using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace Curvature.Core;

/// <summary>
/// Writes every output through a temporary sibling and a rename, so a crash or a full disk
/// leaves either the previous file or no file — never a half-written one.
/// <para>
/// Every file is flushed to disk (fsync) before the rename, and on Linux the directory is
/// fsynced after it, so the new content survives a power loss once a write returns.
/// The output path may be a regular file, a missing file, or a symbolic link: a link is
/// followed and the file it points to is replaced (the link itself stays a link). A FIFO,
/// a character or block device, a socket or a directory at the output path is refused with
/// an <see cref="IOException"/> naming the path and what it is — such an output is never
/// replaced. Temporary files of the same output left by a killed process
/// (<c>.NAME.&lt;pid&gt;.&lt;guid&gt;.tmp.EXT</c> whose pid no longer runs) are deleted on the
/// next write of that output. Errors name the output path, not the temporary name.
/// </para>
/// </summary>
public static partial class AtomicFile
{
    static readonly UTF8Encoding Utf8NoBom = new(encoderShouldEmitUTF8Identifier: false);

    // Linux allows 40 symbolic links in one resolution (ELOOP beyond): the same bound here.
    const int MaxLinkHops = 40;

    /// <summary>
    /// Lets <paramref name="write"/> produce the file under a temporary name (in the same
    /// directory as the final file, so the rename stays on one file system), flushes it to
    /// disk, then moves it into place. The temporary name keeps the extension because some
    /// writers (image encoders) choose the format from it.
    /// </summary>
    /// <param name="path">The output file; a symbolic link is written through to its target.</param>
    /// <param name="write">Writes the complete content to the temporary path it is given.</param>
    /// <exception cref="ArgumentException">The path is empty or blank.</exception>
    /// <exception cref="IOException">The output is a directory, FIFO, device or socket; a parent
    /// is not a directory; the writer produced no file; or the file system refused.</exception>
    /// <exception cref="UnauthorizedAccessException">The directory is not writable (the message
    /// names the output path and its directory).</exception>
    public static void Write(string path, Action<string> write)
    {
        Guard.NotNull(write);
        WriteCore(path, write, flushed: false);
    }

    /// <summary>Writes through a stream, flushed to disk before the rename; see
    /// <see cref="Write(string, Action{string})"/> for the path rules and exceptions.</summary>
    /// <param name="path">The output file.</param>
    /// <param name="write">Writes the complete content to the stream (do not dispose it).</param>
    public static void Write(string path, Action<Stream> write)
    {
        Guard.NotNull(write);
        WriteCore(path, tmp =>
        {
            using var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
            write(fs);
            fs.Flush(flushToDisk: true);
        }, flushed: true);
    }

    /// <summary>Writes <paramref name="text"/> as UTF-8 without a byte-order mark.</summary>
    /// <param name="path">The output file.</param>
    /// <param name="text">The whole content.</param>
    public static void WriteAllText(string path, string text)
    {
        Guard.NotNull(text);
        Write(path, (Stream s) =>
        {
            byte[] bytes = Utf8NoBom.GetBytes(text);
            s.Write(bytes);
        });
    }

    /// <summary>Writes <paramref name="bytes"/> as the whole content.</summary>
    /// <param name="path">The output file.</param>
    /// <param name="bytes">The whole content.</param>
    public static void WriteAllBytes(string path, byte[] bytes)
    {
        Guard.NotNull(bytes);
        Write(path, (Stream s) => s.Write(bytes));
    }

    // The temporary name used for one write of target:
    // .STEM.<pid>.<32 hex digits>.tmp.EXT in the target's directory.
    static string TemporaryName(string target, int pid, Guid id) =>
        $".{Path.GetFileNameWithoutExtension(target)}.{pid.ToString(CultureInfo.InvariantCulture)}.{id:N}.tmp{Path.GetExtension(target)}";

    static void WriteCore(string path, Action<string> write, bool flushed)
    {
        if (path is null || string.IsNullOrWhiteSpace(path))
            throw new ArgumentException($"Argument 'path' was '{path}'; expected a file path.", nameof(path));
        string full = Path.GetFullPath(path);
        if (Path.EndsInDirectorySeparator(full))
            throw new IOException($"Output '{path}' ends with a directory separator; expected a file path.");
        string target = ResolveTarget(full, path);
        string dir = Path.GetDirectoryName(target) ?? ".";
        EnsureDirectory(dir, path);
        RemoveStaleTemporaries(dir, target);
        string tmp = Path.Combine(dir, TemporaryName(target, Environment.ProcessId, Guid.NewGuid()));
        try
        {
            write(tmp);
            if (!File.Exists(tmp))
                throw new IOException($"Writing '{path}' produced no file at its temporary name; expected the writer to create it.");
            if (!flushed) FlushToDisk(tmp);
            File.Move(tmp, target, overwrite: true);
            FlushDirectory(dir);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new UnauthorizedAccessException($"Cannot write '{path}': permission denied in directory '{dir}'; expected a writable directory.", e);
        }
        catch (IOException e) when (e.Message.Contains(tmp, StringComparison.Ordinal) || e.Message.Contains(Path.GetFileName(tmp), StringComparison.Ordinal))
        {
            throw new IOException($"Cannot write '{path}': {e.Message.Replace(tmp, "its temporary file", StringComparison.Ordinal).Replace(Path.GetFileName(tmp), "its temporary file", StringComparison.Ordinal).ReplaceLineEndings(" ").Trim()}", e);
        }
        finally
        {
            try
            {
                if (File.Exists(tmp)) File.Delete(tmp);
            }
            catch (IOException) { /* the original error matters more; the next write cleans up */ }
            catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Follows symbolic links from <paramref name="full"/> to the file that will be
    /// replaced and refuses what must never be replaced.</summary>
    static string ResolveTarget(string full, string shown)
    {
        string current = full;
        for (int hop = 0; ; hop++)
        {
            var kind = KindOf(current);
            switch (kind)
            {
                case PathKind.Missing or PathKind.Regular:
                    return current;
                case PathKind.Symlink:
                    if (hop >= MaxLinkHops)
                        throw new IOException($"Output '{shown}' is a symbolic link that does not resolve within {MaxLinkHops} links (a loop?); expected a link to a file.");
                    string? link = new FileInfo(current).LinkTarget;
                    if (link is null) return current;
                    current = Path.GetFullPath(link, Path.GetDirectoryName(current) ?? "/");
                    break;
                default:
                    string via = current == full ? "" : $" (through a symbolic link to '{current}')";
                    throw new IOException($"Output '{shown}'{via} is {Describe(kind)}; expected a regular file or a new file name. Curvature never replaces it.");
            }
        }
    }

    static void EnsureDirectory(string dir, string shown)
    {
        if (Directory.Exists(dir)) return;
        // Walk up to the first existing ancestor: if it is a file, name it.
        string? probe = dir;
        while (probe is not null && !Directory.Exists(probe))
        {
            if (File.Exists(probe) || KindOf(probe) is not PathKind.Missing)
                throw new IOException($"Cannot write '{shown}': '{probe}' is {Describe(KindOf(probe))}, not a directory; expected a directory there.");
            probe = Path.GetDirectoryName(probe);
        }
        try
        {
            Directory.CreateDirectory(dir);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new UnauthorizedAccessException($"Cannot write '{shown}': permission denied creating directory '{dir}'; expected a writable parent directory.", e);
        }
    }

    // ------------------------------------------------------------ stale temporaries

    /// <summary>Deletes <c>.STEM.&lt;pid&gt;.&lt;guid&gt;.tmp.EXT</c> files of this target whose
    /// writer process is gone (a kill -9 between create and rename). Files of running
    /// processes — including this one, whose other threads may be writing — are kept.</summary>
    static void RemoveStaleTemporaries(string dir, string target)
    {
        string stem = Path.GetFileNameWithoutExtension(target), ext = Path.GetExtension(target);
        var pattern = new Regex("^\\." + Regex.Escape(stem) + "\\.([0-9]{1,10})\\.[0-9a-f]{32}\\.tmp" + Regex.Escape(ext) + "$", RegexOptions.CultureInvariant);
        IEnumerable<string> candidates;
        try
        {
            candidates = Directory.EnumerateFiles(dir, "." + stem + ".*.tmp" + ext).ToList();
        }
        catch (IOException) { return; }
        catch (UnauthorizedAccessException) { return; }
        foreach (string file in candidates)
        {
            var m = pattern.Match(Path.GetFileName(file));
            if (!m.Success || !int.TryParse(m.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out int pid)) continue;
            if (pid == Environment.ProcessId || IsRunning(pid)) continue;
            try
            {
                File.Delete(file);
            }
            catch (IOException) { /* another writer removed or holds it: harmless */ }
            catch (UnauthorizedAccessException) { }
        }
    }

    static bool IsRunning(int pid)
    {
        if (OperatingSystem.IsLinux() && Directory.Exists("/proc/self"))
            return Directory.Exists("/proc/" + pid.ToString(CultureInfo.InvariantCulture));
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    // ------------------------------------------------------------ durability

    static void FlushToDisk(string file)
    {
        using var fs = new FileStream(file, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        fs.Flush(flushToDisk: true);
    }

    /// <summary>fsync of the directory, so the rename itself is on disk (Linux; elsewhere
    /// the rename's durability is left to the file system).</summary>
    static void FlushDirectory(string dir)
    {
        if (!OperatingSystem.IsLinux()) return;
        int fd;
        try
        {
            fd = Native.Open(dir, Native.ORdOnly | Native.ODirectory | Native.OCloexec);
        }
        catch (EntryPointNotFoundException) { return; }
        catch (DllNotFoundException) { return; }
        if (fd < 0) return; // durability of the rename is best effort; the data itself is synced
        try { _ = Native.Fsync(fd); }
        finally { _ = Native.Close(fd); }
    }

    // ------------------------------------------------------------ path kinds

    enum PathKind { Missing, Regular, Directory, Symlink, Fifo, CharDevice, BlockDevice, Socket, Other }

    static string Describe(PathKind kind) => kind switch
    {
        PathKind.Directory => "an existing directory",
        PathKind.Fifo => "a FIFO (named pipe)",
        PathKind.CharDevice => "a character device file",
        PathKind.BlockDevice => "a block device file",
        PathKind.Socket => "a socket",
        PathKind.Symlink => "a symbolic link",
        PathKind.Regular => "a regular file",
        PathKind.Missing => "missing",
        _ => "a special file",
    };

    /// <summary>The kind of <paramref name="path"/> without following a final symbolic link
    /// (statx on Linux; elsewhere from the managed attributes, which tell files, directories
    /// and links apart).</summary>
    static PathKind KindOf(string path)
    {
        if (OperatingSystem.IsLinux())
        {
            var kind = Native.StatxKind(path);
            if (kind is not null) return kind.Value;
        }
        var info = new FileInfo(path);
        if (info.LinkTarget is not null) return PathKind.Symlink;
        if (Directory.Exists(path)) return PathKind.Directory;
        return info.Exists ? PathKind.Regular : PathKind.Missing;
    }

    static partial class Native
    {
        public const int ORdOnly = 0, ODirectory = 0x10000, OCloexec = 0x80000;
        const int AtFdCwd = -100, AtSymlinkNoFollow = 0x100, StatxType = 0x1, Enoent = 2, Enotdir = 20;

        [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        public static partial int Open(string path, int flags);

        [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
        public static partial int Fsync(int fd);

        [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
        public static partial int Close(int fd);

        [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        public static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

        /// <summary>The file type from statx's stx_mode (offset 28, the same on every Linux
        /// architecture), or null when statx is unavailable.</summary>
        public static unsafe PathKind? StatxKind(string path)
        {
            byte* buf = stackalloc byte[256];
            int rc;
            try
            {
                rc = Statx(AtFdCwd, path, AtSymlinkNoFollow, StatxType, buf);
            }
            catch (EntryPointNotFoundException) { return null; }
            catch (DllNotFoundException) { return null; }
            if (rc != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                return errno is Enoent or Enotdir ? PathKind.Missing : null;
            }
            int mode = *(ushort*)(buf + 28) & 0xF000;
            return mode switch
            {
                0x8000 => PathKind.Regular,
                0x4000 => PathKind.Directory,
                0xA000 => PathKind.Symlink,
                0x1000 => PathKind.Fifo,
                0x2000 => PathKind.CharDevice,
                0x6000 => PathKind.BlockDevice,
                0xC000 => PathKind.Socket,
                _ => PathKind.Other,
            };
        }
    }
}

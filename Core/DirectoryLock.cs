using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Curvature.Core;

/// <summary>
/// An exclusive lock on a directory that one process writes (a run directory): an advisory
/// <c>flock(LOCK_EX)</c> on the file <see cref="FileName"/> inside it, which holds the holder's
/// process id. A second writer — another process, or a second lock in this one — is refused at
/// once with an <see cref="IOException"/> naming the directory and the holder's process id.
/// The kernel releases the lock when the holder's process ends, however it ends (kill -9
/// included), so a stale lock file never blocks the next run; <see cref="Dispose"/> removes it.
/// <para>
/// On Linux the lock is taken with flock(2) directly (.NET's own open-time locking would make
/// the holder's process id unreadable to the refused process); elsewhere with a
/// <see cref="FileShare.None"/> stream, and the message then names no process id.
/// </para>
/// </summary>
public sealed partial class DirectoryLock : IDisposable
{
    /// <summary>The lock file's name inside the locked directory.</summary>
    public const string FileName = "run.lock";

    readonly string _path;
    int _fd = -1;
    FileStream? _stream;

    DirectoryLock(string path) => _path = path;

    /// <summary>The directory this lock holds.</summary>
    public string LockedDirectory => Path.GetDirectoryName(_path)!;

    /// <summary>
    /// Creates <paramref name="directory"/> if needed and locks it for this process.
    /// </summary>
    /// <param name="directory">The directory to lock.</param>
    /// <param name="option">The option that named the directory (e.g. "out"), quoted in the refusal.</param>
    /// <exception cref="IOException">Another writer holds the directory (the message names its process id).</exception>
    public static DirectoryLock Acquire(string directory, string option = "out")
    {
        Guard.NotNull(directory);
        string dir = Path.GetFullPath(directory);
        Directory.CreateDirectory(dir);
        var l = new DirectoryLock(Path.Combine(dir, FileName));
        if (OperatingSystem.IsLinux()) l.AcquireLinux(option);
        else l.AcquireStream(option);
        return l;
    }

    void AcquireLinux(string option)
    {
        // Retries only when the file was removed by a releasing holder between our open and our lock.
        for (int attempt = 0; attempt < 100; attempt++)
        {
            int fd = Native.Open(_path, ORdWr | OCreat | OCloexec, 420 /* 0644 */);
            if (fd < 0) throw new IOException($"Cannot lock run directory '{LockedDirectory}': open '{_path}' failed with errno {Marshal.GetLastPInvokeError()}; expected a writable directory.");
            if (Native.Flock(fd, LockEx | LockNb) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                string holder = ReadHolder(fd);
                _ = Native.Close(fd);
                if (errno == EWouldBlock) throw Busy(option, holder);
                throw new IOException($"Cannot lock run directory '{LockedDirectory}': flock failed with errno {errno}.");
            }
            if (!SameFile(fd))
            {
                _ = Native.Close(fd);
                continue;
            }
            byte[] pid = Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
            _ = Native.Ftruncate(fd, 0);
            _ = Native.Pwrite(fd, pid, pid.Length, 0);
            _fd = fd;
            return;
        }
        throw new IOException($"Cannot lock run directory '{LockedDirectory}': its lock file kept being replaced; expected one writer at a time.");
    }

    void AcquireStream(string option)
    {
        try
        {
            _stream = new FileStream(_path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            throw Busy(option, "");
        }
        _stream.SetLength(0);
        _stream.Write(Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n"));
        _stream.Flush();
    }

    IOException Busy(string option, string holder)
    {
        string who = holder.Length > 0 ? $"process {holder}" : "another process";
        return new IOException($"Option '--{option}' names '{LockedDirectory}', which {who} is writing (it holds '{_path}'); expected one writer at a time: wait for it to end, or choose another --{option}.");
    }

    /// <summary>The holder's process id as written in the file; empty when the holder has not written it yet.</summary>
    static string ReadHolder(int fd)
    {
        var buffer = new byte[32];
        for (int attempt = 0; attempt < 20; attempt++)
        {
            nint n = Native.Pread(fd, buffer, buffer.Length, 0);
            if (n > 0)
            {
                string text = Encoding.ASCII.GetString(buffer, 0, (int)n).Trim();
                if (text.Length > 0 && text.All(char.IsAsciiDigit)) return text;
            }
            Thread.Sleep(10);
        }
        return "";
    }

    /// <summary>Whether the locked descriptor is still the file at the path (a releasing holder unlinks it).</summary>
    unsafe bool SameFile(int fd)
    {
        byte* a = stackalloc byte[256];
        byte* b = stackalloc byte[256];
        if (Native.Statx(fd, "", AtEmptyPath, StatxIno, a) != 0) return true; // cannot tell: keep the lock
        if (Native.Statx(AtFdCwd, _path, 0, StatxIno, b) != 0) return false;  // gone: retry
        // stx_ino at offset 32, stx_dev_major/minor at 136/140 (the same on every Linux architecture).
        return *(ulong*)(a + 32) == *(ulong*)(b + 32) && *(uint*)(a + 136) == *(uint*)(b + 136) && *(uint*)(a + 140) == *(uint*)(b + 140);
    }

    /// <summary>Removes the lock file and releases the lock.</summary>
    public void Dispose()
    {
        if (_fd >= 0)
        {
            // Unlink while still holding it: a process that opened the old file then finds it replaced and retries.
            try { File.Delete(_path); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            _ = Native.Close(_fd);
            _fd = -1;
        }
        if (_stream is not null)
        {
            _stream.Dispose();
            _stream = null;
            try { File.Delete(_path); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    const int ORdWr = 2, OCreat = 0x40, OCloexec = 0x80000, LockEx = 2, LockNb = 4, EWouldBlock = 11;
    const int AtFdCwd = -100, AtEmptyPath = 0x1000;
    const uint StatxIno = 0x100;

    static partial class Native
    {
        [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        public static partial int Open(string path, int flags, int mode);

        [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
        public static partial int Flock(int fd, int operation);

        [LibraryImport("libc", EntryPoint = "pread", SetLastError = true)]
        public static partial nint Pread(int fd, byte[] buffer, nint count, long offset);

        [LibraryImport("libc", EntryPoint = "pwrite", SetLastError = true)]
        public static partial nint Pwrite(int fd, byte[] buffer, nint count, long offset);

        [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
        public static partial int Ftruncate(int fd, long length);

        [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
        public static partial int Close(int fd);

        [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        public static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);
    }
}

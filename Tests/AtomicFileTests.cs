using System.Diagnostics;
using Curvature.Core;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

/// <summary>Every result file goes through a temporary name and a rename.</summary>
public class AtomicFileTests
{
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("curvature-atomic-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void A_write_that_fails_through_a_path_keeps_the_previous_file_and_leaves_no_temporary()
    {
        string path = Path.Combine(_dir, "keep.txt");
        AtomicFile.WriteAllText(path, "old");
        var act = () => AtomicFile.Write(path, (string tmp) => { File.WriteAllText(tmp, "half"); throw new IOException("disk full"); });
        act.Should().Throw<IOException>();
        File.ReadAllText(path).Should().Be("old");
        Directory.GetFiles(_dir).Should().ContainSingle();
    }

    [Test]
    public void A_write_that_fails_through_a_stream_keeps_the_previous_file_and_leaves_no_temporary()
    {
        string path = Path.Combine(_dir, "keep.bin");
        AtomicFile.WriteAllBytes(path, [1, 2, 3]);
        var act = () => AtomicFile.Write(path, (Stream s) => { s.WriteByte(9); throw new IOException("disk full"); });
        act.Should().Throw<IOException>();
        File.ReadAllBytes(path).Should().Equal(1, 2, 3);
        Directory.GetFiles(_dir).Should().ContainSingle();
    }

    [Test]
    public void A_stream_write_replaces_the_file_and_creates_missing_directories()
    {
        string path = Path.Combine(_dir, "a", "b", "out.bin");
        AtomicFile.Write(path, (Stream s) => s.Write([4, 5]));
        AtomicFile.Write(path, (Stream s) => s.Write([6]));
        File.ReadAllBytes(path).Should().Equal(6);
        Directory.GetFiles(Path.GetDirectoryName(path)!).Should().ContainSingle();
    }

    // ------------------------------------------------------------ path kinds

    static bool Run(string file, params string[] args)
    {
        try
        {
            var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (string a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            p.WaitForExit();
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception) { return false; }
    }

    [Test]
    public void A_symbolic_link_is_written_through_to_its_target_and_stays_a_link()
    {
        string elsewhere = Path.Combine(_dir, "data");
        Directory.CreateDirectory(elsewhere);
        string target = Path.Combine(elsewhere, "real.json");
        File.WriteAllText(target, "old");
        string link = Path.Combine(_dir, "out.json");
        File.CreateSymbolicLink(link, target);

        AtomicFile.WriteAllText(link, "new");

        new FileInfo(link).LinkTarget.Should().Be(target);
        File.ReadAllText(target).Should().Be("new");
        Directory.GetFiles(elsewhere).Should().Equal(target);
        Directory.GetFileSystemEntries(_dir).Should().BeEquivalentTo([elsewhere, link]);
    }

    [Test]
    public void A_dangling_symbolic_link_creates_the_file_it_names_and_a_relative_link_resolves_from_its_folder()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "d"));
        string link = Path.Combine(_dir, "d", "theta.npy");
        File.CreateSymbolicLink(link, "../made.npy");
        AtomicFile.WriteAllBytes(link, [7, 8]);
        File.ReadAllBytes(Path.Combine(_dir, "made.npy")).Should().Equal(7, 8);
        new FileInfo(link).LinkTarget.Should().Be("../made.npy");
    }

    [Test]
    public void A_symbolic_link_loop_is_refused_naming_the_output()
    {
        string a = Path.Combine(_dir, "a.txt"), b = Path.Combine(_dir, "b.txt");
        File.CreateSymbolicLink(a, b);
        File.CreateSymbolicLink(b, a);
        var act = () => AtomicFile.WriteAllText(a, "x");
        act.Should().Throw<IOException>().WithMessage($"Output '{a}' is a symbolic link that does not resolve within 40 links*");
    }

    [Test]
    public void A_FIFO_at_the_output_path_is_refused_by_name_and_left_in_place()
    {
        string fifo = Path.Combine(_dir, "metrics.csv");
        if (!OperatingSystem.IsLinux() || !Run("mkfifo", fifo)) Assert.Ignore("mkfifo is not available here.");
        var act = () => AtomicFile.WriteAllText(fifo, "x");
        act.Should().Throw<IOException>().WithMessage($"Output '{fifo}' is a FIFO (named pipe); expected a regular file*");
        File.GetAttributes(fifo).HasFlag(FileAttributes.Directory).Should().BeFalse();
        Run("test", "-p", fifo).Should().BeTrue("the FIFO must still be a FIFO");
        Directory.GetFileSystemEntries(_dir).Should().ContainSingle();
    }

    [Test]
    public void A_character_device_at_the_output_path_or_behind_a_link_is_refused_and_never_replaced()
    {
        string dev = Path.Combine(_dir, "null");
        if (!OperatingSystem.IsLinux() || !Run("mknod", dev, "c", "1", "3"))
            Assert.Ignore("mknod needs root (or CAP_MKNOD); the device case cannot be built here.");
        var direct = () => AtomicFile.WriteAllText(dev, "x");
        direct.Should().Throw<IOException>().WithMessage($"Output '{dev}' is a character device file*");
        string link = Path.Combine(_dir, "summary.json");
        File.CreateSymbolicLink(link, dev);
        var through = () => AtomicFile.WriteAllText(link, "x");
        through.Should().Throw<IOException>().WithMessage($"Output '{link}' (through a symbolic link to '{dev}') is a character device file*");
        Run("test", "-c", dev).Should().BeTrue("the device node must still be a device");
    }

    [Test]
    public void An_existing_directory_at_the_output_path_is_refused_naming_it()
    {
        string path = Path.Combine(_dir, "config.json");
        Directory.CreateDirectory(path);
        var act = () => AtomicFile.WriteAllText(path, "{}");
        act.Should().Throw<IOException>().WithMessage($"Output '{path}' is an existing directory; expected a regular file or a new file name*");
        Directory.Exists(path).Should().BeTrue();
    }

    [Test]
    public void A_file_where_a_parent_directory_is_needed_is_named_in_the_error()
    {
        string file = Path.Combine(_dir, "run");
        File.WriteAllText(file, "I am a file");
        string path = Path.Combine(file, "sub", "summary.json");
        var act = () => AtomicFile.WriteAllText(path, "{}");
        act.Should().Throw<IOException>().WithMessage($"Cannot write '{path}': '{file}' is a regular file, not a directory; expected a directory there.");
    }

    [Test]
    public void A_read_only_directory_is_reported_with_the_output_path_not_the_temporary_name()
    {
        if (OperatingSystem.IsWindows()) { Assert.Ignore("Unix permissions only."); return; }
        if (Environment.UserName == "root" || Run("test", "-w", "/proc/1/root"))
            Assert.Ignore("Running as root, which writes into read-only directories; the permission case cannot be built here.");
        string ro = Path.Combine(_dir, "ro");
        Directory.CreateDirectory(ro);
        File.SetUnixFileMode(ro, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        try
        {
            string path = Path.Combine(ro, "summary.json");
            var act = () => AtomicFile.WriteAllText(path, "{}");
            var e = act.Should().Throw<UnauthorizedAccessException>().Which;
            e.Message.Should().Be($"Cannot write '{path}': permission denied in directory '{ro}'; expected a writable directory.");
        }
        finally
        {
            File.SetUnixFileMode(ro, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    [Test]
    public void File_system_errors_that_quote_the_temporary_name_are_reworded_to_name_the_output()
    {
        string path = Path.Combine(_dir, "eigenvalues.npy");
        var act = () => AtomicFile.Write(path, (string tmp) => throw new IOException($"No space left on device : '{tmp}'"));
        var e = act.Should().Throw<IOException>().Which;
        e.Message.Should().Be($"Cannot write '{path}': No space left on device : 'its temporary file'");
        e.Message.Should().NotContain(".tmp");
    }

    // ------------------------------------------------------------ stale temporaries

    static int DeadPid()
    {
        // A child that has exited and been reaped: its pid runs nothing until reused.
        using var p = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        p.WaitForExit();
        int pid = p.Id;
        return Directory.Exists($"/proc/{pid}") ? 0 : pid;
    }

    [Test]
    public void Temporary_files_of_the_same_output_left_by_a_dead_process_are_removed_on_the_next_write()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("Linux /proc is used to tell live pids.");
        int dead = DeadPid();
        if (dead == 0) Assert.Ignore("The exited child's pid was reused at once.");
        string path = Path.Combine(_dir, "checkpoint.bin");
        string stale = Path.Combine(_dir, $".checkpoint.{dead}.{Guid.NewGuid():N}.tmp.bin");
        string live = Path.Combine(_dir, $".checkpoint.1.{Guid.NewGuid():N}.tmp.bin");           // pid 1 always runs
        string mine = Path.Combine(_dir, $".checkpoint.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp.bin"); // another thread of ours
        string other = Path.Combine(_dir, $".summary.{dead}.{Guid.NewGuid():N}.tmp.json");       // another output's
        string lookalike = Path.Combine(_dir, $".checkpoint.{dead}.not-a-guid.tmp.bin");
        foreach (string f in new[] { stale, live, mine, other, lookalike }) File.WriteAllText(f, "half");

        AtomicFile.WriteAllBytes(path, [1]);

        File.Exists(stale).Should().BeFalse("its writer is dead");
        File.Exists(live).Should().BeTrue();
        File.Exists(mine).Should().BeTrue();
        File.Exists(other).Should().BeTrue("only temporaries of the output being written are cleaned");
        File.Exists(lookalike).Should().BeTrue("only names in the exact temporary pattern are touched");
        File.ReadAllBytes(path).Should().Equal(1);
    }

    [Test]
    public void The_temporary_name_is_a_hidden_sibling_that_keeps_the_extension_and_carries_pid_and_guid()
    {
        string path = Path.Combine(_dir, "checkpoint.bin");
        string seen = "";
        AtomicFile.Write(path, (string tmp) => { seen = tmp; File.WriteAllBytes(tmp, [1]); });
        Path.GetDirectoryName(seen).Should().Be(_dir);
        Path.GetFileName(seen).Should().MatchRegex($"^\\.checkpoint\\.{Environment.ProcessId}\\.[0-9a-f]{{32}}\\.tmp\\.bin$");
    }

    [Test]
    public void Text_and_byte_writes_are_flushed_through_one_stream_and_read_back_exactly()
    {
        string path = Path.Combine(_dir, "t.txt");
        AtomicFile.WriteAllText(path, "λ₁ = 3.5\n");
        File.ReadAllBytes(path).Should().Equal(System.Text.Encoding.UTF8.GetBytes("λ₁ = 3.5\n"), "UTF-8 without a byte-order mark");
    }
}

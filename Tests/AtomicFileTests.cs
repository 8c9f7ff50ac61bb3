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
}

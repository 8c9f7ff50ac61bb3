using Curvature.Core;
using FluentAssertions;
using NUnit.Framework;

namespace Curvature.Tests;

public class BlasTests
{
    [Test]
    public void Native_backend_is_loaded_on_a_machine_set_up_by_the_setup_script()
    {
        Blas.Native.Should().NotBeNull(Blas.ProbeDiagnostics);
    }
}

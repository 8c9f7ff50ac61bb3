// Shared by every notebook (#load "Notebook.csx" after the #r lines): inline plots, tables and checks.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Formatting;

// The kernel loads the libraries from ../Cli/bin/Release/net10.0 but does not know where their
// native Skia libraries live (runtimes/<rid>/native): point SkiaSharp and HarfBuzz there.
static string NotebookBin = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(typeof(Curvature.Models.Checks).Assembly.Location)!));
static IntPtr ResolveNative(string name, System.Reflection.Assembly assembly, DllImportSearchPath? path)
{
    string file = Path.Combine(NotebookBin, "runtimes", RuntimeInformation.RuntimeIdentifier, "native",
        (OperatingSystem.IsWindows() ? "" : "lib") + name.Replace("lib", "") + (OperatingSystem.IsWindows() ? ".dll" : OperatingSystem.IsMacOS() ? ".dylib" : ".so"));
    return File.Exists(file) ? NativeLibrary.Load(file) : IntPtr.Zero;
}
try { NativeLibrary.SetDllImportResolver(typeof(SkiaSharp.SKImage).Assembly, ResolveNative); } catch (InvalidOperationException) { }
try { NativeLibrary.SetDllImportResolver(typeof(HarfBuzzSharp.Blob).Assembly, ResolveNative); } catch (InvalidOperationException) { }

/// <summary>Shows a ScottPlot figure inline as a PNG.</summary>
static void Show(ScottPlot.Plot plot, int width = 640, int height = 380)
{
    var png = plot.GetImageBytes(width, height, ScottPlot.ImageFormat.Png);
    $"<img src=\"data:image/png;base64,{Convert.ToBase64String(png)}\" width=\"{width}\" height=\"{height}\"/>".DisplayAs("text/html");
}

/// <summary>Six significant digits; 1.2345e-07 rather than .NET's 1.2345E-007 far from 1.</summary>
static string Number(double d) =>
    d == 0 || !double.IsFinite(d) || Math.Abs(d) is >= 1e-4 and < 1e6
        ? d.ToString("G6", System.Globalization.CultureInfo.InvariantCulture)
        : d.ToString("0.#####e+00", System.Globalization.CultureInfo.InvariantCulture);

/// <summary>Shows rows of values as an HTML table with the given header.</summary>
static void Table(IEnumerable<string> header, IEnumerable<IEnumerable<object>> rows)
{
    string Cell(object v) => System.Net.WebUtility.HtmlEncode(v is double d ? Number(d) : v?.ToString() ?? "");
    var html = new System.Text.StringBuilder("<table><tr>");
    foreach (var h in header) html.Append("<th>").Append(System.Net.WebUtility.HtmlEncode(h)).Append("</th>");
    html.Append("</tr>");
    foreach (var row in rows)
    {
        html.Append("<tr>");
        foreach (var v in row) html.Append("<td>").Append(Cell(v)).Append("</td>");
        html.Append("</tr>");
    }
    html.Append("</table>");
    html.ToString().DisplayAs("text/html");
}

/// <summary>Fails the cell (and the headless run) when a statement of the lesson is false.</summary>
static void Check(bool holds, string statement)
{
    if (!holds) throw new Exception("Check failed: " + statement);
    Console.WriteLine("✓ " + statement);
}

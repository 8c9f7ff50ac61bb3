using System.Globalization;
using System.Runtime.CompilerServices;

namespace Curvature.Core;

/// <summary>
/// Argument checks whose messages name the argument, the value received and what was
/// expected, so a CLI can print the message as the whole error line.
/// </summary>
public static class Guard
{
    static string Show(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Throws unless <paramref name="value"/> is positive and finite.</summary>
    public static void Positive(double value, [CallerArgumentExpression(nameof(value))] string name = "")
    {
        if (!(value > 0) || !double.IsFinite(value))
            throw new ArgumentOutOfRangeException(name, $"Argument '{name}' was {Show(value)}; expected a positive finite number.");
    }

    /// <summary>Throws unless <paramref name="value"/> is non-negative and finite.</summary>
    public static void NonNegative(double value, [CallerArgumentExpression(nameof(value))] string name = "")
    {
        if (!(value >= 0) || !double.IsFinite(value))
            throw new ArgumentOutOfRangeException(name, $"Argument '{name}' was {Show(value)}; expected a non-negative finite number.");
    }

    /// <summary>Throws unless <paramref name="value"/> is finite.</summary>
    public static void Finite(double value, [CallerArgumentExpression(nameof(value))] string name = "")
    {
        if (!double.IsFinite(value))
            throw new ArgumentOutOfRangeException(name, $"Argument '{name}' was {Show(value)}; expected a finite number.");
    }

    /// <summary>Throws unless <paramref name="value"/> is a positive integer.</summary>
    public static void Positive(int value, [CallerArgumentExpression(nameof(value))] string name = "")
    {
        if (value <= 0)
            throw new ArgumentOutOfRangeException(name, $"Argument '{name}' was {value}; expected a positive integer.");
    }

    /// <summary>Throws unless <paramref name="value"/> is a non-negative integer.</summary>
    public static void NonNegative(int value, [CallerArgumentExpression(nameof(value))] string name = "")
    {
        if (value < 0)
            throw new ArgumentOutOfRangeException(name, $"Argument '{name}' was {value}; expected a non-negative integer.");
    }

    /// <summary>Checks lo ≤ value ≤ hi (inclusive).</summary>
    public static void InRange(int value, int lo, int hi, [CallerArgumentExpression(nameof(value))] string name = "")
    {
        if (value < lo || value > hi)
            throw new ArgumentOutOfRangeException(name, $"Argument '{name}' was {value}; expected an integer in [{lo}, {hi}].");
    }

    /// <summary>Checks lo ≤ value ≤ hi (inclusive).</summary>
    public static void InRange(double value, double lo, double hi, [CallerArgumentExpression(nameof(value))] string name = "")
    {
        if (!(value >= lo && value <= hi))
            throw new ArgumentOutOfRangeException(name, $"Argument '{name}' was {Show(value)}; expected a number in [{Show(lo)}, {Show(hi)}].");
    }

    /// <summary>Throws unless <paramref name="span"/> has exactly <paramref name="expected"/> elements.</summary>
    public static void Length<T>(ReadOnlySpan<T> span, int expected, string name)
    {
        if (span.Length != expected)
            throw new ArgumentException($"Argument '{name}' has length {span.Length}; expected length {expected}.", name);
    }

    /// <summary>Throws unless <paramref name="span"/> has at least <paramref name="expected"/> elements.</summary>
    public static void AtLeast<T>(ReadOnlySpan<T> span, int expected, string name)
    {
        if (span.Length < expected)
            throw new ArgumentException($"Argument '{name}' has length {span.Length}; expected at least {expected}.", name);
    }

    /// <summary>Throws, naming the first offending index, unless every value is finite.</summary>
    public static void AllFinite(ReadOnlySpan<double> values, string name)
    {
        for (int i = 0; i < values.Length; i++)
            if (!double.IsFinite(values[i]))
                throw new ArgumentException($"Argument '{name}' has {Show(values[i])} at index {i}; expected finite values.", name);
    }

    /// <summary>Throws <see cref="ArgumentNullException"/> when <paramref name="value"/> is null.</summary>
    public static void NotNull<T>(T? value, [CallerArgumentExpression(nameof(value))] string name = "") where T : class
    {
        if (value is null)
            throw new ArgumentNullException(name, $"Argument '{name}' was null; expected a value.");
    }
}

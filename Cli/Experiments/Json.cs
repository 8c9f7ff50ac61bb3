using Curvature.Core;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Curvature.Cli.Experiments;

/// <summary>JSON output: indented, camel-case, NaN and ±∞ written as the strings "NaN", "Infinity".</summary>
public static class Json
{
    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);

    public static void Save<T>(string path, T value) => AtomicFile.WriteAllText(path, Serialize(value) + "\n");

    public static T Load<T>(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"File '{path}' does not exist; expected a JSON file.", path);
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(path), Options)
                ?? throw new InvalidDataException($"File '{path}' holds JSON null; expected an object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"File '{path}' is not valid JSON for {typeof(T).Name}: {e.Message}", e);
        }
    }
}

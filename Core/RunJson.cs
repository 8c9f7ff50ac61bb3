using System.Reflection;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Curvature.Core;

/// <summary>
/// The one JSON style of every file Curvature writes and reads: indented snake_case, enums as
/// their command-line names (<see cref="CliNameAttribute"/>: "bulk", "h"; other enums snake_case), and a non-finite number (NaN, ±∞: a diverged loss, a missing metric)
/// written as null, so that every JSON reader (Python's json, jq, pandas) accepts the file.
/// Reading accepts null (as NaN) and, for files written before 0.2, the strings "NaN",
/// "Infinity" and "-Infinity". Every summary.json also carries the tool's <see cref="Version"/>.
/// </summary>
public static class RunJson
{
    /// <summary>The serializer options.</summary>
    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        // Relaxed escaping writes the version's '+' (0.2.0+commit), λ and ‖ as themselves, not \u002B.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new FiniteOrNullConverter(), new NullableFiniteOrNullConverter(), new CliNameEnumConverter(), new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>
    /// The version of Curvature (the assemblies' informational version, e.g. 0.2.0 or
    /// 0.2.0+commit), printed by <c>curvature --version</c> and written into every summary.json.
    /// </summary>
    public static string Version { get; } = VersionOf(typeof(RunJson).Assembly);

    /// <summary>The format of config.json that this build writes (its <c>format</c> field); files without one are format 1.</summary>
    public const int ConfigFormat = 2;

    /// <summary>The informational version of <paramref name="assembly"/> (its assembly version when it has none).</summary>
    public static string VersionOf(System.Reflection.Assembly assembly)
    {
        Guard.NotNull(assembly);
        return assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString() ?? "unknown";
    }

    /// <summary>The value as indented JSON text.</summary>
    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);

    /// <summary>
    /// Writes the value to <paramref name="path"/> atomically, with a final newline. A file
    /// named summary.json whose value is a JSON object gets a leading <c>version</c> field
    /// (<see cref="Version"/>) when it has none, so every run records the tool that made it.
    /// </summary>
    public static void Save<T>(string path, T value)
    {
        Guard.NotNull(path);
        string text = Serialize(value);
        if (string.Equals(Path.GetFileName(path), "summary.json", StringComparison.Ordinal))
            text = WithVersion(text);
        AtomicFile.WriteAllText(path, text + "\n");
    }

    /// <summary>The JSON object text with <c>"version": <see cref="Version"/></c> as its first field (unchanged when it is not an object or already has one).</summary>
    public static string WithVersion(string json)
    {
        if (System.Text.Json.Nodes.JsonNode.Parse(json) is not System.Text.Json.Nodes.JsonObject obj || obj.ContainsKey("version"))
            return json;
        var withVersion = new System.Text.Json.Nodes.JsonObject { ["version"] = Version };
        foreach (var (key, node) in obj.ToList())
        {
            obj.Remove(key);
            withVersion[key] = node;
        }
        return withVersion.ToJsonString(Options);
    }

    /// <summary>Reads a value; a missing or malformed file raises an exception naming the path.</summary>
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

    /// <summary>
    /// An enum whose members carry <see cref="CliNameAttribute"/>, as its command-line name; reading
    /// also accepts the aliases, the member name and the snake_case spelling older files used.
    /// </summary>
    sealed class CliNameEnumConverter : JsonConverterFactory
    {
        public override bool CanConvert(Type typeToConvert) =>
            typeToConvert.IsEnum && typeToConvert.GetFields(BindingFlags.Public | BindingFlags.Static).Any(f => f.GetCustomAttribute<CliNameAttribute>() is not null);

        public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
            (JsonConverter)Activator.CreateInstance(typeof(Of<>).MakeGenericType(typeToConvert))!;

        sealed class Of<T> : JsonConverter<T> where T : struct, Enum
        {
            public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
            {
                if (reader.TokenType != JsonTokenType.String)
                    throw new JsonException($"Expected one of {CliNames.Expected<T>()} as a string; found {reader.TokenType}.");
                string? text = reader.GetString();
                if (CliNames.TryParse<T>(text, out var v)) return v;
                if (CliNames.TryParse(typeof(T), text) is T legacy) return legacy;
                throw new JsonException($"Expected one of {CliNames.Expected<T>()}; found '{text}'.");
            }

            public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) => writer.WriteStringValue(CliNames.Name(value));
        }
    }

    /// <summary>
    /// Reads a config file strictly: every key must be a field of <typeparamref name="T"/> (an
    /// unknown or misspelled key is refused, naming it and the file); a <c>format</c> above
    /// <see cref="ConfigFormat"/> is refused; an object field with required sub-objects
    /// (<paramref name="requiredKeys"/>, e.g. run) must have them; a value of the wrong type names
    /// its field and what was expected. Every refusal is an ArgumentException whose message names the field.
    /// </summary>
    public static T LoadStrict<T>(string path, params string[] requiredKeys)
    {
        Guard.NotNull(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"File '{path}' does not exist; expected a JSON file.", path);
        string text = File.ReadAllText(path);
        System.Text.Json.Nodes.JsonNode? root;
        try { root = System.Text.Json.Nodes.JsonNode.Parse(text); }
        catch (JsonException e) { throw new ArgumentException($"File '{path}' is not valid JSON: {e.Message}", "config", e); }
        if (root is not System.Text.Json.Nodes.JsonObject obj)
            throw new ArgumentException($"File '{path}' holds {(root is null ? "null" : root.GetValueKind().ToString().ToLowerInvariant())}; expected a JSON object.", "config");
        if (obj.TryGetPropertyValue("format", out var f) && f is not null
            && (f.GetValueKind() != JsonValueKind.Number || !f.AsValue().TryGetValue(out int format) || format < 1 || format > ConfigFormat))
            throw new ArgumentException($"File '{path}' has format {f.ToJsonString()}; expected 1 to {ConfigFormat} (a later format is written by a newer curvature).", "config");
        foreach (var key in requiredKeys)
            if (!obj.ContainsKey(key))
                throw new ArgumentException($"File '{path}' has no '{key}'; expected the '{key}' object a config.json of this command holds.", "config");
        try
        {
            return JsonSerializer.Deserialize<T>(text, Strict)
                ?? throw new ArgumentException($"File '{path}' holds JSON null; expected an object.", "config");
        }
        catch (JsonException e)
        {
            string where = e.Path ?? "$";
            string field = where.Split('.')[^1].Split('[')[0];
            var unknown = System.Text.RegularExpressions.Regex.Match(e.Message, "The JSON property '([^']*)' could not be mapped");
            if (unknown.Success)
                throw new ArgumentException($"File '{path}' has the unknown key '{unknown.Groups[1].Value}' at {where}; expected only the fields a config.json of this command holds (docs/cli.md).", "config", e);
            var type = System.Text.RegularExpressions.Regex.Match(e.Message, @"converted to ([\w.`\[\]]+)");
            // The enum converter says what it expects ("Expected one of sgd, dom, bulk or interp; found 'x'.").
            var ours = System.Text.RegularExpressions.Regex.Match(e.Message, "^Expected ([^;]*)");
            string expected = ours.Success ? ours.Groups[1].Value.TrimEnd('.') : type.Success ? Expected(type.Groups[1].Value.TrimEnd('.')) : "a value of the field's type";
            throw new ArgumentException($"File '{path}': field '{field}' ({where}) has a value of the wrong type or range; expected {expected}.", field, e);
        }
    }

    static readonly JsonSerializerOptions Strict = new(Options) { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };

    static string Expected(string dotnetType) => dotnetType.Replace("System.Nullable`1[", "").TrimEnd(']') switch
    {
        "System.UInt64" => "a non-negative integer",
        "System.Int32" or "System.Int64" => "an integer",
        "System.Double" => "a number",
        "System.Boolean" => "true or false",
        "System.String" => "a string",
        var t when t.Contains("IReadOnlyList", StringComparison.Ordinal) => "a list",
        var t => "a value of type " + t[(t.LastIndexOf('.') + 1)..],
    };

    /// <summary>double as a JSON number, or null when it is NaN or ±∞ (read back as NaN).</summary>
    sealed class FiniteOrNullConverter : JsonConverter<double>
    {
        public override bool HandleNull => true;

        public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.Null:
                    return double.NaN;
                case JsonTokenType.String:
                    return reader.GetString() switch
                    {
                        "NaN" => double.NaN,
                        "Infinity" => double.PositiveInfinity,
                        "-Infinity" => double.NegativeInfinity,
                        var t => throw new JsonException($"Expected a number or null; found the string '{t}'."),
                    };
                default:
                    return reader.GetDouble();
            }
        }

        public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
        {
            if (double.IsFinite(value)) writer.WriteNumberValue(value);
            else writer.WriteNullValue();
        }
    }

    /// <summary>double? as a JSON number, or null when it is null, NaN or ±∞ (null reads back as null).</summary>
    sealed class NullableFiniteOrNullConverter : JsonConverter<double?>
    {
        static readonly FiniteOrNullConverter Inner = new();

        public override bool HandleNull => true;

        public override double? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.TokenType == JsonTokenType.Null ? null : Inner.Read(ref reader, typeof(double), options);

        public override void Write(Utf8JsonWriter writer, double? value, JsonSerializerOptions options)
        {
            if (value is double v && double.IsFinite(v)) writer.WriteNumberValue(v);
            else writer.WriteNullValue();
        }
    }
}

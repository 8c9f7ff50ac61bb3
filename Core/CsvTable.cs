using System.Globalization;
using System.Text;

namespace Curvature.Core;

/// <summary>
/// A numeric table read from or written as CSV (a header line of column names, then one
/// line per row; invariant culture; empty cells and "NaN" read as NaN). This is the shape
/// of metrics.csv and sweep.csv.
/// </summary>
public sealed class CsvTable
{
    readonly Dictionary<string, int> _index;
    readonly List<double[]> _rows;

    /// <summary>Column names, in order.</summary>
    public IReadOnlyList<string> Columns { get; }
    /// <summary>Number of data rows.</summary>
    public int RowCount => _rows.Count;

    /// <summary>An empty table with these (distinct) columns.</summary>
    public CsvTable(IReadOnlyList<string> columns)
    {
        ArgumentNullException.ThrowIfNull(columns);
        _index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < columns.Count; i++)
            if (!_index.TryAdd(columns[i], i))
                throw new ArgumentException($"Argument 'columns' names '{columns[i]}' twice; expected distinct column names.", nameof(columns));
        Columns = columns.ToArray();
        _rows = new List<double[]>();
    }

    /// <summary>Whether the table has the column.</summary>
    public bool Has(string column) => _index.ContainsKey(column);

    /// <summary>Appends a row of one value per column.</summary>
    public void AddRow(params double[] values)
    {
        if (values.Length != Columns.Count)
            throw new ArgumentException($"Argument 'values' has {values.Length} entries; expected {Columns.Count} (one per column: {string.Join(",", Columns)}).", nameof(values));
        _rows.Add((double[])values.Clone());
    }

    /// <summary>The value in a row and column.</summary>
    public double this[int row, string column] => _rows[row][IndexOf(column)];

    /// <summary>The whole column, one value per row.</summary>
    public double[] Column(string column)
    {
        int c = IndexOf(column);
        var result = new double[_rows.Count];
        for (int r = 0; r < result.Length; r++) result[r] = _rows[r][c];
        return result;
    }

    int IndexOf(string column) =>
        _index.TryGetValue(column, out int c)
            ? c
            : throw new ArgumentException($"Argument 'column' was '{column}'; expected one of the table's columns: {string.Join(",", Columns)}.", nameof(column));

    /// <summary>A cell as written: shortest round-trip form, NaN as "NaN".</summary>
    public static string Format(double v) =>
        double.IsNaN(v) ? "NaN" : v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The table as CSV text.</summary>
    public string ToCsv()
    {
        var sb = new StringBuilder();
        sb.Append(string.Join(",", Columns)).Append('\n');
        foreach (var row in _rows)
        {
            for (int i = 0; i < row.Length; i++)
            {
                if (i > 0) sb.Append(',');
                sb.Append(Format(row[i]));
            }
            sb.Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>Writes the table atomically.</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, ToCsv());

    /// <summary>Reads a CSV file; errors name the file, line and column.</summary>
    public static CsvTable Load(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Argument 'path' was '{path}'; expected an existing CSV file.", path);
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses numeric CSV text; <paramref name="source"/> names it in error messages.</summary>
    public static CsvTable Parse(string text, string source = "csv")
    {
        var lines = text.ReplaceLineEndings("\n").Split('\n');
        int n = lines.Length;
        while (n > 0 && lines[n - 1].Length == 0) n--;
        if (n == 0)
            throw new FormatException($"CSV '{source}' is empty; expected a header line of column names.");
        var table = new CsvTable(lines[0].Split(',').Select(s => s.Trim()).ToArray());
        for (int l = 1; l < n; l++)
        {
            var cells = lines[l].Split(',');
            if (cells.Length != table.Columns.Count)
                throw new FormatException($"CSV '{source}' line {l + 1} has {cells.Length} cells; expected {table.Columns.Count} (the header's columns).");
            var row = new double[cells.Length];
            for (int i = 0; i < cells.Length; i++)
            {
                string cell = cells[i].Trim();
                if (cell.Length == 0) { row[i] = double.NaN; continue; }
                if (!double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out row[i]))
                    throw new FormatException($"CSV '{source}' line {l + 1} column '{table.Columns[i]}' has '{cell}'; expected a number.");
            }
            table._rows.Add(row);
        }
        return table;
    }
}

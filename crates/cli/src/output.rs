//! Output formats (`-o json|yaml|wide|name`, a table by default) and the
//! aligned tables argocd prints.

use std::io::Write;

use anyhow::{Context, Result};
use clap::ValueEnum;
use serde_json::Value;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns.
    #[default]
    Table,
    /// The table with more columns.
    Wide,
    Json,
    Yaml,
    /// Only the names.
    Name,
}

/// Rows as columns separated by (at least) two spaces, each line ending
/// without trailing blanks.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

pub fn print_table(rows: &[Vec<String>]) {
    print!("{}", table(rows));
}

/// `value` as pretty JSON or YAML (a trailing newline either way).
pub fn serialize(value: &Value, format: Format) -> Result<String> {
    match format {
        Format::Yaml => serde_saphyr::to_string(value).context("writing YAML"),
        _ => serde_json::to_string_pretty(value)
            .map(|s| s + "\n")
            .context("writing JSON"),
    }
}

/// Prints `value` as JSON/YAML when `format` asks for one; false when the
/// caller should print its table instead.
pub fn print_structured(value: &Value, format: Format) -> Result<bool> {
    if !matches!(format, Format::Json | Format::Yaml) {
        return Ok(false);
    }
    let text = serialize(value, format)?;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("writing to standard output")?;
    Ok(true)
}

/// Prints a list answer (`{"items": [...]}`) as `format` asks: the items
/// as JSON or YAML, one name per line (the string at `name` in each item),
/// or the table `rows` makes of them.
pub fn print_list(
    list: &Value,
    format: Format,
    name: &str,
    rows: impl Fn(&[Value]) -> Vec<Vec<String>>,
) -> Result<()> {
    let items = list
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if print_structured(&serde_json::json!({ "items": items }), format)? {
        return Ok(());
    }
    if format == Format::Name {
        items.iter().for_each(|item| println!("{}", s(item, name)));
        return Ok(());
    }
    print_table(&rows(&items));
    Ok(())
}

/// The string at a JSON pointer, `""` when absent.
pub fn s(v: &Value, pointer: &str) -> String {
    match v.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// `key: value` lines with the values aligned (as `argocd app get`).
pub fn key_values(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        let key = format!("{k}:");
        out.push_str(format!("{key:<width$}  {v}").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_columns() {
        let rows = vec![
            vec!["NAME".into(), "STATUS".into(), "HEALTH".into()],
            vec!["guestbook".into(), "Synced".into(), "".into()],
        ];
        assert_eq!(
            table(&rows),
            "NAME       STATUS  HEALTH\nguestbook  Synced\n"
        );
        assert_eq!(table(&[]), "");
    }

    #[test]
    fn structured_output_parses_back() {
        let v = json!({"items": [{"metadata": {"name": "a"}}], "n": 1});
        let j = serialize(&v, Format::Json).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&j).unwrap(), v);
        let y = serialize(&v, Format::Yaml).unwrap();
        assert_eq!(serde_saphyr::from_str::<Value>(&y).unwrap(), v);
    }

    #[test]
    fn pointers_and_key_values() {
        let v = json!({"a": {"b": "x", "n": 3, "z": null}});
        assert_eq!(s(&v, "/a/b"), "x");
        assert_eq!(s(&v, "/a/n"), "3");
        assert_eq!(s(&v, "/a/z"), "");
        assert_eq!(s(&v, "/nope"), "");
        assert_eq!(
            key_values(&[("Name", "a".into()), ("Sync Policy", "".into())]),
            "Name:         a\nSync Policy:\n"
        );
    }
}

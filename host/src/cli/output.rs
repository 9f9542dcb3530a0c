//! Rendering list results the way `snf-manage` does: `--output-format pretty|csv|json`,
//! `-o/--output` to choose fields, `--filter-by "k=v,k2>=v2"`, `--no-headers`.

use std::cmp::Ordering;

use serde_json::{Map, Value};

/// Output format of every command.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Pretty,
    Csv,
    Json,
}

/// A comparison of `--filter-by`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// One `field<op>value` condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    pub field: String,
    pub op: Op,
    pub value: String,
}

/// Parses `k=v,k2>=v2` (operators `=`, `!=`, `>`, `>=`/`=>`, `<`, `<=`/`=<`).
pub fn parse_filters(text: &str) -> Result<Vec<Filter>, String> {
    const OPS: &[(&str, Op)] = &[
        (">=", Op::Ge),
        ("=>", Op::Ge),
        ("<=", Op::Le),
        ("=<", Op::Le),
        ("!=", Op::Ne),
        (">", Op::Gt),
        ("<", Op::Lt),
        ("=", Op::Eq),
    ];
    text.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            let (pos, token, op) = OPS
                .iter()
                .filter_map(|(token, op)| part.find(token).map(|pos| (pos, *token, *op)))
                .min_by_key(|(pos, token, _)| (*pos, std::cmp::Reverse(token.len())))
                .ok_or_else(|| {
                    format!("bad filter '{part}': expected FIELD=VALUE (or !=, >, >=, <, <=)")
                })?;
            let field = part[..pos].trim();
            if field.is_empty() {
                return Err(format!("bad filter '{part}': missing field name"));
            }
            Ok(Filter {
                field: field.to_string(),
                op,
                value: part[pos + token.len()..].trim().to_string(),
            })
        })
        .collect()
}

fn compare(actual: &Value, wanted: &str) -> Option<Ordering> {
    match (actual, wanted) {
        (Value::Null, "None" | "none" | "null" | "") => return Some(Ordering::Equal),
        (Value::Bool(b), w) => {
            let w = match w.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => return None,
            };
            return Some(b.cmp(&w));
        }
        _ => {}
    }
    let text = cell(actual);
    match (text.parse::<f64>(), wanted.parse::<f64>()) {
        (Ok(a), Ok(b)) => a.partial_cmp(&b),
        _ => Some(text.as_str().cmp(wanted)),
    }
}

/// Whether a row satisfies every filter. A filter on a field the rows lack is an error.
pub fn matches(row: &Map<String, Value>, filters: &[Filter]) -> Result<bool, String> {
    for f in filters {
        let actual = row
            .get(&f.field)
            .ok_or_else(|| format!("cannot filter on unknown field '{}'", f.field))?;
        let ordering = compare(actual, &f.value);
        let keep = match (f.op, ordering) {
            (Op::Eq, o) => o == Some(Ordering::Equal),
            (Op::Ne, o) => o != Some(Ordering::Equal),
            (Op::Gt, o) => o == Some(Ordering::Greater),
            (Op::Ge, o) => matches!(o, Some(Ordering::Greater | Ordering::Equal)),
            (Op::Lt, o) => o == Some(Ordering::Less),
            (Op::Le, o) => matches!(o, Some(Ordering::Less | Ordering::Equal)),
        };
        if !keep {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A value as one table cell.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// How to print a list.
pub struct ListView<'a> {
    pub format: OutputFormat,
    /// Columns to show (already resolved from `-o` or the command's defaults).
    pub fields: &'a [String],
    pub headers: bool,
}

/// Renders `rows` (already filtered) with the chosen columns.
pub fn render(rows: &[Map<String, Value>], view: &ListView<'_>) -> Result<String, String> {
    for f in view.fields {
        if let Some(first) = rows.first()
            && !first.contains_key(f)
        {
            let known: Vec<&str> = first.keys().map(String::as_str).collect();
            return Err(format!("unknown field '{f}'; fields: {}", known.join(", ")));
        }
    }
    let pick = |row: &Map<String, Value>| -> Vec<Value> {
        view.fields
            .iter()
            .map(|f| row.get(f).cloned().unwrap_or(Value::Null))
            .collect()
    };
    Ok(match view.format {
        OutputFormat::Json => {
            let picked: Vec<Value> = rows
                .iter()
                .map(|row| {
                    Value::Object(
                        view.fields
                            .iter()
                            .map(|f| (f.clone(), row.get(f).cloned().unwrap_or(Value::Null)))
                            .collect(),
                    )
                })
                .collect();
            serde_json::to_string_pretty(&picked).unwrap_or_default() + "\n"
        }
        OutputFormat::Csv => {
            let mut out = String::new();
            if view.headers {
                out += &view
                    .fields
                    .iter()
                    .map(|f| csv_field(f))
                    .collect::<Vec<_>>()
                    .join(",");
                out.push('\n');
            }
            for row in rows {
                out += &pick(row)
                    .iter()
                    .map(|v| csv_field(&cell(v)))
                    .collect::<Vec<_>>()
                    .join(",");
                out.push('\n');
            }
            out
        }
        OutputFormat::Pretty => {
            let mut table = comfy_table::Table::new();
            table.load_preset(comfy_table::presets::ASCII_MARKDOWN);
            if view.headers {
                table.set_header(view.fields.iter().map(String::as_str));
            }
            for row in rows {
                table.add_row(pick(row).iter().map(cell));
            }
            format!("{table}\n")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn filters_parse_every_operator() {
        let f = parse_filters("a=1,b!=x,c>2,d>=3,e<4,f<=5,g=>6,h=<7").unwrap();
        let ops: Vec<Op> = f.iter().map(|f| f.op).collect();
        assert_eq!(
            ops,
            vec![
                Op::Eq,
                Op::Ne,
                Op::Gt,
                Op::Ge,
                Op::Lt,
                Op::Le,
                Op::Ge,
                Op::Le
            ]
        );
        assert_eq!(f[3].field, "d");
        assert_eq!(f[3].value, "3");
        assert!(parse_filters("novalue").is_err());
        assert!(parse_filters("=3").is_err());
    }

    #[test]
    fn filters_compare_numbers_bools_and_text() {
        let r = row(json!({"limit": 10, "admin": true, "name": "demo", "email": null}));
        let m = |s: &str| matches(&r, &parse_filters(s).unwrap()).unwrap();
        assert!(m("limit>9"));
        assert!(!m("limit>10"));
        assert!(m("limit>=10,limit<=10"));
        assert!(m("admin=True"));
        assert!(m("name!=admin"));
        assert!(m("email=None"));
        assert!(matches(&r, &parse_filters("nope=1").unwrap()).is_err());
    }

    #[test]
    fn renders_csv_json_and_pretty() {
        let rows = vec![row(
            json!({"id": "1", "name": "a,b", "projects": ["x", "y"]}),
        )];
        let fields = vec!["id".to_string(), "name".to_string(), "projects".to_string()];
        let view = |format, headers| ListView {
            format,
            fields: &fields,
            headers,
        };
        assert_eq!(
            render(&rows, &view(OutputFormat::Csv, true)).unwrap(),
            "id,name,projects\n1,\"a,b\",\"x,y\"\n"
        );
        assert_eq!(
            render(&rows, &view(OutputFormat::Csv, false)).unwrap(),
            "1,\"a,b\",\"x,y\"\n"
        );
        let json: Value =
            serde_json::from_str(&render(&rows, &view(OutputFormat::Json, true)).unwrap()).unwrap();
        assert_eq!(json[0]["name"], "a,b");
        assert!(
            render(&rows, &view(OutputFormat::Pretty, true))
                .unwrap()
                .contains("| a,b")
        );
        let bad = vec!["nope".to_string()];
        assert!(
            render(
                &rows,
                &ListView {
                    format: OutputFormat::Csv,
                    fields: &bad,
                    headers: true
                }
            )
            .is_err()
        );
    }
}

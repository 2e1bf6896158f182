//! The functions templates may call: Go's built-ins and the Sprig
//! functions Argo CD templates commonly use, plus Argo CD's own
//! `normalize`, `slugify`, `toYaml`, `fromYaml` and `fromYamlArray`.
//!
//! Sprig's argument order holds: the piped value comes last
//! (`.x | default "d"` is `default "d" .x`).

use std::fmt::Write as _;

use base64::Engine as _;
use serde_json::Value;
use sha2::Digest as _;

type R = Result<Value, String>;

pub(super) fn call(name: &str, args: &[Value]) -> R {
    let s = |i: usize| args.get(i).map(to_string).unwrap_or_default();
    let last = || args.last().cloned().unwrap_or(Value::Null);
    let n_args = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!(
                "wrong number of args: want {n}, got {}",
                args.len()
            ))
        }
    };
    let str_fn = |n: usize, f: &dyn Fn(&str) -> String| -> R {
        n_args(n)?;
        Ok(Value::String(f(&s(n - 1))))
    };
    match name {
        // Go built-ins.
        "and" => Ok(args
            .iter()
            .find(|v| !super::truth(v))
            .cloned()
            .unwrap_or_else(last)),
        "or" => Ok(args
            .iter()
            .find(|v| super::truth(v))
            .cloned()
            .unwrap_or_else(last)),
        "not" => {
            n_args(1)?;
            Ok(Value::Bool(!super::truth(&args[0])))
        }
        "eq" => {
            let (first, rest) = args.split_first().ok_or("missing arguments")?;
            Ok(Value::Bool(rest.iter().any(|v| equal(first, v))))
        }
        "ne" => {
            n_args(2)?;
            Ok(Value::Bool(!equal(&args[0], &args[1])))
        }
        "lt" | "le" | "gt" | "ge" => {
            n_args(2)?;
            let ord = compare(&args[0], &args[1])?;
            Ok(Value::Bool(match name {
                "lt" => ord.is_lt(),
                "le" => ord.is_le(),
                "gt" => ord.is_gt(),
                _ => ord.is_ge(),
            }))
        }
        "len" => {
            n_args(1)?;
            Ok(Value::from(match &args[0] {
                Value::String(s) => s.len(),
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                Value::Null => 0,
                other => return Err(format!("len of {}", super::type_name(other))),
            }))
        }
        "index" => {
            let (first, keys) = args.split_first().ok_or("missing arguments")?;
            let mut current = first.clone();
            for key in keys {
                current = match (&current, key) {
                    (Value::Array(a), k) => {
                        let i = k.as_i64().ok_or("index of a list must be an integer")?;
                        usize::try_from(i)
                            .ok()
                            .and_then(|i| a.get(i))
                            .cloned()
                            .ok_or_else(|| format!("index out of range: {i}"))?
                    }
                    (Value::Object(m), k) => m.get(&to_string(k)).cloned().unwrap_or(Value::Null),
                    (Value::Null, _) => Value::Null,
                    (other, _) => {
                        return Err(format!(
                            "can't index item of type {}",
                            super::type_name(other)
                        ));
                    }
                };
            }
            Ok(current)
        }
        "print" => Ok(Value::String(
            args.iter().map(print).collect::<Vec<_>>().join(""),
        )),
        "println" => Ok(Value::String(format!(
            "{}\n",
            args.iter().map(print).collect::<Vec<_>>().join(" ")
        ))),
        "printf" => {
            let (format, rest) = args.split_first().ok_or("missing format")?;
            Ok(Value::String(printf(&to_string(format), rest)))
        }
        // Sprig: defaults and logic.
        "default" => {
            n_args(2)?;
            Ok(if super::truth(&args[1]) {
                args[1].clone()
            } else {
                args[0].clone()
            })
        }
        "empty" => {
            n_args(1)?;
            Ok(Value::Bool(!super::truth(&args[0])))
        }
        "coalesce" => Ok(args
            .iter()
            .find(|v| super::truth(v))
            .cloned()
            .unwrap_or(Value::Null)),
        "ternary" => {
            n_args(3)?;
            Ok(if super::truth(&args[2]) {
                args[0].clone()
            } else {
                args[1].clone()
            })
        }
        // Sprig: strings.
        "lower" => str_fn(1, &|s| s.to_lowercase()),
        "upper" => str_fn(1, &|s| s.to_uppercase()),
        "title" => str_fn(1, &title),
        "trim" => str_fn(1, &|s| s.trim().to_string()),
        "nospace" => str_fn(1, &|s| s.chars().filter(|c| !c.is_whitespace()).collect()),
        "normalize" | "slugify" => str_fn(1, &crate::params::normalize),
        "quote" => Ok(Value::String(
            args.iter()
                .map(|v| format!("{:?}", to_string(v)))
                .collect::<Vec<_>>()
                .join(" "),
        )),
        "squote" => Ok(Value::String(
            args.iter()
                .map(|v| format!("'{}'", to_string(v)))
                .collect::<Vec<_>>()
                .join(" "),
        )),
        "toString" => str_fn(1, &|s| s.to_string()),
        "b64enc" => str_fn(1, &|s| base64::engine::general_purpose::STANDARD.encode(s)),
        "b64dec" => {
            n_args(1)?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s(0))
                .map_err(|e| e.to_string())?;
            Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        }
        "sha256sum" => str_fn(1, &|s| hex_of(&sha2::Sha256::digest(s.as_bytes()))),
        "trimPrefix" => {
            n_args(2)?;
            let (p, v) = (s(0), s(1));
            Ok(Value::String(v.strip_prefix(&p).unwrap_or(&v).to_string()))
        }
        "trimSuffix" => {
            n_args(2)?;
            let (p, v) = (s(0), s(1));
            Ok(Value::String(v.strip_suffix(&p).unwrap_or(&v).to_string()))
        }
        "trimAll" => {
            n_args(2)?;
            let cut: Vec<char> = s(0).chars().collect();
            Ok(Value::String(s(1).trim_matches(&cut[..]).to_string()))
        }
        "replace" => {
            n_args(3)?;
            Ok(Value::String(s(2).replace(&s(0), &s(1))))
        }
        "trunc" => {
            n_args(2)?;
            let n = args[0].as_i64().ok_or("trunc: length must be an integer")?;
            let v: Vec<char> = s(1).chars().collect();
            let len = i64::try_from(v.len()).unwrap_or(i64::MAX);
            let out: String = if n >= 0 {
                v.iter().take(usize::try_from(n).unwrap_or(0)).collect()
            } else {
                let skip = usize::try_from((len + n).max(0)).unwrap_or(0);
                v.iter().skip(skip).collect()
            };
            Ok(Value::String(out))
        }
        "substr" => {
            n_args(3)?;
            let (from, to) = (
                args[0].as_i64().ok_or("substr: start must be an integer")?,
                args[1].as_i64().ok_or("substr: end must be an integer")?,
            );
            let v: Vec<char> = s(2).chars().collect();
            let from = usize::try_from(from.max(0)).unwrap_or(0).min(v.len());
            let to = if to < 0 {
                v.len()
            } else {
                usize::try_from(to).unwrap_or(0).min(v.len())
            };
            Ok(Value::String(v[from..to.max(from)].iter().collect()))
        }
        "repeat" => {
            n_args(2)?;
            let n = args[0].as_u64().ok_or("repeat: count must be an integer")?;
            Ok(Value::String(s(1).repeat(usize::try_from(n).unwrap_or(0))))
        }
        "contains" => {
            n_args(2)?;
            Ok(Value::Bool(s(1).contains(&s(0))))
        }
        "hasPrefix" => {
            n_args(2)?;
            Ok(Value::Bool(s(1).starts_with(&s(0))))
        }
        "hasSuffix" => {
            n_args(2)?;
            Ok(Value::Bool(s(1).ends_with(&s(0))))
        }
        "cat" => Ok(Value::String(
            args.iter()
                .filter(|v| !v.is_null())
                .map(to_string)
                .collect::<Vec<_>>()
                .join(" "),
        )),
        "join" => {
            n_args(2)?;
            let items = match &args[1] {
                Value::Array(a) => a.iter().map(to_string).collect::<Vec<_>>(),
                other => vec![to_string(other)],
            };
            Ok(Value::String(items.join(&s(0))))
        }
        "splitList" => {
            n_args(2)?;
            Ok(Value::Array(
                s(1).split(&s(0)).map(|p| Value::String(p.into())).collect(),
            ))
        }
        // Sprig: lists and dicts.
        "list" => Ok(Value::Array(args.to_vec())),
        "dict" => {
            let mut map = serde_json::Map::new();
            for pair in args.chunks(2) {
                let value = pair.get(1).cloned().unwrap_or(Value::String(String::new()));
                map.insert(to_string(&pair[0]), value);
            }
            Ok(Value::Object(map))
        }
        "get" => {
            n_args(2)?;
            Ok(args[0]
                .get(s(1))
                .cloned()
                .unwrap_or(Value::String(String::new())))
        }
        "hasKey" => {
            n_args(2)?;
            Ok(Value::Bool(args[0].get(s(1)).is_some()))
        }
        "keys" => {
            let mut keys: Vec<String> = args
                .iter()
                .filter_map(Value::as_object)
                .flat_map(|m| m.keys().cloned())
                .collect();
            keys.sort();
            Ok(Value::Array(keys.into_iter().map(Value::String).collect()))
        }
        "first" => {
            n_args(1)?;
            Ok(args[0].get(0).cloned().unwrap_or(Value::Null))
        }
        "last" => {
            n_args(1)?;
            Ok(args[0]
                .as_array()
                .and_then(|a| a.last())
                .cloned()
                .unwrap_or(Value::Null))
        }
        // Sprig: numbers.
        "int" | "atoi" | "int64" => {
            n_args(1)?;
            Ok(Value::from(to_int(&args[0])))
        }
        "add" => Ok(Value::from(args.iter().map(to_int).sum::<i64>())),
        "add1" => {
            n_args(1)?;
            Ok(Value::from(to_int(&args[0]).saturating_add(1)))
        }
        "sub" | "mul" | "div" | "mod" => {
            n_args(2)?;
            let (a, b) = (to_int(&args[0]), to_int(&args[1]));
            Ok(Value::from(match name {
                "sub" => a.saturating_sub(b),
                "mul" => a.saturating_mul(b),
                "div" => a.checked_div(b).ok_or("integer divide by zero")?,
                _ => a.checked_rem(b).ok_or("integer divide by zero")?,
            }))
        }
        // Encodings.
        "toJson" | "mustToJson" => {
            n_args(1)?;
            serde_json::to_string(&args[0])
                .map(Value::String)
                .map_err(|e| e.to_string())
        }
        "toPrettyJson" => {
            n_args(1)?;
            serde_json::to_string_pretty(&args[0])
                .map(Value::String)
                .map_err(|e| e.to_string())
        }
        "fromJson" => {
            n_args(1)?;
            serde_json::from_str(&s(0)).map_err(|e| e.to_string())
        }
        "toYaml" => {
            n_args(1)?;
            serde_saphyr::to_string(&args[0])
                .map(|y| Value::String(y.trim_end().to_string()))
                .map_err(|e| e.to_string())
        }
        "fromYaml" | "fromYamlArray" => {
            n_args(1)?;
            serde_saphyr::from_str::<Value>(&s(0)).map_err(|e| e.to_string())
        }
        _ => Err(format!("function {name:?} not defined")),
    }
}

/// A value as Go's `fmt` prints it with `%v`; missing values as
/// `<no value>`.
pub(super) fn print(value: &Value) -> String {
    match value {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(print).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", print(&m[k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
        other => other.to_string(),
    }
}

/// A value as a string argument: strings as they are, others printed.
fn to_string(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        other => print(other),
    }
}

fn to_int(value: &Value) -> i64 {
    match value {
        Value::Number(n) => n
            .as_i64()
            // Go converts by truncation.
            .or_else(|| n.as_f64().map(|f| f as i64))
            .unwrap_or(0),
        Value::String(s) => s.trim().parse().unwrap_or(0),
        Value::Bool(b) => i64::from(*b),
        _ => 0,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .zip(y.as_f64())
            .and_then(|(x, y)| x.partial_cmp(&y))
            .ok_or_else(|| "incomparable numbers".to_string()),
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ => Err(format!(
            "incompatible types for comparison: {} and {}",
            super::type_name(a),
            super::type_name(b)
        )),
    }
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = c.is_whitespace();
    }
    out
}

fn hex_of(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s %v %d %q %t %f %x
/// %%`, with widths ignored except for `%f` precision.
fn printf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&d) = chars.peek() {
            if d.is_ascii_digit() || d == '.' || d == '-' || d == '+' {
                spec.push(d);
                chars.next();
            } else {
                break;
            }
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        match verb {
            'd' => {
                let _ = write!(out, "{}", to_int(arg));
            }
            'q' => {
                let _ = write!(out, "{:?}", to_string(arg));
            }
            'f' => {
                let precision = spec
                    .split_once('.')
                    .and_then(|(_, p)| p.parse::<usize>().ok())
                    .unwrap_or(6);
                let _ = write!(out, "{:.*}", precision, arg.as_f64().unwrap_or(0.0));
            }
            'x' => match arg {
                Value::Number(_) => {
                    let _ = write!(out, "{:x}", to_int(arg));
                }
                other => out.push_str(&hex_of(to_string(other).as_bytes())),
            },
            _ => out.push_str(&print(arg)),
        }
    }
    for extra in args {
        let _ = write!(out, "%!(EXTRA {})", print(extra));
    }
    out
}

//! What a plain scalar means: go-yaml's core-schema resolver.
//!
//! kustomize reads with go-yaml v3 (YAML 1.2 booleans only) and, when it
//! prints, asks go-yaml v2 whether a string would read back as something
//! else (v2 also knows YAML 1.1's `yes`/`no`/`on`/`off`/`y`/`n`). Both share
//! the rest: `~`/`null`, Go integer syntax with `0x`/`0o`/`0b`/leading-`0`
//! octal and `_` separators, YAML-style floats, `.inf`/`.nan`, timestamps.

use std::borrow::Cow;

use super::number::{self, GoInt};
use super::timestamp::{self, Timestamp};

/// The value a plain scalar resolves to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Resolved {
    Null,
    Bool(bool),
    Int(GoInt),
    /// Possibly infinite or NaN (`.inf`, `.nan`).
    Float(f64),
    Timestamp(Timestamp),
    Str,
}

impl Resolved {
    /// The short tag go-yaml reports for this resolution.
    pub(super) fn tag(&self) -> &'static str {
        match self {
            Resolved::Null => "!!null",
            Resolved::Bool(_) => "!!bool",
            Resolved::Int(_) => "!!int",
            Resolved::Float(_) => "!!float",
            Resolved::Timestamp(_) => "!!timestamp",
            Resolved::Str => "!!str",
        }
    }
}

/// Which go-yaml major version's booleans apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Booleans {
    /// go-yaml v3: `true`/`false` in three spellings.
    Yaml12,
    /// go-yaml v2: also `yes`/`no`/`on`/`off`/`y`/`n`.
    Yaml11,
}

fn lookup(s: &str, booleans: Booleans) -> Option<Resolved> {
    Some(match s {
        "true" | "True" | "TRUE" => Resolved::Bool(true),
        "false" | "False" | "FALSE" => Resolved::Bool(false),
        "~" | "null" | "Null" | "NULL" => Resolved::Null,
        ".nan" | ".NaN" | ".NAN" => Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Resolved::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Resolved::Float(f64::NEG_INFINITY),
        _ if booleans == Booleans::Yaml11 => match s {
            "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Resolved::Bool(true),
            "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Resolved::Bool(false),
            _ => return None,
        },
        _ => return None,
    })
}

/// Resolves plain text. `timestamps` is false when an explicit tag other
/// than `!!timestamp` asks for the text, as go-yaml then skips dates.
pub(super) fn resolve(s: &str, booleans: Booleans, timestamps: bool) -> Resolved {
    let Some(&first) = s.as_bytes().first() else {
        return Resolved::Null;
    };
    let numeric = match first {
        b'0'..=b'9' | b'+' | b'-' => true,
        b'.' | b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' => false,
        _ => return Resolved::Str,
    };
    if let Some(r) = lookup(s, booleans) {
        return r;
    }
    if first == b'.' {
        return number::parse_go_decimal_float(s).map_or(Resolved::Str, Resolved::Float);
    }
    if !numeric {
        return Resolved::Str;
    }
    if timestamps && let Some(t) = timestamp::parse(s) {
        return Resolved::Timestamp(t);
    }
    let plain: Cow<str> = if s.contains('_') {
        Cow::Owned(s.replace('_', ""))
    } else {
        Cow::Borrowed(s)
    };
    if let Some(i) = number::parse_go_int(&plain) {
        return Resolved::Int(i);
    }
    if number::is_yaml_style_float(&plain)
        && let Ok(f) = plain.parse::<f64>()
        && f.is_finite()
    {
        return Resolved::Float(f);
    }
    Resolved::Str
}

/// go-yaml v2's `isBase60Float`: `1:20`-style sexagesimal numbers, which v2
/// still quotes on output for YAML 1.1 readers.
pub(super) fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(&first) = b.first() else {
        return false;
    };
    if !(first == b'+' || first == b'-' || first.is_ascii_digit()) || !s.contains(':') {
        return false;
    }
    // ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
    let mut i = usize::from(first == b'+' || first == b'-');
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        let group = &b[start..i];
        let ok = match group {
            [d] => d.is_ascii_digit(),
            [a, _] => (b'0'..=b'5').contains(a),
            _ => false,
        };
        if !ok {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v3(s: &str) -> Resolved {
        resolve(s, Booleans::Yaml12, true)
    }

    #[test]
    fn resolution() {
        assert_eq!(v3("yes"), Resolved::Str);
        assert_eq!(resolve("yes", Booleans::Yaml11, true), Resolved::Bool(true));
        assert_eq!(v3("True"), Resolved::Bool(true));
        assert_eq!(v3(""), Resolved::Null);
        assert_eq!(v3("0755"), Resolved::Int(GoInt::Signed(493)));
        assert_eq!(v3("1_000"), Resolved::Int(GoInt::Signed(1000)));
        assert_eq!(v3("08"), Resolved::Float(8.0));
        assert_eq!(v3("1e3"), Resolved::Float(1000.0));
        assert_eq!(v3("1e400"), Resolved::Str);
        assert_eq!(v3(".5"), Resolved::Float(0.5));
        assert_eq!(v3("<<"), Resolved::Str);
        assert_eq!(v3("-"), Resolved::Str);
        assert!(matches!(v3("2001-12-14"), Resolved::Timestamp(_)));
        assert!(matches!(
            resolve("2001-12-14", Booleans::Yaml12, false),
            Resolved::Str
        ));
    }

    #[test]
    fn base60() {
        assert!(is_base60_float("1:20"));
        assert!(is_base60_float("-1_0:59:3.5"));
        assert!(!is_base60_float("1:60"));
        assert!(!is_base60_float("1:2:"));
        assert!(!is_base60_float("a:1"));
        // A two-digit group may not have a third digit.
        assert!(!is_base60_float("1:123"));
    }
}

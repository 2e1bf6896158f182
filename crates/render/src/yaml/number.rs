//! Numbers the way Go's `strconv` reads and writes them.
//!
//! kustomize resolves plain scalars with `strconv.ParseInt`/`ParseUint`/
//! `ParseFloat` and prints numbers through `encoding/json` and then
//! `strconv.FormatFloat(f, 'g', -1, 64)`; these helpers reproduce exactly
//! which texts parse and how a number is spelled on output.

use serde_json::Number;

/// A parsed integer: Go gives `int64` when it fits and `uint64` otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GoInt {
    Signed(i64),
    Unsigned(u64),
}

/// `strconv.ParseUint(s, 0, 64)`: base prefixes `0x`, `0o`, `0b` and a bare
/// leading `0` for octal. The caller has already removed underscores.
fn parse_uint_base0(s: &str) -> Option<u64> {
    let bytes = s.as_bytes();
    let (&first, _) = bytes.split_first()?;
    let (base, digits): (u64, &[u8]) = if first == b'0' {
        match bytes.get(1).map(u8::to_ascii_lowercase) {
            Some(b'b') if bytes.len() >= 3 => (2, &bytes[2..]),
            Some(b'o') if bytes.len() >= 3 => (8, &bytes[2..]),
            Some(b'x') if bytes.len() >= 3 => (16, &bytes[2..]),
            _ => (8, &bytes[1..]),
        }
    } else {
        (10, bytes)
    };
    let mut n: u64 = 0;
    for &c in digits {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'z' | b'A'..=b'Z' => c.to_ascii_lowercase() - b'a' + 10,
            _ => return None,
        };
        if u64::from(d) >= base {
            return None;
        }
        n = n.checked_mul(base)?.checked_add(u64::from(d))?;
    }
    Some(n)
}

/// `strconv.ParseInt(s, 0, 64)` and, when that fails, `ParseUint(s, 0, 64)`:
/// the integer go-yaml's resolver finds in a plain scalar.
pub(super) fn parse_go_int(s: &str) -> Option<GoInt> {
    let (neg, rest) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if let Some(un) = parse_uint_base0(rest) {
        const CUTOFF: u64 = 1 << 63;
        if !neg && un < CUTOFF {
            return i64::try_from(un).ok().map(GoInt::Signed);
        }
        if neg && un <= CUTOFF {
            return Some(GoInt::Signed(0i64.wrapping_sub_unsigned(un)));
        }
    }
    // ParseUint takes no sign, so only an unsigned value past i64 is left.
    if neg || s.starts_with('+') {
        return None;
    }
    parse_uint_base0(s).map(GoInt::Unsigned)
}

/// Whether Go accepts the underscores in `s` (`strconv.underscoreOK`): each
/// one must sit between digits (or after a base prefix).
fn underscores_ok(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let b = s.as_bytes();
    let mut i = 0;
    // The class of the previous character: start, digit, underscore, other.
    let mut saw = b'^';
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    while i < b.len() {
        let c = b[i];
        i += 1;
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
            continue;
        }
        if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
            continue;
        }
        if saw == b'_' {
            return false;
        }
        saw = b'!';
    }
    saw != b'_'
}

/// `strconv.ParseFloat(s, 64)` for the decimal forms a resolver can meet
/// (a scalar starting with `.`): mantissa digits with one point, an
/// optional exponent, Go's underscore rule. Overflow to infinity is a
/// failure, as Go reports it as a range error.
pub(super) fn parse_go_decimal_float(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let mut digits = false;
    let mut point = false;
    let mut underscores = false;
    while i < b.len() {
        match b[i] {
            b'_' => underscores = true,
            b'.' if !point => point = true,
            c if c.is_ascii_digit() => digits = true,
            _ => break,
        }
        i += 1;
    }
    if !digits {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !b.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            underscores |= b[i] == b'_';
            i += 1;
        }
    }
    if i != b.len() || (underscores && !underscores_ok(s)) {
        return None;
    }
    let f: f64 = if underscores {
        s.replace('_', "").parse().ok()?
    } else {
        s.parse().ok()?
    };
    f.is_finite().then_some(f)
}

/// go-yaml's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
pub(super) fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let run = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if run(&mut i) == 0 {
            return false;
        }
    } else {
        if run(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            run(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if run(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Appends `n` as kustomize prints it: Go's `encoding/json` spelling read
/// back by go-yaml v2 (integers stay integers, as long as they fit in 64
/// bits) and written with `FormatFloat(f, 'g', -1, 64)`.
pub(super) fn write_number(out: &mut String, n: &Number) {
    use std::fmt::Write;
    if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(f) = n.as_f64() {
        write_float(out, f);
    }
}

fn write_float(out: &mut String, f: f64) {
    // JSON prints integral values below 1e21 as their shortest digits padded
    // with zeros, which the YAML reader then takes as an integer when that
    // text fits in 64 bits.
    if f.fract() == 0.0 && f.abs() < 1e21 && f != 0.0 {
        let (digits, exp) = shortest_digits(f.abs());
        let mut text = String::with_capacity(24);
        if f < 0.0 {
            text.push('-');
        }
        text.push_str(&digits);
        let width = usize::try_from(exp + 1).unwrap_or(0);
        for _ in digits.len()..width {
            text.push('0');
        }
        if text.parse::<i64>().is_ok() || text.parse::<u64>().is_ok() {
            out.push_str(&text);
            return;
        }
    }
    write_go_g(out, f);
}

/// The shortest round-trip decimal digits of a positive finite `f` and the
/// exponent of the first one (`1234.5` gives `("12345", 3)`).
fn shortest_digits(f: f64) -> (String, i32) {
    // Rust's `{:e}` gives the same shortest round-trip digits Go uses.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exp.parse().unwrap_or(0))
}

/// `strconv.FormatFloat(f, 'g', -1, 64)` for a finite `f`.
fn write_go_g(out: &mut String, f: f64) {
    if f == 0.0 {
        // JSON writes `-0`, which reads back as the integer 0.
        out.push('0');
        return;
    }
    let (digits, exp) = shortest_digits(f.abs());
    write_g_digits(out, f < 0.0, &digits, exp);
}

/// `strconv.FormatFloat(f, 'g', -1, 32)`, which sigs.k8s.io/yaml uses to
/// turn a float map key into a string.
pub(super) fn format_float32_g(f: f64) -> String {
    let f = f as f32;
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::with_capacity(16);
    write_g_digits(&mut out, f < 0.0, &digits, exp.parse().unwrap_or(0));
    out
}

/// The `'g'` layout of shortest digits: exponent form below 1e-4 and from
/// 1e6 on (with at least two exponent digits), plain decimals between.
fn write_g_digits(out: &mut String, negative: bool, digits: &str, exp: i32) {
    use std::fmt::Write;
    if negative {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exp.unsigned_abs());
        return;
    }
    // Decimal point position: digits before it.
    let dp = exp + 1;
    if dp <= 0 {
        out.push_str("0.");
        for _ in 0..-dp {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let dp = dp.unsigned_abs() as usize;
        if digits.len() <= dp {
            out.push_str(digits);
            for _ in digits.len()..dp {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..dp]);
            out.push('.');
            out.push_str(&digits[dp..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(f: f64) -> String {
        let mut s = String::new();
        write_float(&mut s, f);
        s
    }

    #[test]
    fn go_ints() {
        assert_eq!(parse_go_int("0755"), Some(GoInt::Signed(493)));
        assert_eq!(parse_go_int("0x1F"), Some(GoInt::Signed(31)));
        assert_eq!(parse_go_int("-0b101"), Some(GoInt::Signed(-5)));
        assert_eq!(parse_go_int("0o17"), Some(GoInt::Signed(15)));
        assert_eq!(parse_go_int("08"), None);
        assert_eq!(parse_go_int("0x"), None);
        assert_eq!(parse_go_int("0"), Some(GoInt::Signed(0)));
        assert_eq!(parse_go_int("+12"), Some(GoInt::Signed(12)));
        assert_eq!(
            parse_go_int("-9223372036854775808"),
            Some(GoInt::Signed(i64::MIN))
        );
        assert_eq!(
            parse_go_int("18446744073709551615"),
            Some(GoInt::Unsigned(u64::MAX))
        );
        assert_eq!(parse_go_int("18446744073709551616"), None);
        assert_eq!(parse_go_int("-9223372036854775809"), None);
    }

    #[test]
    fn floats() {
        assert!(is_yaml_style_float("1e3"));
        assert!(is_yaml_style_float("+.5"));
        assert!(is_yaml_style_float("1."));
        assert!(!is_yaml_style_float("."));
        assert!(!is_yaml_style_float("1e"));
        assert_eq!(parse_go_decimal_float(".5_0"), Some(0.5));
        assert_eq!(parse_go_decimal_float("._5"), None);
        assert_eq!(parse_go_decimal_float(".5e999"), None);
        assert_eq!(num(1234567.5), "1.2345675e+06");
        assert_eq!(num(123456.5), "123456.5");
        assert_eq!(num(0.0001), "0.0001");
        assert_eq!(num(0.00001), "1e-05");
        assert_eq!(num(1e20), "1e+20");
        assert_eq!(num(1e19), "10000000000000000000");
        assert_eq!(num(9_223_372_036_854_775_808.0), "9223372036854776000");
        assert_eq!(num(-9_223_372_036_854_775_808.0), "-9.223372036854776e+18");
        assert_eq!(num(-1e19), "-1e+19");
        assert_eq!(num(1.0), "1");
        assert_eq!(num(-0.0), "0");
        assert_eq!(num(1e21), "1e+21");
        assert_eq!(num(1.5e300), "1.5e+300");
        assert_eq!(format_float32_g(0.1), "0.1");
        assert_eq!(format_float32_g(1e3), "1000");
        assert_eq!(format_float32_g(1234567.0), "1.234567e+06");
        assert_eq!(format_float32_g(1.234_567_891), "1.2345679");
    }
}

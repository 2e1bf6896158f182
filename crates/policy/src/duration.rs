//! Go's `time.ParseDuration`, which Argo CD uses for sync window
//! durations: a sequence of decimal numbers each with a unit (`ns`, `us`,
//! `µs`, `ms`, `s`, `m`, `h`), like `1h30m`, `90s` or `1.5h`; `0` alone
//! needs no unit. Negative durations are not accepted (a window cannot
//! last less than nothing).

use std::time::Duration;

/// Parses a Go duration; `None` when `text` is not one.
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += number * seconds;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_as_go_does() {
        let cases = [
            ("1h", Some(3600.0)),
            ("30m", Some(1800.0)),
            ("1h30m", Some(5400.0)),
            ("90s", Some(90.0)),
            ("1.5h", Some(5400.0)),
            ("250ms", Some(0.25)),
            ("0", Some(0.0)),
            ("+2m", Some(120.0)),
            ("", None),
            ("30", None),
            ("1d", None),
            ("-1h", None),
            ("h", None),
            ("1h 30m", None),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse_go_duration(text).map(|d| d.as_secs_f64()),
                want,
                "{text:?}"
            );
        }
    }
}

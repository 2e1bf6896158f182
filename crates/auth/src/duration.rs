//! Go's duration strings (`24h`, `1h30m`, `90s`), as Argo CD's settings
//! write them (`users.session.duration`).

/// Parses a Go duration into whole seconds (fractions of a second are
/// dropped). Units: `h`, `m`, `s`, `ms`, `us`, `µs`, `ns`.
pub fn parse_go_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("an empty duration".into());
    }
    if text == "0" {
        return Ok(0);
    }
    let mut nanos: f64 = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("{text:?}: a number without a unit (h, m or s)"))?;
        if number_len == 0 {
            return Err(format!("{text:?}: expected a number at {rest:?}"));
        }
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| format!("{text:?}: {:?} is not a number", &rest[..number_len]))?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3_600e9,
            "m" => 60e9,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" => 1e3,
            "ns" => 1.0,
            unit => return Err(format!("{text:?}: unknown unit {unit:?}")),
        };
        nanos += number * scale;
        rest = &rest[unit_len..];
    }
    Ok((nanos / 1e9) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_go_duration("24h"), Ok(86_400));
        assert_eq!(parse_go_duration("1h30m"), Ok(5_400));
        assert_eq!(parse_go_duration("90s"), Ok(90));
        assert_eq!(parse_go_duration("1.5h"), Ok(5_400));
        assert_eq!(parse_go_duration("0"), Ok(0));
    }

    #[test]
    fn rejects_what_go_rejects() {
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("24").is_err());
        assert!(parse_go_duration("1d").is_err());
        assert!(parse_go_duration("h").is_err());
    }
}

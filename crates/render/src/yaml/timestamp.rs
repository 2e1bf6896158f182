//! YAML timestamps as go-yaml reads them and Go's JSON encoder prints them.
//!
//! go-yaml turns a plain scalar that `time.Parse` accepts in one of four
//! layouts into a `time.Time`, which `encoding/json` writes in RFC 3339
//! with nanoseconds. Only the layouts and Go's lenient field rules (one- or
//! two-digit fields, `,` as a decimal mark, runs of spaces) are reproduced.

/// A parsed timestamp, in the zone it was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Timestamp {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    /// Seconds east of UTC; `None` for UTC (`Z` or no zone at all).
    offset: Option<i32>,
}

/// The separator between date and time in the layouts go-yaml tries.
#[derive(Clone, Copy)]
enum Layout {
    Upper,
    Lower,
    Space,
    DateOnly,
}

/// The `time.Time` go-yaml would produce for `s`, trying its layouts in order.
pub(super) fn parse(s: &str) -> Option<Timestamp> {
    // go-yaml's quick check: exactly four digits, then '-'.
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    [
        Layout::Upper,
        Layout::Lower,
        Layout::Space,
        Layout::DateOnly,
    ]
    .into_iter()
    .find_map(|layout| parse_layout(b, layout))
}

/// Go's `getnum(s, false)`: one or two digits.
fn num2(s: &mut &[u8]) -> Option<u32> {
    let first = s.first().filter(|c| c.is_ascii_digit())?;
    let mut v = u32::from(first - b'0');
    let mut used = 1;
    if let Some(c) = s.get(1).filter(|c| c.is_ascii_digit()) {
        v = v * 10 + u32::from(c - b'0');
        used = 2;
    }
    *s = &s[used..];
    Some(v)
}

fn literal(s: &mut &[u8], c: u8) -> Option<()> {
    let (&first, rest) = s.split_first()?;
    (first == c).then(|| *s = rest)
}

fn parse_layout(b: &[u8], layout: Layout) -> Option<Timestamp> {
    let year = b[..4]
        .iter()
        .fold(0u32, |acc, c| acc * 10 + u32::from(c - b'0'));
    let mut s = &b[5..];
    let month = num2(&mut s).filter(|m| (1..=12).contains(m))?;
    literal(&mut s, b'-')?;
    let day = num2(&mut s)?;
    let mut t = Timestamp {
        year,
        month,
        day,
        hour: 0,
        minute: 0,
        second: 0,
        nanos: 0,
        offset: None,
    };
    match layout {
        Layout::DateOnly => {}
        Layout::Upper | Layout::Lower | Layout::Space => {
            match layout {
                Layout::Upper => literal(&mut s, b'T')?,
                Layout::Lower => literal(&mut s, b't')?,
                _ => {
                    // A space in a Go layout matches one or more spaces.
                    if s.first() != Some(&b' ') {
                        return None;
                    }
                    while s.first() == Some(&b' ') {
                        s = &s[1..];
                    }
                }
            }
            t.hour = num2(&mut s).filter(|h| *h < 24)?;
            literal(&mut s, b':')?;
            t.minute = num2(&mut s).filter(|m| *m < 60)?;
            literal(&mut s, b':')?;
            t.second = num2(&mut s).filter(|m| *m < 60)?;
            if s.len() >= 2 && matches!(s[0], b'.' | b',') && s[1].is_ascii_digit() {
                let digits = s[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                // Digits past the ninth are read but ignored.
                let mut nanos = 0u32;
                for i in 0..9 {
                    let d = if i < digits {
                        u32::from(s[1 + i] - b'0')
                    } else {
                        0
                    };
                    nanos = nanos * 10 + d;
                }
                t.nanos = nanos;
                s = &s[1 + digits..];
            }
            if !matches!(layout, Layout::Space) {
                if s.first() == Some(&b'Z') {
                    s = &s[1..];
                } else {
                    if s.len() < 6 || s[3] != b':' {
                        return None;
                    }
                    let two = |d: &[u8]| {
                        (d[0].is_ascii_digit() && d[1].is_ascii_digit())
                            .then(|| i32::from(d[0] - b'0') * 10 + i32::from(d[1] - b'0'))
                    };
                    let hours = two(&s[1..3])?;
                    let minutes = two(&s[4..6])?;
                    if hours > 24 || minutes > 60 {
                        return None;
                    }
                    let secs = (hours * 60 + minutes) * 60;
                    t.offset = Some(match s[0] {
                        b'+' => secs,
                        b'-' => -secs,
                        _ => return None,
                    });
                    s = &s[6..];
                }
            }
        }
    }
    if !s.is_empty() || day < 1 || day > days_in(month, year) {
        return None;
    }
    Some(t)
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Timestamp {
    /// The timestamp as Go's `Time.MarshalJSON` writes it (RFC 3339 with
    /// trailing zeros of the fraction dropped), or Go's error when the zone
    /// offset cannot be written in RFC 3339.
    pub(super) fn to_rfc3339(self) -> Result<String, &'static str> {
        use std::fmt::Write;
        let mut out = String::with_capacity(35);
        let _ = write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        if self.nanos != 0 {
            let frac = format!("{:09}", self.nanos);
            out.push('.');
            out.push_str(frac.trim_end_matches('0'));
        }
        match self.offset {
            None | Some(0) => out.push('Z'),
            Some(offset) => {
                let minutes = offset.unsigned_abs() / 60;
                if minutes / 60 >= 24 {
                    return Err("Time.MarshalJSON: timezone hour outside of range [0,23]");
                }
                let sign = if offset < 0 { '-' } else { '+' };
                let _ = write!(out, "{sign}{:02}:{:02}", minutes / 60, minutes % 60);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc(s: &str) -> Option<String> {
        parse(s).map(|t| t.to_rfc3339().unwrap_or_else(|e| e.to_string()))
    }

    #[test]
    fn layouts() {
        assert_eq!(rfc("2001-12-14").as_deref(), Some("2001-12-14T00:00:00Z"));
        assert_eq!(rfc("2001-1-4").as_deref(), Some("2001-01-04T00:00:00Z"));
        assert_eq!(
            rfc("2001-12-14 21:59:43.10").as_deref(),
            Some("2001-12-14T21:59:43.1Z")
        );
        assert_eq!(
            rfc("2001-12-14  1:5:3").as_deref(),
            Some("2001-12-14T01:05:03Z")
        );
        assert_eq!(
            rfc("2001-12-14t21:59:43.10-05:00").as_deref(),
            Some("2001-12-14T21:59:43.1-05:00")
        );
        assert_eq!(
            rfc("2001-12-14T21:59:43,5+00:00").as_deref(),
            Some("2001-12-14T21:59:43.5Z")
        );
        assert_eq!(
            rfc("2001-12-14T21:59:43.1234567891Z").as_deref(),
            Some("2001-12-14T21:59:43.123456789Z")
        );
        assert_eq!(rfc("2001-02-29"), None);
        assert_eq!(rfc("2000-02-29").as_deref(), Some("2000-02-29T00:00:00Z"));
        assert_eq!(rfc("2001-12-14 21:59:43Z"), None);
        assert_eq!(rfc("2001-12-14T24:00:00Z"), None);
        assert_eq!(rfc("2001-123-1"), None);
        assert_eq!(
            rfc("2001-12-14T21:59:43+05:60").as_deref(),
            Some("2001-12-14T21:59:43+06:00")
        );
    }
}

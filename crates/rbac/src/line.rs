//! Splitting policy text into `p` and `g` lines, as casbin's CSV loader
//! reads Argo CD's `policy.csv`: comma-separated fields, spaces around
//! them ignored, `"quoted"` fields allowed, `#` comments and blank lines
//! skipped.

/// One meaningful line: its fields, trimmed, and its 1-based number.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RawLine {
    pub number: usize,
    pub text: String,
    pub fields: Vec<String>,
}

/// The `p`/`g` lines of `text`; the error is (line number, what is wrong).
pub(crate) fn split(text: &str) -> Result<Vec<RawLine>, (usize, String)> {
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fields = fields(trimmed).map_err(|e| (number, e))?;
        lines.push(RawLine {
            number,
            text: trimmed.to_string(),
            fields,
        });
    }
    Ok(lines)
}

fn fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut rest = line;
    loop {
        let trimmed = rest.trim_start();
        if let Some(quoted) = trimmed.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| "a quoted field is not closed".to_string())?;
            fields.push(quoted[..end].to_string());
            let after = quoted[end + 1..].trim_start();
            match after.strip_prefix(',') {
                Some(next) => rest = next,
                None if after.is_empty() => return Ok(fields),
                None => return Err("text after a quoted field".to_string()),
            }
        } else {
            match trimmed.split_once(',') {
                Some((field, next)) => {
                    fields.push(field.trim().to_string());
                    rest = next;
                }
                None => {
                    fields.push(trimmed.trim().to_string());
                    return Ok(fields);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_fields_and_skips_comments() {
        let text = "# a comment\n\n  p, role:dev , applications,sync, team-a/*, allow  \ng, \"alice\", role:dev\n";
        let lines = split(text).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].number, 3);
        assert_eq!(
            lines[0].fields,
            ["p", "role:dev", "applications", "sync", "team-a/*", "allow"]
        );
        assert_eq!(lines[1].number, 4);
        assert_eq!(lines[1].fields, ["g", "alice", "role:dev"]);
    }

    #[test]
    fn quoted_fields_may_hold_commas() {
        let lines = split("p, role:x, applications, get, \"a,b/*\", allow").unwrap();
        assert_eq!(lines[0].fields[4], "a,b/*");
    }

    #[test]
    fn unclosed_quote_names_the_line() {
        assert_eq!(
            split("\n\ng, \"alice, role:dev").unwrap_err(),
            (3, "a quoted field is not closed".to_string())
        );
    }
}

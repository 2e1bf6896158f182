//! The list of revoked token ids, kept in the Secret `gyro-revoked-tokens`
//! (key: the token's `jti`, value: its `exp` in Unix seconds, `0` when it
//! never expires) so that a logout survives restarts and every replica
//! sees it. An entry is pruned once its token has expired anyway. Pure.

use std::collections::BTreeMap;

/// The Secret that records revoked tokens.
pub const SECRET_NAME: &str = "gyro-revoked-tokens";

/// Revoked token ids and their expiry (`0`: never).
pub type Revoked = BTreeMap<String, i64>;

/// Reads the Secret's data; unreadable values count as never expiring
/// (revoked is the safe side).
pub fn parse(data: &BTreeMap<String, Vec<u8>>) -> Revoked {
    data.iter()
        .map(|(jti, exp)| {
            let exp = std::str::from_utf8(exp)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            (jti.clone(), exp)
        })
        .collect()
}

/// Whether `jti` is revoked.
pub fn is_revoked(revoked: &Revoked, jti: &str) -> bool {
    revoked.contains_key(jti)
}

/// The entries whose tokens have expired by `now`: no longer worth keeping.
pub fn expired(revoked: &Revoked, now: i64) -> Vec<String> {
    revoked
        .iter()
        .filter(|(_, exp)| **exp != 0 && **exp <= now)
        .map(|(jti, _)| jti.clone())
        .collect()
}

/// Whether `jti` can be a Secret data key (`[-._a-zA-Z0-9]+`); gyro's ids
/// are hex, but a project token's id is chosen by its creator.
pub fn valid_key(jti: &str) -> bool {
    !jti.is_empty()
        && jti.len() <= 253
        && jti
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(entries: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn parses_and_answers() {
        let r = parse(&data(&[("a1", "2000"), ("b2", "0"), ("c3", "junk")]));
        assert!(is_revoked(&r, "a1"));
        assert!(!is_revoked(&r, "zz"));
        assert_eq!(r["b2"], 0);
        assert_eq!(r["c3"], 0);
    }

    #[test]
    fn prunes_only_expired_entries() {
        let r = parse(&data(&[("a1", "2000"), ("b2", "0"), ("c3", "3000")]));
        assert_eq!(expired(&r, 1_999), Vec::<String>::new());
        assert_eq!(expired(&r, 2_000), vec!["a1".to_string()]);
        assert_eq!(expired(&r, 5_000), vec!["a1".to_string(), "c3".to_string()]);
    }

    #[test]
    fn secret_keys_are_checked() {
        assert!(valid_key("0af3-b.c_d"));
        assert!(!valid_key(""));
        assert!(!valid_key("a/b"));
        assert!(!valid_key("a b"));
    }
}

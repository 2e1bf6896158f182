//! Passwords: bcrypt hashes as Argo CD stores them in `argocd-secret`,
//! random initial passwords, and the random bytes of keys and token ids.

use std::sync::LazyLock;

use crate::AuthError;

/// bcrypt's cost, Go's `bcrypt.DefaultCost` as Argo CD uses.
pub const COST: u32 = 10;

/// Argo CD's default `passwordPattern`: 8 to 32 characters.
pub const DEFAULT_PASSWORD_PATTERN: &str = "^.{8,32}$";

/// A hash no password matches, verified against when the user is unknown
/// so that an unknown user takes as long to refuse as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    bcrypt::hash(random_alphanumeric(24), COST).unwrap_or_else(|_| {
        // A fixed valid hash as a fallback; hashing only fails without
        // an entropy source, and then nothing else works either.
        "$2a$10$abcdefghijklmnopqrstuuKdF0Fn8V5yD8N6vmVz1JxY5h9yC1rCi".to_string()
    })
});

/// The bcrypt hash of `password`.
pub fn hash(password: &str) -> Result<String, AuthError> {
    bcrypt::hash(password, COST).map_err(|e| AuthError::BadRequest(format!("password: {e}")))
}

/// Whether `password` matches `hash`; with no hash (unknown user, or an
/// account without a password), verifies against a dummy hash and
/// answers false, taking the same time.
pub fn verify(password: &str, hash: Option<&str>) -> bool {
    match hash {
        Some(hash) => bcrypt::verify(password, hash).unwrap_or(false),
        None => {
            let _ = bcrypt::verify(password, &DUMMY_HASH);
            false
        }
    }
}

/// Checks a new password against the `passwordPattern` of `argocd-cm`.
pub fn check_pattern(password: &str, pattern: Option<&str>) -> Result<(), AuthError> {
    let pattern = pattern.unwrap_or(DEFAULT_PASSWORD_PATTERN);
    let re = regex::Regex::new(pattern).map_err(|e| {
        AuthError::BadRequest(format!(
            "argocd-cm passwordPattern {pattern:?} is invalid: {e}"
        ))
    })?;
    if re.is_match(password) {
        Ok(())
    } else {
        Err(AuthError::BadRequest(format!(
            "the new password does not match the password pattern {pattern:?}"
        )))
    }
}

/// `n` random bytes from the operating system.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    if let Err(e) = getrandom::fill(&mut bytes) {
        // No entropy source: refusing to run beats predictable keys.
        panic!("the operating system gave no random bytes: {e}");
    }
    bytes
}

/// A random string of ASCII letters and digits (an initial password).
pub fn random_alphanumeric(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes(len * 2) {
            // 248 = 4 * 62: rejecting the rest keeps every character equally likely.
            if b < 248 && out.len() < len {
                out.push(ALPHABET[usize::from(b) % ALPHABET.len()] as char);
            }
        }
    }
    out
}

/// A random token id (128 bits, hex).
pub fn random_id() -> String {
    hex::encode(random_bytes(16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$2"));
        assert!(verify("correct horse", Some(&h)));
        assert!(!verify("wrong horse", Some(&h)));
    }

    #[test]
    fn go_bcrypt_hashes_verify() {
        // Argo CD (Go's x/crypto/bcrypt) writes `$2a$` hashes; this one is
        // of "password" as `argocd account bcrypt --password password` prints.
        let go = "$2a$10$rRyBsGSHK6.uc8fntPwVIuLVHgsAhAX7TcdrqW/RADU0uh7CaChLa";
        assert!(verify("password", Some(go)));
        assert!(!verify("Password", Some(go)));
    }

    #[test]
    fn every_bcrypt_prefix_verifies() {
        let parts = bcrypt::hash_with_result("s3cret-pass", 4).unwrap();
        for version in [
            bcrypt::Version::TwoA,
            bcrypt::Version::TwoB,
            bcrypt::Version::TwoY,
        ] {
            let h = parts.format_for_version(version);
            assert!(verify("s3cret-pass", Some(&h)), "{h}");
        }
        assert!(!verify("s3cret-pass", Some("not a hash")));
    }

    #[test]
    fn no_hash_never_verifies() {
        assert!(!verify("anything", None));
        assert!(!verify("", None));
    }

    #[test]
    fn the_default_pattern_wants_8_to_32_characters() {
        assert!(check_pattern("12345678", None).is_ok());
        let short = check_pattern("1234567", None).unwrap_err();
        assert!(short.to_string().contains("^.{8,32}$"), "{short}");
        assert!(check_pattern(&"x".repeat(33), None).is_err());
        assert!(check_pattern("abc", Some("^[a-z]+$")).is_ok());
        assert_eq!(check_pattern("abc", Some("(")).unwrap_err().status(), 400);
    }

    #[test]
    fn random_passwords_are_alphanumeric_and_differ() {
        let a = random_alphanumeric(16);
        let b = random_alphanumeric(16);
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
        assert_eq!(random_id().len(), 32);
    }
}

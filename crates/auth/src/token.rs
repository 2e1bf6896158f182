//! gyro's session tokens: JWTs signed with HS256 by `server.secretkey`,
//! with Argo CD's claims (`iss: argocd`, `sub`, `iat`, `nbf`, `exp`,
//! `jti`, `groups`) plus `gyro.kind`, which says how the token was
//! obtained. Pure: the time is a parameter.

use std::collections::HashSet;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::AuthError;

/// The `iss` of tokens gyro signs, Argo CD's.
pub const ISSUER: &str = "argocd";

/// How a token was obtained; decides what else [`crate::Auth::verify`]
/// checks (the account, its token list, the project's role).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TokenKind {
    /// A local account's login (`POST /api/v1/session`).
    Local,
    /// A local account's API key (`accounts.<name>.tokens`).
    ApiKey,
    /// A single sign-on user's session.
    Sso,
    /// A project role's token (`AppProject.spec.roles[].jwtTokens`).
    ProjectRole,
}

/// What a verified token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The RBAC subject: the account name (also for API keys), the SSO
    /// user, or `proj:<project>:<role>`.
    pub subject: String,
    pub groups: Vec<String>,
    pub kind: TokenKind,
    /// `jti`.
    pub token_id: String,
    /// `iat`, Unix seconds.
    pub issued_at: i64,
    /// `exp`, Unix seconds; `None` for tokens that never expire (API keys
    /// and project tokens issued without an expiry).
    pub expires_at: Option<i64>,
}

impl Claims {
    /// For a project role token, its project and role.
    pub fn project_role(&self) -> Option<(&str, &str)> {
        project_role(&self.subject)
    }
}

/// Splits `proj:<project>:<role>`.
pub fn project_role(subject: &str) -> Option<(&str, &str)> {
    let rest = subject.strip_prefix("proj:")?;
    rest.split_once(':')
}

/// The JWT's claims as they are on the wire.
#[derive(Debug, Serialize, Deserialize)]
struct WireClaims {
    iss: String,
    sub: String,
    iat: i64,
    nbf: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    jti: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(rename = "gyro.kind")]
    kind: TokenKind,
}

const API_KEY_SUFFIX: &str = ":apiKey";

/// Signs `claims` with `key`.
pub fn encode(key: &[u8], claims: &Claims) -> Result<String, AuthError> {
    // API keys carry Argo CD's `<account>:apiKey` subject on the wire.
    let sub = if claims.kind == TokenKind::ApiKey {
        format!("{}{API_KEY_SUFFIX}", claims.subject)
    } else {
        claims.subject.clone()
    };
    let wire = WireClaims {
        iss: ISSUER.to_string(),
        sub,
        iat: claims.issued_at,
        nbf: claims.issued_at,
        exp: claims.expires_at,
        jti: claims.token_id.clone(),
        groups: claims.groups.clone(),
        kind: claims.kind,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &wire,
        &EncodingKey::from_secret(key),
    )
    .map_err(|e| AuthError::Cluster(format!("signing a token: {e}")))
}

/// Checks `token`'s signature with `key` and its validity period at `now`
/// (no leeway: gyro signs and checks with the same clock).
pub fn decode(key: &[u8], token: &str, now: i64) -> Result<Claims, AuthError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.leeway = 0;
    validation.required_spec_claims = HashSet::new();
    validation.set_issuer(&[ISSUER]);
    let data =
        jsonwebtoken::decode::<WireClaims>(token, &DecodingKey::from_secret(key), &validation)
            .map_err(|e| AuthError::InvalidToken(e.to_string()))?;
    let wire = data.claims;
    if wire.nbf > now {
        return Err(AuthError::InvalidToken("not valid yet (nbf)".into()));
    }
    if let Some(exp) = wire.exp
        && exp <= now
    {
        return Err(AuthError::Expired);
    }
    let subject = match wire.kind {
        TokenKind::ApiKey => wire
            .sub
            .strip_suffix(API_KEY_SUFFIX)
            .ok_or_else(|| AuthError::InvalidToken("an API key without `:apiKey` subject".into()))?
            .to_string(),
        TokenKind::ProjectRole if project_role(&wire.sub).is_none() => {
            return Err(AuthError::InvalidToken(
                "a project token whose subject is not proj:<project>:<role>".into(),
            ));
        }
        _ => wire.sub,
    };
    Ok(Claims {
        subject,
        groups: wire.groups,
        kind: wire.kind,
        token_id: wire.jti,
        issued_at: wire.iat,
        expires_at: wire.exp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn claims(kind: TokenKind, subject: &str, exp: Option<i64>) -> Claims {
        Claims {
            subject: subject.into(),
            groups: vec!["team-a".into()],
            kind,
            token_id: "id-1".into(),
            issued_at: 1_000,
            expires_at: exp,
        }
    }

    #[test]
    fn round_trips_every_kind() {
        for (kind, subject) in [
            (TokenKind::Local, "admin"),
            (TokenKind::ApiKey, "alice"),
            (TokenKind::Sso, "bob@example.com"),
            (TokenKind::ProjectRole, "proj:shop:ci"),
        ] {
            let c = claims(kind, subject, Some(2_000));
            let token = encode(KEY, &c).unwrap();
            assert_eq!(decode(KEY, &token, 1_500).unwrap(), c);
        }
    }

    #[test]
    fn api_keys_carry_argo_cds_subject_on_the_wire() {
        let token = encode(KEY, &claims(TokenKind::ApiKey, "alice", None)).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let json = base64_url_decode(payload);
        assert!(json.contains(r#""sub":"alice:apiKey""#), "{json}");
        assert!(json.contains(r#""iss":"argocd""#), "{json}");
        assert!(!json.contains("exp"), "{json}");
    }

    fn base64_url_decode(s: &str) -> String {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .unwrap();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn expires_at_exp_exactly() {
        let token = encode(KEY, &claims(TokenKind::Local, "admin", Some(2_000))).unwrap();
        assert!(decode(KEY, &token, 1_999).is_ok());
        assert_eq!(decode(KEY, &token, 2_000), Err(AuthError::Expired));
    }

    #[test]
    fn tokens_without_exp_never_expire() {
        let token = encode(KEY, &claims(TokenKind::ApiKey, "alice", None)).unwrap();
        assert!(decode(KEY, &token, i64::MAX / 2).is_ok());
    }

    #[test]
    fn not_valid_before_issue() {
        let token = encode(KEY, &claims(TokenKind::Local, "admin", None)).unwrap();
        assert!(matches!(
            decode(KEY, &token, 999),
            Err(AuthError::InvalidToken(_))
        ));
    }

    #[test]
    fn another_key_or_garbage_is_invalid() {
        let token = encode(KEY, &claims(TokenKind::Local, "admin", None)).unwrap();
        let other = decode(b"another key, also 32 bytes long!", &token, 1_500).unwrap_err();
        assert_eq!(other.status(), 401);
        assert!(matches!(other, AuthError::InvalidToken(_)));
        for garbage in ["", "abc", "a.b.c", &token[..token.len() - 3]] {
            assert!(matches!(
                decode(KEY, garbage, 1_500),
                Err(AuthError::InvalidToken(_))
            ));
        }
    }

    #[test]
    fn splits_project_role_subjects() {
        assert_eq!(project_role("proj:shop:ci"), Some(("shop", "ci")));
        assert_eq!(project_role("proj:shop"), None);
        assert_eq!(project_role("alice"), None);
    }
}

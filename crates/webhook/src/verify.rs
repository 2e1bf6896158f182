//! Checking a request's signature or token against the provider's configured
//! secret. All comparisons are constant-time (`hmac`'s `verify_slice`,
//! `subtle` for tokens) so response timing does not leak the secret.

use axum::http::HeaderMap;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::secrets::{
    BITBUCKET_SERVER_SECRET_KEY, BITBUCKET_UUID_KEY, GITEA_SECRET_KEY, GITHUB_SECRET_KEY,
    GITLAB_SECRET_KEY, GOGS_SECRET_KEY,
};
use crate::{Provider, Rejection, Secrets, header};

/// How a provider authenticates its requests.
enum Scheme {
    /// Hex HMAC of the body, in the first of `headers` present; each header
    /// with the prefix its value carries (`sha256=`) and the digest it uses.
    Hmac(&'static [(&'static str, &'static str, Digest)]),
    /// A header that must equal the secret.
    Token(&'static str),
}

#[derive(Clone, Copy)]
enum Digest {
    Sha1,
    Sha256,
}

/// Accepts the request when the provider has no secret configured, or when
/// its signature or token matches one.
pub(crate) fn check(
    provider: Provider,
    headers: &HeaderMap,
    body: &[u8],
    secrets: &Secrets,
) -> Result<(), Rejection> {
    // Gitea requests may be signed with the Gitea or the Gogs key: Argo CD
    // reads Gitea through its Gogs parser, so existing setups use the latter.
    let (keys, secret_key, scheme): (Vec<&[u8]>, _, _) = match provider {
        Provider::GitHub => (
            configured([&secrets.github]),
            GITHUB_SECRET_KEY,
            Scheme::Hmac(&[
                ("X-Hub-Signature-256", "sha256=", Digest::Sha256),
                ("X-Hub-Signature", "sha1=", Digest::Sha1),
            ]),
        ),
        Provider::GitLab => (
            configured([&secrets.gitlab]),
            GITLAB_SECRET_KEY,
            Scheme::Token("X-Gitlab-Token"),
        ),
        Provider::Gitea => (
            configured([&secrets.gitea, &secrets.gogs]),
            if secrets.gitea.as_ref().is_some_and(|s| !s.is_empty()) {
                GITEA_SECRET_KEY
            } else {
                GOGS_SECRET_KEY
            },
            Scheme::Hmac(&[
                ("X-Gitea-Signature", "", Digest::Sha256),
                ("X-Gogs-Signature", "", Digest::Sha256),
                ("X-Hub-Signature-256", "sha256=", Digest::Sha256),
            ]),
        ),
        Provider::Gogs => (
            configured([&secrets.gogs]),
            GOGS_SECRET_KEY,
            Scheme::Hmac(&[("X-Gogs-Signature", "", Digest::Sha256)]),
        ),
        Provider::BitbucketCloud => (
            configured([&secrets.bitbucket_uuid]),
            BITBUCKET_UUID_KEY,
            Scheme::Token("X-Hook-UUID"),
        ),
        Provider::BitbucketServer => (
            configured([&secrets.bitbucket_server]),
            BITBUCKET_SERVER_SECRET_KEY,
            Scheme::Hmac(&[("X-Hub-Signature", "sha256=", Digest::Sha256)]),
        ),
    };
    if keys.is_empty() {
        return Ok(());
    }
    let (header_name, ok) = match scheme {
        Scheme::Token(name) => {
            let token = header(headers, name).ok_or(Rejection::MissingSignature {
                provider,
                header: name,
                secret_key,
            })?;
            let ok = keys.iter().any(|k| bool::from(token.as_bytes().ct_eq(k)));
            (name, ok)
        }
        Scheme::Hmac(candidates) => {
            let (name, prefix, digest, value) = candidates
                .iter()
                .find_map(|&(name, prefix, digest)| {
                    header(headers, name).map(|v| (name, prefix, digest, v))
                })
                .ok_or(Rejection::MissingSignature {
                    provider,
                    header: candidates.first().map_or("", |c| c.0),
                    secret_key,
                })?;
            let ok = value
                .strip_prefix(prefix)
                .and_then(|hex_sig| hex::decode(hex_sig).ok())
                .is_some_and(|sig| keys.iter().any(|k| hmac_matches(digest, k, body, &sig)));
            (name, ok)
        }
    };
    if ok {
        Ok(())
    } else {
        Err(Rejection::BadSignature {
            provider,
            header: header_name,
            secret_key,
        })
    }
}

/// The non-empty secrets among `candidates`.
fn configured<const N: usize>(candidates: [&Option<Vec<u8>>; N]) -> Vec<&[u8]> {
    candidates
        .into_iter()
        .filter_map(|s| s.as_deref())
        .filter(|s| !s.is_empty())
        .collect()
}

fn hmac_matches(digest: Digest, key: &[u8], body: &[u8], signature: &[u8]) -> bool {
    match digest {
        Digest::Sha256 => mac_matches::<Hmac<Sha256>>(key, body, signature),
        Digest::Sha1 => mac_matches::<Hmac<Sha1>>(key, body, signature),
    }
}

fn mac_matches<M: Mac + KeyInit>(key: &[u8], body: &[u8], signature: &[u8]) -> bool {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail; a
    // failure would still be answered as a mismatch rather than a panic.
    <M as Mac>::new_from_slice(key).is_ok_and(|mut mac| {
        mac.update(body);
        mac.verify_slice(signature).is_ok()
    })
}

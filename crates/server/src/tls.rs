//! Serving the API: over TLS by default, with the certificate from the
//! `argocd-server-tls` Secret (`tls.crt`, `tls.key`) when it exists, else a
//! self-signed one generated at start (as Argo CD does); plain HTTP only
//! when asked (`--insecure`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum_server::tls_rustls::RustlsConfig;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tracing::info;

/// The Secret Argo CD's server reads its certificate from.
pub const TLS_SECRET: &str = "argocd-server-tls";

/// Why the API cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("reading Secret {namespace}/{TLS_SECRET}")]
    ReadSecret {
        namespace: String,
        #[source]
        source: kube::Error,
    },
    #[error("Secret {TLS_SECRET}: {0}")]
    BadCertificate(String),
    #[error("generating a self-signed certificate: {0}")]
    Generate(String),
}

/// A certificate chain and its key, in PEM.
#[derive(Clone)]
pub struct Certificate {
    pub cert_pem: String,
    pub key_pem: String,
    /// Where it came from, for the log.
    pub origin: String,
}

/// The certificate to serve: the Secret's, else a generated one for
/// `localhost`, the loopback addresses and `hosts`.
pub async fn certificate(
    client: &kube::Client,
    namespace: &str,
    hosts: &[String],
) -> Result<Certificate, ServeError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = secrets
        .get_opt(TLS_SECRET)
        .await
        .map_err(|source| ServeError::ReadSecret {
            namespace: namespace.to_string(),
            source,
        })?;
    if let Some(secret) = secret {
        let field = |k: &str| {
            crate::secrets::value(&secret, k)
                .ok_or_else(|| ServeError::BadCertificate(format!("has no {k}")))
        };
        return Ok(Certificate {
            cert_pem: field("tls.crt")?,
            key_pem: field("tls.key")?,
            origin: format!("Secret {namespace}/{TLS_SECRET}"),
        });
    }
    self_signed(hosts)
}

/// A self-signed certificate for `localhost`, 127.0.0.1, ::1 and `hosts`.
pub fn self_signed(hosts: &[String]) -> Result<Certificate, ServeError> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "argocd-server".to_string(),
    ];
    names.extend(hosts.iter().cloned());
    let key = rcgen::generate_simple_self_signed(names)
        .map_err(|e| ServeError::Generate(e.to_string()))?;
    Ok(Certificate {
        cert_pem: key.cert.pem(),
        key_pem: key.signing_key.serialize_pem(),
        origin: "a self-signed certificate generated at start".to_string(),
    })
}

/// The rustls server configuration of a certificate (ring provider, HTTP/1.1).
pub fn rustls_config(cert: &Certificate) -> Result<RustlsConfig, ServeError> {
    let bad = |e: String| ServeError::BadCertificate(e);
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(cert.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| bad(format!("tls.crt: {e}")))?;
    if chain.is_empty() {
        return Err(bad("tls.crt: no certificate in it".to_string()));
    }
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes())
        .map_err(|e| bad(format!("tls.key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| bad(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(config)))
}

/// Serves `router` on `listener` until the process ends: over TLS with
/// `tls`, plain HTTP without.
pub async fn serve(
    router: Router,
    listener: std::net::TcpListener,
    tls: Option<RustlsConfig>,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    // The peer address reaches the handlers (login rate limits count per
    // client address).
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    match tls {
        Some(tls) => {
            info!(%addr, "serving the API over HTTPS");
            axum_server::from_tcp_rustls(listener, tls)?
                .serve(service)
                .await
        }
        None => {
            info!(%addr, "serving the API over plain HTTP (--insecure)");
            axum_server::from_tcp(listener)?.serve(service).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_makes_a_server_config() {
        let cert = self_signed(&["gyro.example.com".to_string()]).unwrap();
        assert!(cert.cert_pem.contains("BEGIN CERTIFICATE"));
        rustls_config(&cert).unwrap();
    }

    #[test]
    fn a_bad_key_is_named() {
        let mut cert = self_signed(&[]).unwrap();
        cert.key_pem = "not a key".to_string();
        let err = rustls_config(&cert).err().unwrap().to_string();
        assert!(err.contains("tls.key"), "{err}");
    }
}

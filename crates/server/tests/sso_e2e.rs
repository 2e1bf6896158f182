//! Single sign-on end to end: a real Dex (testkit), the SSO routes served
//! in-process on a loopback port with their settings in the test cluster's
//! `argocd-cm`/`argocd-secret`, and an HTTP client with a cookie store that
//! walks the login as a browser does: `/auth/login` -> Dex -> Dex's login
//! form -> `/auth/callback` -> the `argocd.token` cookie.
//!
//! The gyro tokens come from the real `auth::Auth`, and
//! `GET /api/v1/session/userinfo` shows who they name.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use reqwest::cookie::CookieStore;
use serde_json::Value;
use server::sso;
use testkit::Dex;

// The CLI's side of `gyro login --sso`, compiled here to drive it against
// the same server (the CLI crate is a binary, so its modules cannot be
// imported).
#[path = "../../cli/src/sso.rs"]
#[allow(dead_code)]
mod cli_sso;

/// A gyro server (session and SSO routes, real authentication) configured
/// for Dex.
struct Server {
    url: String,
    _namespace: testkit::TestNamespace,
    _cache: tempfile::TempDir,
}

async fn server() -> Result<Server> {
    let dex = testkit::dex()?;
    let client = testkit::client().await?;
    let namespace = testkit::TestNamespace::create(&client, "sso").await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    // localhost, not 127.0.0.1: the test Dex's client accepts any
    // http://localhost:<port> redirect URI (see testkit::dex).
    let url = format!("http://localhost:{}", listener.local_addr()?.port());
    let config = format!(
        "name: Dex\nissuer: {}\nclientID: {}\nclientSecret: $oidc.clientSecret\nrequestedScopes: [openid, email, profile, groups]\n",
        dex.issuer, dex.client_id
    );
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), namespace.name());
    cms.create(
        &PostParams::default(),
        &ConfigMap {
            metadata: ObjectMeta {
                name: Some("argocd-cm".into()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([
                ("url".to_string(), url.clone()),
                ("oidc.config".to_string(), config),
            ])),
            ..Default::default()
        },
    )
    .await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace.name());
    secrets
        .create(
            &PostParams::default(),
            &Secret {
                metadata: ObjectMeta {
                    name: Some("argocd-secret".into()),
                    ..Default::default()
                },
                string_data: Some(BTreeMap::from([(
                    "oidc.clientSecret".to_string(),
                    dex.client_secret.clone(),
                )])),
                ..Default::default()
            },
        )
        .await?;
    let cache = tempfile::tempdir()?;
    let controller = controller::Context::new(
        client.clone(),
        controller::Config::new(cache.path(), namespace.name()),
    )
    .await?;
    let auth = auth::Auth::start(client.clone(), namespace.name()).await?;
    let rbac = server::authz::watch(client.clone(), namespace.name()).await?;
    let state = Arc::new(server::State::new(
        Arc::new(controller),
        auth,
        server::authz::enforcer(rbac),
    ));
    let app = server::router(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Server {
        url,
        _namespace: namespace,
        _cache: cache,
    })
}

/// A browser: a cookie store, redirects followed and recorded.
struct Browser {
    http: reqwest::Client,
    jar: Arc<reqwest::cookie::Jar>,
    visited: Arc<Mutex<Vec<url::Url>>>,
}

fn browser() -> Browser {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let visited = Arc::new(Mutex::new(Vec::new()));
    let log = visited.clone();
    let http = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            log.lock().unwrap().push(attempt.url().clone());
            attempt.follow()
        }))
        .build()
        .unwrap();
    Browser { http, jar, visited }
}

impl Browser {
    /// `GET /api/v1/session/userinfo` with the browser's cookies and,
    /// when given, a bearer token.
    async fn userinfo(&self, server: &Server, bearer: Option<&str>) -> Result<Value> {
        let mut request = self
            .http
            .get(format!("{}/api/v1/session/userinfo", server.url));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        Ok(request.send().await?.error_for_status()?.json().await?)
    }

    fn token_cookie(&self, url: &str) -> Option<String> {
        let header = self.jar.cookies(&url.parse().unwrap())?;
        header.to_str().ok()?.split("; ").find_map(|c| {
            c.strip_prefix(&format!("{}=", sso::TOKEN_COOKIE))
                .map(str::to_string)
        })
    }

    /// The callback URLs the browser was sent to.
    fn callbacks(&self) -> Vec<url::Url> {
        self.visited
            .lock()
            .unwrap()
            .iter()
            .filter(|u| u.path() == "/auth/callback")
            .cloned()
            .collect()
    }

    /// Walks a login from `start` (gyro's `/auth/login`): picks `connector`
    /// on Dex's connector page and, for the password database, fills in
    /// the form. Returns the last response.
    async fn login(
        &self,
        start: &str,
        connector: &str,
        credentials: Option<(&str, &str)>,
    ) -> Result<reqwest::Response> {
        let page = self.http.get(start).send().await?;
        let chooser_url = page.url().clone();
        let html = page.text().await?;
        let needle = format!("/auth/{connector}?");
        let href = attribute_values(&html, "href")
            .into_iter()
            .find(|h| h.contains(&needle))
            .with_context(|| {
                format!("no link to connector {connector} on Dex's page {chooser_url}:\n{html}")
            })?;
        let response = self.http.get(chooser_url.join(&href)?).send().await?;
        let Some((login, password)) = credentials else {
            return Ok(response);
        };
        let form_url = response.url().clone();
        let html = response.text().await?;
        let action = attribute_values(&html, "action")
            .into_iter()
            .next()
            .with_context(|| format!("no login form on Dex's page {form_url}:\n{html}"))?;
        Ok(self
            .http
            .post(form_url.join(&action)?)
            .form(&[("login", login), ("password", password)])
            .send()
            .await?)
    }
}

/// The values of `name="..."` attributes in `html`, unescaped.
fn attribute_values(html: &str, name: &str) -> Vec<String> {
    let key = format!("{name}=\"");
    html.match_indices(&key)
        .filter_map(|(i, _)| {
            let rest = &html[i + key.len()..];
            rest.find('"').map(|end| {
                rest[..end]
                    .replace("&amp;", "&")
                    .replace("&#43;", "+")
                    .replace("&quot;", "\"")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
            })
        })
        .collect()
}

fn login_url(server: &Server, return_url: &str) -> String {
    format!(
        "{}/auth/login?return_url={}",
        server.url,
        url::form_urlencoded::byte_serialize(return_url.as_bytes()).collect::<String>()
    )
}

#[tokio::test]
async fn password_login_sets_the_cookie_and_returns_to_the_page() -> Result<()> {
    let dex = testkit::dex()?;
    let server = server().await?;
    let browser = browser();
    let last = browser
        .login(
            &login_url(&server, "/applications?project=a"),
            Dex::PASSWORD_CONNECTOR,
            Some((&dex.username, &dex.password)),
        )
        .await?;
    assert_eq!(
        last.url().as_str(),
        format!("{}/applications?project=a", server.url)
    );
    assert!(browser.token_cookie(&server.url).is_some());
    let me = browser.userinfo(&server, None).await?;
    assert_eq!(me["loggedIn"], true, "{me}");
    assert_eq!(
        me["username"],
        dex.email.as_str(),
        "the subject is the ID token's email"
    );
    assert_eq!(
        me["groups"],
        serde_json::json!([]),
        "the password user has no groups"
    );
    Ok(())
}

#[tokio::test]
async fn groups_claim_reaches_the_token() -> Result<()> {
    let server = server().await?;
    let browser = browser();
    let last = browser
        .login(&login_url(&server, "/"), Dex::MOCK_CONNECTOR, None)
        .await?;
    assert_eq!(last.url().as_str(), format!("{}/", server.url));
    let me = browser.userinfo(&server, None).await?;
    assert_eq!(me["loggedIn"], true, "{me}");
    assert_eq!(me["username"], Dex::MOCK_EMAIL);
    assert_eq!(me["groups"], serde_json::json!(Dex::MOCK_GROUPS));
    Ok(())
}

#[tokio::test]
async fn wrong_password_gets_no_token() -> Result<()> {
    let dex = testkit::dex()?;
    let server = server().await?;
    let browser = browser();
    let last = browser
        .login(
            &login_url(&server, "/"),
            Dex::PASSWORD_CONNECTOR,
            Some((&dex.username, "not-the-password")),
        )
        .await?;
    let url = last.url().clone();
    let page = last.text().await?;
    assert!(
        url.as_str().starts_with(&dex.issuer),
        "still at Dex after a wrong password, not at {url}"
    );
    assert!(
        page.contains("Invalid"),
        "Dex says the login is invalid:\n{page}"
    );
    assert!(browser.callbacks().is_empty());
    assert_eq!(browser.token_cookie(&server.url), None);
    assert_eq!(browser.userinfo(&server, None).await?["loggedIn"], false);
    Ok(())
}

#[tokio::test]
async fn forged_and_replayed_states_are_refused() -> Result<()> {
    let dex = testkit::dex()?;
    let server = server().await?;
    let browser = browser();

    let forged = browser
        .http
        .get(format!(
            "{}/auth/callback?code=abc&state=forged",
            server.url
        ))
        .send()
        .await?;
    assert_eq!(forged.status(), 400);
    let body: serde_json::Value = forged.json().await?;
    assert!(
        body["message"].as_str().unwrap_or("").contains("state"),
        "{body}"
    );

    browser
        .login(
            &login_url(&server, "/"),
            Dex::PASSWORD_CONNECTOR,
            Some((&dex.username, &dex.password)),
        )
        .await?;
    let callbacks = browser.callbacks();
    let [callback] = callbacks.as_slice() else {
        bail!("expected one callback, got {callbacks:?}");
    };
    let replay = reqwest::get(callback.clone()).await?;
    assert_eq!(replay.status(), 400);
    let body: serde_json::Value = replay.json().await?;
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("already used"),
        "{body}"
    );

    let missing = browser
        .http
        .get(format!("{}/auth/callback?code=abc", server.url))
        .send()
        .await?;
    assert_eq!(missing.status(), 400);
    Ok(())
}

#[tokio::test]
async fn foreign_return_urls_are_refused() -> Result<()> {
    let server = server().await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    for bad in [
        "https://evil.example.com/",
        "//evil.example.com/x",
        "http://10.0.0.1:8085/auth/callback",
    ] {
        let response = http.get(login_url(&server, bad)).send().await?;
        assert_eq!(response.status(), 400, "return_url {bad}");
        let body: serde_json::Value = response.json().await?;
        assert!(
            body["message"]
                .as_str()
                .unwrap_or("")
                .contains("return_url"),
            "{body}"
        );
    }
    let ok = http.get(login_url(&server, "/x")).send().await?;
    assert_eq!(ok.status(), 303);
    let location = ok.headers()["location"].to_str()?;
    for part in [
        "code_challenge_method=S256",
        "code_challenge=",
        "state=",
        "nonce=",
        "response_type=code",
    ] {
        assert!(location.contains(part), "{part} missing in {location}");
    }
    Ok(())
}

#[tokio::test]
async fn settings_name_the_issuer() -> Result<()> {
    let dex = testkit::dex()?;
    let server = server().await?;
    let settings: serde_json::Value = reqwest::get(format!("{}/api/v1/settings", server.url))
        .await?
        .json()
        .await?;
    assert_eq!(settings["url"], server.url);
    assert_eq!(settings["oidcConfig"]["issuer"], dex.issuer);
    assert_eq!(settings["oidcConfig"]["clientID"], dex.client_id);
    assert_eq!(settings["oidcConfig"]["name"], "Dex");
    assert!(settings["oidcConfig"].get("clientSecret").is_none());
    Ok(())
}

#[tokio::test]
async fn cli_gets_the_token_handed_over() -> Result<()> {
    let dex = testkit::dex()?;
    let server = server().await?;
    let login = cli_sso::start_login(&server.url, false, 0).await?;
    let browser = browser();
    let page = browser
        .login(
            &login.login_url,
            Dex::PASSWORD_CONNECTOR,
            Some((&dex.username, &dex.password)),
        )
        .await?;
    // The hand-over page: a form the browser POSTs to the CLI's listener.
    let html = page.text().await?;
    let action = attribute_values(&html, "action");
    let token = attribute_values(&html, "value");
    let (Some(action), Some(token)) = (action.first(), token.first()) else {
        bail!("no hand-over form in:\n{html}");
    };
    assert!(action.starts_with("http://127.0.0.1:"), "{action}");
    // A POST without the CLI's state is refused.
    let forged = browser
        .http
        .post(action.split('?').next().unwrap_or(action))
        .form(&[("token", "stolen")])
        .send()
        .await?;
    assert_eq!(forged.status(), 400);
    let done = browser
        .http
        .post(action)
        .form(&[("token", token.as_str())])
        .send()
        .await?;
    assert_eq!(done.status(), 200);
    let handed = login.token(Duration::from_secs(30)).await?;
    assert_eq!(&handed, token);
    // The CLI flow sets no browser cookie; the token works as a bearer.
    assert_eq!(browser.token_cookie(&server.url), None);
    assert_eq!(browser.userinfo(&server, None).await?["loggedIn"], false);
    let me = browser.userinfo(&server, Some(&handed)).await?;
    assert_eq!(me["loggedIn"], true, "{me}");
    assert_eq!(me["username"], dex.email.as_str());
    Ok(())
}

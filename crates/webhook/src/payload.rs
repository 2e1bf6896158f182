//! Decoding the push payloads of each provider into a [`Push`]. The structs
//! hold only the fields gyro uses; everything else in the payload is
//! ignored, and most fields are optional so that older or trimmed payloads
//! still decode.

use std::borrow::Cow;

use axum::http::HeaderMap;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::{Provider, Push, Rejection, header};

/// The JSON document of the request: the body itself, or the `payload`
/// field of a form-encoded body (GitHub's and Gitea's other content type).
pub(crate) fn json_body<'a>(headers: &HeaderMap, body: &'a [u8]) -> Result<Cow<'a, [u8]>, String> {
    let form = header(headers, "content-type").is_some_and(|ct| {
        ct.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    if !form {
        return Ok(Cow::Borrowed(body));
    }
    body.split(|b| *b == b'&')
        .find_map(|pair| pair.strip_prefix(b"payload="))
        .ok_or_else(|| "the form-encoded body has no `payload` field".to_string())
        .and_then(percent_decode)
        .map(Cow::Owned)
}

fn percent_decode(value: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while let Some(&b) = value.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let byte = value
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        format!("bad percent-encoding at byte {i} of the `payload` field")
                    })?;
                out.push(byte);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    Ok(out)
}

/// The push in `json`, or `None` when `event` is not a push event of
/// `provider`.
pub(crate) fn decode(
    provider: Provider,
    event: &str,
    json: &[u8],
) -> Result<Option<Push>, Rejection> {
    let malformed = |error: String| Rejection::Malformed {
        provider,
        event: event.to_string(),
        error,
    };
    let push = match (provider, event) {
        (Provider::GitHub | Provider::Gitea | Provider::Gogs, "push") => from_json::<HubPush>(json)
            .map_err(malformed)?
            .into_push(provider),
        (Provider::GitLab, "Push Hook" | "Tag Push Hook") => from_json::<GitLabPush>(json)
            .map_err(malformed)?
            .into_push(),
        // System hooks carry many kinds of events; pushes have the same
        // shape as project push hooks.
        (Provider::GitLab, "System Hook") => {
            let kind: GitLabKind = from_json(json).map_err(malformed)?;
            let kind = kind.object_kind.or(kind.event_name).unwrap_or_default();
            if kind != "push" && kind != "tag_push" {
                return Ok(None);
            }
            from_json::<GitLabPush>(json)
                .map_err(malformed)?
                .into_push()
        }
        (Provider::BitbucketCloud, "repo:push") => from_json::<BitbucketCloudPush>(json)
            .map_err(malformed)?
            .into_push(),
        (Provider::BitbucketServer, "repo:refs_changed") => from_json::<BitbucketServerPush>(json)
            .map_err(malformed)?
            .into_push(),
        _ => return Ok(None),
    };
    if push.repo_urls.is_empty() {
        return Err(Rejection::NoRepository {
            provider,
            event: event.to_string(),
            field: match provider {
                Provider::GitHub | Provider::Gitea | Provider::Gogs => "repository.html_url",
                Provider::GitLab => "project.web_url",
                Provider::BitbucketCloud => "repository.links.html.href",
                Provider::BitbucketServer => "repository.links.clone[].href",
            },
        });
    }
    Ok(Some(push))
}

/// Deserializes, naming the JSON path of the first problem.
fn from_json<T: DeserializeOwned>(json: &[u8]) -> Result<T, String> {
    let mut de = serde_json::Deserializer::from_slice(json);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.into_inner().to_string()
        } else {
            format!("at `{path}`: {}", e.into_inner())
        }
    })
}

/// The files a commit touched, as GitHub, GitLab, Gitea and Gogs list them.
#[derive(Deserialize)]
struct Commit {
    added: Option<Vec<String>>,
    modified: Option<Vec<String>>,
    removed: Option<Vec<String>>,
}

fn add_commits(push: &mut Push, commits: Option<Vec<Commit>>) {
    for c in commits.unwrap_or_default() {
        for files in [c.added, c.modified, c.removed].into_iter().flatten() {
            push.add_changed_files(&files);
        }
    }
}

/// GitHub's push event; Gitea and Gogs send the same shape.
#[derive(Deserialize)]
struct HubPush {
    #[serde(rename = "ref")]
    git_ref: String,
    before: Option<String>,
    after: Option<String>,
    repository: HubRepository,
    commits: Option<Vec<Commit>>,
}

#[derive(Deserialize)]
struct HubRepository {
    html_url: Option<String>,
    clone_url: Option<String>,
    ssh_url: Option<String>,
    git_url: Option<String>,
    default_branch: Option<String>,
    /// GitHub's older name for the default branch, still sent on pushes.
    master_branch: Option<String>,
}

impl HubPush {
    fn into_push(self, provider: Provider) -> Push {
        let mut push = Push::new(provider, Some(self.git_ref));
        let repo = self.repository;
        for url in [
            &repo.html_url,
            &repo.clone_url,
            &repo.ssh_url,
            &repo.git_url,
        ] {
            push.add_repo_url(url.as_deref());
        }
        push.default_branch = repo.default_branch.or(repo.master_branch);
        push.set_commits(self.before.as_deref(), self.after.as_deref());
        add_commits(&mut push, self.commits);
        push
    }
}

#[derive(Deserialize)]
struct GitLabKind {
    object_kind: Option<String>,
    event_name: Option<String>,
}

/// GitLab's push and tag push events.
#[derive(Deserialize)]
struct GitLabPush {
    #[serde(rename = "ref")]
    git_ref: String,
    before: Option<String>,
    after: Option<String>,
    project: Option<GitLabProject>,
    repository: Option<GitLabRepository>,
    commits: Option<Vec<Commit>>,
}

#[derive(Deserialize)]
struct GitLabProject {
    web_url: Option<String>,
    git_http_url: Option<String>,
    git_ssh_url: Option<String>,
    default_branch: Option<String>,
}

#[derive(Deserialize)]
struct GitLabRepository {
    homepage: Option<String>,
    git_http_url: Option<String>,
    git_ssh_url: Option<String>,
}

impl GitLabPush {
    fn into_push(self) -> Push {
        let mut push = Push::new(Provider::GitLab, Some(self.git_ref));
        if let Some(p) = self.project {
            for url in [&p.web_url, &p.git_http_url, &p.git_ssh_url] {
                push.add_repo_url(url.as_deref());
            }
            push.default_branch = p.default_branch;
        }
        if let Some(r) = self.repository {
            for url in [&r.homepage, &r.git_http_url, &r.git_ssh_url] {
                push.add_repo_url(url.as_deref());
            }
        }
        push.set_commits(self.before.as_deref(), self.after.as_deref());
        add_commits(&mut push, self.commits);
        push
    }
}

/// Bitbucket Cloud's `repo:push`.
#[derive(Deserialize)]
struct BitbucketCloudPush {
    push: BitbucketCloudChanges,
    repository: BitbucketCloudRepository,
}

#[derive(Deserialize)]
struct BitbucketCloudChanges {
    changes: Vec<BitbucketCloudChange>,
}

#[derive(Deserialize)]
struct BitbucketCloudChange {
    new: Option<BitbucketCloudRef>,
    old: Option<BitbucketCloudRef>,
}

#[derive(Deserialize)]
struct BitbucketCloudRef {
    #[serde(rename = "type")]
    kind: Option<String>,
    name: String,
    target: Option<BitbucketCloudTarget>,
}

#[derive(Deserialize)]
struct BitbucketCloudTarget {
    hash: Option<String>,
}

#[derive(Deserialize)]
struct BitbucketCloudRepository {
    links: Option<BitbucketCloudLinks>,
}

#[derive(Deserialize)]
struct BitbucketCloudLinks {
    html: Option<BitbucketLink>,
}

#[derive(Deserialize)]
struct BitbucketLink {
    href: Option<String>,
    name: Option<String>,
}

impl BitbucketCloudRef {
    fn full_name(&self) -> String {
        match self.kind.as_deref() {
            Some("tag") => format!("refs/tags/{}", self.name),
            _ => format!("refs/heads/{}", self.name),
        }
    }

    fn hash(&self) -> Option<&str> {
        self.target.as_ref().and_then(|t| t.hash.as_deref())
    }
}

impl BitbucketCloudPush {
    fn into_push(self) -> Push {
        // Several refs may be pushed at once; like Argo CD, the first one
        // stands for the event. A deleted ref has only `old`.
        let change = self.push.changes.into_iter().next();
        let current = change
            .as_ref()
            .and_then(|c| c.new.as_ref().or(c.old.as_ref()));
        let mut push = Push::new(
            Provider::BitbucketCloud,
            current.map(BitbucketCloudRef::full_name),
        );
        if let Some(c) = &change {
            push.set_commits(
                c.old.as_ref().and_then(BitbucketCloudRef::hash),
                c.new.as_ref().and_then(BitbucketCloudRef::hash),
            );
        }
        let html = self
            .repository
            .links
            .and_then(|l| l.html)
            .and_then(|h| h.href);
        push.add_repo_url(html.as_deref());
        push
    }
}

/// Bitbucket Server's (Data Center's) `repo:refs_changed`.
#[derive(Deserialize)]
struct BitbucketServerPush {
    repository: BitbucketServerRepository,
    changes: Vec<BitbucketServerChange>,
}

#[derive(Deserialize)]
struct BitbucketServerRepository {
    links: Option<BitbucketServerLinks>,
}

#[derive(Deserialize)]
struct BitbucketServerLinks {
    clone: Option<Vec<BitbucketLink>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BitbucketServerChange {
    #[serde(rename = "ref")]
    reference: Option<BitbucketServerRef>,
    ref_id: Option<String>,
    from_hash: Option<String>,
    to_hash: Option<String>,
}

#[derive(Deserialize)]
struct BitbucketServerRef {
    id: Option<String>,
}

impl BitbucketServerPush {
    fn into_push(self) -> Push {
        // First change only, as Argo CD does.
        let change = self.changes.into_iter().next();
        let git_ref = change.as_ref().and_then(|c| {
            c.reference
                .as_ref()
                .and_then(|r| r.id.clone())
                .or(c.ref_id.clone())
        });
        let mut push = Push::new(Provider::BitbucketServer, git_ref);
        if let Some(c) = &change {
            push.set_commits(c.from_hash.as_deref(), c.to_hash.as_deref());
        }
        // Only clone links: `self` links point at the browse page, whose
        // path (`/projects/P/repos/r/browse`) is not the repository's.
        let clone = self
            .repository
            .links
            .and_then(|l| l.clone)
            .unwrap_or_default();
        for link in clone
            .iter()
            .filter(|l| matches!(l.name.as_deref(), Some("http" | "https" | "ssh") | None))
        {
            push.add_repo_url(link.href.as_deref());
        }
        push
    }
}

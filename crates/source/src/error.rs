//! The errors of the source layer. Each names the repository URL (and the
//! revision where there is one) so the controller can put the message into an
//! Application condition as it is.

/// What went wrong while fetching a repository, resolving a revision or
/// checking out a tree. `Clone` because one fetch's result is shared by every
/// caller that waited for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("repository not found: {url}: {detail}")]
    RepositoryNotFound { url: String, detail: String },

    #[error("authentication failed for repository {url}: {detail}")]
    AuthenticationFailed { url: String, detail: String },

    #[error("repository {url} is unreachable: {detail}")]
    Unreachable { url: String, detail: String },

    #[error("revision '{revision}' not found in repository {url}")]
    RevisionNotFound { url: String, revision: String },

    #[error("git {operation} failed for repository {url}: {detail}")]
    Git {
        url: String,
        operation: String,
        detail: String,
    },

    #[error("cache directory {path}: {detail}")]
    Cache { path: String, detail: String },
}

impl Error {
    pub(crate) fn cache(path: &std::path::Path, err: impl std::fmt::Display) -> Self {
        Error::Cache {
            path: path.display().to_string(),
            detail: err.to_string(),
        }
    }
}

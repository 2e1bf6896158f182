//! `POST /api/v1/applications/{name}/diff-local`: the Application's live
//! state compared with manifests rendered from files the client uploaded
//! (`gyro app diff --local DIR`). Every uploaded path is checked before
//! anything is written: relative, no `..`, no NUL, within the size limits;
//! the files are written as plain files into a fresh temporary directory
//! (never symlinks), rendered with the Application's source settings, and
//! compared by the controller's code.

use std::path::{Component, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::State as AxumState;
use axum::routing::post;
use base64::Engine;
use controller::compare;
use serde::Deserialize;
use serde_json::Value;

use crate::applications::{NamespaceQuery, condition_error, managed_items};
use crate::extract::{Json, Path, Query};
use crate::{ApiError, Principal, State};

/// At most this many files in one upload.
pub const MAX_FILES: usize = 5000;
/// At most this many bytes in one file (decoded).
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
/// At most this many bytes in all files (decoded).
pub const MAX_TOTAL_BYTES: usize = 12 * 1024 * 1024;

pub fn routes() -> Router<Arc<State>> {
    Router::new().route("/api/v1/applications/{name}/diff-local", post(diff_local))
}

/// One uploaded file: a path relative to the tree's root and its content
/// in base64.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadedFile {
    pub path: String,
    pub content: String,
}

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffLocalRequest {
    pub files: Vec<UploadedFile>,
    /// The source path inside the uploaded tree (default: the
    /// Application's `spec.source.path`).
    #[serde(default)]
    pub path: Option<String>,
}

/// A path a client sent, checked: relative, without `..`, NUL, or a
/// Windows prefix; `.` components dropped. `Err` names the path and what
/// is wrong. An empty result is the root (allowed only for a source path).
pub fn safe_relative_path(path: &str) -> Result<PathBuf, String> {
    if path.contains('\0') {
        return Err(format!("{path:?}: contains a NUL byte"));
    }
    if path.contains('\\') {
        return Err(format!("{path:?}: contains a backslash"));
    }
    let p = std::path::Path::new(path);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(format!("{path:?}: contains \"..\"")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("{path:?}: is absolute; paths must be relative"));
            }
        }
    }
    Ok(out)
}

/// The checked, decoded files: (relative path, bytes). `Err` is a 400
/// naming the first bad path.
pub fn check_upload(files: &[UploadedFile]) -> Result<Vec<(PathBuf, Vec<u8>)>, ApiError> {
    if files.len() > MAX_FILES {
        return Err(ApiError::bad_request(format!(
            "files: {} files uploaded; at most {MAX_FILES} are accepted",
            files.len()
        )));
    }
    let mut total = 0usize;
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let path = safe_relative_path(&f.path)
            .map_err(|e| ApiError::bad_request(format!("files: unsafe path {e}")))?;
        if path.as_os_str().is_empty() {
            return Err(ApiError::bad_request(format!(
                "files: {:?} is not a file path",
                f.path
            )));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(f.content.as_bytes())
            .map_err(|e| {
                ApiError::bad_request(format!("files: {:?}: content is not base64: {e}", f.path))
            })?;
        if bytes.len() > MAX_FILE_BYTES {
            return Err(ApiError::bad_request(format!(
                "files: {:?} is {} bytes; at most {MAX_FILE_BYTES} are accepted",
                f.path,
                bytes.len()
            )));
        }
        total += bytes.len();
        if total > MAX_TOTAL_BYTES {
            return Err(ApiError::bad_request(format!(
                "files: more than {MAX_TOTAL_BYTES} bytes uploaded"
            )));
        }
        out.push((path, bytes));
    }
    Ok(out)
}

/// Writes the checked files under `root` as plain files; a path that
/// collides with a directory (or a file with a directory) is a 400.
fn write_tree(root: &std::path::Path, files: &[(PathBuf, Vec<u8>)]) -> Result<(), ApiError> {
    for (path, bytes) in files {
        let target = root.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                ApiError::bad_request(format!(
                    "files: {}: cannot create its directory: {e}",
                    path.display()
                ))
            })?;
        }
        std::fs::write(&target, bytes).map_err(|e| {
            ApiError::bad_request(format!("files: {}: cannot be written: {e}", path.display()))
        })?;
    }
    Ok(())
}

async fn diff_local(
    AxumState(state): AxumState<Arc<State>>,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<NamespaceQuery>,
    Json(req): Json<DiffLocalRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    let ns = state.app_namespace(q.app_namespace.as_deref());
    let app = state.app(&ns, &name).await?;
    state.enforce(&principal, "applications", "get", &state.object_of(&app))?;
    let files = check_upload(&req.files)?;
    let mut source =
        controller::status::supported_source(&app).map_err(|c| ApiError::bad_request(c.message))?;
    if let Some(path) = &req.path {
        let checked = safe_relative_path(path)
            .map_err(|e| ApiError::bad_request(format!("path: unsafe path {e}")))?;
        source.path = Some(checked.to_string_lossy().into_owned());
    }
    let dir = tempfile::tempdir()
        .map_err(|e| ApiError::internal(format!("creating a temporary directory: {e}")))?;
    let root = dir.path().to_path_buf();
    let written = {
        let root = root.clone();
        tokio::task::spawn_blocking(move || write_tree(&root, &files))
            .await
            .map_err(|e| ApiError::internal(format!("writing the upload: {e}")))?
    };
    written?;
    let rendered = {
        let source = source.clone();
        tokio::task::spawn_blocking(move || compare::render_tree(&root, &source, "local files"))
            .await
            .map_err(|e| ApiError::internal(format!("rendering the upload: {e}")))?
    }
    .map_err(|c| ApiError::bad_request(c.message))?;
    let ctx = &state.controller;
    let cluster = ctx.clusters.for_app(&app).await.map_err(condition_error)?;
    let comparison = compare::compare_rendered(ctx, &app, &source, "local", cluster, &rendered)
        .await
        .map_err(condition_error)?;
    drop(dir);
    Ok(axum::Json(managed_items(&comparison)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_paths_are_refused_by_name() {
        for bad in ["/etc/passwd", "../x", "a/../../x", "a\0b", "a\\..\\b"] {
            let err = safe_relative_path(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
        assert_eq!(
            safe_relative_path("./overlays/dev/kustomization.yaml").unwrap(),
            PathBuf::from("overlays/dev/kustomization.yaml")
        );
        assert_eq!(safe_relative_path(".").unwrap(), PathBuf::new());
    }

    #[test]
    fn uploads_are_checked_before_anything_is_written() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let ok = check_upload(&[UploadedFile {
            path: "base/cm.yaml".into(),
            content: b64("kind: ConfigMap"),
        }])
        .unwrap();
        assert_eq!(ok[0].0, PathBuf::from("base/cm.yaml"));
        let err = check_upload(&[UploadedFile {
            path: "../../escape".into(),
            content: b64("x"),
        }])
        .unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err.message.contains("../../escape"), "{}", err.message);
        let err = check_upload(&[UploadedFile {
            path: "a.yaml".into(),
            content: "not base64!".into(),
        }])
        .unwrap_err();
        assert!(err.message.contains("a.yaml"));
        let err = check_upload(&[UploadedFile {
            path: ".".into(),
            content: b64("x"),
        }])
        .unwrap_err();
        assert_eq!(err.status, 400);
    }
}

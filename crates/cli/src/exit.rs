//! Exit codes a script can rely on, and the errors that carry them.
//!
//! Where Argo CD's CLI has a convention it is kept: 1 when `app diff`
//! finds differences, 11 when the server cannot be reached, 12 when the
//! server refuses the request, 13 when the object does not exist, 20 for
//! any other error. gyro adds 2 for a usage error (clap's), 3 for a wait
//! that timed out and 4 for an operation (sync, rollback) that ended
//! Failed or Error.

use std::process::ExitCode;

pub const OK: u8 = 0;
/// `app diff` / `gyro diff`: the live state differs from the target.
pub const DIFFERENCES: u8 = 1;
/// A usage error: unknown flag, missing argument (clap's own code).
pub const USAGE: u8 = 2;
/// `app wait`, `app sync` or `app rollback` ran out of `--timeout`.
pub const TIMED_OUT: u8 = 3;
/// The sync or rollback operation ended in phase Failed or Error.
pub const OPERATION_FAILED: u8 = 4;
/// The server could not be reached (Argo CD's `ErrorConnectionFailure`).
pub const CONNECTION_FAILURE: u8 = 11;
/// The server refused the request: bad input, not logged in, forbidden
/// by RBAC, conflict (Argo CD's `ErrorAPIResponse`).
pub const API_RESPONSE: u8 = 12;
/// The object does not exist (Argo CD's `ErrorResourceDoesNotExist`).
pub const NOT_FOUND: u8 = 13;
/// Anything else (Argo CD's `ErrorGeneric`).
pub const GENERIC: u8 = 20;

/// An error whose exit code is not the generic one.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The server answered with an error status; `message` is its own.
    #[error("{message}")]
    Api { status: u16, message: String },
    #[error("cannot reach the gyro server at {server}: {reason}")]
    Connect { server: String, reason: String },
    #[error("{0}")]
    TimedOut(String),
    #[error("{0}")]
    OperationFailed(String),
}

impl Failure {
    pub fn code(&self) -> u8 {
        match self {
            Failure::Api { status: 404, .. } => NOT_FOUND,
            Failure::Api { .. } => API_RESPONSE,
            Failure::Connect { .. } => CONNECTION_FAILURE,
            Failure::TimedOut(_) => TIMED_OUT,
            Failure::OperationFailed(_) => OPERATION_FAILED,
        }
    }
}

/// The exit code for an error that ended a command.
pub fn code_for(err: &anyhow::Error) -> u8 {
    err.chain()
        .find_map(|e| e.downcast_ref::<Failure>())
        .map_or(GENERIC, Failure::code)
}

pub fn exit(code: u8) -> ExitCode {
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_failure() {
        let api = |status| {
            anyhow::Error::new(Failure::Api {
                status,
                message: "m".into(),
            })
        };
        assert_eq!(code_for(&api(404)), NOT_FOUND);
        assert_eq!(code_for(&api(403)), API_RESPONSE);
        assert_eq!(code_for(&api(401)), API_RESPONSE);
        assert_eq!(
            code_for(&anyhow::Error::new(Failure::TimedOut("t".into()))),
            TIMED_OUT
        );
        assert_eq!(
            code_for(&anyhow::Error::new(Failure::OperationFailed("f".into()))),
            OPERATION_FAILED
        );
        let connect = anyhow::Error::new(Failure::Connect {
            server: "s".into(),
            reason: "r".into(),
        })
        .context("listing applications");
        assert_eq!(code_for(&connect), CONNECTION_FAILURE);
        assert_eq!(code_for(&anyhow::anyhow!("other")), GENERIC);
    }

    #[test]
    fn codes_are_distinct() {
        let mut all = [
            OK,
            DIFFERENCES,
            USAGE,
            TIMED_OUT,
            OPERATION_FAILED,
            CONNECTION_FAILURE,
            API_RESPONSE,
            NOT_FOUND,
            GENERIC,
        ];
        all.sort_unstable();
        let len = all.len();
        let mut dedup = all.to_vec();
        dedup.dedup();
        assert_eq!(dedup.len(), len);
    }
}

//! The health codes, their "worse" order, and the status value.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A health code, declared from best to worst: the derived order is the one
/// gitops-engine's `IsWorse` uses (Healthy < Suspended < Progressing <
/// Missing < Degraded < Unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum HealthStatusCode {
    Healthy,
    Suspended,
    Progressing,
    Missing,
    Degraded,
    Unknown,
}

impl HealthStatusCode {
    /// Every code, best first.
    pub const ALL: [HealthStatusCode; 6] = [
        Self::Healthy,
        Self::Suspended,
        Self::Progressing,
        Self::Missing,
        Self::Degraded,
        Self::Unknown,
    ];

    /// The code as Argo CD writes it in `status.health.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "Healthy",
            Self::Suspended => "Suspended",
            Self::Progressing => "Progressing",
            Self::Missing => "Missing",
            Self::Degraded => "Degraded",
            Self::Unknown => "Unknown",
        }
    }

    /// The code for Argo CD's spelling, case-sensitive as Argo CD is.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for HealthStatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `new` is worse than `current` (gitops-engine's `IsWorse`).
pub fn is_worse(current: HealthStatusCode, new: HealthStatusCode) -> bool {
    new > current
}

/// The health of one resource: a code and a human message (often empty, as
/// in Argo CD).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthStatus {
    pub status: HealthStatusCode,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl HealthStatus {
    pub fn new(status: HealthStatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use HealthStatusCode::*;

    #[test]
    fn worse_order_matches_gitops_engine() {
        let order = [Healthy, Suspended, Progressing, Missing, Degraded, Unknown];
        for (i, a) in order.iter().enumerate() {
            for (j, b) in order.iter().enumerate() {
                assert_eq!(is_worse(*a, *b), j > i, "{a} -> {b}");
            }
        }
    }

    #[test]
    fn codes_round_trip_through_argo_spelling() {
        for code in HealthStatusCode::ALL {
            assert_eq!(HealthStatusCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(HealthStatusCode::parse("healthy"), None);
        let json = serde_json::to_value(HealthStatus::new(Degraded, "boom")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"status": "Degraded", "message": "boom"})
        );
    }
}

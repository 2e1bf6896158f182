//! Service health: only a `LoadBalancer` Service can be unready, until its
//! load balancer reports an ingress point.

use crate::fields::{array, string};
use crate::{HealthError, HealthStatus, HealthStatusCode};
use serde_json::Value;

pub fn health(obj: &Value) -> Result<HealthStatus, HealthError> {
    let waiting = string(obj, "/spec/type")? == "LoadBalancer"
        && array(obj, "/status/loadBalancer/ingress")?.is_empty();
    Ok(HealthStatus::new(
        if waiting {
            HealthStatusCode::Progressing
        } else {
            HealthStatusCode::Healthy
        },
        "",
    ))
}

#[cfg(test)]
mod tests {
    use crate::HealthStatusCode::*;
    use crate::kinds::fixture;

    #[test]
    fn service_fixtures() {
        fixture::check(&[
            ("service-clusterip.yaml", Healthy, ""),
            ("service-lb-pending.yaml", Progressing, ""),
            ("service-lb-ready.yaml", Healthy, ""),
        ]);
    }
}

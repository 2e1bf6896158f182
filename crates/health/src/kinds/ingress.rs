//! Ingress health (`networking.k8s.io` and the old `extensions` group): it
//! is Progressing until the controller publishes a load-balancer ingress.

use crate::fields::array;
use crate::{HealthError, HealthStatus, HealthStatusCode};
use serde_json::Value;

pub fn health(obj: &Value) -> Result<HealthStatus, HealthError> {
    let ready = !array(obj, "/status/loadBalancer/ingress")?.is_empty();
    Ok(HealthStatus::new(
        if ready {
            HealthStatusCode::Healthy
        } else {
            HealthStatusCode::Progressing
        },
        "",
    ))
}

#[cfg(test)]
mod tests {
    use crate::HealthStatusCode::*;
    use crate::kinds::fixture;

    #[test]
    fn ingress_fixtures() {
        fixture::check(&[
            ("ingress-ready.yaml", Healthy, ""),
            ("ingress-pending.yaml", Progressing, ""),
            ("ingress-extensions-ready.yaml", Healthy, ""),
        ]);
    }
}

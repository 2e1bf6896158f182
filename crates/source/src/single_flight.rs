//! One operation in flight per key: callers that ask while it runs wait for
//! it and get a clone of its result, instead of starting their own.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

pub(crate) struct SingleFlight<T: Clone> {
    inflight: Mutex<HashMap<String, Shared<BoxFuture<'static, T>>>>,
}

impl<T: Clone + Send + Sync + 'static> SingleFlight<T> {
    pub fn new() -> Self {
        Self {
            inflight: Mutex::new(HashMap::new()),
        }
    }

    /// Joins the operation running for `key`, or starts `start()` as it.
    pub async fn run<F>(&self, key: &str, start: impl FnOnce() -> F) -> T
    where
        F: Future<Output = T> + Send + 'static,
    {
        let flight = {
            let mut map = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(key.to_string())
                .or_insert_with(|| start().boxed().shared())
                .clone()
        };
        let out = flight.clone().await;
        // Later callers must start a new operation (a fresh fetch sees new
        // commits), so the finished one leaves the map; only this flight,
        // not a newer one another caller may already have started.
        let mut map = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(key).is_some_and(|f| f.ptr_eq(&flight)) {
            map.remove(key);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_callers_share_one_run_and_later_callers_start_another() {
        let flights = Arc::new(SingleFlight::<usize>::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let call = || {
            let (flights, runs) = (flights.clone(), runs.clone());
            async move {
                flights
                    .run("k", || async move {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        runs.fetch_add(1, Ordering::SeqCst) + 1
                    })
                    .await
            }
        };
        let results = futures::future::join_all((0..5).map(|_| call())).await;
        assert_eq!(results, vec![1; 5]);
        assert_eq!(call().await, 2);
    }
}

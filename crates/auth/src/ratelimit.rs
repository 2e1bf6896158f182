//! Login rate limiting as Argo CD does it: failed logins are counted per
//! user name within a window (`ARGOCD_SESSION_FAILURE_MAX_FAIL_COUNT`,
//! default 5, and `ARGOCD_SESSION_FAILURE_WINDOW_SECONDS`, default 300);
//! once the count is reached, further attempts are refused, the right
//! password too, until the oldest failure leaves the window. gyro also
//! counts per client address (`GYRO_SESSION_FAILURE_MAX_FAIL_COUNT_PER_ADDRESS`,
//! default 4 times the per-user count), so one address cannot try many
//! names. Pure: the time is a parameter.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;

use crate::AuthError;

/// The limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Failures per user name within the window before refusing.
    pub per_user: usize,
    /// Failures per client address within the window before refusing.
    pub per_address: usize,
    pub window_secs: i64,
    /// How many names or addresses are remembered (bounds memory when
    /// someone sprays random names).
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_user: 5,
            per_address: 20,
            window_secs: 300,
            max_entries: 1_000,
        }
    }
}

impl Limits {
    /// The defaults, overridden by Argo CD's environment variables
    /// (`ARGOCD_SESSION_FAILURE_MAX_FAIL_COUNT`,
    /// `ARGOCD_SESSION_FAILURE_WINDOW_SECONDS`, `ARGOCD_SESSION_MAX_CACHE_SIZE`)
    /// and gyro's `GYRO_SESSION_FAILURE_MAX_FAIL_COUNT_PER_ADDRESS`.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let number = |name: &str| -> Option<i64> {
            let text = get(name)?;
            match text.trim().parse::<i64>() {
                Ok(n) if n >= 0 => Some(n),
                _ => {
                    tracing::warn!(variable = name, value = %text, "not a non-negative number; using the default");
                    None
                }
            }
        };
        let defaults = Self::default();
        let per_user = number("ARGOCD_SESSION_FAILURE_MAX_FAIL_COUNT")
            .map_or(defaults.per_user, |n| n as usize);
        Self {
            per_user,
            per_address: number("GYRO_SESSION_FAILURE_MAX_FAIL_COUNT_PER_ADDRESS")
                .map_or(per_user.saturating_mul(4), |n| n as usize),
            window_secs: number("ARGOCD_SESSION_FAILURE_WINDOW_SECONDS")
                .unwrap_or(defaults.window_secs),
            max_entries: number("ARGOCD_SESSION_MAX_CACHE_SIZE")
                .map_or(defaults.max_entries, |n| n as usize),
        }
    }
}

/// Failure times per key, oldest first.
#[derive(Debug)]
struct Failures<K> {
    by_key: HashMap<K, VecDeque<i64>>,
}

impl<K: Hash + Eq + Clone> Failures<K> {
    fn new() -> Self {
        Self {
            by_key: HashMap::new(),
        }
    }

    /// Drops failures older than the window; answers when `key` may try
    /// again if it reached `max`.
    fn blocked_until(&mut self, key: &K, max: usize, window: i64, now: i64) -> Option<i64> {
        let times = self.by_key.get_mut(key)?;
        while times.front().is_some_and(|t| *t + window <= now) {
            times.pop_front();
        }
        if times.is_empty() {
            self.by_key.remove(key);
            return None;
        }
        if times.len() >= max {
            // The count drops below the limit when the oldest leaves.
            times.front().map(|oldest| oldest + window)
        } else {
            None
        }
    }

    fn record(&mut self, key: K, window: i64, max_entries: usize, now: i64) {
        if !self.by_key.contains_key(&key) && self.by_key.len() >= max_entries {
            self.by_key
                .retain(|_, times| times.back().is_some_and(|t| *t + window > now));
            if self.by_key.len() >= max_entries
                && let Some(stalest) = self
                    .by_key
                    .iter()
                    .min_by_key(|(_, times)| times.back().copied().unwrap_or(i64::MIN))
                    .map(|(k, _)| k.clone())
            {
                self.by_key.remove(&stalest);
            }
        }
        self.by_key.entry(key).or_default().push_back(now);
    }

    fn clear(&mut self, key: &K) {
        self.by_key.remove(key);
    }
}

/// Counts failed logins.
#[derive(Debug)]
pub struct RateLimiter {
    limits: Limits,
    users: Failures<String>,
    addresses: Failures<IpAddr>,
}

impl RateLimiter {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            users: Failures::new(),
            addresses: Failures::new(),
        }
    }

    /// Whether `user` from `address` may try to log in at `now`.
    pub fn check(&mut self, user: &str, address: IpAddr, now: i64) -> Result<(), AuthError> {
        let l = self.limits;
        let user_key = user.to_string();
        let blocked = [
            self.users
                .blocked_until(&user_key, l.per_user, l.window_secs, now)
                .map(|until| (until, format!("user {user:?}"))),
            self.addresses
                .blocked_until(&address, l.per_address, l.window_secs, now)
                .map(|until| (until, format!("address {address}"))),
        ];
        match blocked
            .into_iter()
            .flatten()
            .max_by_key(|(until, _)| *until)
        {
            Some((until, subject)) => Err(AuthError::RateLimited {
                subject,
                retry_after_secs: (until - now).max(1),
            }),
            None => Ok(()),
        }
    }

    /// Counts a failed login.
    pub fn record_failure(&mut self, user: &str, address: IpAddr, now: i64) {
        let l = self.limits;
        self.users
            .record(user.to_string(), l.window_secs, l.max_entries, now);
        self.addresses
            .record(address, l.window_secs, l.max_entries, now);
    }

    /// A successful login forgets the user's failures (not the address's).
    pub fn record_success(&mut self, user: &str) {
        self.users.clear(&user.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    fn limiter() -> RateLimiter {
        RateLimiter::new(Limits {
            per_user: 5,
            per_address: 8,
            window_secs: 300,
            max_entries: 100,
        })
    }

    #[test]
    fn the_sixth_attempt_after_five_failures_is_refused_until_the_window_moves() {
        let mut rl = limiter();
        for i in 0..5 {
            assert!(rl.check("admin", A, 1_000 + i).is_ok(), "attempt {i}");
            rl.record_failure("admin", A, 1_000 + i);
        }
        let err = rl.check("admin", A, 1_010).unwrap_err();
        assert_eq!(err.status(), 429);
        // The first failure (at 1000) leaves the window at 1300.
        assert_eq!(err.retry_after(), Some(290));
        assert!(
            err.to_string().contains("try again in 290 seconds"),
            "{err}"
        );
        // Another address does not help: the limit is on the name.
        assert!(rl.check("admin", B, 1_010).is_err());
        assert!(rl.check("admin", A, 1_299).is_err());
        assert!(rl.check("admin", A, 1_300).is_ok());
    }

    #[test]
    fn other_users_are_not_affected() {
        let mut rl = limiter();
        for i in 0..5 {
            rl.record_failure("admin", A, 1_000 + i);
        }
        assert!(rl.check("alice", B, 1_010).is_ok());
    }

    #[test]
    fn one_address_spraying_names_is_refused() {
        let mut rl = limiter();
        for i in 0..8 {
            let user = format!("user{i}");
            assert!(rl.check(&user, A, 1_000).is_ok());
            rl.record_failure(&user, A, 1_000);
        }
        let err = rl.check("someone-new", A, 1_001).unwrap_err();
        assert!(err.to_string().contains("address 10.0.0.1"), "{err}");
        assert!(rl.check("someone-new", B, 1_001).is_ok());
    }

    #[test]
    fn success_forgets_the_users_failures() {
        let mut rl = limiter();
        for i in 0..4 {
            rl.record_failure("admin", A, 1_000 + i);
        }
        rl.record_success("admin");
        rl.record_failure("admin", A, 1_010);
        assert!(rl.check("admin", A, 1_011).is_ok());
    }

    #[test]
    fn memory_is_bounded() {
        let mut rl = RateLimiter::new(Limits {
            per_user: 5,
            per_address: 1_000_000,
            window_secs: 300,
            max_entries: 10,
        });
        for i in 0..100 {
            rl.record_failure(&format!("u{i}"), A, 1_000 + i);
        }
        assert!(rl.users.by_key.len() <= 10);
        // The newest are kept.
        assert!(rl.users.by_key.contains_key("u99"));
    }

    #[test]
    fn limits_read_argo_cds_variables() {
        let env = |name: &str| match name {
            "ARGOCD_SESSION_FAILURE_MAX_FAIL_COUNT" => Some("3".to_string()),
            "ARGOCD_SESSION_FAILURE_WINDOW_SECONDS" => Some("60".to_string()),
            "ARGOCD_SESSION_MAX_CACHE_SIZE" => Some("junk".to_string()),
            _ => None,
        };
        let l = Limits::from_lookup(env);
        assert_eq!(l.per_user, 3);
        assert_eq!(l.per_address, 12);
        assert_eq!(l.window_secs, 60);
        assert_eq!(l.max_entries, 1_000);
        assert_eq!(Limits::from_lookup(|_| None), Limits::default());
    }
}

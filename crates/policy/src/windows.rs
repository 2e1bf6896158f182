//! Sync windows (`AppProject.spec.syncWindows`): when syncs of the
//! project's Applications are allowed or denied, as Argo CD decides it.
//!
//! A window opens at each time its `schedule` (a five-field cron
//! expression, in its `timeZone`, UTC by default) fires and stays open for
//! its `duration`. It applies to the Applications its `applications`,
//! `namespaces` (of the destination) or `clusters` (the destination's
//! server or name) globs match: any one of them, or every non-empty one
//! with `andOperator`.
//!
//! For an Application: with no matching window every sync is allowed; an
//! active matching `deny` window blocks (deny wins over allow); otherwise,
//! when matching `allow` windows exist, a sync is allowed only while one of
//! them is active. A manual sync is allowed through the blocking windows
//! when they say `manualSync: true`.
//!
//! The clock is a parameter: every function takes `now`.

use std::time::Duration;

use croner::Cron;
use croner::parser::{CronParser, Seconds};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::duration::parse_go_duration;
use crate::glob;

/// How many consecutive openings of an overlapping window are followed to
/// find when it closes; past that the window is looked at again later.
const MAX_CHAINED_OPENINGS: usize = 1000;

/// `allow` or `deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Allow,
    Deny,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Allow => "allow",
            Kind::Deny => "deny",
        }
    }
}

/// A sync window that parsed: its schedule, duration and time zone are
/// valid.
#[derive(Debug, Clone)]
pub struct Window {
    /// Its index in `spec.syncWindows`.
    pub index: usize,
    pub kind: Kind,
    pub schedule: String,
    pub duration: Duration,
    /// As written (`duration`).
    pub duration_text: String,
    /// As written; empty means UTC.
    pub time_zone: String,
    pub applications: Vec<String>,
    pub namespaces: Vec<String>,
    pub clusters: Vec<String>,
    pub manual_sync: bool,
    pub and_operator: bool,
    cron: Cron,
    zone: TimeZone,
}

/// A window that does not parse, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("spec.syncWindows[{index}].{field}: {message}")]
pub struct WindowError {
    pub index: usize,
    pub field: &'static str,
    pub message: String,
}

/// What a window is matched against: the Application's name and its
/// destination (namespace, and the cluster's server and name as resolved).
#[derive(Debug, Clone, Copy, Default)]
pub struct Target<'a> {
    pub application: &'a str,
    pub namespace: &'a str,
    pub server: &'a str,
    pub cluster: &'a str,
}

/// Parses every window of a project; the first invalid one is the error.
pub fn parse(windows: &[api::SyncWindow]) -> Result<Vec<Window>, WindowError> {
    windows
        .iter()
        .enumerate()
        .map(|(index, w)| parse_window(index, w))
        .collect()
}

/// Parses window number `index` of `spec.syncWindows`.
pub fn parse_window(index: usize, w: &api::SyncWindow) -> Result<Window, WindowError> {
    let error = |field: &'static str, message: String| WindowError {
        index,
        field,
        message,
    };
    let kind = match w.kind.as_deref().unwrap_or("") {
        "allow" => Kind::Allow,
        "deny" => Kind::Deny,
        other => return Err(error("kind", format!("{other:?} is not allow or deny"))),
    };
    let schedule = w.schedule.clone().unwrap_or_default();
    let cron = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .build()
        .parse(&schedule)
        .map_err(|e| {
            error(
                "schedule",
                format!("{schedule:?} is not a five-field cron expression: {e}"),
            )
        })?;
    let duration_text = w.duration.clone().unwrap_or_default();
    let duration = parse_go_duration(&duration_text).ok_or_else(|| {
        error(
            "duration",
            format!("{duration_text:?} is not a duration like 1h, 30m or 1h30m"),
        )
    })?;
    let time_zone = w.time_zone.clone().unwrap_or_default();
    let zone = if time_zone.is_empty() {
        TimeZone::UTC
    } else {
        TimeZone::get(&time_zone).map_err(|e| {
            error(
                "timeZone",
                format!("{time_zone:?} is not an IANA time zone: {e}"),
            )
        })?
    };
    Ok(Window {
        index,
        kind,
        schedule,
        duration,
        duration_text,
        time_zone,
        applications: w.applications.clone().unwrap_or_default(),
        namespaces: w.namespaces.clone().unwrap_or_default(),
        clusters: w.clusters.clone().unwrap_or_default(),
        manual_sync: w.manual_sync == Some(true),
        and_operator: w.and_operator == Some(true),
        cron,
        zone,
    })
}

impl Window {
    /// Whether the window applies to `target`.
    pub fn matches(&self, target: &Target<'_>) -> bool {
        let any = |patterns: &[String], values: &[&str]| {
            patterns.iter().any(|p| {
                values
                    .iter()
                    .any(|v| !v.is_empty() && glob::argo_match(p, v, false, &[]))
            })
        };
        let lists = [
            (
                &self.applications,
                any(&self.applications, &[target.application]),
            ),
            (&self.namespaces, any(&self.namespaces, &[target.namespace])),
            (
                &self.clusters,
                any(&self.clusters, &[target.server, target.cluster]),
            ),
        ];
        let given = lists.iter().filter(|(patterns, _)| !patterns.is_empty());
        if self.and_operator {
            let mut given = given.peekable();
            given.peek().is_some() && given.all(|(_, matched)| *matched)
        } else {
            lists.iter().any(|(_, matched)| *matched)
        }
    }

    fn span(&self) -> SignedDuration {
        SignedDuration::try_from(self.duration).unwrap_or(SignedDuration::MAX)
    }

    /// The first opening strictly after `after`.
    fn next_opening(&self, after: Timestamp) -> Option<Timestamp> {
        self.cron
            .find_next_occurrence(&after.to_zoned(self.zone.clone()), false)
            .ok()
            .map(|z| z.timestamp())
    }

    /// The opening that makes the window active at `now`, if any: the first
    /// one after `now - duration`, when it is before `now` (Argo CD's
    /// `SyncWindow.active`).
    fn opening_before(&self, now: Timestamp) -> Option<Timestamp> {
        let from = now.checked_sub(self.span()).unwrap_or(Timestamp::MIN);
        self.next_opening(from).filter(|t| *t < now)
    }

    /// Whether the window is open at `now`.
    pub fn active(&self, now: Timestamp) -> bool {
        self.opening_before(now).is_some()
    }

    /// When the window's state next changes after `now`: when it closes if
    /// it is open (openings that overlap keep it open), else when it next
    /// opens. `None`: never (a schedule with no further time).
    pub fn next_change(&self, now: Timestamp) -> Option<Timestamp> {
        let Some(mut opened) = self.opening_before(now) else {
            return self.next_opening(now);
        };
        let end = |t: Timestamp| t.checked_add(self.span()).unwrap_or(Timestamp::MAX);
        for _ in 0..MAX_CHAINED_OPENINGS {
            match self.next_opening(opened) {
                Some(next) if next <= end(opened) => opened = next,
                _ => break,
            }
        }
        Some(end(opened))
    }

    /// A one-line description: `deny window spec.syncWindows[0] (schedule
    /// "0 22 * * *", 1h, UTC)`.
    pub fn describe(&self) -> String {
        format!(
            "{} window spec.syncWindows[{}] (schedule {:?}, {}, {})",
            self.kind.as_str(),
            self.index,
            self.schedule,
            self.duration_text,
            if self.time_zone.is_empty() {
                "UTC"
            } else {
                &self.time_zone
            }
        )
    }
}

/// What the windows say about one Application at one time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The indexes of the windows that apply to the Application.
    pub matching: Vec<usize>,
    /// Those of them open now.
    pub active: Vec<usize>,
    /// Whether an automated sync may run.
    pub automated: bool,
    /// Whether a manual sync may run.
    pub manual: bool,
    /// Why syncs are blocked (when `automated` is false).
    pub reason: Option<String>,
    /// When the verdict may next change (a matching window opens or
    /// closes); `None` when no matching window will.
    pub next_change: Option<Timestamp>,
}

/// The verdict of `windows` for `target` at `now` (Argo CD's
/// `SyncWindows.CanSync`).
pub fn evaluate(windows: &[Window], target: &Target<'_>, now: Timestamp) -> Verdict {
    let matching: Vec<&Window> = windows.iter().filter(|w| w.matches(target)).collect();
    let active: Vec<&Window> = matching.iter().copied().filter(|w| w.active(now)).collect();
    let next_change = matching.iter().filter_map(|w| w.next_change(now)).min();
    let denying: Vec<&Window> = active
        .iter()
        .copied()
        .filter(|w| w.kind == Kind::Deny)
        .collect();
    let inactive_allows: Vec<&Window> = matching
        .iter()
        .copied()
        .filter(|w| w.kind == Kind::Allow && !active.iter().any(|a| a.index == w.index))
        .collect();
    let until = next_change.map_or_else(String::new, |t| format!(" until {t}"));
    let (automated, manual, reason) = if !denying.is_empty() {
        let described: Vec<String> = denying.iter().map(|w| w.describe()).collect();
        (
            false,
            denying.iter().all(|w| w.manual_sync),
            Some(format!(
                "blocked by sync window: {} active{until}",
                described.join(", ")
            )),
        )
    } else if active.iter().any(|w| w.kind == Kind::Allow) || inactive_allows.is_empty() {
        (true, true, None)
    } else {
        let described: Vec<String> = inactive_allows.iter().map(|w| w.describe()).collect();
        (
            false,
            inactive_allows.iter().any(|w| w.manual_sync),
            Some(format!(
                "blocked by sync window: outside {}{}",
                described.join(", "),
                next_change.map_or_else(String::new, |t| format!(" (next opens at {t})"))
            )),
        )
    };
    Verdict {
        matching: matching.iter().map(|w| w.index).collect(),
        active: active.iter().map(|w| w.index).collect(),
        automated,
        manual,
        reason,
        next_change,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(yaml: &str) -> api::SyncWindow {
        serde_saphyr::from_str(yaml).expect("a valid window")
    }

    fn windows(yaml: &str) -> Vec<Window> {
        let raw: Vec<api::SyncWindow> = serde_saphyr::from_str(yaml).expect("valid windows");
        parse(&raw).expect("windows that parse")
    }

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a timestamp")
    }

    const APP: Target<'static> = Target {
        application: "web",
        namespace: "shop",
        server: "https://kubernetes.default.svc",
        cluster: "in-cluster",
    };

    #[test]
    fn invalid_windows_name_the_field() {
        let cases = [
            (
                "{kind: deny, schedule: '* * *', duration: 1h, applications: ['*']}",
                "spec.syncWindows[0].schedule",
            ),
            (
                "{kind: deny, schedule: '0 0 * * * *', duration: 1h}",
                "spec.syncWindows[0].schedule",
            ),
            ("{kind: deny, duration: 1h}", "spec.syncWindows[0].schedule"),
            (
                "{kind: deny, schedule: '0 22 * * *', duration: 1d}",
                "spec.syncWindows[0].duration",
            ),
            (
                "{kind: deny, schedule: '0 22 * * *'}",
                "spec.syncWindows[0].duration",
            ),
            (
                "{kind: deny, schedule: '0 22 * * *', duration: 1h, timeZone: Mars/Olympus}",
                "spec.syncWindows[0].timeZone",
            ),
            (
                "{kind: maybe, schedule: '0 22 * * *', duration: 1h}",
                "spec.syncWindows[0].kind",
            ),
        ];
        for (yaml, field) in cases {
            let good = window("{kind: allow, schedule: '@daily', duration: 30m}");
            let err = parse(&[window(yaml), good]).unwrap_err();
            assert!(
                err.to_string().starts_with(&format!("{field}: ")),
                "{yaml}: {err}"
            );
        }
        let err = parse(&[
            window("{kind: allow, schedule: '0 8 * * 1-5', duration: 10h}"),
            window("{kind: deny, schedule: 'not cron', duration: 1h}"),
        ])
        .unwrap_err();
        assert_eq!(err.index, 1);
        assert_eq!(err.field, "schedule");
        assert!(err.message.contains("not cron"), "{err}");
    }

    #[test]
    fn a_window_is_active_for_its_duration_after_each_opening() {
        let w =
            &windows("[{kind: deny, schedule: '0 22 * * *', duration: 1h, applications: ['*']}]")
                [0];
        let cases = [
            ("2026-11-23T21:59:00Z", false),
            ("2026-11-23T22:00:30Z", true),
            ("2026-11-23T22:59:59Z", true),
            ("2026-11-23T23:00:01Z", false),
            ("2026-11-24T12:00:00Z", false),
        ];
        for (now, want) in cases {
            assert_eq!(w.active(at(now)), want, "{now}");
        }
        assert_eq!(
            w.next_change(at("2026-11-23T12:00:00Z")),
            Some(at("2026-11-23T22:00:00Z"))
        );
        assert_eq!(
            w.next_change(at("2026-11-23T22:10:00Z")),
            Some(at("2026-11-23T23:00:00Z"))
        );
    }

    #[test]
    fn a_window_runs_in_its_time_zone() {
        // 22:00 in Paris is 21:00 UTC in November (CET, UTC+1).
        let w = &windows(
            "[{kind: deny, schedule: '0 22 * * *', duration: 1h, timeZone: Europe/Paris, applications: ['*']}]",
        )[0];
        assert!(w.active(at("2026-11-23T21:30:00Z")));
        assert!(!w.active(at("2026-11-23T22:30:00Z")));
        // and 20:00 UTC in summer (CEST, UTC+2).
        assert!(w.active(at("2026-07-01T20:30:00Z")));
    }

    #[test]
    fn overlapping_openings_keep_a_window_open() {
        // Opens every 10 minutes for 15: never closes within the hour.
        let w = &windows(
            "[{kind: deny, schedule: '*/10 9 * * *', duration: 15m, applications: ['*']}]",
        )[0];
        assert!(w.active(at("2026-11-23T09:12:00Z")));
        // The last opening of the hour is 09:50; it closes at 10:05.
        assert_eq!(
            w.next_change(at("2026-11-23T09:12:00Z")),
            Some(at("2026-11-23T10:05:00Z"))
        );
    }

    #[test]
    fn windows_match_applications_namespaces_and_clusters() {
        let cases = [
            ("{applications: ['web']}", true),
            ("{applications: ['w*']}", true),
            ("{applications: ['api']}", false),
            ("{namespaces: ['shop']}", true),
            ("{namespaces: ['!shop']}", false),
            ("{clusters: ['in-cluster']}", true),
            ("{clusters: ['https://kubernetes.default.svc']}", true),
            ("{clusters: ['prod-*']}", false),
            ("{applications: ['api'], namespaces: ['shop']}", true),
            (
                "{applications: ['api'], namespaces: ['shop'], andOperator: true}",
                false,
            ),
            (
                "{applications: ['web'], namespaces: ['shop'], andOperator: true}",
                true,
            ),
            ("{andOperator: true}", false),
            ("{}", false),
        ];
        for (targets, want) in cases {
            let mut w = window(targets);
            w.kind = Some("allow".into());
            w.schedule = Some("@daily".into());
            w.duration = Some("1h".into());
            let w = &parse(&[w]).expect("parses")[0];
            assert_eq!(w.matches(&APP), want, "{targets}");
        }
    }

    #[test]
    fn deny_wins_allow_restricts_and_manual_sync_overrides() {
        // Monday 2026-11-23, 10:30 UTC.
        let now = at("2026-11-23T10:30:00Z");
        let active_deny = "{kind: deny, schedule: '0 10 * * *', duration: 1h, applications: ['*']}";
        let active_deny_manual = "{kind: deny, schedule: '0 10 * * *', duration: 1h, applications: ['*'], manualSync: true}";
        let inactive_deny =
            "{kind: deny, schedule: '0 22 * * *', duration: 1h, applications: ['*']}";
        let active_allow =
            "{kind: allow, schedule: '0 9 * * *', duration: 8h, applications: ['*']}";
        let inactive_allow =
            "{kind: allow, schedule: '0 20 * * *', duration: 1h, applications: ['*']}";
        let inactive_allow_manual = "{kind: allow, schedule: '0 20 * * *', duration: 1h, applications: ['*'], manualSync: true}";
        let other_app = "{kind: deny, schedule: '0 10 * * *', duration: 1h, applications: ['api']}";
        // (windows, automated, manual)
        let cases: &[(&[&str], bool, bool)] = &[
            (&[], true, true),
            (&[other_app], true, true),
            (&[inactive_deny], true, true),
            (&[active_deny], false, false),
            (&[active_deny_manual], false, true),
            (&[active_deny_manual, active_deny], false, false),
            (&[active_allow], true, true),
            (&[active_allow, active_deny], false, false),
            (&[inactive_allow], false, false),
            (&[inactive_allow_manual], false, true),
            (&[inactive_allow, active_allow], true, true),
            (&[inactive_allow, inactive_deny], false, false),
        ];
        for (list, automated, manual) in cases {
            let yaml = format!("[{}]", list.join(", "));
            let v = evaluate(&windows(&yaml), &APP, now);
            assert_eq!(
                (v.automated, v.manual),
                (*automated, *manual),
                "{yaml}: {v:?}"
            );
            assert_eq!(v.reason.is_some(), !automated, "{yaml}: {v:?}");
        }
        let v = evaluate(&windows(&format!("[{active_deny}]")), &APP, now);
        assert_eq!(v.active, vec![0]);
        assert_eq!(v.next_change, Some(at("2026-11-23T11:00:00Z")));
        let reason = v.reason.unwrap_or_default();
        assert!(
            reason.contains("deny window spec.syncWindows[0]") && reason.contains("11:00:00"),
            "{reason}"
        );
    }
}

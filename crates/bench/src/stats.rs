//! Percentiles of measured latencies.

use std::time::Duration;

/// The nearest-rank percentile `q` (0..=100) of `values`; `None` when empty.
pub fn percentile(values: &[Duration], q: f64) -> Option<Duration> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort();
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// `p50 / p90 / max` in seconds, or `-` when nothing was measured.
pub fn summary(values: &[Duration]) -> String {
    match (
        percentile(values, 50.0),
        percentile(values, 90.0),
        percentile(values, 100.0),
    ) {
        (Some(p50), Some(p90), Some(max)) => format!(
            "{:.2} / {:.2} / {:.2} s",
            p50.as_secs_f64(),
            p90.as_secs_f64(),
            max.as_secs_f64()
        ),
        _ => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().copied().map(Duration::from_millis).collect()
    }

    #[test]
    fn nearest_rank() {
        let v = ms(&[50, 10, 40, 30, 20, 60, 70, 80, 90, 100]);
        assert_eq!(percentile(&v, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&v, 90.0), Some(Duration::from_millis(90)));
        assert_eq!(percentile(&v, 100.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&ms(&[7]), 50.0), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn summary_text() {
        assert_eq!(summary(&ms(&[1000, 2000])), "1.00 / 2.00 / 2.00 s");
        assert_eq!(summary(&[]), "-");
    }
}

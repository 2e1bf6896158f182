//! Kustomize conformance: every case under `testdata/kustomize` is built by
//! the real `kustomize` binary and by gyro, and the two must agree.
//!
//! Agreement means the same bytes on stdout when kustomize succeeds, and an
//! error from gyro when kustomize fails. The expected output is never stored:
//! the oracle runs each time, so the corpus pins kustomize's behaviour rather
//! than a snapshot of it. `testdata/kustomize/README.md` describes the layout.
//!
//! `GYRO_CONFORMANCE_FILTER=<substring>` runs only the cases whose directory
//! name contains the substring. The binary comes from `$GYRO_TOOLS_BIN`, else
//! from `scripts/build-tools --print` (see `testkit::tools`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use render::fs::DiskFs;

/// The kustomize release whose behaviour the corpus pins (its version also
/// shows up in output, through `buildMetadata: [managedByLabel]`).
const ORACLE_VERSION: &str = "v5.8.2";

/// Lines of a failing case's diff shown in the report.
const DIFF_LINES: usize = 40;

/// Characters of an error message shown in the report.
const MESSAGE_CHARS: usize = 400;

struct Case {
    name: String,
    dir: PathBuf,
    /// Tree path of the kustomization to build, relative to `dir` (`""` for
    /// the case directory itself).
    build_path: String,
    /// The note from `expect-error`, when kustomize must reject the case.
    expect_error: Option<String>,
}

enum Outcome {
    /// Same bytes from both.
    Identical,
    /// Both rejected the case.
    BothRejected { kustomize: String, gyro: String },
    /// Both succeeded with different output.
    Differs { diff: String },
    /// Kustomize succeeded, gyro failed.
    GyroRejected { gyro: String },
    /// Kustomize failed, gyro produced output.
    GyroAccepted { kustomize: String, output: String },
    /// Gyro panicked.
    GyroPanicked { message: String },
    /// The case itself is wrong (for example `expect-error` but kustomize
    /// succeeds): fix the corpus, not gyro.
    CorpusBug { message: String },
}

impl Outcome {
    fn passed(&self) -> bool {
        matches!(self, Outcome::Identical | Outcome::BothRejected { .. })
    }

    fn label(&self) -> &'static str {
        match self {
            Outcome::Identical => "identical",
            Outcome::BothRejected { .. } => "both rejected",
            Outcome::Differs { .. } => "output differs",
            Outcome::GyroRejected { .. } => "gyro failed, kustomize succeeded",
            Outcome::GyroAccepted { .. } => "gyro succeeded, kustomize failed",
            Outcome::GyroPanicked { .. } => "gyro panicked",
            Outcome::CorpusBug { .. } => "corpus bug",
        }
    }
}

#[test]
fn kustomize_conformance() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/kustomize");
    let filter = std::env::var("GYRO_CONFORMANCE_FILTER").unwrap_or_default();
    let cases = load_cases(&corpus, &filter);
    assert!(
        !cases.is_empty(),
        "no conformance case under {} matches GYRO_CONFORMANCE_FILTER={filter:?}",
        corpus.display()
    );
    let kustomize = kustomize_binary();
    check_oracle_version(&kustomize);

    let outcomes = run_all(&kustomize, &cases);
    let report = report(&cases, &outcomes);
    println!("{report}");
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    assert!(
        failed == 0,
        "{failed} of {} Kustomize conformance cases failed (report above; \
         GYRO_CONFORMANCE_FILTER=<name> reruns one)",
        cases.len()
    );
}

fn load_cases(corpus: &Path, filter: &str) -> Vec<Case> {
    let entries = std::fs::read_dir(corpus)
        .unwrap_or_else(|e| panic!("cannot read corpus {}: {e}", corpus.display()));
    let mut cases: Vec<Case> = entries
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_dir())
        .flat_map(|dir| {
            let dir_name = dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            // One case per line of `build-path` (the tree's root when none).
            let paths: Vec<String> = std::fs::read_to_string(dir.join("build-path"))
                .map(|s| {
                    s.lines()
                        .map(|l| l.trim().trim_matches('/').to_string())
                        .filter(|l| !l.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            let several = paths.len() > 1;
            let paths = if paths.is_empty() {
                vec![String::new()]
            } else {
                paths
            };
            let expect_error = std::fs::read_to_string(dir.join("expect-error"))
                .ok()
                .map(|s| s.trim().to_string());
            paths
                .into_iter()
                .map(|build_path| Case {
                    name: if several {
                        format!("{dir_name}:{build_path}")
                    } else {
                        dir_name.clone()
                    },
                    dir: dir.clone(),
                    build_path,
                    expect_error: expect_error.clone(),
                })
                .collect::<Vec<_>>()
        })
        .filter(|c| c.name.contains(filter))
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

fn kustomize_binary() -> PathBuf {
    testkit::tools::tool("kustomize")
}

fn check_oracle_version(kustomize: &Path) {
    let out = Command::new(kustomize)
        .arg("version")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", kustomize.display()));
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        version == ORACLE_VERSION,
        "{} is kustomize {version:?}, but the corpus pins {ORACLE_VERSION}; \
         run scripts/build-tools or point GYRO_TOOLS_BIN at the pinned build",
        kustomize.display()
    );
}

/// Runs every case on a few threads: the kustomize processes dominate, and
/// they run in parallel well even on a small machine.
fn run_all(kustomize: &Path, cases: &[Case]) -> Vec<Outcome> {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get() * 2)
        .clamp(1, 8)
        .min(cases.len());
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> =
        Mutex::new(std::iter::repeat_with(|| None).take(cases.len()).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    let outcome = run_case(kustomize, case);
                    results.lock().expect("results lock")[i] = Some(outcome);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("results lock")
        .into_iter()
        .map(|o| o.expect("every case ran"))
        .collect()
}

fn run_case(kustomize: &Path, case: &Case) -> Outcome {
    let target = case.dir.join(&case.build_path);
    if !target.is_dir() {
        return Outcome::CorpusBug {
            message: format!("build-path {:?} is not a directory", case.build_path),
        };
    }
    let expected = run_kustomize(kustomize, case);
    let actual = run_gyro(case);
    let actual = match actual {
        Ok(result) => result,
        Err(message) => return Outcome::GyroPanicked { message },
    };
    match (expected, actual, &case.expect_error) {
        (Ok(_), _, Some(note)) => Outcome::CorpusBug {
            message: format!("expect-error ({note}) but kustomize builds the case"),
        },
        (Err(kustomize), _, None) => Outcome::CorpusBug {
            message: format!(
                "kustomize rejects the case but it has no expect-error file: {}",
                shorten(&kustomize, case)
            ),
        },
        (Ok(want), Ok(got), None) if want == got => Outcome::Identical,
        (Ok(want), Ok(got), None) => Outcome::Differs {
            diff: line_diff(&want, &got, DIFF_LINES),
        },
        (Ok(_), Err(gyro), None) => Outcome::GyroRejected { gyro },
        (Err(kustomize), Err(gyro), Some(_)) => Outcome::BothRejected {
            kustomize: shorten(&kustomize, case),
            gyro,
        },
        (Err(kustomize), Ok(output), Some(_)) => Outcome::GyroAccepted {
            kustomize: shorten(&kustomize, case),
            output,
        },
    }
}

/// `kustomize build`, run from the case directory so that its messages
/// name paths the way the corpus does.
fn run_kustomize(kustomize: &Path, case: &Case) -> Result<String, String> {
    let path = if case.build_path.is_empty() {
        "."
    } else {
        case.build_path.as_str()
    };
    let out = Command::new(kustomize)
        .arg("build")
        .arg(path)
        .current_dir(&case.dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", kustomize.display()));
    if out.status.success() {
        String::from_utf8(out.stdout).map_err(|e| format!("kustomize output is not UTF-8: {e}"))
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(kustomize_error(&stderr))
    }
}

/// Kustomize's stderr without its deprecation warnings (which it prints
/// even when the build fails), or the panic line when it crashed.
fn kustomize_error(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("# Warning:") && !l.trim().is_empty())
        .collect();
    let panic = lines.iter().find(|l| l.starts_with("panic:"));
    match panic {
        Some(line) => (*line).to_string(),
        None => lines.join(" "),
    }
}

/// gyro's build and YAML stream; `Err` only when it panicked, with the
/// panic message.
fn run_gyro(case: &Case) -> Result<Result<String, String>, String> {
    catch_unwind(AssertUnwindSafe(|| {
        let fs = DiskFs::new(&case.dir);
        render::kustomize::build(&fs, &case.build_path)
            .map(|objects| render::yaml::to_yaml_stream(&objects))
            .map_err(|e| e.to_string())
    }))
    .map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_string()))
            .unwrap_or_else(|| "non-string panic payload".to_string())
    })
}

/// A message cut to a readable length, with the case's absolute directory
/// replaced by `<case>`.
fn shorten(message: &str, case: &Case) -> String {
    let dir = case.dir.to_string_lossy();
    let message = message.replace(dir.as_ref(), "<case>");
    let mut chars = message.chars();
    let head: String = chars.by_ref().take(MESSAGE_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// The group a case belongs to in the summary: the first word of its name
/// after the number (`085-patches-smp-inline` → `patches`), or the seed.
fn category(name: &str) -> &str {
    let rest =
        name.split_once('-').map_or(
            name,
            |(head, rest)| {
                if head.starts_with("seed") { head } else { rest }
            },
        );
    rest.split('-').next().unwrap_or(rest)
}

fn report(cases: &[Case], outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    let mut groups: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (case, outcome) in cases.iter().zip(outcomes) {
        let entry = groups.entry(category(&case.name)).or_default();
        entry.1 += 1;
        if outcome.passed() {
            entry.0 += 1;
        }
    }
    let identical = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Identical))
        .count();
    let rejected = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::BothRejected { .. }))
        .count();
    let passed = identical + rejected;

    let _ = writeln!(out, "\nKustomize conformance ({ORACLE_VERSION})");
    let width = groups.keys().map(|g| g.len()).max().unwrap_or(0).max(8);
    let _ = writeln!(out, "{:<width$} {:>5} {:>5}", "category", "pass", "cases");
    for (group, (pass, total)) in &groups {
        let _ = writeln!(out, "{group:<width$} {pass:>5} {total:>5}");
    }
    let _ = writeln!(
        out,
        "{passed}/{} cases identical ({identical} same output, {rejected} rejected by both)",
        cases.len()
    );

    let both: Vec<_> = cases
        .iter()
        .zip(outcomes)
        .filter_map(|(case, o)| match o {
            Outcome::BothRejected { kustomize, gyro } => Some((case, kustomize, gyro)),
            _ => None,
        })
        .collect();
    if !both.is_empty() {
        let _ = writeln!(out, "\nRejected by both:");
        for (case, kustomize, gyro) in both {
            let _ = writeln!(out, "  {}", case.name);
            let _ = writeln!(out, "    kustomize: {kustomize}");
            let _ = writeln!(out, "    gyro:      {}", shorten(gyro, case));
        }
    }

    for (case, outcome) in cases.iter().zip(outcomes) {
        if outcome.passed() {
            continue;
        }
        let _ = writeln!(out, "\nFAIL {}: {}", case.name, outcome.label());
        match outcome {
            Outcome::Identical | Outcome::BothRejected { .. } => {}
            Outcome::Differs { diff } => {
                let _ = writeln!(out, "--- kustomize\n+++ gyro\n{diff}");
            }
            Outcome::GyroRejected { gyro } => {
                let _ = writeln!(out, "  gyro: {}", shorten(gyro, case));
            }
            Outcome::GyroAccepted { kustomize, output } => {
                let note = case.expect_error.as_deref().unwrap_or_default();
                let _ = writeln!(out, "  must fail: {note}");
                let _ = writeln!(out, "  kustomize: {kustomize}");
                let head: Vec<&str> = output.lines().take(10).collect();
                let _ = writeln!(out, "  gyro output begins:\n    {}", head.join("\n    "));
            }
            Outcome::GyroPanicked { message } | Outcome::CorpusBug { message } => {
                let _ = writeln!(out, "  {message}");
            }
        }
    }
    out
}

/// A compact unified-style diff of two texts by lines: hunks with two lines
/// of context, at most `limit` lines in all.
fn line_diff(want: &str, got: &str, limit: usize) -> String {
    let a: Vec<&str> = want.lines().collect();
    let b: Vec<&str> = got.lines().collect();
    let ops = diff_ops(&a, &b);

    // Keep the changed lines and two lines of context around each change.
    const CONTEXT: usize = 2;
    let changed: Vec<bool> = ops.iter().map(|op| !matches!(op, Op::Same(..))).collect();
    let keep: Vec<bool> = (0..ops.len())
        .map(|i| {
            let lo = i.saturating_sub(CONTEXT);
            let hi = (i + CONTEXT + 1).min(ops.len());
            changed[lo..hi].iter().any(|c| *c)
        })
        .collect();

    let mut out = String::new();
    let mut shown = 0;
    let mut previous_kept = true;
    for (i, op) in ops.iter().enumerate() {
        if !keep[i] {
            previous_kept = false;
            continue;
        }
        if shown == limit {
            let _ = writeln!(out, "… (diff cut at {limit} lines)");
            break;
        }
        if !previous_kept || shown == 0 {
            let (line_a, line_b) = op.lines();
            let _ = writeln!(out, "@@ kustomize line {line_a}, gyro line {line_b} @@");
        }
        previous_kept = true;
        let (sign, text) = match op {
            Op::Same(_, _, t) => (' ', t),
            Op::Removed(_, _, t) => ('-', t),
            Op::Added(_, _, t) => ('+', t),
        };
        let _ = writeln!(out, "{sign}{text}");
        shown += 1;
    }
    if a.len() != b.len() {
        let _ = writeln!(
            out,
            "(kustomize: {} lines, gyro: {} lines)",
            a.len(),
            b.len()
        );
    }
    out
}

/// One line of a diff, with the 1-based line numbers in both texts where it
/// sits.
enum Op<'a> {
    Same(usize, usize, &'a str),
    Removed(usize, usize, &'a str),
    Added(usize, usize, &'a str),
}

impl Op<'_> {
    fn lines(&self) -> (usize, usize) {
        match self {
            Op::Same(a, b, _) | Op::Removed(a, b, _) | Op::Added(a, b, _) => (*a, *b),
        }
    }
}

/// Line-level edit script: common prefix and suffix are matched directly,
/// the middle by longest common subsequence (or, when it is too large for
/// the quadratic table, shown as all-removed then all-added).
fn diff_ops<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<Op<'a>> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);

    let mut ops: Vec<Op<'a>> = (0..prefix).map(|i| Op::Same(i + 1, i + 1, a[i])).collect();
    let (mut i, mut j) = (0, 0);
    if ma.len().saturating_mul(mb.len()) <= 4_000_000 {
        // lcs[i][j]: length of the LCS of ma[i..] and mb[j..].
        let width = mb.len() + 1;
        let mut lcs = vec![0u32; (ma.len() + 1) * width];
        for x in (0..ma.len()).rev() {
            for y in (0..mb.len()).rev() {
                lcs[x * width + y] = if ma[x] == mb[y] {
                    lcs[(x + 1) * width + y + 1] + 1
                } else {
                    lcs[(x + 1) * width + y].max(lcs[x * width + y + 1])
                };
            }
        }
        while i < ma.len() && j < mb.len() {
            let (la, lb) = (prefix + i + 1, prefix + j + 1);
            if ma[i] == mb[j] {
                ops.push(Op::Same(la, lb, ma[i]));
                i += 1;
                j += 1;
            } else if lcs[(i + 1) * width + j] >= lcs[i * width + j + 1] {
                ops.push(Op::Removed(la, lb, ma[i]));
                i += 1;
            } else {
                ops.push(Op::Added(la, lb, mb[j]));
                j += 1;
            }
        }
    }
    for (k, line) in ma.iter().enumerate().skip(i) {
        ops.push(Op::Removed(prefix + k + 1, prefix + j + 1, line));
    }
    for (k, line) in mb.iter().enumerate().skip(j) {
        ops.push(Op::Added(prefix + ma.len() + 1, prefix + k + 1, line));
    }
    let (sa, sb) = (a.len() - suffix, b.len() - suffix);
    ops.extend((0..suffix).map(|k| Op::Same(sa + k + 1, sb + k + 1, a[sa + k])));
    ops
}

#[test]
fn line_diff_shows_changed_lines_with_context() {
    let want = "a\nb\nc\nd\ne\nf\ng\nh\n";
    let got = "a\nb\nc\nD\ne\nf\ng\nh\ni\n";
    let diff = line_diff(want, got, 40);
    assert!(diff.contains("-d\n+D\n"), "{diff}");
    assert!(diff.contains("+i\n"), "{diff}");
    assert!(!diff.contains(" a\n"), "context is limited: {diff}");
    assert!(
        diff.contains("(kustomize: 8 lines, gyro: 9 lines)"),
        "{diff}"
    );
}

#[test]
fn category_groups_by_first_word() {
    assert_eq!(category("085-patches-smp-inline"), "patches");
    assert_eq!(category("200-error-missing-resource-file"), "error");
    assert_eq!(category("seed001-backend-base"), "seed001");
}

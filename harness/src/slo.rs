//! SLOs as data: parse `--slo 'symbols.p95<10ms'`, read the metric from a [`SoakReport`], and
//! decide pass or fail.
//!
//! A spec is `<metric> <op> <number>[unit]` with `op` one of `<`, `<=`, `>`, `>=`, `==` and
//! whitespace allowed anywhere between the parts. Thresholds are stored in the metric's base unit:
//!
//! | metric kind            | base unit    | units accepted                         |
//! |------------------------|--------------|----------------------------------------|
//! | latency (`get.p95`)    | microseconds | `us`, `µs`, `ms`, `s` (none = µs)      |
//! | ratio (`hit_rate_warm`)| fraction 0..1| `%` or a bare fraction (`0.6`)         |
//! | size (`db_bytes`)      | bytes        | `B`, `KB`, `MB`, `GB` (decimal), `KiB`, `MiB`, `GiB` |
//! | percent (`overhead_pct`)| percent     | `%` or none                            |
//! | count, flag, rate      | plain number | none                                   |

use crate::report::format;
use crate::report::model::{LatencySummary, SloResult, SoakReport};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Operation types with a latency histogram, in report order.
pub const LATENCY_OPS: [&str; 7] = [
    "get",
    "put",
    "symbols",
    "search",
    "cli",
    "mutate",
    "lock_wait",
];

/// Statistics of a latency histogram that an SLO can name.
pub const LATENCY_STATS: [&str; 7] = ["p50", "p90", "p95", "p99", "p999", "max", "mean"];

/// Metrics that are not latencies, with their kind.
const SCALAR_METRICS: [(&str, MetricKind); 18] = [
    ("hit_rate_cold", MetricKind::Ratio),
    ("hit_rate_warm", MetricKind::Ratio),
    ("hit_rate_mutation", MetricKind::Ratio),
    ("integrity_ok", MetricKind::Flag),
    ("unrecovered_corruption", MetricKind::Count),
    ("wrong_hits", MetricKind::Count),
    ("lost_events", MetricKind::Count),
    ("unparsable_lines", MetricKind::Count),
    ("absolute_paths", MetricKind::Count),
    ("db_bytes", MetricKind::Bytes),
    ("lock_waits", MetricKind::Count),
    ("lock_waits_in_windows", MetricKind::Count),
    ("lock_timeouts", MetricKind::Count),
    ("ops_total", MetricKind::Count),
    ("ops_per_second", MetricKind::Rate),
    ("errors", MetricKind::Count),
    ("memory_growth_pct", MetricKind::Percent),
    ("overhead_pct", MetricKind::Percent),
];

/// How a metric is measured, which decides the units a threshold may carry and how values print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Microseconds.
    Latency,
    /// A fraction in 0..=1 (hit rates).
    Ratio,
    /// Bytes.
    Bytes,
    /// A value that is already a percentage (`memory_growth_pct`).
    Percent,
    /// A plain count of things.
    Count,
    /// 1 for true, 0 for false.
    Flag,
    /// Operations per second.
    Rate,
}

impl MetricKind {
    /// The factor that turns a number written with `unit` into the base unit, if the unit fits.
    fn scale(self, unit: &str) -> Option<f64> {
        let lower = unit.to_lowercase();
        match (self, lower.as_str()) {
            (_, "") => Some(1.0),
            (Self::Latency, "us" | "µs" | "μs") => Some(1.0),
            (Self::Latency, "ms") => Some(1e3),
            (Self::Latency, "s") => Some(1e6),
            (Self::Ratio, "%") => Some(0.01),
            (Self::Percent, "%") => Some(1.0),
            (Self::Bytes, "b") => Some(1.0),
            (Self::Bytes, "kb") => Some(1e3),
            (Self::Bytes, "mb") => Some(1e6),
            (Self::Bytes, "gb") => Some(1e9),
            (Self::Bytes, "kib") => Some(1024.0),
            (Self::Bytes, "mib") => Some(1024.0 * 1024.0),
            (Self::Bytes, "gib") => Some(1024.0 * 1024.0 * 1024.0),
            _ => None,
        }
    }

    /// The units accepted for this kind, for error messages.
    fn accepted_units(self) -> &'static str {
        match self {
            Self::Latency => "us, µs, ms, s (a bare number is microseconds)",
            Self::Ratio => "% or a bare fraction between 0 and 1",
            Self::Bytes => "B, KB, MB, GB (decimal) or KiB, MiB, GiB",
            Self::Percent => "% or a bare number of percent",
            Self::Count | Self::Flag | Self::Rate => "none (a bare number)",
        }
    }

    /// A measured value in this kind's readable form, e.g. `412 µs`, `97.3 %`, `12.4 MB`.
    pub fn format(self, value: f64) -> String {
        match self {
            Self::Latency => format::micros(value),
            Self::Ratio => format::ratio(value),
            Self::Bytes => format::bytes(value.max(0.0).round() as u64),
            Self::Percent => format::percent(value),
            Self::Count | Self::Flag if value >= 0.0 && value.fract() == 0.0 => {
                format::count(value as u64)
            }
            Self::Count | Self::Flag => format::quantity(value),
            Self::Rate => format!("{} ops/s", format::quantity(value)),
        }
    }
}

/// The comparison an SLO makes between the measured value and its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==` (also accepted as `=`)
    Eq,
}

impl Comparison {
    /// The operator as written in a spec.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Eq => "==",
        }
    }

    /// Whether `measured <op> threshold` holds. Equality allows for floating-point noise only.
    pub fn holds(self, measured: f64, threshold: f64) -> bool {
        match self {
            Self::Lt => measured < threshold,
            Self::Le => measured <= threshold,
            Self::Gt => measured > threshold,
            Self::Ge => measured >= threshold,
            Self::Eq => (measured - threshold).abs() <= 1e-9 * threshold.abs().max(1.0),
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// One service-level objective: `metric op threshold`.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// The metric name, e.g. `get.p95` (see [`known_metrics`]).
    pub metric: String,
    pub op: Comparison,
    /// In the metric's base unit: µs, bytes, a 0..1 fraction, percent or a count.
    pub threshold: f64,
    /// The spec as written (trimmed), e.g. `symbols.p95<10ms`.
    pub text: String,
}

impl Slo {
    /// The target as written after the metric, e.g. `< 10ms`.
    pub fn target(&self) -> String {
        match split_operator(&self.text) {
            Some((_, op, value)) => format!("{op} {value}"),
            None => format!("{} {}", self.op, self.threshold),
        }
    }
}

impl FromStr for Slo {
    type Err = SloError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        parse(spec)
    }
}

impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.metric, self.target())
    }
}

/// Why an SLO spec was rejected. Every variant is a usage error for the `soak` binary.
#[derive(Debug, Clone, PartialEq)]
pub enum SloError {
    /// The spec was empty or only whitespace.
    Empty,
    /// No `<`, `<=`, `>`, `>=` or `==` in the spec.
    MissingOperator { spec: String },
    /// The metric name is not one the report measures.
    UnknownMetric {
        metric: String,
        suggestion: Option<String>,
    },
    /// The threshold is not a number.
    BadNumber { spec: String, value: String },
    /// The unit does not fit the metric (e.g. `ms` on a count).
    BadUnit {
        metric: String,
        unit: String,
        accepted: &'static str,
    },
    /// A bare number above 1 on a hit rate, which is a fraction (`hit_rate_warm>60` means `60%`?).
    FractionOutOfRange { metric: String, value: f64 },
}

impl fmt::Display for SloError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "empty SLO; expected e.g. 'symbols.p95<10ms'"),
            Self::MissingOperator { spec } => write!(
                f,
                "SLO '{spec}' has no comparison; expected <metric><op><value> with op one of <, <=, >, >=, =="
            ),
            Self::UnknownMetric { metric, suggestion } => {
                write!(f, "unknown SLO metric '{metric}'")?;
                if let Some(s) = suggestion {
                    write!(f, " (did you mean '{s}'?)")?;
                }
                write!(f, "; known metrics: {}", known_metrics_help())
            }
            Self::BadNumber { spec, value } => {
                write!(f, "SLO '{spec}': '{value}' is not a number with a unit")
            }
            Self::BadUnit {
                metric,
                unit,
                accepted,
            } => write!(
                f,
                "SLO on '{metric}': unit '{unit}' does not fit this metric; accepted: {accepted}"
            ),
            Self::FractionOutOfRange { metric, value } => write!(
                f,
                "SLO on '{metric}': {value} is not a fraction between 0 and 1; write '{value}%' for a percentage"
            ),
        }
    }
}

impl std::error::Error for SloError {}

/// Parses one SLO spec such as `get.p99 <= 100us`, `hit_rate_warm>60%` or `db_bytes<100MB`.
pub fn parse(spec: &str) -> Result<Slo, SloError> {
    let text = spec.trim();
    if text.is_empty() {
        return Err(SloError::Empty);
    }
    let (metric, op, value) = split_operator(text).ok_or_else(|| SloError::MissingOperator {
        spec: text.to_string(),
    })?;
    let kind = metric_kind(metric).ok_or_else(|| SloError::UnknownMetric {
        metric: metric.to_string(),
        suggestion: suggest(metric),
    })?;
    let threshold = parse_threshold(text, metric, kind, value)?;
    Ok(Slo {
        metric: metric.to_string(),
        op,
        threshold,
        text: text.to_string(),
    })
}

/// Splits `metric op value` at the first operator character; parts are trimmed.
fn split_operator(spec: &str) -> Option<(&str, Comparison, &str)> {
    let start = spec.find(['<', '>', '='])?;
    let rest = &spec[start..];
    let (op, len) = [
        ("<=", Comparison::Le),
        (">=", Comparison::Ge),
        ("==", Comparison::Eq),
        ("<", Comparison::Lt),
        (">", Comparison::Gt),
        ("=", Comparison::Eq),
    ]
    .into_iter()
    .find(|(symbol, _)| rest.starts_with(symbol))
    .map(|(symbol, op)| (op, symbol.len()))?;
    Some((spec[..start].trim(), op, rest[len..].trim()))
}

/// Turns `10ms`, `60 %`, `100MB` into the metric's base unit.
fn parse_threshold(
    spec: &str,
    metric: &str,
    kind: MetricKind,
    value: &str,
) -> Result<f64, SloError> {
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(value.len());
    let (number, unit) = (&value[..split], value[split..].trim());
    let bad_number = || SloError::BadNumber {
        spec: spec.to_string(),
        value: value.to_string(),
    };
    let number: f64 = number.parse().map_err(|_| bad_number())?;
    if !number.is_finite() {
        return Err(bad_number());
    }
    let scale = kind.scale(unit).ok_or_else(|| SloError::BadUnit {
        metric: metric.to_string(),
        unit: unit.to_string(),
        accepted: kind.accepted_units(),
    })?;
    if kind == MetricKind::Ratio && unit.is_empty() && !(0.0..=1.0).contains(&number) {
        return Err(SloError::FractionOutOfRange {
            metric: metric.to_string(),
            value: number,
        });
    }
    Ok(number * scale)
}

/// Which latency map of the report a latency metric reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    All,
    Outside,
    WarmOutside,
}

impl Family {
    fn suffix(self) -> &'static str {
        match self {
            Self::All => "",
            Self::Outside => "_outside",
            Self::WarmOutside => "_warm_outside",
        }
    }

    fn map(self, report: &SoakReport) -> &BTreeMap<String, LatencySummary> {
        match self {
            Self::All => &report.latency_us,
            Self::Outside => &report.latency_outside_windows_us,
            Self::WarmOutside => &report.latency_warm_outside_windows_us,
        }
    }
}

/// A parsed latency metric name: `<op><family suffix>.<stat>`.
struct LatencyMetric<'a> {
    family: Family,
    op: &'a str,
    stat: &'a str,
}

impl<'a> LatencyMetric<'a> {
    fn parse(metric: &'a str) -> Option<Self> {
        let (prefix, stat) = metric.split_once('.')?;
        if !LATENCY_STATS.contains(&stat) {
            return None;
        }
        [Family::WarmOutside, Family::Outside, Family::All]
            .into_iter()
            .find_map(|family| {
                let op = prefix.strip_suffix(family.suffix())?;
                LATENCY_OPS
                    .contains(&op)
                    .then_some(LatencyMetric { family, op, stat })
            })
    }

    /// The statistic, or `None` when the operation was never measured.
    fn measure(&self, report: &SoakReport) -> Option<f64> {
        let summary = self.family.map(report).get(self.op)?;
        if summary.count == 0 {
            return None;
        }
        Some(match self.stat {
            "p50" => summary.p50 as f64,
            "p90" => summary.p90 as f64,
            "p95" => summary.p95 as f64,
            "p99" => summary.p99 as f64,
            "p999" => summary.p999 as f64,
            "max" => summary.max as f64,
            _ => summary.mean,
        })
    }
}

/// The kind of a known metric, or `None` for an unknown name.
pub fn metric_kind(metric: &str) -> Option<MetricKind> {
    if LatencyMetric::parse(metric).is_some() {
        return Some(MetricKind::Latency);
    }
    SCALAR_METRICS
        .iter()
        .find(|(name, _)| *name == metric)
        .map(|(_, kind)| *kind)
}

/// Every metric name an SLO may use: the latency metrics (`<op>.<stat>`, `<op>_outside.<stat>`,
/// `<op>_warm_outside.<stat>`) followed by the scalar ones.
pub fn known_metrics() -> Vec<String> {
    let families = [Family::All, Family::Outside, Family::WarmOutside];
    let latency = families.into_iter().flat_map(|family| {
        LATENCY_OPS.into_iter().flat_map(move |op| {
            LATENCY_STATS
                .into_iter()
                .map(move |stat| format!("{op}{}.{stat}", family.suffix()))
        })
    });
    latency
        .chain(SCALAR_METRICS.iter().map(|(name, _)| name.to_string()))
        .collect()
}

/// The known metrics in a compact, complete form for error messages.
pub fn known_metrics_help() -> String {
    let scalars: Vec<&str> = SCALAR_METRICS.iter().map(|(name, _)| *name).collect();
    format!(
        "<op>.<stat>, <op>_outside.<stat>, <op>_warm_outside.<stat> with op one of {} and stat one of {}; {}",
        LATENCY_OPS.join(", "),
        LATENCY_STATS.join(", "),
        scalars.join(", ")
    )
}

/// The closest known metric name, when one is a few edits away.
fn suggest(metric: &str) -> Option<String> {
    known_metrics()
        .into_iter()
        .map(|known| (edit_distance(metric, &known), known))
        .filter(|(distance, _)| *distance <= 3)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| known)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Reads a metric from the report, in its base unit. `None` means "no data": an unknown metric,
/// a latency with no samples, a hit rate of a phase without lookups, or an unmeasured resource.
pub fn measure(report: &SoakReport, metric: &str) -> Option<f64> {
    if let Some(latency) = LatencyMetric::parse(metric) {
        return latency.measure(report);
    }
    let count = |n: u64| Some(n as f64);
    match metric {
        "hit_rate_cold" => phase_hit_rate(report, "cold", report.cache.hit_rate_cold),
        "hit_rate_warm" => phase_hit_rate(report, "warm", report.cache.hit_rate_warm),
        "hit_rate_mutation" => phase_hit_rate(report, "mutation", report.cache.hit_rate_mutation),
        "integrity_ok" => Some(if report.integrity.ok { 1.0 } else { 0.0 }),
        "unrecovered_corruption" => count(unrecovered_corruption(report)),
        "wrong_hits" => count(wrong_hits(report)),
        "lost_events" => count(report.telemetry.missing_events),
        "unparsable_lines" => count(report.telemetry.unparsable),
        "absolute_paths" => count(report.telemetry.absolute_paths),
        "db_bytes" => count(report.database.max_bytes),
        "lock_waits" => count(report.locks.lock_waits),
        "lock_waits_in_windows" => count(report.locks.wait_events_in_windows),
        "lock_timeouts" => count(report.locks.lock_timeouts),
        "ops_total" => count(report.ops.total),
        "ops_per_second" => Some(report.ops.ops_per_second),
        "errors" => count(report.ops.errors),
        "memory_growth_pct" => {
            (!report.memory.workers.is_empty()).then_some(report.memory.max_growth_pct)
        }
        "overhead_pct" => (report.overhead.op_ns_mean > 0.0).then_some(report.overhead.ratio_pct),
        _ => None,
    }
}

/// A cache hit rate, or `None` when the report lists the phase but it made no lookups.
fn phase_hit_rate(report: &SoakReport, phase: &str, rate: f64) -> Option<f64> {
    match report.phases.iter().find(|p| p.name == phase) {
        Some(p) if p.hits + p.misses + p.stale == 0 => None,
        _ => Some(rate),
    }
}

/// Injected structural corruptions (`corrupt:*` faults) that the cache did not recover from.
pub fn unrecovered_corruption(report: &SoakReport) -> u64 {
    report
        .faults
        .iter()
        .filter(|f| f.mode.starts_with("corrupt:"))
        .map(|f| f.injected.saturating_sub(f.recovered))
        .sum()
}

/// Wrong hits: the oracle's count, or the faults' own count if that is larger (never hide one).
fn wrong_hits(report: &SoakReport) -> u64 {
    let by_faults: u64 = report.faults.iter().map(|f| f.wrong_hits).sum();
    report.oracle.wrong_hits.max(by_faults)
}

/// A measured value of `metric` in a readable unit (`412 µs`, `97.3 %`, `12.4 MB`, `0`).
pub fn format_measured(metric: &str, value: f64) -> String {
    metric_kind(metric).map_or_else(|| format::quantity(value), |kind| kind.format(value))
}

/// Parses a built-in spec; these are constants covered by tests.
fn builtin(spec: &str) -> Slo {
    parse(spec).unwrap_or_else(|e| panic!("built-in SLO '{spec}' is invalid: {e}"))
}

/// The seeds' defaults, plus `ops_total >= min_ops` and, with interference on,
/// `lock_waits_in_windows > 0` (no wait inside a held window means the interference did not
/// work; waits elsewhere, such as behind the one-time schema creation, do not count).
pub fn default_slos(interference: bool, min_ops: u64) -> Vec<Slo> {
    let mut slos: Vec<Slo> = [
        "get.p95 < 10ms",
        "hit_rate_warm > 60%",
        "integrity_ok == 1",
        "unrecovered_corruption == 0",
        "wrong_hits == 0",
        "lost_events == 0",
        "unparsable_lines == 0",
        "absolute_paths == 0",
        "db_bytes < 100MB",
        "errors == 0",
    ]
    .into_iter()
    .map(builtin)
    .collect();
    slos.push(builtin(&format!("ops_total >= {min_ops}")));
    if interference {
        slos.push(builtin("lock_waits_in_windows > 0"));
    }
    slos
}

/// Defaults with overrides applied: overrides on a default's metric take its place (all of them,
/// so `get.p95>1us` and `get.p95<5ms` can bound one metric twice); the rest are appended in order.
pub fn merge(defaults: Vec<Slo>, overrides: Vec<Slo>) -> Vec<Slo> {
    let mut used = vec![false; overrides.len()];
    let mut merged = Vec::with_capacity(defaults.len() + overrides.len());
    for default in defaults {
        let replacing: Vec<usize> = (0..overrides.len())
            .filter(|&i| overrides[i].metric == default.metric)
            .collect();
        if replacing.is_empty() {
            merged.push(default);
        }
        for i in replacing {
            if !std::mem::replace(&mut used[i], true) {
                merged.push(overrides[i].clone());
            }
        }
    }
    let rest = overrides
        .into_iter()
        .zip(used)
        .filter(|(_, used)| !used)
        .map(|(slo, _)| slo);
    merged.extend(rest);
    merged
}

/// Evaluates every SLO against the report. A metric with no data fails: an objective on something
/// never measured cannot be said to hold.
pub fn evaluate(slos: &[Slo], report: &SoakReport) -> Vec<SloResult> {
    slos.iter().map(|slo| evaluate_one(slo, report)).collect()
}

fn evaluate_one(slo: &Slo, report: &SoakReport) -> SloResult {
    let measured = measure(report, &slo.metric);
    SloResult {
        name: slo.metric.clone(),
        target: slo.target(),
        measured,
        measured_text: measured.map_or_else(
            || "no data".to_string(),
            |value| format_measured(&slo.metric, value),
        ),
        pass: measured.is_some_and(|value| slo.op.holds(value, slo.threshold)),
    }
}

/// `"pass"` when every SLO holds, `"fail"` otherwise (including when there are none to judge).
pub fn verdict(results: &[SloResult]) -> &'static str {
    if !results.is_empty() && results.iter().all(|r| r.pass) {
        "pass"
    } else {
        "fail"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_operator_finds_two_char_operators_first() {
        let (metric, op, value) = split_operator("get.p99<=100us").unwrap();
        assert_eq!((metric, op, value), ("get.p99", Comparison::Le, "100us"));
        assert_eq!(split_operator("a = 1").unwrap().1, Comparison::Eq);
        assert!(split_operator("get.p99 100us").is_none());
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("get.p95", "get.p95"), 0);
        assert_eq!(edit_distance("get.p59", "get.p95"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn every_known_metric_has_a_kind() {
        for metric in known_metrics() {
            assert!(metric_kind(&metric).is_some(), "{metric}");
        }
        assert_eq!(known_metrics().len(), 3 * 7 * 7 + SCALAR_METRICS.len());
    }

    #[test]
    fn defaults_parse() {
        assert_eq!(default_slos(false, 2000).len(), 11);
        assert_eq!(default_slos(true, 2000).len(), 12);
    }
}

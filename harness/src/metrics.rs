//! Latency histograms and counters recorded by worker processes.
//!
//! Each thread records into its own [`ThreadMetrics`] (no locks on the hot path); a worker
//! merges its threads' metrics at the end and ships each histogram to the coordinator in the
//! HdrHistogram V2 (deflate) serialization, base64-encoded. The coordinator merges them.

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::report::model::LatencySummary;

/// Highest latency recorded: one hour, in microseconds.
const MAX_MICROS: u64 = 3_600_000_000;
/// Most wait and spike samples kept per thread (for attribution to windows).
const MAX_SAMPLES: usize = 20_000;

/// A new histogram: microseconds, 3 significant figures.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("static histogram bounds are valid")
}

/// Records `micros`, clamped into the histogram's range.
pub fn record_micros(histogram: &mut Histogram<u64>, micros: u64) {
    histogram.saturating_record(micros.clamp(1, MAX_MICROS));
}

/// Histograms by operation name.
#[derive(Debug, Clone, Default)]
pub struct HistogramSet {
    pub by_op: BTreeMap<String, Histogram<u64>>,
}

impl HistogramSet {
    /// Records one latency for `op`.
    pub fn record(&mut self, op: &str, micros: u64) {
        if !self.by_op.contains_key(op) {
            self.by_op.insert(op.to_string(), new_histogram());
        }
        if let Some(histogram) = self.by_op.get_mut(op) {
            record_micros(histogram, micros);
        }
    }

    /// Adds every histogram of `other`.
    pub fn merge(&mut self, other: &HistogramSet) {
        for (op, histogram) in &other.by_op {
            let mine = self.by_op.entry(op.clone()).or_insert_with(new_histogram);
            let _ = mine.add(histogram);
        }
    }

    /// Base64 of the V2 deflate serialization of each histogram.
    pub fn encode(&self) -> anyhow::Result<BTreeMap<String, String>> {
        self.by_op
            .iter()
            .map(|(op, h)| Ok((op.clone(), encode_histogram(h)?)))
            .collect()
    }

    /// The inverse of [`HistogramSet::encode`].
    pub fn decode(encoded: &BTreeMap<String, String>) -> anyhow::Result<Self> {
        let by_op = encoded
            .iter()
            .map(|(op, text)| Ok((op.clone(), decode_histogram(text)?)))
            .collect::<anyhow::Result<_>>()?;
        Ok(HistogramSet { by_op })
    }

    /// Percentile summaries by operation.
    pub fn summaries(&self) -> BTreeMap<String, LatencySummary> {
        self.by_op
            .iter()
            .map(|(op, h)| (op.clone(), summarize(h)))
            .collect()
    }

    /// Total recorded values of `op`.
    pub fn count(&self, op: &str) -> u64 {
        self.by_op.get(op).map_or(0, Histogram::len)
    }
}

/// Serialises one histogram (V2 deflate, base64).
pub fn encode_histogram(histogram: &Histogram<u64>) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(histogram, &mut bytes)
        .map_err(|e| anyhow::anyhow!("histogram serialization failed: {e:?}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Reads one histogram written by [`encode_histogram`].
pub fn decode_histogram(text: &str) -> anyhow::Result<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text)?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| anyhow::anyhow!("histogram deserialization failed: {e:?}"))
}

/// Percentiles of a histogram.
pub fn summarize(histogram: &Histogram<u64>) -> LatencySummary {
    if histogram.is_empty() {
        return LatencySummary::default();
    }
    LatencySummary {
        count: histogram.len(),
        p50: histogram.value_at_quantile(0.50),
        p90: histogram.value_at_quantile(0.90),
        p95: histogram.value_at_quantile(0.95),
        p99: histogram.value_at_quantile(0.99),
        p999: histogram.value_at_quantile(0.999),
        max: histogram.max(),
        mean: histogram.mean(),
    }
}

/// A moment relative to the soak's start.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    /// Milliseconds since the soak started.
    pub at_ms: f64,
    pub micros: u64,
}

/// What one thread recorded.
#[derive(Debug, Default)]
pub struct ThreadMetrics {
    pub all: HistogramSet,
    pub outside_windows: HistogramSet,
    /// Open loop: latency from the intended start.
    pub corrected: HistogramSet,
    /// Open loop: how late each operation started.
    pub schedule_lag: HistogramSet,
    pub waits: Vec<Sample>,
    pub spikes: Vec<Sample>,
}

impl ThreadMetrics {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: ThreadMetrics) {
        self.all.merge(&other.all);
        self.outside_windows.merge(&other.outside_windows);
        self.corrected.merge(&other.corrected);
        self.schedule_lag.merge(&other.schedule_lag);
        self.waits.extend(other.waits);
        self.spikes.extend(other.spikes);
    }
}

/// The clock and windows a worker process records against.
pub struct Timeline {
    /// The instant the soak started (translated from the coordinator's wall clock).
    pub epoch: Instant,
    /// Planned interference windows as (start, end) in ms since the epoch, widened by slack.
    pub windows: Vec<(f64, f64)>,
    /// Operations slower than this are kept as spikes.
    pub spike_threshold_us: u64,
    /// Waits at or above this are kept as samples (the lock_wait event threshold).
    pub wait_threshold_us: u64,
}

static TIMELINE: OnceLock<Timeline> = OnceLock::new();

thread_local! {
    static LOCAL: RefCell<ThreadMetrics> = RefCell::new(ThreadMetrics::default());
}

/// Sets the process's timeline once (later calls are ignored).
pub fn init_timeline(timeline: Timeline) {
    let _ = TIMELINE.set(timeline);
}

fn timeline() -> Option<&'static Timeline> {
    TIMELINE.get()
}

/// Milliseconds since the soak's epoch.
pub fn offset_ms(at: Instant) -> f64 {
    timeline().map_or(0.0, |t| {
        at.saturating_duration_since(t.epoch).as_secs_f64() * 1000.0
    })
}

fn overlaps_window(start_ms: f64, end_ms: f64) -> bool {
    timeline().is_some_and(|t| {
        t.windows
            .iter()
            .any(|&(ws, we)| start_ms < we && end_ms > ws)
    })
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Records an operation that ran from `start` to `end` on this thread.
pub fn record_op(op: &str, start: Instant, end: Instant) {
    let us = micros(end.saturating_duration_since(start));
    let (start_ms, end_ms) = (offset_ms(start), offset_ms(end));
    let outside = !overlaps_window(start_ms, end_ms);
    let spike = timeline().is_some_and(|t| us >= t.spike_threshold_us);
    LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        local.all.record(op, us);
        if outside {
            local.outside_windows.record(op, us);
        }
        if spike && local.spikes.len() < MAX_SAMPLES {
            local.spikes.push(Sample {
                at_ms: start_ms,
                micros: us,
            });
        }
    });
}

/// Records an open-loop operation's corrected latency and schedule lag.
pub fn record_open_loop(op: &str, intended: Instant, started: Instant, end: Instant) {
    let corrected = micros(end.saturating_duration_since(intended));
    let lag = micros(started.saturating_duration_since(intended));
    LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        local.corrected.record(op, corrected);
        local.schedule_lag.record("lag", lag);
    });
}

/// Records one lock acquisition's wait.
pub fn record_wait(started: Instant, waited: Duration) {
    let us = micros(waited);
    let keep = timeline().is_some_and(|t| us >= t.wait_threshold_us);
    LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        local.all.record("lock_wait", us);
        if keep && local.waits.len() < MAX_SAMPLES {
            local.waits.push(Sample {
                at_ms: offset_ms(started),
                micros: us,
            });
        }
    });
}

/// Takes this thread's metrics, leaving it empty.
pub fn take_local() -> ThreadMetrics {
    LOCAL.with(|local| std::mem::take(&mut *local.borrow_mut()))
}

/// Nanoseconds the recording path costs per operation, measured on this machine now.
pub fn calibrate_bookkeeping_ns() -> f64 {
    const ROUNDS: u32 = 20_000;
    let started = Instant::now();
    for _ in 0..ROUNDS {
        let a = Instant::now();
        let b = Instant::now();
        record_op("calibration", a, b);
    }
    let per_op = started.elapsed().as_nanos() as f64 / f64::from(ROUNDS);
    let _ = take_local();
    per_op
}

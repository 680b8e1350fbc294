//! The faults table of the report: each fault mode, how often it was injected, and what the
//! cache made of it.

use std::collections::BTreeMap;

use super::assemble::all_results;
use super::fault_driver::{CorruptionRecord, FaultDriver};
use super::spawn::PhaseRun;
use crate::faults::corrupt::CorruptMode;
use crate::faults::{Fault, FaultPlan};
use crate::report::model::FaultSummary;
use crate::verify::telemetry::Audit;
use crate::worker::spec::SourceFaultCount;

/// One row per fault mode that was on.
pub fn rows(
    plan: &FaultPlan,
    phases: &[PhaseRun],
    driver: &FaultDriver,
    audit: &Audit,
) -> Vec<FaultSummary> {
    let mut rows = Vec::new();
    if plan.has(Fault::Kill) {
        rows.push(kill_row(driver));
    }
    if plan.has(Fault::Corrupt) {
        rows.extend(corruption_rows(&driver.corruptions, audit));
    }
    if plan.has(Fault::Sources) {
        rows.extend(source_rows(phases));
    }
    if plan.has(Fault::RogueClose) {
        rows.push(rogue_row(phases));
    }
    rows
}

fn kill_row(driver: &FaultDriver) -> FaultSummary {
    let kills = driver.kills.len() as u64;
    let done_before: u64 = driver.kills.iter().map(|k| k.ops_reported).sum();
    FaultSummary {
        mode: "kill".into(),
        injected: kills,
        detected: kills,
        recovered: kills,
        ops_affected: kills,
        wrong_hits: 0,
        notes: format!(
            "SIGKILL mid-operation, each worker respawned for the rest of its phase; one operation in flight per kill; {done_before} operations the killed workers had completed are not in the totals (counted apart)"
        ),
    }
}

/// Per mode: detected = `corruption_detected` events between an injection and the next;
/// recovered = the database passed `quick_check` before the next injection (or at the end);
/// affected = lookups answered `corruption_recovered` in that interval.
fn corruption_rows(records: &[CorruptionRecord], audit: &Audit) -> Vec<FaultSummary> {
    let mut rows: BTreeMap<&str, FaultSummary> = BTreeMap::new();
    for (i, record) in records.iter().enumerate() {
        let until = records.get(i + 1).map(|r| r.at.as_str());
        let in_window = |ts: &String| {
            ts.as_str() >= record.at.as_str() && until.is_none_or(|u| ts.as_str() < u)
        };
        let row = rows
            .entry(record.mode.as_str())
            .or_insert_with(|| FaultSummary {
                mode: format!("corrupt:{}", record.mode.as_str()),
                ..FaultSummary::default()
            });
        row.injected += 1;
        row.detected += u64::from(audit.detections.iter().any(in_window));
        row.ops_affected += audit
            .recovered_lookups
            .iter()
            .filter(|ts| in_window(ts))
            .count() as u64;
        let sound = record
            .check_after
            .as_deref()
            .is_some_and(|c| c.starts_with("ok"));
        row.recovered += u64::from(sound);
        if let Some(error) = &record.error {
            row.notes.push_str(&format!("injection failed: {error}; "));
        } else if !sound {
            let check = record.check_after.as_deref().unwrap_or("not checked");
            row.notes
                .push_str(&format!("not sound afterwards: {check}; "));
        }
    }
    CorruptMode::ALL
        .iter()
        .filter_map(|m| rows.remove(m.as_str()).map(|row| (*m, row)))
        .map(|(mode, mut row)| {
            row.notes = format!("{}{}", row.notes, outcome_note(mode, &row));
            row
        })
        .collect()
}

/// What the counts of a row mean, in words.
fn outcome_note(mode: CorruptMode, row: &FaultSummary) -> String {
    let undetected = row.injected - row.detected.min(row.injected);
    let mut note = format!(
        "{} of {} detected, quarantined and rebuilt",
        row.detected, row.injected
    );
    if undetected > 0 {
        note.push_str(&format!(
            "; {undetected} not detected before the next injection ({})",
            match mode {
                CorruptMode::GarbageWal =>
                    "SQLite drops WAL frames whose checksums fail: lost writes, not corruption",
                CorruptMode::Header | CorruptMode::GarbagePages | CorruptMode::Truncated => {
                    "a checkpoint can rewrite damaged pages from the WAL before anyone reads them"
                }
                CorruptMode::ZeroLength => "an empty file is a valid empty database to SQLite",
                CorruptMode::NotSqlite => "no lookup or quick_check reached the file in time",
            }
        ));
    }
    note
}

fn source_rows(phases: &[PhaseRun]) -> Vec<FaultSummary> {
    let mut totals: BTreeMap<String, SourceFaultCount> = BTreeMap::new();
    for result in all_results(phases) {
        for (mode, count) in &result.source_faults {
            let total = totals.entry(mode.clone()).or_default();
            total.injected += count.injected;
            total.answered += count.answered;
            total.unexpected += count.unexpected;
            total.wrong_hits += count.wrong_hits;
        }
    }
    totals
        .into_iter()
        .map(|(mode, c)| FaultSummary {
            notes: format!(
                "{} lookups answered as expected, {} not",
                c.answered, c.unexpected
            ),
            mode: format!("sources:{mode}"),
            injected: c.injected,
            detected: c.answered,
            recovered: c.answered,
            ops_affected: c.injected,
            wrong_hits: c.wrong_hits,
        })
        .collect()
}

fn rogue_row(phases: &[PhaseRun]) -> FaultSummary {
    let closes: u64 = all_results(phases).map(|r| r.rogue_closes).sum();
    FaultSummary {
        mode: "rogue-close".into(),
        injected: closes,
        detected: 0,
        recovered: closes,
        ops_affected: 0,
        wrong_hits: 0,
        notes: "a plain handle opened, read and closed the database file in every worker (dropping the process's POSIX locks); the cache does not depend on them (see README)".into(),
    }
}

//! Verification after the run: telemetry reconciliation (the integrity check and the oracle
//! run in the coordinator and the workers).

pub mod telemetry;

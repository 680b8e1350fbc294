//! Seeded corpus generator (in progress).

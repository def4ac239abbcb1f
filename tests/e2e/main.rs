//! End-to-end tests: the real `skiff` binary, the real embedding model from disk and the real
//! embedded qdrant-edge store. Models come from scripts/fetch-models.sh (run by scripts/test.sh).

// Test code may panic on failure: that is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent;
mod common;
mod config_cli;
mod generality;
mod ingest;
mod kernels;
mod models;
mod remote;
mod search;
mod slack;
mod store;
mod telegram;
mod web;

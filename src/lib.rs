//! skiff: an agentic RAG assistant over an internal wiki.
//!
//! Data flows one way:
//!
//! ```text
//! wiki folder -> ingest::loader -> ingest::chunker -> providers::embed -> providers::store   (`skiff ingest`)
//! query -> search (dense + keyword, fused) -> hits                                          (`skiff search`)
//! passages + fields -> tools::extract (extractor SLM, schema-constrained, verified) -> typed values
//! typed values -> tools::compare / tools::calculate (exact, no model)
//! ```
//!
//! `config` holds the typed settings, `app` wires the backends together once, `providers` is the
//! only place SDK types (fastembed, qdrant-edge, mistral.rs, async-openai) appear, and `frontends` render results.

pub mod agent;
pub mod app;
pub mod bench;
pub mod config;
pub mod dates;
pub mod eval;
pub mod frontends;
#[cfg(test)]
mod fuzz;
pub mod ingest;
pub mod prompts;
pub mod providers;
pub mod quantity;
pub mod redteam;
pub mod search;
pub mod stats;
pub mod tools;

//! skiff: an agentic RAG assistant over an internal wiki.
//!
//! Data flows one way:
//!
//! ```text
//! wiki folder -> ingest::loader -> ingest::chunker -> providers::embed -> providers::store   (`skiff ingest`)
//! query -> search (dense + keyword, fused) -> hits                                          (`skiff search`)
//! ```
//!
//! `config` holds the typed settings, `app` wires the backends together once, `providers` is the
//! only place SDK types (fastembed, qdrant-edge) appear, and `frontends` render results.

pub mod app;
pub mod bench;
pub mod config;
pub mod frontends;
pub mod ingest;
pub mod providers;
pub mod search;

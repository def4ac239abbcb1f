//! The ingest path: wiki files -> documents -> chunks -> vectors -> store, incrementally.

pub mod chunker;
pub mod indexer;
pub mod loader;
pub mod sync;

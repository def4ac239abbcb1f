//! Adapters over third-party SDKs, behind the project's own narrow traits. No SDK type leaves
//! this module.

pub mod embed;
pub mod llm;
pub mod store;

//! Front ends: they take a request from a person, call the core, and render the result.

pub mod cli;
pub mod context;
pub mod http;
pub mod memory;
pub mod slack;
pub mod tasks;
pub mod telegram;
pub mod web;

pub use context::{Context, ModelLoadError};

/// An answerer that never answers, for front-end tests that only look at routing and access.
#[cfg(test)]
pub(crate) struct Never;

#[cfg(test)]
#[async_trait::async_trait]
impl crate::agent::Answerer for Never {
    async fn answer(
        &self,
        _: crate::agent::AskRequest,
        _: &dyn crate::agent::Observer,
        _: tokio_util::sync::CancellationToken,
    ) -> Result<crate::agent::Answer, crate::agent::AgentError> {
        Err(crate::agent::AgentError::Cancelled)
    }
}

//! Tools the planner can call: one file per tool behind one [`Tool`] trait. Each tool has a
//! manifest in tools/ (what the planner is told, its timeout and model role) whose argument
//! schema is the step arguments a plan gives it (`agent::plan`), checked against the code by a
//! test.

pub mod calculate;
pub mod compare;
pub mod extract;
pub mod records;

use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::providers::llm::{LlmError, Timing, Usage};

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{tool}: invalid arguments: {message}")]
    InvalidArgs { tool: &'static str, message: String },
    #[error("{tool}: {error}")]
    Model { tool: &'static str, error: LlmError },
    #[error("{tool}: no result within {secs}s")]
    Timeout { tool: &'static str, secs: u64 },
    #[error("{tool}: {message}")]
    Failed { tool: &'static str, message: String },
}

/// One model call made by a tool, for the ledger.
#[derive(Debug, Clone, Serialize)]
pub struct ModelCall {
    pub role: String,
    pub model: String,
    pub local: bool,
    pub usage: Usage,
    pub timing: Timing,
}

#[derive(Debug, Clone, Serialize)]
pub struct ToolOutput {
    pub value: Value,
    pub model_calls: Vec<ModelCall>,
}

#[async_trait]
pub trait Tool: Send + Sync {
    fn name(&self) -> &'static str;
    /// JSON schema of the arguments (derived with schemars from the args type).
    fn args_schema(&self) -> Value;
    async fn call(&self, args: Value) -> Result<ToolOutput, ToolError>;
}

/// What the planner is told about a tool, and how the executor runs it (tools/NAME.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub description: String,
    /// Model role the tool uses, if any (`extractor`, ...).
    pub role: Option<String>,
    pub timeout_secs: u64,
    /// Prompt file the tool renders, relative to the repository root.
    pub prompt: Option<String>,
    pub args_schema: Value,
}

impl Manifest {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

/// The manifests shipped in tools/, compiled in.
pub const MANIFESTS: &[(&str, &str)] = &[
    ("search", include_str!("../../tools/search.json")),
    ("extract", include_str!("../../tools/extract.json")),
    ("compare", include_str!("../../tools/compare.json")),
    ("calculate", include_str!("../../tools/calculate.json")),
];

pub fn manifest(name: &str) -> Result<Manifest, ToolError> {
    let (_, text) =
        MANIFESTS
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| ToolError::Failed {
                tool: "manifest",
                message: format!("no manifest for tool {name}"),
            })?;
    serde_json::from_str(text).map_err(|e| ToolError::Failed {
        tool: "manifest",
        message: format!("tools/{name}.json: {e}"),
    })
}

/// Parses tool arguments, naming the tool and the bad field.
pub fn parse_args<T: DeserializeOwned>(tool: &'static str, args: Value) -> Result<T, ToolError> {
    serde_path_to_error::deserialize(args).map_err(|e| ToolError::InvalidArgs {
        tool,
        message: format!("at `{}`: {}", e.path(), e.inner()),
    })
}

/// Wraps a tool's typed result as its output.
pub fn output<T: Serialize>(
    tool: &'static str,
    value: &T,
    model_calls: Vec<ModelCall>,
) -> Result<ToolOutput, ToolError> {
    let value = serde_json::to_value(value).map_err(|e| ToolError::Failed {
        tool,
        message: e.to_string(),
    })?;
    Ok(ToolOutput { value, model_calls })
}

pub fn schema_value<T: schemars::JsonSchema>() -> Value {
    schemars::schema_for!(T).to_value()
}

/// Rounds away binary floating-point noise (0.1 + 0.2) so results print as people expect.
pub fn tidy(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1e9).round() / 1e9
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_removes_float_noise() {
        assert_eq!(tidy(0.1 + 0.2), 0.3);
        assert_eq!(tidy(1299.0 - 1149.0), 150.0);
    }
}

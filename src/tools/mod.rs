//! The tools a plan's steps run. Each meets one contract, [`Tool`]: a name (one of
//! [`ToolKind`], the one list of them), a typed argument struct whose JSON schema is its
//! manifest's, and `call(args, &ctx)` that returns a [`StepOutput`]. One file per tool
//! (search.rs, extract/, compare.rs, calculate.rs); the manifests in tools/ (what a step is,
//! its timeout, its argument schema, checked against the code by a test) are parsed once at
//! start into a [`Registry`].

pub mod calculate;
pub mod compare;
pub mod extract;
pub mod records;
pub mod search;
pub mod step;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use step::{Runtime, StepOutput};

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

/// What one step's call may use: its id (for the ledger), the outputs of the steps before it
/// (what references such as "s3.price" read), and the runtime (store, embedder, extractor,
/// evidence, ledger).
pub struct Ctx<'a, 'r> {
    pub step: &'a str,
    pub inputs: &'a BTreeMap<String, StepOutput>,
    pub rt: &'a Runtime<'r>,
}

/// The contract every tool meets. The executor runs a step as `call(args, &ctx)` under the
/// tool's manifest timeout; the manifest's `args_schema` is `Args`'s schema.
pub trait Tool {
    const KIND: ToolKind;
    type Args: JsonSchema + DeserializeOwned;

    fn call(
        &self,
        args: &Self::Args,
        ctx: &Ctx<'_, '_>,
    ) -> impl Future<Output = Result<StepOutput, ToolError>> + Send;

    /// The argument schema, as the code defines it.
    fn args_schema() -> Value {
        schema_value::<Self::Args>()
    }
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

/// The tools a plan may use: the one list. Names, manifests, step schemas, plan validation and
/// the executor's dispatch all match on it, so a new tool is a compile error until every one
/// of them handles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolKind {
    Search,
    Extract,
    Compare,
    Calculate,
}

impl ToolKind {
    pub const ALL: [ToolKind; 4] = [
        ToolKind::Search,
        ToolKind::Extract,
        ToolKind::Compare,
        ToolKind::Calculate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ToolKind::Search => "search",
            ToolKind::Extract => "extract",
            ToolKind::Compare => "compare",
            ToolKind::Calculate => "calculate",
        }
    }

    /// The tool a plan names, if it is one.
    pub fn parse(name: &str) -> Option<ToolKind> {
        ToolKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The names of every tool, for messages ("search, extract, ...").
    pub fn list() -> String {
        ToolKind::ALL.map(ToolKind::name).join(", ")
    }

    /// The manifest shipped in tools/NAME.json, compiled in.
    fn manifest_text(self) -> &'static str {
        match self {
            ToolKind::Search => include_str!("../../tools/search.json"),
            ToolKind::Extract => include_str!("../../tools/extract.json"),
            ToolKind::Compare => include_str!("../../tools/compare.json"),
            ToolKind::Calculate => include_str!("../../tools/calculate.json"),
        }
    }
}

/// What a tool's steps are and how long one may run (tools/NAME.json). The argument schema is
/// the step type's, checked against the code by a test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub description: String,
    pub timeout_secs: u64,
    pub args_schema: Value,
}

/// Every tool's manifest, parsed and checked once at start (a broken manifest stops the
/// program there, never a question later).
#[derive(Debug, Clone)]
pub struct Registry {
    /// In [`ToolKind::ALL`] order, so `kind as usize` indexes it.
    manifests: Vec<Manifest>,
}

impl Registry {
    /// The manifests compiled in from tools/.
    pub fn builtin() -> Result<Registry, ToolError> {
        let mut manifests = Vec::new();
        for kind in ToolKind::ALL {
            let bad = |message: String| ToolError::Failed {
                tool: kind.name(),
                message: format!("tools/{}.json: {message}", kind.name()),
            };
            let m: Manifest =
                serde_json::from_str(kind.manifest_text()).map_err(|e| bad(e.to_string()))?;
            if m.name != kind.name() {
                return Err(bad(format!("name is {:?}", m.name)));
            }
            if m.timeout_secs == 0 {
                return Err(bad("timeout_secs must be at least 1".into()));
            }
            manifests.push(m);
        }
        Ok(Registry { manifests })
    }

    pub fn manifest(&self, kind: ToolKind) -> &Manifest {
        &self.manifests[kind as usize]
    }

    /// How long one step of `kind` may run.
    pub fn timeout(&self, kind: ToolKind) -> Duration {
        Duration::from_secs(self.manifest(kind).timeout_secs)
    }
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
    fn every_tool_has_a_manifest_and_a_name_that_parses_back() {
        let registry = Registry::builtin().unwrap();
        for kind in ToolKind::ALL {
            assert_eq!(ToolKind::parse(kind.name()), Some(kind));
            let m = registry.manifest(kind);
            assert_eq!(m.name, kind.name());
            assert_eq!(registry.timeout(kind).as_secs(), m.timeout_secs);
        }
        assert_eq!(ToolKind::parse("shell"), None);
        assert_eq!(ToolKind::list(), "search, extract, compare, calculate");
    }

    #[test]
    fn tidy_removes_float_noise() {
        assert_eq!(tidy(0.1 + 0.2), 0.3);
        assert_eq!(tidy(1299.0 - 1149.0), 150.0);
    }
}

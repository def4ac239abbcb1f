//! `extract`: the extractor model reads evidence passages and returns typed values, each with
//! the passage it came from and a verbatim quote; or null when no passage says. Output is
//! constrained to a JSON schema built for the requested fields, then verified against the
//! passages: a value whose quote is not in the passage, or whose number is not in the quote, is
//! dropped (sent back once for correction first when corrections are on). Units are
//! normalised afterwards.

mod focus;
mod step;
mod units;
mod verify;

pub use focus::focus;
pub use step::{Extract, ExtractStep, PlanField};
pub(in crate::tools) use units::normalise;
pub(in crate::tools) use verify::check;
pub use verify::flatten;
use verify::locate;

use std::collections::BTreeMap;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ModelCall, ToolError};
use crate::prompts;
use crate::providers::llm::{
    ChatMessage, ChatModel, ChatRequest, LlmError, OutputSchema, parse_json,
};

/// Longest quote the model may return (keeps generation short and the schema tight).
const QUOTE_MAX: u64 = 160;
const TEXT_MAX: u64 = 200;
/// Passage id the model gives for a field no passage states.
pub const NONE: &str = "none";

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Passage {
    /// Id used to cite the passage (e.g. a search hit id).
    pub id: String,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    Number,
    Text,
    Boolean,
    // A calendar date, written YYYY-MM-DD in values.
    Date,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// Name of the value in the result, e.g. "battery_hours".
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FieldKind,
    /// Unit numbers are converted to, e.g. "hours", "USD", "g".
    #[serde(default)]
    pub unit: Option<String>,
    /// What the value means, as the extractor model reads it.
    pub description: String,
}

/// Extract typed facts from passages; each value comes with the passage it was read from.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtractArgs {
    /// Evidence passages to read.
    pub passages: Vec<Passage>,
    /// The facts to extract.
    pub fields: Vec<FieldSpec>,
    /// The thing the facts are about: a value is kept only when its quote, its passage's
    /// heading or its table's header row names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extracted {
    pub value: Value,
    pub unit: Option<String>,
    /// Id of the passage that states the value.
    pub passage: String,
    /// The words of the passage that state it.
    pub quote: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extraction {
    /// One entry per requested field: the value, or null when the passages do not say.
    pub values: BTreeMap<String, Option<Extracted>>,
    /// What verification changed (dropped values, unit conversions).
    pub notes: Vec<String>,
}

/// The model's raw answer for one field (or a record's, see `records`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(super) struct RawValue {
    pub passage: String,
    pub quote: String,
    pub value: Value,
    #[serde(default)]
    pub unit: Option<String>,
}

pub struct Extractor {
    model: Arc<dyn ChatModel>,
    max_tokens: u32,
    /// Values that fail verification are sent back once for correction (else dropped).
    corrections: bool,
}

impl Extractor {
    pub fn new(model: Arc<dyn ChatModel>) -> Self {
        Self {
            model,
            max_tokens: 512,
            corrections: true,
        }
    }

    /// Whether values that fail verification get a correction round (`agent.extract_corrections`).
    pub fn with_corrections(mut self, on: bool) -> Self {
        self.corrections = on;
        self
    }

    pub async fn extract(
        &self,
        args: &ExtractArgs,
    ) -> Result<(Extraction, Vec<ModelCall>), ToolError> {
        validate(args)?;
        let schema = output_schema(args);
        let fields = args
            .fields
            .iter()
            .map(|f| {
                let kind = match f.kind {
                    FieldKind::Number => "number",
                    FieldKind::Text => "text",
                    FieldKind::Boolean => "yes/no",
                    FieldKind::Date => "date, YYYY-MM-DD",
                };
                match &f.unit {
                    Some(u) => format!("- {} ({kind}, {u}): {}", f.name, f.description),
                    None => format!("- {} ({kind}): {}", f.name, f.description),
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let passages = args
            .passages
            .iter()
            .map(|p| format!("[{}] {}", p.id, focus(&p.text, &args.fields)))
            .collect::<Vec<_>>()
            .join("\n\n");
        let mut messages = prompts::Extract {
            fields: &fields,
            passages: &passages,
        }
        .messages()
        .map_err(|e| ToolError::Failed {
            tool: "extract",
            message: e.to_string(),
        })?;
        let mut calls = Vec::new();
        let mut notes = Vec::new();
        let mut raw = match self
            .ask(&messages, &schema, &args.passages, &mut calls)
            .await
        {
            Err(ToolError::Model {
                error:
                    LlmError::InvalidOutput {
                        message, partial, ..
                    },
                ..
            }) => {
                // One retry when the answer did not parse (e.g. cut off at the token limit).
                messages.push(ChatMessage::assistant(partial));
                messages.push(ChatMessage::user(format!(
                    "That answer was unusable ({message}). Answer again with the JSON object only."
                )));
                self.ask(&messages, &schema, &args.passages, &mut calls)
                    .await?
            }
            other => other?,
        };
        let about = args.about.as_deref();
        let mut problems = check(&args.passages, &args.fields, about, &raw);
        if !problems.is_empty() && self.corrections {
            // One correction round with what failed; then unverifiable values are dropped.
            messages.push(ChatMessage::assistant(
                serde_json::to_string(&raw).unwrap_or_default(),
            ));
            messages.push(ChatMessage::user(format!(
                "These values are not supported by the passages:\n{}\nAnswer again: copy the \
                 quote exactly from the passage, or give passage \"none\".",
                problems
                    .iter()
                    .map(|(f, why)| format!("- {f}: {why}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )));
            raw = self
                .ask(&messages, &schema, &args.passages, &mut calls)
                .await?;
            problems = check(&args.passages, &args.fields, about, &raw);
        }
        // Checked once per answer: the first, or the corrected one that replaced it.
        let still_bad: BTreeMap<String, String> = problems.into_iter().collect();
        let mut values = BTreeMap::new();
        for field in &args.fields {
            let got = raw.get(&field.name).cloned().flatten();
            let value = match (got, still_bad.get(&field.name)) {
                (Some(_), Some(why)) => {
                    notes.push(format!(
                        "{}: dropped an unverifiable value ({why})",
                        field.name
                    ));
                    None
                }
                (Some(v), None) => Some(normalise(field, v, &mut notes)),
                (None, _) => None,
            };
            values.insert(field.name.clone(), value);
        }
        Ok((Extraction { values, notes }, calls))
    }

    async fn ask(
        &self,
        messages: &[ChatMessage],
        schema: &OutputSchema,
        passages: &[Passage],
        calls: &mut Vec<ModelCall>,
    ) -> Result<BTreeMap<String, Option<RawValue>>, ToolError> {
        let request =
            ChatRequest::new(messages.to_vec(), self.max_tokens).with_schema(schema.clone());
        let response = self
            .model
            .chat(request)
            .await
            .map_err(|error| ToolError::Model {
                tool: "extract",
                error,
            })?;
        tracing::debug!(model = %response.model, text = %response.text, "extractor answer");
        calls.push(ModelCall {
            role: "extractor".into(),
            model: response.model.clone(),
            local: self.model.is_local(),
            usage: response.usage,
            timing: response.timing,
        });
        let raw: BTreeMap<String, Option<RawValue>> =
            parse_json(&response).map_err(|error| ToolError::Model {
                tool: "extract",
                error,
            })?;
        Ok(raw
            .into_iter()
            .map(|(k, v)| {
                let located = v.and_then(|v| locate(passages, &k, v));
                (k, located)
            })
            .collect())
    }
}

pub(super) fn validate(args: &ExtractArgs) -> Result<(), ToolError> {
    let bad = |message: String| ToolError::InvalidArgs {
        tool: "extract",
        message,
    };
    if args.passages.is_empty() {
        return Err(bad("no passages to read".into()));
    }
    if args.fields.is_empty() {
        return Err(bad("no fields to extract".into()));
    }
    let mut seen = std::collections::BTreeSet::new();
    for f in &args.fields {
        let ok = !f.name.is_empty()
            && f.name.len() <= 64
            && f.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok || !seen.insert(&f.name) {
            return Err(bad(format!(
                "field name {:?} must be unique, 1-64 chars of letters, digits and _",
                f.name
            )));
        }
    }
    Ok(())
}

/// The JSON schema the extractor's decoder must follow for these fields and passages.
pub(super) fn output_schema(args: &ExtractArgs) -> OutputSchema {
    let mut ids: Vec<&str> = args.passages.iter().map(|p| p.id.as_str()).collect();
    ids.push(NONE);
    let mut properties = serde_json::Map::new();
    for f in &args.fields {
        let value = match f.kind {
            FieldKind::Number => json!({"type": "number"}),
            FieldKind::Text => json!({"type": "string", "maxLength": TEXT_MAX}),
            FieldKind::Boolean => json!({"type": "boolean"}),
            FieldKind::Date => json!({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}),
        };
        // No null alternative: a `{..}|null` choice made the local decoder (llguidance in
        // mistral.rs) pick null even when the value was there. "Not stated" is the passage id
        // NONE instead, and whatever else the model writes for such a field is discarded.
        let mut props = json!({
            "passage": {"type": "string", "enum": ids},
            "quote": {"type": "string", "maxLength": QUOTE_MAX},
            "value": value,
        });
        let mut required = vec!["passage", "quote", "value"];
        if f.kind == FieldKind::Number {
            props["unit"] = json!({"type": "string", "maxLength": 16});
            required.push("unit");
        }
        properties.insert(
            f.name.clone(),
            json!({"type": "object", "properties": props, "required": required, "additionalProperties": false}),
        );
    }
    let names: Vec<&str> = args.fields.iter().map(|f| f.name.as_str()).collect();
    OutputSchema {
        name: "extraction".into(),
        schema: json!({
            "type": "object",
            "properties": properties,
            "required": names,
            "additionalProperties": false,
        }),
    }
}

#[cfg(test)]
mod tests;

//! `extract`: the extractor model reads evidence passages and returns typed values, each with
//! the passage it came from and a verbatim quote; or null when no passage says. Output is
//! constrained to a JSON schema built for the requested fields, then verified against the
//! passages: a value whose quote is not in the passage, or whose number is not in the quote, is
//! sent back once for correction and otherwise dropped. Units are normalised afterwards.

use std::collections::BTreeMap;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ModelCall, ToolError, tidy};
use crate::dates;
use crate::ingest::chunker::is_separator_row;
use crate::prompts;
use crate::providers::llm::{
    ChatMessage, ChatModel, ChatRequest, LlmError, OutputSchema, parse_json,
};
use crate::quantity::{self, numbers_in};

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

pub struct ExtractTool {
    model: Arc<dyn ChatModel>,
    max_tokens: u32,
}

impl ExtractTool {
    pub fn new(model: Arc<dyn ChatModel>) -> Self {
        Self {
            model,
            max_tokens: 512,
        }
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
        let problems = check(&args.passages, &args.fields, &raw);
        if !problems.is_empty() {
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
        }
        let still_bad: BTreeMap<String, String> = check(&args.passages, &args.fields, &raw)
            .into_iter()
            .collect();
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
            .map(|(k, v)| (k, v.and_then(|v| locate(passages, v))))
            .collect())
    }
}

/// The lines of a passage that bear on the fields: its first line (where it is from), table
/// header rows, and every line with a word of a field's name or unit (or, where none has one,
/// of a field's description). A small model on a CPU reads a few lines many times faster than
/// a whole passage (prompt processing dominates its time); values are still verified against
/// the whole passage. A passage with no such line, or a short one, is kept whole.
pub fn focus(text: &str, fields: &[FieldSpec]) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= 3 {
        return text.to_string();
    }
    let names = field_words(fields, false);
    let described = field_words(fields, true);
    let Some(keep) = lines_with(&lines, &names).or_else(|| lines_with(&lines, &described)) else {
        return text.to_string();
    };
    lines
        .iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(l, _)| *l)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Which lines to keep: the first, table header rows and lines with one of `words` (whole
/// words: "life" must not pick "| Peer key lifetime | 180 days |"); None when no line past
/// the first has one.
fn lines_with(lines: &[&str], words: &[String]) -> Option<Vec<bool>> {
    let mut keep = vec![false; lines.len()];
    keep[0] = true;
    let mut found = false;
    for (i, line) in lines.iter().enumerate().skip(1) {
        let lower = line.to_lowercase();
        let line_words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        if words.iter().any(|w| line_words.contains(&w.as_str())) {
            keep[i] = true;
            found = true;
        }
        if line.trim_start().starts_with('|')
            && lines.get(i + 1).is_some_and(|n| is_separator_row(n))
        {
            keep[i] = true;
        }
    }
    found.then_some(keep)
}

/// Lower-case words (3+ letters) of the fields' names and units, or of their descriptions,
/// without English function words and without the proper names a description mentions.
fn field_words(fields: &[FieldSpec], descriptions: bool) -> Vec<String> {
    const FUNCTION_WORDS: &[&str] = &[
        "the", "and", "for", "with", "from", "per", "its", "what", "how", "much", "many", "this",
        "that", "these", "those", "are", "was", "were", "has", "have", "which", "who", "when",
        "where", "any", "all", "each", "value", "number",
    ];
    let mut words: Vec<String> = Vec::new();
    let mut add = |w: &str| {
        let w = w
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        if w.len() >= 3
            && !w.chars().all(|c| c.is_ascii_digit())
            && !FUNCTION_WORDS.contains(&w.as_str())
            && !words.contains(&w)
        {
            words.push(w);
        }
    };
    for f in fields {
        if descriptions {
            f.description
                .split_whitespace()
                .filter(|w| !w.starts_with(char::is_uppercase))
                .for_each(&mut add);
        } else {
            f.name
                .split(|c: char| !c.is_alphanumeric())
                .for_each(&mut add);
            if let Some(u) = &f.unit {
                add(u);
            }
        }
    }
    words
}

/// Small models sometimes quote a passage exactly but name the wrong one (or "none"): the
/// passage that really contains the quote wins. A value whose quote is in no passage keeps
/// the id it was given (and fails verification), and "none" without a findable quote means
/// the passages do not state the value.
fn locate(passages: &[Passage], mut v: RawValue) -> Option<RawValue> {
    let quote = flatten(&v.quote);
    let stated = passages
        .iter()
        .find(|p| p.id == v.passage)
        .is_some_and(|p| flatten(&p.text).contains(&quote));
    if !quote.is_empty()
        && !stated
        && let Some(p) = passages.iter().find(|p| flatten(&p.text).contains(&quote))
    {
        v.passage = p.id.clone();
    }
    // The right number with a quote that does not hold it: find the passage line that states
    // that number with its unit, and quote that line instead.
    if let Some(x) = v.value.as_f64()
        && !numbers_in(&v.quote).iter().any(|q| (q - x).abs() < 1e-9)
        && let Some((id, line)) = value_line(passages, x, v.unit.as_deref())
    {
        v.passage = id;
        v.quote = line;
    }
    (v.passage != NONE).then_some(v)
}

/// The first passage line (table row or sentence) stating `x` next to its unit.
fn value_line(passages: &[Passage], x: f64, unit: Option<&str>) -> Option<(String, String)> {
    let unit = unit?.trim().to_lowercase();
    if unit.is_empty() {
        return None;
    }
    let dimension = unit_info(&unit).map(|(d, _)| d);
    for p in passages {
        for line in p.text.split(['\n', ';']).flat_map(|l| l.split(". ")) {
            let lower = line.to_lowercase();
            let has_number = numbers_in(line).iter().any(|y| (x - y).abs() < 1e-9);
            let has_unit = lower.contains(&unit)
                || (dimension == Some("currency usd") && line.contains('$'))
                || lower
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|w| dimension.is_some() && unit_info(w).map(|(d, _)| d) == dimension);
            if has_number && has_unit {
                let line: String = line.trim().chars().take(QUOTE_MAX as usize).collect();
                return Some((p.id.clone(), line));
            }
        }
    }
    None
}

fn validate(args: &ExtractArgs) -> Result<(), ToolError> {
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
fn output_schema(args: &ExtractArgs) -> OutputSchema {
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

/// Lowercases and collapses whitespace and Markdown emphasis, for quote matching.
/// Text as compared for quotes: markdown emphasis dropped, whitespace collapsed, lowercase.
pub fn flatten(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '*' | '`' | '_'))
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Fields whose value is not backed by its passage, with the reason.
pub(super) fn check(
    passages: &[Passage],
    fields: &[FieldSpec],
    raw: &BTreeMap<String, Option<RawValue>>,
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for f in fields {
        let Some(Some(v)) = raw.get(&f.name) else {
            continue;
        };
        let Some(passage) = passages.iter().find(|p| p.id == v.passage) else {
            problems.push((
                f.name.clone(),
                format!("unknown passage id {:?}", v.passage),
            ));
            continue;
        };
        let text = flatten(&passage.text);
        let quote = flatten(&v.quote);
        if quote.is_empty() || !text.contains(&quote) {
            problems.push((
                f.name.clone(),
                format!("the quote {:?} is not in passage {}", v.quote, v.passage),
            ));
            continue;
        }
        let ok = match (f.kind, &v.value) {
            (FieldKind::Number, Value::Number(n)) => n.as_f64().is_some_and(|x| {
                numbers_in(&v.quote)
                    .iter()
                    .any(|q| (q - x).abs() <= 1e-9 * x.abs().max(1.0))
            }),
            (FieldKind::Text, Value::String(s)) => {
                !s.trim().is_empty() && text.contains(&flatten(s))
            }
            (FieldKind::Boolean, Value::Bool(_)) => true,
            (FieldKind::Date, Value::String(s)) => {
                dates::parse_iso(s).is_some_and(|d| dates::dates_in(&v.quote).contains(&d))
            }
            _ => false,
        };
        if !ok {
            problems.push((
                f.name.clone(),
                format!("the value {} does not appear in the quote", v.value),
            ));
            continue;
        }
        // A value in another kind of unit (a price where hours were asked) is another fact.
        if let (Some(want), Some(have)) = (&f.unit, &v.unit)
            && quantity::different_kinds(want, have)
        {
            problems.push((
                f.name.clone(),
                format!(
                    "the value is in {have}, but {} is measured in {want}",
                    f.name
                ),
            ));
        }
    }
    problems
}

/// (dimension, factor to the dimension's base unit) of a unit name.
fn unit_info(unit: &str) -> Option<(&'static str, f64)> {
    quantity::unit(unit).map(|u| (u.dimension, u.factor))
}

/// Converts a verified number to the field's unit where the units are commensurable.
pub(super) fn normalise(field: &FieldSpec, raw: RawValue, notes: &mut Vec<String>) -> Extracted {
    let mut out = Extracted {
        value: raw.value.clone(),
        unit: raw.unit.clone().filter(|u| !u.trim().is_empty()),
        passage: raw.passage,
        quote: raw.quote,
    };
    let (FieldKind::Number, Some(want), Some(x)) = (field.kind, &field.unit, raw.value.as_f64())
    else {
        return out;
    };
    let have = out.unit.clone().unwrap_or_else(|| want.clone());
    match (unit_info(&have), unit_info(want)) {
        (Some((dh, fh)), Some((dw, fw))) if dh == dw => {
            let converted = tidy(x * fh / fw);
            if converted != x {
                notes.push(format!(
                    "{}: converted {x} {have} to {converted} {want}",
                    field.name
                ));
            }
            out.value = json!(converted);
            out.unit = Some(want.clone());
        }
        (Some(_), Some(_)) => {
            notes.push(format!(
                "{}: the passage gives {have}, not {want}; kept as stated",
                field.name
            ));
        }
        _ => {
            if have.eq_ignore_ascii_case(want) || out.unit.is_none() {
                out.unit = Some(want.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::llm::fake::{MockTurn, ScriptedModel};

    fn args() -> ExtractArgs {
        ExtractArgs {
            passages: vec![
                Passage {
                    id: "p1".into(),
                    text:
                        "Orbit 4 is rated for **19 hours** of field use. Price (MSRP, USD): $1,199."
                            .into(),
                },
                Passage {
                    id: "p2".into(),
                    text: "The VPN uses UDP 51820.".into(),
                },
            ],
            fields: vec![
                FieldSpec {
                    name: "battery_hours".into(),
                    kind: FieldKind::Number,
                    unit: Some("hours".into()),
                    description: "battery life".into(),
                },
                FieldSpec {
                    name: "price".into(),
                    kind: FieldKind::Number,
                    unit: Some("USD".into()),
                    description: "list price".into(),
                },
            ],
        }
    }

    #[test]
    fn focus_keeps_the_lines_about_the_fields() {
        let table = "Orbit 3 > Overview > Spec table:\n\n| Spec | Orbit 3 |\n|------|--------|\n\
                     | Model number | PT3-1025 |\n| Battery life | 14 hours |\n\
                     | Price (MSRP, USD) | $1,349 |\n| Weight | 1,140 g |\n| Display | 10.1-inch |";
        let fields = args().fields;
        let focused = focus(table, &fields);
        assert_eq!(
            focused,
            "Orbit 3 > Overview > Spec table:\n| Spec | Orbit 3 |\n| Battery life | 14 hours |\n\
             | Price (MSRP, USD) | $1,349 |"
        );
        // A word inside another word is no match: a passage about something else stays
        // whole, so the model sees there is nothing to extract.
        let vpn = "VPN > Settings:\n| Setting | Value |\n|---|---|\n| MTU | 1380 |\n\
                   | Peer key lifetime | 180 days |";
        assert_eq!(focus(vpn, &fields), vpn);
        // Nothing about the fields, or too short to bother: the passage stays whole.
        let other = "Office\nThe VPN uses UDP 51820.\nPort 443 too.\nAsk IT.";
        assert_eq!(focus(other, &fields), other);
        assert_eq!(focus("a\nb", &fields), "a\nb");
        // Names and units first; descriptions (without proper names and function words) only
        // where no line has a name's word.
        let lead = [FieldSpec {
            name: "lead_time".into(),
            kind: FieldKind::Number,
            unit: Some("weeks".into()),
            description: "lead time of the Nadir LX-104B panel".into(),
        }];
        assert_eq!(field_words(&lead, false), ["lead", "time", "weeks"]);
        assert_eq!(field_words(&lead, true), ["lead", "time", "panel"]);
        let panel = "Parts\nScreens come from one supplier.\nThe panel ships in 12 weeks.\nAsk IT.";
        assert_eq!(focus(panel, &lead), "Parts\nThe panel ships in 12 weeks.");
        let by_description = "Parts\nScreens come from one supplier.\nOne panel per box.\nAsk IT.";
        assert_eq!(focus(by_description, &lead), "Parts\nOne panel per box.");
    }

    fn tool(turns: Vec<&str>) -> (ExtractTool, Arc<ScriptedModel>) {
        let model = Arc::new(ScriptedModel::new(
            turns
                .into_iter()
                .map(|t| MockTurn::Text(t.into()))
                .collect(),
        ));
        (ExtractTool::new(model.clone()), model)
    }

    #[tokio::test]
    async fn verified_values_pass_and_units_normalise() {
        let (tool, model) = tool(vec![
            r#"{"battery_hours":{"passage":"p1","quote":"rated for 19 hours","value":19,"unit":"hours"},
                "price":{"passage":"p1","quote":"$1,199","value":1199,"unit":"$"}}"#,
        ]);
        let (x, calls) = tool.extract(&args()).await.unwrap();
        assert_eq!(calls.len(), 1);
        let b = x.values["battery_hours"].as_ref().unwrap();
        assert_eq!(
            (b.value.clone(), b.unit.as_deref()),
            (json!(19.0), Some("hours"))
        );
        let p = x.values["price"].as_ref().unwrap();
        assert_eq!(
            (p.value.clone(), p.unit.as_deref()),
            (json!(1199.0), Some("USD"))
        );
        // The schema the decoder got restricts passage ids to the given ones.
        let seen = model.seen.lock().unwrap();
        let schema = &seen[0].schema.as_ref().unwrap().schema;
        assert_eq!(
            schema["properties"]["price"]["properties"]["passage"]["enum"],
            json!(["p1", "p2", "none"])
        );
    }

    #[tokio::test]
    async fn invented_value_gets_one_correction_then_is_dropped() {
        let invented = r#"{"battery_hours":{"passage":"p2","quote":"UDP 51820","value":24,"unit":"hours"},"price":{"passage":"none","quote":"","value":0,"unit":""}}"#;
        let (tool, model) = tool(vec![invented, invented]);
        let (x, calls) = tool.extract(&args()).await.unwrap();
        assert_eq!(calls.len(), 2, "one retry");
        assert_eq!(x.values["battery_hours"], None);
        assert_eq!(x.values["price"], None);
        assert!(x.notes[0].contains("unverifiable"), "{:?}", x.notes);
        let correction = model.last_message(1);
        assert!(correction.contains("battery_hours"), "{correction}");
    }

    #[tokio::test]
    async fn fabricated_quote_is_caught_and_the_retry_can_fix_it() {
        let (tool, _) = tool(vec![
            r#"{"battery_hours":{"passage":"p1","quote":"lasts 20 hours","value":20,"unit":"hours"},"price":null}"#,
            r#"{"battery_hours":{"passage":"p1","quote":"19 hours","value":19,"unit":"hours"},"price":null}"#,
        ]);
        let (x, _) = tool.extract(&args()).await.unwrap();
        assert_eq!(
            x.values["battery_hours"].as_ref().unwrap().value,
            json!(19.0)
        );
    }

    #[tokio::test]
    async fn a_value_in_the_wrong_kind_of_unit_is_another_fact() {
        // A price offered as battery life (hours) is sent back, then dropped.
        let wrong = r#"{"battery_hours":{"passage":"p1","quote":"$1,199","value":1199,"unit":"USD"},"price":null}"#;
        let (tool, model) = tool(vec![wrong, wrong]);
        let (x, _) = tool.extract(&args()).await.unwrap();
        assert_eq!(x.values["battery_hours"], None);
        let correction = model.last_message(1);
        assert!(correction.contains("measured in hours"), "{correction}");
    }

    #[tokio::test]
    async fn the_passage_holding_the_quote_wins_over_the_id_given() {
        let (tool, _) = tool(vec![
            r#"{"battery_hours":{"passage":"none","quote":"rated for **19 hours**","value":19,"unit":"hours"},"price":{"passage":"p2","quote":"$1,199","value":1199,"unit":"USD"}}"#,
        ]);
        let (x, calls) = tool.extract(&args()).await.unwrap();
        assert_eq!(calls.len(), 1, "no correction round needed");
        assert_eq!(x.values["battery_hours"].as_ref().unwrap().passage, "p1");
        assert_eq!(x.values["price"].as_ref().unwrap().passage, "p1");
    }

    #[tokio::test]
    async fn a_right_number_with_a_wrong_quote_is_quoted_from_its_line() {
        let (tool, _) = tool(vec![
            r#"{"battery_hours":{"passage":"p1","quote":"The box contains a charger","value":19,"unit":"hours"},"price":null}"#,
        ]);
        let (x, calls) = tool.extract(&args()).await.unwrap();
        assert_eq!(calls.len(), 1);
        let b = x.values["battery_hours"].as_ref().unwrap();
        assert_eq!(b.passage, "p1");
        assert!(b.quote.contains("19 hours"), "{}", b.quote);
        // A number no passage states next to that unit stays unverifiable.
        let (tool, _) = tool_with(vec![
            r#"{"battery_hours":{"passage":"p1","quote":"x","value":21,"unit":"hours"},"price":null}"#,
            r#"{"battery_hours":null,"price":null}"#,
        ]);
        let (x, _) = tool.extract(&args()).await.unwrap();
        assert_eq!(x.values["battery_hours"], None);
    }

    fn tool_with(turns: Vec<&str>) -> (ExtractTool, Arc<ScriptedModel>) {
        tool(turns)
    }

    #[test]
    fn minutes_convert_to_hours_and_mismatches_are_noted() {
        let mut notes = Vec::new();
        let field = &args().fields[0];
        let raw = RawValue {
            passage: "p".into(),
            quote: "90 minutes".into(),
            value: json!(90),
            unit: Some("minutes".into()),
        };
        let out = normalise(field, raw, &mut notes);
        assert_eq!(out.value, json!(1.5));
        assert_eq!(out.unit.as_deref(), Some("hours"));
        assert_eq!(notes.len(), 1);
    }

    #[tokio::test]
    async fn bad_args_are_rejected_before_any_model_call() {
        let (tool, model) = tool(vec![]);
        let mut a = args();
        a.fields[1].name = "battery_hours".into();
        assert!(tool.extract(&a).await.is_err());
        a.passages.clear();
        assert!(tool.extract(&a).await.is_err());
        assert!(model.seen.lock().unwrap().is_empty());
    }
}

//! The extract step: table cells and labelled lines that name the thing are read by code
//! ([`records`](super::super::records)); the extractor model reads what is left, from the
//! passages of the step's searches.

use std::collections::BTreeMap;
use std::time::Instant;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ExtractArgs, Extracted, Extractor, FieldKind, FieldSpec, Passage};
use crate::ingest::chunker::is_separator_row;
use crate::tools::records;
use crate::tools::step::{Fact, Runtime, StepOutput, clip, page_name, ref_step};
use crate::tools::{Ctx, Tool, ToolError, ToolKind};

/// Extract typed values from the passages of earlier search steps.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtractStep {
    /// Ids of the search steps whose passages to read, e.g. ["s1"].
    pub from: Vec<String>,
    /// The thing the facts are about, e.g. "Orbit 4": table rows and headings that name it
    /// are read by code before the extractor model is asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    /// The facts to extract.
    pub fields: Vec<PlanField>,
}

/// One fact to extract. Unlike the extract tool's own field spec the unit is required (""
/// for none), so a number read in the wrong kind of unit can be caught.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanField {
    /// Name of the value, e.g. "battery_hours".
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FieldKind,
    /// Unit for numbers, e.g. "hours", "USD", "g"; "" for text, yes/no and counts.
    pub unit: String,
    /// What the value is, naming the thing, e.g. "battery life of the Orbit 4".
    pub description: String,
}

impl PlanField {
    pub fn to_spec(&self) -> FieldSpec {
        let unit = self.unit.trim();
        FieldSpec {
            name: self.name.clone(),
            kind: self.kind,
            unit: (!unit.is_empty()).then(|| unit.to_string()),
            description: self.description.clone(),
        }
    }
}

pub struct Extract;

/// Hits of the wider search a fact no passage read stated is looked for in.
const ROW_POOL: usize = 20;

impl Tool for Extract {
    const KIND: ToolKind = ToolKind::Extract;
    type Args = ExtractStep;

    async fn call(&self, args: &ExtractStep, ctx: &Ctx<'_, '_>) -> Result<StepOutput, ToolError> {
        let fields: Vec<FieldSpec> = args.fields.iter().map(PlanField::to_spec).collect();
        extract_step(&args.from, args.about.as_deref(), &fields, ctx).await
    }
}

async fn extract_step(
    from: &[String],
    about: Option<&str>,
    fields: &[FieldSpec],
    ctx: &Ctx<'_, '_>,
) -> Result<StepOutput, ToolError> {
    let (id, inputs, rt) = (ctx.step, ctx.inputs, ctx.rt);
    let mut ids: Vec<usize> = Vec::new();
    for f in from {
        if let Some(StepOutput::Search { evidence, .. }) = inputs.get(&ref_step(f)) {
            for e in evidence.iter().take(rt.extract_passages) {
                if !ids.contains(e) {
                    ids.push(*e);
                }
            }
        }
    }
    let passages = passages_of(&ids, rt);
    if passages.is_empty() {
        return Err(ToolError::Failed {
            tool: "extract",
            message: format!("the search steps {} found no passages", from.join(", ")),
        });
    }
    let (mut values, mut notes) = read(&passages, about, fields, ctx).await?;
    // A fact the first passages do not state may be in a table row that names the thing
    // further down the ranking: a long table's one row is a small part of its chunk, so the
    // chunk ranks low for "<thing> <attribute>". Those passages are read once more; if that
    // fails (the store or the model), the step keeps what it read and says so.
    if let Some(thing) = about {
        let unread: Vec<FieldSpec> = fields
            .iter()
            .filter(|f| values.get(&f.name).is_none_or(Option::is_none))
            .cloned()
            .collect();
        if !unread.is_empty() {
            match read_rows_naming(thing, &unread, &ids, ctx).await {
                Ok((found, more_notes)) => {
                    notes.extend(more_notes);
                    for (name, value) in found {
                        if let Some(v) = value {
                            notes.push(format!(
                                "{name}: read from {}, a table row naming {thing} that the \
                                 search ranked below the passages read first",
                                v.passage
                            ));
                            values.insert(name, Some(v));
                        }
                    }
                }
                Err(e) => notes.push(format!(
                    "looking for {thing}'s unread facts in table rows further down failed: {e}"
                )),
            }
        }
    }
    let evidence_of = |p: &str| {
        p.strip_prefix('p')
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| n.checked_sub(1))
    };
    let facts: Vec<Fact> = fields
        .iter()
        .map(|f| {
            let value = values.get(&f.name).cloned().flatten();
            Fact {
                field: f.name.clone(),
                evidence: value.as_ref().and_then(|v| evidence_of(&v.passage)),
                value,
            }
        })
        .collect();
    // Label the values by the page most of them came from, else the first passage's page.
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for f in &facts {
        if let Some(e) = f.evidence {
            *counts.entry(e).or_default() += 1;
        }
    }
    let main = counts
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(e, _)| *e)
        .or(ids.first().copied());
    // The page's name, unless it does not name the thing the values are about (a table of
    // several things on one page): then the thing's name.
    let page = main
        .and_then(|e| rt.evidence.get(e))
        .map(|e| page_name(&e.title));
    let label = match (page, about.map(str::trim).filter(|t| !t.is_empty())) {
        (Some(p), Some(thing)) if records::names(thing, &p).is_none() => thing.to_string(),
        (Some(p), _) => p,
        (None, thing) => thing.map_or_else(|| id.to_string(), str::to_string),
    };
    Ok(StepOutput::Extract {
        label,
        facts,
        notes,
    })
}

/// Hits of a wider search than the step's own whose table has a row that `thing` names in its
/// first cell, not among the passages already read (`read_first`), at most `extract_passages` of
/// them, as evidence ids.
async fn rows_naming(
    thing: &str,
    fields: &[FieldSpec],
    read_first: &[usize],
    rt: &Runtime<'_>,
) -> Result<Vec<usize>, ToolError> {
    let attributes: Vec<String> = fields.iter().map(|f| f.name.replace('_', " ")).collect();
    let query = format!("{thing} {}", attributes.join(" "));
    let hits = rt.search(&query, ROW_POOL, "extract").await?;
    let mut out = Vec::new();
    for hit in hits.iter().filter(|h| names_a_row(thing, &h.text)) {
        let e = rt.evidence.add(hit);
        if !read_first.contains(&e) && !out.contains(&e) {
            out.push(e);
        }
        if out.len() >= rt.extract_passages {
            break;
        }
    }
    Ok(out)
}

/// Whether a table row of `text` names `thing` in its first cell ("| Team B | 64 | ..." for
/// "Team B"); the header row counts too, a thing there being a column.
fn names_a_row(thing: &str, text: &str) -> bool {
    text.lines()
        .filter(|l| l.trim_start().starts_with('|') && !is_separator_row(l))
        .filter_map(|l| records::cells(l).into_iter().next())
        .any(|first| records::names(thing, &first).is_some())
}

/// `fields` read from the table rows naming `thing` that a wider search finds beyond the
/// passages already read (`rows_naming`); nothing when there are none.
async fn read_rows_naming(
    thing: &str,
    fields: &[FieldSpec],
    read_first: &[usize],
    ctx: &Ctx<'_, '_>,
) -> Result<(BTreeMap<String, Option<Extracted>>, Vec<String>), ToolError> {
    let more = rows_naming(thing, fields, read_first, ctx.rt).await?;
    if more.is_empty() {
        return Ok(Default::default());
    }
    read(&passages_of(&more, ctx.rt), Some(thing), fields, ctx).await
}

/// The passages of these evidence ids, as the extractor reads them.
fn passages_of(ids: &[usize], rt: &Runtime<'_>) -> Vec<Passage> {
    ids.iter()
        .filter_map(|i| {
            rt.evidence.get(*i).map(|e| Passage {
                id: format!("p{}", i + 1),
                text: clip(
                    &format!("{} > {}: {}", e.title, e.heading, e.text),
                    rt.passage_chars,
                ),
            })
        })
        .collect()
}

/// Reads `fields` from `passages`: table cells and labelled lines that name the thing by code,
/// the rest by the extractor model (not even loaded when nothing is left), then a number the
/// model read nothing for from the one figure a line naming the thing gives.
async fn read(
    passages: &[Passage],
    about: Option<&str>,
    fields: &[FieldSpec],
    ctx: &Ctx<'_, '_>,
) -> Result<(BTreeMap<String, Option<Extracted>>, Vec<String>), ToolError> {
    let (id, rt) = (ctx.step, ctx.rt);
    let started = Instant::now();
    let (by_code, mut notes) = match about {
        Some(thing) => records::read(passages, fields, thing, rt.embedder).await,
        None => Default::default(),
    };
    let rest: Vec<FieldSpec> = fields
        .iter()
        .filter(|f| !by_code.contains_key(&f.name))
        .cloned()
        .collect();
    let mut values: BTreeMap<String, Option<Extracted>> =
        by_code.into_iter().map(|(k, v)| (k, Some(v))).collect();
    if rest.is_empty() {
        rt.ledger.tool_step(id, "extract", started.elapsed());
        return Ok((values, notes));
    }
    let model = (rt.extractor)()
        .await
        .map_err(|message| ToolError::Failed {
            tool: "extract",
            message,
        })?;
    let tool = Extractor::new(model).with_corrections(rt.extract_corrections);
    let args = ExtractArgs {
        passages: passages.to_vec(),
        fields: rest,
        about: about.map(str::to_string),
    };
    let (extraction, calls) = tool.extract(&args).await?;
    for call in &calls {
        rt.ledger.model_call(id, call, &rt.extractor_name);
    }
    values.extend(extraction.values);
    notes.extend(extraction.notes);
    // A number the model read nothing for, that one sentence naming the thing states.
    if let Some(thing) = about {
        let unread: Vec<&FieldSpec> = args
            .fields
            .iter()
            .filter(|f| values.get(&f.name).is_none_or(Option::is_none))
            .collect();
        for f in unread {
            if let Some(raw) = records::named_figure(&args.passages, f, thing) {
                notes.push(format!(
                    "{}: read by code from the one figure a line naming {thing} gives, in {}",
                    f.name, raw.passage
                ));
                let value = super::normalise(f, raw, &mut notes);
                values.insert(f.name.clone(), Some(value));
            }
        }
    }
    Ok((values, notes))
}

#[cfg(test)]
mod tests {
    use super::names_a_row;

    #[test]
    fn a_table_row_names_a_thing_in_its_first_cell() {
        let table = "Teams > Who: | Team | Lead | Headcount |\n|---|---|---|\n\
                     | Harbour Crew | A. Lind | 64 |\n| Yard Team | Harbour Crew | 12 |";
        assert!(names_a_row("Harbour Crew", table));
        assert!(names_a_row("Harbour crew", table));
        // Named in another cell only, or not in a table at all: no.
        assert!(!names_a_row("A. Lind", table));
        assert!(!names_a_row("Harbour Crew", "Harbour Crew has 64 people."));
        // A column header that names it is a row of the header.
        assert!(names_a_row(
            "Quillon Mk1",
            "| Quillon Mk1 | Vantor |\n|---|---|\n| $610 | $700 |"
        ));
        assert!(!names_a_row(
            "Quillon Mk2",
            "| Spec | Quillon Mk1 |\n|---|---|"
        ));
    }
}

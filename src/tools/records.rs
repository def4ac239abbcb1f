//! Facts read by code: the cells of Markdown tables (HTML tables are loaded as Markdown rows)
//! and "Label: value" lines of the passages become records, and a field is read from the
//! record whose label means the field's attribute (by the embedder) and whose row, column or
//! heading names the thing the field is about. A field no record fits, or two records fit
//! about equally with different values, is left to the extractor model. A record's value goes
//! through the same verification as a model's (quote in the passage, number in the quote, unit
//! of the right kind) and the same unit conversion.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::extract::{Extracted, FieldKind, FieldSpec, Passage, RawValue, check, normalise};
use crate::dates;
use crate::ingest::chunker::is_separator_row;
use crate::providers::embed::Embedder;
use crate::quantity::{self, Quantity, names_in};

/// Least cosine similarity between a field's attribute and a record's label for the record to
/// be read (MiniLM-class sentence embeddings: a rewording scores ~0.6-0.8, an unrelated label
/// below 0.4).
pub const MIN_SIMILARITY: f32 = 0.55;
/// A second record this close to the best one, with another value, makes the field ambiguous.
pub const MARGIN: f32 = 0.05;

/// One value a passage states in a table cell or a "Label: value" line.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Index of the passage in the list read.
    pub passage: usize,
    /// What the value is about: the row's first cell, the column header, or the passage's
    /// heading line; any of them may name the thing.
    pub about: Vec<String>,
    /// The row's other cells, which may name the thing where the first cell is a code
    /// ("| PR-11 | Harbour wall repair | 2,400,000 |"); a record named only here ranks below
    /// one its `about` names.
    pub also: Vec<String>,
    /// What the value is: the column header or row label or the line's label.
    pub label: String,
    /// The cell or value text.
    pub cell: String,
    /// The unit the label gives ("Capacity (ML)" -> "ML"), if any.
    pub label_unit: Option<String>,
    /// The passage line that states it (the quote).
    pub line: String,
}

/// Where a passage is from: its first line up to ": " ("Title > Heading").
pub(crate) fn heading_of(text: &str) -> &str {
    let first = text.lines().next().unwrap_or_default();
    first.split(": ").next().unwrap_or(first)
}

/// Line `i` of a passage as it reads: the first line's text starts after the heading it
/// carries.
fn unheaded(i: usize, line: &str) -> &str {
    match (i, line.split_once(": ")) {
        (0, Some((_, rest))) => rest,
        _ => line,
    }
}

/// The records of one passage. Its first line is where it is from ("Title > Heading: ...").
pub fn records_of(index: usize, text: &str) -> Vec<Record> {
    let lines: Vec<&str> = text.lines().collect();
    let heading = heading_of(text)
        .trim()
        .trim_end_matches(':')
        .trim()
        .to_string();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if let Some(sep) = lines.get(i + 1).filter(|l| is_separator_row(l)) {
            // A table: header, separator, rows. The header line may carry the passage's
            // heading before its first bar, so it keeps as many cells as the separator has.
            let width = cells(sep).len();
            let header = cells(lines[i]);
            if width >= 2 && header.len() >= width {
                let header = header[header.len() - width..].to_vec();
                let mut j = i + 2;
                while let Some(row) = lines.get(j).filter(|l| l.trim_start().starts_with('|')) {
                    table_row(index, &heading, &header, row, &mut out);
                    j += 1;
                }
                i = j;
                continue;
            }
        }
        let line = unheaded(i, lines[i]);
        if let Some((label, value)) = labelled(line) {
            out.push(Record {
                passage: index,
                about: vec![heading.clone()],
                also: Vec::new(),
                label: bare(label),
                cell: value.to_string(),
                label_unit: unit_in_parens(label),
                line: line.trim().to_string(),
            });
        }
        i += 1;
    }
    out
}

fn table_row(index: usize, heading: &str, header: &[String], row: &str, out: &mut Vec<Record>) {
    let row_cells = cells(row);
    if row_cells.len() != header.len() {
        return;
    }
    let line = row.trim().to_string();
    for j in 1..header.len() {
        let mut push = |about: Vec<String>, also: Vec<String>, label: &str| {
            out.push(Record {
                passage: index,
                about,
                also,
                label: bare(label),
                cell: row_cells[j].clone(),
                label_unit: unit_in_parens(label),
                line: line.clone(),
            })
        };
        // The row is a thing and the column an attribute ...
        let also = (1..row_cells.len())
            .filter(|&k| k != j && !row_cells[k].is_empty())
            .map(|k| row_cells[k].clone())
            .collect();
        push(vec![row_cells[0].clone()], also, &header[j]);
        // ... or the column is a thing (or, with one value column, the passage is) and the
        // row an attribute.
        let mut about = vec![header[j].clone()];
        if header.len() == 2 {
            about.push(heading.to_string());
        }
        push(about, Vec::new(), &row_cells[0]);
    }
}

/// The cells of a table row, trimmed, without the empty ends outside the outer bars.
pub(crate) fn cells(line: &str) -> Vec<String> {
    let t = line.trim();
    let t = t.strip_suffix('|').unwrap_or(t);
    let parts: Vec<&str> = t.split('|').collect();
    let parts = if line.trim_start().starts_with('|') {
        &parts[1..]
    } else {
        &parts[..]
    };
    parts.iter().map(|c| c.trim().to_string()).collect()
}

/// "Label: value" (optionally a list item) with a short label and a value.
fn labelled(line: &str) -> Option<(&str, &str)> {
    let t = line.trim().trim_start_matches(['-', '*', '•']).trim();
    let (label, value) = t.split_once(": ")?;
    let label = label.trim().trim_matches('*').trim();
    let value = value.trim();
    let words = label.split_whitespace().count();
    (!label.is_empty() && words <= 8 && !value.is_empty() && !label.contains('|'))
        .then_some((label, value))
}

/// The label without a trailing parenthesis ("Price (MSRP, USD)" -> "Price").
fn bare(label: &str) -> String {
    match label.find('(') {
        Some(i) if i > 0 => label[..i].trim().to_string(),
        _ => label.trim().to_string(),
    }
}

/// The unit a label's parenthesis names: a known unit among its comma-separated parts, else
/// a short parenthesis as written ("(m³/day)").
fn unit_in_parens(label: &str) -> Option<String> {
    let open = label.find('(')?;
    let inner = label[open + 1..].split(')').next()?.trim();
    inner
        .split(',')
        .map(str::trim)
        .find(|p| quantity::unit(p).is_some())
        .map(str::to_string)
        .or_else(|| {
            (!inner.is_empty() && inner.chars().count() <= 10 && !inner.contains(' '))
                .then(|| inner.to_string())
        })
}

/// The words of a text that can name something, lower-case: 3+ letters, or with a digit.
pub(crate) fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().any(|c| c.is_ascii_digit()) || w.chars().count() >= 3)
        .map(str::to_lowercase)
        .collect()
}

/// Words of a name, lower-case (3+ letters, or with a digit), and the ones that must all
/// appear where the thing is named: its name words (`quantity::names_in`: capitalised or
/// numbered), or every word when it has none.
fn name_words(thing: &str) -> (Vec<String>, Vec<String>) {
    let all = words(thing);
    let mut proper: Vec<String> = names_in(thing)
        .iter()
        .flat_map(|n| n.split(|c: char| !c.is_alphanumeric()).map(str::to_string))
        .filter(|w| !w.is_empty())
        .collect();
    if proper.is_empty() {
        proper = all.clone();
    }
    (all, proper)
}

/// How well `text` names `thing`: None unless every proper word of the thing is a word of it;
/// else how many of the thing's words it has.
pub fn names(thing: &str, text: &str) -> Option<usize> {
    let (all, proper) = name_words(thing);
    if proper.is_empty() {
        return None;
    }
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    proper
        .iter()
        .all(|w| words.contains(&w.as_str()))
        .then(|| all.iter().filter(|w| words.contains(&w.as_str())).count())
}

/// Whether `text` names `thing`: every proper word of it (see `names`) is a word of the text,
/// a plural and its singular counting as one word ("new hires" names "new hire"). A thing with
/// no word to look for cannot be checked and counts as named.
pub fn mentions(thing: &str, text: &str) -> bool {
    let (_, proper) = name_words(thing);
    let text = singular_words(text);
    proper.iter().all(|w| text.contains(&singular(w)))
}

/// The words of a text (as `words`), each in its singular form, to compare words whatever
/// their number.
pub(crate) fn singular_words(text: &str) -> Vec<String> {
    words(text).iter().map(|w| singular(w)).collect()
}

/// An English plural's singular, near enough to compare words: "batteries" -> "battery",
/// "hires" -> "hire"; "glass" and short words stay.
fn singular(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("ies").filter(|s| s.len() >= 2) {
        format!("{stem}y")
    } else if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") {
        word[..word.len() - 1].to_string()
    } else {
        word.to_string()
    }
}

/// The value a record states for a field of this kind, with its unit.
fn value_of(record: &Record, kind: FieldKind) -> Option<(Value, Option<String>)> {
    match kind {
        FieldKind::Number => {
            let q = Quantity::leading(&record.cell)?;
            let unit = q.unit.map(|u| quantity::canonical(&u));
            Some((json!(q.value), unit.or_else(|| record.label_unit.clone())))
        }
        FieldKind::Boolean => {
            let first = record
                .cell
                .split(|c: char| !c.is_alphanumeric())
                .next()?
                .to_lowercase();
            match first.as_str() {
                "yes" => Some((json!(true), None)),
                "no" => Some((json!(false), None)),
                _ => None,
            }
        }
        FieldKind::Date => {
            // The cell is one date and little else ("14 November 2025", "2025-11-14 (est.)").
            let [d] = dates::dates_in(&record.cell)[..] else {
                return None;
            };
            let words = record.cell.split_whitespace().count();
            (words <= 4).then(|| (json!(dates::format(d)), None))
        }
        FieldKind::Text => None,
    }
}

/// What a field asks for, in words: its description without " of <thing>", else its name.
fn attribute(field: &FieldSpec, thing: &str) -> String {
    let suffix = format!(" of {thing}");
    match field.description.strip_suffix(&suffix) {
        Some(a) if !a.trim().is_empty() => a.trim().to_string(),
        _ => field
            .name
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .trim_end_matches('_')
            .replace('_', " "),
    }
}

/// The one figure the passages give for `thing` in the field's kind of unit, for a number
/// field the extractor model read nothing for: the sentences (or lines, or table rows) that
/// name the thing themselves (`mentions`; a heading naming it is not enough), and in them the
/// figures in a unit of the field's kind ("$60 per month" for a USD field). Exactly one value
/// must be stated that way, however often; two different ones, or none, give None. The
/// value is verified as the model's are (`check`).
pub(in crate::tools) fn named_figure(
    passages: &[Passage],
    field: &FieldSpec,
    thing: &str,
) -> Option<RawValue> {
    let want = field
        .unit
        .as_deref()
        .filter(|u| quantity::unit(u).is_some())?;
    if field.kind != FieldKind::Number || words(thing).is_empty() {
        return None;
    }
    let mut found: Vec<(Quantity, &Passage, &str)> = Vec::new();
    for p in passages {
        let lines = p.text.lines().enumerate().map(|(i, l)| unheaded(i, l));
        for sentence in lines.flat_map(|l| l.split(". ")) {
            if !mentions(thing, sentence) {
                continue;
            }
            for q in quantity::quantities_in(sentence) {
                let fits = q.unit.as_deref().is_some_and(|u| {
                    quantity::unit(u).is_some() && !quantity::different_kinds(want, u)
                });
                if fits && !found.iter().any(|(f, ..)| *f == q) {
                    found.push((q, p, sentence.trim()));
                }
            }
        }
    }
    let [(q, p, sentence)] = &found[..] else {
        return None;
    };
    let raw = RawValue {
        passage: p.id.clone(),
        quote: sentence.to_string(),
        value: json!(q.value),
        unit: q.unit.as_deref().map(quantity::canonical),
    };
    let raws = BTreeMap::from([(field.name.clone(), Some(raw.clone()))]);
    check(passages, std::slice::from_ref(field), Some(thing), &raws)
        .is_empty()
        .then_some(raw)
}

/// Cosine similarity of two vectors (0 when either is zero).
pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// A record that could answer a field, with the similarity of its label to the attribute.
struct Candidate<'r> {
    record: &'r Record,
    value: Value,
    unit: Option<String>,
    /// How well the record names the thing: by what it is about before by its row's other
    /// cells, then more of the thing's words first.
    named: (u8, usize),
    similarity: f32,
    /// Its unit is of another kind than the one the field asks for.
    other_kind: bool,
}

/// Reads what it can of `fields` (about `thing`) from the passages' records. Returns the
/// fields read, verified and in the field's unit, and a note for each. An embedder failure
/// reads nothing (the model reads every field instead).
pub async fn read(
    passages: &[Passage],
    fields: &[FieldSpec],
    thing: &str,
    embedder: &dyn Embedder,
) -> (BTreeMap<String, Extracted>, Vec<String>) {
    let mut read = BTreeMap::new();
    let mut notes = Vec::new();
    let records: Vec<Record> = passages
        .iter()
        .enumerate()
        .flat_map(|(i, p)| records_of(i, &p.text))
        .collect();
    // Per field, the records that name the thing and hold a value of the field's kind.
    // (Their labels' similarity to the attribute is filled in below, in one embedding call.)
    // How well each record names the thing, whatever the field.
    let naming: Vec<(&Record, (u8, usize))> = records
        .iter()
        .filter_map(|r| {
            let by = |cells: &[String]| cells.iter().filter_map(|a| names(thing, a)).max();
            let named = by(&r.about)
                .map(|n| (1, n))
                .or_else(|| by(&r.also).map(|n| (0, n)))?;
            Some((r, named))
        })
        .collect();
    let mut wanted: Vec<(&FieldSpec, String, Vec<Candidate>)> = Vec::new();
    for f in fields {
        let mut found = Vec::new();
        for &(record, named) in &naming {
            let Some((value, unit)) = value_of(record, f.kind) else {
                continue;
            };
            let other_kind = matches!((&f.unit, &unit),
                (Some(want), Some(have)) if quantity::different_kinds(want, have));
            found.push(Candidate {
                record,
                value,
                unit,
                named,
                similarity: 0.0,
                other_kind,
            });
        }
        if !found.is_empty() {
            wanted.push((f, attribute(f, thing), found));
        }
    }
    if wanted.is_empty() {
        return (read, notes);
    }
    let mut texts: Vec<String> = wanted.iter().map(|(_, a, _)| a.clone()).collect();
    let mut label_at: BTreeMap<String, usize> = BTreeMap::new();
    for (_, _, found) in &wanted {
        for c in found {
            let label = c.record.label.clone();
            if !label_at.contains_key(&label) {
                label_at.insert(label.clone(), texts.len());
                texts.push(label);
            }
        }
    }
    let vectors = match embedder.embed(texts).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "records: embedding labels failed; the model reads every field");
            return (read, notes);
        }
    };
    for (k, (field, attribute, mut candidates)) in wanted.into_iter().enumerate() {
        let asked = words(&attribute);
        for c in &mut candidates {
            c.similarity = label_at
                .get(&c.record.label)
                .and_then(|&at| vectors.get(at))
                .zip(vectors.get(k))
                .map_or(0.0, |(label, attribute)| cosine(attribute, label));
            // A label that has every word of the attribute means it, however the embedder
            // scores a one-word attribute against a longer label ("size", "Data size": 0.49).
            let label = words(&c.record.label);
            if !asked.is_empty() && asked.iter().all(|w| label.contains(w)) {
                c.similarity = c.similarity.max(MIN_SIMILARITY);
            }
        }
        if let Some(top) = candidates
            .iter()
            .max_by(|a, b| a.similarity.total_cmp(&b.similarity))
        {
            tracing::debug!(
                field = %field.name, thing, label = %top.record.label, cell = %top.record.cell,
                similarity = top.similarity, "records: closest label"
            );
        }
        candidates.retain(|c| c.similarity >= MIN_SIMILARITY);
        // A value in another kind of unit (grams where metres are asked) is another fact when
        // a record in the asked kind fits too. When none does, the asked unit was the planner's
        // guess (dollars on a wiki that prices in euros, grams for a backup's size), and the
        // record whose label means the attribute is read in the unit it states.
        if candidates.iter().any(|c| !c.other_kind) {
            candidates.retain(|c| !c.other_kind);
        }
        // The records naming most of the thing's words, best label first.
        let most = candidates.iter().map(|c| c.named).max().unwrap_or((0, 0));
        candidates.retain(|c| c.named == most);
        candidates.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        let Some(best) = candidates.first() else {
            continue;
        };
        let rival = candidates.iter().skip(1).find(|c| {
            c.similarity >= best.similarity - MARGIN
                && !(c.value == best.value && c.unit == best.unit)
        });
        if let Some(rival) = rival {
            tracing::debug!(
                field = %field.name, best = %best.record.line, rival = %rival.record.line,
                "records: two records fit; the model reads this field"
            );
            continue;
        }
        let raw = RawValue {
            passage: passages[best.record.passage].id.clone(),
            quote: best.record.line.clone(),
            value: best.value.clone(),
            unit: best.unit.clone(),
        };
        let as_stated;
        let field = if best.other_kind {
            as_stated = FieldSpec {
                unit: None,
                ..field.clone()
            };
            &as_stated
        } else {
            field
        };
        let one = std::slice::from_ref(field);
        let raws = BTreeMap::from([(field.name.clone(), Some(raw.clone()))]);
        if !check(passages, one, None, &raws).is_empty() {
            continue;
        }
        notes.push(format!(
            "{}: read by code from \"{}\" in {} ({:.2}){}",
            field.name,
            best.record.label,
            raw.passage,
            best.similarity,
            if best.other_kind {
                ", in the unit it states"
            } else {
                ""
            }
        ));
        read.insert(field.name.clone(), normalise(field, raw, &mut notes));
    }
    (read, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::providers::embed::WordBag as Words;

    fn field(name: &str, kind: FieldKind, unit: Option<&str>, thing: &str) -> FieldSpec {
        FieldSpec {
            name: name.into(),
            kind,
            unit: unit.map(str::to_string),
            description: format!("{} of {thing}", name.replace('_', " ")),
        }
    }

    #[tokio::test]
    async fn fields_are_read_from_the_row_naming_the_thing_and_verified() {
        let passages = vec![
            Passage {
                id: "p1".into(),
                text: TABLE.into(),
            },
            Passage {
                id: "p2".into(),
                text: "Works > Register: | Works | Max depth (m) |\n|---|---|\n| Rook Moor | 2 |"
                    .into(),
            },
        ];
        let fields = [
            field("max_depth", FieldKind::Number, Some("m"), "Fell Top"),
            field("capacity", FieldKind::Number, Some("ML"), "Fell Top"),
            field("dam_type", FieldKind::Text, None, "Fell Top"),
            field("opened", FieldKind::Date, None, "Fell Top"),
        ];
        let (got, notes) = read(&passages, &fields, "Fell Top", &Words).await;
        // The row that names the thing, not another thing's row with the same column.
        let depth = &got["max_depth"];
        assert_eq!(depth.value, json!(31.0));
        assert_eq!(depth.unit.as_deref(), Some("m"));
        assert_eq!(depth.passage, "p1");
        assert_eq!(depth.quote, "| Fell Top | 3,900 | 31 | Masonry gravity |");
        assert_eq!(got["capacity"].value, json!(3900.0));
        // Text is the answer writer's; no cell holds a date.
        assert!(!got.contains_key("dam_type") && !got.contains_key("opened"));
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with("max_depth: read by code")),
            "{notes:?}"
        );
        // A thing no row or heading names is left to the model.
        let (none, _) = read(&passages, &fields[..1], "Kirkby", &Words).await;
        assert!(none.is_empty());
    }

    #[tokio::test]
    async fn a_unit_of_another_kind_is_read_as_stated_only_when_no_record_is_in_the_asked_one() {
        let passages = vec![Passage {
            id: "p1".into(),
            text: "Backups > Sizes: | System | Size | Size (kg) |\n|---|---|---|\n\
                   | Billing | 1.2 TB | 3 |\n| Mapping | 380 GB | 2 |"
                .into(),
        }];
        // Asked in grams: the column in kilograms fits, and the one in terabytes is another fact.
        let grams = [field("size", FieldKind::Number, Some("g"), "Billing")];
        let (got, _) = read(&passages, &grams, "Billing", &Words).await;
        assert_eq!(got["size"].value, json!(3000.0));
        // Asked in euros, and no column is: the size is read in the unit it states.
        let passages = vec![Passage {
            id: "p1".into(),
            text: "Backups > Sizes: | System | Size |\n|---|---|\n| Billing | 1.2 TB |".into(),
        }];
        let euros = [field("size", FieldKind::Number, Some("EUR"), "Billing")];
        let (got, notes) = read(&passages, &euros, "Billing", &Words).await;
        assert_eq!(got["size"].value, json!(1.2));
        assert_eq!(got["size"].unit.as_deref(), Some("TB"));
        assert!(
            notes.iter().any(|n| n.ends_with("in the unit it states")),
            "{notes:?}"
        );
    }

    #[tokio::test]
    async fn a_label_with_every_word_of_the_attribute_means_it() {
        let passages = vec![Passage {
            id: "p1".into(),
            text: "Backups > Sizes: | System | Nightly full copy size on disk |\n|---|---|\n\
                   | Billing | 2.4 TB |"
                .into(),
        }];
        let fields = [field("size", FieldKind::Number, Some("GB"), "Billing")];
        let (got, _) = read(&passages, &fields, "Billing", &Words).await;
        assert_eq!(got["size"].value, json!(2400.0));
        // Not every word: left to the model.
        let fields = [field(
            "disk speed",
            FieldKind::Number,
            Some("GB"),
            "Billing",
        )];
        let (got, _) = read(&passages, &fields, "Billing", &Words).await;
        assert!(got.is_empty(), "{got:?}");
    }

    #[tokio::test]
    async fn a_row_whose_first_cell_is_a_code_is_named_by_its_other_cells() {
        let passages = vec![Passage {
            id: "p1".into(),
            text: "Projects > Approved: | Code | Project | Sponsor | Budget (EUR) |\n\
                   |---|---|---|---|\n\
                   | PR-11 | Harbour wall repair | Estates | 2,400,000 |\n\
                   | PR-12 | Estates depot roof | Harbour Board | 610,000 |"
                .into(),
        }];
        let fields = [field(
            "budget",
            FieldKind::Number,
            Some("EUR"),
            "Harbour wall",
        )];
        let (got, _) = read(&passages, &fields, "Harbour wall", &Words).await;
        assert_eq!(got["budget"].value, json!(2400000.0));
        assert_eq!(
            got["budget"].quote,
            "| PR-11 | Harbour wall repair | Estates | 2,400,000 |"
        );
        // Named by two rows' other cells alike, with different values: the model reads it.
        let fields = [field("budget", FieldKind::Number, Some("EUR"), "Estates")];
        let (got, _) = read(&passages, &fields, "Estates", &Words).await;
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn one_figure_a_sentence_naming_the_thing_gives_is_read_and_two_are_not() {
        let field = |unit: &str| FieldSpec {
            name: "amount".into(),
            kind: FieldKind::Number,
            unit: Some(unit.into()),
            description: "amount".into(),
        };
        let read = |text: &str, unit: &str| {
            let passages = [Passage {
                id: "p1".into(),
                text: text.into(),
            }];
            named_figure(&passages, &field(unit), "gym allowance").map(|r| (r.value, r.unit))
        };
        let perks = "Perks > Wellbeing: - Desk grant: $400 once.\n- Gym allowances of $45 per \
                     month, paid monthly. The gym allowance is $45 per month for part-timers too.";
        assert_eq!(
            read(perks, "USD"),
            Some((json!(45.0), Some("USD/month".into())))
        );
        // Two different figures for it, a figure of another kind, or a heading that names the
        // thing while the sentence does not: nothing is read.
        let two = "Perks: Gym allowance of $45 per month. From May the gym allowance is $50.";
        assert_eq!(read(two, "USD"), None);
        assert_eq!(read(perks, "hours"), None);
        assert_eq!(read("Gym allowance: It is $45 per month.", "USD"), None);
        // Only the first line carries a heading: a later "Label: value" line is read whole.
        let later = "Perks > Wellbeing\nGym allowance: $45 per month.";
        assert_eq!(
            read(later, "USD"),
            Some((json!(45.0), Some("USD/month".into())))
        );
    }

    #[tokio::test]
    async fn two_records_that_fit_equally_with_different_values_are_left_to_the_model() {
        let passages = vec![Passage {
            id: "p1".into(),
            text:
                "Sites > All: | Site | Depth |\n|---|---|\n| North pit | 12 |\n| North pit | 14 |"
                    .into(),
        }];
        let fields = [field("depth", FieldKind::Number, None, "North pit")];
        let (got, _) = read(&passages, &fields, "North pit", &Words).await;
        assert!(got.is_empty(), "{got:?}");
    }

    const TABLE: &str = "Reservoirs > Reservoir data: | Reservoir | Capacity (ML) | Max depth (m) | Dam type |\n\
                         |---|---|---|---|\n\
                         | Harrow Mere | 14,200 | 47 | Earth embankment |\n\
                         | Fell Top | 3,900 | 31 | Masonry gravity |\n\
                         Capacity is the volume above the lowest draw-off.";

    #[test]
    fn table_cells_become_records_both_ways() {
        let r = records_of(0, TABLE);
        let depth: Vec<&Record> = r
            .iter()
            .filter(|r| r.label == "Max depth" && r.about == ["Fell Top"])
            .collect();
        assert_eq!(depth.len(), 1, "{r:#?}");
        assert_eq!(depth[0].cell, "31");
        assert_eq!(depth[0].label_unit.as_deref(), Some("m"));
        assert_eq!(depth[0].line, "| Fell Top | 3,900 | 31 | Masonry gravity |");
        // The transposed reading: the column names the thing, the row the attribute.
        assert!(r.iter().any(|r| r.label == "Harrow Mere"
            && r.about == ["Capacity (ML)"]
            && r.cell == "14,200"));
        // Prose after the table is no record.
        assert!(!r.iter().any(|r| r.line.starts_with("Capacity is")));
    }

    #[test]
    fn one_value_column_tables_are_about_the_heading_and_labelled_lines_are_records() {
        let spec = "Orbit 3 > Spec table:\n| Spec | Value |\n|---|---|\n| Battery life | 14 hours |\n\
                    - Price (MSRP, USD): $1,349\nWeight: 1,140 g";
        let r = records_of(2, spec);
        let battery = r.iter().find(|r| r.label == "Battery life").unwrap();
        assert!(battery.about.contains(&"Orbit 3 > Spec table".to_string()));
        let price = r.iter().find(|r| r.label == "Price").unwrap();
        assert_eq!(price.cell, "$1,349");
        assert_eq!(price.label_unit.as_deref(), Some("USD"));
        assert_eq!(price.about, ["Orbit 3 > Spec table"]);
        assert!(r.iter().any(|r| r.label == "Weight" && r.passage == 2));
        assert_eq!(
            value_of(price, FieldKind::Number),
            Some((json!(1349.0), Some("USD".into())))
        );
    }

    #[test]
    fn a_thing_is_named_by_all_its_proper_words() {
        assert_eq!(names("Fell Top", "Fell Top"), Some(2));
        assert_eq!(names("Elmstead works", "Elmstead WTW"), Some(1));
        assert_eq!(names("The Elmstead works", "Elmstead WTW"), Some(1));
        assert_eq!(
            names(
                "LedgerPro backup",
                "Billing and customer accounts (LedgerPro)"
            ),
            Some(1)
        );
        // A number is part of a name: model 4 is not model 3.
        assert_eq!(names("Model 4", "Model 3 — Specification"), None);
        assert_eq!(
            names("LedgerPro backup", "Backup schedule > Schedule"),
            None
        );
        // Without a proper word every word must be there.
        assert_eq!(names("new model", "Model number"), None);
        assert_eq!(names("", "anything"), None);
    }

    #[test]
    fn cells_read_as_one_quantity_or_yes_no() {
        let rec = |cell: &str, unit: Option<&str>| Record {
            passage: 0,
            about: vec![],
            also: vec![],
            label: "x".into(),
            cell: cell.into(),
            label_unit: unit.map(str::to_string),
            line: cell.into(),
        };
        assert_eq!(
            value_of(&rec("1.2 TB", None), FieldKind::Number),
            Some((json!(1.2), Some("TB".into())))
        );
        assert_eq!(
            value_of(&rec("47", Some("m")), FieldKind::Number),
            Some((json!(47.0), Some("m".into())))
        );
        assert_eq!(
            value_of(&rec("14 November 2025", None), FieldKind::Number),
            None
        );
        assert_eq!(value_of(&rec("01:00", None), FieldKind::Number), None);
        // Words after a figure with its unit qualify it; without a unit they may be the unit.
        assert_eq!(
            value_of(&rec("2.5 m onto steel", None), FieldKind::Number),
            Some((json!(2.5), Some("m".into())))
        );
        assert_eq!(
            value_of(&rec("$45 each", None), FieldKind::Number),
            Some((json!(45.0), Some("USD".into())))
        );
        assert_eq!(
            value_of(&rec("12 (peak)", Some("kW")), FieldKind::Number),
            Some((json!(12.0), Some("kW".into())))
        );
        for cell in [
            "6 working days",
            "Every 3 years",
            "2 of 4 pumps",
            "10.4-inch, 2000 px",
        ] {
            assert_eq!(
                value_of(&rec(cell, None), FieldKind::Number),
                None,
                "{cell}"
            );
        }
        assert_eq!(
            value_of(&rec("14 November 2025", None), FieldKind::Date),
            Some((json!("2025-11-14"), None))
        );
        assert_eq!(
            value_of(
                &rec("No (supplier keeps 10 years)", None),
                FieldKind::Boolean
            ),
            Some((json!(false), None))
        );
        assert_eq!(
            value_of(&rec("Full, nightly", None), FieldKind::Boolean),
            None
        );
    }

    #[test]
    fn attribute_is_the_description_without_the_thing() {
        let f = |name: &str, description: &str| FieldSpec {
            name: name.into(),
            kind: FieldKind::Number,
            unit: None,
            description: description.into(),
        };
        assert_eq!(
            attribute(&f("max_depth", "max depth of Fell Top"), "Fell Top"),
            "max depth"
        );
        assert_eq!(
            attribute(&f("max_depth_2", "deepest"), "Fell Top"),
            "max depth"
        );
    }
}

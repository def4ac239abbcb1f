//! A value is kept only when its quote is in the passage it names and its figure is in the
//! quote.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::dates;
use crate::quantity;
use crate::tools::records;

use super::units::dimension;
use super::*;

/// Small models sometimes quote a passage exactly but name the wrong one (or "none"): the
/// passage that really contains the quote wins. A value whose quote is in no passage keeps
/// the id it was given (and fails verification), and "none" without a findable quote means
/// the passages do not state the value.
pub(super) fn locate(passages: &[Passage], field: &str, mut v: RawValue) -> Option<RawValue> {
    let quote = flatten(&v.quote);
    let flat: Vec<String> = passages.iter().map(|p| flatten(&p.text)).collect();
    let stated = passages
        .iter()
        .zip(&flat)
        .any(|(p, f)| p.id == v.passage && f.contains(&quote));
    let holder = passages
        .iter()
        .zip(&flat)
        .find(|(_, f)| f.contains(&quote))
        .map(|(p, _)| p);
    if !quote.is_empty()
        && !stated
        && let Some(p) = holder
    {
        v.passage = p.id.clone();
    }
    // The right number with a quote that does not hold it, or with a quote no passage has (a
    // table row put together from the header's cells and the value's, "Tenure | Days per
    // year | 25 days"): find the passage line about the field that states that number with
    // its unit, and quote that line instead. (The number alone is no proof: a weight in grams
    // given for a water rating is on the weight row.)
    if let Some(x) = v.value.as_f64()
        && (holder.is_none()
            || !quantity::numbers_stated(&v.quote)
                .iter()
                .any(|q| quantity::same(*q, x, quantity::EXACT)))
        && let Some((id, line)) = value_line(passages, x, v.unit.as_deref(), field)
    {
        v.passage = id;
        v.quote = line;
    }
    (v.passage != NONE).then_some(v)
}

/// The first passage line (table row or sentence) stating `x` next to its unit and about
/// `field` (see [`about`]).
pub(super) fn value_line(
    passages: &[Passage],
    x: f64,
    unit: Option<&str>,
    field: &str,
) -> Option<(String, String)> {
    let unit = unit?.trim().to_lowercase();
    if unit.is_empty() {
        return None;
    }
    let kind = dimension(&unit);
    for p in passages {
        let rows: Vec<&str> = p.text.lines().collect();
        for (i, row) in rows.iter().enumerate() {
            for line in row.split(';').flat_map(|l| l.split(". ")) {
                let lower = line.to_lowercase();
                let has_number = quantity::numbers_stated(line)
                    .iter()
                    .any(|y| quantity::same(x, *y, quantity::EXACT));
                // The unit as a word of the line ("g" is not in "GB" or "engine"), or a word of
                // its kind.
                let has_unit = lower
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|w| w == unit || (kind.is_some() && dimension(w) == kind))
                    || (!unit.chars().all(char::is_alphanumeric) && lower.contains(&unit))
                    || (kind == Some("currency usd") && line.contains('$'));
                if !(has_number && has_unit) {
                    continue;
                }
                // The passage's first line carries its heading ("Title > Heading: ..."); a
                // table row is read with its header row.
                let header = row
                    .trim_start()
                    .starts_with('|')
                    .then(|| table_header(&rows[..i]))
                    .flatten()
                    .unwrap_or("");
                let heading = rows.first().copied().unwrap_or("");
                if about(field, &format!("{heading}\n{header}\n{line}")) {
                    let line: String = line.trim().chars().take(QUOTE_MAX as usize).collect();
                    return Some((p.id.clone(), line));
                }
            }
        }
    }
    None
}

/// The header row of the table whose rows end `above` (the row followed by a separator row).
fn table_header<'a>(above: &[&'a str]) -> Option<&'a str> {
    let mut i = above.len();
    while i > 0 {
        i -= 1;
        let row = above[i].trim();
        if !row.starts_with('|') {
            return None;
        }
        if crate::ingest::chunker::is_separator_row(row) && i > 0 {
            return Some(above[i - 1]);
        }
    }
    None
}

/// Whether `text` is about the field named `field` ("water_dust_rating", "battery life"): it
/// has a word of the name (of four letters or more) or a word sharing its first four letters
/// ("battery" / "Battery:", "launch date" / "launched"). Shorter words ("per", "of") say
/// nothing of what a line is about.
pub(super) fn about(field: &str, text: &str) -> bool {
    let stem = |w: &str| w.chars().take(4).collect::<String>();
    let wanted: Vec<String> = field
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 4 && !w.chars().all(|c| c.is_ascii_digit()))
        .map(|w| stem(&w.to_lowercase()))
        .collect();
    if wanted.is_empty() {
        return true;
    }
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 4)
        .any(|w| wanted.contains(&stem(w)))
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
pub(in crate::tools) fn check(
    passages: &[Passage],
    fields: &[FieldSpec],
    about: Option<&str>,
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
                quantity::numbers_stated(&v.quote)
                    .iter()
                    .any(|q| quantity::same(*q, x, quantity::EXACT))
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
            continue;
        }
        // A value of another thing (the stipend's figure where the allowance was asked) is
        // another fact: the thing must be named where the value is stated.
        if let Some(thing) = about
            && !named_at(thing, &passage.text, &v.quote)
        {
            problems.push((
                f.name.clone(),
                format!(
                    "the quote does not name {thing}, nor does the heading of passage {}",
                    v.passage
                ),
            ));
        }
    }
    problems
}

/// Whether `thing` is named where `quote` stands in `text`: in the quote, in the passage's
/// heading (its first line up to ": "), in the table row the quote is (part of), or in that
/// table's header row. A thing of plain words ("spare battery pack") may be named by the
/// heading and the quote together ("Battery" over "Spare packs are sold for $79"), the way a
/// section names its subject once; a name ("Model 3") must stand whole in one place, or
/// "Model 4 > Battery" over "lasts 3 hours" would name Model 3.
fn named_at(thing: &str, text: &str, quote: &str) -> bool {
    let heading = records::heading_of(text);
    if records::mentions(thing, quote) || records::mentions(thing, heading) {
        return true;
    }
    if quantity::names_in(thing).is_empty()
        && records::mentions(thing, &format!("{heading}\n{quote}"))
    {
        return true;
    }
    let lines: Vec<&str> = text.lines().collect();
    let quoted = flatten(quote);
    let Some(at) = lines.iter().position(|l| flatten(l).contains(&quoted)) else {
        return false;
    };
    if !lines[at].contains('|') {
        return false;
    }
    // A cell quoted alone ("64") stands for its row, as a quote of the whole row would.
    records::mentions(thing, lines[at])
        || table_header(&lines[..at]).is_some_and(|h| records::mentions(thing, h))
}

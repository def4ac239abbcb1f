//! What the planner model writes: the facts an answer needs (each about one named thing) and
//! an arithmetic formula over them, as one flat typed object. Code turns it into the plan's
//! steps (a search and an extraction per thing, a comparison or exact arithmetic), so a plan
//! cannot reference a step that does not exist, form a cycle, or do arithmetic in its head.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::plan::{PlanError, Step};
use crate::quantity;
use crate::tools::calculate::Operation;
use crate::tools::extract::FieldKind;
use crate::tools::records;
use crate::tools::step::{ref_field, ref_step};

/// The most facts one question may need.
pub const MAX_FACTS: usize = 6;
/// The most operators a formula may have.
const MAX_OPERATORS: usize = 6;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Slots {
    #[schemars(length(min = 1, max = 6))]
    pub things: Vec<String>,
    #[schemars(length(min = 1, max = 6))]
    pub facts: Vec<FactSlot>,
    pub formula: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FactSlot {
    pub thing: String,
    pub attribute: String,
    #[serde(rename = "type")]
    pub kind: FieldKind,
    pub unit: String,
}

/// One searched thing and what is read from its passages.
struct Group {
    entity: String,
    attributes: Vec<String>,
    search: String,
    extract: Option<String>,
    fields: Vec<serde_json::Value>,
    names: BTreeSet<String>,
    /// The names of its number fields (what a comparison compares).
    numbers: BTreeSet<String>,
}

/// The steps that gather and compute what the slots ask for, and what each extracted value's
/// reference ("s3.price") is in the planner's own terms ("f2 (price of Zephyr X2)"), so a
/// failed step can be told back to it in those terms.
#[derive(Debug)]
pub struct Built {
    pub steps: Vec<Step>,
    pub legend: Vec<(String, String)>,
    /// Why the formula was not used, when it was not: the facts are still read (and two
    /// things compared), which is worth more than a repair round or the fallback plan.
    pub dropped_formula: Option<String>,
    /// Some fact is text (a name, a rating, a time of day): no step reads it, so the answer
    /// must be written from the passages, not from the computed results alone.
    pub text_facts: bool,
    /// The plan only looks values up: every fact is a number or a date and no arithmetic was
    /// asked (no formula, or one naming a single fact). Its values, once all read, are the
    /// answer.
    pub lookup: bool,
}

impl Built {
    /// A step's error with every reference replaced by the fact it stands for.
    pub fn explain(&self, error: &str) -> String {
        let mut out = error.to_string();
        // Longest first, so "s2.rate_2" is not read as "s2.rate" + "_2".
        let mut legend: Vec<&(String, String)> = self.legend.iter().collect();
        legend.sort_by_key(|(r, _)| std::cmp::Reverse(r.len()));
        for (r, fact) in legend {
            out = replace_word(&out, r, fact);
        }
        out
    }
}

/// `text` with every `word` that stands alone (not part of a longer name: "s1" in "s1 failed",
/// not in "s12") replaced by `with`.
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let joins = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut out = String::new();
    let mut copied = 0;
    for (at, _) in text.match_indices(word) {
        let end = at + word.len();
        if !joins(text[..at].chars().last()) && !joins(text[end..].chars().next()) {
            out.push_str(&text[copied..at]);
            out.push_str(with);
            copied = end;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// The steps for `slots`; `question` is what the formula's numbers must come from.
pub fn build(slots: &Slots, question: &str) -> Result<Built, PlanError> {
    match build_as_written(slots, question, true) {
        Err(e) if e.0.starts_with(FORMULA) => {
            let plain = Slots {
                formula: String::new(),
                ..slots.clone()
            };
            // The facts as written: the planner meant arithmetic over them, not a comparison
            // of every thing on every attribute (what a plan without a formula gets).
            let mut built = build_as_written(&plain, question, false)?;
            built.dropped_formula = Some(e.0);
            // The question asked for arithmetic that was not done: its values alone are no
            // answer.
            built.lookup = false;
            Ok(built)
        }
        other => other,
    }
}

/// Every thing the facts are about must be named, at least in part, in `known` (the question,
/// the conversation and the page list the planner was shown): a thing named nowhere there
/// ("s3", a step's id echoed back from an error) cannot be searched for. A plural names its
/// singular ("hotels" names "hotel").
pub fn check_things(slots: &Slots, known: &str) -> Result<(), PlanError> {
    let known = records::singular_words(known);
    for (i, f) in slots.facts.iter().enumerate() {
        let named = records::singular_words(&f.thing);
        if !named.is_empty() && !named.iter().any(|w| known.contains(w)) {
            return Err(PlanError(format!(
                "f{}: {:?} is named nowhere in the question or the pages; name the thing as they do",
                i + 1,
                f.thing.trim()
            )));
        }
    }
    Ok(())
}

/// `slots` with each thing the question names itself called as the question calls it. The
/// page list tempts the planner to lengthen a name with another thing's words ("Brook Lane"
/// asked, "Brook Lane Pumphouse" written: another site a page names), and the steps
/// then look up that other thing. So when a thing shares a name word (capitalised or
/// numbered, `quantity::names_in`) with the question, its words the question does not have
/// are dropped. A thing the question only describes ("the older unit", written as the page
/// names it) shares no name word and is kept; so are two things that would become one.
/// Returns a note for each renamed thing.
pub fn named_as_asked(slots: Slots, question: &str) -> (Slots, Vec<String>) {
    let core = |w: &str| {
        let w = w
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        w.strip_suffix("'s").map(str::to_string).unwrap_or(w)
    };
    let asked: BTreeSet<String> = question.split_whitespace().map(core).collect();
    let asked_names: BTreeSet<String> = name_words(question).collect();
    let shorter = |thing: &str| -> Option<String> {
        if !name_words(thing).any(|w| asked_names.contains(&w)) {
            return None;
        }
        let kept: Vec<&str> = thing
            .split_whitespace()
            .filter(|w| asked.contains(&core(w)))
            .collect();
        let short = kept.join(" ");
        (!short.is_empty() && short != thing.trim()).then_some(short)
    };
    // Each thing once (as first written), with the shorter name it would get.
    let mut renames: Vec<(String, Option<String>)> = Vec::new();
    for thing in slots
        .things
        .iter()
        .chain(slots.facts.iter().map(|f| &f.thing))
    {
        let thing = thing.trim();
        if !renames
            .iter()
            .any(|(from, _)| from.eq_ignore_ascii_case(thing))
        {
            renames.push((thing.to_string(), shorter(thing)));
        }
    }
    // Two things the planner told apart stay apart.
    let name_of =
        |(from, to): &(String, Option<String>)| to.as_ref().unwrap_or(from).to_lowercase();
    let names: Vec<String> = renames.iter().map(name_of).collect();
    let renames: Vec<(String, String)> = renames
        .iter()
        .filter(|r| names.iter().filter(|n| **n == name_of(r)).count() == 1)
        .filter_map(|(from, to)| Some((from.clone(), to.clone()?)))
        .collect();
    if renames.is_empty() {
        return (slots, Vec::new());
    }
    let rename = |t: &String| {
        renames
            .iter()
            .find(|(from, _)| from.eq_ignore_ascii_case(t.trim()))
            .map_or_else(|| t.clone(), |(_, to)| to.clone())
    };
    let notes = renames
        .iter()
        .map(|(from, to)| format!("{from:?} is looked up as the question names it, {to:?}"))
        .collect();
    let slots = Slots {
        things: slots.things.iter().map(rename).collect(),
        facts: slots
            .facts
            .iter()
            .map(|f| FactSlot {
                thing: rename(&f.thing),
                ..f.clone()
            })
            .collect(),
        formula: slots.formula,
    };
    (slots, notes)
}

/// `slots` with each fact the question itself states written into the formula as the
/// question's figure. The planner often lists a figure the question gives ("150 miles each
/// way") as a fact to look up ("distance to the site", in miles); no page states it, so the
/// step fails and the question goes unanswered. A number fact the formula uses is the
/// question's figure when that figure has a unit, the formula does not write its number yet,
/// and the fact is in that unit (or a unit of one kind and size: nights and days) or, with no
/// unit, names it in its attribute ("number of nights"). Only a one-to-one match is taken:
/// a figure two facts could be, or a fact two figures could be, is left to the wiki, and the
/// formula must still use a fact the wiki gives. Returns a note for each fact replaced.
pub fn given_figures(slots: Slots, question: &str) -> (Slots, Vec<String>) {
    let Ok(toks) = tokens(&slots.formula) else {
        return (slots, Vec::new());
    };
    let written: Vec<f64> = toks
        .iter()
        .filter_map(|t| match t {
            Token::Number(x) => Some(*x),
            _ => None,
        })
        .collect();
    let used = |n: usize| toks.contains(&Token::Fact(n));
    // The question's figures with a unit, each once, that the formula does not write.
    let mut figures: Vec<quantity::Quantity> = Vec::new();
    for q in quantity::quantities_in(question) {
        let Some(unit) = &q.unit else { continue };
        let new = !written
            .iter()
            .any(|x| quantity::same(*x, q.value, quantity::EXACT))
            && !figures
                .iter()
                .any(|f| quantity::same(f.value, q.value, quantity::EXACT));
        if new && quantity::unit(unit).is_some() {
            figures.push(q);
        }
    }
    let is = |f: &FactSlot, q: &quantity::Quantity| -> bool {
        let Some(written) = q.unit.as_deref() else {
            return false;
        };
        if f.kind != FieldKind::Number {
            return false;
        }
        let unit = f.unit.trim();
        if unit.is_empty() {
            let named = records::singular_words(&f.attribute);
            return records::singular_words(written)
                .iter()
                .any(|w| named.contains(w));
        }
        quantity::convert(1.0, written, unit).is_some_and(|x| quantity::same(x, 1.0, 1e-9))
    };
    let mut pairs: Vec<(usize, f64, String)> = Vec::new();
    for (i, f) in slots.facts.iter().enumerate() {
        let n = i + 1;
        let fits: Vec<&quantity::Quantity> = figures.iter().filter(|q| is(f, q)).collect();
        let [q] = fits[..] else { continue };
        let rivals = slots
            .facts
            .iter()
            .enumerate()
            .filter(|(j, g)| used(j + 1) && is(g, q))
            .count();
        if used(n) && rivals == 1 {
            let shown = format!(
                "{} {}",
                crate::tools::step::format_number(q.value),
                q.unit.as_deref().unwrap_or_default()
            );
            pairs.push((n, q.value, shown));
        }
    }
    // The formula must still read the wiki: arithmetic over the question's figures alone
    // answers nothing the question did not say.
    let reads_a_fact = toks.iter().any(|t| match t {
        Token::Fact(n) => !pairs.iter().any(|(m, ..)| m == n),
        _ => false,
    });
    if pairs.is_empty() || !reads_a_fact {
        return (slots, Vec::new());
    }
    // The formula with each replaced fact written as its number and the others renumbered.
    let gone = |n: usize| pairs.iter().find(|(m, ..)| *m == n);
    let formula = rewritten(&toks, |n| match gone(n) {
        Some((_, x, _)) => x.to_string(),
        None => format!("f{}", n - pairs.iter().filter(|(m, ..)| *m < n).count()),
    });
    let notes = pairs
        .iter()
        .map(|(n, _, shown)| {
            let f = &slots.facts[n - 1];
            format!(
                "f{n} ({} of {}) is the question's {shown}, not looked up",
                f.attribute.trim(),
                f.thing.trim()
            )
        })
        .collect();
    let facts = slots
        .facts
        .iter()
        .enumerate()
        .filter(|(i, _)| gone(i + 1).is_none())
        .map(|(_, f)| f.clone())
        .collect();
    let slots = Slots {
        things: slots.things,
        facts,
        formula,
    };
    (slots, notes)
}

/// The slots with each fact listed once: a small planner often writes the same fact (thing
/// and attribute) several times, and each copy would be one more field for the extractor to
/// read. The formula's references to a copy point at the first one, and the facts after it
/// are renumbered. Unchanged when the formula cannot be read (`build` reports that).
pub fn distinct_facts(slots: Slots) -> (Slots, Vec<String>) {
    let key = |f: &FactSlot| (f.thing.trim().to_lowercase(), slug(&f.attribute));
    let mut kept: Vec<usize> = Vec::new();
    // For each fact (0-based), the kept fact it is (0-based, in the kept list).
    let mut at: Vec<usize> = Vec::new();
    for (i, f) in slots.facts.iter().enumerate() {
        match kept.iter().position(|&k| key(&slots.facts[k]) == key(f)) {
            Some(p) => at.push(p),
            None => {
                at.push(kept.len());
                kept.push(i);
            }
        }
    }
    if kept.len() == slots.facts.len() {
        return (slots, Vec::new());
    }
    let Ok(toks) = tokens(&slots.formula) else {
        return (slots, Vec::new());
    };
    let formula = rewritten(&toks, |n| match n.checked_sub(1).and_then(|i| at.get(i)) {
        Some(p) => format!("f{}", p + 1),
        // A reference to no fact stays as written; `build` reports it.
        None => format!("f{n}"),
    });
    let notes = slots
        .facts
        .iter()
        .enumerate()
        .filter(|(i, _)| !kept.contains(i))
        .map(|(i, f)| {
            format!(
                "f{} repeats f{} ({} of {}); read once",
                i + 1,
                at[i] + 1,
                f.attribute.trim(),
                f.thing.trim()
            )
        })
        .collect();
    let facts = kept.iter().map(|&k| slots.facts[k].clone()).collect();
    (
        Slots {
            things: slots.things,
            facts,
            formula,
        },
        notes,
    )
}

/// A formula's tokens written out again, each fact reference (its number) as `fact` writes it.
fn rewritten(toks: &[Token], fact: impl Fn(usize) -> String) -> String {
    toks.iter()
        .map(|t| match t {
            Token::Number(x) => x.to_string(),
            Token::Op(c) => c.to_string(),
            Token::Fact(n) => fact(*n),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The name words of a text, each word of a name on its own ("Brook Lane" -> "brook", "lane").
fn name_words(text: &str) -> impl Iterator<Item = String> {
    quantity::names_in(text)
        .into_iter()
        .flat_map(|n| {
            n.split(|c: char| !c.is_alphanumeric())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|w| !w.is_empty())
}

/// How every formula error starts.
const FORMULA: &str = "formula ";

fn build_as_written(slots: &Slots, question: &str, expand: bool) -> Result<Built, PlanError> {
    let err = |m: String| Err(PlanError(m));
    if slots.facts.is_empty() {
        return err("no facts: name at least one".into());
    }
    // The bound is on what the planner wrote; the facts code fills in for a comparison are
    // bounded by the plan's step limit.
    if slots.facts.len() > MAX_FACTS {
        return err(format!(
            "{} facts; at most {MAX_FACTS} are allowed",
            slots.facts.len()
        ));
    }
    let completed = if expand {
        complete(slots)
    } else {
        slots.clone()
    };
    let slots = &completed;
    // One group per thing, in the order the facts first name them.
    let mut groups: Vec<Group> = Vec::new();
    let mut fact_group = Vec::new();
    for (i, f) in slots.facts.iter().enumerate() {
        let attribute = f.attribute.trim();
        if attribute.is_empty() {
            return err(format!("f{}: the attribute is empty", i + 1));
        }
        let entity = f.thing.trim();
        if entity.is_empty() && slots.things.len() > 1 {
            return err(format!("f{}: say which thing it is about", i + 1));
        }
        let key = entity.to_lowercase();
        let g = match groups.iter().position(|g| g.entity.to_lowercase() == key) {
            Some(g) => g,
            None => {
                groups.push(Group {
                    entity: entity.to_string(),
                    attributes: Vec::new(),
                    search: String::new(),
                    extract: None,
                    fields: Vec::new(),
                    names: BTreeSet::new(),
                    numbers: BTreeSet::new(),
                });
                groups.len() - 1
            }
        };
        if !groups[g].attributes.iter().any(|a| a == attribute) {
            groups[g].attributes.push(attribute.to_string());
        }
        fact_group.push(g);
    }
    let mut steps = Vec::new();
    let mut counter = 0usize;
    let mut next_id = move || {
        counter += 1;
        format!("s{counter}")
    };
    for g in &mut groups {
        g.search = next_id();
        let query = format!("{} {}", g.entity, g.attributes.join(" "));
        steps.push(step(
            &g.search,
            "search",
            json!({"query": query.trim()}),
            &[],
        ));
    }
    // Numbers, dates and yes/no are read by the extractor; text is left to the answer writer, who
    // reads the same passages.
    let mut fact_ref: Vec<Option<String>> = Vec::new();
    for (i, f) in slots.facts.iter().enumerate() {
        let g = &mut groups[fact_group[i]];
        if f.kind == FieldKind::Text {
            fact_ref.push(None);
            continue;
        }
        let mut name = slug(&f.attribute);
        let mut n = 2;
        while g.names.contains(&name) {
            name = format!("{}_{n}", slug(&f.attribute));
            n += 1;
        }
        g.names.insert(name.clone());
        if f.kind == FieldKind::Number {
            g.numbers.insert(name.clone());
        }
        let about = if g.entity.is_empty() {
            f.attribute.trim().to_string()
        } else {
            format!("{} of {}", f.attribute.trim(), g.entity)
        };
        g.fields.push(json!({
            "name": name,
            "type": f.kind,
            "unit": f.unit.trim(),
            "description": about,
        }));
        fact_ref.push(Some(name));
    }
    for g in &mut groups {
        if g.fields.is_empty() {
            continue;
        }
        let id = next_id();
        steps.push(step(
            &id,
            "extract",
            json!({"from": [g.search], "about": (!g.entity.is_empty()).then_some(&g.entity), "fields": g.fields}),
            std::slice::from_ref(&g.search),
        ));
        g.extract = Some(id);
    }
    let refs: Vec<Option<String>> = fact_ref
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let g = &groups[fact_group[i]];
            match (&g.extract, name) {
                (Some(e), Some(n)) => Some(format!("{e}.{n}")),
                _ => None,
            }
        })
        .collect();

    let legend = refs
        .iter()
        .zip(&slots.facts)
        .enumerate()
        .filter_map(|(i, (r, f))| {
            r.as_ref().map(|r| {
                let about = format!("{} of {}", f.attribute.trim(), f.thing.trim());
                (
                    r.clone(),
                    format!("f{} ({})", i + 1, about.trim_end_matches(" of ")),
                )
            })
        })
        .chain(groups.iter().filter_map(|g| {
            let id = g.extract.as_ref()?;
            let name = if g.entity.is_empty() {
                g.attributes.join(", ")
            } else {
                g.entity.clone()
            };
            Some((id.clone(), format!("the facts of {name}")))
        }))
        .collect();

    // Two things read for the same facts are compared by code, the first as baseline: both
    // values, the difference and the percent change, whatever the formula says.
    let extracted: Vec<&Group> = groups.iter().filter(|g| g.extract.is_some()).collect();
    let mut compared: Vec<String> = Vec::new();
    if let [a, b] = extracted.as_slice()
        && let (Some(ea), Some(eb)) = (&a.extract, &b.extract)
    {
        compared = a.numbers.intersection(&b.numbers).cloned().collect();
        if !compared.is_empty() {
            let id = next_id();
            steps.push(step(
                &id,
                "compare",
                json!({"a": ea, "b": eb}),
                &[ea.clone(), eb.clone()],
            ));
        }
    }

    let formula = slots.formula.trim();
    if !formula.is_empty() {
        let expr = parse(formula).map_err(|e| PlanError(format!("formula {formula:?}: {e}")))?;
        if operators(&expr) > MAX_OPERATORS {
            return err(format!(
                "formula {formula:?}: at most {MAX_OPERATORS} operators"
            ));
        }
        let in_formula = |e: PlanError| PlanError(format!("{FORMULA}{formula:?}: {}", e.0));
        check_units(&expr, &slots.facts).map_err(in_formula)?;
        check_dates(&expr, &slots.facts).map_err(in_formula)?;
        check_numbers(&expr, question).map_err(in_formula)?;
        // "f2 - f1" over one compared field of the two things says nothing more than the
        // comparison: the same field, read from the two extractions.
        let repeats_the_comparison = match &expr {
            Expr::Bin(Operation::Difference | Operation::Ratio, x, y) => match (&**x, &**y) {
                (Expr::Fact(i), Expr::Fact(j)) => {
                    let read = |n: &usize| refs.get(n.wrapping_sub(1)).cloned().flatten();
                    match (read(i), read(j)) {
                        (Some(ri), Some(rj)) => {
                            ref_step(&ri) != ref_step(&rj)
                                && ref_field(&ri) == ref_field(&rj)
                                && ref_field(&ri).is_some_and(|f| compared.iter().any(|c| c == f))
                        }
                        _ => false,
                    }
                }
                _ => false,
            },
            _ => false,
        };
        if matches!(expr, Expr::Bin(..) | Expr::Neg(_)) && !repeats_the_comparison {
            let mut emit = Emitter {
                refs: &refs,
                steps: &mut steps,
                next: &mut next_id,
            };
            emit.operand(&expr).map_err(in_formula)?;
        }
    }
    let plain_values = slots
        .facts
        .iter()
        .all(|f| matches!(f.kind, FieldKind::Number | FieldKind::Date));
    let no_arithmetic = formula.is_empty() || matches!(parse(formula), Ok(Expr::Fact(_)));
    Ok(Built {
        steps,
        legend,
        dropped_formula: None,
        text_facts: slots.facts.iter().any(|f| f.kind == FieldKind::Text),
        lookup: plain_values && no_arithmetic,
    })
}

/// Whatever is added or subtracted must be in one dimension: hours and dollars do not add up,
/// and neither do days and days times years. Each side's dimension follows from its facts'
/// units through the formula's products and quotients (`dimension`); a side with a unit code
/// does not know is not judged, and a number written in the question fits any side ("f2 + 1",
/// "1 - f3").
fn check_units(e: &Expr, facts: &[FactSlot]) -> Result<(), PlanError> {
    dimension(e, facts).map(|_| ())
}

/// A dimension as the exponent of each base dimension ("USD/mile": currency usd 1, length -1).
/// A percentage is one only until it scales something: "f1 * f2 / 100" and "f1 * (1 - f2)"
/// are both written, but dollars less a percentage do not subtract.
type Dim = BTreeMap<&'static str, i32>;

fn unit_dimension(unit: &str) -> Option<Dim> {
    let u = quantity::unit(unit.trim())?;
    let mut d = Dim::new();
    *d.entry(u.dimension).or_default() += 1;
    if let Some(per) = u.per {
        *d.entry(per).or_default() -= 1;
    }
    d.retain(|_, e| *e != 0);
    Some(d)
}

/// `e`'s dimension; None when some unit in it is unknown.
fn dimension(e: &Expr, facts: &[FactSlot]) -> Result<Option<Dim>, PlanError> {
    let combine = |a: Option<Dim>, b: Option<Dim>, sign: i32| {
        let (mut a, b) = (a?, b?);
        for (k, x) in b {
            *a.entry(k).or_default() += sign * x;
        }
        a.retain(|k, x| *x != 0 && *k != "percent");
        Some(a)
    };
    match e {
        Expr::Number(_) => Ok(Some(Dim::new())),
        Expr::Fact(i) => Ok(facts
            .get(i.wrapping_sub(1))
            .filter(|f| f.kind == FieldKind::Number)
            .and_then(|f| unit_dimension(&f.unit))),
        Expr::Neg(x) => dimension(x, facts),
        Expr::Bin(op, a, b) => {
            let (da, db) = (dimension(a, facts)?, dimension(b, facts)?);
            match op {
                Operation::Product => Ok(combine(da, db, 1)),
                Operation::Ratio => Ok(combine(da, db, -1)),
                _ => match (da, db) {
                    (Some(x), Some(y)) if !addable(&x, &y) => Err(PlanError(format!(
                        "{} is in {} and {} in {}: they cannot be added or subtracted",
                        written(a),
                        in_unit(a, &x, facts),
                        written(b),
                        in_unit(b, &y, facts)
                    ))),
                    (Some(x), Some(y)) if x.is_empty() => Ok(Some(y)),
                    (x, _) => Ok(x),
                },
            }
        }
    }
}

/// Whether values of the two dimensions add up: the same, one a plain number, or a rate and
/// an amount of its numerator ("$60 per month" and "$1,500" are both amounts of dollars).
fn addable(x: &Dim, y: &Dim) -> bool {
    let upper = |d: &Dim| -> Dim {
        d.iter()
            .filter(|(_, e)| **e > 0)
            .map(|(k, e)| (*k, *e))
            .collect()
    };
    let per = |d: &Dim| d.values().any(|e| *e < 0);
    x == y || x.is_empty() || y.is_empty() || (upper(x) == upper(y) && per(x) != per(y))
}

/// A dimension as people read it: "currency usd", "mass × length", "time^-1".
fn show(d: &Dim) -> String {
    if d.is_empty() {
        return "a plain number".into();
    }
    d.iter()
        .map(|(k, e)| {
            if *e == 1 {
                k.to_string()
            } else {
                format!("{k}^{e}")
            }
        })
        .collect::<Vec<_>>()
        .join(" × ")
}

/// A side of the formula as the planner wrote it: "f1", "(f1 * (f2 + 1))".
fn written(e: &Expr) -> String {
    match e {
        Expr::Number(x) => x.to_string(),
        Expr::Fact(i) => format!("f{i}"),
        Expr::Neg(x) => format!("-{}", written(x)),
        Expr::Bin(op, a, b) => {
            let sign = match op {
                Operation::Sum => '+',
                Operation::Difference => '-',
                Operation::Product => '*',
                _ => '/',
            };
            format!("({} {sign} {})", written(a), written(b))
        }
    }
}

/// What a side is in: a fact's unit as the planner wrote it ("hours"), or the dimension a
/// computed side has ("time × time").
fn in_unit(e: &Expr, d: &Dim, facts: &[FactSlot]) -> String {
    match e {
        Expr::Fact(i) => facts
            .get(i.wrapping_sub(1))
            .map_or_else(|| show(d), |f| f.unit.trim().to_string()),
        _ => show(d),
    }
}

/// The numbers a formula may write: those of the question (as written, or a percentage of it
/// as a fraction: "8%" is 8 or 0.08), its number words, and 1, 2 and 100 (a whole, a round
/// trip, a percent). Any other number is a value the planner made up or read from a page,
/// where only the wiki's facts (f1, f2, ...) may bring values.
fn check_numbers(e: &Expr, question: &str) -> Result<(), PlanError> {
    let mut given: Vec<f64> = vec![1.0, 2.0, 100.0];
    for x in quantity::numbers_in(question) {
        given.extend([x, x / 100.0]);
    }
    given.extend(
        question
            .split(|c: char| !c.is_alphabetic())
            .filter_map(|w| number_word(&w.to_lowercase())),
    );
    let mut written = Vec::new();
    numbers(e, &mut written);
    match written.into_iter().find(|x| {
        !given
            .iter()
            .any(|g| quantity::same(*g, *x, quantity::EXACT))
    }) {
        Some(x) => Err(PlanError(format!(
            "{x} is not a number of the question; values come from the facts (f1, f2, ...)"
        ))),
        None => Ok(()),
    }
}

/// The value of an English number word ("three" -> 3, "twice" -> 2, "half" -> 0.5).
fn number_word(w: &str) -> Option<f64> {
    const WORDS: [&str; 12] = [
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve",
    ];
    match w {
        "twice" | "double" => Some(2.0),
        "half" => Some(0.5),
        "dozen" => Some(12.0),
        _ => WORDS.iter().position(|n| *n == w).map(|i| (i + 1) as f64),
    }
}

/// Every number a formula writes.
fn numbers(e: &Expr, out: &mut Vec<f64>) {
    match e {
        Expr::Number(x) => out.push(*x),
        Expr::Fact(_) => {}
        Expr::Neg(x) => numbers(x, out),
        Expr::Bin(_, a, b) => {
            numbers(a, out);
            numbers(b, out);
        }
    }
}

/// A date can only be subtracted from another date (the days between them); a date plus a
/// number, or a date times anything, is no question about the wiki's facts.
fn check_dates(e: &Expr, facts: &[FactSlot]) -> Result<(), PlanError> {
    let is_date = |i: usize| {
        facts
            .get(i.wrapping_sub(1))
            .is_some_and(|f| f.kind == FieldKind::Date)
    };
    match e {
        Expr::Number(_) => Ok(()),
        Expr::Fact(i) if is_date(*i) => Err(PlanError(format!(
            "f{i} is a date: a date can only be subtracted from another date"
        ))),
        Expr::Fact(_) => Ok(()),
        Expr::Neg(x) => check_dates(x, facts),
        Expr::Bin(Operation::Difference, a, b) => match (&**a, &**b) {
            (Expr::Fact(i), Expr::Fact(j)) if is_date(*i) && is_date(*j) => Ok(()),
            _ => {
                check_dates(a, facts)?;
                check_dates(b, facts)
            }
        },
        Expr::Bin(_, a, b) => {
            check_dates(a, facts)?;
            check_dates(b, facts)
        }
    }
}

fn step(id: &str, tool: &str, args: serde_json::Value, depends_on: &[String]) -> Step {
    Step {
        id: id.to_string(),
        tool: tool.to_string(),
        args,
        depends_on: depends_on.to_vec(),
    }
}

/// With no formula, the question is about the facts themselves: every thing named gets every
/// number and yes/no attribute asked of any of them ("compare the weight and price of X and
/// Y" read for both even when the facts list them for one), facts appended after the written
/// ones so their numbers stay. A thing no fact names is dropped when there is a formula.
fn complete(slots: &Slots) -> Slots {
    let mut out = slots.clone();
    if !slots.formula.trim().is_empty() {
        return out;
    }
    let mut things: Vec<String> = Vec::new();
    for t in slots
        .things
        .iter()
        .chain(slots.facts.iter().map(|f| &f.thing))
    {
        let t = t.trim();
        if !t.is_empty() && !things.iter().any(|x| x.eq_ignore_ascii_case(t)) {
            things.push(t.to_string());
        }
    }
    if things.len() < 2 {
        return out;
    }
    let mut asked: Vec<&FactSlot> = Vec::new();
    for f in slots.facts.iter().filter(|f| f.kind != FieldKind::Text) {
        if !asked
            .iter()
            .any(|a| slug(&a.attribute) == slug(&f.attribute))
        {
            asked.push(f);
        }
    }
    for t in &things {
        for a in &asked {
            let has = out.facts.iter().any(|f| {
                f.thing.trim().eq_ignore_ascii_case(t) && slug(&f.attribute) == slug(&a.attribute)
            });
            if !has {
                out.facts.push(FactSlot {
                    thing: t.clone(),
                    ..(*a).clone()
                });
            }
        }
    }
    out
}

/// "Battery life (hours)" -> "battery_life_hours".
fn slug(s: &str) -> String {
    // Field names are ASCII (the extract tool's rule); other letters and signs ("m³", "größe")
    // separate words, and the description keeps the attribute as written.
    let mut out = String::new();
    for c in s.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out: String = out.trim_matches('_').chars().take(40).collect();
    if out.is_empty() { "value".into() } else { out }
}

/// A formula over facts (f1, f2, ...) and numbers.
#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Number(f64),
    Fact(usize),
    Neg(Box<Expr>),
    Bin(Operation, Box<Expr>, Box<Expr>),
}

fn operators(e: &Expr) -> usize {
    match e {
        Expr::Number(_) | Expr::Fact(_) => 0,
        Expr::Neg(x) => 1 + operators(x),
        Expr::Bin(_, a, b) => 1 + operators(a) + operators(b),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Fact(usize),
    Op(char),
}

fn tokens(s: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if "+-*/()×".contains(c) {
            out.push(Token::Op(if c == '×' { '*' } else { c }));
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_digit() || chars[i] == '.' || chars[i] == ',')
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().filter(|c| **c != ',').collect();
            let x = text
                .parse::<f64>()
                .map_err(|_| format!("{text:?} is not a number"))?;
            out.push(Token::Number(x));
        } else if c == 'f' || c == 'F' {
            let start = i + 1;
            i += 1;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let n: usize = chars[start..i]
                .iter()
                .collect::<String>()
                .parse()
                .map_err(|_| "a fact is written f1, f2, ...".to_string())?;
            out.push(Token::Fact(n));
        } else {
            return Err(format!(
                "unexpected {c:?}: use f1, f2, ..., numbers, + - * / and parentheses"
            ));
        }
    }
    Ok(out)
}

/// Recursive descent: sum := product (('+'|'-') product)*; product := unary (('*'|'/') unary)*;
/// unary := '-' unary | atom; atom := number | fact | '(' sum ')'.
fn parse(s: &str) -> Result<Expr, String> {
    let toks = tokens(s)?;
    let mut p = Parser { toks, at: 0 };
    let e = p.sum()?;
    if p.at != p.toks.len() {
        return Err("unexpected text after the formula".into());
    }
    Ok(e)
}

struct Parser {
    toks: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek_op(&self) -> Option<char> {
        match self.toks.get(self.at) {
            Some(Token::Op(c)) => Some(*c),
            _ => None,
        }
    }

    fn sum(&mut self) -> Result<Expr, String> {
        self.chain(
            [('+', Operation::Sum), ('-', Operation::Difference)],
            Self::product,
        )
    }

    fn product(&mut self) -> Result<Expr, String> {
        self.chain(
            [('*', Operation::Product), ('/', Operation::Ratio)],
            Self::unary,
        )
    }

    /// A left-associative chain of `operand`s joined by the two operators of one precedence.
    fn chain(
        &mut self,
        ops: [(char, Operation); 2],
        operand: fn(&mut Self) -> Result<Expr, String>,
    ) -> Result<Expr, String> {
        let mut e = operand(self)?;
        while let Some(op) = self
            .peek_op()
            .and_then(|c| ops.iter().find(|(o, _)| *o == c).map(|(_, op)| *op))
        {
            self.at += 1;
            let r = operand(self)?;
            e = Expr::Bin(op, Box::new(e), Box::new(r));
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek_op() == Some('-') {
            self.at += 1;
            return Ok(match self.unary()? {
                Expr::Number(x) => Expr::Number(-x),
                e => Expr::Neg(Box::new(e)),
            });
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, String> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        match t {
            Some(Token::Number(x)) => Ok(Expr::Number(x)),
            Some(Token::Fact(n)) => Ok(Expr::Fact(n)),
            Some(Token::Op('(')) => {
                let e = self.sum()?;
                if self.peek_op() != Some(')') {
                    return Err("a parenthesis is not closed".into());
                }
                self.at += 1;
                Ok(e)
            }
            Some(Token::Op(c)) => Err(format!("unexpected {c:?}")),
            None => Err("the formula ends too early".into()),
        }
    }
}

/// Writes calculate steps for a formula, innermost first; chains of + or * become one step.
struct Emitter<'a, F: FnMut() -> String> {
    refs: &'a [Option<String>],
    steps: &'a mut Vec<Step>,
    next: &'a mut F,
}

impl<F: FnMut() -> String> Emitter<'_, F> {
    /// The operand a calculate step reads for `e`: a number, a fact's reference, or the id of
    /// the step that computes it.
    fn operand(&mut self, e: &Expr) -> Result<serde_json::Value, PlanError> {
        match e {
            Expr::Number(x) => Ok(json!(x)),
            Expr::Fact(n) => match self.refs.get(n.wrapping_sub(1)) {
                Some(Some(r)) => Ok(json!(r)),
                Some(None) => Err(PlanError(format!(
                    "f{n} is text; a formula can only use number facts"
                ))),
                None => Err(PlanError(format!(
                    "the formula uses f{n}, but there are only {} facts",
                    self.refs.len()
                ))),
            },
            Expr::Neg(x) => self.emit(Operation::Product, &[&Expr::Number(-1.0), x]),
            Expr::Bin(op, a, b) => {
                let mut parts = Vec::new();
                if matches!(op, Operation::Sum | Operation::Product) {
                    flatten(*op, a, &mut parts);
                    flatten(*op, b, &mut parts);
                } else {
                    parts.push(a.as_ref());
                    parts.push(b.as_ref());
                }
                self.emit(*op, &parts)
            }
        }
    }

    fn emit(&mut self, op: Operation, parts: &[&Expr]) -> Result<serde_json::Value, PlanError> {
        let mut values = Vec::new();
        let mut depends_on = Vec::new();
        for p in parts {
            let v = self.operand(p)?;
            if let Some(r) = v.as_str() {
                let id = ref_step(r);
                if !depends_on.contains(&id) {
                    depends_on.push(id);
                }
            }
            values.push(v);
        }
        let id = (self.next)();
        self.steps.push(step(
            &id,
            "calculate",
            json!({"op": op, "values": values}),
            &depends_on,
        ));
        Ok(json!(id))
    }
}

/// The operands of a chain of one associative operation: a + (b + c) -> [a, b, c].
fn flatten<'e>(op: Operation, e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match e {
        Expr::Bin(o, a, b) if *o == op => {
            flatten(op, a, out);
            flatten(op, b, out);
        }
        _ => out.push(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::plan::{Action, validate};
    use crate::tools::calculate::Operand;

    /// The steps for `slots` asked in a question that writes every number of the formula.
    fn build(slots: &Slots) -> Result<Built, PlanError> {
        super::build(slots, &slots.formula)
    }

    fn fact(thing: &str, attribute: &str, kind: FieldKind, unit: &str) -> FactSlot {
        FactSlot {
            thing: thing.into(),
            attribute: attribute.into(),
            kind,
            unit: unit.into(),
        }
    }

    #[test]
    fn a_fact_written_twice_is_read_once() {
        let cap = fact(
            "Brindle works",
            "design capacity",
            FieldKind::Number,
            "m³/day",
        );
        let out = fact(
            "Brindle works",
            "average output",
            FieldKind::Number,
            "m³/day",
        );
        let slots = Slots {
            things: vec!["Brindle works".into()],
            facts: vec![
                cap.clone(),
                out.clone(),
                out.clone(),
                cap.clone(),
                out.clone(),
            ],
            formula: "f4 / f1 * 100 + f2 - f3".into(),
        };
        let (s, notes) = distinct_facts(slots);
        assert_eq!(s.facts, vec![cap.clone(), out.clone()]);
        assert_eq!(s.formula, "f1 / f1 * 100 + f2 - f2");
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(notes[0].starts_with("f3 repeats f2"), "{notes:?}");
        // Distinct facts, or a formula that cannot be read, are left as they are.
        let slots = Slots {
            things: vec!["Brindle works".into()],
            facts: vec![cap.clone(), out.clone()],
            formula: "f2 / f1".into(),
        };
        assert_eq!(distinct_facts(slots.clone()), (slots, Vec::new()));
        let unreadable = Slots {
            things: vec!["Brindle works".into()],
            facts: vec![cap.clone(), cap.clone()],
            formula: "f1 ^^ f2".into(),
        };
        assert_eq!(distinct_facts(unreadable.clone()).0, unreadable);
    }

    /// The steps for two things read and compared.
    const TWO_THINGS_COMPARED: [&str; 5] = [
        "s1:search",
        "s2:search",
        "s3:extract",
        "s4:extract",
        "s5:compare",
    ];

    fn tools(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|s| format!("{}:{}", s.id, s.tool))
            .collect()
    }

    #[test]
    fn a_plan_of_numbers_and_dates_with_no_arithmetic_only_looks_up() {
        let slots = |kinds: &[FieldKind], formula: &str| Slots {
            things: vec!["Vela depot".into()],
            facts: kinds
                .iter()
                .enumerate()
                .map(|(i, k)| fact("Vela depot", &format!("figure {i}"), *k, ""))
                .collect(),
            formula: formula.into(),
        };
        let lookup = |kinds: &[FieldKind], formula: &str| {
            super::build(&slots(kinds, formula), "How big is the Vela depot, 3 or 4?")
                .unwrap()
                .lookup
        };
        use FieldKind::{Boolean, Date, Number, Text};
        assert!(lookup(&[Number, Date], ""));
        assert!(lookup(&[Number], "f1"));
        // Arithmetic asked, a yes/no or text fact, or a formula dropped (7 is not the
        // question's): the values alone are no answer.
        assert!(!lookup(&[Number, Number], "f1 + f2"));
        assert!(!lookup(&[Number, Boolean], ""));
        assert!(!lookup(&[Number, Text], ""));
        assert!(!lookup(&[Number], "7 * f1"));
    }

    #[test]
    fn two_things_with_the_same_facts_are_searched_extracted_and_compared() {
        let slots = Slots {
            things: Vec::new(),
            facts: vec![
                fact("Zephyr X1", "weight", FieldKind::Number, "g"),
                fact("Zephyr X1", "price", FieldKind::Number, "USD"),
                fact("Zephyr X2", "weight", FieldKind::Number, "g"),
                fact("Zephyr X2", "price", FieldKind::Number, "USD"),
            ],
            formula: String::new(),
        };
        let built = build(&slots).unwrap();
        assert!(!built.text_facts);
        let steps = built.steps;
        assert_eq!(tools(&steps), TWO_THINGS_COMPARED);
        assert_eq!(steps[0].args["query"], "Zephyr X1 weight price");
        assert_eq!(steps[2].args["from"], json!(["s1"]));
        assert_eq!(steps[3].args["fields"][1]["name"], "price");
        assert_eq!(
            steps[3].args["fields"][1]["description"],
            "price of Zephyr X2"
        );
        assert_eq!(steps[4].args, json!({"a": "s3", "b": "s4"}));
        // The built plan passes the same validation a written plan would.
        let plan = validate(&crate::agent::plan::Plan { steps }, 12).unwrap();
        assert_eq!(plan.steps.len(), 5);
    }

    #[test]
    fn a_formula_becomes_exact_calculate_steps() {
        let slots = Slots {
            things: Vec::new(),
            facts: vec![
                fact(
                    "mileage policy",
                    "old rate per km",
                    FieldKind::Number,
                    "GBP",
                ),
                fact(
                    "mileage policy",
                    "new rate per km",
                    FieldKind::Number,
                    "GBP",
                ),
            ],
            formula: "400 * (f2 - f1)".into(),
        };
        let steps = build(&slots).unwrap().steps;
        // One thing: one search, one extraction of both rates, then the arithmetic.
        assert_eq!(
            tools(&steps),
            ["s1:search", "s2:extract", "s3:calculate", "s4:calculate"]
        );
        assert_eq!(
            steps[2].args,
            json!({"op": "difference", "values": ["s2.new_rate_per_km", "s2.old_rate_per_km"]})
        );
        assert_eq!(
            steps[3].args,
            json!({"op": "product", "values": [400.0, "s3"]})
        );
        assert_eq!(steps[3].depends_on, ["s3"]);
        let plan = validate(&crate::agent::plan::Plan { steps }, 12).unwrap();
        let Action::Calculate(c) = &plan.steps[3].action else {
            panic!("not a calculation")
        };
        assert_eq!(c.values[0], Operand::Number(400.0));
    }

    #[test]
    fn sums_are_one_step_and_text_facts_are_only_searched() {
        let slots = Slots {
            things: Vec::new(),
            facts: vec![
                fact("North works", "capacity", FieldKind::Number, "Ml/d"),
                fact("South works", "capacity", FieldKind::Number, "Ml/d"),
                fact("East works", "capacity", FieldKind::Number, "Ml/d"),
                fact("East works", "manager", FieldKind::Text, ""),
            ],
            formula: "f1 + f2 + f3".into(),
        };
        let built = build(&slots).unwrap();
        // The answer is written from the passages, so the manager is not left out.
        assert!(built.text_facts);
        let steps = built.steps;
        assert_eq!(steps[2].args["query"], "East works capacity manager");
        let calc = steps.last().unwrap();
        assert_eq!(
            calc.args,
            json!({"op": "sum", "values": ["s4.capacity", "s5.capacity", "s6.capacity"]})
        );
        // The text fact is not extracted: the East works extraction has one field.
        assert_eq!(steps[5].args["fields"].as_array().unwrap().len(), 1);
        assert_eq!(steps.len(), 7);
    }

    #[test]
    fn field_names_are_ascii_whatever_the_attribute_is_written_in() {
        assert_eq!(slug("Design capacity (m³/day)"), "design_capacity_m_day");
        assert_eq!(slug("Größe"), "gr_e");
        assert_eq!(slug("日付"), "value");
        let built = build(&Slots {
            things: Vec::new(),
            facts: vec![
                fact("A", "Design capacity (m³/day)", FieldKind::Number, "m³/day"),
                fact("B", "Design capacity (m³/day)", FieldKind::Number, "m³/day"),
            ],
            formula: "f1 + f2".into(),
        })
        .unwrap();
        for step in built.steps.iter().filter(|s| s.tool == "extract") {
            let name = step.args["fields"][0]["name"].as_str().unwrap();
            assert_eq!(name, "design_capacity_m_day");
            assert_eq!(
                step.args["fields"][0]["description"],
                json!(format!(
                    "Design capacity (m³/day) of {}",
                    step.args["about"].as_str().unwrap()
                ))
            );
        }
    }

    #[test]
    fn dates_are_extracted_and_only_subtracted_from_each_other() {
        let slots = |formula: &str| Slots {
            things: vec!["Ban".into()],
            facts: vec![
                fact("Ban", "start date", FieldKind::Date, ""),
                fact("Ban", "end date", FieldKind::Date, ""),
                fact("Ban", "fine", FieldKind::Number, "USD"),
            ],
            formula: formula.into(),
        };
        let built = build(&slots("f2 - f1")).unwrap();
        assert_eq!(
            tools(&built.steps),
            ["s1:search", "s2:extract", "s3:calculate"]
        );
        assert_eq!(built.steps[1].args["fields"][0]["type"], json!("date"));
        assert_eq!(built.steps[1].args["about"], json!("Ban"));
        assert_eq!(
            built.steps[2].args,
            json!({"op": "difference", "values": ["s2.end_date", "s2.start_date"]})
        );
        // The days between two dates may be computed with further; a date itself may not.
        assert!(
            build(&slots("(f2 - f1) / 7"))
                .unwrap()
                .dropped_formula
                .is_none()
        );
        for bad in ["f1 + f2", "f2 - f3", "f1 * 2", "f3 - f1"] {
            let why = build(&slots(bad)).unwrap().dropped_formula.unwrap();
            assert!(
                why.contains("can only be subtracted from another date"),
                "{bad}: {why}"
            );
        }
        // Two things read for a date and nothing else are not compared.
        let two = Slots {
            things: Vec::new(),
            facts: vec![
                fact("A", "opened", FieldKind::Date, ""),
                fact("B", "opened", FieldKind::Date, ""),
            ],
            formula: String::new(),
        };
        assert!(
            build(&two)
                .unwrap()
                .steps
                .iter()
                .all(|s| s.tool != "compare")
        );
    }

    #[test]
    fn bad_formulas_are_dropped_with_the_reason_and_bad_facts_refused() {
        let one = |formula: &str, kind: FieldKind| Slots {
            things: Vec::new(),
            facts: vec![fact("X", "size", kind, "GB")],
            formula: formula.into(),
        };
        // The facts are still read; the formula's problem is kept.
        let dropped = |s: Slots| {
            let built = build(&s).unwrap();
            assert!(built.steps.iter().all(|s| s.tool != "calculate"));
            built.dropped_formula.unwrap()
        };
        assert!(dropped(one("f1 + f2", FieldKind::Number)).contains("only 1 facts"));
        assert!(dropped(one("f1 * 2", FieldKind::Text)).contains("f1 is text"));
        assert!(dropped(one("(f1 + 2", FieldKind::Number)).contains("not closed"));
        assert!(dropped(one("f1 ^ 2", FieldKind::Number)).contains("unexpected '^'"));
        assert!(dropped(one("f1 +", FieldKind::Number)).contains("ends too early"));
        let units = Slots {
            things: Vec::new(),
            facts: vec![
                fact("X", "battery", FieldKind::Number, "hours"),
                fact("X", "price", FieldKind::Number, "USD"),
            ],
            formula: "f1 - f2".into(),
        };
        assert!(dropped(units).contains("f1 is in hours and f2 in USD"));
        let e = |s: Slots| build(&s).unwrap_err().0;
        assert!(
            e(Slots {
                things: Vec::new(),
                facts: vec![],
                formula: String::new()
            })
            .contains("no facts")
        );
        let blank = Slots {
            things: Vec::new(),
            facts: vec![fact("X", " ", FieldKind::Number, "")],
            formula: String::new(),
        };
        assert!(e(blank).contains("f1: the attribute is empty"));
        // A formula that is one fact, or a negated one, needs no or one step.
        assert_eq!(build(&one("f1", FieldKind::Number)).unwrap().steps.len(), 2);
        let neg = build(&one("-f1", FieldKind::Number)).unwrap().steps;
        assert_eq!(
            neg[2].args,
            json!({"op": "product", "values": [-1.0, "s2.size"]})
        );
        // Thousands separators in numbers written in the question are read.
        let big = build(&one("1,200 - f1", FieldKind::Number)).unwrap().steps;
        assert_eq!(big[2].args["values"][0], json!(1200.0));
    }

    #[test]
    fn without_a_formula_every_thing_gets_every_attribute() {
        let slots = Slots {
            things: vec!["Zephyr X1".into(), "Zephyr X2".into()],
            facts: vec![
                fact("Zephyr X1", "weight", FieldKind::Number, "g"),
                fact("Zephyr X1", "price", FieldKind::Number, "USD"),
                fact("Zephyr X1", "maker", FieldKind::Text, ""),
            ],
            formula: String::new(),
        };
        let steps = build(&slots).unwrap().steps;
        assert_eq!(tools(&steps), TWO_THINGS_COMPARED);
        assert_eq!(steps[1].args["query"], "Zephyr X2 weight price");
        assert_eq!(steps[3].args["fields"].as_array().unwrap().len(), 2);
        // With a formula the facts are taken as written: a thing without facts is not read.
        let with_formula = Slots {
            formula: "2 * f1".into(),
            ..slots
        };
        let steps = build(&with_formula).unwrap().steps;
        assert_eq!(tools(&steps), ["s1:search", "s2:extract", "s3:calculate"]);
    }

    #[test]
    fn a_difference_the_comparison_already_states_is_not_computed_again() {
        let with = |formula: &str| Slots {
            things: vec!["X1".into(), "X2".into()],
            facts: vec![
                fact("X1", "weight", FieldKind::Number, ""),
                fact("X1", "price", FieldKind::Number, ""),
                fact("X2", "weight", FieldKind::Number, ""),
                fact("X2", "price", FieldKind::Number, ""),
            ],
            formula: formula.into(),
        };
        let tools_of = |formula: &str| tools(&build(&with(formula)).unwrap().steps);
        let compared = [
            "s1:search",
            "s2:search",
            "s3:extract",
            "s4:extract",
            "s5:compare",
        ];
        // X2's weight minus X1's: the comparison's own difference.
        assert_eq!(tools_of("f3 - f1"), compared);
        // Two fields of one thing, or different fields of the two, are new arithmetic.
        for formula in ["f2 - f1", "f4 - f1"] {
            let mut want = compared.to_vec();
            want.push("s6:calculate");
            assert_eq!(tools_of(formula), want, "{formula}");
        }
    }

    #[test]
    fn formulas_parse_with_precedence_and_left_association() {
        let bin = |op, a, b| Expr::Bin(op, Box::new(a), Box::new(b));
        assert_eq!(
            parse("f1 - f2 - f3"),
            Ok(bin(
                Operation::Difference,
                bin(Operation::Difference, Expr::Fact(1), Expr::Fact(2)),
                Expr::Fact(3)
            ))
        );
        assert_eq!(
            parse("1 + 2 * f1 / f2"),
            Ok(bin(
                Operation::Sum,
                Expr::Number(1.0),
                bin(
                    Operation::Ratio,
                    bin(Operation::Product, Expr::Number(2.0), Expr::Fact(1)),
                    Expr::Fact(2)
                )
            ))
        );
    }

    #[test]
    fn more_facts_than_the_planner_may_write_are_refused() {
        let slots = Slots {
            things: Vec::new(),
            facts: (0..=MAX_FACTS)
                .map(|i| fact(&format!("T{i}"), "size", FieldKind::Number, "GB"))
                .collect(),
            formula: String::new(),
        };
        let e = build(&slots).unwrap_err().0;
        assert!(e.contains("7 facts; at most 6"), "{e}");
    }

    #[test]
    fn repeated_attributes_of_one_thing_get_distinct_names() {
        let slots = Slots {
            things: Vec::new(),
            facts: vec![
                fact("Plan", "rate", FieldKind::Number, "GBP"),
                fact("Plan", "rate", FieldKind::Number, "GBP"),
            ],
            formula: "f2 - f1".into(),
        };
        let built = build(&slots).unwrap();
        // A failed step is told back in the planner's terms.
        assert_eq!(
            built.explain("s2.rate_2: the passages do not state rate_2"),
            "f2 (rate of Plan): the passages do not state rate_2"
        );
        let steps = built.steps;
        assert_eq!(steps[0].args["query"], "Plan rate");
        assert_eq!(steps[2].args["values"], json!(["s2.rate_2", "s2.rate"]));
    }

    #[test]
    fn a_formula_writes_only_numbers_the_question_gives() {
        let with = |formula: &str| Slots {
            things: Vec::new(),
            facts: vec![
                fact("rack", "tablets per rack", FieldKind::Number, ""),
                fact("farm", "racks", FieldKind::Number, ""),
            ],
            formula: formula.into(),
        };
        let asked = |formula: &str, question: &str| {
            super::build(&with(formula), question)
                .unwrap()
                .dropped_formula
        };
        // Made-up numbers drop the formula; the facts are still read, as written: each
        // thing is not also asked the other's attribute (as for a comparison).
        let why = asked("f1 * 4 + f2 * 2", "How many tablets are in the racks?").unwrap();
        assert!(why.contains("4 is not a number of the question"), "{why}");
        let built = super::build(&with("f1 * 4"), "Racks?").unwrap();
        let extracted: Vec<usize> = built
            .steps
            .iter()
            .filter(|s| s.tool == "extract")
            .map(|s| s.args["fields"].as_array().map_or(0, Vec::len))
            .collect();
        assert_eq!(extracted, [1, 1]);
        // The question's numbers, as written or as a percentage; number words; 1, 2 and 100.
        for (formula, question) in [
            ("60 * f1 * (1 - 0.08)", "60 units at 8% off?"),
            ("f1 * 1,200", "For 1,200 users?"),
            ("3 * f1 * f2", "For a three-night stay?"),
            ("2 * f1 / 100", "A round trip?"),
            ("f1 * 0.5", "Half the racks?"),
        ] {
            assert_eq!(asked(formula, question), None, "{formula} for {question}");
        }
    }

    #[test]
    fn what_is_added_or_subtracted_is_in_one_dimension_through_products() {
        let with = |units: [&str; 3], formula: &str| {
            let facts = units
                .iter()
                .enumerate()
                .map(|(i, u)| fact("Quarry depot", &format!("a{i}"), FieldKind::Number, u))
                .collect();
            super::build(
                &Slots {
                    things: Vec::new(),
                    facts,
                    formula: formula.into(),
                },
                "1 2 100",
            )
            .unwrap()
            .dropped_formula
        };
        // Days times years less days; gigabytes times hours plus gigabytes.
        let why = with(["days", "years", ""], "f1 * (f2 + 1) - f1").unwrap();
        assert!(
            why.contains("(f1 * (f2 + 1)) is in time^2 and f1 in days: they cannot be added"),
            "{why}"
        );
        assert!(with(["GB", "hours", "GB"], "f1 * f2 + f3").is_some());
        assert!(with(["EUR", "hours", ""], "f1 * f2 + f1").is_some());
        assert!(with(["EUR", "%", ""], "f1 - f2").is_some());
        // A rate times what it is per is an amount; percentages are plain numbers; a rate and
        // an amount of its numerator add up; a ratio of like values less a number is a number;
        // a unit code does not know is not judged.
        for (units, formula) in [
            (["EUR/km", "km", "EUR"], "f1 * f2 + f3"),
            (["EUR", "%", ""], "f1 * (1 - f2 / 100)"),
            (["EUR", "%", ""], "f1 - f1 * f2 / 100"),
            (["EUR/month", "EUR", ""], "f1 + f2"),
            (["EUR", "EUR", ""], "f1 / f2 - 1"),
            (["nits", "nits", ""], "f1 * f2 - f1"),
            (["days", "years", ""], "f2 + 1"),
        ] {
            assert_eq!(with(units, formula), None, "{units:?} {formula}");
        }
    }

    #[test]
    fn a_fact_the_question_states_is_its_figure_not_a_lookup() {
        let plan = |facts: Vec<FactSlot>, formula: &str| Slots {
            things: Vec::new(),
            facts,
            formula: formula.into(),
        };
        let distance = |unit: &str| fact("Quarry depot", "distance", FieldKind::Number, unit);
        let rate = fact("cycle allowance", "rate", FieldKind::Number, "EUR/km");
        let question = "If I cycle 40 km to the Quarry depot, how much can I claim?";

        // The distance is the question's; the rate is read, and the formula renumbered.
        let (s, notes) = given_figures(
            plan(vec![distance("km"), rate.clone()], "f1 * f2"),
            question,
        );
        assert_eq!(s.facts, std::slice::from_ref(&rate));
        assert_eq!(s.formula, "40 * f1");
        assert_eq!(
            notes,
            ["f1 (distance of Quarry depot) is the question's 40 km, not looked up"]
        );
        let built = super::build(&s, question).unwrap();
        let calc = built.steps.iter().find(|s| s.tool == "calculate").unwrap();
        assert_eq!(calc.args["values"], json!([40.0, "s2.rate"]));

        // Nights are days; a fact with no unit that names the figure's unit is it too.
        let stay = "What does a 4-night stay at the Lumen Inn cost?";
        let nightly = fact(
            "Lumen Inn",
            "rate per night",
            FieldKind::Number,
            "EUR/night",
        );
        for length in [
            fact("stay", "length", FieldKind::Number, "days"),
            fact("stay", "number of nights", FieldKind::Number, ""),
        ] {
            let (s, _) = given_figures(plan(vec![nightly.clone(), length], "f1 * f2"), stay);
            assert_eq!((s.facts.len(), s.formula.as_str()), (1, "f1 * 4"));
        }

        // Left to the wiki: a figure the formula writes already, a fact the formula does not
        // use, a unit of another size (miles are no km), a figure two facts could be, text,
        // and a formula that would read no fact of the wiki.
        let kept = [
            plan(vec![distance("km"), rate.clone()], "40 * f2"),
            plan(vec![distance("km"), rate.clone()], "f2"),
            plan(vec![distance("mi"), rate.clone()], "f1 * f2"),
            plan(
                vec![
                    distance("km"),
                    fact("Mill depot", "distance", FieldKind::Number, "km"),
                    rate.clone(),
                ],
                "(f1 + f2) * f3",
            ),
            plan(
                vec![
                    fact("depot", "distance", FieldKind::Text, "km"),
                    rate.clone(),
                ],
                "f1 * f2",
            ),
            plan(vec![distance("km")], "f1 * 2"),
            plan(
                vec![
                    distance("km"),
                    fact("claim", "amount", FieldKind::Number, "EUR"),
                ],
                "f1 * 2",
            ),
        ];
        for slots in kept {
            let (s, notes) = given_figures(slots.clone(), question);
            assert_eq!((s, notes), (slots.clone(), Vec::new()), "{slots:?}");
        }
    }

    #[test]
    fn things_must_be_named_where_the_planner_read_them() {
        let slots = |thing: &str| Slots {
            things: vec![thing.into()],
            facts: vec![fact(thing, "size", FieldKind::Number, "GB")],
            formula: String::new(),
        };
        let known = "How big is the billing backup?\n- Backup schedule (it/backup.md): sizes";
        assert!(check_things(&slots("billing backup"), known).is_ok());
        assert!(check_things(&slots("Backup schedule"), known).is_ok());
        // One backup is named by "backups", and "sizes" by "size".
        assert!(check_things(&slots("nightly backups"), known).is_ok());
        assert!(check_things(&slots("size"), "Which tapes hold the sizes?").is_ok());
        let e = check_things(&slots("s3"), known).unwrap_err().0;
        assert!(e.contains("\"s3\" is named nowhere"), "{e}");
    }

    #[test]
    fn a_failed_step_is_told_back_with_the_things_not_the_step_ids() {
        let slots = Slots {
            things: Vec::new(),
            facts: vec![
                fact("Zephyr X1", "size", FieldKind::Number, "GB"),
                fact("Zephyr X2", "size", FieldKind::Number, "GB"),
            ],
            formula: "f1 + f2".into(),
        };
        let built = build(&slots).unwrap();
        assert_eq!(
            built.explain("compare: s3 and s4 have no number in common; s34 is not s3.size"),
            "compare: the facts of Zephyr X1 and the facts of Zephyr X2 have no number in \
             common; s34 is not f1 (size of Zephyr X1)"
        );
    }
}

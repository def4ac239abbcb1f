//! Values converted to the unit the plan asked for (minutes to hours, $ to USD, kg to g).

use serde_json::json;

use crate::quantity::{self};
use crate::tools::tidy;

use super::*;

/// The dimension of a unit name (a rate's: its numerator's).
pub(super) fn dimension(unit: &str) -> Option<&'static str> {
    quantity::unit(unit).map(|u| u.dimension)
}

/// The rate the quote states `x` in ("$60 per month" -> "USD/month") when `have` (the unit the
/// model gave, if any) is that rate's numerator or says nothing: a model often drops the "per".
fn rate_in_quote(quote: &str, x: f64, have: Option<&str>) -> Option<String> {
    quantity::quantities_in(quote).into_iter().find_map(|q| {
        let rate = q.unit.filter(|u| quantity::numerator(u).is_some())?;
        let fits = have.is_none_or(|h| {
            quantity::unit(h).is_some_and(|h| h.per.is_none())
                && !quantity::different_kinds(h, &rate)
        });
        (quantity::same(q.value, x, quantity::EXACT) && fits).then(|| quantity::canonical(&rate))
    })
}

/// Converts a verified number to the field's unit where the units are commensurable.
pub(in crate::tools) fn normalise(
    field: &FieldSpec,
    raw: RawValue,
    notes: &mut Vec<String>,
) -> Extracted {
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
    if let Some(rate) = rate_in_quote(&out.quote, x, out.unit.as_deref()) {
        out.unit = Some(rate);
    }
    let have = out.unit.clone().unwrap_or_else(|| want.clone());
    match (quantity::unit(&have), quantity::unit(want)) {
        (Some(h), Some(w)) if h.same_kind(&w) => {
            let converted = tidy(x * h.factor / w.factor);
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

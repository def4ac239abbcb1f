//! Values converted to the unit the plan asked for (minutes to hours, $ to USD, kg to g).

use serde_json::json;

use crate::quantity::{self};
use crate::tools::tidy;

use super::*;

/// (dimension, factor to the dimension's base unit) of a unit name.
pub(super) fn unit_info(unit: &str) -> Option<(&'static str, f64)> {
    quantity::unit(unit).map(|u| (u.dimension, u.factor))
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

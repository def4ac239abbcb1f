//! `compare`: exact, deterministic comparison of two quantities in the same unit (no model);
//! as a step, of values earlier steps read ("s3.price" against "s4.price", or every number two
//! extract steps have in common).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::step::{
    CompareRow, StepOutput, one_reading, ref_field, ref_step, resolve, same_reading,
};
use super::{Ctx, Tool, ToolError, ToolKind, tidy};

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Quantity {
    /// What the number is, e.g. "Orbit 3 battery life".
    pub label: String,
    pub value: f64,
    /// Unit of the value, e.g. "hours" or "USD"; b is taken in a's unit when the two convert
    /// (minutes and hours), and units of two kinds are not compared.
    pub unit: Option<String>,
}

/// Compare two quantities: difference (b - a), ratio (b / a) and percent change from a to b.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareArgs {
    /// The baseline (e.g. the older model).
    pub a: Quantity,
    /// The quantity compared with the baseline (e.g. the new model).
    pub b: Quantity,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub a: f64,
    pub b: f64,
    pub unit: Option<String>,
    /// b - a
    pub difference: f64,
    pub abs_difference: f64,
    /// b / a (absent when a is 0)
    pub ratio: Option<f64>,
    /// (b - a) / a * 100 (absent when a is 0)
    pub percent_change: Option<f64>,
    /// Label of the larger quantity, or "equal".
    pub larger: String,
}

pub fn compare(args: &CompareArgs) -> Result<Comparison, ToolError> {
    let norm = |u: &Option<String>| u.as_deref().map(|s| s.trim().to_ascii_lowercase());
    let (a, mut b) = (args.a.value, args.b.value);
    if let (Some(ua), Some(ub)) = (norm(&args.a.unit), norm(&args.b.unit))
        && ua != ub
    {
        // One kind in two units: b is taken in a's (90 minutes against 2 hours).
        b = crate::quantity::convert(b, &ub, &ua)
            .map(tidy)
            .ok_or_else(|| ToolError::InvalidArgs {
                tool: "compare",
                message: format!("units differ ({ua} vs {ub}) and do not convert"),
            })?;
    }
    if !a.is_finite() || !b.is_finite() {
        return Err(ToolError::InvalidArgs {
            tool: "compare",
            message: "values must be finite numbers".into(),
        });
    }
    let larger = if a > b {
        args.a.label.clone()
    } else if b > a {
        args.b.label.clone()
    } else {
        "equal".into()
    };
    Ok(Comparison {
        a,
        b,
        unit: args.a.unit.clone().or_else(|| args.b.unit.clone()),
        difference: tidy(b - a),
        abs_difference: tidy((b - a).abs()),
        ratio: (a != 0.0).then(|| tidy(b / a)),
        percent_change: (a != 0.0).then(|| tidy((b - a) / a * 100.0)),
        larger,
    })
}

/// Compare extracted values: "s3.price" names field `price` of step s3; "s3" compares every
/// number two extract steps have in common.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareStep {
    /// The baseline, e.g. "s3" or "s3.price" (the older model).
    pub a: String,
    /// Compared with the baseline, e.g. "s4" or "s4.price" (the new model).
    pub b: String,
}

pub struct Compare;

impl Tool for Compare {
    const KIND: ToolKind = ToolKind::Compare;
    type Args = CompareStep;

    async fn call(&self, args: &CompareStep, ctx: &Ctx<'_, '_>) -> Result<StepOutput, ToolError> {
        compare_step(&args.a, &args.b, ctx.inputs)
    }
}

fn compare_step(
    a: &str,
    b: &str,
    inputs: &BTreeMap<String, StepOutput>,
) -> Result<StepOutput, ToolError> {
    let failed = |message: String| ToolError::Failed {
        tool: "compare",
        message,
    };
    // Whole extract steps: compare every numeric field both have.
    let pairs: Vec<(String, String, String)> = match (ref_field(a), ref_field(b)) {
        (None, None) => {
            let fields_of = |r: &str| match inputs.get(&ref_step(r)) {
                Some(StepOutput::Extract { facts, .. }) => facts
                    .iter()
                    .filter(|f| f.value.as_ref().is_some_and(|v| v.value.is_number()))
                    .map(|f| f.field.clone())
                    .collect::<Vec<_>>(),
                _ => Vec::new(),
            };
            let fb = fields_of(b);
            let common: Vec<String> = fields_of(a)
                .into_iter()
                .filter(|f| fb.contains(f))
                .collect();
            if common.is_empty() {
                return Err(failed(format!(
                    "{a} and {b} have no number in common to compare"
                )));
            }
            common
                .into_iter()
                .map(|f| (f.clone(), format!("{a}.{f}"), format!("{b}.{f}")))
                .collect()
        }
        _ => vec![(
            ref_field(a).or(ref_field(b)).unwrap_or("value").to_string(),
            a.to_string(),
            b.to_string(),
        )],
    };
    let mut rows = Vec::new();
    for (field, ra, rb) in pairs {
        let na = resolve(&ra, inputs).map_err(failed)?;
        let nb = resolve(&rb, inputs).map_err(failed)?;
        if same_reading(&na, &nb) {
            return Err(failed(one_reading(&ra, &rb, &na)));
        }
        let result = compare(&CompareArgs {
            a: Quantity {
                label: na.label.clone(),
                value: na.value,
                unit: na.unit.clone(),
            },
            b: Quantity {
                label: nb.label.clone(),
                value: nb.value,
                unit: nb.unit.clone(),
            },
        })?;
        let mut evidence = na.evidence;
        evidence.extend(nb.evidence);
        rows.push(CompareRow {
            field,
            a_label: na.label,
            b_label: nb.label,
            result,
            evidence,
        });
    }
    Ok(StepOutput::Compare { rows })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::calculate::{Operand, Operation, calculate_step};
    use crate::tools::step::testing::extracted;

    fn q(label: &str, value: f64, unit: &str) -> Quantity {
        Quantity {
            label: label.into(),
            value,
            unit: Some(unit.into()),
        }
    }

    #[test]
    fn battery_and_price_of_the_seed_example() {
        let battery = compare(&CompareArgs {
            a: q("Orbit 3", 14.0, "hours"),
            b: q("Orbit 4", 19.0, "hours"),
        })
        .unwrap();
        assert_eq!(battery.difference, 5.0);
        assert_eq!(battery.larger, "Orbit 4");
        assert_eq!(battery.percent_change, Some(35.714285714));
        let price = compare(&CompareArgs {
            a: q("Orbit 3", 1349.0, "USD"),
            b: q("Orbit 4", 1199.0, "usd"),
        })
        .unwrap();
        assert_eq!(price.difference, -150.0);
        assert_eq!(price.abs_difference, 150.0);
        assert_eq!(price.larger, "Orbit 3");
    }

    #[test]
    fn mismatched_units_and_zero_baseline() {
        let err = compare(&CompareArgs {
            a: q("a", 1.0, "hours"),
            b: q("b", 1.0, "USD"),
        })
        .unwrap_err();
        assert!(err.to_string().contains("units differ"));
        // One kind in two units: b is taken in a's.
        let c = compare(&CompareArgs {
            a: q("a", 2.0, "hours"),
            b: q("b", 90.0, "minutes"),
        })
        .unwrap();
        assert_eq!(
            (c.b, c.difference, c.unit.as_deref()),
            (1.5, -0.5, Some("hours"))
        );
        let c = compare(&CompareArgs {
            a: q("a", 0.0, "x"),
            b: q("b", 3.0, "x"),
        })
        .unwrap();
        assert_eq!(c.ratio, None);
        assert_eq!(c.difference, 3.0);
    }

    #[test]
    fn compare_whole_steps_pairs_common_numbers_with_evidence() {
        let inputs = BTreeMap::from([
            (
                "s3".to_string(),
                extracted(
                    "Orbit 3",
                    &[
                        ("battery_hours", 14.0, "hours", 0),
                        ("price", 1349.0, "USD", 0),
                    ],
                ),
            ),
            (
                "s4".to_string(),
                extracted(
                    "Orbit 4",
                    &[
                        ("battery_hours", 19.0, "hours", 1),
                        ("price", 1199.0, "USD", 1),
                    ],
                ),
            ),
        ]);
        let StepOutput::Compare { rows } = compare_step("s3", "s4", &inputs).unwrap() else {
            panic!()
        };
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].field, "battery_hours");
        assert_eq!(rows[0].result.difference, 5.0);
        assert_eq!(rows[1].result.difference, -150.0);
        assert_eq!(rows[1].evidence, vec![0, 1]);
        let one = compare_step("s3.price", "s4.price", &inputs).unwrap();
        let StepOutput::Compare { rows } = one else {
            panic!()
        };
        assert_eq!(rows.len(), 1);
        let calc = calculate_step(
            Operation::Product,
            &[Operand::Ref("s4.price".into()), Operand::Number(60.0)],
            &inputs,
        )
        .unwrap();
        let StepOutput::Calculate { result, .. } = calc else {
            panic!()
        };
        assert_eq!(result, 71940.0);
    }

    #[test]
    fn one_number_from_one_passage_read_for_two_things_fails_the_step() {
        let inputs = BTreeMap::from([
            (
                "s3".to_string(),
                extracted("Depot", &[("depth", 47.0, "m", 2), ("width", 47.0, "m", 2)]),
            ),
            (
                "s4".to_string(),
                extracted("Depot", &[("depth", 47.0, "m", 2)]),
            ),
            (
                "s5".to_string(),
                extracted("Quay", &[("depth", 47.0, "m", 3)]),
            ),
        ]);
        let err = compare_step("s3", "s4", &inputs).unwrap_err().to_string();
        assert!(
            err.contains("s3.depth and s4.depth are the same number (47)"),
            "{err}"
        );
        let sum = |a: &str, b: &str| {
            calculate_step(
                Operation::Sum,
                &[Operand::Ref(a.into()), Operand::Ref(b.into())],
                &inputs,
            )
        };
        assert!(sum("s3.depth", "s4.depth").is_err());
        // The same value from another passage is a real reading; and one step's two fields,
        // or one field used twice, are the planner's own doing.
        assert!(compare_step("s3.depth", "s5.depth", &inputs).is_ok());
        assert!(sum("s3.depth", "s3.width").is_ok());
        assert!(sum("s3.depth", "s3.depth").is_ok());
    }
}

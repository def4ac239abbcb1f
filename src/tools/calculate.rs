//! `calculate`: exact arithmetic over extracted numbers (no model), so sums, differences,
//! ratios and percentages in answers are computed, never guessed.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::step::{
    Number, StepOutput, format_number, one_reading, ref_step, resolve, same_reading,
};
use super::{Ctx, Tool, ToolError, ToolKind, tidy};
use crate::{dates, quantity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// values[0] + values[1] + ...
    Sum,
    /// values[0] - values[1] - ...
    Difference,
    /// values[0] * values[1] * ...
    Product,
    /// values[0] / values[1]
    Ratio,
    /// values[0] as a percentage of values[1]
    PercentOf,
    /// Percent change from values[0] to values[1]
    PercentChange,
    /// Arithmetic mean of the values
    Mean,
    Min,
    Max,
}

/// Apply one arithmetic operation to a list of numbers.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalculateArgs {
    pub op: Operation,
    /// The operands, in order.
    pub values: Vec<f64>,
}

pub fn calculate(args: &CalculateArgs) -> Result<f64, ToolError> {
    let v = &args.values;
    let bad = |message: &str| ToolError::InvalidArgs {
        tool: "calculate",
        message: message.to_string(),
    };
    if v.is_empty() {
        return Err(bad("needs at least one value"));
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err(bad("values must be finite numbers"));
    }
    let two = || -> Result<(f64, f64), ToolError> {
        match v.as_slice() {
            [a, b] => Ok((*a, *b)),
            _ => Err(bad("this operation takes exactly two values")),
        }
    };
    let result = match args.op {
        Operation::Sum => v.iter().sum(),
        Operation::Difference => v[1..].iter().fold(v[0], |acc, x| acc - x),
        Operation::Product => v.iter().product(),
        Operation::Mean => v.iter().sum::<f64>() / v.len() as f64,
        Operation::Min => v.iter().copied().fold(f64::INFINITY, f64::min),
        Operation::Max => v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Operation::Ratio | Operation::PercentOf | Operation::PercentChange => {
            let (a, b) = two()?;
            let divisor = if args.op == Operation::PercentChange {
                a
            } else {
                b
            };
            if divisor == 0.0 {
                return Err(bad("division by zero"));
            }
            match args.op {
                Operation::Ratio => a / b,
                Operation::PercentOf => a / b * 100.0,
                _ => (b - a) / a * 100.0,
            }
        }
    };
    Ok(tidy(result))
}

/// A number written in the plan, or a reference to a number an earlier step produced.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Operand {
    Number(f64),
    /// "s3.price" (an extracted field) or "s5" (a calculate step's result).
    Ref(String),
}

/// Exact arithmetic over numbers and earlier results.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalculateStep {
    pub op: Operation,
    /// The operands in order: numbers, or references such as "s3.price".
    pub values: Vec<Operand>,
}

pub struct Calculate;

impl Tool for Calculate {
    const KIND: ToolKind = ToolKind::Calculate;
    type Args = CalculateStep;

    async fn call(&self, args: &CalculateStep, ctx: &Ctx<'_, '_>) -> Result<StepOutput, ToolError> {
        calculate_step(args.op, &args.values, ctx.inputs)
    }
}

pub(crate) fn calculate_step(
    op: Operation,
    values: &[Operand],
    inputs: &BTreeMap<String, StepOutput>,
) -> Result<StepOutput, ToolError> {
    let mut numbers = Vec::new();
    let mut shown = Vec::new();
    let mut evidence = Vec::new();
    let mut read: Vec<(&str, Number)> = Vec::new();
    // Where each read value sits among the operands.
    let mut at = Vec::new();
    // Values of one kind in other units are taken in the first one's (90 minutes + 1 hour,
    // $60 per month + $1,500 per year); a product's are settled after (`per_count`).
    let mut first_unit: Option<String> = None;
    for v in values {
        match v {
            Operand::Number(x) => {
                numbers.push(*x);
                shown.push(format_number(*x));
            }
            Operand::Ref(r) => {
                let failed = |message| ToolError::Failed {
                    tool: "calculate",
                    message,
                };
                let mut n = resolve(r, inputs).map_err(failed)?;
                if let Some((other, _)) = read
                    .iter()
                    .find(|(o, m)| ref_step(o) != ref_step(r) && same_reading(m, &n))
                {
                    return Err(failed(one_reading(other, r, &n)));
                }
                let value = match n.unit.as_deref() {
                    Some(dates::DATE_UNIT) => dates::long(n.value as i64),
                    _ => format_number(n.value),
                };
                let mut operand = format!("{value} ({})", n.label);
                match (&first_unit, n.unit.clone()) {
                    (_, Some(u)) if u == dates::DATE_UNIT || op == Operation::Product => {}
                    (None, Some(u)) => first_unit = Some(u),
                    (Some(want), Some(u)) if *want != u => {
                        if let Some(x) = quantity::convert(n.value, &u, want) {
                            operand = take_in(&mut n, x, want);
                        }
                    }
                    _ => {}
                }
                at.push(numbers.len());
                numbers.push(n.value);
                shown.push(operand);
                evidence.extend(n.evidence.iter().copied());
                read.push((r.as_str(), n));
            }
        }
    }
    let per_unit = match op {
        Operation::Product => per_count(&mut read, &at, &mut numbers, &mut shown),
        _ => None,
    };
    // Dates: only the days between two of them.
    let is_date = |n: &Number| n.unit.as_deref() == Some(dates::DATE_UNIT);
    let date_count = read.iter().filter(|(_, n)| is_date(n)).count();
    let unit = match (date_count, op, values.len()) {
        (0, ..) => per_unit.or_else(|| result_unit(op, values, &read)),
        (2, Operation::Difference, 2) => Some("days".to_string()),
        _ => {
            return Err(ToolError::Failed {
                tool: "calculate",
                message: "a date can only be subtracted from another date".into(),
            });
        }
    };
    // The days between two dates count forward from the earlier, whichever way round the
    // formula subtracts them.
    let later_first = numbers.first() >= numbers.get(1);
    let result = calculate(&CalculateArgs {
        op,
        values: numbers,
    })?;
    let between_dates = date_count == 2;
    let result = if between_dates { result.abs() } else { result };
    let op_name = serde_json::to_value(op)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let expression = match (between_dates, later_first) {
        (true, true) => format!("days from {} to {}", shown[1], shown[0]),
        (true, false) => format!("days from {} to {}", shown[0], shown[1]),
        (false, _) => format!("{op_name} of {}", shown.join(", ")),
    };
    Ok(StepOutput::Calculate {
        expression,
        result,
        unit,
        evidence,
    })
}

/// A product of one rate and counts or amounts of what it is per (0.70 USD/mile × 300 miles,
/// 60 USD/month × 12) is an amount of the rate's numerator: the amounts are taken in the
/// rate's denominator unit (2 years are 24 months) and the result's unit is returned. None
/// when the product is not of that shape.
fn per_count(
    read: &mut [(&str, Number)],
    at: &[usize],
    numbers: &mut [f64],
    shown: &mut [String],
) -> Option<String> {
    let rates: Vec<(usize, (String, String))> = read
        .iter()
        .enumerate()
        .filter_map(|(i, (_, n))| Some((i, quantity::rate_of(n.unit.as_deref()?)?)))
        .collect();
    let [(rate, (num, den))] = &rates[..] else {
        return None;
    };
    let (rate, num, den) = (*rate, num.clone(), den.clone());
    let mut converted = Vec::new();
    for (i, (_, n)) in read.iter().enumerate() {
        match n.unit.as_deref() {
            _ if i == rate => {}
            None => {}
            Some(u) => converted.push((i, quantity::convert(n.value, u, &den)?)),
        }
    }
    for (i, x) in converted {
        let n = &mut read[i].1;
        let moved = x != n.value;
        let operand = take_in(n, x, &den);
        if moved {
            shown[at[i]] = operand;
        }
        numbers[at[i]] = n.value;
    }
    Some(num)
}

/// Takes an operand as `x` in `unit` (converted from its own) and returns how it is shown: the
/// new value with the value as read beside its label ("720 (allowance: 60 USD/month)").
fn take_in(n: &mut Number, x: f64, unit: &str) -> String {
    let read = format!(
        "{} {}",
        format_number(n.value),
        n.unit.as_deref().unwrap_or_default()
    );
    n.value = tidy(x);
    n.unit = Some(unit.to_string());
    format!("{} ({}: {read})", format_number(n.value), n.label)
}

/// The unit of a calculation's result, where its operands settle it: a sum, difference,
/// mean, min or max of values in one unit is in that unit (numbers written in the question are
/// taken to be in it too); a product with one value that has a unit ("4 × price", "price ×
/// count") keeps it, and so does a ratio whose dividend alone has one ("total / 12"); a
/// percentage is "%". Anything else (GB × hours, USD / USD) is a plain number.
fn result_unit(op: Operation, values: &[Operand], read: &[(&str, Number)]) -> Option<String> {
    let units: Vec<Option<&str>> = read.iter().map(|(_, n)| n.unit.as_deref()).collect();
    match op {
        Operation::PercentOf | Operation::PercentChange => Some("%".into()),
        Operation::Sum
        | Operation::Difference
        | Operation::Mean
        | Operation::Min
        | Operation::Max => {
            let first = units.first().copied().flatten()?;
            units
                .iter()
                .all(|u| *u == Some(first))
                .then(|| first.to_string())
        }
        Operation::Product => match units.iter().flatten().collect::<Vec<_>>()[..] {
            [u] => Some(u.to_string()),
            _ => None,
        },
        // The dividend is the first operand; it alone may have a unit.
        Operation::Ratio => match (values.first(), units.as_slice()) {
            (Some(Operand::Ref(_)), [Some(u), rest @ ..]) if rest.iter().all(Option::is_none) => {
                Some(u.to_string())
            }
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::extract::Extracted;
    use crate::tools::step::Fact;
    use crate::tools::step::testing::extracted;
    use std::collections::BTreeMap;

    fn calc(op: Operation, values: &[f64]) -> Result<f64, ToolError> {
        calculate(&CalculateArgs {
            op,
            values: values.to_vec(),
        })
    }

    #[test]
    fn operations_are_exact() {
        assert_eq!(calc(Operation::Sum, &[0.1, 0.2]).unwrap(), 0.3);
        assert_eq!(
            calc(Operation::Difference, &[1299.0, 1149.0]).unwrap(),
            150.0
        );
        assert_eq!(calc(Operation::Product, &[79.0, 3.0]).unwrap(), 237.0);
        assert_eq!(calc(Operation::Ratio, &[19.0, 14.0]).unwrap(), 1.357142857);
        assert_eq!(
            calc(Operation::PercentOf, &[150.0, 1299.0]).unwrap(),
            11.547344111
        );
        assert_eq!(
            calc(Operation::PercentChange, &[14.0, 19.0]).unwrap(),
            35.714285714
        );
        assert_eq!(calc(Operation::Mean, &[1.0, 2.0, 6.0]).unwrap(), 3.0);
        assert_eq!(calc(Operation::Min, &[3.0, -1.0]).unwrap(), -1.0);
        assert_eq!(calc(Operation::Max, &[3.0, -1.0]).unwrap(), 3.0);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(calc(Operation::Ratio, &[1.0, 0.0]).is_err());
        assert!(calc(Operation::Ratio, &[1.0]).is_err());
        assert!(calc(Operation::Sum, &[]).is_err());
        assert!(calc(Operation::Sum, &[f64::NAN]).is_err());
    }

    #[test]
    fn results_carry_the_unit_their_operands_settle() {
        let inputs = BTreeMap::from([
            (
                "s3".to_string(),
                extracted("A", &[("size", 1200.0, "GB", 0), ("price", 10.0, "USD", 0)]),
            ),
            (
                "s4".to_string(),
                extracted("B", &[("size", 380.0, "GB", 1), ("price", 4.0, "USD", 1)]),
            ),
        ]);
        let r = |s: &str| Operand::Ref(s.into());
        let unit = |op, values: &[Operand]| match calculate_step(op, values, &inputs).unwrap() {
            StepOutput::Calculate { unit, .. } => unit,
            _ => panic!(),
        };
        // Only dates count days: a difference in GB is signed and says what it is.
        let StepOutput::Calculate {
            expression, result, ..
        } = calculate_step(
            Operation::Difference,
            &[r("s4.size"), r("s3.size")],
            &inputs,
        )
        .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (expression.as_str(), result),
            ("difference of 380 (B size), 1200 (A size)", -820.0)
        );
        let gb = Some("GB".to_string());
        let usd = Some("USD".to_string());
        assert_eq!(unit(Operation::Sum, &[r("s3.size"), r("s4.size")]), gb);
        assert_eq!(
            unit(Operation::Difference, &[r("s3.size"), r("s4.size")]),
            gb
        );
        assert_eq!(unit(Operation::Sum, &[r("s3.size"), r("s4.price")]), None);
        assert_eq!(
            unit(Operation::Product, &[Operand::Number(4.0), r("s3.price")]),
            usd
        );
        assert_eq!(
            unit(Operation::Product, &[r("s3.size"), r("s4.price")]),
            None
        );
        assert_eq!(
            unit(Operation::Ratio, &[r("s3.price"), Operand::Number(12.0)]),
            usd
        );
        assert_eq!(
            unit(Operation::Ratio, &[r("s3.price"), r("s4.price")]),
            None
        );
        assert_eq!(
            unit(Operation::PercentOf, &[r("s4.price"), r("s3.price")]),
            Some("%".to_string())
        );
    }

    #[test]
    fn values_of_one_kind_are_taken_in_one_unit() {
        let inputs = BTreeMap::from([
            (
                "s3".to_string(),
                extracted(
                    "Books",
                    &[
                        ("budget", 1500.0, "USD/year", 0),
                        ("course", 90.0, "minutes", 0),
                    ],
                ),
            ),
            (
                "s4".to_string(),
                extracted(
                    "Phone",
                    &[
                        ("allowance", 60.0, "USD/month", 1),
                        ("talk", 2.0, "hours", 1),
                    ],
                ),
            ),
            (
                "s5".to_string(),
                extracted(
                    "Car",
                    &[("rate", 0.7, "USD/mile", 2), ("trip", 150.0, "miles", 2)],
                ),
            ),
        ]);
        let r = |s: &str| Operand::Ref(s.into());
        let out = |op, values: &[Operand]| match calculate_step(op, values, &inputs).unwrap() {
            StepOutput::Calculate {
                expression,
                result,
                unit,
                ..
            } => (expression, result, unit.unwrap_or_default()),
            _ => panic!(),
        };
        // A monthly allowance and a yearly budget add up per year, the first operand's unit.
        assert_eq!(
            out(Operation::Sum, &[r("s3.budget"), r("s4.allowance")]),
            (
                "sum of 1500 (Books budget), 720 (Phone allowance: 60 USD/month)".into(),
                2220.0,
                "USD/year".into()
            )
        );
        assert_eq!(
            out(Operation::Difference, &[r("s4.talk"), r("s3.course")]).1,
            0.5
        );
        // A rate times what it is per is an amount of what it counts.
        assert_eq!(
            out(
                Operation::Product,
                &[r("s5.rate"), r("s5.trip"), Operand::Number(2.0)]
            ),
            (
                "product of 0.7 (Car rate), 150 (Car trip), 2".into(),
                210.0,
                "USD".into()
            )
        );
        assert_eq!(
            out(
                Operation::Product,
                &[r("s4.allowance"), Operand::Number(12.0)]
            )
            .2,
            "USD"
        );
        // Kinds that do not convert are left as they are, with no unit for the result.
        assert_eq!(
            out(Operation::Sum, &[r("s3.budget"), r("s4.talk")]),
            (
                "sum of 1500 (Books budget), 2 (Phone talk)".into(),
                1502.0,
                String::new()
            )
        );
    }

    #[test]
    fn the_days_between_two_dates_are_computed_and_nothing_else_with_a_date() {
        let date = |iso: &str, e: usize| Fact {
            field: "on".into(),
            value: Some(Extracted {
                value: serde_json::json!(iso),
                unit: None,
                passage: format!("p{}", e + 1),
                quote: String::new(),
            }),
            evidence: Some(e),
        };
        let step = |label: &str, fact: Fact| StepOutput::Extract {
            label: label.into(),
            facts: vec![fact],
            notes: Vec::new(),
        };
        let inputs = BTreeMap::from([
            ("s3".to_string(), step("Incident", date("2025-11-14", 0))),
            ("s4".to_string(), step("Repair", date("2025-12-02", 1))),
        ]);
        let refs = [Operand::Ref("s4.on".into()), Operand::Ref("s3.on".into())];
        let StepOutput::Calculate {
            expression,
            result,
            unit,
            evidence,
        } = calculate_step(Operation::Difference, &refs, &inputs).unwrap()
        else {
            panic!()
        };
        assert_eq!(result, 18.0);
        assert_eq!(unit.as_deref(), Some("days"));
        assert_eq!(
            expression,
            "days from 14 November 2025 (Incident on) to 2 December 2025 (Repair on)"
        );
        assert_eq!(evidence, vec![1, 0]);
        // Subtracted the other way round it is the same span.
        let back = [refs[1].clone(), refs[0].clone()];
        let StepOutput::Calculate {
            expression: e2,
            result: r2,
            ..
        } = calculate_step(Operation::Difference, &back, &inputs).unwrap()
        else {
            panic!()
        };
        assert_eq!((e2, r2), (expression.clone(), 18.0));
        // The days can be computed with further, in days.
        let mut more = inputs.clone();
        more.insert(
            "s5".into(),
            calculate_step(Operation::Difference, &refs, &inputs).unwrap(),
        );
        let weeks = calculate_step(
            Operation::Ratio,
            &[Operand::Ref("s5".into()), Operand::Number(7.0)],
            &more,
        );
        assert!(weeks.is_ok(), "{weeks:?}");
        for (op, values) in [
            (Operation::Sum, refs.to_vec()),
            (
                Operation::Difference,
                vec![refs[0].clone(), Operand::Number(3.0)],
            ),
        ] {
            let e = calculate_step(op, &values, &inputs)
                .unwrap_err()
                .to_string();
            assert!(e.contains("only be subtracted from another date"), "{e}");
        }
    }

    #[test]
    fn missing_values_fail_with_the_reference_named() {
        let inputs = BTreeMap::from([(
            "s3".to_string(),
            StepOutput::Extract {
                label: "Orbit 3".into(),
                facts: vec![Fact {
                    field: "price".into(),
                    value: None,
                    evidence: None,
                }],
                notes: Vec::new(),
            },
        )]);
        let err = calculate_step(Operation::Sum, &[Operand::Ref("s3.price".into())], &inputs)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("s3.price") && err.contains("do not state"),
            "{err}"
        );
    }
}

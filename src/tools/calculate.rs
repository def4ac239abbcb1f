//! `calculate`: exact arithmetic over extracted numbers (no model), so sums, differences,
//! ratios and percentages in answers are computed, never guessed.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ToolError, tidy};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}

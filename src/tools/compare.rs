//! `compare`: exact, deterministic comparison of two quantities in the same unit (no model).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ToolError, tidy};

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Quantity {
    /// What the number is, e.g. "Orbit 3 battery life".
    pub label: String,
    pub value: f64,
    /// Unit of the value, e.g. "hours" or "USD"; both sides must use the same one.
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
    if let (Some(ua), Some(ub)) = (norm(&args.a.unit), norm(&args.b.unit))
        && ua != ub
    {
        return Err(ToolError::InvalidArgs {
            tool: "compare",
            message: format!("units differ ({ua} vs {ub}); convert first"),
        });
    }
    let (a, b) = (args.a.value, args.b.value);
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let c = compare(&CompareArgs {
            a: q("a", 0.0, "x"),
            b: q("b", 3.0, "x"),
        })
        .unwrap();
        assert_eq!(c.ratio, None);
        assert_eq!(c.difference, 3.0);
    }
}

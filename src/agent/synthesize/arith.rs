//! Arithmetic a drafted answer writes out ("$1,149 + $179 + $79 = $1,497"). Small models are
//! told not to compute, and do anyway, often wrongly. Code checks every such chain: a wrong
//! result is replaced by the exact one, and a right result counts as known to the figure
//! check (its operands must still be stated by the evidence or the question).

use crate::quantity;
use crate::tools::step::format_number;

/// One chain as written: operands and operators in order, then the result and the byte range
/// of its digits in the text.
#[derive(Debug, Clone, PartialEq)]
struct Chain {
    operands: Vec<f64>,
    ops: Vec<char>,
    result: f64,
    digits: std::ops::Range<usize>,
    /// Decimal places and thousands separators of the operands and result as written.
    decimals: usize,
    grouped: bool,
}

impl Chain {
    /// The exact value, with multiplication and division before addition and subtraction;
    /// None on a division by zero.
    fn value(&self) -> Option<f64> {
        let mut terms: Vec<f64> = vec![*self.operands.first()?];
        let mut signs: Vec<char> = Vec::new();
        for (op, x) in self.ops.iter().zip(&self.operands[1..]) {
            match op {
                '*' => *terms.last_mut()? *= x,
                '/' if *x == 0.0 => return None,
                '/' => *terms.last_mut()? /= x,
                sign => {
                    signs.push(*sign);
                    terms.push(*x);
                }
            }
        }
        let mut total = terms[0];
        for (sign, x) in signs.iter().zip(&terms[1..]) {
            total = if *sign == '-' { total - x } else { total + x };
        }
        Some(total)
    }

    fn holds(&self) -> bool {
        self.value()
            .is_some_and(|v| quantity::same(v, self.result, quantity::ROUNDED))
    }
}

/// A whitespace-separated word of the text and where it starts.
fn words(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, &text[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &text[s..]));
    }
    out
}

fn operator(word: &str) -> Option<char> {
    match word {
        "+" => Some('+'),
        "-" | "−" | "–" => Some('-'),
        "*" | "×" | "x" => Some('*'),
        "/" | "÷" => Some('/'),
        _ => None,
    }
}

/// A written number: currency signs and brackets before it, a unit or punctuation after it
/// ("$1,149", "48,000m³", "16.00,"). A percentage is not read: "8%" may be 8 or 0.08.
struct Figure {
    value: f64,
    digits: std::ops::Range<usize>,
    decimals: usize,
    grouped: bool,
}

fn figure(at: usize, word: &str) -> Option<Figure> {
    let body = word.trim_start_matches(['$', '€', '£', '¥', '(']);
    let start = word.len() - body.len();
    let len = body
        .char_indices()
        .find(|(i, c)| {
            !(c.is_ascii_digit()
                || (matches!(c, ',' | '.')
                    && body[i + 1..].starts_with(|n: char| n.is_ascii_digit())))
        })
        .map_or(body.len(), |(i, _)| i);
    let number = &body[..len];
    if number.is_empty() || !number.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if body[len..].starts_with('%') {
        return None;
    }
    let value = number.replace(',', "").parse::<f64>().ok()?;
    Some(Figure {
        value,
        digits: at + start..at + start + len,
        decimals: number.split_once('.').map_or(0, |(_, d)| d.len()),
        grouped: number.contains(','),
    })
}

/// The chains of `text`: "a op b [op c ...] = r", operators and "=" written as words, each
/// operand a number with at most one word (its unit) between it and the next operator.
fn chains(text: &str) -> Vec<Chain> {
    let words = words(text);
    let mut out = Vec::new();
    for (e, (_, w)) in words.iter().enumerate() {
        if *w != "=" {
            continue;
        }
        let Some(result) = words.get(e + 1).and_then(|(at, w)| figure(*at, w)) else {
            continue;
        };
        // Walk back from "=": operand (a figure, maybe followed by its unit), operator, ...
        let mut operands: Vec<Figure> = Vec::new();
        let mut ops: Vec<char> = Vec::new();
        let mut i = e;
        loop {
            let read = |j: usize| words.get(j).and_then(|(at, w)| figure(*at, w));
            let operand = match i.checked_sub(1).and_then(read) {
                Some(f) => Some((f, i - 1)),
                None => i
                    .checked_sub(2)
                    .filter(|_| i >= 1 && operator(words[i - 1].1).is_none())
                    .and_then(|j| read(j).map(|f| (f, j))),
            };
            let Some((f, at)) = operand else { break };
            operands.push(f);
            match at
                .checked_sub(1)
                .and_then(|j| operator(words[j].1).map(|op| (op, j)))
            {
                Some((op, j)) => {
                    ops.push(op);
                    i = j;
                }
                None => break,
            }
        }
        // A trailing operator with no operand before it is no chain.
        if ops.is_empty() || ops.len() != operands.len() - 1 {
            continue;
        }
        operands.reverse();
        ops.reverse();
        let written = operands.iter().chain(std::iter::once(&result));
        out.push(Chain {
            decimals: written
                .clone()
                .map(|f| f.decimals)
                .max()
                .unwrap_or(0)
                .min(2),
            grouped: written.clone().any(|f| f.grouped),
            operands: operands.iter().map(|f| f.value).collect(),
            ops,
            result: result.value,
            digits: result.digits,
        });
    }
    out
}

/// `x` written like the chain's figures: with thousands separators if they had them, with
/// their decimal places (at most two) when `x` is not whole.
fn written(x: f64, decimals: usize, grouped: bool) -> String {
    let plain = if decimals > 0 {
        format!("{x:.decimals$}")
    } else {
        format_number(x)
    };
    if !grouped {
        return plain;
    }
    let (sign, digits) = plain
        .strip_prefix('-')
        .map_or(("", plain.as_str()), |d| ("-", d));
    let (int, frac) = digits.split_once('.').map_or((digits, ""), |(i, f)| (i, f));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    match frac {
        "" => format!("{sign}{out}"),
        f => format!("{sign}{out}.{f}"),
    }
}

/// `text` with the result of every wrong chain replaced by the exact one, and a note for each.
pub fn corrected(text: &str) -> (String, Vec<String>) {
    let mut out = text.to_string();
    let mut notes = Vec::new();
    // From the end, so earlier byte ranges stay valid.
    for chain in chains(text).into_iter().rev() {
        let Some(v) = chain.value() else { continue };
        if chain.holds() {
            continue;
        }
        let right = written(v, chain.decimals, chain.grouped);
        notes.push(format!(
            "the drafted answer's arithmetic gave {} where the exact result is {right}; corrected",
            &text[chain.digits.clone()]
        ));
        out.replace_range(chain.digits, &right);
    }
    notes.reverse();
    (out, notes)
}

/// The results of the chains of `text` whose arithmetic holds.
pub fn results(text: &str) -> Vec<f64> {
    chains(text)
        .into_iter()
        .filter(Chain::holds)
        .map(|c| c.result)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_sum_is_corrected_in_the_style_it_was_written() {
        let (text, notes) = corrected("The total is $1,149 + $179 + $79 = $1,497 [1].");
        assert_eq!(text, "The total is $1,149 + $179 + $79 = $1,407 [1].");
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("1,497") && notes[0].contains("1,407"));
        assert_eq!(results(&text), vec![1407.0]);
    }

    #[test]
    fn precedence_units_and_decimals_are_read() {
        // Units between an operand and its operator, products before sums.
        let (text, notes) = corrected("48,000 m³/day - 13,700 m³/day = 34,300 m³/day.");
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(results(&text), vec![34300.0]);
        let (text, _) = corrected("2 + 3 × 4 = 20");
        assert_eq!(text, "2 + 3 × 4 = 14");
        let (text, _) = corrected("€0.32 * 400 = €130.00, paid monthly");
        assert_eq!(text, "€0.32 * 400 = €128.00, paid monthly");
        let (text, _) = corrected("10 / 4 = 2");
        assert_eq!(text, "10 / 4 = 2.5");
    }

    #[test]
    fn what_is_no_chain_is_left_alone() {
        for text in [
            "Set `DNS = 10.40.0.53` and `MTU = 1380`.",
            "wal_level = replica and max_wal_senders = 10",
            "The fee is 8% * 1,149 = 91.92.",
            "Pages escalate after 15 - 30 minutes.",
            "x = 5",
            "10 / 0 = 3",
        ] {
            assert_eq!(corrected(text), (text.to_string(), Vec::new()), "{text}");
        }
        assert!(results("2026-12-04 = 4 December").is_empty());
    }
}

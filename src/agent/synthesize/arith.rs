//! Arithmetic a drafted answer writes out ("$1,249 + $169 + $89 = $1,517"). Small models are
//! told not to compute, and do anyway, often wrongly. Code checks every such chain: a wrong
//! result is replaced by the exact one, and a right result counts as known to the figure
//! check (its operands must still be stated by the evidence or the question). And a date
//! range the answer states gets its length in days, which a small model cannot count.

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
/// ("$1,249", "52,000m³", "16.00,"). A percentage is not read: "8%" may be 8 or 0.08.
struct Figure {
    value: f64,
    digits: std::ops::Range<usize>,
    decimals: usize,
    grouped: bool,
    /// The unit written with it: a currency sign before it or a unit right after its digits.
    unit: Option<quantity::Unit>,
}

/// Punctuation that may follow a figure, a unit or a date within its word ("GB,", "2024).").
const TRAILING: [char; 6] = [',', '.', ';', ':', ')', '*'];

/// The unit a word after a figure names, punctuation after it ignored ("GB,", "m³/day."). A
/// spaced "in" is the preposition ("= 8 in total"), not inches, as in `quantity::numbered_names`.
fn unit_word(word: &str) -> Option<quantity::Unit> {
    let w = word.trim_end_matches(TRAILING);
    if w.is_empty() || operator(w).is_some() || w.eq_ignore_ascii_case("in") {
        return None;
    }
    quantity::unit(w)
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
    let sign = word[..start].trim_start_matches('(');
    Some(Figure {
        value,
        digits: at + start..at + start + len,
        decimals: number.split_once('.').map_or(0, |(_, d)| d.len()),
        grouped: number.contains(','),
        unit: if sign.is_empty() {
            // Glued to the digits ("52,000m³", "10in"), a suffix is a unit, "in" included.
            let glued = body[len..].trim_end_matches(TRAILING);
            (!glued.is_empty()).then(|| quantity::unit(glued)).flatten()
        } else {
            quantity::unit(sign)
        },
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
        let Some(mut result) = words.get(e + 1).and_then(|(at, w)| figure(*at, w)) else {
            continue;
        };
        if result.unit.is_none() {
            result.unit = words.get(e + 2).and_then(|(_, w)| unit_word(w));
        }
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
                    .and_then(|j| read(j).map(|f| (f, j)))
                    .map(|(mut f, j)| {
                        f.unit = f.unit.or_else(|| unit_word(words[i - 1].1));
                        (f, j)
                    }),
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
        let Some(values) = in_one_unit(&operands, &ops, &result) else {
            continue;
        };
        let written = operands.iter().chain(std::iter::once(&result));
        out.push(Chain {
            decimals: written
                .clone()
                .map(|f| f.decimals)
                .max()
                .unwrap_or(0)
                .min(2),
            grouped: written.clone().any(|f| f.grouped),
            operands: values,
            ops,
            result: result.value,
            digits: result.digits,
        });
    }
    out
}

/// The operands' values in the result's unit. A chain written in one unit (or in none) is
/// read as written. A sum or difference of quantities in units of one kind ("2.4 TB + 610 GB =
/// 3.01 TB") is converted to the result's unit. Any other mix of units (a rate times a count
/// is fine: "€0.45 * 300 = €135" has one unit) cannot be checked by its numbers alone: None.
fn in_one_unit(operands: &[Figure], ops: &[char], result: &Figure) -> Option<Vec<f64>> {
    let written = || operands.iter().chain(std::iter::once(result));
    let mut units = written().filter_map(|f| f.unit);
    let first = units.next();
    if units.all(|u| Some(u) == first) {
        return Some(operands.iter().map(|f| f.value).collect());
    }
    let to = result.unit?;
    let summed = ops.iter().all(|op| matches!(op, '+' | '-'));
    operands
        .iter()
        .map(|f| {
            let from = f.unit.filter(|u| summed && u.same_kind(&to))?;
            Some(f.value * from.factor / to.factor)
        })
        .collect()
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
        if quantity::same(v, chain.result, quantity::ROUNDED) {
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

/// `text` with the length of each date range it states ("from 3 March 2024 to 17 May
/// 2024", "2024-09-10 until 2024-09-28") written after the range, "(75 days)", unless its
/// sentence already gives a number of days: a range's length is what "how long did it last"
/// asks, and the day arithmetic is code's to do. One range per sentence; both dates must be
/// full dates, the second after the first.
pub fn with_date_spans(text: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len() + 16);
    let mut notes = Vec::new();
    for sentence in super::split_sentences(text) {
        match range_in(sentence).filter(|_| !states_days(sentence)) {
            Some((end, from, to)) => {
                let days = to - from;
                out.push_str(&sentence[..end]);
                out.push_str(&format!(" ({days} days)"));
                out.push_str(&sentence[end..]);
                notes.push(format!(
                    "added the {days} days from {} to {}",
                    crate::dates::long(from),
                    crate::dates::long(to)
                ));
            }
            None => out.push_str(sentence),
        }
    }
    (out, notes)
}

/// Whether a sentence gives a number of days ("75 days", "18-day").
fn states_days(sentence: &str) -> bool {
    let ws = words(sentence);
    ws.windows(2).any(|pair| {
        let (a, b) = (pair[0].1, pair[1].1.to_lowercase());
        figure(0, a).is_some() && b.starts_with("day")
    }) || ws.iter().any(|(_, w)| {
        w.split_once('-')
            .is_some_and(|(n, d)| n.parse::<u32>().is_ok() && d.starts_with("day"))
    })
}

/// The first range of a sentence: the byte offset just after its second date, and both dates.
fn range_in(sentence: &str) -> Option<(usize, i64, i64)> {
    use crate::dates::dates_in;
    // A dash is matched bare: the spaces around it are trimmed with the dates' emphasis.
    const JOINS: [&str; 4] = [" to ", " until ", " through ", "–"];
    for join in JOINS {
        for (at, _) in sentence.match_indices(join) {
            let left = sentence[..at].trim_end_matches(['*', ' ']);
            let right_at = at + join.len();
            let right = &sentence[right_at..];
            let lead = right.len() - right.trim_start_matches(['*', ' ']).len();
            if !left.ends_with(|c: char| c.is_ascii_digit()) {
                continue;
            }
            // The first date must end where the join begins.
            let tail_words = words(left);
            let from = (1..=3).rev().find_map(|n| {
                let start = tail_words.len().checked_sub(n)?;
                let tail = left[tail_words.get(start)?.0..].replace('*', "");
                let d = dates_in(&tail);
                (d.len() == 1).then(|| d[0])
            });
            let head_words = words(&right[lead..]);
            let to = (1..=3).find_map(|n| {
                let (at, w) = head_words.get(n - 1)?;
                let end = lead + at + w.trim_end_matches(TRAILING).len();
                let d = dates_in(&right[lead..end].replace('*', ""));
                (d.len() == 1).then(|| (right_at + end, d[0]))
            });
            if let (Some(from), Some((end, to))) = (from, to)
                && to > from
            {
                return Some((end, from, to));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_range_gets_its_length_in_days() {
        let (text, notes) =
            with_date_spans("The ban ran from 3 March 2024 to 17 May 2024 [1]. It ended.");
        assert_eq!(
            text,
            "The ban ran from 3 March 2024 to 17 May 2024 (75 days) [1]. It ended."
        );
        assert_eq!(
            notes,
            ["added the 75 days from 3 March 2024 to 17 May 2024"]
        );
        let (text, _) = with_date_spans("Open 2024-09-10 until 2024-09-28, then closed.");
        assert_eq!(
            text,
            "Open 2024-09-10 until 2024-09-28 (18 days), then closed."
        );
        let (text, _) = with_date_spans("**March 1, 2026** – **March 31, 2026**");
        assert_eq!(text, "**March 1, 2026** – **March 31, 2026 (30 days)**");
    }

    #[test]
    fn no_range_no_length() {
        for text in [
            "It lasted 75 days, from 3 March 2024 to 17 May 2024.",
            "It was an 18-day ban: 10 September 2024 to 28 September 2024.",
            "Opened 2 May 2023; closed 9 June 2024.",
            "Go from 5 August to 19 October.",
            "Due 17 May 2024 to the board, reviewed 3 March 2024.",
            "From 17 May 2024 to 3 March 2024.",
            "Open 08:00 to 16:00 on 3 March 2024.",
        ] {
            assert_eq!(
                with_date_spans(text),
                (text.to_string(), Vec::new()),
                "{text}"
            );
        }
    }

    #[test]
    fn a_wrong_sum_is_corrected_in_the_style_it_was_written() {
        let (text, notes) = corrected("The total is $1,249 + $169 + $89 = $1,517 [1].");
        assert_eq!(text, "The total is $1,249 + $169 + $89 = $1,507 [1].");
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("1,517") && notes[0].contains("1,507"));
        assert_eq!(results(&text), vec![1507.0]);
    }

    #[test]
    fn precedence_units_and_decimals_are_read() {
        // Units between an operand and its operator, products before sums.
        let (text, notes) = corrected("52,000 m³/day - 13,700 m³/day = 38,300 m³/day.");
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(results(&text), vec![38300.0]);
        let (text, _) = corrected("2 + 3 × 4 = 20");
        assert_eq!(text, "2 + 3 × 4 = 14");
        let (text, _) = corrected("€0.45 * 300 = €140.00, paid monthly");
        assert_eq!(text, "€0.45 * 300 = €135.00, paid monthly");
        let (text, _) = corrected("10 / 4 = 2");
        assert_eq!(text, "10 / 4 = 2.5");
    }

    #[test]
    fn sums_in_units_of_one_kind_are_converted_to_the_results_unit() {
        let right = "One backup is 2.4 TB + 610 GB = 3.01 TB in all.";
        assert_eq!(corrected(right), (right.to_string(), Vec::new()));
        assert_eq!(results(right), vec![3.01]);
        let (text, notes) = corrected("2.4 TB + 610 GB = 612.40 TB");
        assert_eq!(text, "2.4 TB + 610 GB = 3.01 TB");
        assert_eq!(notes.len(), 1, "{notes:?}");
        let (text, _) = corrected("2 hours + 30 min = 2.75 hours [1]");
        assert_eq!(text, "2 hours + 30 min = 2.50 hours [1]");
        // "in" after a result is a preposition, not a unit.
        let (text, _) = corrected("€20 + €35 = 65 in total");
        assert_eq!(text, "€20 + €35 = 55 in total");
    }

    #[test]
    fn what_is_no_chain_is_left_alone() {
        for text in [
            "Set `DNS = 10.0.0.2` and `MTU = 1400`.",
            "log_level = debug and max_workers = 10",
            "The fee is 8% * 1,249 = 99.92.",
            "Pages escalate after 15 - 30 minutes.",
            "x = 5",
            "10 / 0 = 3",
            // Units that cannot be put in one: no unit on the result, another kind, a product.
            "3 hours + 30 minutes = 33",
            "2 kg + 3 m = 5 kg",
            "€2 * 3 km = €7",
        ] {
            assert_eq!(corrected(text), (text.to_string(), Vec::new()), "{text}");
        }
        assert!(results("2026-12-04 = 4 December").is_empty());
    }
}

//! Calendar dates in text, as day numbers (days since 1970-01-01), so that a date can be read
//! from a passage, checked against a quote and subtracted exactly. Dates are read in the
//! forms wikis write them: "2025-11-14", "14 November 2025", "14 Nov 2025", "14th November
//! 2025", "November 14, 2025". A day and month without a year is no date here (which year it
//! is would be a guess).

/// A value's unit when it is a date (day number), so arithmetic can tell dates from counts.
pub const DATE_UNIT: &str = "date";

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Days since 1970-01-01 of a valid civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> Option<i64> {
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    // Days-from-civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The civil date (year, month 1-12, day 1-31) of a day number.
fn civil(days: i64) -> (i64, u32, u32) {
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m as u32, d as u32)
}

/// Days since 1970-01-01 as YYYY-MM-DD.
pub fn format(days: i64) -> String {
    let (y, m, d) = civil(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 as people write the date: "14 November 2025".
pub fn long(days: i64) -> String {
    let (y, m, d) = civil(days);
    let name = MONTHS[m as usize - 1];
    let mut letters = name.chars();
    let name: String = letters
        .next()
        .map(|first| first.to_uppercase().chain(letters).collect())
        .unwrap_or_default();
    format!("{d} {name} {y}")
}

/// A YYYY-MM-DD date.
pub fn parse_iso(s: &str) -> Option<i64> {
    let mut parts = s.trim().splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    days_from_civil(y, m, d)
}

/// The month a word names ("Nov", "november", "Sept."), 1-12.
fn month(word: &str) -> Option<u32> {
    let w = word.trim_end_matches('.').to_lowercase();
    if w.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| *m == w || (m.starts_with(&w) && (w.len() == 3 || w == "sept")))
        .map(|i| i as u32 + 1)
}

/// A day of the month as written ("14", "14th", "1st").
fn day(word: &str) -> Option<u32> {
    let digits = word.trim_end_matches(['s', 't', 'n', 'd', 'r', 'h']);
    let d: u32 = digits.parse().ok()?;
    (digits.len() <= 2 && (1..=31).contains(&d)).then_some(d)
}

fn year(word: &str) -> Option<i64> {
    (word.len() == 4)
        .then(|| word.parse::<i64>().ok())
        .flatten()
        .filter(|y| (1000..=9999).contains(y))
}

/// The words of `text` a date is read from: split at spaces and at the punctuation around
/// dates in prose and tables.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | '(' | ')' | '[' | ']' | ';' | '|'))
        .filter(|w| !w.is_empty())
}

/// Every full date written in `text`, in order, as day numbers.
pub fn dates_in(text: &str) -> Vec<i64> {
    let words: Vec<&str> = words(text).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i].trim_end_matches(['.', ':']);
        // 2025-11-14
        if let Some(d) = w.get(..10).and_then(parse_iso).filter(|_| w.len() == 10) {
            out.push(d);
            i += 1;
            continue;
        }
        let at = |k: usize| words.get(i + k).map(|w| w.trim_end_matches(['.', ':']));
        // 14 November 2025
        if let (Some(d), Some(m), Some(y)) = (day(w), at(1).and_then(month), at(2).and_then(year))
            && let Some(n) = days_from_civil(y, m, d)
        {
            out.push(n);
            i += 3;
            continue;
        }
        // November 14, 2025
        if let (Some(m), Some(d), Some(y)) = (month(w), at(1).and_then(day), at(2).and_then(year))
            && let Some(n) = days_from_civil(y, m, d)
        {
            out.push(n);
            i += 3;
            continue;
        }
        i += 1;
    }
    out
}

/// Every day of the year written in `text` ("12 June", "Jun 12th", "12 June 2026",
/// "2026-06-12"), with or without its year, as (month, day): what a question like "which day
/// is it this year?" is answered with.
pub fn days_of_year_in(text: &str) -> Vec<(u32, u32)> {
    let words: Vec<&str> = words(text)
        .map(|w| w.trim_end_matches(['.', ':', '!', '?']))
        .collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if let Some(n) = w.get(..10).and_then(parse_iso).filter(|_| w.len() == 10) {
            let (_, m, d) = civil(n);
            out.push((m, d));
            continue;
        }
        let next = words.get(i + 1).copied();
        if let (Some(d), Some(m)) = (day(w), next.and_then(month)) {
            out.push((m, d));
        } else if let (Some(m), Some(d)) = (month(w), next.and_then(day)) {
            out.push((m, d));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_round_trip() {
        assert_eq!(format(0), "1970-01-01");
        assert_eq!(format(11_016), "2000-02-29");
        assert_eq!(format(20_000), "2024-10-04");
        for n in [-1000, 0, 59, 60, 11_016, 20_000, 20_406] {
            assert_eq!(parse_iso(&format(n)), Some(n));
        }
        assert_eq!(parse_iso("2023-02-29"), None);
        assert_eq!(long(parse_iso("2025-11-04").unwrap()), "4 November 2025");
        assert_eq!(parse_iso("2024-13-01"), None);
    }

    #[test]
    fn dates_are_read_in_the_ways_people_write_them() {
        let nov14 = parse_iso("2025-11-14");
        for text in [
            "on 14 November 2025 at 06:10",
            "On 14 Nov. 2025, the pump failed",
            "the 14th November 2025 incident",
            "since November 14, 2025.",
            "(2025-11-14)",
            "|Incident|14 November 2025|",
        ] {
            assert_eq!(dates_in(text).first().copied(), nov14, "{text}");
        }
        assert_eq!(
            dates_in("from 5 August 2022 to 19 October 2022"),
            vec![
                parse_iso("2022-08-05").unwrap(),
                parse_iso("2022-10-19").unwrap()
            ]
        );
        // A day of the year, with or without its year.
        for text in [
            "on 12 June",
            "Founders Day is June 12th.",
            "Fri 12 Jun 2026",
            "(2026-06-12)",
        ] {
            assert_eq!(days_of_year_in(text), vec![(6, 12)], "{text}");
        }
        assert!(days_of_year_in("12 units in 2026").is_empty());
        // No year, no date.
        assert!(dates_in("fitted on 2 December").is_empty());
        assert!(dates_in("31 February 2025").is_empty());
        assert!(dates_in("$1,349 and 14 hours").is_empty());
    }
}

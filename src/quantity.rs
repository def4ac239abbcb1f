//! Quantities in text, read the same way everywhere: numbers ("$1,349.50", "-3", "19h"), units
//! with their dimension and conversion factor, citation markers ("[4]") that are not figures,
//! and the number of a name ("Model 4") that is not a figure either. Scoring, extraction checks
//! and answer checks all use these, so they never disagree on what a text states.

/// Relative difference under which two figures are the same number as people write it
/// ("1199" for "$1,199.00", "12.0%" for "12%").
pub const ROUNDED: f64 = 0.005;

/// Relative difference under which two numbers are the same number exactly.
pub const EXACT: f64 = 1e-9;

/// True when `a` and `b` differ by at most `rel` of the larger magnitude (at least `rel`
/// absolute, so zeros compare).
pub fn same(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
}

/// A unit's dimension (two units compare only within one) and its factor to the dimension's
/// base unit. Each currency is its own dimension, named "currency <code>": there is no
/// exchange rate here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unit {
    pub dimension: &'static str,
    /// A rate's denominator dimension ("USD/month": time); None for a plain unit.
    pub per: Option<&'static str>,
    pub factor: f64,
}

/// Units by the names and symbols people write. Time's base is the hour, mass's the gram,
/// length's the millimetre, data's the byte (decimal prefixes; "KiB"-style are binary).
const UNITS: &[(&str, &[&str], f64)] = &[
    (
        "time",
        &["ms", "millisecond", "milliseconds"],
        1.0 / 3_600_000.0,
    ),
    (
        "time",
        &["s", "sec", "secs", "second", "seconds"],
        1.0 / 3600.0,
    ),
    ("time", &["min", "mins", "minute", "minutes"], 1.0 / 60.0),
    ("time", &["h", "hr", "hrs", "hour", "hours"], 1.0),
    ("time", &["d", "day", "days"], 24.0),
    // A stay is counted in nights ("$250 per night", "a 3-night trip"), one a day.
    ("time", &["night", "nights"], 24.0),
    ("time", &["wk", "wks", "week", "weeks"], 168.0),
    ("time", &["month", "months"], 730.5),
    ("time", &["yr", "yrs", "year", "years"], 8766.0),
    ("mass", &["mg", "milligram", "milligrams"], 0.001),
    ("mass", &["g", "gram", "grams"], 1.0),
    (
        "mass",
        &["kg", "kilo", "kilos", "kilogram", "kilograms"],
        1000.0,
    ),
    ("mass", &["t", "tonne", "tonnes"], 1_000_000.0),
    ("mass", &["oz", "ounce", "ounces"], 28.349523125),
    ("mass", &["lb", "lbs", "pound", "pounds"], 453.59237),
    (
        "length",
        &[
            "mm",
            "millimetre",
            "millimeter",
            "millimetres",
            "millimeters",
        ],
        1.0,
    ),
    (
        "length",
        &[
            "cm",
            "centimetre",
            "centimeter",
            "centimetres",
            "centimeters",
        ],
        10.0,
    ),
    (
        "length",
        &["m", "metre", "meter", "metres", "meters"],
        1000.0,
    ),
    (
        "length",
        &["km", "kilometre", "kilometer", "kilometres", "kilometers"],
        1_000_000.0,
    ),
    ("length", &["in", "inch", "inches", "\""], 25.4),
    ("length", &["ft", "foot", "feet"], 304.8),
    ("length", &["mi", "mile", "miles"], 1_609_344.0),
    ("data", &["b", "byte", "bytes"], 1.0),
    ("data", &["kb", "kilobyte", "kilobytes"], 1e3),
    ("data", &["mb", "megabyte", "megabytes"], 1e6),
    ("data", &["gb", "gigabyte", "gigabytes"], 1e9),
    ("data", &["tb", "terabyte", "terabytes"], 1e12),
    ("data", &["pb", "petabyte", "petabytes"], 1e15),
    ("data", &["kib"], 1024.0),
    ("data", &["mib"], 1_048_576.0),
    ("data", &["gib"], 1_073_741_824.0),
    ("data", &["tib"], 1_099_511_627_776.0),
    ("rate", &["kbps", "kbit/s"], 1e3),
    ("rate", &["mbps", "mbit/s"], 1e6),
    ("rate", &["gbps", "gbit/s"], 1e9),
    (
        "volume",
        &[
            "ml",
            "millilitre",
            "milliliter",
            "millilitres",
            "milliliters",
        ],
        0.001,
    ),
    ("volume", &["l", "litre", "liter", "litres", "liters"], 1.0),
    (
        "volume",
        &["m³", "m3", "cubic metre", "cubic metres"],
        1000.0,
    ),
    ("energy", &["wh"], 1.0),
    ("energy", &["kwh"], 1000.0),
    ("energy", &["mwh"], 1_000_000.0),
    ("charge", &["mah"], 1.0),
    ("power", &["w", "watt", "watts"], 1.0),
    ("power", &["kw", "kilowatt", "kilowatts"], 1000.0),
    ("speed", &["km/h", "kph"], 1.0),
    ("speed", &["mph"], 1.609344),
    ("percent", &["%", "percent", "per cent", "pct"], 1.0),
    (
        "currency usd",
        &["$", "usd", "us$", "dollar", "dollars"],
        1.0,
    ),
    ("currency eur", &["€", "eur", "euro", "euros"], 1.0),
    ("currency gbp", &["£", "gbp"], 1.0),
    ("currency jpy", &["¥", "jpy", "yen"], 1.0),
    ("currency nok", &["nok"], 1.0),
    ("currency sek", &["sek"], 1.0),
    ("currency dkk", &["dkk"], 1.0),
    ("currency chf", &["chf"], 1.0),
    ("currency cad", &["cad", "c$"], 1.0),
    ("currency aud", &["aud", "a$"], 1.0),
];

/// The unit a name or symbol stands for ("hours", "KB", "€"), case-insensitively, or a rate of
/// two ("USD/month", "$ per calendar year", "hours/week", "USD/mile").
pub fn unit(name: &str) -> Option<Unit> {
    let u = name.trim().trim_end_matches('.').to_lowercase();
    plain_unit(&u).or_else(|| {
        let (num, den) = rate_parts(&u)?;
        let (n, d) = (plain_unit(num)?, plain_unit(den)?);
        (!d.is_currency()).then_some(Unit {
            dimension: n.dimension,
            per: Some(d.dimension),
            factor: n.factor / d.factor,
        })
    })
}

fn plain_unit(name: &str) -> Option<Unit> {
    UNITS
        .iter()
        .find(|(_, names, _)| names.contains(&name))
        .map(|&(dimension, _, factor)| Unit {
            dimension,
            per: None,
            factor,
        })
}

/// A rate's numerator and denominator as written, lower-case ("usd/month" -> "usd", "month";
/// "$ per calendar year" -> "$", "year").
fn rate_parts(name: &str) -> Option<(&str, &str)> {
    let (num, den) = name
        .split_once(" per ")
        .or_else(|| name.split_once(" Per "))
        .or_else(|| name.split_once('/'))?;
    let den = den.trim();
    let den = match den.get(..9) {
        Some(c) if c.eq_ignore_ascii_case("calendar ") => &den[9..],
        _ => den,
    };
    Some((num.trim(), den))
}

impl Unit {
    /// Whether a value in one unit is a value in the other (after conversion).
    pub fn same_kind(&self, other: &Unit) -> bool {
        self.dimension == other.dimension && self.per == other.per
    }
}

/// Converts `x` from unit `from` to unit `to` when both are known units of one kind.
pub fn convert(x: f64, from: &str, to: &str) -> Option<f64> {
    let (f, t) = (unit(from)?, unit(to)?);
    f.same_kind(&t).then(|| x * f.factor / t.factor)
}

/// Whether `a` and `b` are both known units of different kinds (hours and USD, g and m): a
/// value in one is never a value in the other. A rate and a plain unit are judged by the
/// rate's numerator ("$60 per month" is an amount of dollars; "USD/hour" is no time). Unknown
/// units are not judged.
pub fn different_kinds(a: &str, b: &str) -> bool {
    match (unit(a.trim()), unit(b.trim())) {
        (Some(x), Some(y)) if x.per.is_some() != y.per.is_some() => x.dimension != y.dimension,
        (Some(x), Some(y)) => !x.same_kind(&y),
        _ => false,
    }
}

/// A rate's numerator and denominator ("$ per calendar year" -> "USD", "year"); None for a
/// plain unit.
pub fn rate_of(name: &str) -> Option<(String, String)> {
    unit(name)?.per?;
    let (num, den) = rate_parts(name.trim())?;
    Some((canonical(num), den.to_string()))
}

/// A rate's numerator ("$/month" -> "USD"); None for a plain unit.
pub fn numerator(name: &str) -> Option<String> {
    rate_of(name).map(|(num, _)| num)
}

/// The name a unit is kept under: a currency by its code ("$" -> "USD"), a rate by its parts
/// ("$ per month" -> "USD/month"), any other unit as written.
pub fn canonical(name: &str) -> String {
    let name = name.trim();
    let Some(u) = unit(name) else {
        return name.to_string();
    };
    if let Some(code) = u.currency_code() {
        return code;
    }
    match (u.per, rate_parts(name)) {
        (Some(_), Some((num, den))) => format!("{}/{den}", canonical(num)),
        _ => name.to_string(),
    }
}

/// The text with citation markers ("[4]", "[1, 3]", "[2][5]") removed: a marker is a pointer
/// to a source, never a figure of the answer.
pub fn strip_citations(text: &str) -> String {
    replace_citations(text, true, |_| String::new())
}

/// Replaces every citation marker ("[4]", "[1, 3]": numbers and commas in brackets) with what
/// `f` makes of its numbers; other brackets stay. With `trim_before`, the spaces before a
/// marker go too ("costs $5 [2]." -> "costs $5."). The one reader of markers: answer checks
/// and scoring see the same ones.
pub fn replace_citations(
    text: &str,
    trim_before: bool,
    mut f: impl FnMut(&[usize]) -> String,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let numbers = after.find(']').and_then(|close| {
            let inner = &after[..close];
            let ns: Option<Vec<usize>> = inner
                .split(',')
                .map(|p| p.trim().parse::<usize>().ok())
                .collect();
            ns.map(|ns| (close, ns))
        });
        match numbers {
            Some((close, ns)) => {
                let before = &rest[..open];
                out.push_str(if trim_before {
                    before.trim_end_matches(' ')
                } else {
                    before
                });
                out.push_str(&f(&ns));
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every number written in `text`, in order: thousands separators dropped ("$1,349.50" ->
/// 1349.5), a minus only where it starts a number ("-3", but "2026-05-01" is three numbers).
pub fn numbers_in(text: &str) -> Vec<f64> {
    spans(text).into_iter().map(|s| s.value).collect()
}

/// The numbers `text` states as values: `numbers_in` without the numbers of numbered names
/// ("the Model 4 costs $2,480" states 2,480, not 4).
pub fn numbers_stated(text: &str) -> Vec<f64> {
    numbers_in(&without_numbered_names(text))
}

/// A number's place in a text (byte offsets) and value.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Span {
    start: usize,
    end: usize,
    value: f64,
}

fn spans(text: &str) -> Vec<Span> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        let digit_next = chars.get(i + 1).is_some_and(|(_, n)| n.is_ascii_digit());
        let prev_alnum = i > 0 && chars[i - 1].1.is_alphanumeric();
        let sign = c == '-' && digit_next && !prev_alnum;
        if !(c.is_ascii_digit() || sign) {
            i += 1;
            continue;
        }
        let start = at;
        let mut j = i + 1;
        while j < chars.len() {
            let c = chars[j].1;
            let inner =
                matches!(c, ',' | '.') && chars.get(j + 1).is_some_and(|(_, n)| n.is_ascii_digit());
            if c.is_ascii_digit() || inner {
                j += 1;
            } else {
                break;
            }
        }
        let end = chars.get(j).map_or(text.len(), |(at, _)| *at);
        if let Ok(value) = text[start..end].replace(',', "").parse::<f64>() {
            out.push(Span { start, end, value });
        }
        i = j;
    }
    out
}

/// A figure read from text: the number and the unit written with it, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    pub value: f64,
    /// The unit as written ("hours", "$", "GB"); None for a bare number.
    pub unit: Option<String>,
}

impl Quantity {
    /// Whether `self` (what a text states) is the figure `want`: the same number within `rel`,
    /// in `want`'s unit after conversion when `want` has one. A bare `want` matches any unit.
    /// A rate states an amount of its numerator: "$60 per month" states "$60".
    pub fn matches(&self, want: &Quantity, rel: f64) -> bool {
        match (&want.unit, &self.unit) {
            (None, _) => same(self.value, want.value, rel),
            (Some(w), Some(h)) => {
                let plain = numerator(w).is_none();
                let h = match numerator(h) {
                    Some(n) if plain => n,
                    _ => h.clone(),
                };
                convert(self.value, &h, w).is_some_and(|x| same(x, want.value, rel))
            }
            (Some(_), None) => false,
        }
    }

    /// One number with at most a known unit or currency sign and nothing else ("$1,199",
    /// "19 h", "10.1-inch", "12%"); None for words, names or several numbers.
    pub fn parse(text: &str) -> Option<Quantity> {
        let (q, before, after) = Self::sole(text)?;
        let words = |t: &str| t.chars().any(char::is_alphanumeric);
        (!words(&before) && !words(&after)).then_some(q)
    }

    /// The one figure a table cell or label states first, with words after it that qualify
    /// it ("1.5 m onto concrete", "$79 each", "19 hours (typical use)"): nothing but
    /// punctuation before it, no other figure in the text, and a unit written with it unless
    /// punctuation follows ("47 (max)"), so "5 business days" is no bare 5. What `parse`
    /// reads, it reads too.
    pub fn leading(text: &str) -> Option<Quantity> {
        let (q, before, after) = Self::sole(text)?;
        let qualified = q.unit.is_some() || !after.trim_start().starts_with(char::is_alphanumeric);
        (!before.chars().any(char::is_alphanumeric) && qualified).then_some(q)
    }

    /// The one figure of `text` (markers stripped) with the text before and after it; None
    /// for no figure or several.
    fn sole(text: &str) -> Option<(Quantity, String, String)> {
        let text = strip_citations(text);
        let mut found = figures(&text);
        if found.len() != 1 {
            return None;
        }
        let (q, span) = found.remove(0);
        Some((
            q,
            text[..span.start].to_string(),
            text[span.end..].to_string(),
        ))
    }
}

/// The figures of `text`: each number with the unit written right after it ("19 hours",
/// "14h", "10.1-inch", "12%") or the currency sign or code right before it ("$1,199",
/// "NOK 950"). A number glued to letters that are no unit ("42P01", "Q1") is a code, not a
/// figure, and a marker ("[4]") is not one either.
pub fn quantities_in(text: &str) -> Vec<Quantity> {
    figures(&strip_citations(text))
        .into_iter()
        .map(|(q, _)| q)
        .collect()
}

/// The figures of `text` (markers already stripped) with the byte range each is written in,
/// its number and units included.
fn figures(text: &str) -> Vec<(Quantity, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    for s in spans(text) {
        let before = &text[..s.start];
        let after = &text[s.end..];
        if before.chars().next_back().is_some_and(char::is_alphabetic) {
            continue;
        }
        let glued = after.chars().next().is_some_and(char::is_alphabetic);
        let unit_after = unit_after(after);
        if glued && unit_after.is_none() {
            continue;
        }
        let (mut unit, start, mut end) = match unit_after {
            Some((u, len)) => (Some(u), s.start, s.end + len),
            None => match unit_before(before) {
                Some((u, len)) => (Some(u), s.start - len, s.end),
                None => (None, s.start, s.end),
            },
        };
        // "$60 per month", "48 hours a week", "$0.70/mile": a rate of the unit written.
        if let Some(u) = &unit
            && let Some((den, len)) = per_after(&text[end..])
        {
            unit = Some(format!("{u}/{den}"));
            end += len;
        }
        out.push((
            Quantity {
                value: s.value,
                unit,
            },
            start..end,
        ));
    }
    out
}

/// The unit written right after a number (glued, after one space or after a hyphen) and how
/// many bytes of `after` it takes.
fn unit_after(after: &str) -> Option<(String, usize)> {
    let rest = after
        .strip_prefix(' ')
        .or_else(|| after.strip_prefix('-'))
        .unwrap_or(after);
    let skipped = after.len() - rest.len();
    if let Some(c) = rest.chars().next()
        && matches!(c, '%' | '"' | '″')
    {
        let u = if c == '%' { "%" } else { "\"" };
        return Some((u.to_string(), skipped + c.len_utf8()));
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '/' | '³' | '$'))
        .collect();
    let word = word.trim_end_matches('/');
    if word.is_empty() {
        return None;
    }
    // "4 in the box" is not four inches: a spaced "in" is the preposition.
    if plain_unit(&word.to_lowercase()).is_some() && !(word == "in" && after.starts_with(' ')) {
        return Some((word.to_string(), skipped + word.len()));
    }
    // A rate glued with a slash ("GB/month") is a unit and its "per" read by `per_after`.
    if let Some((num, _)) = word.split_once('/')
        && !num.is_empty()
        && plain_unit(&num.to_lowercase()).is_some()
    {
        return Some((num.to_string(), skipped + num.len()));
    }
    // "cubic metres", "per cent": two words.
    let mut words = rest.split_whitespace();
    let (first, second) = (words.next()?, words.next()?);
    let second = second.trim_end_matches(|c: char| !c.is_alphanumeric());
    let two = format!("{first} {second}");
    let len = rest.find(second)? + second.len();
    plain_unit(&two.to_lowercase())
        .is_some()
        .then(|| (two, skipped + len))
}

/// A rate's "per" right after a figure's unit: "per month", "per calendar year", "/mile", and
/// for time "a week" or "an hour". The denominator unit as written and the bytes it takes.
fn per_after(after: &str) -> Option<(String, usize)> {
    // Emphasis closing around the figure ("**$250** per night") is no part of it.
    let rest = after.trim_start_matches(['*', '_']).trim_start();
    let lead = after.len() - rest.len();
    let lower = rest.to_lowercase();
    let (time_only, word_at) = if lower.starts_with('/') {
        (false, 1)
    } else if lower.starts_with("per ") {
        (false, 4)
    } else if lower.starts_with("a ") {
        (true, 2)
    } else if lower.starts_with("an ") {
        (true, 3)
    } else {
        return None;
    };
    let mut at = word_at;
    if lower[at..].starts_with("calendar ") {
        at += "calendar ".len();
    }
    let word: String = lower[at..]
        .chars()
        .take_while(|c| c.is_alphanumeric())
        .collect();
    let u = plain_unit(&word)?;
    let ok = if time_only {
        u.dimension == "time"
    } else {
        !u.is_currency()
    };
    // "per cent" is a unit of its own, and "a m" is no rate.
    let spelled = at == 1 || word.chars().count() >= 2;
    (ok && u.dimension != "percent" && spelled).then(|| {
        (
            rest[at..at + word.len()].to_string(),
            lead + at + word.len(),
        )
    })
}

/// A currency written right before a number: a sign ("$", "US$", "€") or a code ("NOK "), and
/// how many bytes before the number it takes.
fn unit_before(before: &str) -> Option<(String, usize)> {
    let trimmed = before.trim_end();
    let word: String = trimmed
        .chars()
        .rev()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '(' | ':' | ','))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    // A sign is glued ("$5"), a code is a word of its own ("NOK 950").
    let glued = trimmed.len() == before.len();
    let candidates: Vec<String> = if glued {
        let last: String = word.chars().next_back().into_iter().collect();
        vec![word.clone(), last]
    } else {
        vec![word.clone()]
    };
    candidates
        .into_iter()
        .find(|w| unit(w).is_some_and(|u| u.is_currency()))
        .map(|w| {
            let len = before.len() - trimmed.len() + w.len();
            (w, len)
        })
}

impl Unit {
    /// Currencies are written before the number as well as after it.
    pub fn is_currency(&self) -> bool {
        self.currency_code().is_some()
    }

    /// The currency's code ("$" -> "USD"); None for other units.
    pub fn currency_code(&self) -> Option<String> {
        if self.per.is_some() {
            return None;
        }
        self.dimension
            .strip_prefix("currency ")
            .map(str::to_uppercase)
    }
}

/// Words that start a question rather than name something.
const QUESTION_WORDS: &[&str] = &[
    "how", "what", "what's", "which", "when", "who", "where", "why", "is", "are", "does", "do",
    "can", "if", "i", "i'm", "a", "an", "the", "and", "or", "compare", "during", "after",
];

/// The name words of a text, lower-case: capitalised words and words with digits ("How much
/// does the Orbit 4 weigh?" -> "orbit", "4"), without the words that start a question. Search
/// ranks pages whose title has them first; `tools::records` finds a thing's row by them.
pub fn names_in(query: &str) -> Vec<String> {
    query
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-'))
        .filter(|w| !w.is_empty())
        .filter(|w| {
            let lower = w.to_lowercase();
            let capital = w.chars().next().is_some_and(char::is_uppercase);
            let digit = w.chars().any(|c| c.is_ascii_digit());
            (capital || digit) && !QUESTION_WORDS.contains(&lower.as_str())
        })
        .map(str::to_lowercase)
        .collect()
}

/// The names with a number in `text` ("Model 4", "Gen 2s" -> "Gen 2"): a capitalised word
/// followed by a number of at most three digits with no unit. Such a number names a thing;
/// it is not a figure.
pub fn numbered_names(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut names: Vec<String> = Vec::new();
    for (i, pair) in words.windows(2).enumerate() {
        let [name, number] = pair else { continue };
        let name = name.trim_start_matches(|c: char| !c.is_alphanumeric());
        let proper = name.chars().next().is_some_and(char::is_uppercase)
            && name.chars().skip(1).all(char::is_lowercase)
            && name.chars().count() >= 2;
        // "Below 45%," is a figure: a sign stuck to the number is its unit (punctuation is not).
        let number = number.trim_end_matches([
            '.', ',', ';', ':', '?', '!', ')', ']', '*', '_', '"', '\'', '’', '”', '»',
        ]);
        let number = number.strip_suffix('s').unwrap_or(number);
        let numbered =
            !number.is_empty() && number.len() <= 3 && number.chars().all(|c| c.is_ascii_digit());
        // "In 4 days": a number with a unit after it is a figure.
        // A spaced "in" is the preposition, as in `quantities_in`.
        let unit_next = words.get(i + 2).is_some_and(|w| {
            let w = w.trim_matches(|c: char| !c.is_alphanumeric());
            !w.eq_ignore_ascii_case("in") && unit(w).is_some()
        });
        if proper && numbered && !unit_next {
            let n = format!("{name} {number}");
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names
}

/// The codes in `text` ("Q1", "SEV2", "IP68", "pg-main-01"): words that start with a letter
/// and hold a digit, and are no unit ("m3", "km2", "ft3"). Like a numbered name, a code names one
/// thing; "4s", "3-night" and "10am" start with their number and are figures.
pub fn codes(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        let w = word.trim_matches(|c: char| !c.is_alphanumeric());
        let w = w
            .strip_suffix("'s")
            .or_else(|| w.strip_suffix("’s"))
            .unwrap_or(w);
        // "km2", "ft3": a short unit to a power, known to the unit table or not.
        let power = w.len() <= 4
            && (w.ends_with('2') || w.ends_with('3'))
            && w[..w.len() - 1].chars().all(|c| c.is_ascii_lowercase());
        let code = w.chars().next().is_some_and(char::is_alphabetic)
            && w.chars().any(|c| c.is_ascii_digit())
            && !power
            && unit(w).is_none();
        if code && !out.iter().any(|o| o == w) {
            out.push(w.to_string());
        }
    }
    out
}

/// The calendar years `text` names ("in 2027", "the 2022 ban"): words of four digits from
/// 1900 to 2199 that no unit follows ("2048 MB" is a size, "1950 m" a height). Like a code, a
/// year the question names picks out what it is about: a figure for another year is no answer.
pub fn years(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out: Vec<String> = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let w = word.trim_matches(|c: char| !c.is_alphanumeric());
        let w = w
            .strip_suffix("'s")
            .or_else(|| w.strip_suffix("’s"))
            .unwrap_or(w);
        let year = w.len() == 4
            && w.chars().all(|c| c.is_ascii_digit())
            && w.parse::<u32>().is_ok_and(|y| (1900..2200).contains(&y));
        // A unit right after the number ("2000 USD"), unless the number ends a clause.
        let unit_after = !word.ends_with([',', '.', '?', '!', ';', ':'])
            && words
                .get(i + 1)
                .map(|n| n.trim_matches(|c: char| !c.is_alphanumeric()))
                .is_some_and(|n| unit(n).is_some());
        if year && !unit_after && !out.iter().any(|o| o == w) {
            out.push(w.to_string());
        }
    }
    out
}

/// `text` with the numbered names replaced by their word alone ("the Model 4 weighs" -> "the
/// Model weighs"), for reading figures.
pub fn without_numbered_names(text: &str) -> String {
    let mut out = text.to_string();
    for n in numbered_names(text) {
        if let Some((word, _)) = n.split_once(' ') {
            out = replace_words(&out, &n, word);
        }
    }
    out
}

/// Whether `needle` occurs in `haystack` (both compared lower-case) with no letter or digit
/// right before or after it: "UDP" is not in "UDPX", "14" is not in "2014".
pub fn contains_words(haystack: &str, needle: &str) -> bool {
    let h = haystack.to_lowercase();
    let n = needle.to_lowercase();
    if n.trim().is_empty() {
        return false;
    }
    let edge_alnum_start = n.chars().next().is_some_and(char::is_alphanumeric);
    let edge_alnum_end = n.chars().next_back().is_some_and(char::is_alphanumeric);
    h.match_indices(&n).any(|(at, _)| {
        let before_ok = !edge_alnum_start
            || !h[..at]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric);
        let after_ok = !edge_alnum_end
            || !h[at + n.len()..]
                .chars()
                .next()
                .is_some_and(char::is_alphanumeric);
        before_ok && after_ok
    })
}

/// Replaces whole-word occurrences of `from` (exact case) with `to`.
fn replace_words(text: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let end = at + from.len();
        let before_ok = !rest[..at]
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric);
        let after = &rest[end..];
        let after_ok = !after.chars().next().is_some_and(|c| c.is_ascii_digit());
        out.push_str(&rest[..at]);
        out.push_str(if before_ok && after_ok { to } else { from });
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(value: f64, unit: Option<&str>) -> Quantity {
        Quantity {
            value,
            unit: unit.map(str::to_string),
        }
    }

    #[test]
    fn numbers_keep_separators_signs_and_dates_apart() {
        assert_eq!(
            numbers_in("$1,349.50 or 19 hours, -3, then 3."),
            vec![1349.5, 19.0, -3.0, 3.0]
        );
        assert_eq!(numbers_in("2026-05-01"), vec![2026.0, 5.0, 1.0]);
        assert_eq!(numbers_in("v2.3."), vec![2.3]);
        assert!(numbers_in("no numbers").is_empty());
    }

    #[test]
    fn units_convert_within_a_dimension_only() {
        assert_eq!(convert(90.0, "minutes", "h"), Some(1.5));
        assert_eq!(convert(2.0, "TB", "GB"), Some(2000.0));
        assert!(convert(1.0, "kg", "lb").is_some_and(|x| same(x, 2.2046, 1e-4)));
        assert_eq!(convert(5.0, "$", "EUR"), None);
        assert_eq!(convert(5.0, "hours", "kg"), None);
        assert_eq!(unit("Hours").map(|u| u.dimension), Some("time"));
        // Each currency is its own dimension, and the only kind written before the number.
        assert!(unit("€").is_some_and(|u| u.is_currency()));
        assert!(unit("kg").is_some_and(|u| !u.is_currency()));
        assert_eq!(convert(5.0, "usd", "eur"), None);
        assert_eq!(unit("bananas"), None);
    }

    #[test]
    fn rates_are_units_of_their_own_kind() {
        assert_eq!(convert(60.0, "USD/month", "USD/year"), Some(720.0));
        assert_eq!(convert(3.0, "nights", "days"), Some(3.0));
        // Time per time is a rate too: "48 hours a week" states 48 hours, not 48 weeks.
        assert_eq!(convert(48.0, "hours/week", "hours/day"), Some(48.0 / 7.0));
        assert!(q(48.0, Some("hours/week")).matches(&q(48.0, Some("hours")), ROUNDED));
        assert!(!different_kinds("hours", "hours/week"));
        assert!(
            convert(1500.0, "$ per calendar year", "usd/month")
                .is_some_and(|x| same(x, 125.0, 1e-9))
        );
        assert_eq!(convert(60.0, "USD/month", "USD"), None);
        assert_eq!(canonical("$ per month"), "USD/month");
        assert_eq!(canonical("€"), "EUR");
        assert_eq!(canonical("hours"), "hours");
        assert_eq!(rate_of("$/mile"), Some(("USD".into(), "mile".into())));
        assert_eq!(rate_of("km/h"), None);
        assert_eq!(unit("km/h").and_then(|u| u.per), None);
        // A rate is judged against a plain unit by what it counts.
        assert!(!different_kinds("USD", "USD/month"));
        assert!(different_kinds("hours", "USD/hour"));
        assert!(different_kinds("USD/month", "USD/mile"));
    }

    #[test]
    fn a_figure_with_per_is_a_rate() {
        assert_eq!(
            quantities_in("$60 per month, 48 hours a week, $0.70/mile, 5 GB/month"),
            vec![
                q(60.0, Some("$/month")),
                q(48.0, Some("hours/week")),
                q(0.70, Some("$/mile")),
                q(5.0, Some("GB/month")),
            ]
        );
        assert_eq!(
            quantities_in("**$250** per night"),
            vec![q(250.0, Some("$/night"))]
        );
        assert_eq!(
            quantities_in("$1,500 per calendar year; 9,000 panels per month; 12 per cent"),
            vec![
                q(1500.0, Some("$/year")),
                q(9000.0, None),
                q(12.0, Some("per cent")),
            ]
        );
        // "a" is a rate only before a time unit, and "each way" is none.
        assert_eq!(
            quantities_in("$5 a unit, 150 miles each way"),
            vec![q(5.0, Some("$")), q(150.0, Some("miles"))]
        );
        assert_eq!(
            Quantity::parse("$60 per month"),
            Some(q(60.0, Some("$/month")))
        );
        assert_eq!(
            Quantity::parse("$60 per month [2]"),
            Some(q(60.0, Some("$/month")))
        );
        assert_eq!(Quantity::parse("$60 per head"), None);
        // A rate states an amount of what it counts; an amount states no rate.
        assert!(q(60.0, Some("$/month")).matches(&q(60.0, Some("$")), ROUNDED));
        assert!(!q(60.0, Some("$")).matches(&q(60.0, Some("USD/month")), ROUNDED));
        assert!(q(720.0, Some("USD/year")).matches(&q(60.0, Some("$/month")), ROUNDED));
    }

    #[test]
    fn citation_markers_are_not_figures() {
        assert_eq!(strip_citations("It has 8 GB [4]."), "It has 8 GB.");
        assert_eq!(strip_citations("a [1, 3][2] b"), "a b");
        assert_eq!(
            strip_citations("keep [sic] and [a1]"),
            "keep [sic] and [a1]"
        );
        assert!(
            quantities_in("It weighs 870 g [4].")
                .iter()
                .all(|x| x.value != 4.0)
        );
    }

    #[test]
    fn quantities_carry_the_unit_written_with_them() {
        assert_eq!(
            quantities_in("$1,199, 19h, 10.1-inch, 12% and NOK 950; error 42P01 in Q1"),
            vec![
                q(1199.0, Some("$")),
                q(19.0, Some("h")),
                q(10.1, Some("inch")),
                q(12.0, Some("%")),
                q(950.0, Some("NOK")),
            ]
        );
        assert_eq!(
            quantities_in("2 cubic metres"),
            vec![q(2.0, Some("cubic metres"))]
        );
        assert_eq!(quantities_in("port 51820"), vec![q(51820.0, None)]);
    }

    #[test]
    fn a_spelling_is_one_quantity_or_none() {
        assert_eq!(Quantity::parse("$1,199"), Some(q(1199.0, Some("$"))));
        assert_eq!(Quantity::parse("19 h"), Some(q(19.0, Some("h"))));
        assert_eq!(Quantity::parse("10.1\""), Some(q(10.1, Some("\""))));
        assert_eq!(Quantity::parse("14"), Some(q(14.0, None)));
        assert_eq!(Quantity::parse("14 business days"), None);
        assert_eq!(Quantity::parse("Model 5"), None);
        assert_eq!(Quantity::parse("3 to 5 days"), None);
    }

    #[test]
    fn matching_needs_the_same_number_in_a_commensurable_unit() {
        let want = q(4.0, Some("GB"));
        assert!(q(4000.0, Some("MB")).matches(&want, ROUNDED));
        assert!(!q(4.0, None).matches(&want, ROUNDED));
        assert!(!q(4.0, Some("hours")).matches(&want, ROUNDED));
        assert!(q(19.0, Some("hours")).matches(&q(19.0, None), ROUNDED));
        assert!(q(1199.0, Some("dollars")).matches(&q(1199.0, Some("$")), ROUNDED));
    }

    #[test]
    fn numbered_names_are_not_figures() {
        assert_eq!(
            numbered_names("The Model 4 beats the Model 3s; In 4 days; Gen 12. Below 45%, Up 9°"),
            vec![
                "Model 4".to_string(),
                "Model 3".to_string(),
                "Gen 12".to_string()
            ]
        );
        assert_eq!(
            numbered_names("Ask for “the Model 7”."),
            vec!["Model 7".to_string()]
        );
        assert_eq!(
            without_numbered_names("The Model 4 weighs 870 g, Model 40 more"),
            "The Model weighs 870 g, Model more"
        );
    }

    #[test]
    fn codes_start_with_a_letter_and_hold_a_digit() {
        assert_eq!(
            codes("Did the ERR7 alert fire in Q3 2025 on db-east-02's disk, at 10am?"),
            vec!["ERR7", "Q3", "db-east-02"]
        );
        // Figures that start with their number, plurals of numbered names and units are no
        // codes.
        assert!(
            codes("Two Model 4s for a 3-night stay, 5G, 40 m3, 2 km2, 9 ft3 (1st run)").is_empty()
        );
    }

    #[test]
    fn years_are_four_digit_words_no_unit_follows() {
        assert_eq!(
            years(
                "Was the 2022 ban longer than in 2025? And in 2027's plan, 2048 MB, 1950 m, 12345?"
            ),
            vec!["2022", "2025", "2027"]
        );
        assert!(years("Shipped 1899 units, priced 2000 USD; 2300 is no year.").is_empty());
    }

    #[test]
    fn words_match_on_boundaries() {
        assert!(contains_words("Open UDP 51820.", "udp"));
        assert!(!contains_words("UDPX", "udp"));
        assert!(!contains_words("since 2014", "14"));
        assert!(contains_words("a 10.1\" screen", "10.1\""));
        assert!(!contains_words("anything", ""));
    }
}

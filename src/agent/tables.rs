//! Tables in evidence, read the way a small model reads best: one line per row, each value
//! next to its column header. The synthesizer and the extractor both see passages this way,
//! and quotes are verified against the same text.

/// Markdown tables in a passage as one line per row that pairs every value with its column
/// header ("Kell WTW — Code: KEL; Capacity (m³/day): 9,800"): a small model reads a value next
/// to its header far more reliably than in a wide row of bars, where it has to count columns.
/// Lines outside tables, and rows that do not fit the header, are kept as they are.
pub fn tables_as_lines(text: &str) -> String {
    fn cells(line: &str) -> Vec<String> {
        let inner = line.trim().trim_start_matches('|');
        let inner = inner.strip_suffix('|').unwrap_or(inner);
        inner.split('|').map(|c| c.trim().to_string()).collect()
    }
    let separator = |line: &str| {
        let t = line.trim();
        t.starts_with('|') && t.contains('-') && t.chars().all(|c| "|-: ".contains(c))
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let is_row = |l: &str| l.trim_start().starts_with('|');
        if !(is_row(lines[i]) && lines.get(i + 1).is_some_and(|l| separator(l))) {
            out.push(lines[i].to_string());
            i += 1;
            continue;
        }
        let header = cells(lines[i]);
        let mut j = i + 2;
        let mut rows = Vec::new();
        while j < lines.len() && is_row(lines[j]) {
            rows.push(lines[j]);
            j += 1;
        }
        if header.len() < 2 {
            out.extend(lines[i..j].iter().map(|l| l.to_string()));
        } else {
            for row in rows {
                let c = cells(row);
                if c.len() != header.len() {
                    out.push(row.to_string());
                    continue;
                }
                let pairs: Vec<String> = header[1..]
                    .iter()
                    .zip(&c[1..])
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(h, v)| {
                        if h.is_empty() {
                            v.clone()
                        } else {
                            format!("{h}: {v}")
                        }
                    })
                    .collect();
                out.push(format!("{} — {}", c[0], pairs.join("; ")));
            }
        }
        i = j;
    }
    let mut joined = out.join("\n");
    if text.ends_with('\n') {
        joined.push('\n');
    }
    joined
}

/// How many characters of a passage to show once its tables are read row by row: a table's
/// lines repeat its headers, so it gets half as much room again for about as many rows.
pub fn budget(raw: &str, rendered: &str, chars: usize) -> usize {
    if rendered.len() > raw.len() {
        chars * 3 / 2
    } else {
        chars
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_read_row_by_row_with_their_headers() {
        let text = "Works and their output.\n\
                    | Works | Code | Capacity (m³/day) | Source |\n\
                    |---|:---:|---|---|\n\
                    | Kell WTW | KEL | 9,800 | River Kell |\n\
                    | Ash WTW | ASH | 48,000 | |\n\
                    | a row | that does not fit |\n\
                    After the table.";
        assert_eq!(
            tables_as_lines(text),
            "Works and their output.\n\
             Kell WTW — Code: KEL; Capacity (m³/day): 9,800; Source: River Kell\n\
             Ash WTW — Code: ASH; Capacity (m³/day): 48,000\n\
             | a row | that does not fit |\n\
             After the table."
        );
        // A key-value table names its column.
        assert_eq!(
            tables_as_lines("| Spec | Orbit 4 |\n|------|--------|\n| Weight | 870 g |\n"),
            "Weight — Orbit 4: 870 g\n"
        );
        // Bars without a header separator are not a table; text without tables is unchanged.
        let plain = "a | b\n| not | a table |\nplain";
        assert_eq!(tables_as_lines(plain), plain);
    }
}

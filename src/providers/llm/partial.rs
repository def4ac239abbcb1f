//! Reading a model's JSON output while it streams.

/// Follows a model's JSON output as it streams and yields what is new in one string field
/// (decoded), so a front end can show, say, an answer while it is written.
#[derive(Debug)]
pub struct StreamedField {
    /// The key, quoted: `"answer"`.
    key: String,
    emitted: usize,
    closed: bool,
}

impl StreamedField {
    pub fn new(key: &str) -> Self {
        Self {
            key: format!("\"{key}\""),
            emitted: 0,
            closed: false,
        }
    }

    /// `text` is everything received so far; returns the field's text not yet returned.
    pub fn feed(&mut self, text: &str) -> Option<String> {
        if self.closed {
            return None;
        }
        let start = value_start(text, &self.key)?;
        let (decoded, closed) = decode_partial_string(&text[start..]);
        self.closed = closed;
        let new: String = decoded.chars().skip(self.emitted).collect();
        self.emitted += new.chars().count();
        (!new.is_empty()).then_some(new)
    }
}

/// Byte offset just after the opening quote of `key`'s string value (`key` quoted). Inside JSON
/// strings a quote is escaped, so `"key"` followed by `:` can only be the key.
fn value_start(text: &str, key: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(key) {
        let after = from + i + key.len();
        let rest = text[after..].trim_start();
        if let Some(r) = rest.strip_prefix(':') {
            let r = r.trim_start();
            if r.starts_with('"') {
                return Some(text.len() - r.len() + 1);
            }
            if r.is_empty() {
                return None;
            }
        } else if rest.is_empty() {
            return None;
        }
        from = after;
    }
    None
}

/// Decodes a JSON string body up to its closing quote or to the end of what has arrived (an
/// escape cut in half waits for the next piece). Returns the text and whether it closed.
fn decode_partial_string(s: &str) -> (String, bool) {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return (out, true),
            '\\' => {
                let rest = chars.as_str();
                let Some(e) = rest.chars().next() else {
                    return (out, false);
                };
                chars.next();
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'b' | 'f' => {}
                    'u' => {
                        let hex: String = chars.clone().take(4).collect();
                        if hex.len() < 4 {
                            return (out, false);
                        }
                        for _ in 0..4 {
                            chars.next();
                        }
                        if let Some(ch) =
                            u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                        {
                            out.push(ch);
                        }
                    }
                    other => out.push(other),
                }
            }
            c => out.push(c),
        }
    }
    (out, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_only_the_answer_string_decoded() {
        let full = r#"{"quotes":[{"evidence":1,"quote":"say \"answer\": no"}],"answer":"Orbit 4: 19 h\n\"fast\" \u00e9 [1]."}"#;
        let mut field = StreamedField::new("answer");
        let mut got = String::new();
        // Fed in pieces of 3 bytes (on char boundaries), as a model streams.
        let mut end = 0;
        while end < full.len() {
            end = (end + 3).min(full.len());
            while !full.is_char_boundary(end) {
                end += 1;
            }
            if let Some(piece) = field.feed(&full[..end]) {
                got.push_str(&piece);
            }
        }
        assert_eq!(got, "Orbit 4: 19 h\n\"fast\" é [1].");
        assert_eq!(field.feed(&format!("{full} ")), None);
    }

    #[test]
    fn nothing_before_the_answer_key() {
        let mut field = StreamedField::new("answer");
        assert_eq!(field.feed(r#"{"quotes":[],"answ"#), None);
        assert_eq!(field.feed(r#"{"quotes":[],"answer""#), None);
        assert_eq!(field.feed(r#"{"quotes":[],"answer": "#), None);
        assert_eq!(
            field.feed(r#"{"quotes":[],"answer": "A\"#).as_deref(),
            Some("A")
        );
        assert_eq!(field.feed(r#"{"quotes":[],"answer": "A\u00"#), None);
        assert_eq!(
            field.feed(r#"{"quotes":[],"answer": "A\u00e9"#).as_deref(),
            Some("é")
        );
    }
}

//! Turns wiki files (Markdown with front matter, HTML, plain text) into [`Document`]s: a title,
//! tags, acl groups and sections of blocks, each section under its heading path.

use std::path::Path;

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use scraper::{ElementRef, Html, Node};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// What a file is, judged by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Html,
    Text,
}

impl Format {
    pub fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "md" | "markdown" | "mdown" => Some(Format::Markdown),
            "html" | "htm" => Some(Format::Html),
            "txt" | "text" => Some(Format::Text),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    Prose,
    /// A table stays whole in one chunk where it fits.
    Table,
    Code,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub kind: BlockKind,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Headings from the outermost in; the document title leads when the page has no H1.
    pub heading_path: Vec<String>,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub title: String,
    pub tags: Vec<String>,
    /// Groups allowed to read the page; empty means everyone.
    pub acl: Vec<String>,
    pub sections: Vec<Section>,
}

/// Why a file could not be loaded; the ingest report lists these by path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("empty file")]
    Empty,
    #[error("binary file (contains NUL bytes)")]
    Binary,
    #[error("not valid UTF-8 (byte offset {0})")]
    InvalidUtf8(usize),
    #[error("{size} bytes is over ingest.max_file_bytes = {limit}")]
    TooLarge { size: u64, limit: u64 },
    #[error("front matter is not valid YAML: {0}")]
    FrontMatter(String),
    #[error("no text content")]
    NoText,
}

/// sha256 of how a file is chunked (`recipe`, see `ChunkLimits::recipe`) and of its raw
/// bytes, hex: the identity of a file's chunks for incremental sync. A file whose content is
/// unchanged is still re-indexed when the chunker or the chunk sizes changed, so an upgrade
/// or a new `ingest.chunk_tokens` reaches every file on the next ingest.
pub fn source_hash(recipe: &str, bytes: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(recipe.as_bytes());
    hasher.update([0u8]);
    hasher.update(bytes);
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Parses `bytes` as `format`. `stem` (the file name without extension) is the fallback title.
pub fn load(bytes: &[u8], format: Format, stem: &str) -> Result<Document, LoadError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(LoadError::Empty);
    }
    if bytes.contains(&0) {
        return Err(LoadError::Binary);
    }
    let text = std::str::from_utf8(bytes).map_err(|e| LoadError::InvalidUtf8(e.valid_up_to()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let doc = match format {
        Format::Markdown => load_markdown(text, stem)?,
        Format::Html => load_html(text, stem),
        Format::Text => load_text(text, stem),
    };
    if doc.sections.iter().all(|s| s.blocks.is_empty()) {
        return Err(LoadError::NoText);
    }
    Ok(doc)
}

#[derive(Debug, Default, Deserialize)]
struct FrontMatter {
    title: Option<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    tags: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    acl: Vec<String>,
}

/// Accepts `tags: a, b`, `tags: [a, 2026]` or nothing; numbers and booleans become strings.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    fn scalar(v: &serde_yaml::Value) -> Option<String> {
        match v {
            serde_yaml::Value::String(s) => Some(s.trim().to_string()),
            serde_yaml::Value::Number(n) => Some(n.to_string()),
            serde_yaml::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    let value = serde_yaml::Value::deserialize(d)?;
    let items: Vec<String> = match &value {
        serde_yaml::Value::Null => Vec::new(),
        serde_yaml::Value::String(s) => s.split(',').map(|p| p.trim().to_string()).collect(),
        serde_yaml::Value::Sequence(seq) => seq
            .iter()
            .map(|v| scalar(v).ok_or_else(|| serde::de::Error::custom("expected a list of names")))
            .collect::<Result<_, _>>()?,
        other => vec![
            scalar(other).ok_or_else(|| serde::de::Error::custom("expected a list of names"))?,
        ],
    };
    Ok(items.into_iter().filter(|s| !s.is_empty()).collect())
}

/// Splits `---\nyaml\n---\n` off the top of a Markdown file.
fn split_front_matter(text: &str) -> (Option<&str>, &str) {
    let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return (None, text);
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" || line.trim_end() == "..." {
            return (Some(&rest[..offset]), &rest[offset + line.len()..]);
        }
        offset += line.len();
    }
    (None, text)
}

fn load_markdown(text: &str, stem: &str) -> Result<Document, LoadError> {
    let (yaml, body) = split_front_matter(text);
    let front: FrontMatter = match yaml {
        Some(y) if !y.trim().is_empty() => {
            serde_yaml::from_str(y).map_err(|e| LoadError::FrontMatter(e.to_string()))?
        }
        _ => FrontMatter::default(),
    };
    let mut builder = SectionBuilder::default();
    let mut first_h1: Option<String> = None;
    let mut heading: Option<(usize, String)> = None;
    let mut depth = 0usize;
    let mut block_start = 0usize;
    let mut block_kind = BlockKind::Prose;
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    for (event, range) in Parser::new_ext(body, options).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { level, .. }) if depth == 0 => {
                heading = Some((heading_rank(level), String::new()));
                depth += 1;
            }
            Event::End(TagEnd::Heading(_)) if depth == 1 => {
                depth = 0;
                if let Some((rank, title)) = heading.take() {
                    let title = title.trim().to_string();
                    if rank == 1 && first_h1.is_none() {
                        first_h1 = Some(title.clone());
                    }
                    builder.heading(rank, title);
                }
            }
            Event::Text(t) | Event::Code(t) if heading.is_some() => {
                if let Some((_, title)) = heading.as_mut() {
                    title.push_str(&t);
                }
            }
            Event::Start(tag) => {
                if depth == 0 {
                    block_start = range.start;
                    block_kind = match tag {
                        Tag::Table(_) => BlockKind::Table,
                        Tag::CodeBlock(_) => BlockKind::Code,
                        _ => BlockKind::Prose,
                    };
                }
                depth += 1;
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    builder.block(block_kind, &body[block_start..range.end]);
                }
            }
            // Top-level leaf events outside any container (raw HTML lines, rules).
            Event::Html(t) | Event::Text(t) if depth == 0 => {
                builder.block(BlockKind::Prose, &strip_tags(&t))
            }
            _ => {}
        }
    }
    let title = front
        .title
        .clone()
        .filter(|t| !t.trim().is_empty())
        .or(first_h1.clone())
        .unwrap_or_else(|| stem.to_string());
    Ok(Document {
        sections: builder.finish(&title),
        title,
        tags: front.tags,
        acl: front.acl,
    })
}

fn heading_rank(level: HeadingLevel) -> usize {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

fn strip_tags(html: &str) -> String {
    let fragment = Html::parse_fragment(html);
    fragment.root_element().text().collect::<String>()
}

/// Collects blocks under a stack of headings.
#[derive(Default)]
struct SectionBuilder {
    stack: Vec<(usize, String)>,
    /// Each section with whether its path starts at an H1.
    sections: Vec<(Section, bool)>,
}

impl SectionBuilder {
    fn heading(&mut self, rank: usize, title: String) {
        while self.stack.last().is_some_and(|(r, _)| *r >= rank) {
            self.stack.pop();
        }
        if !title.is_empty() {
            self.stack.push((rank, title));
        }
        let section = Section {
            heading_path: self.stack.iter().map(|(_, t)| t.clone()).collect(),
            blocks: Vec::new(),
        };
        let under_h1 = self.stack.first().is_some_and(|(r, _)| *r == 1);
        self.sections.push((section, under_h1));
    }

    fn block(&mut self, kind: BlockKind, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        if self.sections.is_empty() {
            self.sections.push((
                Section {
                    heading_path: Vec::new(),
                    blocks: Vec::new(),
                },
                false,
            ));
        }
        if let Some((section, _)) = self.sections.last_mut() {
            section.blocks.push(Block {
                kind,
                text: text.to_string(),
            });
        }
    }

    /// Drops empty sections and roots every path that does not start at an H1 in the title.
    fn finish(self, title: &str) -> Vec<Section> {
        self.sections
            .into_iter()
            .filter(|(s, _)| !s.blocks.is_empty())
            .map(|(mut s, under_h1)| {
                if !under_h1 && s.heading_path.first().is_none_or(|h| h != title) {
                    s.heading_path.insert(0, title.to_string());
                }
                s
            })
            .collect()
    }
}

const HTML_SKIP: &[&str] = &[
    "script", "style", "nav", "noscript", "template", "head", "footer", "header", "svg", "form",
    "button", "iframe",
];
const HTML_BLOCKS: &[&str] = &[
    "p",
    "div",
    "li",
    "dd",
    "dt",
    "blockquote",
    "section",
    "article",
    "main",
    "aside",
    "ul",
    "ol",
    "dl",
    "figure",
    "figcaption",
    "br",
    "hr",
    "body",
    "address",
    "details",
    "summary",
];

fn load_html(text: &str, stem: &str) -> Document {
    let doc = Html::parse_document(text);
    let page_title = doc
        .root_element()
        .descendants()
        .filter_map(ElementRef::wrap)
        .find(|e| e.value().name() == "title")
        .map(|e| collapse_ws(&e.text().collect::<String>()))
        .filter(|t| !t.is_empty());
    let mut walker = HtmlWalker::default();
    walker.walk(doc.root_element());
    walker.flush();
    let first_h1 = walker.first_h1.clone();
    let title = page_title
        .or(first_h1.clone())
        .unwrap_or_else(|| stem.to_string());
    Document {
        sections: walker.builder.finish(&title),
        title,
        tags: Vec::new(),
        acl: Vec::new(),
    }
}

#[derive(Default)]
struct HtmlWalker {
    builder: SectionBuilder,
    buf: String,
    first_h1: Option<String>,
}

impl HtmlWalker {
    fn walk(&mut self, el: ElementRef<'_>) {
        let name = el.value().name();
        if HTML_SKIP.contains(&name) {
            return;
        }
        if let Some(rank) = name
            .strip_prefix('h')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|r| (1..=6).contains(r))
        {
            self.flush();
            let title = collapse_ws(&el.text().collect::<String>());
            if rank == 1 && self.first_h1.is_none() {
                self.first_h1 = Some(title.clone());
            }
            self.builder.heading(rank, title);
            return;
        }
        match name {
            "table" => {
                self.flush();
                let table = html_table(el);
                self.builder.block(BlockKind::Table, &table);
                return;
            }
            "pre" => {
                self.flush();
                let code: String = el.text().collect();
                self.builder.block(BlockKind::Code, &code);
                return;
            }
            _ => {}
        }
        let is_block = HTML_BLOCKS.contains(&name);
        if is_block {
            self.flush();
        }
        if name == "li" {
            self.buf.push_str("- ");
        }
        for child in el.children() {
            match child.value() {
                Node::Text(t) => self.buf.push_str(t),
                Node::Element(_) => {
                    if let Some(e) = ElementRef::wrap(child) {
                        self.walk(e);
                    }
                }
                _ => {}
            }
        }
        if is_block {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let text = collapse_ws(&self.buf);
        self.buf.clear();
        if !text.is_empty() && text != "-" {
            self.builder.block(BlockKind::Prose, &text);
        }
    }
}

/// Renders an HTML table as Markdown-style rows so it reads the same as a Markdown table.
fn html_table(table: ElementRef<'_>) -> String {
    let mut lines = Vec::new();
    for (i, row) in table
        .descendants()
        .filter_map(ElementRef::wrap)
        .filter(|e| e.value().name() == "tr")
        .enumerate()
    {
        let cells: Vec<String> = row
            .children()
            .filter_map(ElementRef::wrap)
            .filter(|c| matches!(c.value().name(), "td" | "th"))
            .map(|c| collapse_ws(&c.text().collect::<String>()))
            .collect();
        lines.push(format!("| {} |", cells.join(" | ")));
        if i == 0 {
            lines.push(format!("|{}", " --- |".repeat(cells.len().max(1))));
        }
    }
    lines.join("\n")
}

fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn load_text(text: &str, stem: &str) -> Document {
    let mut builder = SectionBuilder::default();
    for para in text.split("\n\n") {
        builder.block(BlockKind::Prose, para);
    }
    Document {
        sections: builder.finish(stem),
        title: stem.to_string(),
        tags: Vec::new(),
        acl: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(text: &str) -> Document {
        load(text.as_bytes(), Format::Markdown, "page").unwrap()
    }

    #[test]
    fn markdown_front_matter_and_heading_paths() {
        let doc = md(
            "---\ntitle: Orbit 4\ntags: [product, tablet]\nacl: [finance]\n---\n\
             # Orbit 4\n\nIntro text.\n\n## Pricing\n\nIt costs $2,450.\n\n### Discounts\n\n- 10% for schools\n\n## Battery\n\n19 hours.\n",
        );
        assert_eq!(doc.title, "Orbit 4");
        assert_eq!(doc.tags, vec!["product", "tablet"]);
        assert_eq!(doc.acl, vec!["finance"]);
        let paths: Vec<String> = doc
            .sections
            .iter()
            .map(|s| s.heading_path.join(" > "))
            .collect();
        assert_eq!(
            paths,
            vec![
                "Orbit 4",
                "Orbit 4 > Pricing",
                "Orbit 4 > Pricing > Discounts",
                "Orbit 4 > Battery"
            ]
        );
        assert_eq!(doc.sections[2].blocks[0].text, "- 10% for schools");
    }

    #[test]
    fn markdown_without_h1_uses_title_as_root_and_keeps_tables_whole() {
        let doc = md(
            "---\ntitle: Specs\n---\n## Battery\n\n| Model | Hours |\n|---|---|\n| A | 14 |\n| B | 19 |\n\n```\n# not a heading\n```\n",
        );
        assert_eq!(doc.sections.len(), 1);
        assert_eq!(doc.sections[0].heading_path, vec!["Specs", "Battery"]);
        let blocks = &doc.sections[0].blocks;
        assert_eq!(blocks[0].kind, BlockKind::Table);
        assert!(blocks[0].text.contains("| B | 19 |"));
        assert_eq!(blocks[1].kind, BlockKind::Code);
        assert!(blocks[1].text.contains("# not a heading"));
    }

    #[test]
    fn markdown_title_falls_back_to_h1_then_file_stem() {
        assert_eq!(md("# Hello\n\ntext").title, "Hello");
        assert_eq!(md("just text").title, "page");
        assert_eq!(md("just text").sections[0].heading_path, vec!["page"]);
    }

    #[test]
    fn bad_front_matter_is_an_error_not_a_silent_public_page() {
        let err = load(b"---\nacl: [hr\n---\nsecret", Format::Markdown, "x").unwrap_err();
        assert!(matches!(err, LoadError::FrontMatter(_)), "{err:?}");
    }

    #[test]
    fn numeric_tags_are_strings_and_nested_acl_is_an_error() {
        let doc = md("---\ntags: [budget, 2026, true]\n---\ntext");
        assert_eq!(doc.tags, vec!["budget", "2026", "true"]);
        let err = load(b"---\nacl: [[hr]]\n---\nx", Format::Markdown, "x").unwrap_err();
        assert!(matches!(err, LoadError::FrontMatter(_)), "{err:?}");
    }

    #[test]
    fn acl_as_comma_string() {
        let doc = md("---\nacl: hr, finance\n---\ntext");
        assert_eq!(doc.acl, vec!["hr", "finance"]);
    }

    #[test]
    fn html_drops_scripts_and_nav_and_keeps_headings() {
        let html = r#"<html><head><title>VPN</title><style>p{color:red}</style></head>
            <body><nav><a href="/">Home</a></nav><h1>VPN setup</h1><p>Use Quillnet.</p>
            <script>alert("x")</script><h2>Ports</h2><p>UDP <b>51820</b> must be open.</p>
            <ul><li>one</li><li>two</li></ul>
            <table><tr><th>Port</th><th>Use</th></tr><tr><td>51820</td><td>wg</td></tr></table>
            </body></html>"#;
        let doc = load(html.as_bytes(), Format::Html, "vpn").unwrap();
        assert_eq!(doc.title, "VPN");
        let all: String = doc
            .sections
            .iter()
            .flat_map(|s| s.blocks.iter().map(|b| b.text.clone()))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!all.contains("alert"), "{all}");
        assert!(!all.contains("color:red"), "{all}");
        assert!(!all.contains("Home"), "{all}");
        assert!(all.contains("UDP 51820 must be open."), "{all}");
        assert!(all.contains("- one"), "{all}");
        let ports = doc
            .sections
            .iter()
            .find(|s| s.heading_path.last().map(String::as_str) == Some("Ports"))
            .unwrap();
        assert_eq!(ports.heading_path, vec!["VPN setup", "Ports"]);
        assert!(
            ports
                .blocks
                .iter()
                .any(|b| b.kind == BlockKind::Table && b.text.contains("| 51820 | wg |"))
        );
    }

    #[test]
    fn broken_inputs_are_errors_not_panics() {
        assert_eq!(load(b"", Format::Text, "x"), Err(LoadError::Empty));
        assert_eq!(load(b"  \n", Format::Markdown, "x"), Err(LoadError::Empty));
        assert_eq!(load(b"ab\0cd", Format::Text, "x"), Err(LoadError::Binary));
        assert_eq!(
            load(b"ok \xff\xfe", Format::Text, "x"),
            Err(LoadError::InvalidUtf8(3))
        );
        assert_eq!(
            load(b"<html><script>x</script></html>", Format::Html, "x"),
            Err(LoadError::NoText)
        );
    }

    #[test]
    fn text_files_split_into_paragraphs() {
        let doc = load(b"one\ntwo\n\nthree", Format::Text, "notes").unwrap();
        assert_eq!(doc.title, "notes");
        assert_eq!(doc.sections[0].blocks.len(), 2);
    }

    #[test]
    fn source_hash_is_sha256_hex_of_the_recipe_and_the_bytes() {
        let h = source_hash("chunker 2", b"abc");
        assert_eq!(h.len(), 64);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(h, source_hash("chunker 2", b"abc"));
        assert_ne!(h, source_hash("chunker 3", b"abc"));
        assert_ne!(h, source_hash("chunker 2", b"abd"));
    }
}

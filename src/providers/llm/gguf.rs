//! Reads the few GGUF header fields skiff needs before handing a file to mistral.rs: the
//! architecture (mistral.rs panics on ones it does not know, so we check first) and the ids of
//! the end-of-turn tokens (generation must stop on them, not only on EOS).

use std::io::{BufReader, Read};
use std::path::Path;

/// Architectures mistral.rs 0.8 loads from GGUF.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &[
    "llama",
    "mistral3",
    "phi2",
    "phi3",
    "starcoder2",
    "qwen2",
    "qwen3",
    "qwen3moe",
];

/// Tokens that end an assistant turn in the chat templates we know.
const END_OF_TURN: &[&str] = &["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufInfo {
    pub architecture: String,
    pub name: Option<String>,
    pub eos_token_id: Option<u32>,
    /// EOS plus every known end-of-turn token present in the vocabulary.
    pub stop_token_ids: Vec<u32>,
    pub has_chat_template: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("{path}: {message}")]
    Read { path: String, message: String },
}

const MAX_STRING: u64 = 64 << 20;
const MAX_ARRAY: u64 = 16 << 20;

struct Reader<R: Read> {
    inner: R,
}

impl<R: Read> Reader<R> {
    fn bytes<const N: usize>(&mut self) -> std::io::Result<[u8; N]> {
        let mut b = [0u8; N];
        self.inner.read_exact(&mut b)?;
        Ok(b)
    }
    fn u32(&mut self) -> std::io::Result<u32> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }
    fn u64(&mut self) -> std::io::Result<u64> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }
    fn string(&mut self) -> std::io::Result<String> {
        let len = self.u64()?;
        if len > MAX_STRING {
            return Err(std::io::Error::other(format!("string of {len} bytes")));
        }
        let mut buf = vec![0u8; len as usize];
        self.inner.read_exact(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
    fn skip(&mut self, n: u64) -> std::io::Result<()> {
        std::io::copy(&mut (&mut self.inner).take(n), &mut std::io::sink())?;
        Ok(())
    }
}

#[derive(Debug)]
enum Value {
    Uint(u64),
    Str(String),
    Strings(Vec<String>),
    Other,
}

fn scalar_size(ty: u32) -> Option<u64> {
    match ty {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}

fn read_value<R: Read>(r: &mut Reader<R>, ty: u32, keep_strings: bool) -> std::io::Result<Value> {
    match ty {
        4 => Ok(Value::Uint(u64::from(r.u32()?))),
        10 => Ok(Value::Uint(r.u64()?)),
        8 => Ok(Value::Str(r.string()?)),
        9 => {
            let elem = r.u32()?;
            let count = r.u64()?;
            if count > MAX_ARRAY {
                return Err(std::io::Error::other(format!("array of {count} items")));
            }
            if elem == 8 {
                let mut items = Vec::new();
                for _ in 0..count {
                    let s = r.string()?;
                    if keep_strings {
                        items.push(s);
                    }
                }
                Ok(if keep_strings {
                    Value::Strings(items)
                } else {
                    Value::Other
                })
            } else if let Some(size) = scalar_size(elem) {
                r.skip(size * count)?;
                Ok(Value::Other)
            } else {
                Err(std::io::Error::other(format!("array of type {elem}")))
            }
        }
        other => match scalar_size(other) {
            Some(size) => {
                r.skip(size)?;
                Ok(Value::Other)
            }
            None => Err(std::io::Error::other(format!("value type {other}"))),
        },
    }
}

/// Reads the header of a GGUF file (no tensor data). Blocking.
pub fn read_info(path: &Path) -> Result<GgufInfo, GgufError> {
    let err = |message: String| GgufError::Read {
        path: path.display().to_string(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let mut r = Reader {
        inner: BufReader::new(file),
    };
    let io = |e: std::io::Error| err(format!("malformed GGUF header: {e}"));
    let magic: [u8; 4] = r.bytes().map_err(io)?;
    if &magic != b"GGUF" {
        return Err(err("not a GGUF file (bad magic)".into()));
    }
    let version = r.u32().map_err(io)?;
    if !(2..=3).contains(&version) {
        return Err(err(format!("unsupported GGUF version {version}")));
    }
    let _tensors = r.u64().map_err(io)?;
    let kv_count = r.u64().map_err(io)?;
    let mut architecture = None;
    let mut name = None;
    let mut eos = None;
    let mut tokens = Vec::new();
    let mut has_chat_template = false;
    for _ in 0..kv_count {
        let key = r.string().map_err(io)?;
        let ty = r.u32().map_err(io)?;
        let value = read_value(&mut r, ty, key == "tokenizer.ggml.tokens").map_err(io)?;
        match (key.as_str(), value) {
            ("general.architecture", Value::Str(s)) => architecture = Some(s),
            ("general.name", Value::Str(s)) => name = Some(s),
            ("tokenizer.ggml.eos_token_id", Value::Uint(n)) => eos = u32::try_from(n).ok(),
            ("tokenizer.ggml.tokens", Value::Strings(t)) => tokens = t,
            ("tokenizer.chat_template", Value::Str(_)) => has_chat_template = true,
            _ => {}
        }
    }
    let architecture =
        architecture.ok_or_else(|| err("no general.architecture in the header".into()))?;
    let mut stop_token_ids: Vec<u32> = eos.into_iter().collect();
    for (id, token) in tokens.iter().enumerate() {
        if let (true, Ok(id)) = (END_OF_TURN.contains(&token.as_str()), u32::try_from(id))
            && !stop_token_ids.contains(&id)
        {
            stop_token_ids.push(id);
        }
    }
    Ok(GgufInfo {
        architecture,
        name,
        eos_token_id: eos,
        stop_token_ids,
        has_chat_template,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv_string(out: &mut Vec<u8>, key: &str, value: &str) {
        out.extend((key.len() as u64).to_le_bytes());
        out.extend(key.as_bytes());
        out.extend(8u32.to_le_bytes());
        out.extend((value.len() as u64).to_le_bytes());
        out.extend(value.as_bytes());
    }

    fn header(kvs: u64) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(3u32.to_le_bytes());
        out.extend(0u64.to_le_bytes());
        out.extend(kvs.to_le_bytes());
        out
    }

    #[test]
    fn reads_architecture_eos_and_end_of_turn_tokens() {
        let mut b = header(4);
        kv_string(&mut b, "general.architecture", "qwen2");
        // eos id (u32)
        let key = "tokenizer.ggml.eos_token_id";
        b.extend((key.len() as u64).to_le_bytes());
        b.extend(key.as_bytes());
        b.extend(4u32.to_le_bytes());
        b.extend(2u32.to_le_bytes());
        // tokens array
        let key = "tokenizer.ggml.tokens";
        b.extend((key.len() as u64).to_le_bytes());
        b.extend(key.as_bytes());
        b.extend(9u32.to_le_bytes());
        b.extend(8u32.to_le_bytes());
        let toks = ["a", "b", "<|endoftext|>", "<|im_end|>"];
        b.extend((toks.len() as u64).to_le_bytes());
        for t in toks {
            b.extend((t.len() as u64).to_le_bytes());
            b.extend(t.as_bytes());
        }
        kv_string(&mut b, "tokenizer.chat_template", "{{x}}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.gguf");
        std::fs::write(&p, b).unwrap();
        let info = read_info(&p).unwrap();
        assert_eq!(info.architecture, "qwen2");
        assert_eq!(info.eos_token_id, Some(2));
        assert_eq!(info.stop_token_ids, vec![2, 3]);
        assert!(info.has_chat_template);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.gguf");
        std::fs::write(&p, b"not a model").unwrap();
        assert!(read_info(&p).unwrap_err().to_string().contains("bad magic"));
        let mut b = header(1);
        b.extend(u64::MAX.to_le_bytes());
        std::fs::write(&p, b).unwrap();
        assert!(read_info(&p).unwrap_err().to_string().contains("malformed"));
    }
}

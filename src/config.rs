//! Typed settings: compiled-in defaults, then `config.toml`, then `SKIFF__SECTION__KEY` env
//! overrides, validated once at start so a bad key or value is one clear error naming it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Prefix of environment overrides: `SKIFF__INGEST__CHUNK_TOKENS=300` sets `ingest.chunk_tokens`.
pub const ENV_PREFIX: &str = "SKIFF__";

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{origin}: key `{key}`: {message}")]
    Key {
        origin: String,
        key: String,
        message: String,
    },
    #[error(
        "environment variable {var}: `{key}` is not a config section.key \
         (expected {ENV_PREFIX}SECTION__KEY, e.g. SKIFF__STORE__DATA_DIR)"
    )]
    EnvKey { var: String, key: String },
    #[error("{key} = {value}: {message}{origin}")]
    Invalid {
        key: &'static str,
        value: String,
        message: String,
        /// " (from FILE ...)" when known.
        origin: String,
    },
    #[error("{key}: {path} not found. {hint}")]
    MissingFile {
        key: &'static str,
        path: PathBuf,
        hint: &'static str,
    },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub store: StoreConfig,
    pub models: ModelsConfig,
    pub embed: EmbedConfig,
    pub ingest: IngestConfig,
    pub search: SearchConfig,
    pub roles: RolesConfig,
    pub agent: AgentConfig,
    pub costs: CostsConfig,
    pub server: ServerConfig,
    pub telegram: TelegramConfig,
    pub slack: SlackConfig,
    pub access: AccessConfig,
}

/// Who may read which acl groups, per identity: `telegram:<user id>`, `slack:<user id>`,
/// `web:<token name>` (tokens from `server.tokens_env`), or `web` (the single shared token).
/// A front end's own `groups` apply to all its users; these add to them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    pub identities: BTreeMap<String, Vec<String>>,
}

impl AccessConfig {
    /// `base` (the front end's groups) plus the identity's own, without duplicates.
    pub fn groups_for(&self, identity: &str, base: &[String]) -> Vec<String> {
        let mut groups: Vec<String> = base.to_vec();
        for g in self.identities.get(identity).into_iter().flatten() {
            if !groups.contains(g) {
                groups.push(g.clone());
            }
        }
        groups
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// Embedded qdrant-edge shard on disk under `data_dir`: no server needed.
    Edge,
    /// A Qdrant server or cluster over gRPC (`[store.qdrant]`).
    Qdrant,
}

impl StoreBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            StoreBackend::Edge => "edge",
            StoreBackend::Qdrant => "qdrant",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    pub backend: StoreBackend,
    /// Where the embedded store and caches live. Relative paths resolve against the directory
    /// of the config file that set them (or the working directory for `--data-dir`).
    pub data_dir: PathBuf,
    /// Collection name (the folder name of the embedded store).
    pub collection: String,
    /// The Qdrant server/cluster, used when `backend = "qdrant"` (and by `store migrate`).
    pub qdrant: QdrantConfig,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: StoreBackend::Edge,
            data_dir: PathBuf::from("data"),
            collection: "wiki".into(),
            qdrant: QdrantConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QdrantConfig {
    /// gRPC URL of the server (port 6334 by default; https:// for TLS).
    pub url: String,
    /// Collection on the server (default: store.collection).
    pub collection: Option<String>,
    /// Name of the environment variable holding the API key (unset or empty = no auth).
    pub api_key_env: String,
    /// Shards of a new collection (a cluster spreads them over its nodes).
    pub shards: u32,
    /// Copies of every shard in a cluster (1 = no replication).
    pub replication_factor: u32,
    /// Replicas that must acknowledge a write (at most `replication_factor`).
    pub write_consistency_factor: u32,
    /// Seconds one request may take.
    pub timeout_secs: u64,
    /// Seconds to wait for the connection.
    pub connect_timeout_secs: u64,
}

impl Default for QdrantConfig {
    fn default() -> Self {
        Self {
            url: "http://localhost:6334".into(),
            collection: None,
            api_key_env: "SKIFF_QDRANT_API_KEY".into(),
            shards: 1,
            replication_factor: 1,
            write_consistency_factor: 1,
            timeout_secs: 30,
            connect_timeout_secs: 5,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// Folder that `scripts/fetch-models.sh` fills; relative model paths resolve against it.
    pub dir: PathBuf,
    /// Chat models run in-process (mistral.rs), by name.
    pub local: BTreeMap<String, LocalModelConfig>,
    /// Chat models behind an OpenAI-compatible endpoint, by name.
    pub remote: BTreeMap<String, RemoteModelConfig>,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        let local = |file: &str| LocalModelConfig {
            file: PathBuf::from(file),
            ..LocalModelConfig::default()
        };
        Self {
            dir: PathBuf::from("/var/tmp/skiff-models"),
            local: BTreeMap::from([
                (
                    "qwen-1_5b".to_string(),
                    local("gguf/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
                ),
                (
                    "qwen-0_5b".to_string(),
                    local("gguf/qwen2.5-coder-0.5b-instruct.gguf"),
                ),
                (
                    "smollm2".to_string(),
                    local("gguf/smollm2-135m-instruct-q4_1.gguf"),
                ),
            ]),
            remote: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalModelConfig {
    /// GGUF file (relative to `models.dir`).
    pub file: PathBuf,
    /// Sequences decoded together.
    pub max_concurrent: usize,
    /// Requests admitted at once (running + waiting); more get a "busy" error.
    pub queue: usize,
    /// Seconds one request may take, queue wait included.
    pub timeout_secs: u64,
    /// Finished sequences whose KV cache is kept, so a later prompt that starts with the same
    /// text (a role's system prompt) skips that part of the prefill; oldest evicted first; 0 =
    /// no prefix cache. Each kept sequence holds its KV cache (about 56 KiB per token for the
    /// 1.5B, in f32 on a CPU).
    pub prefix_cache: usize,
}

impl Default for LocalModelConfig {
    fn default() -> Self {
        Self {
            file: PathBuf::new(),
            max_concurrent: 2,
            queue: 16,
            timeout_secs: 600,
            prefix_cache: 8,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemoteModelConfig {
    /// OpenAI-compatible base URL including the version, e.g. `http://10.0.0.5:8000/v1`.
    pub base_url: String,
    /// Model name the server expects.
    pub model: String,
    /// Name of the environment variable holding the API key (unset = no auth).
    pub api_key_env: Option<String>,
    /// Seconds one request may take, retries included (default 120).
    pub timeout_secs: Option<u64>,
    /// Price in USD per million prompt tokens (for the ledger; 0 = free/unknown).
    pub input_usd_per_mtok: f64,
    /// Price in USD per million generated tokens.
    pub output_usd_per_mtok: f64,
}

/// Which model plays each part of the pipeline (names from `models.local` / `models.remote`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RolesConfig {
    /// Breaks a question into a plan of tool steps.
    pub planner: String,
    /// Reads passages and returns typed values.
    pub extractor: String,
    /// Writes the final answer with citations.
    pub synthesizer: String,
}

impl Default for RolesConfig {
    fn default() -> Self {
        Self {
            planner: "qwen-1_5b".into(),
            extractor: "qwen-1_5b".into(),
            synthesizer: "qwen-1_5b".into(),
        }
    }
}

/// The parts of the pipeline a model can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelRole {
    Planner,
    Extractor,
    Synthesizer,
}

impl ModelRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelRole::Planner => "planner",
            ModelRole::Extractor => "extractor",
            ModelRole::Synthesizer => "synthesizer",
        }
    }
}

/// A role's model, resolved from the config.
#[derive(Debug, Clone)]
pub enum ModelSpec {
    Local {
        name: String,
        path: PathBuf,
        config: LocalModelConfig,
    },
    Remote {
        name: String,
        config: RemoteModelConfig,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedConfig {
    /// Folder with model.onnx, tokenizer.json, config.json, special_tokens_map.json,
    /// tokenizer_config.json (relative to `models.dir`).
    pub model: PathBuf,
    /// ONNX Runtime shared library (relative to `models.dir`).
    pub onnxruntime: PathBuf,
    /// Texts per inference batch.
    pub batch_size: usize,
    /// Inference threads; 0 = every core.
    pub threads: usize,
    /// Longest input in tokens; longer inputs are truncated by the tokenizer.
    pub max_length: usize,
}

impl Default for EmbedConfig {
    fn default() -> Self {
        Self {
            model: PathBuf::from("minilm"),
            onnxruntime: PathBuf::from("onnxruntime/libonnxruntime.so"),
            batch_size: 32,
            threads: 0,
            max_length: 256,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Upper bound of a chunk in embedding-model tokens, heading path included.
    pub chunk_tokens: usize,
    /// Tokens of the previous chunk repeated at the start of the next one in a section.
    pub overlap_tokens: usize,
    /// Files larger than this are reported and skipped.
    pub max_file_bytes: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            chunk_tokens: 200,
            overlap_tokens: 24,
            max_file_bytes: 2 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// Hits returned when `-k` is not given.
    pub k: usize,
    /// Candidates each of the dense and keyword retrievers contribute before fusion.
    pub prefetch: usize,
    /// Characters of chunk text shown in the human-readable hit list.
    pub snippet_chars: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            k: 5,
            prefetch: 40,
            snippet_chars: 220,
        }
    }
}

/// How `ask` plans, runs and answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// Most steps a plan may have.
    pub max_steps: usize,
    /// Plan steps run at once (independent steps only).
    pub max_parallel: usize,
    /// Hits each search step keeps as evidence.
    pub search_k: usize,
    /// Characters of one passage shown to the extractor and the synthesizer.
    pub passage_chars: usize,
    /// Seconds the planner may take for one plan.
    pub planner_timeout_secs: u64,
    /// Seconds the synthesizer may take for the answer.
    pub synthesis_timeout_secs: u64,
    /// Longest answer in tokens.
    pub answer_max_tokens: u32,
    /// When the answer is written without computed facts, each passage is shown as its this
    /// many lines closest in meaning to the question (by the embedder), in page order;
    /// 0 = whole passages.
    pub passage_lines: usize,
    /// Earlier turns of a conversation the planner and synthesizer see.
    pub history_turns: usize,
    /// Ask the planner again, once, when its plan cannot be used (a repair round with the
    /// reason) and when a step of its plan fails (a re-plan with the failure). Off by
    /// default: with the 1.5B planner no second plan ever led to a right answer in the
    /// measured runs (README, Answer quality), and each costs a planner call and often a
    /// second run of every step. Worth trying with a larger planner.
    pub replan: bool,
    /// Send an extracted value that fails verification (its quote not in the passage, its
    /// number not in the quote, its thing not named) back to the extractor once for
    /// correction before dropping it. Off by default: with the 1.5B extractor no corrected
    /// value ever verified in the measured runs (README, Answer quality), and each round is a
    /// whole extractor call whose answer also replaces the values that had verified.
    pub extract_corrections: bool,
    /// "auto" routes simple questions straight to search + answer; "plan" always plans;
    /// "direct" never plans.
    pub route: RouteMode,
    /// The date questions are answered on, YYYY-MM-DD ("last year", "how many days until");
    /// "" (the default) is today's date by the clock. Set it to re-run an evaluation as of
    /// the day its questions were written.
    pub today: String,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            max_steps: 14,
            max_parallel: 2,
            search_k: 5,
            passage_chars: 1000,
            planner_timeout_secs: 600,
            synthesis_timeout_secs: 600,
            answer_max_tokens: 400,
            passage_lines: 4,
            history_turns: 3,
            replan: false,
            extract_corrections: false,
            route: RouteMode::Auto,
            today: String::new(),
        }
    }
}

impl AgentConfig {
    /// The day questions are answered on, as days since 1970-01-01 (UTC): `today`, or
    /// the clock when it is empty.
    pub fn today(&self) -> i64 {
        crate::dates::parse_iso(&self.today).unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| (d.as_secs() / 86_400) as i64)
                .unwrap_or(0)
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RouteMode {
    Auto,
    Plan,
    Direct,
}

/// `skiff serve`: the web chat page, its JSON/SSE API and the OpenAI-compatible API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on (`SKIFF__SERVER__LISTEN`); port 0 picks a free one.
    pub listen: String,
    /// Environment variable holding the bearer token every route but /healthz (and the page's
    /// static files) requires. Unset or empty: no token, allowed only on a loopback address.
    pub token_env: String,
    /// Environment variable holding named tokens, one `name=token` per line or comma-separated:
    /// each caller is the identity `web:<name>` for `[access.identities]`.
    pub tokens_env: String,
    /// Serve without a token on a non-loopback address (not recommended).
    pub allow_open: bool,
    /// Acl groups web users may read besides public pages.
    pub groups: Vec<String>,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Questions per minute per token (or per client address without a token); 0 = no limit.
    pub rate_per_minute: u32,
    /// Seconds one answer may take before the request fails with 504.
    pub request_timeout_secs: u64,
    /// Answers in progress at once; more are refused with 503 (the models queue the rest).
    pub max_in_flight: usize,
    /// On SIGTERM/Ctrl-C, seconds in-flight answers get to finish before they are cancelled.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            token_env: "SKIFF_WEB_TOKEN".into(),
            tokens_env: "SKIFF_WEB_TOKENS".into(),
            allow_open: false,
            groups: Vec::new(),
            max_body_bytes: 64 * 1024,
            rate_per_minute: 30,
            request_timeout_secs: 900,
            max_in_flight: 8,
            shutdown_grace_secs: 30,
        }
    }
}

/// `skiff telegram`: a long-polling Telegram bot.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelegramConfig {
    /// Environment variable holding the bot token from @BotFather.
    pub token_env: String,
    /// Bot API server (a self-hosted Bot API server, or a stub in tests).
    pub api_url: String,
    /// Telegram user ids allowed to ask (in any chat).
    pub allow_users: Vec<i64>,
    /// Chat ids (groups) whose members may ask there.
    pub allow_chats: Vec<i64>,
    /// Acl groups the bot's users may read besides public pages.
    pub groups: Vec<String>,
    /// Longest message sent; longer answers are split (Telegram's limit is 4096).
    pub message_chars: usize,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        Self {
            token_env: "SKIFF_TELEGRAM_TOKEN".into(),
            api_url: "https://api.telegram.org".into(),
            allow_users: Vec::new(),
            allow_chats: Vec::new(),
            groups: Vec::new(),
            message_chars: 4096,
        }
    }
}

/// `skiff slack`: the Slack Events API endpoint and the Web API it answers through.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlackConfig {
    /// Address and port of the Events API endpoint (`POST /slack/events`).
    pub listen: String,
    /// Environment variable holding the app's signing secret.
    pub signing_secret_env: String,
    /// Environment variable holding the bot token (xoxb-...).
    pub bot_token_env: String,
    /// Slack Web API base URL.
    pub api_url: String,
    /// Acl groups Slack users may read besides public pages.
    pub groups: Vec<String>,
    /// How often the Slack user groups are re-read (only when `[access.identities]` has
    /// `slack-group:<id>` keys; needs the usergroups:read scope).
    pub usergroups_refresh_secs: u64,
}

impl Default for SlackConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:3000".into(),
            signing_secret_env: "SKIFF_SLACK_SIGNING_SECRET".into(),
            bot_token_env: "SKIFF_SLACK_BOT_TOKEN".into(),
            api_url: "https://slack.com/api".into(),
            groups: Vec::new(),
            usergroups_refresh_secs: 300,
        }
    }
}

/// Prices for the ledger's cost estimate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CostsConfig {
    /// What one CPU core-hour costs on this machine (local models are priced by CPU time).
    pub cpu_core_hour_usd: f64,
    /// Cores a local model keeps busy while it runs (0 = every core).
    pub local_cores: usize,
    /// A hosted API's price per million prompt tokens, to show what local calls would have
    /// cost there.
    pub reference_input_usd_per_mtok: f64,
    /// The same API's price per million generated tokens.
    pub reference_output_usd_per_mtok: f64,
}

impl Default for CostsConfig {
    fn default() -> Self {
        Self {
            cpu_core_hour_usd: 0.04,
            local_cores: 0,
            reference_input_usd_per_mtok: 0.40,
            reference_output_usd_per_mtok: 1.60,
        }
    }
}

/// Where a config came from, for error messages and relative paths.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    /// The file that was read, if any (the default ./config.toml may be absent).
    pub file: Option<PathBuf>,
}

impl Config {
    /// Loads defaults, then `file` (required when `explicit`), then env overrides from `env`,
    /// resolves relative paths and validates.
    pub fn load(
        file: &Path,
        explicit: bool,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<LoadedConfig, ConfigError> {
        let (mut table, origin, read_file) = match std::fs::read_to_string(file) {
            Ok(text) => {
                let table: toml::Table =
                    toml::from_str(&text).map_err(|e| ConfigError::Syntax {
                        path: file.to_path_buf(),
                        message: e.to_string(),
                    })?;
                (table, file.display().to_string(), Some(file.to_path_buf()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                (toml::Table::new(), "defaults".to_string(), None)
            }
            Err(error) => {
                return Err(ConfigError::Read {
                    path: file.to_path_buf(),
                    error,
                });
            }
        };
        let overridden = apply_env(&mut table, env)?;
        let origin = if overridden.is_empty() {
            origin
        } else {
            format!("{origin} (with env {})", overridden.join(", "))
        };
        let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| ConfigError::Key {
                origin: origin.clone(),
                key: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        let base = read_file
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        config.store.data_dir = resolve(&base, &config.store.data_dir);
        config.models.dir = resolve(&base, &config.models.dir);
        config.validate().map_err(|e| match e {
            ConfigError::Invalid {
                key,
                value,
                message,
                ..
            } => ConfigError::Invalid {
                key,
                value,
                message,
                origin: format!(" (set in {origin})"),
            },
            other => other,
        })?;
        Ok(LoadedConfig {
            config,
            file: read_file,
        })
    }

    /// Checks values that parse but make no sense; file existence is checked by
    /// [`Config::embed_files`] only when a command needs the model.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.ingest.validate(&self.embed)?;
        self.embed.validate()?;
        self.search.validate()?;
        self.server.validate()?;
        self.slack.validate()?;
        self.telegram.validate()?;
        self.agent.validate()?;
        self.costs.validate()?;
        self.models.validate(&self.roles)?;
        self.store.validate()?;
        self.access.validate()
    }

    /// The model a role uses, with its file checked to exist for local models.
    pub fn model_for(&self, role: ModelRole) -> Result<ModelSpec, ConfigError> {
        let name = match role {
            ModelRole::Planner => &self.roles.planner,
            ModelRole::Extractor => &self.roles.extractor,
            ModelRole::Synthesizer => &self.roles.synthesizer,
        };
        if let Some(local) = self.models.local.get(name) {
            let path = resolve(&self.models.dir, &local.file);
            if !path.is_file() {
                return Err(ConfigError::MissingFile {
                    key: "models.local.*.file",
                    path,
                    hint: "Run scripts/fetch-models.sh --only chat, or point the model's `file` \
                           at your GGUF.",
                });
            }
            return Ok(ModelSpec::Local {
                name: name.clone(),
                path,
                config: local.clone(),
            });
        }
        match self.models.remote.get(name) {
            Some(remote) => Ok(ModelSpec::Remote {
                name: name.clone(),
                config: remote.clone(),
            }),
            None => Err(ConfigError::Invalid {
                key: "roles",
                value: name.clone(),
                message: "unknown model".into(),
                origin: String::new(),
            }),
        }
    }

    /// The embedding model's files, checked to exist.
    pub fn embed_files(&self) -> Result<EmbedFiles, ConfigError> {
        const HINT: &str = "Run scripts/fetch-models.sh, or point the key at your copy \
                            (config.toml, or the SKIFF__SECTION__KEY env variable).";
        let dir = resolve(&self.models.dir, &self.embed.model);
        let need = |key: &'static str, path: PathBuf| {
            if path.is_file() {
                Ok(path)
            } else {
                Err(ConfigError::MissingFile {
                    key,
                    path,
                    hint: HINT,
                })
            }
        };
        Ok(EmbedFiles {
            onnx: need("embed.model", dir.join("model.onnx"))?,
            tokenizer: need("embed.model", dir.join("tokenizer.json"))?,
            config: need("embed.model", dir.join("config.json"))?,
            special_tokens_map: need("embed.model", dir.join("special_tokens_map.json"))?,
            tokenizer_config: need("embed.model", dir.join("tokenizer_config.json"))?,
            onnxruntime: need(
                "embed.onnxruntime",
                resolve(&self.models.dir, &self.embed.onnxruntime),
            )?,
        })
    }
}

/// Paths of everything the embedding model needs, all known to exist.
#[derive(Debug, Clone)]
pub struct EmbedFiles {
    pub onnx: PathBuf,
    pub tokenizer: PathBuf,
    pub config: PathBuf,
    pub special_tokens_map: PathBuf,
    pub tokenizer_config: PathBuf,
    pub onnxruntime: PathBuf,
}

fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// Overlays `SKIFF__SECTION__KEY=value` variables onto the table; values parse as TOML
/// scalars/arrays where they can (`300`, `true`, `["a","b"]`) and as strings otherwise.
/// Returns the names of the variables applied.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<String>, ConfigError> {
    let vars: BTreeMap<String, String> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    let mut applied = Vec::new();
    for (var, raw) in vars {
        let path: Vec<String> = var[ENV_PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if path.len() < 2 || path.iter().any(String::is_empty) {
            return Err(ConfigError::EnvKey {
                key: path.join("."),
                var,
            });
        }
        let value = parse_env_value(&raw);
        let mut node = &mut *table;
        for part in &path[..path.len() - 1] {
            let entry = node
                .entry(part.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            node = match entry {
                toml::Value::Table(t) => t,
                _ => {
                    return Err(ConfigError::EnvKey {
                        key: path.join("."),
                        var,
                    });
                }
            };
        }
        if let Some(last) = path.last() {
            node.insert(last.clone(), value);
        }
        applied.push(var);
    }
    Ok(applied)
}

fn parse_env_value(raw: &str) -> toml::Value {
    #[derive(Deserialize)]
    struct Probe {
        v: toml::Value,
    }
    toml::from_str::<Probe>(&format!("v = {raw}"))
        .map(|p| p.v)
        .unwrap_or_else(|_| toml::Value::String(raw.to_string()))
}

/// A setting that cannot work: the key, what it was, and what it must be.
fn bad(key: &'static str, value: &dyn std::fmt::Display, message: &str) -> ConfigError {
    ConfigError::Invalid {
        key,
        value: value.to_string(),
        message: message.to_string(),
        origin: String::new(),
    }
}

/// `value` must lie in `range` (both ends included).
fn within<T>(
    key: &'static str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<(), ConfigError>
where
    T: PartialOrd + std::fmt::Display + Copy,
{
    if range.contains(&value) {
        Ok(())
    } else {
        Err(bad(
            key,
            &value,
            &format!("must be between {} and {}", range.start(), range.end()),
        ))
    }
}

fn positive(key: &'static str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(bad(key, &0, "must be positive"));
    }
    Ok(())
}

fn http_url(
    key: &'static str,
    shown: &dyn std::fmt::Display,
    url: &str,
    message: &str,
) -> Result<(), ConfigError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(bad(key, shown, message))
    }
}

fn socket_addr(key: &'static str, addr: &str, example: &str) -> Result<(), ConfigError> {
    if addr.parse::<std::net::SocketAddr>().is_err() {
        return Err(bad(
            key,
            &addr,
            &format!("must be an address and port such as {example}"),
        ));
    }
    Ok(())
}

impl IngestConfig {
    fn validate(&self, embed: &EmbedConfig) -> Result<(), ConfigError> {
        within("ingest.chunk_tokens", self.chunk_tokens, 32..=2048)?;
        if self.chunk_tokens > embed.max_length {
            return Err(bad(
                "ingest.chunk_tokens",
                &self.chunk_tokens,
                "must not exceed embed.max_length, or chunk tails would be cut off",
            ));
        }
        if self.overlap_tokens * 2 > self.chunk_tokens {
            return Err(bad(
                "ingest.overlap_tokens",
                &self.overlap_tokens,
                "must be at most half of ingest.chunk_tokens",
            ));
        }
        positive("ingest.max_file_bytes", self.max_file_bytes)
    }
}

impl EmbedConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        within("embed.batch_size", self.batch_size, 1..=1024)?;
        within("embed.max_length", self.max_length, 16..=8192)
    }
}

impl SearchConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        within("search.k", self.k, 1..=1000)?;
        positive("search.prefetch", self.prefetch as u64)
    }
}

impl ServerConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        socket_addr("server.listen", &self.listen, "127.0.0.1:8080")?;
        within(
            "server.max_body_bytes",
            self.max_body_bytes,
            1024..=16 * 1024 * 1024,
        )?;
        positive("server.request_timeout_secs", self.request_timeout_secs)?;
        within("server.max_in_flight", self.max_in_flight, 1..=1024)
    }
}

impl SlackConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        socket_addr("slack.listen", &self.listen, "127.0.0.1:3000")?;
        http_url(
            "slack.api_url",
            &self.api_url,
            &self.api_url,
            "must be an http:// or https:// URL",
        )
    }
}

impl TelegramConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        within("telegram.message_chars", self.message_chars, 64..=4096)?;
        http_url(
            "telegram.api_url",
            &self.api_url,
            &self.api_url,
            "must be an http:// or https:// URL",
        )
    }
}

impl AgentConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        within("agent.max_steps", self.max_steps, 1..=32)?;
        within("agent.max_parallel", self.max_parallel, 1..=16)?;
        within("agent.search_k", self.search_k, 1..=20)?;
        if self.passage_chars < 100 {
            return Err(bad(
                "agent.passage_chars",
                &self.passage_chars,
                "must be at least 100",
            ));
        }
        if self.planner_timeout_secs == 0 || self.synthesis_timeout_secs == 0 {
            return Err(bad(
                "agent.*_timeout_secs",
                &0,
                "timeouts must be at least 1 second",
            ));
        }
        if self.answer_max_tokens < 16 {
            return Err(bad(
                "agent.answer_max_tokens",
                &self.answer_max_tokens,
                "must be at least 16",
            ));
        }
        if !self.today.is_empty() && crate::dates::parse_iso(&self.today).is_none() {
            return Err(bad(
                "agent.today",
                &self.today,
                "must be a date as YYYY-MM-DD, or \"\" for the clock",
            ));
        }
        Ok(())
    }
}

impl CostsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        for (key, v) in [
            ("costs.cpu_core_hour_usd", self.cpu_core_hour_usd),
            (
                "costs.reference_input_usd_per_mtok",
                self.reference_input_usd_per_mtok,
            ),
            (
                "costs.reference_output_usd_per_mtok",
                self.reference_output_usd_per_mtok,
            ),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(bad(key, &v, "must be a price of 0 or more"));
            }
        }
        Ok(())
    }
}

impl ModelsConfig {
    /// The models themselves, and that every role names one of them.
    fn validate(&self, roles: &RolesConfig) -> Result<(), ConfigError> {
        for (role, name) in [
            ("roles.planner", &roles.planner),
            ("roles.extractor", &roles.extractor),
            ("roles.synthesizer", &roles.synthesizer),
        ] {
            if !self.local.contains_key(name) && !self.remote.contains_key(name) {
                let known: Vec<&str> = self
                    .local
                    .keys()
                    .chain(self.remote.keys())
                    .map(String::as_str)
                    .collect();
                return Err(bad(
                    role,
                    &format!("{name:?}"),
                    &format!(
                        "no model of that name under [models.local] or [models.remote] (known: {})",
                        known.join(", ")
                    ),
                ));
            }
        }
        for (name, m) in &self.remote {
            http_url(
                "models.remote.*.base_url",
                &format!("{name}: {:?}", m.base_url),
                &m.base_url,
                "must be an http:// or https:// URL (with the /v1 prefix)",
            )?;
            if m.model.is_empty() {
                return Err(bad(
                    "models.remote.*.model",
                    &format!("{name}: \"\""),
                    "name the model the server serves",
                ));
            }
        }
        for (name, m) in &self.local {
            if m.max_concurrent == 0 || m.queue < m.max_concurrent || m.timeout_secs == 0 {
                return Err(bad(
                    "models.local.*",
                    &name,
                    "needs max_concurrent >= 1, queue >= max_concurrent and timeout_secs >= 1",
                ));
            }
        }
        Ok(())
    }
}

impl StoreConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.collection.is_empty()
            || !self
                .collection
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(bad(
                "store.collection",
                &format!("{:?}", self.collection),
                "use letters, digits, '-' and '_' only",
            ));
        }
        self.qdrant.validate()
    }
}

impl QdrantConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        http_url(
            "store.qdrant.url",
            &self.url,
            &self.url,
            "use the gRPC URL with its scheme, e.g. http://qdrant.internal:6334",
        )?;
        if self.shards == 0
            || self.replication_factor == 0
            || self.write_consistency_factor == 0
            || self.write_consistency_factor > self.replication_factor
        {
            return Err(bad(
                "store.qdrant",
                &format!(
                    "shards = {}, replication_factor = {}, write_consistency_factor = {}",
                    self.shards, self.replication_factor, self.write_consistency_factor
                ),
                "needs shards >= 1, replication_factor >= 1 and \
                 1 <= write_consistency_factor <= replication_factor",
            ));
        }
        if self.timeout_secs == 0 || self.connect_timeout_secs == 0 {
            return Err(bad(
                "store.qdrant.timeout_secs",
                &0,
                "timeouts must be at least 1 second",
            ));
        }
        Ok(())
    }
}

impl AccessConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        for identity in self.identities.keys() {
            let known = ["telegram:", "slack:", "slack-group:", "web:"]
                .iter()
                .any(|p| {
                    identity
                        .strip_prefix(p)
                        .is_some_and(|rest| !rest.is_empty())
                });
            if !(known || identity == "web") {
                return Err(bad(
                    "access.identities",
                    identity,
                    "name identities telegram:<user id>, slack:<user id>, slack-group:<user group id>, \
                     web:<token name> or web",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("config.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn shipped_config_parses_and_validates() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        let loaded = Config::load(&path, true, Vec::new()).unwrap();
        assert_eq!(loaded.config.store.backend, StoreBackend::Edge);
        assert!(loaded.config.store.data_dir.ends_with("data"));
    }

    #[test]
    fn missing_default_file_gives_defaults_but_explicit_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nope.toml");
        let loaded = Config::load(&p, false, Vec::new()).unwrap();
        assert_eq!(loaded.config.search.k, 5);
        let err = Config::load(&p, true, Vec::new()).unwrap_err();
        assert!(err.to_string().contains("nope.toml"), "{err}");
    }

    #[test]
    fn unknown_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "[ingest]\nchunk_tokns = 100\n");
        let err = Config::load(&p, true, Vec::new()).unwrap_err().to_string();
        assert!(err.contains("chunk_tokns"), "{err}");
        assert!(err.contains("ingest"), "{err}");
    }

    #[test]
    fn identities_add_groups_and_bad_identity_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "[access.identities]\n\"telegram:42\" = [\"hr\"]\n\"web:alice\" = [\"hr\", \"exec\"]\n",
        );
        let c = Config::load(&p, true, Vec::new()).unwrap().config;
        let base = vec!["staff".to_string(), "hr".to_string()];
        assert_eq!(
            c.access.groups_for("web:alice", &base),
            ["staff", "hr", "exec"]
        );
        assert_eq!(c.access.groups_for("telegram:7", &base), ["staff", "hr"]);
        let p = write(dir.path(), "[access.identities]\n\"alice\" = [\"hr\"]\n");
        let err = Config::load(&p, true, Vec::new()).unwrap_err().to_string();
        assert!(
            err.contains("access.identities") && err.contains("alice"),
            "{err}"
        );
    }

    #[test]
    fn bad_value_type_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "[search]\nk = \"five\"\n");
        let err = Config::load(&p, true, Vec::new()).unwrap_err().to_string();
        assert!(err.contains("search.k"), "{err}");
    }

    #[test]
    fn out_of_range_value_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "[ingest]\nchunk_tokens = 5\n");
        let err = Config::load(&p, true, Vec::new()).unwrap_err().to_string();
        assert!(err.contains("ingest.chunk_tokens = 5"), "{err}");
    }

    #[test]
    fn each_section_names_its_bad_setting_and_what_it_must_be() {
        let dir = tempfile::tempdir().unwrap();
        for (toml, says) in [
            (
                "[embed]\nbatch_size = 0\n",
                "embed.batch_size = 0: must be between 1 and 1024",
            ),
            (
                "[search]\nprefetch = 0\n",
                "search.prefetch = 0: must be positive",
            ),
            (
                "[server]\nlisten = \"localhost\"\n",
                "server.listen = localhost",
            ),
            (
                "[slack]\napi_url = \"slack.com\"\n",
                "slack.api_url = slack.com",
            ),
            (
                "[telegram]\nmessage_chars = 5000\n",
                "must be between 64 and 4096",
            ),
            ("[agent]\nmax_parallel = 0\n", "agent.max_parallel = 0"),
            (
                "[agent]\ntoday = \"5 May 2026\"\n",
                "agent.today = 5 May 2026",
            ),
            (
                "[costs]\ncpu_core_hour_usd = -1.0\n",
                "must be a price of 0 or more",
            ),
            ("[roles]\nplanner = \"gpt\"\n", "roles.planner = \"gpt\""),
            ("[store]\ncollection = \"a b\"\n", "store.collection"),
            (
                "[store.qdrant]\nreplication_factor = 1\nwrite_consistency_factor = 2\n",
                "write_consistency_factor <= replication_factor",
            ),
        ] {
            let p = write(dir.path(), toml);
            let err = Config::load(&p, true, Vec::new()).unwrap_err().to_string();
            assert!(err.contains(says), "{toml}: {err}");
        }
    }

    #[test]
    fn env_overrides_file_and_is_typed() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "[search]\nk = 7\n");
        let env = vec![
            ("SKIFF__SEARCH__K".to_string(), "9".to_string()),
            ("SKIFF__STORE__DATA_DIR".to_string(), "/tmp/x y".to_string()),
            ("UNRELATED".to_string(), "1".to_string()),
        ];
        let c = Config::load(&p, true, env).unwrap().config;
        assert_eq!(c.search.k, 9);
        assert_eq!(c.store.data_dir, PathBuf::from("/tmp/x y"));
    }

    #[test]
    fn env_unknown_key_names_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "");
        let env = vec![("SKIFF__SEARCH__KAY".to_string(), "3".to_string())];
        let err = Config::load(&p, true, env).unwrap_err().to_string();
        assert!(err.contains("SKIFF__SEARCH__KAY"), "{err}");
        assert!(err.contains("kay"), "{err}");
        let env = vec![("SKIFF__NOSECTION".to_string(), "3".to_string())];
        let err = Config::load(&p, true, env).unwrap_err().to_string();
        assert!(err.contains("SKIFF__NOSECTION"), "{err}");
    }

    #[test]
    fn relative_paths_resolve_against_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "[store]\ndata_dir = \"d\"\n[models]\ndir = \"m\"\n",
        );
        let c = Config::load(&p, true, Vec::new()).unwrap().config;
        assert_eq!(c.store.data_dir, dir.path().join("d"));
        assert_eq!(c.models.dir, dir.path().join("m"));
    }

    #[test]
    fn roles_must_name_a_configured_model() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "[roles]\nplanner = \"gpt-9\"\n");
        let err = Config::load(&p, true, Vec::new()).unwrap_err().to_string();
        assert!(
            err.contains("roles.planner") && err.contains("gpt-9"),
            "{err}"
        );
        let p = write(
            dir.path(),
            "[models.remote.big]\nbase_url = \"http://10.0.0.5:8000/v1\"\nmodel = \"qwen\"\n\
             api_key_env = \"VLLM_KEY\"\n[roles]\nplanner = \"big\"\n",
        );
        let c = Config::load(&p, true, Vec::new()).unwrap().config;
        assert!(matches!(
            c.model_for(ModelRole::Planner).unwrap(),
            ModelSpec::Remote { .. }
        ));
        // Replacing [models.local] drops the defaults; roles must follow.
        let p = write(
            dir.path(),
            "[models.remote.x]\nbase_url = \"ftp://x\"\nmodel = \"m\"\n",
        );
        let err = Config::load(&p, true, Vec::new()).unwrap_err().to_string();
        assert!(err.contains("base_url"), "{err}");
    }

    #[test]
    fn missing_model_file_names_key_and_fix() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Config::default();
        c.models.dir = dir.path().to_path_buf();
        let err = c.embed_files().unwrap_err().to_string();
        assert!(err.contains("embed.model"), "{err}");
        assert!(err.contains("model.onnx"), "{err}");
        assert!(err.contains("fetch-models.sh"), "{err}");
    }
}

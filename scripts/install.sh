#!/usr/bin/env bash
# `pip install -e ".[dev]"` into the running Python, done by uv when uv can be had, else by pip.
#
# Why: in a fresh virtual environment, pip installs the 6.8 GB of torch's CUDA build and the rest in 100-130 s on a
# 2-core machine, one file at a time; uv unpacks and byte-compiles the same wheels in parallel in ~45 s.
# uv reads none of pip's settings, so the ones that decide what gets installed are handed over: the index, extra
# indexes, find-links and constraint files (from pip's config files and PIP_* variables, as `pip config list` shows
# them), and pip's rule of taking the best version found on any index (`--index-strategy unsafe-best-match`; uv's own
# default stops at the first index). And it writes the bytecode as pip does (`--compile-bytecode`): uv skips that by
# default, and where PYTHONDONTWRITEBYTECODE is set (these machines set it) every process then compiles torch from
# source: `import torch, timm, transformers` 4.8 s -> 10 s, and a test run took 750 s instead of 490.
# Set FSDL_INSTALLER=pip to use pip.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
py=$(python -c 'import sys; print(sys.executable)')

with_pip() { python -m pip install -e ".[dev]"; }
[ "${FSDL_INSTALLER:-uv}" = pip ] && { with_pip; exit; }

# pip's settings, one `--flag value` pair per value: `pip config list` prints `where.key='value'` lines
args=()
while IFS= read -r line; do
  key=${line%%=*}; key=${key#*.}; val=${line#*=}; val=${val#\'}; val=${val%\'}
  case $key in
    index-url|extra-index-url|find-links|constraint) for v in $val; do args+=("--$key" "$v"); done ;;
    cert) export SSL_CERT_FILE=$val ;;  # the CA bundle pip trusts, for uv's HTTPS too
  esac
done < <(python -m pip config list 2>/dev/null || true)

if python -m pip install -q "uv>=0.9,<1" 2>/dev/null &&
   python -m uv pip install --python "$py" --compile-bytecode --index-strategy unsafe-best-match "${args[@]}" -e ".[dev]"; then
  exit 0
fi
echo "install.sh: uv could not install; installing with pip" >&2
with_pip

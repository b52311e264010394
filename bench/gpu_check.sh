#!/usr/bin/env bash
# bench/gpu_check.sh: the one script a GPU session runs on a GPU machine (H100/H200 class), in about 8 minutes.
#
# It runs, each stage under a share of the time budget (GPU_CHECK_BUDGET seconds, default 480), writing under $OUT:
#   1. env.txt                      GPU, driver, torch, CPU count
#   2. nbdev_cuda_mine.log          nbdev-test --flags cuda on 03_amp and 01b_pipeline (the sync-free step, nvjpeg)
#   3. gpu_train_helper_first.log   bench/gpu_train.py             (a process per model, alternating rounds)
#   4. gpu_train_plain_first.log    bench/gpu_train.py --plain-first
#   5. input_pipeline.log           bench/input_pipeline.py        (the image feed against the synthetic ceiling; text)
#   5b. finetune.log                bench/finetune.py on the GPU: fsdl-dev's defaults (bf16) against the HF Trainer and a
#                                   timm-style loop, on the real data sets (read from .carry, see below)
#   6. nbdev_cuda_rest.log          nbdev-test --flags cuda on every other notebook, with the time that is left
#   7. results.tar.gz               the JSON files of 3-5
# and prints a summary of the lines that matter at the end (the device tool returns the output's tail).
# At most 8 files come back from the device tool; this writes 8.
#
# The device image (torch 2.11, timm, transformers, Python 3.12) lacks fastcore, nbdev, execnb, ipython and onnxslim.
# Carry them as wheels. Once, on a machine with pip, in the repository root:
#
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
#     fastcore==2.2.41 nbdev==3.3.26 execnb==0.3.4 ipython==8.18.1 onnxslim==0.1.98 \
#     jedi==0.19.2 parso==0.8.4 prompt-toolkit==3.0.52 wcwidth==0.2.13 pexpect==4.9.0 ptyprocess==0.7.0 \
#     traitlets==5.14.3 matplotlib-inline==0.1.7 decorator==5.2.1 stack-data==0.6.3 executing==2.2.1 \
#     pure-eval==0.2.3 asttokens==3.0.0 astunparse==1.6.3 watchdog==6.0.0
#
# (already in the image: pygments, pyyaml, packaging, build, setuptools, six, wheel, colorama, sympy, ml-dtypes, numpy)
# The real data sets and MiniLM (its package is too large to carry) go in .carry, about 50 MB:
#
#   echo /.carry/ >> .git/info/exclude
#   python bench/finetune.py --write-carry .carry
#
# and the HF Trainer needs accelerate: add accelerate==1.10.1 (and psutil if the image lacks it) to the wheels above.
# Then, from the session that holds the device tool (about 8 minutes of its 15; leave time for one rerun):
#
#   run(command="bash bench/gpu_check.sh", carry=[".whl", ".carry"], timeout_s=590)
#
# Locally without a GPU it still runs (the benches fall back to their --smoke sizes), which checks the script itself:
#   GPU_CHECK_BUDGET=300 bash bench/gpu_check.sh
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/gpu_check_out}
mkdir -p "$OUT"
BUDGET=${GPU_CHECK_BUDGET:-480}
START=$(date +%s)
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1

left() { echo $(( BUDGET - ($(date +%s) - START) )); }
# run a stage with at most $1 seconds (and never past the budget), teeing to $OUT/$2
stage() {
  local want=$1 log=$2; shift 2
  local l; l=$(left)
  local t=$(( want < l ? want : l ))
  if (( t < 20 )); then echo "== skipped (budget spent): $*" | tee "$OUT/$log"; return 0; fi
  echo "== [$(( $(date +%s) - START ))s] $* (limit ${t}s)" | tee "$OUT/$log"
  timeout -k 10 "$t" "$@" 2>&1 | tee -a "$OUT/$log"
  local rc=${PIPESTATUS[0]}
  echo "== exit $rc$( ((rc == 124)) && echo ' (timed out)')" | tee -a "$OUT/$log"
}

# 1. wheels carried in .whl (see above)
if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || echo "wheel install failed"
  export PYTHONPATH=/tmp/site:$ROOT${PYTHONPATH:+:$PYTHONPATH}
  export PATH=/tmp/site/bin:$PATH
else
  export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
  echo "no .whl folder: using the packages installed here"
fi

{ date -u; nvidia-smi 2>&1 | head -15; nproc
  $PY -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
  $PY -c "import fastcore, nbdev, execnb; print('fastcore', fastcore.__version__, 'nbdev', nbdev.__version__)" 2>&1
  git log --oneline -1 2>/dev/null; } > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

NBTEST="$PY -c 'import sys; from nbdev.test import nbdev_test; sys.argv[0] = \"nbdev-test\"; nbdev_test()'"
nbtest() { eval "$NBTEST" "$@"; }

# 2. this issue's notebooks with their cuda cells
stage 120 nbdev_cuda_mine.log bash -c "$NBTEST --flags cuda nbs/03_amp.ipynb && $NBTEST --flags cuda nbs/01b_pipeline.ipynb"

# 3-4. the train-step benchmark, both orders
stage 150 gpu_train_helper_first.log $PY bench/gpu_train.py --json "$OUT/gpu_train_helper_first.json" --timeout 140
stage 130 gpu_train_plain_first.log $PY bench/gpu_train.py --plain-first --json "$OUT/gpu_train_plain_first.json" --timeout 120

# 5. the input pipeline
stage 150 input_pipeline.log $PY bench/input_pipeline.py --json "$OUT/input_pipeline.json"

# 5b. the real-data fine-tune on the GPU, with the defaults (bf16)
if [ -d .carry ]; then
  stage 150 finetune.log $PY bench/finetune.py --carry .carry --sets chatbot-topics bbc-news digits
else echo "== skipped (no .carry folder): bench/finetune.py" | tee "$OUT/finetune.log"; fi

# 6. every other notebook's cuda cells, with what is left
rest=$(ls nbs/*.ipynb | grep -v -e 03_amp -e 01b_pipeline | tr '\n' ' ')
stage 9999 nbdev_cuda_rest.log bash -c "for nb in $rest; do echo \"-- \$nb\"; $NBTEST --flags cuda \$nb 2>&1 | tail -25; done"

(cd "$OUT" && tar czf results.tar.gz ./*.json 2>/dev/null && rm -f ./*.json)

echo
echo "==================== summary ($(( $(date +%s) - START ))s) ===================="
grep -h -E "^(device|torch) |NVIDIA|^torch " "$OUT/env.txt" | head -3
for f in nbdev_cuda_mine nbdev_cuda_rest; do echo "-- $f:"; grep -E "Success|Failed|Error|-- nbs|skipped|exit" "$OUT/$f.log" | head -30; done
for f in gpu_train_helper_first gpu_train_plain_first; do echo "-- $f:"; grep -A6 -E "^model " "$OUT/$f.log"; done
echo "-- finetune:"; grep -A4 -E "^(chatbot-topics|bbc-news|digits|mnist-5k):|sets met" "$OUT/finetune.log"
echo "-- input_pipeline:"; grep -A9 -E "^feed |^synthetic ceiling|fsdl-dev default at|length-grouped at|^text:" "$OUT/input_pipeline.log" | head -40

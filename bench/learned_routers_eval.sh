#!/usr/bin/env bash
# Every `optmod eval` run quoted in the README's "Learned routers" tables, in one go.
# Usage: bench/learned_routers_eval.sh [DATA_DIR (default ../shared/data)] [OUT_DIR (default out/eval)]
# Routers are trained on each data set's train split (cached under .cache/trained); reports land in OUT_DIR/<run>.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data}
OUT=${2:-out/eval}
PY=${PYTHON:-.venv/bin/python}
EVAL="$PY -m optmod.training.commands eval --timing-queries 200"
ALL="--router perf_router --router trouter --router decision_tree"

P1=Meta-Llama-3_1-8B-Instruct,gemini-1.5-flash-002,gemini-1.5-pro-002
P2=Meta-Llama-3_1-8B-Instruct,Meta-Llama-3_1-70B-Instruct,gemini-1.5-pro-002
LMO=Phi-3-mini-4k-instruct,Meta-Llama-3_1-8B-Instruct,gemini-1.5-flash-002,Meta-Llama-3_1-70B-Instruct,gemini-1.5-pro-002
CHAT=Meta-Llama-3_1-8B-Instruct,Meta-Llama-3_1-70B-Instruct,Mistral-7B-Instruct-v0.1,Mistral-7B-Instruct-v0.2
CHAT=$CHAT,Mixtral-8x7B-Instruct-v0.1,Phi-3-mini-4k-instruct,Qwen1.5-7B-Chat,Qwen1.5-72B-Chat,Yi-6b-Chat
CHAT=$CHAT,c4ai-command-r-v01,jamba-1.5-large,DeepSeek-Coder-V2,gemini-1.5-flash-002,gemini-1.5-pro-002

$EVAL --data "$DATA/mmlu-pro" $ALL --pool $P1 --out "$OUT/mmlu-pro-p1"
$EVAL --data "$DATA/mmlu-pro" --router perf_router --encoder minilm --pool $P1 --out "$OUT/mmlu-pro-p1-minilm"
$EVAL --data "$DATA/mmlu-pro" $ALL --pool $P2 --out "$OUT/mmlu-pro-p2"
$EVAL --data "$DATA/mmlu-pro" $ALL --pool $LMO --leave-models-out --out "$OUT/mmlu-pro-leave-models-out"
$EVAL --data "$DATA/mmlu-pro" $ALL --pool $CHAT --out "$OUT/mmlu-pro-chat"
for category in mmlu gsm8k; do
  $EVAL --data "$DATA/routellm" $ALL --category $category --out "$OUT/routellm-$category"
  $EVAL --data "$DATA/routellm" --router perf_router --encoder minilm --category $category \
        --out "$OUT/routellm-$category-minilm"
done
$EVAL --data "$DATA/routellm" $ALL --out "$OUT/routellm-all"

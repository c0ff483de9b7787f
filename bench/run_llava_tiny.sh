#!/bin/bash
# Wall time and peak RSS of `crosstrace run` on the tiny LLaVA fixtures (tools/make_fixtures.py),
# measured with /usr/bin/time -v, beside:
#   floor:    `crosstrace --help` (process start, no model): what a tiny run cannot go below;
#   baseline: the same pipeline in plain PyTorch (tools/torch_reference.py + sentencepiece + PIL,
#             greedy without a KV cache, torch import included) in the same run, one thread.
# Usage: bash bench/run_llava_tiny.sh BUILD_DIR [FIXTURES_DIR] [REPEATS]
# The machine is shared: figures are medians over REPEATS runs and still noisy.
set -euo pipefail
build=${1:?usage: run_llava_tiny.sh BUILD_DIR [FIXTURES_DIR] [REPEATS]}
fx=${2:-$build/tests/fixtures}
reps=${3:-5}
src=$(cd "$(dirname "$0")/.." && pwd)
bin=$build/crosstrace
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[ -f "$fx/manifest.json" ] || /usr/bin/python3 "$src/tools/make_fixtures.py" --out "$fx" > /dev/null
/usr/bin/python3 -c "
import numpy as np; from PIL import Image
a = (np.random.RandomState(0).rand(31, 45, 3) * 255).astype('uint8'); Image.fromarray(a).save('$tmp/img.png')"
cat > "$tmp/baseline.py" <<EOF
import json, os, sys
sys.path.insert(0, '$src/tools')
import sentencepiece as spm, torch
from PIL import Image
import image_reference as ir, torch_reference as tr
torch.set_num_threads(1)
d, tower, q, n = sys.argv[1], (sys.argv[2] or None), sys.argv[3], int(sys.argv[4])
text = 'USER: <image>\n' + q + ' ASSISTANT:'
sp = spm.SentencePieceProcessor(model_file=os.path.join(d, 'tokenizer.model'))
if tower:
    sd, cfg = tr.llava_original_as_hf(d, tower)
    a, b = text.split('<image>')
    ids = [1] + sp.encode(a) + [-200] + sp.encode(b)
    img = ir.expand2square(Image.open('$tmp/img.png').convert('RGB'), tuple(int(255 * m) for m in ir.MEAN))
else:
    cfg = json.load(open(os.path.join(d, 'config.json')))
    sd = {tr.new_to_old_llava_key(k): v for k, v in tr.read_model(d).items()}
    a, b = text.split('<image>')
    ids = [1] + sp.encode(a) + [cfg['image_token_index']] + sp.encode(b)
    img = Image.open('$tmp/img.png').convert('RGB')
s = tr.clip_defaults(cfg['vision_config'])['image_size']
with torch.no_grad():
    _, gen, _ = tr.llava(sd, cfg, torch.from_numpy(ir.hf_clip(img, s, s)), ids, max_new=n, eos=(2,))
print(gen)
EOF

# Median wall seconds (including /usr/bin/time's own start, about 1 ms) and median max RSS (MiB) of a command over $reps runs.
measure() {
  local walls=() rss=()
  for _ in $(seq "$reps"); do
    # time -v's wall clock has 10 ms resolution: the wall time comes from date instead.
    local t0 t1
    t0=$(date +%s.%N)
    /usr/bin/time -v "$@" > /dev/null 2> "$tmp/time.txt"
    t1=$(date +%s.%N)
    walls+=("$(echo "$t1 - $t0" | bc -l)")
    rss+=("$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}' "$tmp/time.txt")")
  done
  printf "%8.3f s  %8.1f MiB" "$(printf '%s\n' "${walls[@]}" | sort -g | sed -n "$(( (reps + 1) / 2 ))p")" \
                                "$(printf '%s\n' "${rss[@]}" | sort -g | sed -n "$(( (reps + 1) / 2 ))p")"
}

q="where is the cat sitting?"
n=12
echo "crosstrace run on the tiny LLaVA fixtures: median of $reps, max-new-tokens $n, $(nproc) cores (shared, noisy)"
echo "floor (crosstrace --help, process start):        $(measure "$bin" --help)"
for m in llava_hf llava_hf_newkeys llava_hf_sharded_bf16 llava_original; do
  tower=""
  [ "$m" = llava_original ] && tower="$fx/clip_vision"
  extra=()
  [ -n "$tower" ] && extra=(--vision-tower "$tower")
  echo "$m"
  echo "  crosstrace run --threads 1:                     $(measure "$bin" run "$fx/$m" --image "$tmp/img.png" --prompt "$q" --max-new-tokens $n --threads 1 "${extra[@]}")"
  echo "  crosstrace run (all threads):                   $(measure "$bin" run "$fx/$m" --image "$tmp/img.png" --prompt "$q" --max-new-tokens $n "${extra[@]}")"
  echo "  baseline PyTorch pipeline (1 thread, no cache): $(measure /usr/bin/python3 "$tmp/baseline.py" "$fx/$m" "$tower" "$q" $n)"
done

#!/bin/bash
# GPU check for gradviz, for a machine with CUDA (never part of the tests): the same scripts plain and
# traced, compared. Writes its work under /tmp/gv; copies a drawing to $OUT when OUT is set.
set -u
cd "$(dirname "$0")/../.."
# Where gradviz's dependencies are not installed, wheels in .whl/ (graphviz, graphviz-pure, textual and its
# small dependencies, for that machine's Python) are unpacked beside it first.
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
fi
export PATH=/tmp/site/bin:$PATH PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 CUBLAS_WORKSPACE_CONFIG=:4096:8
W=/tmp/gv; mkdir -p $W
echo "== env"; nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, gradviz, textual; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'gradviz', gradviz.__file__)"
echo "== 1 example 17 plain vs traced"
timeout 60 python3 examples/17_device.py >$W/p17.out 2>$W/p17.err; echo "plain rc $?"
timeout 120 python3 -m gradviz trace --out $W/ex17 --format svg,json examples/17_device.py >$W/t17.out 2>$W/t17.err; echo "traced rc $?"
cmp $W/p17.out $W/t17.out && echo "stdout identical"; cat $W/t17.out; echo "-- gradviz stderr:"; grep -v "^ *$" $W/t17.err | head -40
[ -n "${OUT:-}" ] && cp $W/ex17/backward-001.svg "$OUT/ex17-backward-001.svg" 2>/dev/null
echo "== 2 inline API on CUDA"
timeout 120 python3 benchmarks/gpu/inline.py 2>&1 | grep -v "UserWarning\|_conversion_method" | head -40
echo "== 3 CUDA AMP training script plain vs traced"
timeout 120 python3 benchmarks/gpu/cuda_train.py >$W/pt.out 2>$W/pt.err; echo "plain rc $?"
timeout 180 python3 -m gradviz trace --out $W/amp --format svg benchmarks/gpu/cuda_train.py >$W/tt.out 2>$W/tt.err; echo "traced rc $?"
cmp $W/pt.out $W/tt.out && echo "stdout identical" || diff $W/pt.out $W/tt.out | head
tail -3 $W/pt.out; echo "-- gradviz stderr:"; head -50 $W/tt.err
python3 - <<'PY'
import json; t = json.load(open("/tmp/gv/amp/trace.json"))
print("findings:", [(f["severity"], f["kind"]) for f in t["findings"]])
PY
echo "== 4 corpus with CUDA as default device (parallel)"
ls tests/corpus/scripts/*.py tests/corpus/bugs/*.py > $W/list
one() { s=$1; n=$(basename $s .py); d=/tmp/gv/c/$n; mkdir -p $d
  timeout 150 python3 benchmarks/gpu/oncuda.py $s >$d/p.out 2>$d/p.err; pr=$?
  timeout 200 python3 -m gradviz trace --quiet --out $d/t --format json benchmarks/gpu/oncuda.py $s >$d/t.out 2>$d/t.err; tr=$?
  same=no; cmp -s $d/p.out $d/t.out && same=yes
  f=$(python3 -c "import json,collections;t=json.load(open('$d/t/trace.json'));print(dict(collections.Counter(x['severity']+':'+x['kind'] for x in t['findings'])))" 2>/dev/null)
  echo "$n plain=$pr traced=$tr stdout_same=$same findings=$f"; }
export -f one
xargs -P 8 -I{} bash -c 'one {}' < $W/list | sort
for d in /tmp/gv/c/*; do if ! cmp -s $d/p.out $d/t.out; then echo "--- $(basename $d) plain err tail"; tail -3 $d/p.err; echo "--- traced err tail"; tail -5 $d/t.err; fi; done 2>/dev/null | head -80
echo "== 4b examples with CUDA as default device: stdout, exit status, gradviz's stderr"
onex() { e=$1; n=$(basename $e .py); d=/tmp/gv/e/$n; mkdir -p $d
  timeout 120 python3 benchmarks/gpu/oncuda.py $e >$d/p.out 2>$d/p.err; pr=$?
  timeout 200 python3 -m gradviz trace --out $d/t --format json benchmarks/gpu/oncuda.py $e >$d/t.out 2>$d/t.err; tr=$?
  same=no; cmp -s $d/p.out $d/t.out && same=yes
  echo "$n plain=$pr traced=$tr stdout_same=$same gradviz_lines=$(grep -c '^gradviz' $d/t.err) gradviz_frames=$(grep -c 'gradviz/' $d/t.err)"; }
export -f onex
ls examples/0*.py examples/1[0-6]*.py | xargs -P 8 -I{} bash -c 'onex {}' | sort
for n in 06_custom_function 08_inplace_error 16_retain_graph; do echo "--- $n traced stderr"; grep -v "UserWarning\|_conversion" /tmp/gv/e/$n/t.err | head -30; done
echo "== 5 CUDA loop past the budget: whole-script wall time"
TIMEFORMAT="%R"
for i in 1 2; do
  { time python3 benchmarks/gpu/loop.py 3000 >/dev/null 2>>$W/loop.err; } 2>$W/tp; echo "plain wall $(cat $W/tp) s"
  { time python3 -m gradviz trace --quiet --out $W/loop benchmarks/gpu/loop.py 3000 >/dev/null 2>>$W/loop.err; } 2>$W/tt; echo "traced wall $(cat $W/tt) s"
done; grep -E "LOOPTIME" $W/loop.err
echo "== done"

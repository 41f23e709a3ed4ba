#!/usr/bin/env bash
# Checks the production stack in compose/ against the code, without a Docker engine:
#   (a) docker-compose validates compose/docker-compose.yml, and every file it bind-mounts exists;
#   (b) the collector's kafka exporter and compose/spanpipe.yaml agree (topic, encoding, keying),
#       and kafka-init creates every topic spanpipe uses, compacted where spanpipe compacts it;
#   (c) the spanpipe binary's config loader accepts compose/spanpipe.yaml (and rejects a bad key,
#       so the check means something); the image's version label default matches the binary;
#   (d) every spanpipe_* metric the Grafana dashboard queries is served by a running spanpipe.
# Usage: bash compose_test.sh <spanpipe-binary> <source-dir>
# COMPOSE_TEST_DIR overrides the compose folder (to test a modified copy). Not SPANPIPE_*: spanpipe
# reads every SPANPIPE_* variable as a config key; the binary runs with a clean environment here.
set -euo pipefail

BIN="$(realpath "${1:?usage: compose_test.sh <spanpipe-binary> <source-dir>}")"
SRC="$(realpath "${2:?usage: compose_test.sh <spanpipe-binary> <source-dir>}")"
COMPOSE="$(realpath "${COMPOSE_TEST_DIR:-$SRC/compose}")"

fail() {
  echo "compose_test: FAIL: $*" >&2
  exit 1
}
step() { echo "compose_test: $*"; }

tmp="$(mktemp -d)"
demo_pid=""
# Stops the demo (SIGTERM: it checkpoints and exits 0), SIGKILL after 20 s.
stop_demo() {
  [ -n "$demo_pid" ] || return 0
  local rc=0
  kill -TERM "$demo_pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$demo_pid" 2>/dev/null || true
  wait "$demo_pid" 2>/dev/null || rc=$?
  demo_pid=""
  # Not this test's subject (the crash tests own shutdown), but never hide it.
  if [ "$rc" -ne 0 ]; then
    echo "compose_test: note: 'spanpipe demo' exited $rc after SIGTERM; its last log lines:" >&2
    tail -5 "$tmp/demo.err" >&2 || true
  fi
}
cleanup() {
  stop_demo
  rm -rf "$tmp"
}
trap cleanup EXIT

[ -x "$BIN" ] || fail "spanpipe binary '$BIN' is not executable"
for f in docker-compose.yml spanpipe.yaml otel-collector.yaml prometheus.yml Dockerfile grafana/dashboards/spanpipe.json; do
  [ -f "$COMPOSE/$f" ] || fail "missing $COMPOSE/$f"
done

# (a) ------------------------------------------------------------------------------------------
step "(a) docker-compose config"
command -v docker-compose >/dev/null 2>&1 || fail "docker-compose not found (scripts/setup.sh installs it)"
if ! docker-compose -f "$COMPOSE/docker-compose.yml" config -q 2>"$tmp/compose.err"; then
  cat "$tmp/compose.err" >&2
  fail "docker-compose rejects $COMPOSE/docker-compose.yml"
fi
docker-compose -f "$COMPOSE/docker-compose.yml" config >"$tmp/compose.resolved.yml" 2>/dev/null
# Docker creates a missing bind-mount source as an empty directory: a renamed file would start a
# service with a folder in place of its config. The resolved config has absolute source paths.
python3 - "$tmp/compose.resolved.yml" <<'EOF' || fail "a bind-mounted file is missing (see above)"
import os, sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
bad = []
for name, svc in cfg.get("services", {}).items():
    for v in svc.get("volumes", []) or []:
        src = v.get("source") if isinstance(v, dict) else v.split(":")[0]
        kind = v.get("type") if isinstance(v, dict) else ("bind" if src.startswith(("/", ".")) else "volume")
        if kind == "bind" and not os.path.exists(src):
            bad.append(f"{name}: {src}")
for b in bad:
    print("  missing bind source:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF

# (b) ------------------------------------------------------------------------------------------
step "(b) collector exporter <-> spanpipe.yaml <-> kafka-init topics"
python3 - "$COMPOSE" "$SRC" <<'EOF' || fail "compose files disagree with each other or with the code (see above)"
import os, re, sys, yaml
compose_dir, src = sys.argv[1], sys.argv[2]
errors = []
col = yaml.safe_load(open(os.path.join(compose_dir, "otel-collector.yaml")))
exporters = {k: v or {} for k, v in (col.get("exporters") or {}).items() if k == "kafka" or k.startswith("kafka/")}
if not exporters:
    sys.exit("otel-collector.yaml: no kafka exporter")
pipelines = (col.get("service") or {}).get("pipelines") or {}
used = [e for name, p in pipelines.items() if name == "traces" or name.startswith("traces/")
        for e in (p or {}).get("exporters", []) if e in exporters]
if not used:
    errors.append("otel-collector.yaml: no traces pipeline exports to the kafka exporter")
sp = yaml.safe_load(open(os.path.join(compose_dir, "spanpipe.yaml"))) or {}
inp = sp.get("input") or {}
sp_topic = inp.get("topic", "otlp_spans")
sp_encoding = inp.get("encoding", "auto")
keyed = bool(inp.get("keyed_by_trace", False))
for name in used:
    e = exporters[name]
    traces = e.get("traces") or {}
    # Collector semantics: traces.* wins, then the deprecated top-level keys, then the defaults.
    topic = traces.get("topic") or e.get("topic") or "otlp_spans"
    encoding = traces.get("encoding") or e.get("encoding") or "otlp_proto"
    if topic != "otlp_spans":
        errors.append(f"exporter {name}: traces topic is {topic!r}, expected 'otlp_spans'")
    if encoding != "otlp_proto":
        errors.append(f"exporter {name}: traces encoding is {encoding!r}, expected 'otlp_proto'")
    if topic != sp_topic:
        errors.append(f"exporter {name} writes {topic!r} but spanpipe.yaml input.topic is {sp_topic!r}")
    if sp_encoding not in ("auto", encoding):
        errors.append(f"exporter {name} encodes {encoding!r} but spanpipe.yaml input.encoding is {sp_encoding!r}")
    # keyed_by_trace without trace-id keys would split traces across partitions (wrong aggregates).
    if keyed and not e.get("partition_traces_by_id", False):
        errors.append(f"spanpipe.yaml input.keyed_by_trace is true but exporter {name} lacks partition_traces_by_id: true")

# kafka-init must create every stream of operators/emitter.h, compacted where job.cpp compacts it.
emitter = open(os.path.join(src, "operators/emitter.h")).read()
streams = dict(re.findall(r'constexpr std::string_view (k\w+) = "([^"]+)";', emitter))
job = open(os.path.join(src, "topology/job.cpp")).read()
compacted = set(re.findall(r'streams::(k\w+)\), parts, \{\{"cleanup.policy", "compact"\}\}', job))
if not streams or not compacted:
    errors.append("cannot read the topic list from operators/emitter.h / topology/job.cpp JobTopics()")
dc = yaml.safe_load(open(os.path.join(compose_dir, "docker-compose.yml")))
init = (dc.get("services") or {}).get("kafka-init") or {}
script = "\n".join(init.get("command") or []) if isinstance(init.get("command"), list) else str(init.get("command", ""))
created = {}
for line in script.splitlines():
    m = re.match(r"\s*t\s+(\S+)(.*)$", line)
    if m:
        created[m.group(1)] = m.group(2)
for topic in [sp_topic] + [streams[k] for k in sorted(streams)]:
    if topic not in created:
        errors.append(f"kafka-init does not create topic {topic!r}")
for k in sorted(compacted):
    t = streams.get(k)
    if t in created and "cleanup.policy=compact" not in created[t]:
        errors.append(f"kafka-init creates {t!r} without cleanup.policy=compact (job.cpp compacts it)")
for e in errors:
    print("  " + e, file=sys.stderr)
print(f"  exporter(s) {', '.join(used)} -> {sp_topic}; keyed_by_trace={keyed}; {len(created)} topics in kafka-init")
sys.exit(1 if errors else 0)
EOF

# (c) ------------------------------------------------------------------------------------------
step "(c) spanpipe's config loader on compose/spanpipe.yaml"
# `replay` loads the config exactly like `run` (file, SPANPIPE_* environment, --set; exit 2 names a
# bad key) but needs no Kafka: over an empty input it exits 0. The object store is redirected to a
# local folder after the file has been loaded and validated, so MinIO is not contacted.
mkdir -p "$tmp/empty"
cfg_check() {  # a clean environment: SPANPIPE_* variables of the caller must not mask the file
  env -i PATH="$PATH" "$BIN" replay --config "$1" --input "$tmp/empty" --out "$tmp/replay-out" \
    --state "$tmp/replay-state" --set "content.store=file://$tmp/replay-objects" --no-progress \
    >"$tmp/cfg.out" 2>"$tmp/cfg.err"
}
rc=0
cfg_check "$COMPOSE/spanpipe.yaml" || rc=$?
if [ "$rc" -ne 0 ]; then
  cat "$tmp/cfg.err" >&2
  fail "spanpipe rejects $COMPOSE/spanpipe.yaml (exit $rc; 2 = config error)"
fi
# Negative control: the same file with one unknown key must exit 2 and name it.
cp "$COMPOSE/spanpipe.yaml" "$tmp/bad.yaml"
printf '\ncompose_test_bogus_key: 1\n' >>"$tmp/bad.yaml"
rc=0
cfg_check "$tmp/bad.yaml" || rc=$?
[ "$rc" -eq 2 ] || fail "a config with an unknown key exited $rc, expected 2: the loader check is not strict"
grep -q "compose_test_bogus_key" "$tmp/cfg.err" || fail "the config error does not name the bad key: $(cat "$tmp/cfg.err")"
# The image's version label defaults to what the binary reports.
version="$("$BIN" --version | awk '{print $2}')"
grep -Eq "^ARG SPANPIPE_VERSION=${version//./\\.}\$" "$COMPOSE/Dockerfile" ||
  fail "compose/Dockerfile ARG SPANPIPE_VERSION default is not '$version' (spanpipe --version)"
grep -q "SPANPIPE_VERSION:-${version}}" "$COMPOSE/docker-compose.yml" ||
  fail "docker-compose.yml SPANPIPE_VERSION default is not '$version' (spanpipe --version)"

# (d) ------------------------------------------------------------------------------------------
step "(d) dashboard metrics against a running spanpipe"
python3 - "$COMPOSE/grafana/dashboards/spanpipe.json" >"$tmp/queried" <<'EOF' || fail "cannot read the dashboard"
import json, re, sys
d = json.load(open(sys.argv[1]))
exprs = []
def walk(panels):
    for p in panels or []:
        for t in p.get("targets") or []:
            if t.get("expr"):
                exprs.append(t["expr"])
        walk(p.get("panels"))  # panels inside collapsed rows
walk(d.get("panels"))
if not exprs:
    sys.exit("no PromQL expressions in the dashboard")
names = sorted({n for e in exprs for n in re.findall(r"spanpipe_[a-z0-9_]+", e)})
if not names:
    sys.exit("the dashboard queries no spanpipe_* metric")
print("\n".join(names))
EOF
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
env -i PATH="$PATH" HOME="${HOME:-/tmp}" "$BIN" demo --duration 12 --rate 200 --data "$tmp/demo" --http "127.0.0.1:$port" >"$tmp/demo.out" 2>"$tmp/demo.err" &
demo_pid=$!
# Scrape while it runs; prefer a scrape taken after the job published its first snapshot (lag samples).
got=""
for _ in $(seq 100); do  # up to ~20 s: the embedded cluster and the first checkpoint are slow on a busy machine
  if curl -fsS "http://127.0.0.1:$port/metrics" >"$tmp/metrics.new" 2>/dev/null; then
    mv "$tmp/metrics.new" "$tmp/metrics"
    got=1
    grep -q '^spanpipe_consumer_lag{' "$tmp/metrics" && break
  fi
  kill -0 "$demo_pid" 2>/dev/null || break
  sleep 0.2
done
if [ -z "$got" ]; then
  tail -20 "$tmp/demo.err" >&2
  fail "no /metrics answer from 'spanpipe demo' on 127.0.0.1:$port"
fi
stop_demo
python3 - "$tmp/queried" "$tmp/metrics" <<'EOF' || fail "the dashboard queries metrics that spanpipe does not serve (see above)"
import re, sys
queried = open(sys.argv[1]).read().split()
text = open(sys.argv[2]).read()
families = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
samples = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )", text, re.M))
served = families | samples
missing = []
for n in queried:
    base = n
    for suffix in ("_bucket", "_sum", "_count"):
        if n.endswith(suffix) and n[: -len(suffix)] in families:
            base = n[: -len(suffix)]
    if n not in served and base not in served:
        missing.append(n)
for m in missing:
    print("  not in /metrics:", m, file=sys.stderr)
print(f"  {len(queried) - len(missing)}/{len(queried)} queried metric names served")
sys.exit(1 if missing else 0)
EOF
step "PASS"

#!/usr/bin/env bash
# HTTP load on the overview dashboard: gunicorn + wrk on 127.0.0.1, the overview's requests (the page and
# each lazy panel it loads, in turn, with the owner's session) against a bare template page, in one run.
#
#   benchmarks/http_load.sh            # ROWS=2000000 DURATION=20s CONNECTIONS=8 WORKERS=2 to change
#
# Last line: RESULT overview_rps=<n> bare_rps=<n> ratio=<r>   (overview_rps counts every request of a view)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-2000000}
DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-8}
WORKERS=${WORKERS:-2}
PORT=${PORT:-8765}

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  else
    echo "wrk is not installed: apt-get install wrk" >&2
    exit 1
  fi
fi

state=$(mktemp -d)
gunicorn_pid=""
cleanup() {
  [ -n "$gunicorn_pid" ] && kill "$gunicorn_pid" 2>/dev/null && wait "$gunicorn_pid" 2>/dev/null || true
  [ -f "$state/state.json" ] && .venv/bin/python benchmarks/http_load_setup.py "$state" --cleanup || true
  rm -rf "$state"
}
trap cleanup EXIT

.venv/bin/python benchmarks/http_load_setup.py "$state" --rows "$ROWS"

DJANGO_DEBUG=0 .venv/bin/gunicorn benchmarks.bench_wsgi --bind "127.0.0.1:$PORT" --workers "$WORKERS" \
  --log-level warning &
gunicorn_pid=$!
for _ in $(seq 1 100); do
  curl -fs -o /dev/null "http://127.0.0.1:$PORT/healthz" && break
  sleep 0.2
done

.venv/bin/python - "$state" <<'PY'
import json, sys
from pathlib import Path
state = Path(sys.argv[1])
data = json.loads((state / "state.json").read_text())
urls = [data["page"], *data["panels"]]
hx = ["false"] + ["true"] * len(data["panels"])
lua = f"""
local urls = {{{", ".join(json.dumps(u) for u in urls)}}}
local hx = {{{", ".join(hx)}}}
local cookie = {json.dumps(data["cookie"])}
local i = 0
request = function()
  i = i % #urls + 1
  local headers = {{["Cookie"] = cookie}}
  if hx[i] then headers["HX-Request"] = "true" end
  return wrk.format("GET", urls[i], headers)
end
response = function(status, headers, body)
  if status ~= 200 then error("HTTP " .. status .. " for " .. urls[i]) end
end
"""
(state / "overview.lua").write_text(lua)
(state / "bare.lua").write_text(
    "local cookie = " + json.dumps(data["cookie"]) + "\n"
    'request = function() return wrk.format("GET", "/__bare__/", {["Cookie"] = cookie}) end\n'
)
(state / "views").write_text(str(len(urls)))
PY

rps() { awk '/Requests\/sec/ {print $2}'; }
url="http://127.0.0.1:$PORT"
wrk -t2 -c"$CONNECTIONS" -d5s -s "$state/overview.lua" "$url" >/dev/null  # warm the workers and panel cache
overview=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -s "$state/overview.lua" "$url" | tee /dev/stderr | rps)
bare=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -s "$state/bare.lua" "$url" | tee /dev/stderr | rps)
per_view=$(cat "$state/views")
python3 - "$overview" "$bare" "$per_view" <<'PY'
import sys
overview, bare, per_view = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
print(f"overview: {overview:.0f} requests/s = {overview / per_view:.0f} complete views/s ({per_view} requests a view)")
print(f"bare template page: {bare:.0f} requests/s")
print(f"RESULT overview_rps={overview:.0f} bare_rps={bare:.0f} ratio={overview / bare:.2f}")
PY

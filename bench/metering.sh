#!/usr/bin/env bash
# What metering costs the edge: edges in one run, same fleet, same key, EDGES (default 2) with
# Edge:Usage on (events spooled to SQLite with group commit and shipped to a real usage service) and
# as many with it off. Rate limiting is off in all of them so the difference is metering alone.
# Measured alternately (off #1, on #1, off #2, on #2, … ROUNDS times, default 5) after a warm-up and
# once the usage service has finished the warm-up's events, with wrk; then the usage ingest benchmark.
# Two processes per mode because one edge process can run several µs per request slower than
# another with the same code on this machine; the mean over processes takes that out of the ratio.
# Not a test: numbers depend on the machine.
#
# Usage: [ROUNDS=5] [EDGES=2] [WARMUP=15] [HOLD=1] bench/metering.sh [duration-seconds (default 15)] [connections (default 32)]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-15}
CONNECTIONS=${2:-32}
WARMUP=${WARMUP:-15}
ROUNDS=${ROUNDS:-5}
EDGES=${EDGES:-2}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk"; exit 1; }

WORK=$(mktemp -d /tmp/veil-metering-XXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

echo "building (Release)…"
for p in samples/upstream services/identity services/catalog services/subscriptions services/usage edge; do
  dotnet build "$p" -c Release -v q -nologo >/dev/null
done

bin() { echo "$1/bin/Release/net10.0/$2.dll"; }
export DOTNET_TC_CallCountingDelayMs=0 ASPNETCORE_ENVIRONMENT=Production Logging__LogLevel__Default=Warning
start() { local name=$1 dll=$2; shift 2; env "$@" dotnet "$dll" --contentRoot "$PWD/${dll%%/bin/*}" >"$WORK/$name.log" 2>&1 & PIDS+=($!); }
wait_http() { for _ in $(seq 1 300); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "timeout waiting for $1"; tail -40 "$WORK"/*.log; exit 1; }

UP=19900
# Edge i (1-based): metering on at 19978 + 2i, off at 19979 + 2i (19980/19981 for the first pair).
on_port() { echo $((19978 + 2 * $1)); }
off_port() { echo $((19979 + 2 * $1)); }
# Their management ports (health, metrics), 100 above: the public ports do not serve those.
mgmt_port() { echo $(($1 + 100)); }
ON=$(on_port 1); OFF=$(off_port 1)
svc_env() { echo "Kestrel__Endpoints__Http__Url=http://127.0.0.1:$2 Kestrel__Endpoints__Grpc__Url=http://127.0.0.1:$3 Kestrel__Endpoints__Grpc__Protocols=Http2 Veil__DataDirectory=$WORK/data-$1 Veil__Auth__Authority=http://127.0.0.1:19711"; }
DISCOVERY="services__identity__http__0=http://127.0.0.1:19711 services__identity__grpc__0=http://127.0.0.1:19712 services__catalog__http__0=http://127.0.0.1:19721 services__catalog__grpc__0=http://127.0.0.1:19722 services__subscriptions__http__0=http://127.0.0.1:19731 services__subscriptions__grpc__0=http://127.0.0.1:19732 services__usage__http__0=http://127.0.0.1:19751 services__usage__grpc__0=http://127.0.0.1:19752"

start upstream "$(bin samples/upstream Veil.Samples.Upstream)" Kestrel__Endpoints__Http__Url=http://127.0.0.1:$UP
start identity "$(bin services/identity Veil.Identity)" $(svc_env identity 19711 19712)
start catalog "$(bin services/catalog Veil.Catalog)" $(svc_env catalog 19721 19722) Catalog__AllowPrivateUpstreams=true
start subscriptions "$(bin services/subscriptions Veil.Subscriptions)" $(svc_env subscriptions 19731 19732) $DISCOVERY
start usage "$(bin services/usage Veil.Usage)" $(svc_env usage 19751 19752)
USAGE_PID=$!
ON_PIDS=(); OFF_PIDS=()
for i in $(seq 1 "$EDGES"); do
  start "edge-on-$i" "$(bin edge Veil.Edge)" Kestrel__Endpoints__Http__Url=http://127.0.0.1:$(on_port "$i") Kestrel__Endpoints__Grpc__Url=http://127.0.0.1:0 Kestrel__Endpoints__Management__Url=http://127.0.0.1:$(mgmt_port "$(on_port "$i")") Edge__AllowPrivateUpstreams=true Veil__DataDirectory=$WORK/data-edge-on-$i $DISCOVERY Edge__RateLimiting__Enabled=false
  ON_PIDS+=($!)
  start "edge-off-$i" "$(bin edge Veil.Edge)" Kestrel__Endpoints__Http__Url=http://127.0.0.1:$(off_port "$i") Kestrel__Endpoints__Grpc__Url=http://127.0.0.1:0 Kestrel__Endpoints__Management__Url=http://127.0.0.1:$(mgmt_port "$(off_port "$i")") Edge__AllowPrivateUpstreams=true Veil__DataDirectory=$WORK/data-edge-off-$i $DISCOVERY Edge__RateLimiting__Enabled=false Edge__Usage__Enabled=false
  OFF_PIDS+=($!)
done
wait_http http://127.0.0.1:$UP/ping
for port in 19711 19721 19731 19751; do wait_http http://127.0.0.1:$port/health; done
for i in $(seq 1 "$EDGES"); do wait_http "http://127.0.0.1:$(mgmt_port "$(on_port "$i")")/alive"; wait_http "http://127.0.0.1:$(mgmt_port "$(off_port "$i")")/alive"; done

post() { curl -sf "http://127.0.0.1:$ON$1" -H 'Content-Type: application/json' ${3:+-H "Authorization: Bearer $3"} -d "$2"; }
json() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
P=$(post /v1/auth/signup '{"email":"meter-p@veil.local","password":"bench-password-123","role":"ROLE_PROVIDER"}' | json accessToken)
API=$(post /v1/apis "{\"slug\":\"bench\",\"name\":\"Bench\",\"upstreamUrl\":\"http://127.0.0.1:$UP\"}" "$P" | json id)
PLAN=$(post /v1/plans "{\"apiId\":\"$API\",\"name\":\"Bench\",\"requestsPerSecond\":100000,\"burst\":100000,\"pricePerCallMinor\":1,\"currency\":\"USD\"}" "$P" | json id)
C=$(post /v1/auth/signup '{"email":"meter-c@veil.local","password":"bench-password-123","role":"ROLE_CONSUMER"}' | json accessToken)
SUB=$(post /v1/subscriptions "{\"planId\":\"$PLAN\"}" "$C" | json id)
KEY=$(post /v1/keys '{"name":"bench"}' "$C" | json key)
[ -n "$KEY" ] || { echo "provisioning failed"; tail -20 "$WORK"/*.log; exit 1; }
for i in $(seq 1 "$EDGES"); do
  for e in $(on_port "$i") $(off_port "$i"); do
    for _ in $(seq 1 100); do [ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Api-Key: $KEY" http://127.0.0.1:$e/bench/ping)" = 200 ] && break; sleep 0.1; done
  done
done

run() { wrk -t2 -c"$CONNECTIONS" -d"$1s" --latency -H "X-Api-Key: $KEY" "http://127.0.0.1:$2/bench/ping"; }
# CPU (user + system) used by processes, in clock ticks: the cost per request, which noisy
# neighbours disturb far less than requests/s. "metering on" is charged the usage service's CPU too.
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $t; }
TCK=$(getconf CLK_TCK)
measure() { # mode label port edge-pid [usage-pid]
  local mode=$1 label=$2 port=$3 edge=$4 usage=${5:-}
  local e0 u0 out e1 u1 rps p99 errs reqs cpu ucpu
  e0=$(ticks "$edge"); u0=$([ -n "$usage" ] && ticks "$usage" || echo 0)
  out=$(run "$DURATION" "$port")
  e1=$(ticks "$edge"); u1=$([ -n "$usage" ] && ticks "$usage" || echo 0)
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out"); p99=$(awk '$1=="99%" {print $2}' <<<"$out"); errs=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  cpu=$(awk -v a="$e0" -v b="$e1" -v n="$reqs" -v t="$TCK" 'BEGIN { printf "%.1f", (b-a)/t*1e6/n }')
  ucpu=$(awk -v a="$u0" -v b="$u1" -v n="$reqs" -v t="$TCK" 'BEGIN { printf "%.1f", (b-a)/t*1e6/n }')
  printf '%-22s %12s %10s %8s %14s %14s\n' "$label" "$rps" "$p99" "${errs:-0}" "$cpu" "$ucpu"
  echo "$mode|$rps|$cpu|$ucpu|$label" >>"$WORK/results"
}
# The usage service is called a few times a second (one call per shipped batch, one roller step
# per second), and a method reaches its final tier after ~60 calls (tier 0, instrumented, tier 1):
# with one pass the JIT ran through the first measured "on" round (a quarter of usage's samples);
# with two, ~170 methods were still compiled during the measured rounds (DOTNET_JitStdOutFile,
# ~10% of usage's samples). Hence three "on" passes: the measured rounds see the steady state.
echo "warm-up ${WARMUP}s each, per pair of edges: off, on, off, on, on…"
for i in $(seq 1 "$EDGES"); do
  for _ in 1 2; do run "$WARMUP" "$(off_port "$i")" >/dev/null; run "$WARMUP" "$(on_port "$i")" >/dev/null; done
  run "$WARMUP" "$(on_port "$i")" >/dev/null
done
# The warm-up's events are still being ingested and rolled up: that work belongs to no measured
# round, and it would land on the first. Wait (at most 60 s) until usage is idle (< 5% of a core).
idle_wait=0
while [ $idle_wait -lt 60 ]; do
  u0=$(ticks "$USAGE_PID"); sleep 1; u1=$(ticks "$USAGE_PID"); idle_wait=$((idle_wait + 1))
  [ $((u1 - u0)) -lt $((TCK / 20)) ] && break
done
echo "usage idle after ${idle_wait}s"
if [ "${HOLD:-0}" = 1 ]; then
  echo "HOLD=1: fleet up until interrupted. metering on: http://127.0.0.1:$ON (pid ${ON_PIDS[0]}), off: http://127.0.0.1:$OFF (pid ${OFF_PIDS[0]}), usage pid $USAGE_PID"
  [ "$EDGES" -gt 1 ] && echo "  further pairs: on ports $(for i in $(seq 2 "$EDGES"); do echo -n "$(on_port "$i") "; done)(pids ${ON_PIDS[*]:1}), off ports $(for i in $(seq 2 "$EDGES"); do echo -n "$(off_port "$i") "; done)(pids ${OFF_PIDS[*]:1})"
  echo "  wrk -t2 -c$CONNECTIONS -d10s -H 'X-Api-Key: $KEY' http://127.0.0.1:$ON/bench/ping"
  wait
fi
echo; echo "load $(uptime | sed 's/.*load average: //'), ${CONNECTIONS} connections, ${DURATION}s per run, ${EDGES} edge(s) per mode, $(nproc) cores"
printf '%-22s %12s %10s %8s %14s %14s\n' edge "req/s" p99 non-2xx "edge µs/req" "usage µs/req"
for round in $(seq 1 "$ROUNDS"); do
  for i in $(seq 1 "$EDGES"); do
    measure off "metering off #$i" "$(off_port "$i")" "${OFF_PIDS[$((i - 1))]}"
    measure on "metering on #$i" "$(on_port "$i")" "${ON_PIDS[$((i - 1))]}" "$USAGE_PID"
  done
done
awk -F'|' '{s[$1]+=$2; c[$1]+=$3; u[$1]+=$4; n[$1]++} END { off=s["off"]/n["off"]; on=s["on"]/n["on"];
  coff=c["off"]/n["off"]; con=c["on"]/n["on"]; uon=u["on"]/n["on"];
  printf "\nmean: off %.0f req/s, on %.0f req/s → metering costs %.1f%% of throughput (goal ≤ 5%%; usage shares the edges\x27 cores here)\n", off, on, 100*(off-on)/off;
  printf "edge CPU per request: off %.1f µs, on %.1f µs → metering costs the edge %.1f%%; the usage service adds %.1f µs per event\n", coff, con, 100*(con-coff)/coff, uon }' "$WORK/results"
# Per process: how far apart edges running the same code are.
awk -F'|' '{s[$5]+=$2; c[$5]+=$3; n[$5]++} END { for (l in s) printf "  %-18s %8.0f req/s %7.1f µs/req\n", l, s[l]/n[l], c[l]/n[l] }' "$WORK/results" | sort
for i in $(seq 1 "$EDGES"); do
  curl -s "http://127.0.0.1:$(mgmt_port "$(on_port "$i")")/metrics" | grep -E '^veil_edge_usage_(spool_depth|dropped|pending)' | sed "s/^/edge on #$i: /" || true
done

echo; echo "usage ingest (bench/Veil.Bench.UsageIngest):"
kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; PIDS=()
dotnet run -c Release --project bench/Veil.Bench.UsageIngest

#!/usr/bin/env bash
# Veil edge benchmark: one run, one machine, every target measured the same way with wrk.
#   (1) the upstream directly   (2) bare YARP, one static route   (3) the Veil edge, full pipeline
#   (valid cached key, entitlement, rate limits allowing, transforms, metering)   (4) the same with
#   Redis-backed limits   and nginx as a plain reverse proxy when it is installed.
# Prints a table and the ratios (3)/(2) and (4)/(2). Not a test: numbers depend on the machine.
#
# Usage: bench/run.sh [duration-seconds (default 15)] [connections (default 32)]
#   STATUS=1 counts responses by status; HOLD=1 provisions and keeps the fleet up for profiling;
#   POLICIES='{"retry":{"enabled":false}}' runs the edges with those gateway policies on the API.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-15}
CONNECTIONS=${2:-32}
WARMUP=${WARMUP:-20}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk"; exit 1; }

WORK=$(mktemp -d /tmp/veil-bench-XXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

echo "building (Release)…"
for p in samples/upstream bench/Veil.Bench.BareYarp services/identity services/catalog services/subscriptions services/ratelimit services/usage edge; do
  [ -d "$p" ] && dotnet build "$p" -c Release -v q -nologo >/dev/null
done

bin() { echo "$1/bin/Release/net10.0/$2.dll"; }
export DOTNET_TC_CallCountingDelayMs=0 ASPNETCORE_ENVIRONMENT=Production Logging__LogLevel__Default=Warning
# Production refuses to start without a key-encryption key: one for this run's throw-away data.
export Veil__Secrets__Kek=$(head -c 32 /dev/urandom | base64)
start() { # name dll env...
  local name=$1 dll=$2; shift 2
  env "$@" dotnet "$dll" --contentRoot "$PWD/${dll%%/bin/*}" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
}
wait_http() { for _ in $(seq 1 300); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "timeout waiting for $1"; cat "$WORK"/*.log | tail -40; exit 1; }

UP=19000; YARP=19001; NGINX=19002; EDGE=19080; EDGE_REDIS=19081; REDIS=19379
# The edges' management ports (health, metrics): the public ports do not serve them.
EDGE_MGMT=19090; EDGE_REDIS_MGMT=19091
svc_env() { # name http grpc
  echo "Kestrel__Endpoints__Http__Url=http://127.0.0.1:$2 Kestrel__Endpoints__Grpc__Url=http://127.0.0.1:$3 Kestrel__Endpoints__Grpc__Protocols=Http2 Veil__DataDirectory=$WORK/data-$1 Veil__Auth__Authority=http://127.0.0.1:19101"
}
DISCOVERY="services__identity__http__0=http://127.0.0.1:19101 services__identity__grpc__0=http://127.0.0.1:19102 services__catalog__http__0=http://127.0.0.1:19201 services__catalog__grpc__0=http://127.0.0.1:19202 services__subscriptions__http__0=http://127.0.0.1:19301 services__subscriptions__grpc__0=http://127.0.0.1:19302 services__usage__http__0=http://127.0.0.1:19501 services__usage__grpc__0=http://127.0.0.1:19502"
# Limits far above what one machine can send, so the bench measures the cost of deciding, not throttling.
LIMITS="Edge__RateLimiting__Ip__Quota=100000000 Edge__RateLimiting__Ip__Window=00:00:01 Edge__RateLimiting__Ip__Burst=1000000 Edge__RateLimiting__Key__Quota=100000000 Edge__RateLimiting__Key__Burst=1000000 Edge__RateLimiting__Consumer__Quota=100000000 Edge__RateLimiting__Consumer__Burst=1000000"

start upstream "$(bin samples/upstream Veil.Samples.Upstream)" Kestrel__Endpoints__Http__Url=http://127.0.0.1:$UP
UP_PID=$!
start yarp "$(bin bench/Veil.Bench.BareYarp Veil.Bench.BareYarp)" ASPNETCORE_URLS=http://127.0.0.1:$YARP Upstream=http://127.0.0.1:$UP
YARP_PID=$!
start identity "$(bin services/identity Veil.Identity)" $(svc_env identity 19101 19102)
start catalog "$(bin services/catalog Veil.Catalog)" $(svc_env catalog 19201 19202) Catalog__AllowPrivateUpstreams=true
start subscriptions "$(bin services/subscriptions Veil.Subscriptions)" $(svc_env subscriptions 19301 19302) $DISCOVERY
start ratelimit "$(bin services/ratelimit Veil.RateLimit)" $(svc_env ratelimit 19401 19402)
[ -d services/usage ] && start usage "$(bin services/usage Veil.Usage)" $(svc_env usage 19501 19502)
USAGE_PID=$!
start edge "$(bin edge Veil.Edge)" Kestrel__Endpoints__Http__Url=http://127.0.0.1:$EDGE Kestrel__Endpoints__Grpc__Url=http://127.0.0.1:0 Kestrel__Endpoints__Management__Url=http://127.0.0.1:$EDGE_MGMT Edge__AllowPrivateUpstreams=true Veil__DataDirectory=$WORK/data-edge \
  $DISCOVERY services__ratelimit__grpc__0=http://127.0.0.1:19402 $LIMITS
EDGE_PID=$!

REDIS_OK=0
if command -v redis-server >/dev/null; then
  redis-server --port $REDIS --save "" --appendonly no --daemonize no >"$WORK/redis.log" 2>&1 &
  PIDS+=($!)
  start ratelimit-redis "$(bin services/ratelimit Veil.RateLimit)" $(svc_env ratelimit-redis 19411 19412) RateLimit__Redis__Configuration=127.0.0.1:$REDIS
  start edge-redis "$(bin edge Veil.Edge)" Kestrel__Endpoints__Http__Url=http://127.0.0.1:$EDGE_REDIS Kestrel__Endpoints__Grpc__Url=http://127.0.0.1:0 Kestrel__Endpoints__Management__Url=http://127.0.0.1:$EDGE_REDIS_MGMT Edge__AllowPrivateUpstreams=true Veil__DataDirectory=$WORK/data-edge-redis \
    $DISCOVERY services__ratelimit__grpc__0=http://127.0.0.1:19412 $LIMITS
  EDGE_REDIS_PID=$!
  REDIS_OK=1
fi

NGINX_OK=0
if command -v nginx >/dev/null; then
  mkdir -p "$WORK/nginx"
  cat >"$WORK/nginx/nginx.conf" <<NGINX
worker_processes auto; pid $WORK/nginx/nginx.pid; error_log $WORK/nginx/error.log; daemon off;
events { worker_connections 4096; }
http { access_log off;
  upstream up { server 127.0.0.1:$UP; keepalive 64; }
  server { listen 127.0.0.1:$NGINX;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
NGINX
  nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
  PIDS+=($!)
  NGINX_OK=1
fi

wait_http http://127.0.0.1:$UP/ping; wait_http http://127.0.0.1:$YARP/ping
for port in 19101 19201 19301 19401; do wait_http http://127.0.0.1:$port/health; done
wait_http http://127.0.0.1:$EDGE_MGMT/alive

# Provision: provider, API, plan with high limits; consumer, subscription, key.
post() { curl -sf "http://127.0.0.1:$EDGE$1" -H 'Content-Type: application/json' ${3:+-H "Authorization: Bearer $3"} -d "$2"; }
json() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
P=$(post /v1/auth/signup '{"email":"bench-p@veil.local","password":"bench-password-123","role":"ROLE_PROVIDER"}' | json accessToken)
API=$(post /v1/apis "{\"slug\":\"bench\",\"name\":\"Bench\",\"upstreamUrl\":\"http://127.0.0.1:$UP\"}" "$P" | json id)
PLAN=$(post /v1/plans "{\"apiId\":\"$API\",\"name\":\"Bench\",\"requestsPerSecond\":100000,\"burst\":100000}" "$P" | json id)
C=$(post /v1/auth/signup '{"email":"bench-c@veil.local","password":"bench-password-123","role":"ROLE_CONSUMER"}' | json accessToken)
post /v1/subscriptions "{\"planId\":\"$PLAN\"}" "$C" >/dev/null
KEY=$(post /v1/keys '{"name":"bench"}' "$C" | json key)
[ -n "$KEY" ] || { echo "provisioning failed"; tail -20 "$WORK"/*.log; exit 1; }
# POLICIES='{"circuitBreaker":{"enabled":false}}' runs the edges with those gateway policies on the API.
if [ -n "${POLICIES:-}" ]; then
  curl -sf -X PATCH "http://127.0.0.1:$EDGE/v1/apis/$API" -H 'Content-Type: application/json' -H "Authorization: Bearer $P" \
    -d "{\"policies\":$POLICIES}" >/dev/null || { echo "PATCH policies failed"; exit 1; }
  sleep 1
fi
for e in $EDGE $( [ $REDIS_OK = 1 ] && echo $EDGE_REDIS ); do
  for _ in $(seq 1 100); do [ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Api-Key: $KEY" http://127.0.0.1:$e/bench/ping)" = 200 ] && break; sleep 0.1; done
done

if [ -n "${HOLD:-}" ]; then # keep the fleet up for profiling (dotnet-trace/-counters against the edge's pid)
  echo "fleet up: edge http://127.0.0.1:$EDGE (pid $EDGE_PID), key $KEY, upstream :$UP, bare YARP :$YARP; logs in $WORK; Ctrl-C stops"
  echo "$KEY" >/tmp/veil-bench-key
  wait
fi

# CPU seconds (user + system) a process has used: the proxy's own cost per request, which noisy
# neighbours on a shared machine disturb far less than they disturb requests/s.
cpu_ticks() { [ -n "${1:-}" ] && awk '{print $14+$15}' "/proc/$1/stat" || echo 0; }
TCK=$(getconf CLK_TCK)
measure() { # label url [header] [pid]
  local label=$1 url=$2 hdr=${3:-} pid=${4:-}
  wrk -t2 -c"$CONNECTIONS" -d"${WARMUP}s" ${hdr:+-H "$hdr"} "$url" >/dev/null 2>&1
  local t0; t0=$(cpu_ticks "$pid")
  local out; out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency ${STATUS:+-s bench/status.lua} ${hdr:+-H "$hdr"} "$url"); [ -n "${STATUS:-}" ] && grep "^status" <<<"$out" >&2
  local t1; t1=$(cpu_ticks "$pid")
  local rps p50 p99 errs reqs cpu
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out"); p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errs=$(awk '/Non-2xx/ {print $5}' <<<"$out"); reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  cpu=$([ -n "$pid" ] && awk -v a="$t0" -v b="$t1" -v n="$reqs" -v t="$TCK" 'BEGIN { printf "%.1f", (b-a)/t*1e6/n }' || echo "-")
  printf '%-34s %12s %10s %10s %8s %12s\n' "$label" "$rps" "$p50" "$p99" "${errs:-0}" "$cpu"
  echo "$label|$rps|$p50|$p99|$cpu" >>"$WORK/results"
}

echo; echo "load $(uptime | sed 's/.*load average: //'), ${CONNECTIONS} connections, ${WARMUP}s warm-up, ${DURATION}s measured"
printf '%-34s %12s %10s %10s %8s %12s\n' target "req/s" p50 p99 non-2xx "cpu µs/req"
measure "(1) upstream direct" http://127.0.0.1:$UP/ping "" "$UP_PID"
measure "(2) bare YARP" http://127.0.0.1:$YARP/ping "" "$YARP_PID"
[ $NGINX_OK = 1 ] && measure "(n) nginx reverse proxy" http://127.0.0.1:$NGINX/ping
U0=$(cpu_ticks "$USAGE_PID")
measure "(3) Veil edge, in-memory limits" http://127.0.0.1:$EDGE/bench/ping "X-Api-Key: $KEY" "$EDGE_PID"
# The usage service meters every call the edge makes: its CPU competes with the edge's on this machine.
U1=$(cpu_ticks "$USAGE_PID"); R3=$(awk -F'|' '$1=="(3) Veil edge, in-memory limits" {print $2}' "$WORK/results")
awk -v a="$U0" -v b="$U1" -v r="$R3" -v d="$DURATION" -v w="$WARMUP" -v t="$TCK" \
  'BEGIN { if (r > 0) printf "    usage service CPU during (3), warm-up included: %.1f µs per edge request\n", (b-a)/t*1e6/(r*(d+w)) }'
[ $REDIS_OK = 1 ] && measure "(4) Veil edge, Redis limits" http://127.0.0.1:$EDGE_REDIS/bench/ping "X-Api-Key: $KEY" "$EDGE_REDIS_PID"

ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} else print v}' <<<"$1"; }
field() { awk -F'|' -v l="$1" -v f="$2" '$1==l {print $f}' "$WORK/results"; }
ratio() { # label
  local r b p pb c cb; r=$(field "$1" 2); b=$(field "(2) bare YARP" 2); p=$(ms "$(field "$1" 4)"); pb=$(ms "$(field "(2) bare YARP" 4)")
  c=$(field "$1" 5); cb=$(field "(2) bare YARP" 5)
  [ -n "$r" ] && awk -v r="$r" -v b="$b" -v p="$p" -v pb="$pb" -v c="$c" -v cb="$cb" -v l="$1" \
    'BEGIN { printf "%-34s throughput %5.1f%% of bare YARP, p99 %+.2f ms, proxy CPU per request %.2fx bare YARP\n", l, 100*r/b, p-pb, c/cb }'
}
echo; ratio "(3) Veil edge, in-memory limits"; [ $REDIS_OK = 1 ] && ratio "(4) Veil edge, Redis limits"; true

#!/usr/bin/env bash
# Container smoke test: build the service image with Podman, start it on CPU, wait until it is ready,
# score one FITS and one PNG cutout through POST /classify, stop it gracefully. Always removes the
# container it started. Exit 0 only when every step passed; any failure exits 1 with a message.
#
#   scripts/container-smoke.sh [--no-build] [--strict] [--image NAME]
#
#   --no-build   use the image as it is (default: build it from this checkout first)
#   --strict     a route the service does not serve yet (/readyz or /classify answering 404) fails the
#                run; without it the step is reported as UNTESTED and skipped (the service API is
#                being built alongside this script). CI should pass --strict.
#   --image      image name (default localhost/lensfinder:smoke)
#
# Environment: LENSFINDER_SMOKE_READY_S (default 180) seconds to wait for readiness;
# LENSFINDER_SMOKE_LOGS (default /tmp/lensfinder-smoke) where the build and container logs are kept.
# Needs Podman set up as scripts/podman-setup.sh does (it is run when the base image is missing),
# curl and python3 on the host; the test cutouts are made by the image's own Python.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/scripts/podman/containers.conf}"
IMAGE="localhost/lensfinder:smoke"
BUILD=1
STRICT=0
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        --strict) STRICT=1 ;;
        --image) IMAGE="$2"; shift ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
READY_S="${LENSFINDER_SMOKE_READY_S:-180}"
LOGS="${LENSFINDER_SMOKE_LOGS:-/tmp/lensfinder-smoke}"
NAME="lensfinder-smoke-$$"
WORK="$(mktemp -d /tmp/lensfinder-smoke.XXXXXX)"
mkdir -p "$LOGS"
T0=$SECONDS
UNTESTED=()
STARTED=0

say() { printf '[smoke %3ds] %s\n' "$((SECONDS - T0))" "$*"; }
fail() {
    printf '[smoke %3ds] FAILED: %s\n' "$((SECONDS - T0))" "$*" >&2
    if [ "$STARTED" = 1 ]; then
        podman logs "$NAME" >"$LOGS/container.log" 2>&1 || true
        echo "--- last container log lines ($LOGS/container.log):" >&2
        tail -25 "$LOGS/container.log" >&2 || true
    fi
    exit 1
}
untested() {
    if [ "$STRICT" = 1 ]; then fail "$* (--strict)"; fi
    say "UNTESTED: $*"
    UNTESTED+=("$*")
}
cleanup() {
    if [ "$STARTED" = 1 ]; then
        podman rm -f -t 5 "$NAME" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v podman >/dev/null || fail "podman is not installed: run scripts/podman-setup.sh"
command -v curl >/dev/null || fail "curl is not installed (apt-get install curl)"
command -v python3 >/dev/null || fail "python3 is not installed"

# 1. Build.
if [ "$BUILD" = 1 ]; then
    base="$(sed -n 's/^ARG PYTHON_IMAGE=//p' Dockerfile)"
    if ! podman image exists "$base" && ! podman image exists "docker.io/library/$base"; then
        say "base image $base missing: running scripts/podman-setup.sh"
        scripts/podman-setup.sh || fail "scripts/podman-setup.sh failed"
    fi
    say "building $IMAGE (log: $LOGS/build.log)"
    t=$SECONDS
    previous="$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
    if ! podman build --network=host --format docker -t "$IMAGE" . >"$LOGS/build.log" 2>&1; then
        tail -30 "$LOGS/build.log" >&2
        fail "podman build failed (log: $LOGS/build.log)"
    fi
    # The image this run replaced (its layers shared with the new one stay; only its own go).
    if [ -n "$previous" ] && [ "$previous" != "$(podman image inspect --format '{{.Id}}' "$IMAGE")" ]; then
        podman rmi "$previous" >/dev/null 2>&1 || true
    fi
    say "built in $((SECONDS - t)) s; image size $(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.2f GB", $1/1e9}')"
else
    podman image exists "$IMAGE" || fail "image $IMAGE does not exist (drop --no-build)"
fi

run_in_image() { podman run --rm -i --no-healthcheck --network=none "$@"; }

# 2. Static checks of the image: non-root user, CUDA libraries resolvable, compose settings.
user="$(podman image inspect --format '{{.Config.User}}' "$IMAGE")"
[ -n "$user" ] && [ "$user" != root ] && [ "$user" != 0 ] || fail "the image runs as root (USER '$user')"
say "image user: $user (non-root)"
missing="$(run_in_image "$IMAGE" sh -c '
    cuda=$(python -c "import onnxruntime, os; print(os.path.join(os.path.dirname(onnxruntime.__file__), \"capi\", \"libonnxruntime_providers_cuda.so\"))")
    for f in "$cuda" /opt/venv/nvidia/cudnn/lib/libcudnn*.so.9; do
        ldd "$f" | grep "not found" | grep -v "libcuda.so.1" | sed "s|^|$(basename "$f"): |"
    done')" || fail "could not inspect the CUDA libraries in the image"
[ -z "$missing" ] || fail "libraries onnxruntime's CUDA provider needs are missing from the image:
$missing"
say "CUDA provider libraries: all resolved in the image (CUDA 13, cuDNN 9; libcuda.so.1 comes from the host driver)"
run_in_image "$IMAGE" python -c "$(cat scripts/check_compose_env.py)" <docker-compose.yml \
    >"$WORK/compose-env.txt" 2>&1 || { cat "$WORK/compose-env.txt" >&2; fail "docker-compose.yml settings"; }
say "$(tail -1 "$WORK/compose-env.txt")"

# 3. Test cutouts, made by the image's own Python: a 101x101 one-band FITS (OBJECT, RA, DEC in the
# header) and an 8-bit grayscale PNG rendering of it.
chmod 777 "$WORK"
run_in_image --user 0 -v "$WORK:/out" "$IMAGE" python - <<'EOF' || fail "could not make the test cutouts"
import io
import numpy as np
from astropy.io import fits

rng = np.random.default_rng(4)
y, x = np.mgrid[:101, :101] - 50.0
r = np.hypot(x / 1.2, y)
galaxy = 40.0 * np.exp(-((r / 6.0) ** 0.5 - 1.0) * 4.0)          # a Sersic-like lens galaxy
ring = 6.0 * np.exp(-0.5 * ((np.hypot(x, y) - 14.0) / 1.5) ** 2)  # an Einstein-ring-like arc
image = (galaxy + ring + rng.normal(0.0, 1.0, (101, 101))).astype(np.float32)
header = fits.Header({"OBJECT": "smoke-fits", "RA": 150.1, "DEC": 2.2, "PIXSCALE": 0.1})
fits.PrimaryHDU(image, header).writeto("/out/cutout.fits")
try:
    from app.render import gray_png
    png = gray_png(image)
except Exception:  # the service's renderer changed: a plain asinh stretch
    from PIL import Image
    levels = np.arcsinh(np.clip(image - np.median(image), 0, None) / 3.0)
    levels = np.flipud((255 * levels / levels.max()).astype(np.uint8))
    buf = io.BytesIO()
    Image.fromarray(levels, mode="L").save(buf, format="PNG")
    png = buf.getvalue()
with open("/out/cutout.png", "wb") as f:
    f.write(png)
EOF
say "test cutouts: cutout.fits ($(stat -c %s "$WORK/cutout.fits") B), cutout.png ($(stat -c %s "$WORK/cutout.png") B)"

# 4. Start the container on a free local port.
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
URL="http://127.0.0.1:$PORT"
# Without systemd Podman cannot schedule the periodic health check (it says so on stderr); step 6 runs
# the image's HEALTHCHECK command itself.
podman run -d --name "$NAME" -p "127.0.0.1:$PORT:8000" "$IMAGE" >"$LOGS/run.log" 2>&1 \
    || { cat "$LOGS/run.log" >&2; fail "podman run failed"; }
STARTED=1
t_start=$SECONDS
say "started container $NAME on $URL"

# 5. Wait for readiness: /readyz 200 (503 while the models warm up). A 404 means the service does not
# serve /readyz yet: then /healthz is waited for instead, and readiness is UNTESTED.
code() { curl -s -o "${2:-/dev/null}" -w '%{http_code}' --max-time 10 "$1" || true; }
ready_route=/readyz
deadline=$((SECONDS + READY_S))
while :; do
    running="$(podman inspect --format '{{.State.Running}}' "$NAME" 2>/dev/null || echo false)"
    [ "$running" = true ] || fail "the container exited during start-up (exit code $(podman inspect --format '{{.State.ExitCode}}' "$NAME" 2>/dev/null))"
    c="$(code "$URL$ready_route" "$WORK/ready.json")"
    if [ "$c" = 200 ]; then break; fi
    if [ "$c" = 404 ] && [ "$ready_route" = /readyz ]; then
        untested "/readyz answers 404 (not served by this version of the service): waiting for /healthz instead"
        ready_route=/healthz
        continue
    fi
    [ "$SECONDS" -lt "$deadline" ] || fail "$URL$ready_route not 200 after ${READY_S} s (last status: ${c:-none})"
    sleep 1
done
say "ready: GET $ready_route 200 (waited $((SECONDS - t_start)) s): $(head -c 300 "$WORK/ready.json")"

# 6. The image's HEALTHCHECK command, run as Docker would run it.
if [ "$ready_route" = /readyz ]; then
    hc="$(podman healthcheck run "$NAME" 2>&1)" || fail "the image's HEALTHCHECK failed on a ready service: $hc"
    say "HEALTHCHECK (/readyz): ${hc:-healthy}"
else
    untested "the image's HEALTHCHECK (it checks /readyz)"
fi

# 7. /models lists the shipped models.
c="$(code "$URL/models" "$WORK/models.json")"
[ "$c" = 200 ] || fail "GET /models answered $c"
say "GET /models: $(python3 -c 'import json, sys; print(", ".join(m["identity"]["name"] if "identity" in m else m.get("name", "?") for m in json.load(open(sys.argv[1]))))' "$WORK/models.json" 2>/dev/null || head -c 200 "$WORK/models.json")"

# 8. Score one FITS and one PNG cutout with POST /classify.
classify() {  # FILE TYPE
    local file="$1" type="$2" c
    c="$(curl -s -o "$WORK/classify.json" -w '%{http_code}' --max-time 60 \
        -F "files=@$WORK/$file;type=$type" "$URL/classify?model=space" || true)"
    if [ "$c" = 404 ] || [ "$c" = 405 ]; then
        untested "POST /classify answers $c (not served by this version of the service): $file not scored"
        return 0
    fi
    [ "$c" = 200 ] || fail "POST /classify with $file answered ${c:-no response}: $(head -c 500 "$WORK/classify.json" 2>/dev/null)"
    local msg
    msg="$(python3 - "$WORK/classify.json" "$file" 2>&1 <<'EOF'

import json, sys
body = json.load(open(sys.argv[1]))
results = body["results"]
assert len(results) == 1, f"{len(results)} results for one cutout"
item = results[0]
assert "error" not in item, f"error item: {item['error']}"
p = item["lens_probability"]
assert isinstance(p, float) and 0.0 <= p <= 1.0, f"lens_probability {p!r}"
if sys.argv[2].endswith(".fits"):
    assert item.get("id") == "smoke-fits", f"id {item.get('id')!r}, expected the header's OBJECT 'smoke-fits'"
print(f"POST /classify {sys.argv[2]}: model {body['model']['name']}, lens_probability {p:.4f}, "
      f"is_lens {item.get('is_lens')}, id {item.get('id')!r}, warnings {item.get('warnings')}")
EOF
)" || fail "POST /classify with $file: unexpected response: $(echo "$msg" | tail -1)
$(head -c 500 "$WORK/classify.json")"
    say "$msg"
}
classify cutout.fits application/fits
classify cutout.png image/png

# 9. Graceful stop: SIGTERM reaches uvicorn (PID 1), which exits 0.
t=$SECONDS
podman stop -t 60 "$NAME" >/dev/null 2>&1 || fail "podman stop failed"
rc="$(podman inspect --format '{{.State.ExitCode}}' "$NAME")"
podman logs "$NAME" >"$LOGS/container.log" 2>&1 || true
[ "$rc" = 0 ] || fail "the service exited with code $rc on SIGTERM (log: $LOGS/container.log)"
say "stopped on SIGTERM in $((SECONDS - t)) s, exit code 0"

if [ "${#UNTESTED[@]}" -gt 0 ]; then
    say "PASSED, with UNTESTED steps (the service does not serve them yet; --strict fails on them):"
    printf '    - %s\n' "${UNTESTED[@]}"
else
    say "PASSED: built, started on CPU, ready, HEALTHCHECK ok, one FITS and one PNG cutout scored, stopped"
fi

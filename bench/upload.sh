#!/usr/bin/env bash
# Upload benchmark (issue #6): `i3s-bundle publish` of a bundle carrying a large golden image
# payload to the simulator, against `curl -F file=@…` to the same endpoint, plus the client's
# peak RSS (GNU time). Also counts the requests of a publish with nothing to change.
#
#   bash bench/upload.sh            # 2 GiB (the issue's size)
#   SIZE_MIB=256 bash bench/upload.sh
#
# Targets: upload throughput ≥ 0.8× curl; client peak RSS ≤ 64 MiB; no-change publish = one list
# per resource kind and no writes. Needs curl, python3, GNU time. Never run from `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB="${SIZE_MIB:-2048}"
WORK="$(mktemp -d "${BENCH_DIR:-/var/tmp}/i3s-upload-bench.XXXXXX")"
SIM_PID=""
cleanup() { [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
for tool in curl python3 /usr/bin/time; do command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }; done

cargo build --release --quiet
EXE="${CARGO_TARGET_DIR:-target}/release/i3s-bundle"

# A valid bundle (checksummed) whose golden image payload is SIZE_MIB of incompressible bytes,
# stored (the way appliances ship image payloads), written by Python's zipfile as an independent writer.
python3 - "$WORK/bench-bundle_1.0.zip" "$SIZE_MIB" <<'PY'
import hashlib, json, os, sys, zipfile
path, mib = sys.argv[1], int(sys.argv[2])
image = "Bench Golden Image"
gid = "5a1f9a2e-0000-4000-8000-000000000001"
sums = []
with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
    meta = json.dumps({"type": "GoldenImage", "id": gid, "name": image, "description": "bench",
                       "artifactBundleCategory": "artifact-bundles", "importedFromBundle": True,
                       "imageCapture": False, "readOnly": False, "size": mib << 20}, separators=(",", ":")).encode()
    z.writestr(f"{gid}_goldenimage.json", meta)
    sums.append((f"{gid}_goldenimage.json", hashlib.sha256(meta).hexdigest()))
    h = hashlib.sha256()
    with z.open(image, "w", force_zip64=True) as out:
        block = os.urandom(1 << 20)
        for i in range(mib):
            # cheap variation so blocks differ (still incompressible)
            chunk = i.to_bytes(8, "little") + block[8:]
            h.update(chunk); out.write(chunk)
    sums.append((image, h.hexdigest()))
    manifest = b"Artifact Name:bench-bundle_1.0\nDescription:upload benchmark\nRead Only:false\nTime Stamp:2026-11-26T00:00:00.000Z\nArtifact Type:USER"
    z.writestr("MANIFEST.MF", manifest)
    sums.append(("MANIFEST.MF", hashlib.sha256(manifest).hexdigest()))
    z.writestr("SHA256SUM.sha256sum", "".join(f"{n}\t{d}\n" for n, d in sums))
PY
ZIP="$WORK/bench-bundle_1.0.zip"
echo "bundle: $(du -h "$ZIP" | cut -f1) ($SIZE_MIB MiB payload)"

export I3S_SIM_PASSWORD="bench-password"
"$EXE" simulate --listen 127.0.0.1:0 --data-dir "$WORK/sim" --task-polls 0 >"$WORK/sim.out" &
SIM_PID=$!
for _ in $(seq 50); do grep -q listening "$WORK/sim.out" 2>/dev/null && break; sleep 0.1; done
URL="$(head -1 "$WORK/sim.out" | awk '{print $NF}')"
export ONEVIEWSDK_IP="$URL" ONEVIEWSDK_IMAGE_STREAMER_IP="$URL" ONEVIEWSDK_USERNAME=administrator ONEVIEWSDK_PASSWORD="$I3S_SIM_PASSWORD" CI=true

# 1. i3s-bundle publish: the upload's own duration comes from its -v log line; RSS from GNU time.
/usr/bin/time -f "%e %M" -o "$WORK/time" "$EXE" publish "$ZIP" -v --poll-interval 50 --insecure >"$WORK/publish.out" 2>"$WORK/publish.err" \
  || { cat "$WORK/publish.out" "$WORK/publish.err"; exit 1; }
UPLOAD_MS="$(grep -E '^← 202 POST .*/rest/artifact-bundles \(' "$WORK/publish.err" | sed -E 's/.*\(([0-9]+) ms\)/\1/' | head -1)"
read -r PUBLISH_S RSS_KB <"$WORK/time"

# 2. curl -F file=@… to the same endpoint (another file name, same bytes), with a session.
SESSION="$(curl -s -X POST "$URL/rest/login-sessions" -H 'Content-Type: application/json' \
  -d "{\"userName\":\"administrator\",\"password\":\"$I3S_SIM_PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sessionID"])')"
CURL_S="$(curl -s -o /dev/null -w '%{time_total}' -H "auth: $SESSION" -H 'X-API-Version: 2000' \
  -F "file=@$ZIP;filename=curl-copy.zip" "$URL/rest/artifact-bundles")"

# 3. A publish with nothing to change: count its requests.
curl -s -X DELETE "$URL/sim/requests" >/dev/null
"$EXE" publish "$ZIP" --json --poll-interval 50 --insecure >"$WORK/again.json"
COUNTS="$(curl -s "$URL/sim/requests" | python3 -c 'import json,sys; c=json.load(sys.stdin)["counts"]; print(", ".join(f"{k} ×{v}" for k,v in sorted(c.items())))')"

python3 - "$SIZE_MIB" "$UPLOAD_MS" "$CURL_S" "$RSS_KB" "$PUBLISH_S" <<'PY'
import sys
mib, upload_ms, curl_s, rss_kb, publish_s = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
ours, theirs = mib / (upload_ms / 1000), mib / curl_s
print(f"i3s-bundle upload: {upload_ms/1000:.2f} s = {ours:.0f} MiB/s (whole publish incl. local verify + extract: {publish_s:.2f} s)")
print(f"curl -F:           {curl_s:.2f} s = {theirs:.0f} MiB/s")
print(f"ratio: {ours/theirs:.2f}× curl (target ≥ 0.8×)")
print(f"client peak RSS: {rss_kb/1024:.1f} MiB (target ≤ 64 MiB)")
PY
echo "no-change publish requests: $COUNTS"

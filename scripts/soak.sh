#!/usr/bin/env bash
# Soak run (see docs/performance.md): 20,000 requests against the CPU engine, then the runner's own
# file descriptors and memory per cell. Extra arguments go to `runner run`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
while IFS='=' read -r key value; do export "$key=$value"; done < <(scripts/setup-cpu-engine.sh)
cargo build --release --quiet
./target/release/runner run scenarios/soak_cpu.toml --run-id "soak-$(date -u +%Y%m%dT%H%M%SZ)" "$@" >/dev/null
run="$(ls -d results/soak_cpu/soak-* | tail -n 1)"
python3 - "$run/capacity.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(f"{'cell':<36} {'requests':>8} {'errors':>6} {'runner fds':>10} {'runner RSS MiB':>14} {'runner CPU %':>12}")
for r in rows:
    print(f"{r['cell_id']:<36} {r['requests']:>8} {r['errors']:>6} {r['runner_fds_max']:>10} {r['runner_rss_max_mib']:>14} {r.get('runner_cpu_pct', ''):>12}")
total = sum(int(r['requests'] or 0) for r in rows)
fds = [int(r['runner_fds_max']) for r in rows if r['runner_fds_max']]
rss = [float(r['runner_rss_max_mib']) for r in rows if r['runner_rss_max_mib']]
print(f"total requests {total}; runner fds first/last/max {fds[0]}/{fds[-1]}/{max(fds)}; runner RSS MiB first/last/max {rss[0]:.1f}/{rss[-1]:.1f}/{max(rss):.1f}")
PY

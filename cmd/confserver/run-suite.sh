#!/usr/bin/env bash
# run-suite.sh URL
#
# Runs every server scenario of the MCP conformance suite against the
# streamable HTTP endpoint URL (e.g. http://127.0.0.1:8080/mcp), one scenario
# at a time, prints PASS/FAIL per scenario and exits non-zero if any failed.
#
# Required environment:
#   CONFORMANCE_NODE  path to the node binary (Node >= 22)
#   CONFORMANCE_JS    path to @modelcontextprotocol/conformance/dist/index.js
# Optional:
#   CONFORMANCE_LOG_DIR  directory for per-scenario output (default: a temp dir)
#   CONFORMANCE_VERBOSE  if set to 1, print each scenario's output as it runs
set -euo pipefail

if [[ $# -ne 1 ]]; then
	echo "usage: $0 URL" >&2
	exit 2
fi
url=$1

: "${CONFORMANCE_NODE:?CONFORMANCE_NODE must point to the node binary}"
: "${CONFORMANCE_JS:?CONFORMANCE_JS must point to @modelcontextprotocol/conformance/dist/index.js}"
[[ -x $CONFORMANCE_NODE ]] || { echo "CONFORMANCE_NODE=$CONFORMANCE_NODE is not executable" >&2; exit 2; }
[[ -f $CONFORMANCE_JS ]] || { echo "CONFORMANCE_JS=$CONFORMANCE_JS does not exist" >&2; exit 2; }

log_dir=${CONFORMANCE_LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/conformance.XXXXXX")}
mkdir -p "$log_dir"

# Scenario names come from the suite itself: lines of the form
# "  - NAME [versions]" in `list --server`.
mapfile -t scenarios < <("$CONFORMANCE_NODE" "$CONFORMANCE_JS" list --server |
	sed -n 's/^[[:space:]]*-[[:space:]]*\([^[:space:]]*\).*/\1/p')
if [[ ${#scenarios[@]} -eq 0 ]]; then
	echo "no server scenarios listed by $CONFORMANCE_JS" >&2
	exit 2
fi

failed=()
for s in "${scenarios[@]}"; do
	log=$log_dir/$s.log
	if "$CONFORMANCE_NODE" "$CONFORMANCE_JS" server --url "$url" --scenario "$s" >"$log" 2>&1; then
		status=PASS
	else
		status=FAIL
		failed+=("$s")
	fi
	# Summary line: "Passed: X/Y, N failed, M warnings".
	warn=$(sed -n 's/.*, \([0-9][0-9]*\) warnings.*/\1/p' "$log" | tail -n 1)
	if [[ -n $warn && $warn -gt 0 ]]; then
		printf '%-4s %s (%s warnings)\n' "$status" "$s" "$warn"
	else
		printf '%-4s %s\n' "$status" "$s"
	fi
	if [[ ${CONFORMANCE_VERBOSE:-0} == 1 || $status == FAIL ]]; then
		sed 's/^/    /' "$log"
	fi
done

echo
echo "$(( ${#scenarios[@]} - ${#failed[@]} ))/${#scenarios[@]} scenarios passed (logs in $log_dir)"
if [[ ${#failed[@]} -gt 0 ]]; then
	echo "failed: ${failed[*]}"
	exit 1
fi

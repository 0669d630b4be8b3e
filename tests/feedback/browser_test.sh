#!/usr/bin/env bash
# Browser test of the annotation UI in headless Chromium (Debian's `chromium`, driven by
# Playwright from npm): signs in as an annotator, labels with the mouse and with the keyboard,
# undoes one label, checks that injected HTML stays inert, opens the admin dashboard, and checks
# that the labels appear in `rlhf feedback export`.
# usage: tests/feedback/browser_test.sh RLHF_BINARY WORK_DIR
# playwright-core is installed from npm into WORK_DIR/node (a cache kept between runs).
set -euo pipefail
RLHF=${1:?usage: browser_test.sh RLHF_BINARY WORK_DIR}
WORK=${2:?usage: browser_test.sh RLHF_BINARY WORK_DIR}
HERE="$(cd "$(dirname "$0")" && pwd)"
PLAYWRIGHT_VERSION=1.55.0  # supports Node 18 (Debian 12's nodejs) and newer
CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}

fail() { echo "browser test: FAILED: $*" >&2; exit 1; }
[ -x "$RLHF" ] || fail "rlhf binary not found at $RLHF (build the rlhf target first)"
[ -n "$CHROMIUM" ] && [ -x "$CHROMIUM" ] || fail "chromium not found: install Debian's chromium (scripts/setup.sh does: apt-get install chromium)"
command -v node >/dev/null || fail "node not found: install nodejs (scripts/setup.sh does)"
if ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "browser test: npm missing, installing Debian's npm" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm >&2 || true
  fi
  command -v npm >/dev/null || fail "npm not found: apt-get install npm"
fi

mkdir -p "$WORK/node"
installed=$(node -p "try { require('$WORK/node/node_modules/playwright-core/package.json').version } catch (e) { '' }")
if [ "$installed" != "$PLAYWRIGHT_VERSION" ]; then
  echo "browser test: installing playwright-core@$PLAYWRIGHT_VERSION from npm into $WORK/node" >&2
  (cd "$WORK/node" && [ -f package.json ] || echo '{"private": true}' > "$WORK/node/package.json")
  npm install --prefix "$WORK/node" --no-audit --no-fund --loglevel=error "playwright-core@$PLAYWRIGHT_VERSION" >&2 \
    || fail "npm install playwright-core failed (the npm registry must be reachable)"
fi

RUN="$WORK/run.$$"
rm -rf "$RUN"
mkdir -p "$RUN"
DB="$RUN/feedback.db"
cleanup() {
  [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  rm -rf "$RUN"
}
trap cleanup EXIT

# Four tasks, served in priority order: Markdown + code + multi-turn; an injection attempt;
# a plain pair (labelled, undone, relabelled); a 3-way ranking.
cat > "$RUN/tasks.jsonl" <<'JSONL'
{"id": "md", "priority": 4, "prompt": "\n\nHuman: How do I reverse a list in Python?\n\nAssistant: Do you mean in place?\n\nHuman: Yes, **in place** please.\n\nAssistant:", "responses": [" Use `list.reverse()`:\n\n```python\nxs = [1, 2, 3]\nxs.reverse()\n```\n\n- it returns **None**\n- it changes `xs`", " Write a loop."]}
{"id": "xss", "priority": 3, "prompt": "\n\nHuman: <script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned=2\"> hi'); DROP TABLE labels;--\n\nAssistant:", "responses": [" <b>bold?</b> <iframe src=\"javascript:window.__pwned=3\"></iframe>", " [click](javascript:window.__pwned=4) <svg onload=\"window.__pwned=5\"></svg>"]}
{"id": "plain", "priority": 2, "prompt": "\n\nHuman: Capital of France?\n\nAssistant:", "responses": [" Paris.", " Lyon."]}
{"id": "rank", "priority": 1, "prompt": "\n\nHuman: Say hello.\n\nAssistant:", "responses": [" Hello!", " Hi there!", " Go away."]}
JSONL
cat > "$RUN/guidelines.md" <<'MD'
# Guidelines
Prefer answers that are **correct**, then helpful, then concise.
MD
"$RLHF" feedback import --db "$DB" "$RUN/tasks.jsonl"
ANN_TOKEN=$("$RLHF" feedback token --db "$DB" --role annotator --name browser-annotator)
ADMIN_TOKEN=$("$RLHF" feedback token --db "$DB" --role admin --name browser-admin)

# RLHF_WEB_DIR=web tests the UI files as they are, without rebuilding the binary.
"$RLHF" serve --db "$DB" --port 0 --guidelines "$RUN/guidelines.md" --gold-rate 0 --duplicate-rate 0 \
  ${RLHF_WEB_DIR:+--web-dir "$RLHF_WEB_DIR"} > "$RUN/serve.out" 2> "$RUN/serve.err" &
SERVER_PID=$!
for _ in $(seq 1 100); do
  grep -q "serving http" "$RUN/serve.out" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || fail "rlhf serve exited: $(cat "$RUN/serve.err")"
  sleep 0.1
done
URL=$(grep -o 'http://[0-9.]*:[0-9]*' "$RUN/serve.out" | head -1)
[ -n "$URL" ] || fail "rlhf serve did not print its address"

NODE_PATH="$WORK/node/node_modules" URL="$URL" ANN_TOKEN="$ANN_TOKEN" ADMIN_TOKEN="$ADMIN_TOKEN" CHROMIUM="$CHROMIUM" \
  RLHF="$RLHF" DB="$DB" SHOTS="$WORK" timeout 240 node "$HERE/browser_test.cjs"

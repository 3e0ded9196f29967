#!/usr/bin/env bash
# Headless Chromium for the browser tests (infra/webui's page tests drive it with chromedp):
# Debian's own package, installed when missing. Prints the browser's path. Idempotent: once the
# package is installed this is a lookup, so a machine pays the install once.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

find_chromium() {
  local b
  for b in chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null; then command -v "$b"; return 0; fi
  done
  return 1
}

if ! find_chromium >/dev/null; then
  # Another apt run (another checkout's services script) may hold the dpkg lock: wait for it.
  exec 9>"${TMPDIR:-/tmp}/dc-apt.lock"
  flock 9
  find_chromium >/dev/null || apt_install chromium
fi
find_chromium

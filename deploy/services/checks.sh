#!/usr/bin/env bash
# The project's static checks, built from the versions pinned in tools/go.mod and cached
# in the services state dir, so a machine builds them once (~3 min) and later runs start
# in seconds.
#   checks.sh vuln          govulncheck ./... on the offline vulnerability database
#                           (module golang.org/x/vulndb, indexed with its cmd/indexdb)
#   checks.sh staticcheck   staticcheck ./... (tests included)
# Env: DC_SERVICES_DIR (state dir, default ~/.cache/dc-services), GOTOOLCHAIN (the Makefile
# sets go1.27.3: govulncheck judges the standard library of the toolchain that runs it).
set -euo pipefail
# shellcheck source=deploy/services/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tools_mod="$root/tools"
GO=${GO:-go}

# One cache dir per (toolchain, tools/go.sum): a new pin or a new Go builds afresh.
key=$({ "$GO" env GOVERSION; cat "$tools_mod/go.sum"; } | sha256sum | cut -c1-16)
bin="$DC_SERVICES_DIR/tools/$key"

build_tools() {
  [[ -x $bin/govulncheck && -x $bin/indexdb && -x $bin/staticcheck ]] && return 0
  log "checks: building govulncheck, indexdb and staticcheck into $bin (once per machine)"
  mkdir -p "$bin.tmp"
  (cd "$tools_mod" &&
    "$GO" build -o "$bin.tmp/" golang.org/x/vuln/cmd/govulncheck golang.org/x/vulndb/cmd/indexdb \
      honnef.co/go/tools/cmd/staticcheck)
  rm -rf "$bin" && mv "$bin.tmp" "$bin"
}

# The OSV records ship inside the vulndb module; indexdb turns them into the layout that
# `govulncheck -db file://…` reads. Indexed once per vulndb version.
vulndb_dir() {
  local version src db
  version=$(cd "$tools_mod" && "$GO" list -m -f '{{.Version}}' golang.org/x/vulndb)
  db="$DC_SERVICES_DIR/vulndb/$version"
  if [[ ! -s $db/index/db.json ]]; then
    src=$(cd "$tools_mod" && "$GO" mod download -json golang.org/x/vulndb | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
    [[ -d $src/data/osv ]] || die "checks: no data/osv in the vulndb module ($src)"
    log "checks: indexing the vulnerability database $version"
    rm -rf "$db.tmp" && mkdir -p "$(dirname "$db")"
    "$bin/indexdb" -vulns "$src/data/osv" -out "$db.tmp" >/dev/null
    rm -rf "$db" && mv "$db.tmp" "$db"
  fi
  printf '%s\n' "$db"
}

build_tools
cd "$root"
case "${1:-}" in
vuln)
  db=$(vulndb_dir)
  # Exit status 3 means "vulnerabilities reached"; the output names each one.
  "$bin/govulncheck" -db "file://$db" ./...
  ;;
staticcheck)
  "$bin/staticcheck" ./...
  ;;
*)
  die "usage: checks.sh vuln|staticcheck"
  ;;
esac

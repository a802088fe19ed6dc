#!/usr/bin/env bash
# Headless Chromium for the browser tier (tests/browser), from Debian's packages: no
# browser download at test time.
#
#   browser.sh install   install chromium and chromium-driver from apt if missing (root)
#   browser.sh status    say where they are, or what to install
set -euo pipefail

CHROMIUM=${ARREARS_CHROMIUM:-/usr/bin/chromium}
CHROMEDRIVER=${ARREARS_CHROMEDRIVER:-/usr/bin/chromedriver}

log() { echo "browser: $*" >&2; }
die() { log "$*"; exit 1; }

present() { [[ -x $CHROMIUM && -x $CHROMEDRIVER ]]; }

install() {
  if present; then log "found $CHROMIUM and $CHROMEDRIVER"; return 0; fi
  if ((EUID != 0)); then
    die "Chromium not found; as root run: apt-get update && apt-get install -y chromium chromium-driver"
  fi
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver
  present || die "chromium installed but $CHROMIUM or $CHROMEDRIVER still missing"
  log "installed: $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
}

status() {
  if present; then
    log "$("$CHROMIUM" --version 2>/dev/null || echo chromium) at $CHROMIUM, driver at $CHROMEDRIVER"
  else
    die "missing; install with: deploy/local/browser.sh install (apt: chromium chromium-driver)"
  fi
}

case ${1:-} in
  install) install ;;
  status) status ;;
  *) die "usage: $0 install|status" ;;
esac

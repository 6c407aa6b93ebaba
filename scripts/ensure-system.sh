#!/usr/bin/env bash
# Install the Debian/Ubuntu packages Bharosa needs, only those missing. Usage: ensure-system.sh [run|test]
set -euo pipefail
mode="${1:-run}"
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have redis-server || need+=(redis-server)
have ffmpeg || need+=(ffmpeg)
have espeak-ng || need+=(espeak-ng)
have sox || need+=(sox libsox-fmt-all)
have python3 || need+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ "$mode" = test ]; then
  have chromium || need+=(chromium)
  have wrk || need+=(wrk)  # bench/webhook.py
  fc-list 2>/dev/null | grep -qi "Noto Sans Devanagari" || need+=(fonts-noto-core)
fi
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
echo "installing Debian packages: ${need[*]}"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null

#!/usr/bin/env bash
# Installs the Debian tools the tests use (real validators and DICOM tools, never mocks).
# Idempotent: does nothing when every tool is already on PATH.
set -euo pipefail

# tool on PATH -> Debian package that provides it
declare -A NEED=(
  [dcmdump]=dcmtk          # transcoding tests (JPEG-LS, JPEG lossless), storescu later
  [dciodvfy]=dicom3tools   # DICOM IOD validator (SEG and SR outputs)
  [chromium]=chromium      # a real browser for report.html and index.html
)

missing=()
for tool in "${!NEED[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${NEED[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "install-system-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1
  fi
fi
echo "install-system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

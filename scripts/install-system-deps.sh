#!/usr/bin/env bash
# Installs the Debian tools the tests use (real validators and DICOM tools, never mocks).
# Idempotent: does nothing when every tool and file is already there.
set -euo pipefail

# tool on PATH (or in /usr/sbin, not on a normal user's PATH) -> Debian package that provides it
declare -A NEED=(
  [dcmdump]=dcmtk          # transcoding tests (JPEG-LS, JPEG lossless); storescu/echoscu for the receiver
  [dciodvfy]=dicom3tools   # DICOM IOD validator (SEG and SR outputs)
  [chromium]=chromium      # a real browser for report.html and index.html
  [Orthanc]=orthanc        # a real PACS for the DICOMweb pull and STOW-RS / C-STORE tests
)

# file that is not a command -> Debian package that provides it
declare -A NEED_FILE=(
  [/usr/share/orthanc/plugins/libOrthancDicomWeb.so]=orthanc-dicomweb  # Orthanc's DICOMweb API
)

# The orthanc package may start a system-wide Orthanc (ports 8042/4242). The tests do not use
# it: each test starts its own Orthanc with its own config, storage and free loopback ports.

missing=()
for tool in "${!NEED[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("${NEED[$tool]}")
done
for file in "${!NEED_FILE[@]}"; do
  [ -e "$file" ] || missing+=("${NEED_FILE[$file]}")
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

#!/usr/bin/env bash
# Installs everything spanpipe needs to build and test on Debian 12. Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
  build-essential cmake pkg-config git clang-format
  librdkafka-dev librocksdb-dev libsimdjson-dev libzstd-dev zlib1g-dev libdeflate-dev libjemalloc-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcurl4-openssl-dev libssl-dev libcli11-dev libspdlog-dev libfmt-dev
  nlohmann-json3-dev libcpp-httplib-dev libyaml-cpp-dev
  python3 python3-yaml python3-botocore docker-compose kcat
  clang libclang-rt-14-dev
)
# The dashboard browser test drives Debian's chromium (playwright-core never downloads a browser).
[ -x /usr/bin/chromium ] || PACKAGES+=(chromium)
# Node.js may come from NodeSource (which bundles npm and conflicts with Debian's npm package):
# ask apt for Debian's nodejs/npm only when the commands are absent.
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Test-only npm packages (s3rver is the S3 endpoint of the integration tests, playwright-core drives
# chromium in the dashboard test). Installed again when package.json names a package not yet there.
if [ "${SPANPIPE_SKIP_NPM:-0}" != "1" ]; then
  if [ ! -x tests/node_modules/.bin/s3rver ] || [ ! -f tests/node_modules/playwright-core/package.json ]; then
    echo "setup: installing npm test packages into tests/node_modules"
    (cd tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error)
  fi
fi

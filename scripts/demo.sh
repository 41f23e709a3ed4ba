#!/usr/bin/env bash
# One command: install what is missing, build, and run `spanpipe demo` (extra arguments are passed on).
set -euo pipefail
cd "$(dirname "$0")/.."
SPANPIPE_SKIP_NPM=1 scripts/setup.sh
scripts/build.sh
exec build/spanpipe demo "$@"

#!/usr/bin/env bash
# Regenerates expected.dump of corpus cases ON PURPOSE (after a decoder
# change whose new output you have reviewed).  Review `git diff tests/corpus`
# before committing.
# usage: tests/corpus/regen.sh [CASE_OR_DIR...]   (default: the whole corpus)
set -euo pipefail
cd "$(dirname "$0")/../.."
make --no-print-directory -s build/flightrec
build/flightrec corpus check --update "${@:-tests/corpus}"

#!/usr/bin/env bash
# Installs the servers the local stack and the tests run for real (redis-server, PostgreSQL) and the
# PDF tools the export tests read pages with (poppler-utils: pdftoppm), and the headless browser the browser
# tests use (chromium, chromium-driver).
# Uses apt-get only when something is missing and apt-get can run; otherwise says what to install.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
# The browser tests drive Debian's headless Chromium through its matching chromedriver (Selenium).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
# The cloud-store contract tests run the Firestore emulator, which ships with the Google Cloud CLI and needs Java.
if ! command -v gcloud >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1; then
  echo "system deps: WARNING: the Google Cloud CLI (with the Firestore emulator) and Java are needed by the" \
       "Firestore tests; install them (https://cloud.google.com/sdk/docs/install) before 'make test'" >&2
fi
[ ${#missing[@]} -eq 0 ] && { echo "system deps: redis-server, PostgreSQL, poppler-utils and Chromium present"; exit 0; }

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  echo "system deps: installing ${missing[*]} with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  echo "system deps: installing ${missing[*]} with sudo apt-get"
  sudo apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "system deps: please install ${missing[*]} (e.g. 'apt-get install ${missing[*]}' or 'brew install redis postgresql')" >&2
  exit 1
fi

#!/usr/bin/env bash
# System packages the tests need that npm cannot bring: Samba's smbd/smbpasswd,
# for the storage-verifier SMB probe test (it runs a private smbd on 127.0.0.1).
# Idempotent: installs only when smbd is missing.
set -euo pipefail

if ! command -v smbd >/dev/null 2>&1 && [ ! -x /usr/sbin/smbd ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y samba
fi

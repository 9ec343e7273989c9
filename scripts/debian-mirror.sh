#!/usr/bin/env bash
# Prints the Debian mirror of the system's own apt sources (not the security one), so that scripts
# fetching Debian packages work behind local mirrors too. Prints nothing when there is none.
grep -rhoE '^(URIs:[[:space:]]*|deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)[a-z]+://[^[:space:]]+' \
    /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
  | grep -v security | sed -E 's/^(URIs:[[:space:]]*|deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)//' \
  | grep -E '/debian/?$' | head -n1 || true

# Sourced by scripts/autobahn.sh and scripts/autobahn-client.sh: the options
# they share. NAME is the calling script's name, for its error messages.
# Sets UPDATE, DEFLATE and TLS (0 or 1) from "$@", and empty FEATURES,
# RUN_ARGS and CHECK_ARGS arrays and TIMEOUT=900 for the caller to adjust.
UPDATE=0
DEFLATE=0
TLS=0
for arg in "$@"; do
  case "$arg" in
    --update) UPDATE=1 ;;
    --deflate) DEFLATE=1 ;;
    --tls) TLS=1 ;;
    *) echo "$NAME: unknown argument $arg" >&2; exit 2 ;;
  esac
done
[ "$DEFLATE$TLS" != 11 ] || { echo "$NAME: --deflate and --tls are separate runs" >&2; exit 2; }
FEATURES=()
TIMEOUT=900
RUN_ARGS=()
CHECK_ARGS=()

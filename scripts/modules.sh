# The Go modules of this repository, for scripts that run a command in each
# (source it). The root module is the library; the others are nested
# modules with a replace directive to it (docs/ARCHITECTURE.md, "Modules").
#
#   MODULES          every module that scripts/test.sh tests
#   INTEROP_MODULE   interop/, tested by scripts/interop.sh (it needs a
#                    checksum-database exception and the Ruby clients)
#
# check_modules fails when a go.mod of the repository is in neither list.
MODULES=(. tests tests/transfermanager cmd/s3ec examples internal/tools internal/testkit/s3test batchops)
INTEROP_MODULE=interop

check_modules() {
  local m known
  for m in $(git ls-files -co --exclude-standard '*go.mod' 2>/dev/null || find . -name go.mod -not -path './.bin/*' | sed 's|^\./||'); do
    m=$(dirname "$m")
    known=false
    for k in "${MODULES[@]}" "$INTEROP_MODULE"; do [[ $k == "$m" ]] && known=true; done
    if ! $known; then
      echo "scripts/modules.sh: module $m is not listed in MODULES" >&2
      return 1
    fi
  done
}

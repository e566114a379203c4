#!/usr/bin/env bash
# Run every fuzz target (or the ones named) for SECONDS each, one after another, and
# exit non-zero if any of them found a crash. Needs the nightly toolchain; installs
# cargo-fuzz when it is missing.
#
#   fuzz/run.sh SECONDS [TARGET...]
#
# The seed corpus (corpus/<target>/seed-*) is read, never written: what a run learns
# goes to work/corpus/<target>/ (kept between runs, ignored by git), its output to
# work/logs/<target>.log, a crashing input to artifacts/<target>/.
set -u
cd "$(dirname "$0")"
secs=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
case $secs in
  '' | *[!0-9]*) echo "SECONDS must be a whole number, not '$secs'" >&2; exit 2 ;;
esac

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "cargo fuzz needs the nightly toolchain (rustup toolchain install nightly)" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz || exit 2
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
  # The seed writer is a plain program, not a target.
  targets=("${targets[@]/seeds/}")
fi

# The store-tree target makes and removes directories beneath TMPDIR: keep them in
# memory where there is some, and gone afterwards.
scratch=$( (test -d /dev/shm && mktemp -d /dev/shm/peerhub-fuzz.XXXXXX) || mktemp -d)
trap 'rm -rf "$scratch"' EXIT

mkdir -p work/logs
failed=()
for t in "${targets[@]}"; do
  [ -n "$t" ] || continue
  mkdir -p "work/corpus/$t" "corpus/$t"
  echo "== $t: ${secs}s"
  TMPDIR=$scratch cargo +nightly fuzz run "$t" "work/corpus/$t" "corpus/$t" -- \
    -max_total_time="$secs" -print_final_stats=1 >"work/logs/$t.log" 2>&1
  rc=$?
  grep -E '^#[0-9]+ +DONE|^stat::number_of_executed_units|^Done [0-9]+ runs' "work/logs/$t.log" | tail -2
  if [ $rc -ne 0 ]; then
    echo "!! $t failed (exit $rc); see fuzz/work/logs/$t.log" >&2
    grep -E 'panicked|ERROR: |^SUMMARY|Test unit written' "work/logs/$t.log" | head -5 >&2
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "crashes or failures in: ${failed[*]}" >&2
  exit 1
fi
echo "all targets ran ${secs}s each without a crash"

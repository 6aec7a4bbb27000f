#!/usr/bin/env bash
# Coverage-guided fuzzing: tests/fuzz/run.sh TARGET|all [SECONDS]   (targets: framer sasl jid; default 60 s each)
#
# Builds tests/Actors.Fuzz (Release), instruments Actors.Xmpp.Abstractions/Transport/Server with SharpFuzz in a copy
# of its build output (the normal build is never instrumented), builds the libFuzzer driver (tests/fuzz/driver.c)
# with clang and Debian's libFuzzer, and runs each target for SECONDS (-max_total_time) over its corpus in
# tests/fuzz/corpus/TARGET with its dictionary tests/fuzz/TARGET.dict. New interesting inputs go to a temporary
# directory ($FUZZ_WORK, default a fresh mktemp -d), never into the repository. When a target fails (an invariant, an
# exception, the .NET process dying, a timeout), prints the input in hex and where it is saved, and exits 1.
# Environment: FUZZ_WORK (work directory), FUZZ_TIMEOUT (seconds one input may take, default 10),
# FUZZ_FLAGS (more libFuzzer flags, e.g. -seed=1 or -runs=N).
set -euo pipefail
cd "$(dirname "$0")/../.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

targets=(framer sasl jid)
what=${1:-}
seconds=${2:-60}
case "$what" in
  all) ;;
  framer|sasl|jid) targets=("$what") ;;
  *) echo "usage: tests/fuzz/run.sh framer|sasl|jid|all [SECONDS]" >&2; exit 2 ;;
esac
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "run.sh: SECONDS must be a number" >&2; exit 2; }

# the longest input each target is given: a few stanzas, one SASL exchange, one JID of three full parts
declare -A max_len=([framer]=4096 [sasl]=1024 [jid]=3200)

work=${FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/actors-fuzz.XXXXXX")}
mkdir -p "$work"
echo "fuzz: work directory $work"

# --- the libFuzzer driver: clang with -fsanitize=fuzzer, or Debian's libFuzzer.a (libfuzzer-NN-dev)
driver="$work/driver"
built=false
for cc in clang clang-19 clang-16 clang-15 clang-14; do
  command -v "$cc" >/dev/null || continue
  version=$("$cc" -dumpversion | cut -d. -f1)
  if "$cc" -O1 -Wall -Wextra -fsanitize=fuzzer -o "$driver" tests/fuzz/driver.c 2>/dev/null; then built=true; break; fi
  if [ -f "/usr/lib/llvm-$version/lib/libFuzzer.a" ] &&
     "$cc" -O1 -Wall -Wextra -o "$driver" tests/fuzz/driver.c "/usr/lib/llvm-$version/lib/libFuzzer.a" -lstdc++ -lm -lpthread; then
    built=true; break
  fi
done
$built || { echo "fuzz: cannot build the driver: install clang-14 and libfuzzer-14-dev (apt-get install clang-14 libfuzzer-14-dev)" >&2; exit 1; }

# --- the targets, instrumented in a copy of the build output
dotnet tool restore >/dev/null
dotnet build tests/Actors.Fuzz/Actors.Fuzz.csproj -c Release -nologo -v quiet
bin="$work/bin"
rm -rf "$bin"
cp -r tests/Actors.Fuzz/bin/Release/net10.0 "$bin"
for assembly in Actors.Xmpp.Abstractions Actors.Xmpp.Transport Actors.Xmpp.Server; do
  dotnet sharpfuzz "$bin/$assembly.dll" >/dev/null
done

status=0
for target in "${targets[@]}"; do
  found="$work/corpus/$target"   # where libFuzzer adds what it finds (the first corpus directory)
  crashes="$work/crashes/$target"
  mkdir -p "$found" "$crashes"
  echo "fuzz: $target for ${seconds}s (corpus tests/fuzz/corpus/$target, new inputs in $found)"
  log="$work/$target.log"
  set +e
  # shellcheck disable=SC2086 # FUZZ_FLAGS is a list of flags
  "$driver" -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-10}" -max_len="${max_len[$target]}" \
    -dict="tests/fuzz/$target.dict" -artifact_prefix="$crashes/" -print_final_stats=1 ${FUZZ_FLAGS:-} \
    "$found" "tests/fuzz/corpus/$target" \
    --exec=dotnet --arg="$bin/Actors.Fuzz.dll" --arg="$target" > "$log" 2>&1
  code=$?
  set -e
  grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::number_of_executed_units|^stat::average_exec_per_sec|^Done [0-9]+ runs' "$log" || true
  if [ "$code" -ne 0 ]; then
    status=1
    tail -n 40 "$log"
    for input in "$crashes"/*; do
      [ -f "$input" ] || continue
      echo "fuzz: $target FAILED on $input ($(stat -c %s "$input") bytes), in hex:"
      od -An -v -tx1 "$input" | tr -d ' \n'; echo
      echo "fuzz: replay: dotnet tests/Actors.Fuzz/bin/Release/net10.0/Actors.Fuzz.dll $target $input"
      echo "fuzz: once fixed, add it to tests/fuzz/corpus/$target/ (FuzzSpec replays it on every dotnet test)"
    done
    [ -n "$(ls -A "$crashes")" ] || echo "fuzz: $target: libFuzzer exited with $code and saved no input (see $log)"
  fi
done
exit $status

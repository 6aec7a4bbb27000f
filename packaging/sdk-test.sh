#!/usr/bin/env bash
# The packaging and plugin SDK test (run by test.sh; offline: the local feed and the NuGet registry only).
#  1. pack once (packaging/pack.sh): the .NET tool, the SDK packages and the templates into artifacts/packages
#  2. the plugin samples (samples/PluginSdk.props) build and pass their tests against that feed
#  3. dotnet tool install of Actors.Server into a temp tool path from the feed alone; actors-server --version prints
#     the package's version; actors-server run (the embedded appsettings.json and plugins folder, with a private data
#     folder and port) accepts an XMPP login
#  4. dotnet new actors-plugin -n Greeter in a temp folder: its tests pass against the feed, and its build installed
#     with actors-server plugin install FOLDER into the running server answers over XMPP
# Each failure says which step failed; the closing line is "sdk-test.sh: N steps passed" or exits non-zero.
#   CONFIGURATION=Debug (default) reuses test.sh's build; SDK_TEST_FEED=DIR uses packages already packed there.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
config=${CONFIGURATION:-Debug}
feed=${SDK_TEST_FEED:-$root/artifacts/packages}
cache=${NUGET_PACKAGES:-$HOME/.nuget/packages}
work=$(mktemp -d /tmp/actors-sdk-test.XXXXXX)
server_pid=
steps=0
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "sdk-test.sh: FAILED: $*" >&2; exit 1; }
passed() { steps=$((steps + 1)); echo "sdk-test.sh: ok: $*"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
version_of() { local f; f=$(ls "$feed/$1".[0-9]*.nupkg 2>/dev/null | head -n 1); [ -n "$f" ] || fail "$1 not in $feed"; f=$(basename "$f" .nupkg); echo "${f#"$1".}"; }

# 1. pack once
if [ -z "${SDK_TEST_FEED:-}" ]; then CONFIGURATION=$config packaging/pack.sh "$feed" || fail "packaging/pack.sh"; fi
server_version=$(version_of Actors.Server)
sdk_version=$(version_of Actors.Xmpp.Plugins.Abstractions)
contract=$(sed -nE 's/.*const int Version = ([0-9]+);.*/\1/p' core/Actors.Xmpp.Plugins.Abstractions/PluginContract.cs)
[ "${sdk_version%%.*}" = "$contract" ] || fail "the SDK package's major ($sdk_version) is not PluginContract.Version ($contract)"
passed "packed: server $server_version, plugin SDK $sdk_version (contract $contract)"

# The consumers restore into a private packages folder, so that no copy of an earlier build of the same version is
# taken; third-party packages come from the machine's cache (a fallback folder) or the registry.
export NUGET_PACKAGES=$work/packages
restore=(-p:RestoreFallbackFolders="$cache" -p:ActorsSdkVersion="$sdk_version")

# 2. the samples against the feed
for t in samples/IotDevice/IotDevice.Tests samples/Polls/Polls.Tests; do
  dotnet test "$t" -nologo -c "$config" "${restore[@]}" || fail "$t against the feed"
done
passed "samples built and tested against the feed"

# 3. the .NET tool from the feed alone
cat > "$work/feed-only.config" <<XML
<configuration><packageSources><clear /><add key="local" value="$feed" /></packageSources></configuration>
XML
dotnet tool install Actors.Server --tool-path "$work/tool" --version "$server_version" --configfile "$work/feed-only.config" \
  || fail "dotnet tool install Actors.Server $server_version from $feed"
server="$work/tool/actors-server"
printed=$("$server" --version) || fail "actors-server --version"
[ "${printed%%+*}" = "$server_version" ] || fail "actors-server --version printed '$printed', the package is $server_version"
passed "dotnet tool install; actors-server --version: $printed"

port=$(free_port)
data=$work/data
set_data=(--set "Xmpp:DataDir=$data")
"$server" run --set "Xmpp:C2sPort=$port" --set Xmpp:DirectTlsPort=-1 --set Xmpp:Tls:Required=false \
  --set Xmpp:Auth:AllowPlainWithoutTls=true "${set_data[@]}" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 240); do
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; fail "actors-server run exited"; }
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.5
done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { cat "$work/server.log" >&2; fail "actors-server run: port $port not open in 120 s"; }
grep -q "plugins from $work/tool/" "$work/server.log" || { cat "$work/server.log" >&2; fail "actors-server run did not load the plugins folder inside the tool package"; }
echo pw | "$server" user add alice --password-stdin "${set_data[@]}" || fail "actors-server user add alice"
python3 packaging/xmpp_check.py login "$port" alice || { cat "$work/server.log" >&2; fail "an XMPP login to the installed tool"; }
passed "actors-server run from the installed tool accepted an XMPP login"

# 4. dotnet new actors-plugin, built against the feed, installed into the running server
hive=(--debug:custom-hive "$work/hive")
dotnet new install "$feed/Actors.Templates.$sdk_version.nupkg" "${hive[@]}" >/dev/null || fail "dotnet new install Actors.Templates"
mkdir -p "$work/src"
dotnet new actors-plugin -n Greeter -o "$work/src/Greeter" "${hive[@]}" || fail "dotnet new actors-plugin -n Greeter"
cat > "$work/src/nuget.config" <<XML
<configuration>
  <packageSources><add key="local" value="$feed" /></packageSources>
  <packageSourceMapping>
    <packageSource key="local"><package pattern="Actors.*" /></packageSource>
    <packageSource key="nuget.org"><package pattern="*" /></packageSource>
  </packageSourceMapping>
</configuration>
XML
dotnet test "$work/src/Greeter/Greeter.Tests" -nologo -c "$config" -p:RestoreFallbackFolders="$cache" \
  || fail "the template's tests against the feed"
passed "dotnet new actors-plugin: the plugin and its tests built and passed against the feed"
build="$work/src/Greeter/Greeter/bin/$config/net10.0"
[ ! -e "$build/Actors.Xmpp.Plugins.Abstractions.dll" ] || fail "the template's plugin ships the contract assembly (it must use the server's)"
"$server" plugin install "$build" "${set_data[@]}" || fail "actors-server plugin install $build"
python3 packaging/xmpp_check.py hello "$port" alice urn:example:greeter:0 60 || { cat "$work/server.log" >&2; fail "the installed plugin over XMPP"; }
passed "actors-server plugin install of the template's build; it answers over XMPP"
echo "sdk-test.sh: $steps steps passed"

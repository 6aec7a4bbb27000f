#!/usr/bin/env bash
# Packs the server's .NET tool (Actors.Server), the plugin SDK packages (Actors.Xmpp.Plugins.Abstractions and the
# test kit with what it needs) and the templates (Actors.Templates) into one folder: the local feed that samples/ and
# packaging/sdk-test.sh build against. Versions from git tags (MinVer; the SDK's major is PluginContract.Version).
#   packaging/pack.sh [OUT]    OUT defaults to artifacts/packages; CONFIGURATION=Debug reuses a Debug build
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(realpath -m "${1:-artifacts/packages}")"
rm -rf "$out"
mkdir -p "$out"
dotnet msbuild packaging/Packages.proj -restore -nologo -v:quiet -t:Pack \
  -p:Configuration="${CONFIGURATION:-Release}" -p:PackageOutputPath="$out/"
ls "$out"/*.nupkg >/dev/null
echo "pack.sh: $(ls "$out" | wc -l) packages in $out"

#!/usr/bin/env bash
# The self-contained release build: the server for linux-x64 with its .NET runtime and its plugins folder, no .NET
# installation needed on the target (only the system's ICU: libicu, which the server requires for PRECIS).
#   packaging/release.sh [RID]     RID defaults to linux-x64
# Produces artifacts/release/actors-server-VERSION-RID.tar.gz (VERSION from git tags, MinVer), which unpacks to
# actors-server-VERSION-RID/ with the server (actors-server), appsettings.json, plugins/, and systemd/ (the unit of
# hosts/Actors.Host.Server/systemd and a drop-in that runs this build): docs/operations.md, "Install and start".
set -euo pipefail
cd "$(dirname "$0")/.."
rid=${1:-linux-x64}
stage=artifacts/release/stage
rm -rf "$stage"
mkdir -p "$stage"
dotnet publish hosts/Actors.Host.Server/Actors.Host.Server.csproj -nologo -v quiet -c Release -r "$rid" --self-contained \
  -o "$stage/server"
[ -f "$stage/server/plugins/disco/Actors.Plugins.Disco.dll" ] || { echo "release.sh: the plugins folder is missing from the publish output" >&2; exit 1; }
# the version MinVer gave the build (git tags): the server's own entry in its deps.json, "actors-server/VERSION"
version=$(sed -nE 's|.*"actors-server/([^"]+)".*|\1|p' "$stage/server/actors-server.deps.json" | head -n 1)
[ -n "$version" ] || { echo "release.sh: no version in actors-server.deps.json" >&2; exit 1; }
name="actors-server-$version-$rid"
mv "$stage/server" "$stage/$name"
mkdir -p "$stage/$name/systemd/actors-server.service.d"
cp hosts/Actors.Host.Server/systemd/actors-server.service "$stage/$name/systemd/"
cat > "$stage/$name/systemd/actors-server.service.d/self-contained.conf" <<'CONF'
# The self-contained release build (packaging/release.sh) unpacked into /opt/actors: the server runs without dotnet.
#   sudo mkdir -p /etc/systemd/system/actors-server.service.d && sudo cp self-contained.conf /etc/systemd/system/actors-server.service.d/
[Service]
ExecStart=
ExecStart=/opt/actors/actors-server run --set Xmpp:DataDir=/var/lib/actors
ExecReload=
ExecReload=/opt/actors/actors-server cert reload --set Xmpp:DataDir=/var/lib/actors
CONF
tar -C "$stage" -czf "artifacts/release/$name.tar.gz" "$name"
rm -rf "$stage"
echo "release.sh: artifacts/release/$name.tar.gz ($(du -h "artifacts/release/$name.tar.gz" | cut -f1))"

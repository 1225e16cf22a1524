#!/usr/bin/env bash
# The test command: installs and starts what the tests need when it is
# missing (Redis, PostgreSQL, from Debian packages), then runs the checks
# (gofmt, go vet, staticcheck) and every test with the race detector.
#
#   ./scripts/test.sh            everything
#   ./scripts/test.sh ./internal/gateway/...   only some packages (checks still run on all)
set -euo pipefail
cd "$(dirname "$0")/.."

STATICCHECK_VERSION=v0.8.2
log() { printf '\n== %s\n' "$*"; }

apt_updated=
need_pkg() { # need_pkg COMMAND PACKAGE...
	command -v "$1" >/dev/null 2>&1 && return 0
	[ "$(id -u)" = 0 ] || { echo "missing $1: install ${*:2} (needs root)"; exit 1; }
	if [ -z "$apt_updated" ]; then apt-get update -qq; apt_updated=1; fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${@:2}" >/dev/null
}

start_services() {
	log "services"
	need_pkg redis-server redis-server
	need_pkg psql postgresql postgresql-client
	if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
		mkdir -p /var/lib/redis /var/log/redis
		redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
			--dir /var/lib/redis --logfile /var/log/redis/ci.log
	fi
	ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
	if [ -z "$ver" ]; then echo "postgresql is installed but has no cluster"; exit 1; fi
	# Trust auth on loopback for the tests, as the CI machines have it. A
	# fresh Debian install asks for passwords: add the trust lines first and
	# reload a running server.
	hba=/etc/postgresql/$ver/main/pg_hba.conf
	hba_changed=
	if [ -w "$hba" ] && ! grep -Eq '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
		sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
		hba_changed=1
	fi
	if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
		pg_ctlcluster --skip-systemctl-redirect "$ver" main start
	elif [ -n "$hba_changed" ]; then
		pg_ctlcluster --skip-systemctl-redirect "$ver" main reload
	fi
	for i in $(seq 1 30); do
		redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && pg_isready -h 127.0.0.1 -p 5432 -q && break
		sleep 1
	done
	redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null
	pg_isready -h 127.0.0.1 -p 5432
	psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null || { echo "PostgreSQL on 127.0.0.1 refuses the postgres user without a password"; exit 1; }
	export APIGUARD_TEST_REDIS=${APIGUARD_TEST_REDIS:-127.0.0.1:6379}
	export APIGUARD_TEST_POSTGRES=${APIGUARD_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
	# Tests that need a service fail, never skip, when it is missing.
	export APIGUARD_REQUIRE_SERVICES=1
}

checks() {
	log "gofmt"
	unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
	if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi
	log "go vet"
	go vet ./...
	log "staticcheck $STATICCHECK_VERSION"
	go run "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" ./...
}

start_services
checks
log "go test -race"
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)
go test -race -count=1 -timeout 20m "${pkgs[@]}"

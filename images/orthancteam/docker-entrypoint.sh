#!/usr/bin/env bash
# The entrypoint of pacs-provisioner's stand-in for orthancteam/orthanc, written from
# orthanc-builder docker/orthanc/docker-entrypoint.sh (image 26.8.1): one argument (the
# configuration path, CMD /tmp/orthanc.json), a random /etc/hostid when missing, the
# generator run from /startup (set -o errexit: its exit status ends the container), then
# Orthanc exec'ed with the verbosity, log and jobs options the variables ask for.
set -o errexit

if [[ $# -ne 1 ]]; then
	echo "FATAL ERROR: docker-entrypoint.sh expects a single parameter: the path to the configuration files(s)"
	exit 2
fi

if [[ -n $FORCE_HOST_ID ]]; then
	echo "Forcing hostid in /etc/hostid: $FORCE_HOST_ID"
	echo "$FORCE_HOST_ID" > /etc/hostid
elif [[ ! $GENERATE_HOST_ID_IF_MISSING || $GENERATE_HOST_ID_IF_MISSING == true ]]; then
	if [[ ! -f /etc/hostid || $(< /etc/hostid) = 'not-generated' ]]; then
		host_id=$(printf '%x' "$(shuf -i 268435456-4294967295 -n 1)")
		echo "Generating random hostid in /etc/hostid: $host_id"
		echo "$host_id" > /etc/hostid
	fi
fi

cd /startup
python3 generateConfiguration.py

verbosity=()
if [[ $TRACE_ENABLED == true ]]; then
	verbosity=(--trace)
elif [[ $VERBOSE_ENABLED == true ]]; then
	verbosity=(--verbose)
fi

logoption=()
if [[ -n $LOGDIR ]]; then
	logoption=("--logdir=$LOGDIR")
elif [[ -n $LOGFILE ]]; then
	logoption=("--logfile=$LOGFILE")
fi

jobs=()
if [[ $NO_JOBS == true ]]; then
	jobs=(--no-jobs)
fi

if [[ -n $BEFORE_ORTHANC_STARTUP_SCRIPT ]]; then
	echo "running custom startup script"
	$BEFORE_ORTHANC_STARTUP_SCRIPT
fi

argv=(Orthanc "${verbosity[@]}" "${logoption[@]}" "${jobs[@]}" "$@")
echo "Startup command: exec \"${argv[*]}\"" >&2
exec "${argv[@]}"

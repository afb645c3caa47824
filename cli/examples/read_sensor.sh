#!/bin/sh
# One JSON line per second with the CPU temperature, for `tinyws broadcast`:
#
#   ./read_sensor.sh | tinyws broadcast --static ./www
#
# printf writes each line at once, so nothing waits in a buffer. Piping this
# loop through a filter (grep, awk, tr, ...) would buffer again: give the
# filter its line-buffered flag or run it under `stdbuf -oL`.
#
# Without a thermal zone (not a Pi, or a container) it sends the load average.
set -eu

zone=/sys/class/thermal/thermal_zone0/temp
interval=${1:-1}

while :; do
    now=$(date +%s)
    if [ -r "$zone" ]; then
        milli=$(cat "$zone")
        printf '{"time":%s,"cpu_temp_c":%s.%s}\n' \
            "$now" $((milli / 1000)) $(((milli % 1000) / 100))
    else
        read -r load _ < /proc/loadavg
        printf '{"time":%s,"load":%s}\n' "$now" "$load"
    fi
    sleep "$interval"
done

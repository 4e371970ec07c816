#!/usr/bin/env bash
# Compares two builds of elbo_bench on one benchmark, taking turns so each pair is measured under about
# the same load: ROUNDS rounds, each the median of 3 repetitions of at least 1 s per side; prints each
# round's times and time ratio (after / before), then the median ratio.
#   bench/ab.sh BEFORE/elbo_bench AFTER/elbo_bench 'BM_VaeMlpTrainStep/128/1/' [ROUNDS]
set -euo pipefail
before=$1 after=$2 filter=$3 rounds=${4:-5}
median_ms() {
  "$1" --benchmark_filter="$filter" --benchmark_min_time=1 --benchmark_repetitions=3 \
       --benchmark_report_aggregates_only=true 2>/dev/null | awk '/_median/ {print $2; exit}'
}
ratios=()
for ((r = 1; r <= rounds; ++r)); do
  a=$(median_ms "$before")
  b=$(median_ms "$after")
  ratio=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", b / a}')
  echo "round $r: before $a, after $b, ratio $ratio"
  ratios+=("$ratio")
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR] = $1} END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print "median ratio after/before:", m}'
